//! Requests for a connector's native unit tests, so each plugin does not
//! build its own: `connect_request("csv", &json!({"file_path": …}))`.

use crate::{CheckStep, ConnectRequest, Connector, DiscoverRequest, Endpoint, Failure, Steps};

/// A connect request for `source_type` with `config`, no secrets, no
/// endpoint (file sources) and one-second deadlines.
pub fn connect_request(source_type: &str, config: &serde_json::Value) -> ConnectRequest {
    ConnectRequest {
        source_type: source_type.to_owned(),
        config: config.to_string(),
        secrets: vec![],
        endpoint: None,
        connect_timeout_ms: 1000,
        query_timeout_ms: 1000,
    }
}

/// A discover request for one page of up to `page_size` tables.
pub fn discover_request(page_token: Option<&str>, exclude_schemas: &[&str], page_size: u32) -> DiscoverRequest {
    DiscoverRequest {
        include_schemas: vec![],
        exclude_schemas: exclude_schemas.iter().map(|s| (*s).to_owned()).collect(),
        page_token: page_token.map(str::to_owned),
        page_size,
    }
}

/// A connect request for a network type: `config`, the endpoint
/// 127.0.0.1:`port`, the secret `password` when given, and the deadlines a
/// data source gets by default (5 s to connect, 10 s per call).
pub fn network_request(
    source_type: &str,
    port: u16,
    config: &serde_json::Value,
    password: Option<&str>,
) -> ConnectRequest {
    ConnectRequest {
        source_type: source_type.to_owned(),
        config: config.to_string(),
        secrets: password.map(|p| vec![("password".to_owned(), p.to_owned())]).unwrap_or_default(),
        endpoint: Some(Endpoint { host: "127.0.0.1".to_owned(), port }),
        connect_timeout_ms: 5_000,
        query_timeout_ms: 10_000,
    }
}

/// Runs `C::connect` as the exported component would: the connection and
/// its steps, or the failure with the steps that led to it.
pub fn connect<C: Connector>(request: &ConnectRequest) -> Result<(C::Connection, Vec<CheckStep>), Failure> {
    let mut steps = Steps::new();
    match C::connect(request, &mut steps) {
        Ok(connection) => Ok((connection, steps.into_steps())),
        Err(error) => Err(steps.into_failure(error)),
    }
}

/// The step named `name`; panics (a test failure) listing the steps when there is none.
pub fn step<'a>(steps: &'a [CheckStep], name: &str) -> &'a CheckStep {
    steps.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no step {name} in {steps:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connection, ConnectorError, DiscoverPage, ErrorKind};

    struct Fails;
    struct Never;

    impl Connector for Fails {
        type Connection = Never;
        fn connect(_: &ConnectRequest, steps: &mut Steps) -> Result<Never, ConnectorError> {
            steps.run("open", || Ok(()))?;
            steps.run("login", || Err(ConnectorError::auth("refused")))
        }
    }

    impl Connection for Never {
        fn test(&mut self, _: &mut Steps) -> Result<Option<String>, ConnectorError> {
            Ok(None)
        }
        fn discover(&mut self, _: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
            Ok(DiscoverPage { schemas: vec![], next_page_token: None })
        }
    }

    #[test]
    fn a_failed_connect_keeps_its_steps() {
        let request = network_request("t", 7, &serde_json::json!({"host": "h"}), Some("pw"));
        assert_eq!(request.endpoint.as_ref().map(|e| e.port), Some(7));
        assert_eq!(request.secrets, [("password".to_owned(), "pw".to_owned())]);
        let failure = connect::<Fails>(&request).err().expect("the login fails");
        assert_eq!(failure.error.kind, ErrorKind::Auth);
        assert!(step(&failure.steps, "open").passed);
        assert!(!step(&failure.steps, "login").passed);
    }
}
