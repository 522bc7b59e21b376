//! The credentials re-targeting rule: a change that would send a data
//! source's stored credentials somewhere else needs those credentials again
//! in the same request.
//!
//! Without it, anyone who may edit a data source could point it at a server
//! they control and capture the write-only password at the next test.
//! "Somewhere else" is any config field that says where the connection goes
//! or whom it logs in as: the fields the manifest names (`network.host_field`
//! and `port_field`, `http.url_field`, `file.path_field`) plus every config
//! property named in [`IDENTITY_FIELDS`]; and the SSH tunnel.
//!
//! Pure functions: the API decides what to do with the answer.

use serde_json::Value;

use super::SourceType;

/// Config property names that say where a connection goes or who it logs in
/// as, whatever the manifest's network section names.
pub const IDENTITY_FIELDS: [&str; 17] = [
    "host",
    "hostname",
    "port",
    "url",
    "base_url",
    "endpoint",
    "endpoint_url",
    "region",
    "account",
    "account_id",
    "project_id",
    "bucket",
    "username",
    "user",
    "file_path",
    "brokers",
    "bootstrap_servers",
];

/// The config fields of `spec` that, when changed, re-target its credentials.
pub fn target_fields(spec: &SourceType) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    let mut add = |field: &str| {
        if !fields.iter().any(|f| f == field) {
            fields.push(field.to_owned());
        }
    };
    if let Some(network) = &spec.network {
        add(&network.host_field);
        add(&network.port_field);
    }
    if let Some(http) = &spec.http {
        add(&http.url_field);
    }
    if let Some(file) = &spec.file {
        add(&file.path_field);
    }
    let declared = spec.config_schema.get("properties").and_then(Value::as_object);
    for name in IDENTITY_FIELDS {
        if declared.is_some_and(|properties| properties.contains_key(name)) {
            add(name);
        }
    }
    fields
}

/// The target fields whose value differs between two configs (`/config/<field>`),
/// plus `/ssh_tunnel` when the tunnel changed.
pub fn retargeted(spec: &SourceType, before: &Value, after: &Value, tunnel_changed: bool) -> Vec<String> {
    let mut changed: Vec<String> = target_fields(spec)
        .into_iter()
        .filter(|field| before.get(field) != after.get(field))
        .map(|field| format!("/config/{field}"))
        .collect();
    if tunnel_changed {
        changed.push("/ssh_tunnel".to_owned());
    }
    changed
}

/// The stored credential fields missing from a re-targeting request: all of
/// them must travel with the change. Empty when nothing is re-targeted or
/// nothing is stored.
pub fn missing_credentials<'a>(
    retargeted: &[String],
    stored: impl IntoIterator<Item = &'a str>,
    given: impl Fn(&str) -> bool,
) -> Vec<String> {
    if retargeted.is_empty() {
        return Vec::new();
    }
    stored.into_iter().filter(|field| !given(field)).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugin::Manifest;

    const MANIFEST: &str = r#"
id = "demo"
name = "Demo"
version = "0.1.0"
api_version = "0.1.0"

[[types]]
id = "demo"
name = "Demo"
config_schema = '{"type":"object","properties":{"server":{"type":"string"},"tcp_port":{"type":"integer"},"database":{"type":"string"},"username":{"type":"string"},"region":{"type":"string"},"password":{"type":"string","writeOnly":true}}}'
[types.network]
host_field = "server"
port_field = "tcp_port"
default_port = 7000
"#;

    fn spec() -> SourceType {
        Manifest::parse(MANIFEST, "test").expect("manifest").types.remove(0)
    }

    #[test]
    fn target_fields_come_from_the_network_section_and_the_identity_list() {
        assert_eq!(target_fields(&spec()), ["server", "tcp_port", "region", "username"]);
    }

    #[test]
    fn only_changes_of_target_fields_and_the_tunnel_retarget() {
        let spec = spec();
        let before = json!({"server": "db", "tcp_port": 1, "database": "a", "username": "u", "region": "eu"});
        let renamed_db = json!({"server": "db", "tcp_port": 1, "database": "b", "username": "u", "region": "eu"});
        assert!(retargeted(&spec, &before, &renamed_db, false).is_empty());
        let moved = json!({"server": "evil", "tcp_port": 2, "database": "a", "username": "root"});
        assert_eq!(
            retargeted(&spec, &before, &moved, true),
            ["/config/server", "/config/tcp_port", "/config/region", "/config/username", "/ssh_tunnel"]
        );
    }

    #[test]
    fn every_stored_credential_must_travel_with_a_retarget() {
        let changed = vec!["/config/server".to_owned()];
        let missing = missing_credentials(&changed, ["password", "ssh_password"], |f| f == "password");
        assert_eq!(missing, ["ssh_password"]);
        assert!(missing_credentials(&[], ["password"], |_| false).is_empty());
        assert!(missing_credentials(&changed, [], |_| false).is_empty());
    }
}
