//! Requests for a connector's native unit tests, so each plugin does not
//! build its own: `connect_request("csv", &json!({"file_path": …}))`.

#[cfg(feature = "http")]
use std::cell::RefCell;
#[cfg(feature = "http")]
use std::collections::VecDeque;
#[cfg(feature = "http")]
use std::rc::Rc;

#[cfg(feature = "http")]
use crate::ConnectorError;
#[cfg(feature = "http")]
use crate::http::{Limits, Request, Response};
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

/// Writes `bytes` to `name` in `dir` and returns the file's path as config
/// text (`file_path`).
pub fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    if let Err(error) = std::fs::write(&path, bytes) {
        panic!("cannot write {}: {error}", path.display());
    }
    path.to_string_lossy().into_owned()
}

/// Asserts that every config JSON in `configs` is refused with a `config`
/// error (naming the JSON that was not).
pub fn assert_config_errors<C: crate::config::ConnectorConfig>(configs: &[&str]) {
    for json in configs {
        match C::from_json(json) {
            Ok(_) => panic!("accepted: {json}"),
            Err(error) => assert_eq!(error.kind, crate::ErrorKind::Config, "{json}: {}", error.message),
        }
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

/// Pulls `rows` to the end `max_rows` at a time and closes them, as the host
/// would: every batch, or the first error (after which the rows are closed too).
pub fn drain<C: ?Sized + 'static>(
    mut rows: Box<dyn crate::Rows<C>>,
    connection: &mut C,
    max_rows: u32,
) -> Result<Vec<crate::Batch>, crate::ConnectorError> {
    let mut batches = Vec::new();
    let outcome = loop {
        match rows.next(connection, max_rows) {
            Ok(Some(batch)) => batches.push(batch),
            Ok(None) => break Ok(batches),
            Err(error) => break Err(error),
        }
    };
    rows.close(connection);
    outcome
}

/// The texts of a `utf8`, `decimal` or `json` column of a batch, `None` for
/// NULL; panics (a test failure) on another case.
pub fn texts(column: &crate::ColumnValues) -> Vec<Option<String>> {
    let vector = match &column.values {
        crate::Values::Utf8(v) | crate::Values::Decimal(v) | crate::Values::Json(v) => v,
        other => panic!("not a text column: {other:?}"),
    };
    vector
        .offsets
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let valid = column.validity.get(i).copied().unwrap_or(true);
            valid.then(|| vector.data[w[0] as usize..w[1] as usize].to_owned())
        })
        .collect()
}

/// The step named `name`; panics (a test failure) listing the steps when there is none.
pub fn step<'a>(steps: &'a [CheckStep], name: &str) -> &'a CheckStep {
    steps.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no step {name} in {steps:?}"))
}

/// A [`Transport`](crate::http::Transport) for HTTP connectors' unit tests
/// (feature `http`): answers in the order scripted, records every request,
/// and refuses a body over `max_response_bytes` as the real one does.
/// Clones share the script, so a test keeps one to inspect what was sent.
#[cfg(feature = "http")]
#[derive(Clone, Default)]
pub struct ScriptedTransport {
    answers: Rc<RefCell<VecDeque<Result<Response, ConnectorError>>>>,
    sent: Rc<RefCell<Vec<Request>>>,
}

#[cfg(feature = "http")]
impl ScriptedTransport {
    /// Queues an answer (a response, or the error the transport fails with).
    pub fn respond(&self, answer: Result<Response, ConnectorError>) -> &Self {
        self.answers.borrow_mut().push_back(answer);
        self
    }

    /// Queues a response with these headers and body.
    pub fn answer(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> &Self {
        let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        self.respond(Ok(Response { status, headers, body: body.to_vec() }))
    }

    /// Queues a response whose body is `body` as JSON text.
    pub fn answer_json(&self, status: u16, body: serde_json::Value) -> &Self {
        self.answer(status, &[], body.to_string().as_bytes())
    }

    /// Queues a failure of the exchange itself (refused, timed out).
    pub fn fail(&self, error: ConnectorError) -> &Self {
        self.respond(Err(error))
    }

    /// The requests sent so far, in order.
    pub fn sent(&self) -> Vec<Request> {
        self.sent.borrow().clone()
    }
}

/// (feature `http`) A response with this status and body and no headers.
#[cfg(feature = "http")]
pub fn response(status: u16, body: &str) -> Response {
    Response { status, headers: vec![], body: body.as_bytes().to_vec() }
}

#[cfg(feature = "http")]
impl crate::http::Transport for ScriptedTransport {
    fn send(&self, request: &Request, limits: &Limits) -> Result<Response, ConnectorError> {
        self.sent.borrow_mut().push(request.clone());
        let answer = self.answers.borrow_mut().pop_front();
        match answer.unwrap_or_else(|| Err(ConnectorError::internal("no more answers"))) {
            Ok(response) if response.body.len() as u64 > limits.max_response_bytes => {
                Err(ConnectorError::protocol(format!("{}: the response is larger than allowed", request.target())))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connection, ConnectorError, DiscoverPage, ErrorKind};

    #[cfg(feature = "http")]
    #[test]
    fn the_script_answers_in_order_and_records_requests() {
        use crate::http::{Method, Transport, Url};
        let transport = ScriptedTransport::default();
        transport.answer_json(200, serde_json::json!({"ok": true})).answer(200, &[], &[b'x'; 11]);
        let kept = transport.clone();
        let url = Url::parse("http://h/a").unwrap();
        let request = Request::new(Method::Get, url);
        let first = transport.send(&request, &Limits::default()).unwrap();
        assert_eq!(first.body, br#"{"ok":true}"#);
        let too_big = transport.send(&request, &Limits::default().max_response_bytes(10)).unwrap_err();
        assert_eq!(too_big.kind, ErrorKind::Protocol);
        let none_left = transport.send(&request, &Limits::default()).unwrap_err();
        assert_eq!(none_left.kind, ErrorKind::Internal);
        assert_eq!(kept.sent().len(), 3);
    }

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

    #[derive(serde::Deserialize)]
    struct Port {
        port: u16,
    }

    impl crate::config::Validate for Port {
        fn validate(&self) -> Result<(), ConnectorError> {
            crate::config::in_range("port", self.port, 1..=u16::MAX)
        }
    }

    #[test]
    fn config_errors_are_asserted_one_by_one() {
        assert_config_errors::<Port>(&[r#"{}"#, r#"{"port":0}"#, r#"{"port":"x"}"#]);
        let accepted = std::panic::catch_unwind(|| assert_config_errors::<Port>(&[r#"{"port":0}"#, r#"{"port":1}"#]));
        assert!(accepted.is_err(), "a config that parses fails the assertion");
    }

    #[test]
    fn written_files_are_named_by_their_path() {
        let dir = std::env::temp_dir().join(format!("inlet-sdk-testing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_file(&dir, "a.txt", b"abc");
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert!(path.ends_with("a.txt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
