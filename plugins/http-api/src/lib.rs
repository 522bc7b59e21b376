//! The HTTP API connector: a JSON API behind one base URL, called through the
//! host's wasi:http (the host lets requests go to that URL's origin only).
//!
//! - `test`: a request to `health_path`, its status checked against
//!   `expected_status`, and the OpenAPI document read when one is configured.
//! - `discover`: each endpoint (configured, or imported from the OpenAPI
//!   document) fetched once; its records (a top-level array, the array at
//!   the `records` pointer, or the one array in a wrapper object) described
//!   as a table: nested objects as dotted columns, arrays of records as
//!   tables of their own (`endpoint.field`), types from `inlet-infer`.
//!
//! Modules:
//! - `config` — the options and their checks
//! - `auth` — Basic, Bearer, API key in a header or the query
//! - `json` — an order-keeping JSON value, and finding the records in a response
//! - `shape` — records → flattened, typed columns and nested tables
//! - `openapi` — endpoints from an OpenAPI 3 (or Swagger 2) document
//! - `preview` — the first records of one table, in its discovered columns
//! - `values` — record fields as cells of those columns

pub mod auth;
pub mod config;
pub mod json;
pub mod openapi;
pub mod preview;
pub mod shape;
pub mod values;

use inlet_sdk::http::{self, Limits, Request, Response, Transport, WasiHttp};
use inlet_sdk::paging::page_catalog;
use inlet_sdk::prelude::*;

use crate::auth::Auth;
use crate::config::{Config, Endpoint};
use crate::json::Json;
use crate::shape::Shape;

/// The one schema an HTTP API data source has.
pub const SCHEMA: &str = "default";
/// Same-origin redirects followed per request (others are refused).
const MAX_REDIRECTS: u8 = 5;

pub struct HttpApi;

pub struct HttpApiConnection {
    config: Config,
    auth: Auth,
    limits: Limits,
    transport: Box<dyn Transport>,
    /// The catalog the first page was cut from, so that later pages come
    /// from the same responses rather than new requests.
    cached: Option<Vec<(String, Vec<Table>)>>,
}

impl Connector for HttpApi {
    type Connection = HttpApiConnection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<HttpApiConnection, ConnectorError> {
        steps
            .run("configure", || HttpApiConnection::new(request, Box::new(WasiHttp)))
            .inspect(|connection| steps.annotate_last(connection.describe()))
    }
}

impl HttpApiConnection {
    /// Checks the config and reads the secrets; no request is sent yet.
    pub fn new(request: &ConnectRequest, transport: Box<dyn Transport>) -> Result<Self, ConnectorError> {
        let config = Config::from_request(request)?;
        let auth = Auth::from_request(&config, request)?;
        let limits = Limits::from_request(request).max_response_bytes(config.max_response_bytes);
        Ok(Self { config, auth, limits, transport, cached: None })
    }

    /// `https://api.example.com/v1, bearer authentication`
    fn describe(&self) -> String {
        format!("{}, {}", http::redacted(&self.config.base_url), self.auth.describe())
    }

    /// A request for `path` under the base URL, with the configured headers and credentials.
    fn request(&self, method: http::Method, path: &str) -> Result<Request, ConnectorError> {
        let mut request =
            Request::new(method, http::join_path(&self.config.base_url, path)?).header("accept", "application/json");
        for (name, value) in &self.config.headers {
            request.headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
            request = request.header(name.clone(), value.clone());
        }
        Ok(self.auth.apply(request))
    }

    fn send(&self, request: &Request) -> Result<Response, ConnectorError> {
        http::send_following_redirects(self.transport.as_ref(), request, &self.limits, MAX_REDIRECTS)
    }

    /// Fetches and parses the OpenAPI document.
    fn openapi(&self, path: &str) -> Result<openapi::Imported, ConnectorError> {
        let request = self.request(http::Method::Get, path)?;
        let response = self.send(&request)?.error_for_status(&request)?;
        let doc = Json::parse(&response.body).map_err(|error| {
            let kind = response.header("content-type").unwrap_or("no content type");
            ConnectorError::unsupported(format!(
                "{}: the OpenAPI document is not JSON ({kind}: {error}); YAML documents are not supported",
                request.target()
            ))
        })?;
        openapi::import(&doc).map_err(|reason| ConnectorError::unsupported(format!("{}: {reason}", request.target())))
    }

    /// The configured endpoints, or those of the OpenAPI document.
    fn endpoints(&self) -> Result<Vec<Endpoint>, ConnectorError> {
        if !self.config.endpoints.is_empty() {
            return Ok(self.config.endpoints.clone());
        }
        let Some(path) = &self.config.openapi_path else {
            return Err(ConnectorError::config("nothing to discover: list `endpoints` or set `openapi_path`"));
        };
        let imported = self.openapi(path)?;
        config::check_endpoints(&self.config.base_url, &imported.endpoints)?;
        Ok(imported.endpoints)
    }

    /// One endpoint's response, checked for its status; errors name the endpoint.
    fn fetch(&self, endpoint: &Endpoint) -> Result<(Response, String), ConnectorError> {
        let mut request = self.request(endpoint.method, &endpoint.path)?;
        if let Some(body) = &endpoint.body {
            request = request.json_body(body);
        }
        let target = request.target();
        let response =
            self.send(&request).and_then(|r| r.error_for_status(&request)).map_err(|e| in_endpoint(endpoint, e))?;
        Ok((response, target))
    }

    /// A response's body as JSON, with at most `keep` elements per array.
    fn parse(endpoint: &Endpoint, response: &Response, target: &str, keep: usize) -> Result<Json, ConnectorError> {
        Json::parse_sampled(&response.body, keep).map_err(|error| {
            let kind = response.header("content-type").unwrap_or("no content type");
            in_endpoint(endpoint, ConnectorError::protocol(format!("{target} did not answer JSON ({kind}): {error}")))
        })
    }

    /// The records of one parsed response.
    fn records<'a>(endpoint: &Endpoint, body: &'a Json, target: &str) -> Result<json::Records<'a>, ConnectorError> {
        json::locate(body, endpoint.records.as_deref())
            .map_err(|reason| in_endpoint(endpoint, ConnectorError::protocol(format!("{target}: {reason}"))))
    }

    /// The sampled records of a response described, as discover describes them.
    fn shape(&self, found: &json::Records) -> Shape {
        let mut shape = Shape::new(self.config.max_depth, u64::from(self.config.sample_size));
        for record in &found.records {
            if !shape.observe(record) {
                break;
            }
        }
        shape
    }

    /// One endpoint fetched and described: its table and those of its arrays of records.
    fn describe_endpoint(&self, endpoint: &Endpoint) -> Result<Vec<Table>, ConnectorError> {
        let (response, target) = self.fetch(endpoint)?;
        let keep = usize::try_from(self.config.sample_size).unwrap_or(usize::MAX);
        let body = Self::parse(endpoint, &response, &target, keep)?;
        let found = Self::records(endpoint, &body, &target)?;
        let shape = self.shape(&found);
        let whole = found.total;
        let mut comment = if found.single {
            format!("{target}: one object, described as a record")
        } else {
            format!("{target}: column types inferred from {} of {}", shape.records, plural(whole, "record"))
        };
        if !found.pointer.is_empty() {
            comment.push_str(&format!(" at `{}`", found.pointer));
        }
        Ok(shape.tables(endpoint.name.trim(), comment))
    }

    fn catalog(&self) -> Result<Vec<(String, Vec<Table>)>, ConnectorError> {
        let mut tables = Vec::new();
        for endpoint in self.endpoints()? {
            tables.extend(self.describe_endpoint(&endpoint)?);
        }
        Ok(vec![(SCHEMA.to_owned(), tables)])
    }
}

impl Connection for HttpApiConnection {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let request = self.request(http::Method::Get, &self.config.health_path)?;
        let target = request.target();
        let expected = self.config.expected_status;
        // A health path expected to redirect is checked as it answers, not followed.
        let follow = !(300..400).contains(&expected);
        let response = steps.run(&format!("request {target}"), || {
            if follow { self.send(&request) } else { self.transport.send(&request, &self.limits) }
        })?;
        steps.annotate_last(format!("HTTP {}, {}", response.status, plural(response.body.len() as u64, "byte")));
        steps.run("status", || {
            if response.status == expected {
                return Ok(());
            }
            let mut error = http::status_error(response.status, &target);
            error.message = format!("{}; expected HTTP {expected}", error.message);
            Err(error)
        })?;
        steps.annotate_last(format!("HTTP {expected} as expected"));
        let mut version = response.header("server").map(str::to_owned);
        if let Some(path) = self.config.openapi_path.clone() {
            let imported = steps.run("openapi document", || self.openapi(&path))?;
            let mut note = format!("{}: {}", imported.spec, plural(imported.endpoints.len() as u64, "GET endpoint"));
            if !imported.skipped.is_empty() {
                note.push_str(&format!(" ({} skipped: parameters needed)", imported.skipped.len()));
            }
            steps.annotate_last(note);
            version = imported.title.or(version);
        }
        Ok(version)
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        if request.page_token.is_none() {
            self.cached = None;
        }
        let catalog = match self.cached.take() {
            Some(catalog) => catalog,
            // A first page, or a later one whose responses this connection
            // does not hold (another pooled connection served the first).
            None => self.catalog()?,
        };
        let page = page_catalog(request, catalog.clone())?;
        if page.next_page_token.is_some() {
            self.cached = Some(catalog);
        }
        Ok(page)
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        preview::preview(self, request)
    }
}

/// The error with the endpoint's name in front.
fn in_endpoint(endpoint: &Endpoint, mut error: ConnectorError) -> ConnectorError {
    error.message = format!("endpoint `{}`: {}", endpoint.name.trim(), error.message);
    error
}

// The exports exist only in the component; native tests call the traits directly.
inlet_sdk::export_connector!(HttpApi);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use serde_json::json;

    /// Answers by path, recording what was asked (method, URL, headers).
    #[derive(Clone, Default)]
    struct Fake {
        routes: Rc<Vec<(&'static str, Response)>>,
        asked: Rc<RefCell<Vec<Request>>>,
    }

    impl Transport for Fake {
        fn send(&self, request: &Request, _: &Limits) -> Result<Response, ConnectorError> {
            self.asked.borrow_mut().push(request.clone());
            let path = request.url.path();
            self.routes
                .iter()
                .find(|(route, _)| *route == path)
                .map(|(_, response)| response.clone())
                .ok_or_else(|| ConnectorError::unreachable("connection refused"))
        }
    }

    /// `body` as written: `json!` would sort the keys.
    fn ok(body: impl ToString) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into()), ("server".into(), "fake/1".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn fake(routes: Vec<(&'static str, Response)>) -> Fake {
        Fake { routes: Rc::new(routes), asked: Rc::default() }
    }

    fn connect(config: serde_json::Value, secrets: &[(&str, &str)], transport: &Fake) -> HttpApiConnection {
        let mut request = inlet_sdk::testing::connect_request("http_api", &config);
        request.secrets = secrets.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        HttpApiConnection::new(&request, Box::new(transport.clone())).unwrap()
    }

    fn users() -> &'static str {
        r#"[{"id": 1, "name": "Ada", "address": {"city": "London"}, "orders": [{"sku": "a", "qty": 1}]},
            {"id": 2, "name": "Bob", "address": {"city": "Paris", "zip": "75001"}, "orders": []}]"#
    }

    #[test]
    fn test_checks_the_health_status_with_credentials() {
        let transport = fake(vec![("/api/health", ok(json!({"status": "ok"})))]);
        let config = json!({"base_url": "http://h/api", "auth": "bearer", "health_path": "/health"});
        let mut connection = connect(config, &[("token", "t0p")], &transport);
        let mut steps = Steps::new();
        assert_eq!(connection.test(&mut steps).unwrap().as_deref(), Some("fake/1"));
        let steps: Vec<_> = steps.into_steps().into_iter().map(|s| (s.name, s.passed, s.message)).collect();
        assert_eq!(
            steps,
            [
                ("request GET /api/health".to_owned(), true, Some("HTTP 200, 15 bytes".to_owned())),
                ("status".to_owned(), true, Some("HTTP 200 as expected".to_owned())),
            ]
        );
        let asked = transport.asked.borrow();
        assert_eq!(asked[0].url.as_str(), "http://h/api/health");
        assert!(asked[0].headers.contains(&("authorization".to_owned(), "Bearer t0p".to_owned())));
        assert!(asked[0].headers.contains(&("accept".to_owned(), "application/json".to_owned())));
    }

    #[test]
    fn an_unexpected_status_fails_the_status_step_with_its_kind() {
        let refused = Response { status: 401, ..Response::default() };
        let transport = fake(vec![("/", refused)]);
        let mut connection = connect(json!({"base_url": "http://h"}), &[], &transport);
        let mut steps = Steps::new();
        let error = connection.test(&mut steps).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Auth);
        assert_eq!(
            error.message,
            "GET / answered HTTP 401 Unauthorized: the credentials were refused; expected HTTP 200"
        );
        assert!(!steps.as_slice()[1].passed);

        let moved =
            Response { status: 302, headers: vec![("location".into(), "http://elsewhere/".into())], body: vec![] };
        let redirecting = fake(vec![("/", moved)]);
        let mut connection = connect(json!({"base_url": "http://h", "expected_status": 302}), &[], &redirecting);
        assert!(connection.test(&mut Steps::new()).is_ok());
        let mut connection = connect(json!({"base_url": "http://h"}), &[], &redirecting);
        assert_eq!(connection.test(&mut Steps::new()).unwrap_err().kind, ErrorKind::Permission);

        let teapot = fake(vec![("/", Response { status: 204, ..Response::default() })]);
        let mut connection = connect(json!({"base_url": "http://h", "expected_status": 204}), &[], &teapot);
        assert!(connection.test(&mut Steps::new()).is_ok());
    }

    #[test]
    fn discover_describes_each_endpoint_and_its_nested_records() {
        let transport = fake(vec![
            ("/users", ok(users())),
            ("/orders", ok(r#"{"total": 1, "data": [{"id": "o1", "at": "2024-01-05T10:00:00Z"}]}"#)),
        ]);
        let config = json!({"base_url": "http://h", "auth": "api_key", "api_key_in": "query",
            "endpoints": [{"name": "users", "path": "/users"}, {"name": "orders", "path": "/orders?state=open"}]});
        let mut connection = connect(config, &[("api_key", "k3y")], &transport);
        let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap();
        assert_eq!(page.next_page_token, None);
        assert_eq!(page.schemas.len(), 1);
        let tables = &page.schemas[0].tables;
        let names: Vec<_> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["users", "users.orders", "orders"]);
        let columns: Vec<_> = tables[0].columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
        assert_eq!(
            columns,
            [
                ("id", "int64"),
                ("name", "string"),
                ("address.city", "string"),
                ("address.zip", "string"),
                ("orders", "json")
            ]
        );
        assert_eq!(tables[0].comment.as_deref(), Some("GET /users: column types inferred from 2 of 2 records"));
        assert_eq!(
            tables[2].comment.as_deref(),
            Some("GET /orders: column types inferred from 1 of 1 record at `/data`")
        );
        assert_eq!(tables[2].columns[1].data_type, "timestamp-tz");
        let asked = transport.asked.borrow();
        assert_eq!(asked[1].url.as_str(), "http://h/orders?state=open&api_key=k3y");
    }

    #[test]
    fn pages_come_from_one_round_of_requests() {
        let transport = fake(vec![("/users", ok(users()))]);
        let config = json!({"base_url": "http://h", "endpoints": [{"name": "users", "path": "/users"}]});
        let mut connection = connect(config, &[], &transport);
        let first = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 1)).unwrap();
        assert_eq!(first.schemas[0].tables[0].name, "users");
        let token = first.next_page_token.clone();
        let second = connection.discover(&inlet_sdk::testing::discover_request(token.as_deref(), &[], 1)).unwrap();
        assert_eq!(second.schemas[0].tables[0].name, "users.orders");
        assert_eq!(second.next_page_token, None);
        assert_eq!(transport.asked.borrow().len(), 1);
    }

    #[test]
    fn only_the_sample_is_kept_but_every_record_is_counted() {
        let transport = fake(vec![("/users", ok(users()))]);
        let config =
            json!({"base_url": "http://h", "sample_size": 1, "endpoints": [{"name": "users", "path": "/users"}]});
        let mut connection = connect(config, &[], &transport);
        let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap();
        let users = &page.schemas[0].tables[0];
        assert_eq!(users.comment.as_deref(), Some("GET /users: column types inferred from 1 of 2 records"));
        // Bob's zip was not in the sample.
        assert!(users.columns.iter().all(|c| c.name != "address.zip"));
    }

    #[test]
    fn openapi_lists_the_endpoints_when_none_are_configured() {
        let doc = json!({"openapi": "3.0.0", "info": {"title": "Fake", "version": "1"},
            "paths": {"/users": {"get": {"operationId": "users"}}, "/users/{id}": {"get": {}}}});
        let transport = fake(vec![("/", ok(json!({}))), ("/openapi.json", ok(doc)), ("/users", ok(users()))]);
        let config = json!({"base_url": "http://h", "openapi_path": "/openapi.json"});
        let mut connection = connect(config, &[], &transport);
        let mut steps = Steps::new();
        assert_eq!(connection.test(&mut steps).unwrap().as_deref(), Some("Fake 1"));
        assert_eq!(
            steps.as_slice()[2].message.as_deref(),
            Some("OpenAPI 3.0.0: 1 GET endpoint (1 skipped: parameters needed)")
        );
        let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap();
        let names: Vec<_> = page.schemas[0].tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["users", "users.orders"]);
    }

    #[test]
    fn endpoint_failures_name_the_endpoint_and_keep_their_kind() {
        let html = Response {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html>".to_vec(),
        };
        let transport = fake(vec![
            ("/a", html),
            ("/b", ok(json!({"x": 1}))),
            ("/c", Response { status: 403, ..Response::default() }),
        ]);
        for (path, records, kind, message) in [
            ("/a", None, ErrorKind::Protocol, "endpoint `e`: GET /a did not answer JSON (text/html): expected value"),
            (
                "/b",
                Some("/items"),
                ErrorKind::Protocol,
                "endpoint `e`: GET /b: the records pointer `/items` matches nothing",
            ),
            ("/c", None, ErrorKind::Permission, "endpoint `e`: GET /c answered HTTP 403 Forbidden"),
            ("/d", None, ErrorKind::Unreachable, "endpoint `e`: connection refused"),
        ] {
            let config =
                json!({"base_url": "http://h", "endpoints": [{"name": "e", "path": path, "records": records}]});
            let mut connection = connect(config, &[], &transport);
            let error = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap_err();
            assert_eq!(error.kind, kind, "{path}");
            assert!(error.message.starts_with(message), "{}", error.message);
        }
        let mut nothing = connect(json!({"base_url": "http://h"}), &[], &transport);
        let error = nothing.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
    }

    #[test]
    fn missing_secrets_fail_connect_as_config_errors() {
        let request = inlet_sdk::testing::connect_request(
            "http_api",
            &json!({"base_url": "http://h", "auth": "basic", "username": "u"}),
        );
        let mut steps = Steps::new();
        let error = HttpApi::connect(&request, &mut steps).err().unwrap();
        assert_eq!((error.kind, error.message.as_str()), (ErrorKind::Config, "the secret `password` is not set"));
        assert_eq!(steps.as_slice()[0].name, "configure");
        let request = inlet_sdk::testing::connect_request("http_api", &json!({"base_url": "http://h/x?q=1"}));
        let mut steps = Steps::new();
        assert!(HttpApi::connect(&request, &mut steps).is_ok());
        assert_eq!(steps.as_slice()[0].message.as_deref(), Some("http://h/x, no authentication"));
    }
}
