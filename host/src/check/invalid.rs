//! Bad configs must be refused by the host's schema validation, each with an
//! error that names the field at fault: an empty object (when fields are
//! required), an array, a wrong type for each property, an unknown field.
//!
//! The wrong values are found by asking each property's own schema which of
//! a handful of candidates it refuses, so no type reasoning is duplicated.

use serde_json::{Value, json};

use super::report::Status;
use super::schema::Finding;
use crate::plugin::{ConfigError, Secrets, SourceType};

/// The field name used to test that unknown fields are refused.
pub const UNKNOWN_FIELD: &str = "inlet_check_unknown_field";

/// One invalid config and the field its refusal must name.
#[derive(Debug, Clone, PartialEq)]
pub struct BadConfig {
    pub label: String,
    pub config: Value,
    /// A field the error must name (JSON pointer or name); empty: any refusal.
    pub field: String,
}

/// The invalid configs to try for a type.
pub fn bad_configs(spec: &SourceType) -> Vec<BadConfig> {
    let schema = &spec.config_schema;
    let mut bad = vec![BadConfig { label: "an array".into(), config: json!([]), field: String::new() }];
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| !spec.is_secret(name))
        .collect();
    if let Some(first) = required.first() {
        bad.push(BadConfig { label: "an empty object".into(), config: json!({}), field: (*first).to_owned() });
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        if spec.is_secret(name) {
            continue; // secrets travel apart from the config
        }
        if let Some(wrong) = wrong_value(property) {
            bad.push(BadConfig {
                label: format!("`{name}`: {wrong}"),
                config: json!({ name.as_str(): wrong }),
                field: name.clone(),
            });
        }
    }
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        bad.push(BadConfig {
            label: format!("unknown field `{UNKNOWN_FIELD}`"),
            config: json!({ UNKNOWN_FIELD: 1 }),
            field: UNKNOWN_FIELD.into(),
        });
    }
    bad
}

/// A value the property's own schema refuses, if one of a few kinds is.
fn wrong_value(property: &Value) -> Option<Value> {
    let validator = jsonschema::draft202012::new(property).ok()?;
    let candidates = [
        json!(12345),
        json!("inlet-check-not-valid"),
        json!(true),
        json!({"inlet": "check"}),
        json!([1, 2]),
        json!(-1),
    ];
    candidates.into_iter().find(|candidate| !validator.is_valid(candidate))
}

/// Whether the refusal names `field` (in a field pointer or the message).
fn names(error: &ConfigError, field: &str) -> bool {
    if field.is_empty() {
        return true;
    }
    let pointer = format!("/{field}");
    error.field_errors().iter().any(|e| e.field == pointer || e.message.contains(field))
        || error.to_string().contains(field)
}

/// Runs every bad config through the host's validation.
pub fn check(spec: &SourceType) -> Finding {
    let bad = bad_configs(spec);
    let mut accepted = Vec::new();
    let mut unnamed = Vec::new();
    for case in &bad {
        match spec.validate(&case.config, &Secrets::new()) {
            Ok(()) => accepted.push(case.label.clone()),
            Err(error) if !names(&error, &case.field) => unnamed.push(format!("{} ({error})", case.label)),
            Err(_) => {}
        }
    }
    if !accepted.is_empty() {
        return (Status::Fail, format!("accepted by the schema: {}", accepted.join(", ")));
    }
    if !unnamed.is_empty() {
        return (Status::Fail, format!("refused without naming the field: {}", unnamed.join("; ")));
    }
    (Status::Pass, format!("{} invalid configs refused, each naming its field", bad.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Manifest;

    fn manifest(schema: &str) -> Manifest {
        let text = format!(
            "id = \"p\"\nname = \"P\"\nversion = \"0.1.0\"\napi_version = \"0.1.0\"\n[[types]]\nid = \"t\"\nname = \"T\"\nconfig_schema = '''{schema}'''\n"
        );
        Manifest::parse(&text, "test").unwrap()
    }

    #[test]
    fn every_property_gets_a_wrong_value_its_schema_refuses() {
        let m = manifest(
            r#"{"type": "object", "required": ["host", "password"],
               "properties": {"host": {"type": "string"}, "port": {"type": "integer"}, "mode": {"enum": ["a", "b"]},
                              "any": {}, "password": {"type": "string", "writeOnly": true}},
               "additionalProperties": false}"#,
        );
        let bad = bad_configs(&m.types[0]);
        let mut labels: Vec<&str> = bad.iter().map(|b| b.label.as_str()).collect();
        labels.sort_unstable();
        assert_eq!(
            labels,
            [
                "`host`: 12345",
                "`mode`: 12345",
                "`port`: \"inlet-check-not-valid\"",
                "an array",
                "an empty object",
                "unknown field `inlet_check_unknown_field`"
            ]
        );
        assert_eq!(check(&m.types[0]).0, Status::Pass, "{:?}", check(&m.types[0]));
    }

    #[test]
    fn an_open_schema_has_no_unknown_field_case() {
        let m = manifest(r#"{"type": "object", "properties": {"a": {"type": "string"}}}"#);
        assert!(bad_configs(&m.types[0]).iter().all(|b| b.field != UNKNOWN_FIELD));
        assert_eq!(check(&m.types[0]).0, Status::Pass);
    }
}
