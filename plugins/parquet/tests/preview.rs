//! `preview` of Parquet files written by pyarrow (`tests/fixtures/parquet/make.py`,
//! the same files the end-to-end tests read, plus a few written here).

use std::path::Path;
use std::process::Command;

use inlet_plugin_parquet::Parquet;
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{self, drain};
use inlet_sdk::{Batch, ColumnValues, ResultColumn, TimeUnit, Values};
use inlet_tests::{require, workspace_root};
use serde_json::json;
use tempfile::TempDir;

type ParquetConnection = <Parquet as Connector>::Connection;
/// Each column's name and values.
type ColumnCells = Vec<(String, Vec<Option<String>>)>;

/// Runs `python3 args…`; exit status 3 means pyarrow is missing.
fn python(args: &[&str]) {
    require::tool("python3");
    let output = Command::new("python3").args(args).output().expect("run python3");
    require::that(output.status.code() != Some(3), "pyarrow for python3 (python3 -m pip install pyarrow)");
    assert!(output.status.success(), "python3 failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// make.py's files in a fresh directory.
fn fixtures() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let make = workspace_root().join("tests/fixtures/parquet/make.py");
    python(&[make.to_str().unwrap(), dir.path().to_str().unwrap()]);
    dir
}

/// Runs a pyarrow script with `OUT` bound to `path`.
fn write_with_pyarrow(path: &Path, script: &str) {
    let program = format!(
        "import sys\ntry:\n    import pyarrow as pa, pyarrow.parquet as pq\nexcept ImportError:\n    sys.exit(3)\n\
         OUT = sys.argv[1]\n{script}"
    );
    python(&["-c", &program, path.to_str().unwrap()]);
}

fn connect(path: &Path) -> ParquetConnection {
    let request = testing::connect_request("parquet", &json!({ "file_path": path }));
    Parquet::connect(&request, &mut Steps::new()).unwrap_or_else(|_| panic!("connect {}", path.display()))
}

fn request(object: &str, columns: &[&str], limit: u32) -> PreviewRequest {
    PreviewRequest {
        schema: "default".to_owned(),
        object: object.to_owned(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        limit,
    }
}

fn preview(
    connection: &mut ParquetConnection,
    request: &PreviewRequest,
) -> Result<(Vec<ResultColumn>, Vec<Batch>), ConnectorError> {
    let rows = connection.preview(request)?;
    let columns = rows.columns();
    Ok((columns, drain(rows, connection, 1000)?))
}

/// Every value of a column as text (`None`: NULL): numbers as Rust prints
/// them, bytes in hex.
fn cells(column: &ColumnValues) -> Vec<Option<String>> {
    fn all<T>(v: &[T], f: impl Fn(&T) -> String) -> Vec<String> {
        v.iter().map(f).collect()
    }
    let texts: Vec<String> = match &column.values {
        Values::Boolean(v) => all(v, |x| x.to_string()),
        Values::Int16(v) => all(v, |x| x.to_string()),
        Values::Int32(v) | Values::Date(v) => all(v, |x| x.to_string()),
        Values::Int64(v) | Values::Time(v) | Values::Timestamp(v) => all(v, |x| x.to_string()),
        Values::Uint8(v) => all(v, |x| x.to_string()),
        Values::Uint16(v) => all(v, |x| x.to_string()),
        Values::Uint32(v) => all(v, |x| x.to_string()),
        Values::Uint64(v) => all(v, |x| x.to_string()),
        Values::Float32(v) => all(v, |x| x.to_string()),
        Values::Float64(v) => all(v, |x| x.to_string()),
        Values::Binary(v) => v
            .offsets
            .windows(2)
            .map(|w| v.data[w[0] as usize..w[1] as usize].iter().map(|b| format!("{b:02x}")).collect())
            .collect(),
        _ => return testing::texts(column),
    };
    texts.into_iter().enumerate().map(|(i, t)| column.validity.get(i).copied().unwrap_or(true).then_some(t)).collect()
}

/// The values of each column over all batches, by column name.
fn by_column(columns: &[ResultColumn], batches: &[Batch]) -> ColumnCells {
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| (column.name.clone(), batches.iter().flat_map(|b| cells(&b.columns[i])).collect()))
        .collect()
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn ok(connection: &mut ParquetConnection, request: &PreviewRequest) -> (Vec<ResultColumn>, ColumnCells) {
    let (columns, batches) = preview(connection, request).expect("preview");
    let values = by_column(&columns, &batches);
    (columns, values)
}

fn column<'a>(values: &'a [(String, Vec<Option<String>>)], name: &str) -> &'a [Option<String>] {
    &values.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no column {name}")).1
}

#[inlet_tests::test]
fn every_type_reads_as_discover_types_it() {
    let dir = fixtures();
    let mut connection = connect(&dir.path().join("types.parquet"));
    // The preview's columns are discover's, type for type.
    let page = connection.discover(&testing::discover_request(None, &[], 100)).unwrap();
    let discovered: Vec<_> = page.schemas[0].tables[0]
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.data_type.clone(), c.nullable, c.precision, c.scale))
        .collect();
    let (columns, values) = ok(&mut connection, &request("types", &[], 100));
    let previewed: Vec<_> =
        columns.iter().map(|c| (c.name.clone(), c.data_type.clone(), c.nullable, c.precision, c.scale)).collect();
    assert_eq!(previewed, discovered);
    let unit_zone = |name: &str| {
        let c = columns.iter().find(|c| c.name == name).unwrap();
        (c.time_unit, c.time_zone.clone())
    };
    assert_eq!(unit_zone("t_ms"), (Some(TimeUnit::Millisecond), None));
    assert_eq!(unit_zone("t_ns"), (Some(TimeUnit::Nanosecond), None));
    assert_eq!(unit_zone("ts_ms"), (Some(TimeUnit::Millisecond), None));
    assert_eq!(unit_zone("ts_us_utc"), (Some(TimeUnit::Microsecond), Some("UTC".to_owned())));
    // The zone pyarrow noted in the Arrow schema; the values stay UTC.
    assert_eq!(unit_zone("ts_ns_ny"), (Some(TimeUnit::Nanosecond), Some("America/New_York".to_owned())));

    let expected: &[(&str, [Option<&str>; 3])] = &[
        ("b", [Some("true"), None, Some("false")]),
        ("i8", [Some("-1"), Some("2"), None]),
        ("i16", [Some("-300"), Some("2"), None]),
        ("i32", [Some("1"), None, Some("3")]),
        ("i64", [Some("10"), Some("20"), Some("30")]),
        ("u8", [Some("255"), Some("0"), None]),
        ("u16", [Some("65535"), Some("0"), None]),
        ("u32", [Some("1"), Some("2"), None]),
        ("u64", [Some("18446744073709551615"), Some("0"), None]),
        ("f16", [None, None, None]),
        ("f32", [Some("1.5"), None, Some("2.5")]),
        ("f64", [Some("1.25"), Some("2.5"), None]),
        ("s", [Some("a"), Some("bé"), Some("c")]),
        ("ls", [Some("x"), None, Some("z")]),
        ("bin", [Some("0001"), None, Some("ff")]),
        ("fixed", [Some("61626364"), Some("65666768"), None]),
        ("dec_small", [Some("1.23"), None, Some("-4.56")]),
        ("dec_mid", [Some("1.2345"), None, None]),
        ("dec_big", [Some("1.0000000001"), None, None]),
        // 2024-02-29 and 1970-01-01 as days since the epoch.
        ("d", [Some("19782"), None, Some("0")]),
        // 01:02:03(.000004) in the column's unit.
        ("t_ms", [Some("3723000"), None, None]),
        ("t_us", [Some("3723000004"), None, None]),
        ("t_ns", [Some("3723000004000"), None, None]),
        // 2024-01-02T03:04:05.
        ("ts_ms", [Some("1704164645000"), None, Some("1704164645000")]),
        ("ts_us_utc", [Some("1704164645000000"), None, None]),
        ("ts_ns_ny", [Some("1704164645000000000"), None, None]),
        ("dict", [Some("red"), Some("green"), Some("red")]),
        ("nothing", [None, None, None]),
    ];
    for (name, cells) in expected {
        let cells: Vec<Option<String>> = cells.iter().map(|c| c.map(str::to_owned)).collect();
        assert_eq!(column(&values, name), cells, "column {name}");
    }
}

#[inlet_tests::test]
fn structs_are_dotted_columns_and_lists_maps_are_json() {
    let dir = fixtures();
    let mut connection = connect(&dir.path().join("nested.parquet"));
    let (columns, values) = ok(&mut connection, &request("nested", &[], 10));
    let types: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(
        types,
        [
            ("id", "int64"),
            ("address.city", "string"),
            ("address.geo.lat", "float64"),
            ("address.geo.lon", "float64"),
            ("required_struct.a", "int32"),
            ("tags", "array"),
            ("points", "array"),
            ("matrix", "array"),
            ("attrs", "map"),
            ("fixed_list", "array"),
            ("event.at", "timestamp-tz")
        ]
    );
    assert_eq!(column(&values, "address.city"), [s("Paris"), None]);
    assert_eq!(column(&values, "address.geo.lat"), [s("48.8"), None]);
    assert_eq!(column(&values, "required_struct.a"), [s("1"), s("2")]);
    assert_eq!(column(&values, "tags"), [s(r#"["a","b"]"#), None]);
    // An empty list is not a null one.
    assert_eq!(column(&values, "points"), [s(r#"[{"x":1.0,"y":null}]"#), s("[]")]);
    assert_eq!(column(&values, "matrix"), [s("[[1,2],[3]]"), None]);
    assert_eq!(column(&values, "attrs"), [s(r#"{"k":1}"#), None]);
    assert_eq!(column(&values, "fixed_list"), [s("[1,2]"), None]);
    // 2024-05-01T00:00 UTC, shown in the zone pyarrow noted.
    assert_eq!(column(&values, "event.at"), [s("1714521600000"), None]);
    let event = columns.iter().find(|c| c.name == "event.at").unwrap();
    assert_eq!(event.time_zone.as_deref(), Some("Europe/Paris"));
}

#[inlet_tests::test]
fn nan_infinities_empty_strings_and_nulls_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floats.parquet");
    write_with_pyarrow(
        &path,
        "pq.write_table(pa.table({'f': pa.array([float('nan'), float('-inf'), None, -0.0], pa.float64()), \
         'g': pa.array([float('nan'), 1.5, None, float('inf')], pa.float32()), \
         's': pa.array(['', None, ' ', 'x'])}), OUT)",
    );
    let mut connection = connect(&path);
    let (_, values) = ok(&mut connection, &request("floats", &[], 10));
    assert_eq!(column(&values, "f"), [s("NaN"), s("-inf"), None, s("-0")]);
    assert_eq!(column(&values, "g"), [s("NaN"), s("1.5"), None, s("inf")]);
    assert_eq!(column(&values, "s"), [s(""), None, s(" "), s("x")]);
}

#[inlet_tests::test]
fn columns_are_chosen_in_order_and_unknown_names_are_not_found() {
    let dir = fixtures();
    let mut connection = connect(&dir.path().join("types.parquet"));
    let (columns, values) = ok(&mut connection, &request("types", &["s", "i64", "dec_small"], 2));
    let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["s", "i64", "dec_small"]);
    assert_eq!(values[0].1, [s("a"), s("bé")]);
    assert_eq!(values[1].1, [s("10"), s("20")]);
    assert_eq!(values[2].1, [s("1.23"), None]);

    let not_found = |request: PreviewRequest, connection: &mut ParquetConnection| {
        let error = preview(connection, &request).expect_err("an error");
        assert_eq!(error.kind, ErrorKind::NotFound, "{}", error.message);
        error.message
    };
    assert!(not_found(request("types", &["s", "nope"], 2), &mut connection).contains("no column `nope`"));
    assert!(not_found(request("other", &[], 2), &mut connection).contains("no table `other`"));
    let mut wrong_schema = request("types", &[], 2);
    wrong_schema.schema = "public".to_owned();
    not_found(wrong_schema, &mut connection);
}

#[inlet_tests::test]
fn the_limit_spans_row_groups_and_zero_gives_columns_only() {
    let dir = fixtures();
    // 1000 rows in row groups of 100.
    let mut connection = connect(&dir.path().join("row_groups.parquet"));
    let (columns, batches) = preview(&mut connection, &request("row_groups", &["id", "name"], 250)).unwrap();
    let values = by_column(&columns, &batches);
    let ids: Vec<Option<String>> = (0..250).map(|i| Some(i.to_string())).collect();
    assert_eq!(values[0].1, ids);
    assert_eq!(values[1].1[249], s("name-249"));

    let (columns, batches) = preview(&mut connection, &request("row_groups", &[], 0)).unwrap();
    assert_eq!(columns.len(), 3);
    assert_eq!(batches.iter().map(|b| b.row_count).sum::<u32>(), 0);
}

#[inlet_tests::test]
fn codecs_read_and_zstd_is_refused_by_name() {
    let dir = fixtures();
    for codec in ["snappy", "gzip", "none"] {
        let name = format!("codec_{codec}");
        let mut connection = connect(&dir.path().join(format!("{name}.parquet")));
        let (_, values) = ok(&mut connection, &request(&name, &["name", "value"], 3));
        assert_eq!(values[0].1, [s("name-0"), s("name-1"), s("name-2")], "{codec}");
        assert_eq!(values[1].1, [s("0"), s("0.5"), s("1")], "{codec}");
    }
    let mut connection = connect(&dir.path().join("codec_zstd.parquet"));
    let error = preview(&mut connection, &request("codec_zstd", &[], 3)).err().unwrap();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.message.contains("compressed with ZSTD"), "{}", error.message);
    // codec_mixed: only `name` is ZSTD; the others read.
    let mut connection = connect(&dir.path().join("codec_mixed.parquet"));
    let (_, values) = ok(&mut connection, &request("codec_mixed", &["value", "id"], 2));
    assert_eq!(values[1].1, [s("0"), s("1")]);
    let error = preview(&mut connection, &request("codec_mixed", &["name"], 2)).err().unwrap();
    assert!(error.message.contains("column `name` is compressed with ZSTD"), "{}", error.message);
}

#[inlet_tests::test]
fn a_partitioned_folder_reads_file_after_file_with_partition_values() {
    let dir = fixtures();
    let config = json!({ "file_path": dir.path().join("sales"), "table_name": "sales" });
    let request_ = testing::connect_request("parquet", &config);
    let mut connection = Parquet::connect(&request_, &mut Steps::new()).ok().unwrap();
    let (columns, values) = ok(&mut connection, &request("sales", &["month", "order_id", "year", "amount"], 6));
    let types: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(types, [("month", "int64"), ("order_id", "int64"), ("year", "int64"), ("amount", "decimal")]);
    // year=2023/month=01 … month=12 in path order, then year=2024/month=01 (two rows).
    assert_eq!(values[0].1, [s("1"), s("2"), s("3"), s("12"), s("1"), s("1")]);
    assert_eq!(values[1].1, [s("0"), s("1"), s("2"), s("3"), s("4"), s("8")]);
    assert_eq!(values[2].1, [s("2023"), s("2023"), s("2023"), s("2023"), s("2024"), s("2024")]);
    assert_eq!(values[3].1, [s("0.00"), s("0.25"), s("0.50"), s("0.75"), s("1.00"), s("2.00")]);
}

/// Counts the bytes read through it.
struct Counting {
    inner: inlet_parquet_meta::source::LocalFile,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl inlet_parquet_meta::source::Source for Counting {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, ConnectorError> {
        self.read.fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_at(offset, len)
    }
}

#[inlet_tests::test]
fn a_big_file_is_read_only_as_far_as_the_limit() {
    use inlet_parquet_meta::source::{Chunks, LocalFile};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.parquet");
    // 64 row groups of 1000 rows, 64 KiB of text per row group's `payload` page… about 40 MiB.
    write_with_pyarrow(
        &path,
        "w = pq.ParquetWriter(OUT, pa.schema([('id', pa.int64()), ('payload', pa.string())]), compression='none')\n\
         for g in range(64):\n    \
             w.write_table(pa.table({'id': pa.array(range(g*1000, (g+1)*1000), pa.int64()), \
             'payload': pa.array([('%06d' % i) * 100 for i in range(g*1000, (g+1)*1000)])}), row_group_size=1000)\n\
         w.close()",
    );
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 30 << 20, "{size}");
    let footer = inlet_parquet_meta::footer::decode(
        &{
            let bytes = std::fs::read(&path).unwrap();
            let len = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap()) as usize;
            bytes[bytes.len() - 8 - len..bytes.len() - 8].to_vec()
        },
        size,
        "big.parquet",
    )
    .unwrap();
    let columns = inlet_parquet_meta::preview::file_columns(&footer.meta).unwrap();
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let source = Counting { inner: LocalFile::open(&path, "big.parquet").unwrap(), read: read.clone() };
    let mut rows = Vec::new();
    let wanted: Vec<_> = columns.iter().collect();
    inlet_parquet_meta::preview::read_rows(Chunks::new(source), "big.parquet", &footer.meta, &wanted, 5, &mut rows)
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4][0], inlet_sdk::rows::Value::Int64(4));
    let read = read.load(std::sync::atomic::Ordering::Relaxed);
    // The footer and the first pages only: far less than one row group (~600 KiB).
    assert!(read < 2 << 20, "read {read} of {size} bytes");

    // Through the connector, too.
    let mut connection = connect(&path);
    let (_, values) = ok(&mut connection, &request("big", &["id"], 3));
    assert_eq!(values[0].1, [s("0"), s("1"), s("2")]);
}

#[inlet_tests::test]
fn broken_files_are_errors_not_crashes() {
    let dir = fixtures();
    for (file, kind) in [("truncated", ErrorKind::Protocol), ("corrupt_footer", ErrorKind::Protocol)] {
        let mut connection = connect(&dir.path().join(format!("{file}.parquet")));
        let error = preview(&mut connection, &request(file, &[], 5)).expect_err(file);
        assert_eq!(error.kind, kind, "{file}: {}", error.message);
    }
    // Data pages cut short after a valid footer: the footer is copied onto a
    // file whose middle is zeroed.
    let good = std::fs::read(dir.path().join("row_groups.parquet")).unwrap();
    let mut broken = good.clone();
    let footer_len = u32::from_le_bytes(good[good.len() - 8..good.len() - 4].try_into().unwrap()) as usize;
    for byte in &mut broken[4..good.len() - 8 - footer_len] {
        *byte = 0xFF;
    }
    let path = dir.path().join("zeroed.parquet");
    std::fs::write(&path, broken).unwrap();
    let mut connection = connect(&path);
    let error = preview(&mut connection, &request("zeroed", &[], 5)).expect_err("zeroed pages");
    assert_eq!(error.kind, ErrorKind::Protocol, "{}", error.message);
}

fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
