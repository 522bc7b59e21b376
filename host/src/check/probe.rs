//! A config that passes the schema but points nowhere must fail cleanly: a
//! connector error of an expected kind, within the deadline, no trap.
//!
//! - network types: `127.0.0.1:<a port nobody listens on>` → `unreachable`
//!   (or `timeout`, `config`);
//! - HTTP types: `http://127.0.0.1:<that port>/` → the same;
//! - file types: a file of random bytes → any connector error but
//!   `internal` (or success: some formats accept anything);
//! - types that name none of these have nowhere to point: skipped.
//!
//! The config starts from the one given with `--config` for that type, or
//! is built from the schema (defaults, enums, minimal values).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::calls::{Caller, Stop};
use super::report::Status;
use super::schema::Finding;
use crate::model::ErrorKind;
use crate::plugin::{Secrets, SourceType};

/// Where the probe points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    ClosedPort(SocketAddr),
    CorruptFile(std::path::PathBuf),
}

/// A schema-valid config pointing at `target`, with placeholder values for
/// every secret. `Err` says why no such config could be built.
pub fn config_for(spec: &SourceType, base: Option<&Value>, target: &Target) -> Result<(Value, Secrets), String> {
    let mut config = match base {
        Some(Value::Object(map)) => map.clone(),
        _ => synthesize(&spec.config_schema),
    };
    match (target, &spec.network, &spec.http, &spec.file) {
        (Target::ClosedPort(addr), Some(network), _, _) => {
            config.insert(network.host_field.clone(), json!(addr.ip().to_string()));
            config.insert(network.port_field.clone(), json!(addr.port()));
        }
        (Target::ClosedPort(addr), None, Some(http), _) => {
            config.insert(http.url_field.clone(), json!(format!("http://{addr}/")));
        }
        (Target::CorruptFile(path), None, None, Some(file)) => {
            config.insert(file.path_field.clone(), json!(path.display().to_string()));
        }
        _ => return Err("the probe's target does not fit this type".into()),
    }
    // Every secret set (to a placeholder), so that the connector gets as
    // far as the target rather than stopping at a missing credential.
    let mut secrets = Secrets::new();
    for name in &spec.secret_fields {
        secrets.insert(name.as_str(), "inlet-check-not-a-real-secret");
    }
    let config = Value::Object(config);
    spec.validate(&config, &secrets)
        .map_err(|error| format!("could not build a config that passes the schema ({error}); pass --config"))?;
    Ok((config, secrets))
}

/// The required non-secret properties, each with a plausible value.
pub fn synthesize(schema: &Value) -> Map<String, Value> {
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    let mut config = Map::new();
    for name in required {
        let property = properties.and_then(|p| p.get(name));
        if property.and_then(|p| p.get("writeOnly")).and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(value) = property.and_then(sample) {
            config.insert(name.to_owned(), value);
        }
    }
    config
}

/// A value a property's schema most likely accepts.
fn sample(property: &Value) -> Option<Value> {
    if let Some(value) = property.get("default").or_else(|| property.get("const")) {
        return Some(value.clone());
    }
    for list in ["enum", "examples"] {
        if let Some(first) = property.get(list).and_then(Value::as_array).and_then(|v| v.first()) {
            return Some(first.clone());
        }
    }
    let kind = match property.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").unwrap_or("null"),
        _ => return None,
    };
    let minimum = property.get("minimum").and_then(Value::as_i64);
    Some(match kind {
        "string" => {
            let min = property.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            let text = "inlet-check";
            json!(format!("{text}{}", "x".repeat(min.saturating_sub(text.len()))))
        }
        "integer" | "number" => json!(minimum.unwrap_or(1)),
        "boolean" => json!(false),
        "array" => json!([]),
        "object" => json!({}),
        _ => Value::Null,
    })
}

/// A loopback port nobody listens on (bound, then released).
pub fn closed_port() -> Option<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    listener.local_addr().ok()
}

/// 4 KiB of random-looking bytes (a fixed xorshift sequence).
pub fn write_corrupt_file(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let path = dir.join("inlet-check-corrupt.bin");
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Connects, tests and (for files) discovers against the target, and judges
/// how the plugin failed.
pub async fn run(caller: &mut Caller<'_>, spec: &SourceType, base: Option<&Value>, scratch: &Path) -> Finding {
    let target = if spec.network.is_some() || spec.http.is_some() {
        match closed_port() {
            Some(addr) => Target::ClosedPort(addr),
            None => return (Status::Skip, "cannot find a free loopback port".into()),
        }
    } else if spec.file.is_some() {
        match write_corrupt_file(scratch) {
            Ok(path) => Target::CorruptFile(path),
            Err(error) => return (Status::Skip, format!("cannot write a scratch file: {error}")),
        }
    } else {
        return (Status::Skip, "the type names no server, URL or file to point elsewhere".into());
    };
    let (config, secrets) = match config_for(spec, base, &target) {
        Ok(pair) => pair,
        Err(reason) => return (Status::Skip, reason),
    };
    let what = match &target {
        Target::ClosedPort(addr) => format!("closed port {addr}"),
        Target::CorruptFile(_) => "a file of random bytes".to_owned(),
    };
    let outcome = async {
        let mut session = caller.open(spec, &config, &secrets).await?;
        let outcome = caller.test(&mut session).await.map(|_| ());
        let outcome = match (&target, outcome) {
            (Target::CorruptFile(_), Ok(())) => {
                let request = crate::model::DiscoverRequest { page_size: 100, ..Default::default() };
                caller.discover(&mut session, &request).await.map(|_| ())
            }
            (_, outcome) => outcome,
        };
        if session.is_usable() {
            session.close().await;
        }
        outcome
    }
    .await;
    judge(&target, &what, outcome)
}

fn judge(target: &Target, what: &str, outcome: Result<(), Stop>) -> Finding {
    let network = matches!(target, Target::ClosedPort(_));
    match outcome {
        Ok(()) if network => {
            (Status::Fail, format!("connect and test succeeded against a {what}: does the connector reach its server?"))
        }
        Ok(()) => (Status::Pass, format!("{what}: accepted (connect, test and discover succeeded)")),
        Err(stop @ Stop::Refused(_)) => (Status::Skip, format!("{what}: {}", stop.describe())),
        Err(stop) if stop.is_breach() => (Status::Fail, format!("{what}: {}", stop.describe())),
        Err(stop) => {
            let kind = stop.connector_kind();
            let expected = if network {
                matches!(kind, Some(ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Config))
            } else {
                !matches!(kind, Some(ErrorKind::Internal) | None)
            };
            let described = stop.describe();
            if expected {
                (Status::Pass, format!("{what}: refused cleanly ({described})"))
            } else if network {
                (Status::Fail, format!("{what}: expected unreachable, timeout or config, got {described}"))
            } else {
                (Status::Fail, format!("{what}: expected a connector error of a specific kind, got {described}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Manifest;

    const NETWORK: &str = r#"
id = "p"
name = "P"
version = "0.1.0"
api_version = "0.1.0"
[[types]]
id = "t"
name = "T"
config_schema = '''{"type": "object", "required": ["host", "database", "mode", "password"],
  "properties": {"host": {"type": "string", "minLength": 1}, "port": {"type": "integer"},
                 "database": {"type": "string", "minLength": 20}, "mode": {"enum": ["a", "b"]},
                 "retries": {"type": "integer", "default": 3}, "password": {"type": "string", "writeOnly": true}},
  "additionalProperties": false}'''
[types.network]
host_field = "host"
port_field = "port"
default_port = 5
"#;

    #[test]
    fn a_schema_valid_config_is_built_for_a_closed_port() {
        let manifest = Manifest::parse(NETWORK, "test").unwrap();
        let spec = &manifest.types[0];
        let addr = closed_port().unwrap();
        let (config, secrets) = config_for(spec, None, &Target::ClosedPort(addr)).unwrap();
        assert_eq!(config["host"], "127.0.0.1");
        assert_eq!(config["port"], addr.port());
        assert_eq!(config["mode"], "a");
        assert_eq!(config["database"].as_str().unwrap().len(), 20);
        assert!(secrets.contains("password"));
        // A given config is kept, with the target put in.
        let base = json!({"host": "db.example", "database": "a database name long enough", "mode": "b"});
        let (config, _) = config_for(spec, Some(&base), &Target::ClosedPort(addr)).unwrap();
        assert_eq!((config["host"].as_str(), config["mode"].as_str()), (Some("127.0.0.1"), Some("b")));
        // A file target does not fit a network type.
        assert!(config_for(spec, None, &Target::CorruptFile("/x".into())).is_err());
    }

    #[test]
    fn failures_are_judged_by_kind() {
        use crate::model::Failure;
        use crate::runtime::CallError;
        let port = Target::ClosedPort("127.0.0.1:1".parse().unwrap());
        let refused = || Stop::Call(CallError::Connector(Failure::new(ErrorKind::Unreachable, "refused", true)));
        assert_eq!(judge(&port, "p", Err(refused())).0, Status::Pass);
        let auth = Stop::Call(CallError::Connector(Failure::new(ErrorKind::Auth, "no", false)));
        assert_eq!(judge(&port, "p", Err(auth)).0, Status::Fail);
        assert_eq!(judge(&port, "p", Ok(())).0, Status::Fail);
        let trap = Stop::Call(CallError::Trap("boom".into()));
        let (status, message) = judge(&Target::CorruptFile("/x".into()), "f", Err(trap));
        assert_eq!(status, Status::Fail);
        assert!(message.contains("trap"), "{message}");
        let protocol = Stop::Call(CallError::Connector(Failure::new(ErrorKind::Protocol, "bad", false)));
        assert_eq!(judge(&Target::CorruptFile("/x".into()), "f", Err(protocol)).0, Status::Pass);
    }

    #[test]
    fn the_corrupt_file_is_the_same_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let a = std::fs::read(write_corrupt_file(dir.path()).unwrap()).unwrap();
        let b = std::fs::read(write_corrupt_file(dir.path()).unwrap()).unwrap();
        assert_eq!(a.len(), 4096);
        assert_eq!(a, b);
    }
}
