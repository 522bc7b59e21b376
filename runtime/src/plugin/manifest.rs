//! The plugin manifest (`plugin.toml`): identity, the WIT API version, the
//! data source types with their config JSON Schemas, network and file needs,
//! and resource limits. Everything is checked on load, so that the rest of the
//! host can trust a [`Manifest`].

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::plugin::Category;
use crate::runtime::wit;

/// The memory a plugin gets when its manifest does not ask.
pub const DEFAULT_MEMORY_MIB: u32 = 256;

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a valid manifest: {reason}")]
    Parse { path: String, reason: String },
    #[error("plugin `{plugin}`: {reason}")]
    Invalid { plugin: String, reason: String },
    #[error("plugin `{plugin}` targets API version {declared}; this host supports {}", wit::supported())]
    UnsupportedApiVersion { plugin: String, declared: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    name: String,
    version: semver::Version,
    api_version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    limits: Limits,
    types: Vec<RawType>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory the plugin may grow to; the admin cap still applies.
    pub memory_mib: Option<u32>,
    /// TCP sockets one connection may hold open at once (default 16); the
    /// admin cap (`INLET_MAX_PLUGIN_SOCKETS`) still applies.
    pub sockets: Option<u32>,
    /// Resource handles of every kind one connection may hold (default
    /// 1024); the admin cap (`INLET_MAX_PLUGIN_HANDLES`) still applies.
    pub handles: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    id: String,
    name: String,
    #[serde(default)]
    category: Option<String>,
    config_schema: String,
    #[serde(default)]
    network: Option<NetworkSpec>,
    #[serde(default)]
    file: Option<FileSpec>,
    #[serde(default)]
    http: Option<HttpSpec>,
    #[serde(default)]
    query: Option<QuerySpec>,
}

/// Which config field holds the URL an HTTP connector calls (its origin is
/// all the connector may reach), and the URL to use when it is unset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub url_field: String,
    /// e.g. `https://dynamodb.{region}.amazonaws.com`: `{field}` is filled
    /// from that config field, which must then be a plain label.
    #[serde(default)]
    pub default_url: Option<String>,
}

/// Which config fields name the server, so the host can resolve, police and
/// (for SSH tunnels) rewrite them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub host_field: String,
    pub port_field: String,
    pub default_port: u16,
}

/// That a type runs statements in the source's own language (`query`);
/// types without it answer `unsupported` and the host refuses queries first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    /// The language's name as users know it, e.g. `sql`.
    pub language: String,
}

/// Which config field names the file or folder a file-based source reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path_field: String,
}

/// A validated manifest.
#[derive(Debug)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: semver::Version,
    pub api_version: String,
    pub description: Option<String>,
    pub limits: Limits,
    pub types: Vec<SourceType>,
}

/// One data source type a plugin provides.
#[derive(Debug)]
pub struct SourceType {
    pub id: String,
    pub name: String,
    pub category: Category,
    /// The JSON Schema as written, for forms (`GET /api/v1/data-source-types`).
    pub config_schema: Value,
    /// The properties marked `"writeOnly": true`: sealed in the vault, passed
    /// to the connector as secrets, never returned.
    pub secret_fields: Vec<String>,
    pub network: Option<NetworkSpec>,
    pub file: Option<FileSpec>,
    pub http: Option<HttpSpec>,
    pub query: Option<QuerySpec>,
    pub(crate) validator: jsonschema::Validator,
}

impl Manifest {
    /// Reads and validates `<dir>/plugin.toml`.
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join("plugin.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|error| ManifestError::Read { path: path.display().to_string(), reason: error.to_string() })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text)
            .map_err(|error| ManifestError::Parse { path: origin.to_owned(), reason: error.to_string() })?;
        let invalid = |reason: String| ManifestError::Invalid { plugin: raw.id.clone(), reason };
        check_identifier(&raw.id)
            .map_err(|reason| ManifestError::Parse { path: origin.to_owned(), reason: format!("id: {reason}") })?;
        if raw.name.trim().is_empty() {
            return Err(invalid("name must not be empty".into()));
        }
        // The runtime's version modules are the one list of what runs.
        if let Err(unsupported) = wit::check_api_version(&raw.api_version) {
            return Err(ManifestError::UnsupportedApiVersion {
                plugin: raw.id.clone(),
                declared: unsupported.declared,
            });
        }
        if raw.types.is_empty() {
            return Err(invalid("provides no data source types".into()));
        }
        for (name, value) in
            [("memory_mib", raw.limits.memory_mib), ("sockets", raw.limits.sockets), ("handles", raw.limits.handles)]
        {
            if value == Some(0) {
                return Err(invalid(format!("limits.{name} must be positive")));
            }
        }
        let mut types: Vec<SourceType> = Vec::with_capacity(raw.types.len());
        for raw_type in raw.types {
            let source_type = SourceType::from_raw(raw_type, &raw.api_version).map_err(&invalid)?;
            if types.iter().any(|t| t.id == source_type.id) {
                return Err(invalid(format!("type `{}` is declared twice", source_type.id)));
            }
            types.push(source_type);
        }
        Ok(Self {
            id: raw.id,
            name: raw.name,
            version: raw.version,
            api_version: raw.api_version,
            description: raw.description,
            limits: raw.limits,
            types,
        })
    }

    pub fn source_type(&self, id: &str) -> Option<&SourceType> {
        self.types.iter().find(|t| t.id == id)
    }

    /// The memory limit for this plugin's stores, capped by the admin.
    pub fn memory_limit_bytes(&self, admin_cap_mib: u32) -> usize {
        let mib = self.limits.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB).min(admin_cap_mib);
        (mib as usize) << 20
    }
}

impl SourceType {
    fn from_raw(raw: RawType, api_version: &str) -> Result<Self, String> {
        check_identifier(&raw.id).map_err(|reason| format!("type id `{}`: {reason}", raw.id))?;
        let context = |reason: String| format!("type `{}`: {reason}", raw.id);
        let category = category(raw.category.as_deref(), api_version).map_err(|error| context(error.to_string()))?;
        let schema: Value = serde_json::from_str(&raw.config_schema)
            .map_err(|error| context(format!("config_schema is not JSON: {error}")))?;
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .filter(|_| schema.get("type").and_then(Value::as_str) == Some("object"))
            .ok_or_else(|| context("config_schema must be an object schema with properties".into()))?;
        let mut secret_fields = Vec::new();
        for (name, property) in properties {
            if crate::plugin::SSH_SECRET_FIELDS.contains(&name.as_str()) {
                return Err(context(format!("`{name}` is reserved for the host's SSH tunnel")));
            }
            if property.get("writeOnly").and_then(Value::as_bool) == Some(true) {
                if property.get("type").and_then(Value::as_str) != Some("string") {
                    return Err(context(format!("secret field `{name}` must be a string")));
                }
                secret_fields.push(name.clone());
            }
        }
        let declared = |field: &str, what: &str| -> Result<(), String> {
            if !properties.contains_key(field) {
                return Err(context(format!("{what} `{field}` is not a config property")));
            }
            if secret_fields.iter().any(|s| s == field) {
                return Err(context(format!("{what} `{field}` must not be a secret")));
            }
            Ok(())
        };
        if let Some(network) = &raw.network {
            declared(&network.host_field, "network.host_field")?;
            declared(&network.port_field, "network.port_field")?;
        }
        if let Some(file) = &raw.file {
            declared(&file.path_field, "file.path_field")?;
        }
        if let Some(http) = &raw.http {
            if raw.network.is_some() {
                return Err(context("a type declares either `network` (TCP) or `http`, not both".into()));
            }
            declared(&http.url_field, "http.url_field")?;
            for field in placeholders(http.default_url.as_deref().unwrap_or("")) {
                declared(field, "a placeholder of http.default_url")?;
            }
        }
        let validator = jsonschema::validator_for(&schema)
            .map_err(|error| context(format!("config_schema is not a valid JSON Schema: {error}")))?;
        Ok(Self {
            id: raw.id,
            name: raw.name,
            category,
            config_schema: schema,
            secret_fields,
            network: raw.network,
            file: raw.file,
            http: raw.http,
            query: raw.query,
            validator,
        })
    }

    pub fn is_secret(&self, field: &str) -> bool {
        self.secret_fields.iter().any(|s| s == field)
    }
}

/// A type's category: one of the product's when declared. Manifests for
/// 0.1.0 predate the list and used free-form values ("database"), so there an
/// unknown value means `custom` rather than a plugin that no longer loads.
fn category(declared: Option<&str>, api_version: &str) -> Result<Category, crate::plugin::UnknownCategory> {
    match declared {
        None => Ok(Category::Custom),
        Some(text) => match text.parse() {
            Ok(category) => Ok(category),
            Err(_) if api_version == "0.1.0" => Ok(Category::Custom),
            Err(unknown) => Err(unknown),
        },
    }
}

/// The `{field}` names in a URL template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(field, _)| field))
}

/// Plugin and type ids: lower-case ASCII letters, digits, `-` and `_`, 1–64
/// characters, starting with a letter or digit (they become paths and URLs).
fn check_identifier(id: &str) -> Result<(), String> {
    let valid_chars = id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    let valid_start = id.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if id.is_empty() || id.len() > 64 || !valid_chars || !valid_start {
        return Err("use 1-64 lower-case letters, digits, '-' or '_'".into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Shared with the host's `plugin check` tests, which read the same file.
    pub(crate) const EXAMPLE: &str = include_str!("testdata/example.toml");

    #[test]
    fn categories_are_the_products_and_legacy_values_of_0_1_0_mean_custom() {
        // A 0.1.0 manifest with the free-form value older manifests used.
        let legacy = EXAMPLE.replace("category = \"sql\"", "category = \"database\"");
        let manifest = Manifest::parse(&legacy, "test").unwrap();
        assert_eq!(manifest.types[0].category, Category::Custom);
        let current = legacy.replace("api_version = \"0.1.0\"", "api_version = \"0.2.0\"");
        let error = Manifest::parse(&current, "test").unwrap_err().to_string();
        assert!(error.contains("unknown category `database`") && error.contains("streaming"), "{error}");
        let streaming = current.replace("category = \"database\"", "category = \"streaming\"");
        assert_eq!(Manifest::parse(&streaming, "test").unwrap().types[0].category, Category::Streaming);
        let undeclared = current.replace("category = \"database\"\n", "");
        assert_eq!(Manifest::parse(&undeclared, "test").unwrap().types[0].category, Category::Custom);
    }

    #[test]
    fn a_good_manifest_loads_with_its_secrets_and_network_needs() {
        let manifest = Manifest::parse(EXAMPLE, "test").unwrap();
        assert_eq!(manifest.id, "example");
        assert_eq!(manifest.version.to_string(), "1.2.3");
        let source_type = manifest.source_type("example-db").unwrap();
        assert_eq!(source_type.secret_fields, vec!["password".to_owned()]);
        assert_eq!(source_type.network.as_ref().unwrap().default_port, 7000);
        assert_eq!(manifest.memory_limit_bytes(1024), 64 << 20);
        assert_eq!(manifest.memory_limit_bytes(32), 32 << 20);
    }

    #[test]
    fn an_unsupported_api_version_names_the_supported_ones() {
        let text = EXAMPLE.replace("api_version = \"0.1.0\"", "api_version = \"0.3.0\"");
        let error = Manifest::parse(&text, "test").unwrap_err().to_string();
        assert!(error.contains("0.3.0") && error.contains("supports 0.1.0"), "{error}");
    }

    #[test]
    fn a_later_compatible_api_version_is_accepted() {
        let text = EXAMPLE.replace("api_version = \"0.1.0\"", "api_version = \"0.1.5\"");
        let manifest = Manifest::parse(&text, "test").unwrap();
        assert_eq!(manifest.api_version, "0.1.5");
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        let cases = [
            (EXAMPLE.replace("id = \"example\"", "id = \"Bad Id\""), "id"),
            (EXAMPLE.replace("host_field = \"host\"", "host_field = \"hostname\""), "hostname"),
            (
                EXAMPLE.replace("\"password\": {\"type\": \"string\"", "\"password\": {\"type\": \"integer\""),
                "must be a string",
            ),
            (EXAMPLE.replace("\"type\": \"object\"", "\"type\": \"array\""), "object schema"),
            (EXAMPLE.replace("memory_mib = 64", "memory_mib = 64\nunknown = 1"), "unknown"),
            (EXAMPLE.replace("\"minLength\": 1", "\"minLength\": \"x\""), "JSON Schema"),
        ];
        for (text, expected) in cases {
            let error = Manifest::parse(&text, "test").unwrap_err().to_string();
            assert!(error.contains(expected), "expected `{expected}` in `{error}`");
        }
    }
}
