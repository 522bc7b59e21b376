//! Reading a connector's config out of the request's JSON, and the checks
//! connectors repeat on it.
//!
//! The host validates the config against the manifest's JSON Schema first,
//! but a connector must not trust its caller, and a schema cannot say
//! everything ("one ASCII byte", "a valid header name"). A config with checks
//! implements [`ConnectorConfig`]: serde reads the raw form, `check` turns it
//! into the checked one, and every failure is a `config` error.
//!
//! ```
//! use inlet_sdk::config::{self, ConnectorConfig};
//! use inlet_sdk::ConnectorError;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Raw { file_path: String, #[serde(default)] sample_rows: Option<u64> }
//!
//! struct Config { file_path: String, sample_rows: u64 }
//!
//! impl ConnectorConfig for Config {
//!     type Raw = Raw;
//!     fn check(raw: Raw) -> Result<Self, ConnectorError> {
//!         config::non_empty("file_path", &raw.file_path)?;
//!         let sample_rows = raw.sample_rows.unwrap_or(100);
//!         config::in_range("sample_rows", sample_rows, 1..=1000)?;
//!         Ok(Config { file_path: raw.file_path, sample_rows })
//!     }
//! }
//!
//! let config = Config::from_json(r#"{"file_path":"/data/a.csv"}"#).unwrap();
//! assert_eq!(config.sample_rows, 100);
//! let error = Config::from_json(r#"{"file_path":"a","sample_rows":0}"#).err().unwrap();
//! assert_eq!(error.message, "`sample_rows` must be between 1 and 1000, not 0");
//! ```

use std::fmt::Display;
use std::ops::RangeInclusive;

use serde::de::DeserializeOwned;

use crate::{ConnectRequest, ConnectorError};

/// Deserializes config JSON into `T`; a mismatch (a missing or unknown
/// field, a wrong type) is a `config` error that quotes serde's reason.
/// [`crate::ConnectRequestExt::config`] is this on `request.config`.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, ConnectorError> {
    serde_json::from_str(json).map_err(|error| ConnectorError::config(format!("invalid config: {error}")))
}

/// Deserializes a part of the config already parsed as JSON (a config read
/// in parts, see [`crate::server`]); a mismatch is a `config` error as in [`parse`].
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ConnectorError> {
    serde_json::from_value(value).map_err(|error| ConnectorError::config(format!("invalid config: {error}")))
}

/// A connector's checked config, built from its raw (deserialized) form.
pub trait ConnectorConfig: Sized {
    /// What serde reads from the JSON (`Self` when the checks need no
    /// second type).
    type Raw: DeserializeOwned;

    /// Checks what the JSON Schema cannot say and builds the config; every
    /// error should be a `config` error naming the field.
    fn check(raw: Self::Raw) -> Result<Self, ConnectorError>;

    /// Parses ([`parse`]) and checks config JSON.
    fn from_json(json: &str) -> Result<Self, ConnectorError> {
        Self::check(parse(json)?)
    }

    /// Parses and checks the request's config.
    fn from_request(request: &ConnectRequest) -> Result<Self, ConnectorError> {
        Self::from_json(&request.config)
    }
}

/// A config that serde reads as it stands and that checks itself in place:
/// implementing `validate` makes it a [`ConnectorConfig`] whose raw form is
/// itself, so `Config::from_request(request)` parses and validates.
pub trait Validate: DeserializeOwned {
    /// Checks what the JSON Schema cannot say; every error a `config` error.
    fn validate(&self) -> Result<(), ConnectorError>;
}

impl<T: Validate> ConnectorConfig for T {
    type Raw = T;

    fn check(raw: T) -> Result<T, ConnectorError> {
        raw.validate()?;
        Ok(raw)
    }
}

/// A text field that must hold more than white space.
pub fn non_empty(field: &str, value: &str) -> Result<(), ConnectorError> {
    if value.trim().is_empty() {
        return Err(ConnectorError::config(format!("`{field}` must not be empty")));
    }
    Ok(())
}

/// An optional text field that, when set, must hold more than white space.
pub fn non_empty_if_set(field: &str, value: Option<&str>) -> Result<(), ConnectorError> {
    value.map_or(Ok(()), |value| non_empty(field, value))
}

/// A number that must lie in `range` (both ends included).
pub fn in_range<T: PartialOrd + Display>(
    field: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), ConnectorError> {
    if !range.contains(&value) {
        return Err(ConnectorError::config(format!(
            "`{field}` must be between {} and {}, not {value}",
            range.start(),
            range.end()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        name: String,
        #[serde(default)]
        size: u32,
    }

    #[derive(Debug)]
    struct Checked {
        name: String,
    }

    impl ConnectorConfig for Checked {
        type Raw = Raw;
        fn check(raw: Raw) -> Result<Self, ConnectorError> {
            non_empty("name", &raw.name)?;
            in_range("size", raw.size, 0..=10)?;
            Ok(Self { name: raw.name })
        }
    }

    #[test]
    fn parse_errors_are_config_errors_quoting_serde() {
        let error = parse::<Raw>(r#"{"name":"a","password":"x"}"#).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
        assert!(error.message.starts_with("invalid config: unknown field `password`"), "{}", error.message);
        assert!(!error.retryable);
        assert_eq!(parse::<Raw>("[]").unwrap_err().kind, ErrorKind::Config);
    }

    #[test]
    fn from_json_and_from_request_parse_then_check() {
        assert_eq!(Checked::from_json(r#"{"name":"a","size":10}"#).unwrap().name, "a");
        let request = crate::testing::connect_request("t", &serde_json::json!({ "name": "b" }));
        assert_eq!(Checked::from_request(&request).unwrap().name, "b");
        let error = Checked::from_json(r#"{"name":" "}"#).unwrap_err();
        assert_eq!((error.kind, error.message.as_str()), (ErrorKind::Config, "`name` must not be empty"));
        let error = Checked::from_json(r#"{"name":"a","size":11}"#).unwrap_err();
        assert_eq!(error.message, "`size` must be between 0 and 10, not 11");
        assert_eq!(Checked::from_json("{").unwrap_err().kind, ErrorKind::Config);
    }

    #[derive(Debug, serde::Deserialize)]
    struct InPlace {
        port: u16,
    }

    impl Validate for InPlace {
        fn validate(&self) -> Result<(), ConnectorError> {
            in_range("port", self.port, 1..=u16::MAX)
        }
    }

    #[test]
    fn a_validated_config_is_its_own_raw_form() {
        assert_eq!(InPlace::from_json(r#"{"port":5432}"#).unwrap().port, 5432);
        let error = InPlace::from_json(r#"{"port":0}"#).unwrap_err();
        assert_eq!(
            (error.kind, error.message.as_str()),
            (ErrorKind::Config, "`port` must be between 1 and 65535, not 0")
        );
        assert_eq!(InPlace::from_json(r#"{"port":70000}"#).unwrap_err().kind, ErrorKind::Config);
    }

    #[test]
    fn optional_fields_are_checked_only_when_set() {
        assert!(non_empty_if_set("table_name", None).is_ok());
        assert!(non_empty_if_set("table_name", Some("t")).is_ok());
        assert_eq!(non_empty_if_set("table_name", Some("")).unwrap_err().message, "`table_name` must not be empty");
        assert!(in_range("n", 1u64, 1..=1).is_ok());
    }
}
