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
}
