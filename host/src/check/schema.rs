//! Static checks of one type's config JSON Schema: valid draft 2020-12,
//! an object schema whose `required` fields exist and whose defaults fit,
//! secrets marked `writeOnly`, unknown fields refused.
//!
//! Pure functions of the manifest: no plugin code runs here.

use serde_json::Value;

use super::report::Status;
use crate::plugin::SourceType;

/// The meta-schema the host documents for config schemas.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Name endings that hold credentials: a property called so must be a
/// `writeOnly` secret, or it would be stored in plain text and returned.
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "secret_key",
    "secret_access_key",
    "client_secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credentials",
];

/// Whether a property name looks like it holds a credential
/// (`password`, `db_password`, `session_token`; not `api_key_name`).
pub fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    SECRET_NAMES.iter().any(|word| name == *word || name.ends_with(&format!("_{word}")))
}

/// A check's verdict and what to say.
pub type Finding = (Status, String);

/// The schema is valid JSON Schema 2020-12, an object schema, its
/// `required` names are properties, and every `default` fits its property.
pub fn validity(spec: &SourceType) -> Finding {
    let schema = &spec.config_schema;
    let mut problems: Vec<String> = Vec::new();
    let declared = schema.get("$schema").and_then(Value::as_str);
    if let Some(declared) = declared.filter(|d| d.trim_end_matches('#') != DRAFT_2020_12) {
        problems.push(format!("`$schema` is {declared}; the host documents {DRAFT_2020_12}"));
    }
    let meta = jsonschema::draft202012::meta::validator();
    for error in meta.iter_errors(schema).take(5) {
        let at = error.instance_path().as_str().to_owned();
        problems.push(format!("{}: {error}", if at.is_empty() { "/" } else { &at }));
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let Some(properties) = properties.filter(|_| schema.get("type").and_then(Value::as_str) == Some("object")) else {
        problems.push("not an object schema with `properties`".into());
        return (Status::Fail, problems.join("; "));
    };
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    for name in &required {
        if !properties.contains_key(*name) {
            problems.push(format!("required field `{name}` is not a property"));
        }
    }
    for (name, property) in properties {
        let Some(default) = property.get("default") else { continue };
        match jsonschema::draft202012::new(property) {
            Ok(validator) if !validator.is_valid(default) => {
                problems.push(format!("the default of `{name}` ({default}) does not match its own schema"));
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        let message = format!(
            "valid JSON Schema 2020-12: an object with {} properties, {} required",
            properties.len(),
            required.len()
        );
        (Status::Pass, message)
    } else {
        (Status::Fail, problems.join("; "))
    }
}

/// Secret fields are marked, and nothing that looks like one is left unmarked.
pub fn secrets(spec: &SourceType) -> Finding {
    let Some(properties) = spec.config_schema.get("properties").and_then(Value::as_object) else {
        return (Status::Skip, "no properties".into());
    };
    let unmarked: Vec<&str> =
        properties.keys().filter(|name| looks_secret(name) && !spec.is_secret(name)).map(String::as_str).collect();
    if !unmarked.is_empty() {
        return (
            Status::Fail,
            format!(
                "{} look{} secret but {} not marked `\"writeOnly\": true`: {} would be stored in plain text and returned by the API",
                unmarked.join(", "),
                if unmarked.len() == 1 { "s" } else { "" },
                if unmarked.len() == 1 { "is" } else { "are" },
                if unmarked.len() == 1 { "it" } else { "they" },
            ),
        );
    }
    let with_default: Vec<&str> = spec
        .secret_fields
        .iter()
        .filter(|name| properties.get(*name).is_some_and(|p| p.get("default").is_some()))
        .map(String::as_str)
        .collect();
    if !with_default.is_empty() {
        return (Status::Fail, format!("secret fields must not have a default: {}", with_default.join(", ")));
    }
    match spec.secret_fields.as_slice() {
        [] => (Status::Pass, "no secret fields, and no field looks like one".into()),
        fields => (Status::Pass, format!("marked writeOnly: {}", fields.join(", "))),
    }
}

/// `additionalProperties: false`, so that a misspelt field is refused
/// rather than silently ignored.
pub fn closed(spec: &SourceType) -> Finding {
    match spec.config_schema.get("additionalProperties") {
        Some(Value::Bool(false)) => (Status::Pass, "unknown fields are refused".into()),
        _ => (
            Status::Warn,
            "recommended: `\"additionalProperties\": false`, so that a misspelt field is refused rather than ignored"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Manifest;

    fn spec_with(schema: &str) -> Manifest {
        let text = format!(
            "id = \"p\"\nname = \"P\"\nversion = \"0.1.0\"\napi_version = \"0.1.0\"\n[[types]]\nid = \"t\"\nname = \"T\"\nconfig_schema = '''{schema}'''\n"
        );
        Manifest::parse(&text, "test").unwrap()
    }

    #[test]
    fn secret_looking_names() {
        for name in ["password", "db_password", "session_token", "api_key", "secret_access_key", "ssh-passphrase"] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["api_key_name", "api_key_in", "access_key_id", "token_url", "username", "host", "max_tokens"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn a_good_schema_passes_every_static_check() {
        let m = spec_with(
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["host"],
               "properties": {"host": {"type": "string"}, "port": {"type": "integer", "default": 5}, "password": {"type": "string", "writeOnly": true}},
               "additionalProperties": false}"#,
        );
        let t = &m.types[0];
        assert_eq!(validity(t).0, Status::Pass, "{:?}", validity(t));
        assert_eq!(secrets(t), (Status::Pass, "marked writeOnly: password".into()));
        assert_eq!(closed(t).0, Status::Pass);
    }

    #[test]
    fn problems_are_named() {
        let m = spec_with(
            r#"{"type": "object", "required": ["host", "nope"],
               "properties": {"host": {"type": "string"}, "port": {"type": "integer", "default": "x"}, "api_token": {"type": "string"}}}"#,
        );
        let t = &m.types[0];
        let (status, message) = validity(t);
        assert_eq!(status, Status::Fail);
        assert!(message.contains("`nope` is not a property") && message.contains("default of `port`"), "{message}");
        let (status, message) = secrets(t);
        assert_eq!(status, Status::Fail);
        assert!(message.contains("api_token looks secret"), "{message}");
        assert_eq!(closed(t).0, Status::Warn);
    }

    #[test]
    fn another_draft_is_named() {
        let m = spec_with(
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"a": {"type": "string"}}}"#,
        );
        let (status, message) = validity(&m.types[0]);
        assert_eq!(status, Status::Fail);
        assert!(message.contains("draft-07"), "{message}");
    }
}
