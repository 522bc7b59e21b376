//! Preview against moto_server (PyPI `moto[server]`): tables written by
//! boto3, read back natively through the connector's own signed client over
//! a plain HTTP/1.1 transport (the component uses wasi:http instead).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;

use inlet_plugin_dynamodb::config::Config;
use inlet_plugin_dynamodb::preview::{self, ScanRows};
use inlet_plugin_dynamodb::{api::Client, client};
use inlet_sdk::config::ConnectorConfig;
use inlet_sdk::http::{Limits, Request, Response, Transport};
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{connect_request, texts};
use inlet_sdk::{Batch, Values};
use inlet_tests::moto::{self, MotoServer};
use serde_json::{Value as Json, json};

/// HTTP/1.1 over a fresh socket per request, recording every request body.
#[derive(Clone, Default)]
struct Http {
    bodies: Rc<RefCell<Vec<Json>>>,
}

impl Transport for Http {
    fn send(&self, request: &Request, _: &Limits) -> Result<Response, ConnectorError> {
        let host = request.url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = request.url.port_or_known_default().unwrap_or(80);
        let mut socket =
            TcpStream::connect((host.as_str(), port)).map_err(|e| ConnectorError::unreachable(e.to_string()))?;
        let mut head = format!("{} {} HTTP/1.1\r\n", request.method.as_str(), target(&request.url));
        if !request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("host: {host}:{port}\r\n"));
        }
        for (name, value) in &request.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", request.body.len()));
        self.bodies.borrow_mut().push(serde_json::from_slice(&request.body).unwrap_or(Json::Null));
        socket.write_all(head.as_bytes()).and_then(|_| socket.write_all(&request.body)).unwrap();
        let mut raw = Vec::new();
        socket.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
            body = dechunk(&body);
        }
        Ok(Response { status, headers, body })
    }
}

/// The request target: the path and query.
fn target(url: &inlet_sdk::http::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 4 + size..];
    }
    out
}

/// A moto server with the preview fixture.
fn moto() -> MotoServer {
    moto::require();
    let server = MotoServer::start();
    server.fixture(FIXTURE, &[]);
    server
}

const FIXTURE: &str = r#"
import sys, json, boto3
endpoint = sys.argv[1]
db = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
db.create_table(TableName="pv_things", BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "kind", "AttributeType": "S"}],
    GlobalSecondaryIndexes=[{"IndexName": "by_kind", "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "KEYS_ONLY"}}])
db.put_item(TableName="pv_things", Item={
    "id": {"S": "a"}, "kind": {"S": "tool"}, "qty": {"N": "3"}, "price": {"N": "12.5"}, "ok": {"BOOL": True},
    "blob": {"B": bytes([0, 255, 16])}, "at": {"S": "2024-01-31T13:00:00.5+01:00"}, "day": {"S": "2024-02-29"},
    "tags": {"SS": ["x", "y"]}, "doc": {"M": {"city": {"S": "Oslo"}, "zip": {"N": "150"}}},
    "list": {"L": [{"N": "1"}, {"S": "two"}, {"NULL": True}]}, "note": {"S": ""}, "gone": {"NULL": True}})
db.put_item(TableName="pv_things", Item={
    "id": {"S": "b"}, "qty": {"N": "-7"}, "price": {"N": "0.25"}, "ok": {"BOOL": False},
    "blob": {"B": b""}, "at": {"S": "1970-01-01T00:00:00Z"}, "day": {"S": "1969-12-31"},
    "doc": {"M": {"city": {"S": "Bergen"}}}, "gone": {"NULL": True}})
db.create_table(TableName="pv_many", BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}], AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"}])
for i in range(300):
    db.put_item(TableName="pv_many", Item={"n": {"N": str(i)}, "pad": {"S": "p" * 4000}})
print(json.dumps({}))
"#;

fn connection(server: &MotoServer, http: &Http) -> (Client<Http>, Config) {
    let settings = json!({"region": "us-east-1", "access_key_id": "testing", "endpoint_url": server.url});
    let config = Config::from_json(&settings.to_string()).expect("config");
    let mut request = connect_request("dynamodb", &settings);
    request.secrets = vec![("secret_access_key".into(), "testing".into())];
    (client(&request, &config, http.clone()).expect("client"), config)
}

fn request(object: &str, columns: &[&str], limit: u32) -> PreviewRequest {
    PreviewRequest {
        schema: "us-east-1".into(),
        object: object.into(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        limit,
    }
}

fn drain(rows: &mut ScanRows, client: &Client<Http>, max_rows: u32) -> Vec<Batch> {
    let mut batches = Vec::new();
    while let Some(batch) = rows.next_batch(client, max_rows).expect("a page") {
        batches.push(batch);
    }
    batches
}

/// All rows of one column over the batches, as texts (text, decimal and JSON columns).
fn column_texts(batches: &[Batch], column: usize) -> Vec<Option<String>> {
    batches.iter().flat_map(|b| texts(&b.columns[column])).collect()
}

#[inlet_tests::test]
fn every_attribute_type_arrives_in_its_discovered_type() {
    let server = moto();
    let http = Http::default();
    let (client, config) = connection(&server, &http);
    let mut rows = preview::open(&client, &config, &request("pv_things", &[], 10)).expect("open");
    let columns: Vec<(String, String)> = rows.columns().into_iter().map(|c| (c.name, c.data_type)).collect();
    let columns: Vec<(&str, &str)> = columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    assert_eq!(
        columns,
        [
            ("id", "string"),
            ("kind", "string"),
            ("at", "timestamp-tz"),
            ("blob", "binary"),
            ("day", "date"),
            ("doc.city", "string"),
            ("doc.zip", "int64"),
            ("gone", "string"),
            ("list", "array"),
            ("note", "string"),
            ("ok", "boolean"),
            ("price", "decimal"),
            ("qty", "int64"),
            ("tags", "array"),
        ]
    );
    let price = &rows.columns()[11];
    // 12.5 and 0.25: two integer digits, two after the point.
    assert_eq!((price.precision, price.scale), (Some(4), Some(2)));
    let batches = drain(&mut rows, &client, 100);
    let batch = batches.iter().find(|b| b.row_count > 0).expect("rows");
    assert_eq!(batch.row_count, 2);
    // Scan order is the server's: find each item's row by its key.
    let ids = texts(&batch.columns[0]);
    let a = ids.iter().position(|id| id.as_deref() == Some("a")).expect("item a");
    let b = 1 - a;
    let at = |row: usize| match &batch.columns[2].values {
        Values::Timestamp(v) => v[row],
        other => panic!("{other:?}"),
    };
    assert_eq!((at(a), at(b)), (1_706_702_400_500_000, 0));
    match &batch.columns[3].values {
        Values::Binary(bytes) => {
            let value = |row: usize| &bytes.data[bytes.offsets[row] as usize..bytes.offsets[row + 1] as usize];
            assert_eq!((value(a), value(b)), (&[0u8, 255, 16][..], &[][..]));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&batch.columns[4].values, Values::Date(v) if v[a] == 19_782 && v[b] == -1));
    assert_eq!(texts(&batch.columns[5])[b].as_deref(), Some("Bergen"));
    // `doc.zip` and `kind` only in item a; NULL attributes are NULL.
    assert!(!batch.columns[6].validity[b]);
    assert!(matches!(&batch.columns[6].values, Values::Int64(v) if v[a] == 150));
    assert_eq!(texts(&batch.columns[1])[b], None);
    assert_eq!(texts(&batch.columns[7]), [None, None]);
    assert_eq!(texts(&batch.columns[8])[a].as_deref(), Some(r#"[1,"two",null]"#));
    // An empty string is not NULL, a missing one is.
    assert_eq!(texts(&batch.columns[9])[a].as_deref(), Some(""));
    assert_eq!(texts(&batch.columns[9])[b], None);
    assert!(matches!(&batch.columns[10].values, Values::Boolean(v) if v[a] && !v[b]));
    assert_eq!(texts(&batch.columns[11])[a].as_deref(), Some("12.50"));
    assert_eq!(texts(&batch.columns[11])[b].as_deref(), Some("0.25"));
    assert!(matches!(&batch.columns[12].values, Values::Int64(v) if v[a] == 3 && v[b] == -7));
    let tags: Json = serde_json::from_str(texts(&batch.columns[13])[a].as_deref().unwrap()).unwrap();
    assert_eq!(tags, json!(["x", "y"]));
}

#[inlet_tests::test]
fn columns_indexes_and_unknown_names() {
    let server = moto();
    let http = Http::default();
    let (client, config) = connection(&server, &http);
    let mut rows = preview::open(&client, &config, &request("pv_things", &["qty", "id"], 10)).expect("open");
    let names: Vec<String> = rows.columns().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["qty", "id"]);
    let batches = drain(&mut rows, &client, 100);
    let mut ids = column_texts(&batches, 1);
    ids.sort();
    assert_eq!(ids, [Some("a".to_owned()), Some("b".to_owned())]);

    // The index holds only the item that has its key.
    let mut rows = preview::open(&client, &config, &request("pv_things/by_kind", &[], 10)).expect("index");
    let names: Vec<String> = rows.columns().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["kind", "id"]);
    let batches = drain(&mut rows, &client, 100);
    assert_eq!(column_texts(&batches, 0), [Some("tool".to_owned())]);
    assert!(http.bodies.borrow().iter().any(|b| b["IndexName"] == "by_kind"));

    for (object, columns, schema) in [
        ("pv_nothing", &[][..], "us-east-1"),
        ("pv_things/no_index", &[], "us-east-1"),
        ("pv_things", &["id", "phone"], "us-east-1"),
        ("pv_things", &[], "eu-west-1"),
    ] {
        let mut asked = request(object, columns, 5);
        asked.schema = schema.into();
        let error = preview::open(&client, &config, &asked).err().expect("not found");
        assert_eq!(error.kind, ErrorKind::NotFound, "{object} {columns:?} {schema}: {}", error.message);
    }
}

#[inlet_tests::test]
fn scans_page_to_the_limit_and_read_no_further() {
    let server = moto();
    let http = Http::default();
    let (client, config) = connection(&server, &http);
    let mut rows = preview::open(&client, &config, &request("pv_many", &["n"], 25)).expect("open");
    let before = http.bodies.borrow().len();
    let batches = drain(&mut rows, &client, 10);
    assert_eq!(batches.iter().map(|b| b.row_count).collect::<Vec<_>>(), [10, 10, 5]);
    let mut seen: Vec<i64> = batches
        .iter()
        .flat_map(|b| match &b.columns[0].values {
            Values::Int64(v) => v.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 25, "25 distinct items across the pages");
    let scans: Vec<Json> = http.bodies.borrow()[before..].to_vec();
    let limits: Vec<&Json> = scans.iter().map(|b| &b["Limit"]).collect();
    assert_eq!(limits, [&json!(10), &json!(10), &json!(5)]);
    assert!(scans[0].get("ExclusiveStartKey").is_none());
    assert_eq!(scans[1]["ExclusiveStartKey"].as_object().map(|k| k.contains_key("n")), Some(true));

    // Limit 0: the columns, no Scan for rows.
    let mut rows = preview::open(&client, &config, &request("pv_many", &[], 0)).expect("open");
    assert_eq!(rows.columns().len(), 2);
    let before = http.bodies.borrow().len();
    assert!(drain(&mut rows, &client, 10).is_empty());
    assert_eq!(http.bodies.borrow().len(), before);
}

fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
