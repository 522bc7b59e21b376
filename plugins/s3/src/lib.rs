//! Inlet connector for a bucket (and prefix) in Amazon S3 or an
//! S3-compatible store, over S3's REST API through wasi:http, every request
//! signed with AWS Signature Version 4 (`inlet_sdk::aws`).
//!
//! - [`config`]: the data source's configuration, the endpoint and addressing
//! - [`api`]: signed calls (ListObjectsV2, HeadObject, HeadBucket, ranged
//!   GetObject) and S3's XML errors → error kinds
//! - [`xml`]: a small bounded XML reader for S3's answers
//! - [`layout`]: keys grouped into tables, `key=value/` folders into partitions
//! - [`sample`]: CSV and JSON columns from a file's first bytes
//! - [`preview`]: a table's first rows (Parquet objects through the shared
//!   page reader over ranged GETs; CSV/TSV from the first `sample_bytes`)
//!
//! Discovery lists every key under the prefix (bounded by `max_objects`),
//! groups them into tables and reads each table's schema from ONE file:
//! a Parquet footer through two ranged GETs at most (the shared
//! `inlet-parquet-meta` decoder), or the first `sample_bytes` of a CSV or
//! JSON file. The catalog is one schema named after the bucket, paged with
//! `page_catalog`: a page reads only its own tables' files.

pub mod api;
pub mod config;
pub mod layout;
pub mod preview;
mod preview_text;
pub mod sample;
pub mod xml;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use inlet_infer::ColumnStats;
use inlet_parquet_meta::footer::{self as parquet_footer, TAIL_GUESS, Tail};
use inlet_sdk::aws;
use inlet_sdk::http::{Transport, WasiHttp};
use inlet_sdk::paging::page_lazily;
use inlet_sdk::prelude::*;
use inlet_sdk::rows::{BufferedRows, Rows};

use crate::api::{Client, LIST_PAGE, Object};
use crate::config::Config;
use crate::layout::{Format, TableFiles};

/// Objects whose HEAD would announce more than this are checked with a
/// one-byte ranged GET instead (the host caps announced lengths).
const MAX_HEAD_SIZE: u64 = 32 << 20;
/// Hive's name for a null partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

pub struct S3;

pub struct S3Connection {
    /// Shared with the Parquet page reader of a preview.
    client: Arc<Client<WasiHttp>>,
    config: Config,
}

/// The client for a request's config and secrets, over `transport`.
pub fn client<T: Transport>(
    request: &ConnectRequest,
    config: &Config,
    transport: T,
) -> Result<Client<T>, ConnectorError> {
    let endpoint = config.endpoint()?;
    let scope = Client::<T>::scope(&endpoint, &config.region);
    let aws = aws::client::Client::from_request(request, &config.access_key_id, transport, scope)?;
    Ok(Client::new(aws, endpoint, config.bucket.clone()))
}

impl Connector for S3 {
    type Connection = S3Connection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<S3Connection, ConnectorError> {
        let (config, client) = steps.run("configure", || {
            let config = Config::from_request(request)?;
            let client = client(request, &config, WasiHttp)?;
            Ok((config, client))
        })?;
        let style = if config.force_path_style { "path-style" } else { "virtual-hosted" };
        steps.annotate_last(format!(
            "{}, {style}, {}",
            location(&config),
            aws::client::credentials_note(request, &config.region, &config.access_key_id)
        ));
        Ok(S3Connection { client: Arc::new(client), config })
    }
}

impl Connection for S3Connection {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        run_test(&self.client, &self.config, steps)
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        discover_page(&self.client, &self.config, request)
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        let (columns, rows) = preview::preview(&self.client, &self.config, request)?;
        Ok(Box::new(BufferedRows::new(columns, rows)))
    }
}

/// `s3://bucket/prefix/`.
fn location(config: &Config) -> String {
    format!("s3://{}/{}", config.bucket, config.folder_prefix())
}

/// ListObjectsV2 for one key under the prefix (the signature, the bucket,
/// the right to list), then HEAD of that object (the right to read it), or
/// HeadBucket when the prefix holds nothing.
pub fn run_test<T: Transport>(
    client: &Client<T>,
    config: &Config,
    steps: &mut Steps,
) -> Result<Option<String>, ConnectorError> {
    let prefix = config.folder_prefix();
    let first =
        steps.run("list objects", || client.list(&prefix, None, 1).map(|page| page.objects.into_iter().next()))?;
    steps.annotate_last(match &first {
        Some(object) => format!("signed request accepted; first object {} ({} bytes)", object.key, object.size),
        None => format!("signed request accepted; no objects under {}", location(config)),
    });
    let server = match first {
        Some(object) if object.size > MAX_HEAD_SIZE => {
            // The host refuses answers that announce more than it allows,
            // HEAD answers included: read one byte instead (the same right).
            steps.run("head object", || client.get_range(&object.key, 0, 1, object.size))?;
            steps.annotate_last(format!(
                "{}: readable ({} bytes; checked with a 1-byte ranged GET)",
                object.key, object.size
            ));
            None
        }
        Some(object) => {
            let head = steps.run("head object", || client.head_object(&object.key))?;
            let mut note = format!("{}: {} bytes", object.key, head.size.unwrap_or(object.size));
            if let Some(content_type) = &head.content_type {
                note.push_str(&format!(", {content_type}"));
            }
            if let Some(modified) = &head.last_modified {
                note.push_str(&format!(", modified {modified}"));
            }
            steps.annotate_last(note);
            head.server
        }
        None => {
            let head = steps.run("head bucket", || client.head_bucket())?;
            let region = head.region.as_deref().map(|r| format!(" (region {r})")).unwrap_or_default();
            steps.annotate_last(format!("bucket {} exists{region}", config.bucket));
            head.server
        }
    };
    let server = server.filter(|s| !s.trim().is_empty()).map(|s| format!(" ({})", s.trim())).unwrap_or_default();
    Ok(Some(format!("S3 API 2006-03-01{server}")))
}

/// Every object under the prefix, refused beyond `max_objects`.
pub fn list_all<T: Transport>(client: &Client<T>, config: &Config) -> Result<Vec<Object>, ConnectorError> {
    let prefix = config.folder_prefix();
    let max = usize::try_from(config.max_objects).unwrap_or(usize::MAX);
    let max_calls = max.div_ceil(LIST_PAGE as usize).saturating_mul(4).saturating_add(16);
    let mut objects: Vec<Object> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..max_calls {
        let page = client.list(&prefix, token.as_deref(), LIST_PAGE)?;
        if objects.len().saturating_add(page.objects.len()) > max {
            return Err(ConnectorError::config(format!(
                "{} holds more than {max} objects (`max_objects`): narrow `prefix` or raise `max_objects`",
                location(config)
            )));
        }
        objects.extend(page.objects);
        match page.next {
            Some(next) if token.as_deref() == Some(next.as_str()) => {
                return Err(ConnectorError::protocol("S3 ListObjectsV2 answered the same continuation token twice"));
            }
            Some(next) => token = Some(next),
            None => return Ok(objects),
        }
    }
    Err(ConnectorError::protocol(format!(
        "S3 ListObjectsV2 was still truncated after {max_calls} pages with {} objects",
        objects.len()
    )))
}

/// One page of the catalog: the bucket's tables, described only when on the page.
pub fn discover_page<T: Transport>(
    client: &Client<T>,
    config: &Config,
    request: &DiscoverRequest,
) -> Result<DiscoverPage, ConnectorError> {
    let objects = list_all(client, config)?;
    let prefix = config.folder_prefix();
    let root = prefix.trim_end_matches('/').rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&config.bucket);
    let tables = layout::group(&prefix, root, &objects);
    drop(objects);
    // Only this page's tables are read.
    let stand_ins: Vec<Table> = tables.iter().map(|t| TableBuilder::new(t.name.clone(), kind(t)).build()).collect();
    let by_name: BTreeMap<&str, &TableFiles> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
    page_lazily(request, vec![(config.bucket.clone(), stand_ins)], |_, stand_in| {
        match by_name.get(stand_in.name.as_str()) {
            Some(files) => describe(client, config, files),
            None => Ok(stand_in),
        }
    })
}

fn kind(table: &TableFiles) -> ObjectKind {
    if table.folder { ObjectKind::ExternalTable } else { ObjectKind::File }
}

/// The columns one file gave and what they say about rows.
struct Schema {
    columns: Vec<Column>,
    note: String,
    /// An estimate of the table's rows.
    estimate: Option<u64>,
}

/// A table: its schema from one file, its partition columns, rows and size.
pub fn describe<T: Transport>(
    client: &Client<T>,
    config: &Config,
    table: &TableFiles,
) -> Result<Table, ConnectorError> {
    let format = table.format();
    let formats = table.formats();
    let same_format = formats.iter().find(|(f, _)| *f == format).map_or(0, |(_, n)| *n) as u64;
    let format_bytes =
        table.files.iter().filter(|f| f.format == format).fold(0u64, |sum, f| sum.saturating_add(f.size));
    let mut parts = Vec::new();
    let place = format!("s3://{}/{}", config.bucket, table.files.first().map_or("", |f| f.key.as_str()));
    if table.folder {
        let mut files = plural(table.files.len() as u64, "object");
        let kinds: Vec<String> = formats.iter().map(|(f, n)| format!("{n} {}", f.name())).collect();
        files.push_str(&format!(" ({})", kinds.join(", ")));
        if !table.partition_keys.is_empty() {
            files.push_str(&format!(" partitioned by {}", table.partition_keys.join(", ")));
        }
        parts.push(files);
    } else {
        parts.push(format!("{} object {place}", format.name()));
    }
    if table.mixed_partitions {
        parts.push("the files' partition folders differ".to_owned());
    }
    let mut columns = Vec::new();
    let mut estimate = None;
    match table.sample() {
        Some(file) if format != Format::Unknown => {
            match read_schema(client, config, file, format, same_format, format_bytes) {
                Ok(schema) => {
                    columns = schema.columns;
                    estimate = schema.estimate;
                    parts.push(schema.note);
                }
                Err(error)
                    if matches!(
                        error.kind,
                        ErrorKind::Auth | ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Internal
                    ) =>
                {
                    return Err(error);
                }
                Err(error) => parts.push(format!("the schema of {} could not be read: {}", file.key, error.message)),
            }
        }
        _ if format == Format::Unknown => {
            parts.push("no file of a known format (Parquet, CSV, TSV, JSON, NDJSON): no columns read".to_owned())
        }
        _ => parts.push("every file is empty: no columns read".to_owned()),
    }
    add_partition_columns(&mut columns, table);
    Ok(TableBuilder::new(table.name.clone(), kind(table))
        .columns(columns)
        .comment(Some(parts.join("; ")))
        .row_estimate(estimate)
        .size_bytes(Some(table.size()))
        .build())
}

/// The schema of `file` in `format`; `files` of that format, `bytes` in
/// all, make the table.
fn read_schema<T: Transport>(
    client: &Client<T>,
    config: &Config,
    file: &layout::DataFile,
    format: Format,
    files: u64,
    bytes: u64,
) -> Result<Schema, ConnectorError> {
    match format {
        Format::Parquet => {
            let footer = read_footer(client, &file.key, file.size)?;
            let columns = inlet_parquet_meta::columns(&footer.meta)
                .map_err(|error| ConnectorError::new(error.kind, format!("{}: {}", file.key, error.message)))?;
            let rows = u64::try_from(footer.meta.num_rows).unwrap_or(0);
            let mut note = format!(
                "schema from the footer of {} ({}, {}; one file read)",
                file.key,
                plural(rows, "row"),
                plural(footer.meta.row_groups, "row group")
            );
            if files > 1 {
                note.push_str(&format!("; row estimate = its rows × {files} Parquet files"));
            }
            if let Some(writer) = &footer.meta.created_by {
                note.push_str(&format!("; written by {writer}"));
            }
            Ok(Schema { columns, note, estimate: Some(rows.saturating_mul(files)) })
        }
        Format::Csv { gzip, delimiter } => {
            // `.csv` files are sniffed (`,` `;` `|` or tab); `.tsv` files are tab-separated.
            let text = Text::Csv((delimiter == b'\t').then_some(b'\t'));
            read_text(client, config, file, gzip, text, files, bytes)
        }
        Format::Json { gzip } => read_text(client, config, file, gzip, Text::Json, files, bytes),
        Format::Unknown => Err(ConnectorError::unsupported(format!("{}: no schema reader for this format", file.key))),
    }
}

/// How a text sample is read.
#[derive(Debug, Clone, Copy)]
enum Text {
    /// CSV with this delimiter, or sniffed.
    Csv(Option<u8>),
    Json,
}

/// CSV or JSON columns from the first `sample_bytes` of `file`; the
/// table's `files` of this format hold `total` bytes.
fn read_text<T: Transport>(
    client: &Client<T>,
    config: &Config,
    file: &layout::DataFile,
    gzip: bool,
    text: Text,
    files: u64,
    total: u64,
) -> Result<Schema, ConnectorError> {
    let len = file.size.min(config.sample_bytes);
    let raw = client.get_range(&file.key, 0, len, file.size)?;
    let whole_object = len == file.size;
    let (bytes, whole) = if gzip {
        let (inflated, ended) = sample::gunzip(&raw, sample::MAX_INFLATED)
            .map_err(|error| ConnectorError::protocol(format!("{}: {}", file.key, error.message)))?;
        (inflated, whole_object && ended)
    } else {
        (raw, whole_object)
    };
    let sampled = match text {
        Text::Csv(delimiter) => sample::csv(&bytes, whole, delimiter),
        Text::Json => sample::json(&bytes, whole),
    }
    .map_err(|error| ConnectorError::new(error.kind, format!("{}: {}", file.key, error.message)))?;
    let exact = sampled.whole && files == 1;
    let mut note = if sampled.whole {
        format!("columns from all of {} ({}; one file read)", file.key, plural(sampled.rows, "row"))
    } else {
        format!(
            "columns inferred from the first {len} bytes of {} ({} sampled; one file read)",
            file.key,
            plural(sampled.rows, "row")
        )
    };
    // Rows: exact for a lone file read whole; a file read whole scaled by
    // the table's bytes over its own; else (uncompressed) the sample's
    // bytes per row scaled to the table's bytes; none for a gzip sample.
    let estimate = if exact {
        Some(sampled.rows)
    } else if sampled.whole && file.size > 0 {
        note.push_str(&format!("; row estimate = its rows scaled to the {} bytes of {files} files", total));
        Some((sampled.rows as f64 * total as f64 / file.size as f64).round() as u64)
    } else if !gzip && sampled.rows > 0 && sampled.bytes > 0 {
        note.push_str("; row estimate from the sample's bytes per row");
        Some((total as f64 * sampled.rows as f64 / sampled.bytes as f64).round() as u64)
    } else {
        None
    };
    Ok(Schema { columns: sampled.columns, note, estimate })
}

/// A Parquet footer over byte ranges: the last [`TAIL_GUESS`] bytes, then,
/// when the footer is longer, exactly the footer.
pub fn read_footer<T: Transport>(
    client: &Client<T>,
    key: &str,
    size: u64,
) -> Result<inlet_parquet_meta::Footer, ConnectorError> {
    parquet_footer::check_size(size, key)?;
    let tail_len = size.min(TAIL_GUESS);
    let tail = client.get_range(key, size - tail_len, tail_len, size)?;
    match parquet_footer::from_tail(&tail, size, key)? {
        Tail::Footer(footer) => Ok(footer),
        Tail::NeedRange { offset, len } => {
            drop(tail);
            let bytes = client.get_range(key, offset, len, size)?;
            if bytes.len() as u64 != len {
                return Err(ConnectorError::protocol(format!("{key}: the footer's range came back short")));
            }
            parquet_footer::decode(&bytes, size, key)
        }
    }
}

/// Partition keys as columns after the file's own (a key the files hold
/// already is not repeated), typed from their values as the Parquet
/// connector types them.
fn add_partition_columns(columns: &mut Vec<Column>, table: &TableFiles) {
    let mut stats: BTreeMap<&str, (ColumnStats, BTreeSet<&str>)> = BTreeMap::new();
    for file in &table.files {
        for key in &table.partition_keys {
            let (column, values) = stats.entry(key.as_str()).or_default();
            match file.partitions.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()) {
                Some(value) if value != HIVE_NULL && !value.is_empty() => {
                    column.observe_text(value);
                    if values.len() < 10_000 {
                        values.insert(value);
                    }
                }
                _ => column.observe_null(),
            }
        }
    }
    for key in &table.partition_keys {
        if columns.iter().any(|c| &c.name == key) {
            continue;
        }
        let Some((column, values)) = stats.get(key.as_str()) else { continue };
        let inferred = column.infer();
        let ordinal = u32::try_from(columns.len() + 1).unwrap_or(u32::MAX);
        columns.push(
            ColumnBuilder::new(
                key.clone(),
                ordinal,
                inferred.data_type,
                format!("partition ({})", inferred.native_type),
            )
            .nullable(inferred.nullable)
            .precision_scale(inferred.precision, inferred.scale)
            .max_length(inferred.max_length)
            .comment(Some(format!(
                "Hive partition column from `{key}=…` folders; {}",
                plural(values.len() as u64, "distinct value")
            )))
            .build(),
        );
    }
}

// Natively the exports only break the cdylib link (the linker's version
// script rejects the component-model symbol names), and nothing calls them.
inlet_sdk::export_connector!(S3);

#[cfg(test)]
mod tests {
    use inlet_parquet_meta::testing::{file_with, sample_footer};
    use inlet_sdk::http::Response;
    use inlet_sdk::testing::discover_request;

    use super::api::fake::{Calls, Scripted, listing};
    use super::*;

    fn config(extra: serde_json::Value) -> Config {
        let mut json = serde_json::json!({
            "bucket": "bkt", "region": "us-east-1", "access_key_id": "AKIDEXAMPLE",
            "endpoint_url": "http://127.0.0.1:5000", "prefix": "lake"
        });
        if let (Some(json), Some(extra)) = (json.as_object_mut(), extra.as_object()) {
            json.extend(extra.clone());
        }
        Config::from_json(&json.to_string()).unwrap()
    }

    fn connect(config: &Config, transport: Scripted) -> Client<Scripted> {
        let mut request = inlet_sdk::testing::connect_request("s3", &serde_json::json!({}));
        request.secrets = vec![("secret_access_key".into(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into())];
        client(&request, config, transport).unwrap()
    }

    /// A ranged answer from `bytes` as S3 gives it.
    fn range(bytes: &[u8], offset: usize, len: usize) -> Response {
        let end = (offset + len).min(bytes.len());
        Response {
            status: 206,
            headers: vec![("content-range".into(), format!("bytes {offset}-{}/{}", end - 1, bytes.len()))],
            body: bytes[offset..end].to_vec(),
        }
    }

    fn push(transport: &Scripted, response: Response) {
        transport.respond(Ok(response));
    }

    #[test]
    fn test_lists_one_object_and_heads_it_or_the_bucket() {
        let config = config(serde_json::json!({}));
        let transport = Scripted::default();
        transport.answer(200, &[], &listing(&[("lake/a.csv", 12)], None));
        transport.answer(200, &[("content-length", "12"), ("content-type", "text/csv"), ("server", "AmazonS3")], b"");
        transport.answer(200, &[], &listing(&[], None));
        transport.answer(200, &[("x-amz-bucket-region", "us-east-1")], b"");
        transport.answer(200, &[], &listing(&[("lake/big.parquet", 1 << 40)], None));
        transport.answer(206, &[("content-range", "bytes 0-0/1099511627776")], b"P");
        let client = connect(&config, transport.clone());
        let mut steps = Steps::new();
        assert_eq!(run_test(&client, &config, &mut steps).unwrap().as_deref(), Some("S3 API 2006-03-01 (AmazonS3)"));
        let names: Vec<_> =
            steps.as_slice().iter().map(|s| (s.name.as_str(), s.message.clone().unwrap_or_default())).collect();
        assert_eq!(
            names[0],
            ("list objects", "signed request accepted; first object lake/a.csv (12 bytes)".to_owned())
        );
        assert_eq!(names[1], ("head object", "lake/a.csv: 12 bytes, text/csv".to_owned()));
        let mut steps = Steps::new();
        run_test(&client, &config, &mut steps).unwrap();
        assert_eq!(steps.as_slice()[1].name, "head bucket");
        assert_eq!(steps.as_slice()[1].message.as_deref(), Some("bucket bkt exists (region us-east-1)"));
        let mut steps = Steps::new();
        run_test(&client, &config, &mut steps).unwrap();
        assert!(steps.as_slice()[1].message.as_deref().unwrap().contains("1-byte ranged GET"));
        assert_eq!(
            transport.calls(),
            [
                "GET /bkt/?encoding-type=url&list-type=2&max-keys=1&prefix=lake%2F",
                "HEAD /bkt/lake/a.csv",
                "GET /bkt/?encoding-type=url&list-type=2&max-keys=1&prefix=lake%2F",
                "HEAD /bkt/",
                "GET /bkt/?encoding-type=url&list-type=2&max-keys=1&prefix=lake%2F",
                "GET /bkt/lake/big.parquet bytes=0-0",
            ]
        );
        // A refused signature fails the first step with `auth`.
        let transport = Scripted::default();
        transport.answer(403, &[], b"<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>");
        let mut steps = Steps::new();
        let error = run_test(&connect(&config, transport), &config, &mut steps).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Auth);
        assert!(!steps.as_slice()[0].passed);
    }

    #[test]
    fn discover_groups_reads_one_file_per_table_and_pages() {
        let config = config(serde_json::json!({ "sample_bytes": 1024 }));
        let parquet = file_with(&sample_footer());
        let csv = b"id,name\n1,a\n2,b\n".to_vec();
        let transport = Scripted::default();
        let objects = [
            ("lake/sales/year=2024/month=1/part-0.parquet", parquet.len() as u64),
            ("lake/sales/year=2024/month=2/part-0.parquet", parquet.len() as u64),
            ("lake/sales/year=2025/month=1/part-0.parquet", parquet.len() as u64),
            ("lake/people.csv", csv.len() as u64),
            ("lake/blobs/x.bin", 3),
        ];
        transport.answer(200, &[], &listing(&objects[..2], Some("next")));
        transport.answer(200, &[], &listing(&objects[2..], None));
        push(&transport, range(&csv, 0, csv.len()));
        // The footer tail (the whole file is smaller than the guess).
        push(&transport, range(&parquet, 0, parquet.len()));
        let client = connect(&config, transport.clone());
        let page = discover_page(&client, &config, &discover_request(None, &[], 100)).unwrap();
        assert_eq!(page.schemas.len(), 1);
        assert_eq!(page.schemas[0].name, "bkt");
        let tables = &page.schemas[0].tables;
        let names: Vec<_> = tables.iter().map(|t| (t.name.as_str(), t.kind, t.row_estimate, t.size_bytes)).collect();
        assert_eq!(
            names,
            [
                ("blobs", ObjectKind::ExternalTable, None, Some(3)),
                ("people", ObjectKind::File, Some(2), Some(csv.len() as u64)),
                ("sales", ObjectKind::ExternalTable, Some(30), Some(3 * parquet.len() as u64)),
            ]
        );
        assert!(tables[0].columns.is_empty());
        assert!(tables[0].comment.as_deref().unwrap().contains("no file of a known format"));
        let sales = &tables[2];
        let columns: Vec<_> =
            sales.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.native_type.as_str())).collect();
        assert_eq!(
            columns,
            [
                ("id", "int64", "INT64"),
                ("name", "string", "BYTE_ARRAY (STRING)"),
                ("ts", "timestamp-tz", "INT64 (TIMESTAMP(MICROS, UTC))"),
                ("amount", "decimal", "FIXED_LEN_BYTE_ARRAY(16) (DECIMAL(38,4))"),
                ("year", "int64", "partition (integer)"),
                ("month", "int64", "partition (integer)"),
            ]
        );
        let comment = sales.comment.as_deref().unwrap();
        assert!(comment.starts_with("3 objects (3 Parquet) partitioned by year, month; schema from the footer of lake/sales/year=2024/month=1/part-0.parquet (10 rows, 2 row groups; one file read); row estimate = its rows × 3 Parquet files"), "{comment}");
        assert_eq!(
            transport.calls()[2..],
            [
                "GET /bkt/lake/people.csv bytes=0-15".to_owned(),
                format!("GET /bkt/lake/sales/year%3D2024/month%3D1/part-0.parquet bytes=0-{}", parquet.len() - 1),
            ]
        );

        // A second page of one table lists again and reads only its table.
        let transport = Scripted::default();
        transport.answer(200, &[], &listing(&objects, None));
        push(&transport, range(&csv, 0, csv.len()));
        let client = connect(&config, transport.clone());
        let page = discover_page(&client, &config, &discover_request(Some("1"), &[], 1)).unwrap();
        assert_eq!(page.schemas[0].tables[0].name, "people");
        assert_eq!(page.next_page_token.as_deref(), Some("2"));
        assert_eq!(transport.calls().len(), 2);
    }

    #[test]
    fn a_long_footer_takes_a_second_range() {
        let footer = sample_footer();
        let mut parquet = b"PAR1".to_vec();
        parquet.extend(std::iter::repeat_n(0u8, 100_000));
        parquet.extend_from_slice(&footer);
        parquet.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        parquet.extend_from_slice(b"PAR1");
        let size = parquet.len() as u64;
        let transport = Scripted::default();
        push(&transport, range(&parquet, parquet.len() - TAIL_GUESS as usize, TAIL_GUESS as usize));
        let client = connect(&config(serde_json::json!({})), transport.clone());
        let read = read_footer(&client, "k.parquet", size).unwrap();
        assert_eq!(read.meta.num_rows, 10);
        assert_eq!(transport.calls(), [format!("GET /bkt/k.parquet bytes={}-{}", size - TAIL_GUESS, size - 1)]);

        // A footer longer than the tail read (an 80,000-byte field it does
        // not know, before the stop byte): exactly its bytes next.
        let mut long = footer.clone();
        long.pop();
        long.extend_from_slice(&[0x08, 0xC6, 0x01, 0x80, 0xF1, 0x04]);
        long.extend(std::iter::repeat_n(b'x', 80_000));
        long.push(0);
        let parquet = file_with(&long);
        let size = parquet.len() as u64;
        let transport = Scripted::default();
        push(&transport, range(&parquet, parquet.len() - TAIL_GUESS as usize, TAIL_GUESS as usize));
        push(&transport, range(&parquet, 104, long.len()));
        let client = connect(&config(serde_json::json!({})), transport.clone());
        let read = read_footer(&client, "k.parquet", size).unwrap();
        assert_eq!((read.meta.num_rows, read.footer_len), (10, long.len() as u64));
        assert_eq!(transport.calls()[1], format!("GET /bkt/k.parquet bytes=104-{}", 104 + long.len() - 1));
        assert_eq!(read_footer(&client, "tiny.parquet", 8).unwrap_err().kind, ErrorKind::Protocol);
    }

    #[test]
    fn listings_are_bounded_and_bad_tables_do_not_sink_the_catalog() {
        let config_small = config(serde_json::json!({ "max_objects": 2 }));
        let transport = Scripted::default();
        transport.answer(200, &[], &listing(&[("lake/a.csv", 1), ("lake/b.csv", 1), ("lake/c.csv", 1)], None));
        let error = list_all(&connect(&config_small, transport), &config_small).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
        assert!(
            error.message.contains("s3://bkt/lake/ holds more than 2 objects (`max_objects`)"),
            "{}",
            error.message
        );

        let config = config(serde_json::json!({}));
        let transport = Scripted::default();
        transport.answer(200, &[], &listing(&[("lake/a.csv", 1)], Some("t")));
        transport.answer(200, &[], &listing(&[("lake/b.csv", 1)], Some("t")));
        assert_eq!(list_all(&connect(&config, transport), &config).unwrap_err().kind, ErrorKind::Protocol);

        // A corrupt Parquet file is noted; an auth failure stops discovery.
        let transport = Scripted::default();
        transport.answer(200, &[], &listing(&[("lake/t/a.parquet", 16)], None));
        transport.answer(206, &[("content-range", "bytes 0-15/16")], b"not parquet at a");
        transport.answer(200, &[], &listing(&[("lake/t/a.parquet", 16)], None));
        transport.answer(403, &[], b"<Error><Code>InvalidAccessKeyId</Code></Error>");
        let client = connect(&config, transport);
        let page = discover_page(&client, &config, &discover_request(None, &[], 10)).unwrap();
        let table = &page.schemas[0].tables[0];
        assert!(table.columns.is_empty());
        assert!(
            table.comment.as_deref().unwrap().contains("could not be read: lake/t/a.parquet does not end with `PAR1`")
        );
        let error = discover_page(&client, &config, &discover_request(None, &[], 10)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Auth);
    }

    #[test]
    fn secrets_stay_out_of_steps_and_errors() {
        let mut request = inlet_sdk::testing::connect_request(
            "s3",
            &serde_json::json!({"bucket": "bkt", "region": "us-east-1", "access_key_id": "AKIAEXAMPLEKEY1234"}),
        );
        request.secrets =
            vec![("secret_access_key".into(), "TopSecretValue".into()), ("session_token".into(), "TokenValue".into())];
        let mut steps = Steps::new();
        let connection = S3::connect(&request, &mut steps);
        assert!(connection.is_ok());
        let message = steps.as_slice()[0].message.clone().unwrap_or_default();
        assert_eq!(message, "s3://bkt/, path-style, region us-east-1, key AKIA…1234, session token");
        request.secrets.clear();
        let error = S3::connect(&request, &mut Steps::new()).err().unwrap();
        assert_eq!(
            (error.kind, error.message.as_str()),
            (ErrorKind::Config, "the secret `secret_access_key` is not set")
        );
    }
}
