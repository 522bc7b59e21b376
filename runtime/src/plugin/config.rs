//! Checking a data source's config and secrets against its type's JSON Schema.
//!
//! Secrets travel apart from the config and are validated as placeholders, so
//! no secret value can ever appear in a validation message.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;
use zeroize::Zeroizing;

use super::manifest::SourceType;

/// Secret fields by name; the values are wiped from memory when dropped.
#[derive(Default)]
pub struct Secrets(BTreeMap<String, Zeroizing<String>>);

impl Secrets {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), Zeroizing::new(value.into()));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|value| value.as_str())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Moves the named fields out into their own set (e.g. the host's SSH
    /// credentials, which the connector never sees).
    pub fn split_off(&mut self, names: &[&str]) -> Secrets {
        let mut taken = Secrets::new();
        for name in names {
            if let Some((name, value)) = self.0.remove_entry(*name) {
                taken.0.insert(name, value);
            }
        }
        taken
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a JSON object of string values (the `credentials` body, a secrets file).
    pub fn from_json(value: Value) -> Result<Self, ConfigError> {
        let Value::Object(map) = value else {
            return Err(ConfigError::SecretsNotAnObject);
        };
        let mut secrets = Self::new();
        for (name, value) in map {
            match value {
                Value::String(text) => secrets.insert(name, text),
                _ => return Err(ConfigError::SecretNotAString(name)),
            }
        }
        Ok(secrets)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// One schema violation, named by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The JSON pointer of the offending value, e.g. `/port` (empty: the whole config).
    pub field: String,
    pub message: String,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config must be a JSON object")]
    NotAnObject,
    #[error("credentials must be a JSON object of strings")]
    SecretsNotAnObject,
    #[error("credential `{0}` must be a string")]
    SecretNotAString(String),
    #[error("`{0}` is a secret field: send it under credentials, not in config")]
    SecretInConfig(String),
    #[error("`{0}` is not a secret field of this data source type")]
    UnknownSecret(String),
    #[error("config does not match the type's schema: {}", summary(.0))]
    Invalid(Vec<FieldError>),
}

impl ConfigError {
    /// The per-field details, for API error bodies.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            Self::SecretInConfig(field) | Self::UnknownSecret(field) | Self::SecretNotAString(field) => {
                vec![FieldError { field: format!("/{field}"), message: self.to_string() }]
            }
            _ => Vec::new(),
        }
    }
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", e.field, e.message) })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What validation puts in place of a secret's value.
const SECRET_PLACEHOLDER: &str = "********";

impl SourceType {
    /// Checks a config and the secrets set for it against the type's schema.
    pub fn validate(&self, config: &Value, secrets: &Secrets) -> Result<(), ConfigError> {
        let Value::Object(fields) = config else {
            return Err(ConfigError::NotAnObject);
        };
        if let Some(secret) = fields.keys().find(|field| self.is_secret(field)) {
            return Err(ConfigError::SecretInConfig(secret.clone()));
        }
        if let Some(unknown) = secrets.names().find(|name| !self.is_secret(name)) {
            return Err(ConfigError::UnknownSecret(unknown.to_owned()));
        }
        let mut instance: Map<String, Value> = fields.clone();
        for name in secrets.names() {
            instance.insert(name.to_owned(), Value::String(SECRET_PLACEHOLDER.to_owned()));
        }
        let instance = Value::Object(instance);
        let errors: Vec<FieldError> = self
            .validator
            .iter_errors(&instance)
            .map(|error| {
                let field = match error.kind() {
                    jsonschema::error::ValidationErrorKind::Required { property } => {
                        format!("/{}", property.as_str().unwrap_or_default())
                    }
                    _ => error.instance_path().as_str().to_owned(),
                };
                FieldError { field, message: error.to_string() }
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(errors)) }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugin::manifest::{Manifest, tests::EXAMPLE};

    fn source_type() -> Manifest {
        Manifest::parse(EXAMPLE, "test").unwrap()
    }

    #[test]
    fn a_valid_config_with_its_secret_passes() {
        let manifest = source_type();
        let t = manifest.source_type("example-db").unwrap();
        let mut secrets = Secrets::new();
        secrets.insert("password", "hunter2");
        t.validate(&json!({"host": "db", "port": 7000, "database": "x"}), &secrets).unwrap();
    }

    #[test]
    fn violations_name_their_fields_and_never_show_a_secret() {
        let manifest = source_type();
        let t = manifest.source_type("example-db").unwrap();
        let mut secrets = Secrets::new();
        secrets.insert("password", "hunter2");
        let error = t.validate(&json!({"host": "db", "port": "x", "extra": 1}), &secrets).unwrap_err();
        let fields: Vec<String> = error.field_errors().into_iter().map(|e| e.field).collect();
        assert!(fields.contains(&"/port".to_owned()), "{fields:?}");
        assert!(fields.contains(&"/database".to_owned()), "{fields:?}");
        assert!(!format!("{error} {error:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_in_config_and_unknown_secrets_are_refused() {
        let manifest = source_type();
        let t = manifest.source_type("example-db").unwrap();
        let error = t.validate(&json!({"host": "db", "database": "x", "password": "p"}), &Secrets::new());
        assert!(matches!(error, Err(ConfigError::SecretInConfig(f)) if f == "password"));
        let mut secrets = Secrets::new();
        secrets.insert("token", "t");
        let error = t.validate(&json!({"host": "db", "database": "x"}), &secrets);
        assert!(matches!(error, Err(ConfigError::UnknownSecret(f)) if f == "token"));
        assert!(matches!(t.validate(&json!([1]), &Secrets::new()), Err(ConfigError::NotAnObject)));
    }

    #[test]
    fn secrets_parse_from_json_objects_of_strings_only() {
        assert!(Secrets::from_json(json!({"password": "p"})).is_ok());
        assert!(matches!(Secrets::from_json(json!({"password": 1})), Err(ConfigError::SecretNotAString(_))));
        assert!(matches!(Secrets::from_json(json!("p")), Err(ConfigError::SecretsNotAnObject)));
        let secrets = Secrets::from_json(json!({"password": "hunter2"})).unwrap();
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }
}
