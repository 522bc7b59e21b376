//! Preview against a local HTTP/1.1 server (a thread of this test on
//! 127.0.0.1, one request per connection): the connector's requests go out
//! over a plain socket transport (the component uses wasi:http instead).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use inlet_plugin_http_api::HttpApiConnection;
use inlet_sdk::http::{Limits, Request, Response, Transport};
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{self, texts};
use inlet_sdk::{Batch, Values};
use serde_json::json;

const USERS: &str = r#"[
  {"id": 1, "name": "Ada", "email": "ada@example.com", "active": true, "score": 9.5, "price": 12.5,
   "joined": "2024-01-05T10:00:00+01:00", "day": "2024-02-29", "address": {"city": "London", "geo": {"lat": 51.5}},
   "tags": ["admin", "ops"], "orders": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}]},
  {"id": 2, "name": "", "email": null, "active": false, "score": 7, "price": 3.25,
   "joined": "1970-01-01T00:00:00Z", "day": "1969-12-31", "address": {"city": "Paris", "zip": "75001"},
   "tags": [], "orders": []},
  {"id": 3, "name": "Cy", "active": true, "score": 8.25, "price": 0,
   "joined": "2024-03-01T00:00:00Z", "day": "2024-03-01", "address": null, "tags": ["ops"],
   "orders": [{"sku": "C-3", "qty": 5, "note": "gift"}]}
]"#;

/// A server answering `/users`, `/wrapped` (records under `data`) and
/// `/many` (20,000 records); counts the requests.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &log);
            }
        });
        Self { port, requests }
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split(' ').nth(1).unwrap_or("/").to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    log.lock().unwrap().push(target.clone());
    let body = match target.as_str() {
        "/users" => USERS.to_owned(),
        "/wrapped" => format!(r#"{{"total": 3, "data": {USERS}}}"#),
        "/many" => {
            let records: Vec<String> = (0..20_000).map(|i| format!(r#"{{"id":{i},"code":"c{i}"}}"#)).collect();
            format!(r#"{{"items":[{}],"count":20000}}"#, records.join(","))
        }
        _ => String::new(),
    };
    let status = if body.is_empty() { "404 Not Found" } else { "200 OK" };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// HTTP/1.1 over a fresh socket per request.
struct Http;

impl Transport for Http {
    fn send(&self, request: &Request, _: &Limits) -> Result<Response, ConnectorError> {
        let port = request.url.port().unwrap_or(80);
        let mut socket =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| ConnectorError::unreachable(e.to_string()))?;
        let target = match request.url.query() {
            Some(query) => format!("{}?{query}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        let mut head = format!("{} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n", request.method.as_str());
        for (name, value) in &request.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", request.body.len()));
        socket.write_all(head.as_bytes()).and_then(|_| socket.write_all(&request.body)).unwrap();
        let mut raw = Vec::new();
        socket.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(Response { status, headers, body: raw[split + 4..].to_vec() })
    }
}

fn connection(server: &Server, extra: serde_json::Value) -> HttpApiConnection {
    let mut config = json!({"base_url": format!("http://127.0.0.1:{}", server.port), "endpoints": [
        {"name": "users", "path": "/users"}, {"name": "wrapped", "path": "/wrapped"}, {"name": "many", "path": "/many"}]});
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    HttpApiConnection::new(&testing::connect_request("http_api", &config), Box::new(Http)).expect("connection")
}

fn request(object: &str, columns: &[&str], limit: u32) -> PreviewRequest {
    PreviewRequest {
        schema: "default".into(),
        object: object.into(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        limit,
    }
}

type NameAndType = (String, String);

fn preview(
    connection: &mut HttpApiConnection,
    request: &PreviewRequest,
    max_rows: u32,
) -> Result<(Vec<NameAndType>, Vec<Batch>), ConnectorError> {
    let rows = connection.preview(request)?;
    let columns = rows.columns().into_iter().map(|c| (c.name, c.data_type)).collect();
    Ok((columns, testing::drain(rows, connection, max_rows)?))
}

#[inlet_tests::test]
fn records_arrive_in_the_discovered_types() {
    let server = Server::start();
    let mut connection = connection(&server, json!({}));
    let (columns, batches) = preview(&mut connection, &request("users", &[], 10), 100).unwrap();
    let names: Vec<(&str, &str)> = columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    assert_eq!(
        names,
        [
            ("id", "int64"),
            ("name", "string"),
            ("email", "string"),
            ("active", "boolean"),
            ("score", "float64"),
            ("price", "float64"),
            ("joined", "timestamp-tz"),
            ("day", "date"),
            ("address.city", "string"),
            ("address.geo.lat", "float64"),
            ("address.zip", "string"),
            ("tags", "array"),
            ("orders", "json"),
        ]
    );
    let batch = &batches[0];
    assert_eq!(batch.row_count, 3);
    assert!(matches!(&batch.columns[0].values, Values::Int64(v) if v == &[1, 2, 3]));
    // An empty string is a value; null and a missing field are NULL.
    assert_eq!(texts(&batch.columns[1]), [Some("Ada".to_owned()), Some(String::new()), Some("Cy".to_owned())]);
    assert_eq!(texts(&batch.columns[2]), [Some("ada@example.com".to_owned()), None, None]);
    assert!(matches!(&batch.columns[3].values, Values::Boolean(v) if v == &[true, false, true]));
    assert!(matches!(&batch.columns[4].values, Values::Float64(v) if v == &[9.5, 7.0, 8.25]));
    assert!(
        matches!(&batch.columns[6].values, Values::Timestamp(v) if v == &[1_704_445_200_000_000, 0, 1_709_251_200_000_000])
    );
    assert!(matches!(&batch.columns[7].values, Values::Date(v) if v == &[19_782, -1, 19_783]));
    assert_eq!(texts(&batch.columns[8]), [Some("London".to_owned()), Some("Paris".to_owned()), None]);
    assert_eq!(batch.columns[9].validity, [true, false, false]);
    assert_eq!(
        texts(&batch.columns[11]),
        [Some(r#"["admin","ops"]"#.to_owned()), Some("[]".to_owned()), Some(r#"["ops"]"#.to_owned())]
    );
    assert_eq!(texts(&batch.columns[12])[0].as_deref(), Some(r#"[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}]"#));
    let result = connection.preview(&request("users", &["joined"], 1)).unwrap().columns();
    assert_eq!(result[0].time_zone.as_deref(), Some("UTC"));
}

#[inlet_tests::test]
fn arrays_of_records_wrapped_records_and_column_subsets() {
    let server = Server::start();
    let mut connection = connection(&server, json!({}));
    let (columns, batches) = preview(&mut connection, &request("users.orders", &[], 10), 2).unwrap();
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["sku", "qty", "note"]);
    assert_eq!(batches.iter().map(|b| b.row_count).collect::<Vec<_>>(), [2, 1]);
    let skus: Vec<Option<String>> = batches.iter().flat_map(|b| texts(&b.columns[0])).collect();
    assert_eq!(skus, ["A-1", "B-7", "C-3"].map(|s| Some(s.to_owned())));
    assert_eq!(texts(&batches[1].columns[2]), [Some("gift".to_owned())]);

    let (columns, batches) = preview(&mut connection, &request("wrapped", &["address.city", "id"], 2), 100).unwrap();
    assert_eq!(columns, [("address.city".to_owned(), "string".to_owned()), ("id".to_owned(), "int64".to_owned())]);
    assert_eq!(texts(&batches[0].columns[0]), [Some("London".to_owned()), Some("Paris".to_owned())]);

    for (schema, object, columns) in [
        ("default", "nothing", &[][..]),
        ("default", "users.tags", &[]),
        ("default", "users", &["phone"]),
        ("api", "users", &[]),
    ] {
        let mut asked = request(object, columns, 5);
        asked.schema = schema.into();
        let error = connection.preview(&asked).err().expect("not found");
        assert_eq!(error.kind, ErrorKind::NotFound, "{schema} {object} {columns:?}: {}", error.message);
    }
}

#[inlet_tests::test]
fn the_limit_cuts_a_big_response_and_zero_gives_the_columns() {
    let server = Server::start();
    let mut connection = connection(&server, json!({"sample_size": 50}));
    let (columns, batches) = preview(&mut connection, &request("many", &[], 3), 100).unwrap();
    assert_eq!(columns, [("id".to_owned(), "int64".to_owned()), ("code".to_owned(), "string".to_owned())]);
    assert_eq!(texts(&batches[0].columns[1]), ["c0", "c1", "c2"].map(|s| Some(s.to_owned())));
    // Past the sample of 50: still typed.
    let (_, batches) = preview(&mut connection, &request("many", &["id"], 20_000), 20_000).unwrap();
    assert!(matches!(&batches[0].columns[0].values, Values::Int64(v) if v.len() == 20_000 && v[19_999] == 19_999));
    let (columns, batches) = preview(&mut connection, &request("many", &[], 0), 100).unwrap();
    assert_eq!(columns.len(), 2);
    assert!(batches.is_empty());
    // One request per preview.
    assert_eq!(server.requests.lock().unwrap().iter().filter(|t| *t == "/many").count(), 3);
}

fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
