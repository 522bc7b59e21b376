//! `preview` against `moto_server` (PyPI `moto[server]`), natively: the
//! connector's own client over a minimal HTTP/1.1 transport (the component
//! uses wasi:http instead). Parquet objects are written by pyarrow and
//! uploaded with boto3; the keys hold `=` (Hive partitions), which moto
//! cannot check signatures over, so its checks stay off here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use inlet_plugin_s3::config::Config;
use inlet_sdk::http::{Limits, Request, Response, Transport};
use inlet_sdk::prelude::*;
use inlet_sdk::rows::Value;
use inlet_tests::moto::{self, MotoServer, PY_HELPERS};
use inlet_tests::require;
use serde_json::json;

/// Plain HTTP/1.1, one connection per request; counts the body bytes received.
#[derive(Default, Clone)]
struct PlainHttp {
    received: Arc<AtomicU64>,
}

impl Transport for PlainHttp {
    fn send(&self, request: &Request, _: &Limits) -> Result<Response, ConnectorError> {
        let url = &request.url;
        let host = url.host_str().unwrap_or("127.0.0.1");
        let port = url.port_or_known_default().unwrap_or(80);
        let mut stream = TcpStream::connect((host, port)).map_err(|e| ConnectorError::unreachable(e.to_string()))?;
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut head =
            format!("{} {target} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n", request.method.as_str());
        for (name, value) in &request.headers {
            if !name.eq_ignore_ascii_case("host") {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", request.body.len()));
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&request.body).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut body = raw[split + 4..].to_vec();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
            body = unchunk(&body);
        }
        self.received.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(Response { status, headers, body })
    }
}

fn unchunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&bytes[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[line_end + 2..line_end + 2 + size]);
        bytes = &bytes[line_end + 4 + size..];
    }
}

const FIXTURE: &str = r#"
import datetime, decimal, gzip, io, sys
import boto3
import pyarrow as pa
import pyarrow.parquet as pq

endpoint = sys.argv[1]
s3 = boto3.client("s3", **kw(endpoint))
s3.create_bucket(Bucket="lake")
def put(key, table, **options):
    buf = io.BytesIO()
    pq.write_table(table, buf, **options)
    s3.put_object(Bucket="lake", Key=key, Body=buf.getvalue())

utc = datetime.timezone.utc
for year, first in [(2023, 0), (2024, 3)]:
    put(f"sales/year={year}/part-0.parquet", pa.table({
        "id": pa.array([first, first + 1, first + 2], pa.int64()),
        "amount": pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("-0.01")], pa.decimal128(12, 2)),
        "at": pa.array([datetime.datetime(year, 1, 2, 3, 4, 5, tzinfo=utc), None, None], pa.timestamp("us", tz="Europe/Oslo")),
        "ratio": pa.array([float("nan"), 0.5, None], pa.float64()),
        "name": pa.array(["é", "", None]),
        "tags": pa.array([["a"], [], None], pa.list_(pa.string())),
    }))
# 40 row groups of ~128 KiB each: a preview of 2 rows reads a small part.
rows = 40 * 1000
put("big.parquet", pa.table({"n": pa.array(range(rows), pa.int64()),
                             "pad": pa.array([("%08d" % i) * 16 for i in range(rows)])}),
    row_group_size=1000, compression="none")
put("packed.parquet", pa.table({"n": pa.array([1, 2], pa.int64())}), compression="zstd")
raw = lambda key, body: s3.put_object(Bucket="lake", Key=key, Body=body)
raw("customers.csv", "id;name;signed_up;balance;active;seen\n1;Ann;2024-01-02;10.50;true;2024-01-02T03:04:05Z\n"
    "2;;2024-02-03;;no;\n3;\"Cy; Jr\";2024-03-04;-7.25;T;2024-01-02 03:04:05.5+01:00\n".encode())
raw("logs/day=1/app.csv.gz", gzip.compress(b"level,ms\n" + b"".join(b"INFO,%d\n" % i for i in range(20000))))
raw("logs/day=2/app.csv.gz", gzip.compress(b"level,ms\nWARN,900\n"))
raw("events.ndjson", b'{"id": 1, "user": {"name": "a", "tags": ["x"]}, "at": "2024-01-02T03:04:05Z", "ok": true, "n": 1.5}\n'
    b'\n{"id": 2, "user": {"name": "", "tags": []}, "at": null, "extra": {}, "n": 2}\n')
raw("list.json.gz", gzip.compress(b'[{"a": "2024-02-29", "b": [1, {"c": 2}]}, {"a": null, "b": null}]'))
raw("blobs/image.bin", bytes(range(256)))
print(json.dumps({}))
"#;

struct Lake {
    _server: MotoServer,
    url: String,
}

fn lake() -> Lake {
    moto::require();
    require::that(
        std::process::Command::new("python3").args(["-c", "import pyarrow, boto3"]).status().is_ok_and(|s| s.success()),
        "pyarrow and boto3 for python3",
    );
    let server = MotoServer::start();
    server.fixture(&format!("{PY_HELPERS}\n{FIXTURE}"), &[]);
    Lake { url: server.url.clone(), _server: server }
}

fn client(lake: &Lake, transport: PlainHttp) -> (Arc<inlet_plugin_s3::api::Client<PlainHttp>>, Config) {
    let config_json =
        json!({"bucket": "lake", "region": "us-east-1", "endpoint_url": lake.url, "access_key_id": "testing"});
    let mut request = inlet_sdk::testing::connect_request("s3", &config_json);
    request.secrets = vec![("secret_access_key".to_owned(), "testing".to_owned())];
    let config = Config::from_request(&request).expect("config");
    let client = inlet_plugin_s3::client(&request, &config, transport).expect("client");
    (Arc::new(client), config)
}

fn request(schema: &str, object: &str, columns: &[&str], limit: u32) -> PreviewRequest {
    PreviewRequest {
        schema: schema.to_owned(),
        object: object.to_owned(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        limit,
    }
}

#[inlet_tests::test]
fn parquet_objects_preview_typed_with_partitions() {
    let lake = lake();
    let (client, config) = client(&lake, PlainHttp::default());
    let (columns, rows) =
        inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "sales", &[], 4)).unwrap();
    let described: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(
        described,
        [
            ("id", "int64"),
            ("amount", "decimal"),
            ("at", "timestamp-tz"),
            ("ratio", "float64"),
            ("name", "string"),
            ("tags", "array"),
            ("year", "int64")
        ]
    );
    assert_eq!((columns[1].precision, columns[1].scale), (Some(12), Some(2)));
    assert_eq!(columns[2].time_zone.as_deref(), Some("Europe/Oslo"));
    assert_eq!(rows.len(), 4);
    // 2023-01-02T03:04:05Z in microseconds.
    assert_eq!(rows[0][..3], [Value::Int64(0), Value::Decimal("1.50".into()), Value::Timestamp(1_672_628_645_000_000)]);
    assert!(matches!(rows[0][3], Value::Float64(f) if f.is_nan()));
    assert_eq!(rows[0][4..], [Value::Text("é".into()), Value::Json(r#"["a"]"#.into()), Value::Int64(2023)]);
    assert_eq!(
        rows[1],
        [
            Value::Int64(1),
            Value::Null,
            Value::Null,
            Value::Float64(0.5),
            Value::Text(String::new()),
            Value::Json("[]".into()),
            Value::Int64(2023)
        ]
    );
    assert_eq!(rows[2][1], Value::Decimal("-0.01".into()));
    assert_eq!(rows[2][4], Value::Null);
    // The fourth row comes from the next file (year=2024).
    assert_eq!((rows[3][0].clone(), rows[3][6].clone()), (Value::Int64(3), Value::Int64(2024)));

    // Chosen columns in the order asked, limit 0.
    let (columns, rows) =
        inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "sales", &["year", "id"], 0)).unwrap();
    assert_eq!(columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["year", "id"]);
    assert!(rows.is_empty());
    let (_, rows) =
        inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "sales", &["year", "id"], 2)).unwrap();
    assert_eq!(rows, [[Value::Int64(2023), Value::Int64(0)], [Value::Int64(2023), Value::Int64(1)]]);
}

#[inlet_tests::test]
fn unknown_names_codecs_and_formats_have_their_kinds() {
    let lake = lake();
    let (client, config) = client(&lake, PlainHttp::default());
    let kind = |request: PreviewRequest| {
        let error = inlet_plugin_s3::preview::preview(&client, &config, &request).expect_err("an error");
        (error.kind, error.message)
    };
    assert_eq!(kind(request("other", "sales", &[], 1)).0, ErrorKind::NotFound);
    assert_eq!(kind(request("lake", "nothing", &[], 1)).0, ErrorKind::NotFound);
    let (error, message) = kind(request("lake", "sales", &["id", "nope"], 1));
    assert_eq!(error, ErrorKind::NotFound);
    assert!(message.contains("no column `nope`"), "{message}");
    let (error, message) = kind(request("lake", "packed", &[], 1));
    assert_eq!(error, ErrorKind::Unsupported);
    assert!(message.contains("compressed with ZSTD"), "{message}");
    let (error, message) = kind(request("lake", "blobs", &[], 1));
    assert_eq!(error, ErrorKind::Unsupported, "{message}");
}

#[inlet_tests::test]
fn a_big_object_is_fetched_only_as_far_as_the_limit() {
    let lake = lake();
    let transport = PlainHttp::default();
    let (client, config) = client(&lake, transport.clone());
    let size = {
        let listed = inlet_plugin_s3::list_all(&client, &config).unwrap();
        listed.iter().find(|o| o.key == "big.parquet").unwrap().size
    };
    let before = transport.received.load(Ordering::Relaxed);
    let (_, rows) = inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "big", &[], 2)).unwrap();
    assert_eq!(rows[1][0], Value::Int64(1));
    let fetched = transport.received.load(Ordering::Relaxed) - before;
    assert!(size > 4 << 20, "{size}");
    // Listings, two footer reads and the first pages: a fraction of the object.
    assert!(fetched < size / 8, "fetched {fetched} of {size} bytes");
}

#[inlet_tests::test]
fn csv_objects_read_their_first_bytes_typed_as_discovered() {
    let lake = lake();
    let (client, config) = client(&lake, PlainHttp::default());
    let (columns, rows) =
        inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "customers", &[], 10)).unwrap();
    let described: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(
        described,
        [
            ("id", "int64"),
            ("name", "string"),
            ("signed_up", "date"),
            ("balance", "decimal"),
            ("active", "boolean"),
            ("seen", "timestamp-tz")
        ]
    );
    assert_eq!(
        rows,
        [
            vec![
                Value::Int64(1),
                Value::Text("Ann".into()),
                Value::Date(19_724),
                Value::Decimal("10.50".into()),
                Value::Bool(true),
                Value::Timestamp(1_704_164_645_000_000)
            ],
            // An empty cell is null, as discovery counts it.
            vec![Value::Int64(2), Value::Null, Value::Date(19_756), Value::Null, Value::Bool(false), Value::Null],
            vec![
                Value::Int64(3),
                Value::Text("Cy; Jr".into()),
                Value::Date(19_786),
                Value::Decimal("-7.25".into()),
                Value::Bool(true),
                Value::Timestamp(1_704_164_645_500_000 - 3_600_000_000)
            ],
        ]
    );

    // Gzipped files under partition folders: the limit stops inside the first file.
    let (columns, rows) =
        inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "logs", &["day", "ms", "level"], 3))
            .unwrap();
    let described: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(described, [("day", "int64"), ("ms", "int64"), ("level", "string")]);
    let first = |n: i64| vec![Value::Int64(1), Value::Int64(n), Value::Text("INFO".into())];
    assert_eq!(rows, [first(0), first(1), first(2)]);
}

#[inlet_tests::test]
fn json_objects_flatten_as_discovered() {
    let lake = lake();
    let (client, config) = client(&lake, PlainHttp::default());
    let (columns, rows) =
        inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "events", &[], 10)).unwrap();
    let described: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(
        described,
        [
            ("at", "timestamp-tz"),
            ("id", "int64"),
            ("n", "float64"),
            ("ok", "boolean"),
            ("user.name", "string"),
            ("user.tags", "array"),
            ("extra", "json")
        ]
    );
    // A blank line is no record; `extra` appears in the second record only.
    assert_eq!(
        rows,
        [
            vec![
                Value::Timestamp(1_704_164_645_000_000),
                Value::Int64(1),
                Value::Float64(1.5),
                Value::Bool(true),
                Value::Text("a".into()),
                Value::Json(r#"["x"]"#.into()),
                Value::Null
            ],
            vec![
                Value::Null,
                Value::Int64(2),
                Value::Float64(2.0),
                Value::Null,
                Value::Text(String::new()),
                Value::Json("[]".into()),
                Value::Json("{}".into())
            ],
        ]
    );
    // A gzipped JSON array; objects inside arrays stay JSON.
    let (columns, rows) =
        inlet_plugin_s3::preview::preview(&client, &config, &request("lake", "list", &["b", "a"], 10)).unwrap();
    let described: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(described, [("b", "json"), ("a", "date")]);
    assert_eq!(rows, [vec![Value::Json(r#"[1,{"c":2}]"#.into()), Value::Date(19_782)], vec![Value::Null, Value::Null]]);
}

fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
