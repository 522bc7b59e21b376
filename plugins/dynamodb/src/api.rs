//! DynamoDB's JSON API (`DynamoDB_20120810`): signed requests, the answers
//! discovery reads, and service errors mapped to error kinds.
//!
//! Every call is a `POST` of `application/x-amz-json-1.0` naming its
//! operation in `X-Amz-Target`, signed with SigV4 for service `dynamodb`.
//! The transport is [`inlet_sdk::http::Transport`]: wasi:http in the
//! component, a scripted fake in the unit tests.

use inlet_sdk::ConnectorError;
use inlet_sdk::aws::Payload;
use inlet_sdk::aws::client::{self as aws_client, Headers, Scope, ServiceError};
use inlet_sdk::http::{Method, Request, Response, Transport};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::Endpoint;

pub const SERVICE: &str = "dynamodb";
pub const TARGET_PREFIX: &str = "DynamoDB_20120810";
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The most one response may carry: a Scan page is at most 1 MB of item data.
pub const MAX_RESPONSE_BYTES: u64 = 8 << 20;

/// The operations this connector calls (all read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListTables,
    DescribeTable,
    Scan,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::ListTables => "ListTables",
            Operation::DescribeTable => "DescribeTable",
            Operation::Scan => "Scan",
        }
    }
}

/// A signed-request client for one endpoint and set of credentials.
pub struct Client<T: Transport> {
    aws: aws_client::Client<T>,
    endpoint: Endpoint,
}

impl<T: Transport> Client<T> {
    pub fn new(aws: aws_client::Client<T>, endpoint: Endpoint) -> Self {
        Self { aws: aws.max_response_bytes(MAX_RESPONSE_BYTES), endpoint }
    }

    /// The SigV4 scope of `endpoint` in `region`.
    pub fn scope(endpoint: &Endpoint, region: &str) -> Scope {
        Scope { service: SERVICE, region: region.to_owned(), authority: endpoint.authority.clone() }
    }

    #[cfg(test)]
    pub fn with_clock(self, clock: fn() -> u64) -> Self {
        Self { aws: self.aws.with_clock(clock), endpoint: self.endpoint }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The signed HTTP request for `operation` with a JSON `body`.
    pub fn request(&self, operation: Operation, body: &Value) -> Request {
        let payload = body.to_string().into_bytes();
        let headers = Headers {
            extra: vec![
                ("content-type", CONTENT_TYPE.to_owned()),
                ("x-amz-target", format!("{TARGET_PREFIX}.{}", operation.name())),
            ],
            payload: Payload::Bytes(&payload),
            content_sha256: false,
        };
        let request = self.aws.sign(Method::Post, self.endpoint.url.clone(), &self.endpoint.path, "", headers);
        request.header("content-length", payload.len().to_string()).body(payload)
    }

    /// Calls `operation` and parses its answer as `R`.
    pub fn call<R: DeserializeOwned>(&self, operation: Operation, body: &Value) -> Result<R, ConnectorError> {
        let request = self.request(operation, body);
        let label = format!("DynamoDB {}", operation.name());
        let response = self.aws.send(&label, &request, None, |response| service_error(operation, response))?;
        serde_json::from_slice(&response.body).map_err(|error| {
            ConnectorError::protocol(format!(
                "{label}: the answer is not the JSON expected ({error}; {} bytes)",
                response.body.len()
            ))
        })
    }

    pub fn list_tables(&self, start: Option<&str>, limit: u32) -> Result<ListTables, ConnectorError> {
        let mut body = Map::new();
        body.insert("Limit".into(), Value::from(limit.clamp(1, 100)));
        if let Some(start) = start {
            body.insert("ExclusiveStartTableName".into(), Value::from(start));
        }
        self.call(Operation::ListTables, &Value::Object(body))
    }

    pub fn describe_table(&self, name: &str) -> Result<TableDescription, ConnectorError> {
        let answer: DescribeTable = self.call(Operation::DescribeTable, &serde_json::json!({ "TableName": name }))?;
        Ok(answer.table)
    }

    pub fn scan(&self, name: &str, limit: u32, start: Option<&Value>) -> Result<Scan, ConnectorError> {
        self.scan_page(name, None, limit, start)
    }

    /// One Scan page of a table, or of one of its indexes.
    pub fn scan_page(
        &self,
        name: &str,
        index: Option<&str>,
        limit: u32,
        start: Option<&Value>,
    ) -> Result<Scan, ConnectorError> {
        let mut body = Map::new();
        body.insert("TableName".into(), Value::from(name));
        if let Some(index) = index {
            body.insert("IndexName".into(), Value::from(index));
        }
        body.insert("Limit".into(), Value::from(limit.max(1)));
        if let Some(start) = start {
            body.insert("ExclusiveStartKey".into(), start.clone());
        }
        self.call(Operation::Scan, &Value::Object(body))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTables {
    #[serde(default)]
    pub table_names: Vec<String>,
    #[serde(default)]
    pub last_evaluated_table_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeTable {
    table: TableDescription,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDescription {
    pub table_name: String,
    #[serde(default)]
    pub table_status: Option<String>,
    #[serde(default)]
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub attribute_definitions: Vec<AttributeDefinition>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<Index>,
    #[serde(default)]
    pub local_secondary_indexes: Vec<Index>,
    #[serde(default)]
    pub item_count: Option<u64>,
    #[serde(default)]
    pub table_size_bytes: Option<u64>,
    #[serde(default)]
    pub billing_mode_summary: Option<BillingModeSummary>,
    #[serde(default)]
    pub stream_specification: Option<StreamSpecification>,
    #[serde(default)]
    pub table_class_summary: Option<TableClassSummary>,
    #[serde(default)]
    pub deletion_protection_enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    /// `HASH` (partition key) or `RANGE` (sort key).
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// A global or local secondary index.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Index {
    pub index_name: String,
    #[serde(default)]
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub projection: Option<Projection>,
    #[serde(default)]
    pub index_status: Option<String>,
    #[serde(default)]
    pub item_count: Option<u64>,
    #[serde(default)]
    pub index_size_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    #[serde(default)]
    pub projection_type: Option<String>,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BillingModeSummary {
    #[serde(default)]
    pub billing_mode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    #[serde(default)]
    pub stream_enabled: bool,
    #[serde(default)]
    pub stream_view_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableClassSummary {
    #[serde(default)]
    pub table_class: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Scan {
    #[serde(default)]
    pub items: Vec<Map<String, Value>>,
    #[serde(default)]
    pub last_evaluated_key: Option<Value>,
}

/// The error code and message of a failed call: JSON `__type` (`…#Code`
/// or `Code`), or the XML `<Code>` some front ends (and moto's signature
/// check) answer with.
pub fn read_error(response: &Response) -> ServiceError {
    let (code, message) = error_code(&response.body);
    ServiceError { status: response.status, code, message }
}

fn error_code(body: &[u8]) -> (Option<String>, Option<String>) {
    if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) {
        let code = object.get("__type").and_then(Value::as_str).map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
        let message =
            ["message", "Message"].iter().find_map(|k| object.get(*k).and_then(Value::as_str)).map(str::to_owned);
        return (code, message);
    }
    let text = String::from_utf8_lossy(body);
    let between = |open: &str, close: &str| {
        let start = text.find(open)? + open.len();
        let end = text[start..].find(close)? + start;
        Some(text[start..end].trim().to_owned())
    };
    (between("<Code>", "</Code>"), between("<Message>", "</Message>"))
}

/// The error kind a DynamoDB error means.
pub fn service_error(operation: Operation, response: &Response) -> ConnectorError {
    let error = read_error(response);
    let text = error.text(&format!("DynamoDB {}", operation.name()));
    match error.code.as_deref().unwrap_or("") {
        "UnrecognizedClientException"
        | "UnrecognizedClient"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "InvalidAccessKeyId"
        | "MissingAuthenticationToken"
        | "MissingAuthenticationTokenException"
        | "IncompleteSignature"
        | "IncompleteSignatureException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidToken"
        | "AuthFailure" => ConnectorError::auth(text),
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => ConnectorError::permission(text),
        "ResourceNotFoundException" => ConnectorError::not_found(text),
        "ThrottlingException"
        | "Throttling"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "LimitExceededException"
        | "InternalServerError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => ConnectorError::unreachable(text),
        "ValidationException" | "SerializationException" | "UnknownOperationException" => {
            ConnectorError::protocol(text)
        }
        _ => match error.status {
            401 | 403 => ConnectorError::auth(text),
            404 => ConnectorError::not_found(text),
            status => aws_client::error_for_status(status, text),
        },
    }
}

#[cfg(test)]
pub mod fake {
    //! The SDK's scripted transport, and what DynamoDB calls it was sent.
    use serde_json::Value;

    pub use inlet_sdk::testing::ScriptedTransport as Scripted;

    pub trait Calls {
        /// The `X-Amz-Target` operations and JSON bodies sent so far.
        fn calls(&self) -> Vec<(String, Value)>;
    }

    impl Calls for Scripted {
        fn calls(&self) -> Vec<(String, Value)> {
            self.sent()
                .iter()
                .map(|r| {
                    let target = r.headers.iter().find(|(n, _)| n == "x-amz-target").map(|(_, v)| v.clone());
                    let op = target.unwrap_or_default().trim_start_matches("DynamoDB_20120810.").to_owned();
                    (op, serde_json::from_slice(&r.body).unwrap_or(Value::Null))
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use inlet_sdk::ErrorKind;
    use serde_json::json;

    use inlet_sdk::aws::{self, client::example};
    use inlet_sdk::http::Limits;
    use inlet_sdk::testing::response;

    use super::fake::{Calls, Scripted};
    use super::*;

    fn client(transport: Scripted) -> Client<Scripted> {
        let endpoint = Endpoint::parse("http://127.0.0.1:8000").unwrap();
        let scope = Client::<Scripted>::scope(&endpoint, "us-east-1");
        let aws = aws_client::Client::new(transport, scope, example::credentials(), Limits::default());
        Client::new(aws, endpoint).with_clock(|| example::UNIX_TIME)
    }

    #[test]
    fn requests_are_signed_json_posts_naming_their_operation() {
        let transport = Scripted::default();
        let client = client(transport.clone());
        let request = client.request(Operation::ListTables, &json!({"Limit": 1}));
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.url.as_str(), "http://127.0.0.1:8000/");
        let header =
            |name: &str| request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        assert_eq!(header("x-amz-target"), Some("DynamoDB_20120810.ListTables"));
        assert_eq!(header("content-type"), Some("application/x-amz-json-1.0"));
        assert_eq!(header("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(header("x-amz-security-token"), Some("session"));
        assert_eq!(header("content-length"), Some("11"));
        assert_eq!(header("host"), None, "wasi:http sets Host from the URL");
        let authorization = header("authorization").unwrap();
        assert!(authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
        ));
        // The same request signed independently: host as wasi:http will send it.
        let expected = aws::sign(
            &aws::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: vec![
                    ("Host".into(), "127.0.0.1:8000".into()),
                    ("Content-Type".into(), CONTENT_TYPE.into()),
                    ("X-Amz-Target".into(), "DynamoDB_20120810.ListTables".into()),
                ],
                payload: Payload::Bytes(br#"{"Limit":1}"#),
                content_sha256: false,
            },
            client.aws.credentials(),
            "us-east-1",
            "dynamodb",
            example::AMZ_DATE,
        );
        assert!(authorization.ends_with(&expected.signature));
        assert_eq!(request.body, br#"{"Limit":1}"#);
    }

    #[test]
    fn answers_parse_and_errors_name_the_operation() {
        let transport = Scripted::default();
        transport.answer_json(200, json!({"TableNames": ["a", "b"], "LastEvaluatedTableName": "b"}));
        transport.answer_json(400, json!({"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "Requested resource not found"}));
        transport.fail(ConnectorError::unreachable("POST /: connection refused"));
        transport.answer_json(200, json!({"TableNames": 5}));
        let client = client(transport.clone());
        let page = client.list_tables(None, 500).unwrap();
        assert_eq!(page.table_names, ["a", "b"]);
        assert_eq!(page.last_evaluated_table_name.as_deref(), Some("b"));
        let error = client.describe_table("missing").unwrap_err();
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(
            error.message,
            "DynamoDB DescribeTable failed: ResourceNotFoundException: Requested resource not found"
        );
        let error = client.scan("t", 10, None).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unreachable);
        assert_eq!(error.message, "DynamoDB Scan: POST /: connection refused");
        assert_eq!(client.list_tables(Some("b"), 0).unwrap_err().kind, ErrorKind::Protocol);
        let calls = transport.calls();
        assert_eq!(calls[0], ("ListTables".to_owned(), json!({"Limit": 100})));
        assert_eq!(calls[1], ("DescribeTable".to_owned(), json!({"TableName": "missing"})));
        assert_eq!(calls[2], ("Scan".to_owned(), json!({"TableName": "t", "Limit": 10})));
        assert_eq!(calls[3], ("ListTables".to_owned(), json!({"Limit": 1, "ExclusiveStartTableName": "b"})));
    }

    #[test]
    fn service_errors_map_to_kinds() {
        let cases = [
            (
                400,
                r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
                ErrorKind::Auth,
            ),
            (
                400,
                r#"{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"Signature expired"}"#,
                ErrorKind::Auth,
            ),
            (400, r#"{"__type":"com.amazon.coral.service#ExpiredTokenException"}"#, ErrorKind::Auth),
            (
                403,
                "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></ErrorResponse>",
                ErrorKind::Auth,
            ),
            (403, "<Error><Code>InvalidClientTokenId</Code></Error>", ErrorKind::Auth),
            (
                400,
                r#"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"User is not authorized to perform: dynamodb:Scan"}"#,
                ErrorKind::Permission,
            ),
            (403, "<Error><Code>AccessDenied</Code></Error>", ErrorKind::Permission),
            (
                400,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}"#,
                ErrorKind::Unreachable,
            ),
            (400, r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}"#, ErrorKind::Protocol),
            (403, "", ErrorKind::Auth),
            (503, "Service Unavailable", ErrorKind::Unreachable),
            (418, "", ErrorKind::Protocol),
        ];
        for (status, body, kind) in cases {
            let error = service_error(Operation::ListTables, &response(status, body));
            assert_eq!(error.kind, kind, "{status} {body}");
            assert!(error.message.starts_with("DynamoDB ListTables failed: "), "{}", error.message);
        }
        let throttled = service_error(Operation::Scan, &response(400, r#"{"__type":"x#ThrottlingException"}"#));
        assert!(throttled.retryable);
        let xml = service_error(
            Operation::Scan,
            &response(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>"),
        );
        assert_eq!(xml.message, "DynamoDB Scan failed: SignatureDoesNotMatch: no");
        assert_eq!(service_error(Operation::Scan, &response(500, "")).message, "DynamoDB Scan failed: HTTP 500");
    }

    #[test]
    fn a_table_description_parses_with_indexes() {
        let json = json!({"Table": {
            "TableName": "orders", "TableStatus": "ACTIVE", "ItemCount": 3, "TableSizeBytes": 120,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "GlobalSecondaryIndexes": [{"IndexName": "by_x", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["y"]}, "ItemCount": 2}],
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "Unknown": {"ignored": true}
        }});
        let parsed: DescribeTable = serde_json::from_value(json).unwrap();
        let table = parsed.table;
        assert_eq!(table.key_schema[1].key_type, "RANGE");
        assert_eq!(table.global_secondary_indexes[0].projection.as_ref().unwrap().non_key_attributes, ["y"]);
        assert!(table.local_secondary_indexes.is_empty());
        assert_eq!((table.item_count, table.table_size_bytes), (Some(3), Some(120)));
    }
}
