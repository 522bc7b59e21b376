//! `inlet-plugin-template`: the smallest complete Inlet connector, meant to
//! be copied. It reads one INI file and describes it as a catalog: each
//! `[section]` is a table, each `key = value` in it a column whose type is
//! guessed from the value.
//!
//! A connector is two traits and a macro:
//! - [`Connector::connect`] turns a request (config, secrets, the endpoint or
//!   file the host granted) into a connection, timing each stage in `steps`;
//! - [`Connection::test`] checks the connection the way a user would;
//! - [`Connection::discover`] returns one page of the catalog;
//! - [`Connection::preview`] returns the first rows of one table it named,
//!   as [`Rows`] the host pulls a batch at a time (optional: without it the
//!   SDK answers `unsupported`);
//! - `export_connector!` makes them the component's exports.
//!
//! Copy this crate, rename the package and the manifest's `id`, replace
//! `read` and `parse` with your protocol, and run `inlet plugin check`.

// Natively (unit tests) the exports are compiled out, so the types look unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::io::Read;

use inlet_sdk::config;
use inlet_sdk::paging::page_catalog;
use inlet_sdk::prelude::*;
use serde::Deserialize;

/// A file has one schema; databases would list theirs.
const SCHEMA: &str = "default";

/// The largest `max_file_kib` (the JSON Schema's maximum).
const MAX_FILE_KIB: u64 = 16 * 1024;

/// The config, as the type's JSON Schema in plugin.toml describes it. The
/// host has validated it already; serde fills the defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Rewritten by the host to the path inside the guest (`/data/<name>`).
    file_path: String,
    #[serde(default = "default_global_section")]
    global_section: String,
    #[serde(default = "default_max_file_kib")]
    max_file_kib: u64,
}

fn default_global_section() -> String {
    "global".to_owned()
}

fn default_max_file_kib() -> u64 {
    1024
}

/// A connector must not trust its caller: the bounds the schema states are
/// checked again, each failure a `config` error naming the field. (A config
/// without checks can skip this and call `request.config::<Config>()`.)
impl ConnectorConfig for Config {
    /// What serde reads; a config that reshapes its input would name a raw type here.
    type Raw = Self;

    fn check(raw: Self) -> Result<Self, ConnectorError> {
        config::non_empty("file_path", &raw.file_path)?;
        config::non_empty("global_section", &raw.global_section)?;
        config::in_range("max_file_kib", raw.max_file_kib, 1..=MAX_FILE_KIB)?;
        Ok(raw)
    }
}

pub struct Template;

/// The connection keeps only the config: the file is read again on every
/// call, so that a pooled connection sees the file as it is now.
pub struct TemplateConnection {
    config: Config,
}

impl Connector for Template {
    type Connection = TemplateConnection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<TemplateConnection, ConnectorError> {
        // A `config` error if the JSON does not fit `Config` or its checks.
        // A network connector would also take `request.endpoint_addr()`,
        // secrets with `request.secret("password")`, and bound its socket
        // waits by `request.connect_deadline().socket_timeout()`.
        let config = Config::from_request(request)?;
        // Each stage is timed and named: a failed connect tells the user
        // which stage failed. A file has nothing to log in to, so
        // "connecting" is making sure it can be read.
        let text = steps.run("read file", || read(&config))?;
        steps.annotate_last(format!("{} bytes", text.len()));
        Ok(TemplateConnection { config })
    }
}

impl Connection for TemplateConnection {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let text = steps.run("read file", || read(&self.config))?;
        let sections = steps.run("parse", || parse(&text, &self.config.global_section))?;
        steps.annotate_last(plural(sections.len() as u64, "section"));
        // The server version, when there is a server.
        Ok(None)
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        let text = read(&self.config)?;
        let tables: Vec<Table> = parse(&text, &self.config.global_section)?.into_iter().map(describe).collect();
        // A small catalog is paged in memory (the page token is an offset)
        // and filtered by the request's include/exclude lists. A big one
        // should page at the source instead, keyset on (schema, table).
        page_catalog(request, vec![(SCHEMA.to_owned(), tables)])
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        // Objects are named as `discover` named them; anything else is `not_found`.
        if request.schema != SCHEMA {
            return Err(ConnectorError::not_found(format!("no schema `{}` (the file has `{SCHEMA}`)", request.schema)));
        }
        let text = read(&self.config)?;
        let section = parse(&text, &self.config.global_section)?
            .into_iter()
            .find(|s| s.name == request.object)
            .ok_or_else(|| ConnectorError::not_found(format!("no section `{}` in the file", request.object)))?;
        // The columns asked for, in the order asked (all of them when none).
        let entries: Vec<&(String, String)> = if request.columns.is_empty() {
            section.entries.iter().collect()
        } else {
            let find = |name: &String| {
                section.entries.iter().find(|(key, _)| key == name).ok_or_else(|| {
                    ConnectorError::not_found(format!("no column `{name}` in section `{}`", section.name))
                })
            };
            request.columns.iter().map(find).collect::<Result<_, _>>()?
        };
        // The same types `discover` reported, so each value is sent in the
        // case its column's data type fixes.
        let columns =
            entries.iter().map(|(key, value)| result_column(key.clone(), infer(value), "ini value")).collect();
        let row: Vec<Value> = entries.iter().map(|(_, value)| typed(value)).collect();
        // A section is one row; `limit` 0 asks for the columns only.
        let rows = if request.limit == 0 { vec![] } else { vec![row] };
        // Rows already in memory: BufferedRows hands them out in batches.
        // A server-backed connector implements `Rows` itself and reads the
        // next batch from its connection in `next`.
        Ok(Box::new(BufferedRows::new(columns, rows)))
    }
}

/// One `[section]` and its keys, in file order.
#[derive(Debug, PartialEq)]
struct Section {
    name: String,
    /// The header's line (0: the keys before the first header).
    line: usize,
    entries: Vec<(String, String)>,
}

/// Reads the whole file, refusing one bigger than `max_file_kib`: memory is
/// capped, and a connector must fail with a clear error before the cap does.
fn read(config: &Config) -> Result<String, ConnectorError> {
    // A missing file is `not_found`, a folder `config`, … (`inlet_sdk::file`).
    let (file, _) = inlet_sdk::file::open(&config.file_path)?;
    let limit = config.max_file_kib.saturating_mul(1024);
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).file_context(&config.file_path)?;
    if bytes.len() as u64 > limit {
        return Err(ConnectorError::config(format!(
            "the file is larger than max_file_kib ({} KiB)",
            config.max_file_kib
        )));
    }
    // Errors are shown to users: name the place, never dump the content.
    String::from_utf8(bytes).map_err(|error| {
        ConnectorError::protocol(format!("the file is not UTF-8 text (at byte {})", error.utf8_error().valid_up_to()))
    })
}

/// Parses INI text: `[section]` headers, `key = value` lines, `;` and `#`
/// comments. A repeated key keeps its last value; a repeated section is an
/// error, and so is any other line, with its number.
fn parse(text: &str, global: &str) -> Result<Vec<Section>, ConnectorError> {
    let mut sections = vec![Section { name: global.to_owned(), line: 0, entries: Vec::new() }];
    for (index, raw) in text.lines().enumerate() {
        let (number, line) = (index + 1, raw.trim());
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').map(str::trim).filter(|name| !name.is_empty());
            let name = name.ok_or_else(|| ConnectorError::protocol(format!("line {number}: expected `[name]`")))?;
            if sections.iter().any(|s| s.name == name) {
                return Err(ConnectorError::protocol(format!("line {number}: section `{name}` appears twice")));
            }
            sections.push(Section { name: name.to_owned(), line: number, entries: Vec::new() });
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .map(|(key, value)| (key.trim(), value.trim()))
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| ConnectorError::protocol(format!("line {number}: expected `key = value`")))?;
        let section = sections.last_mut().expect("the global section is always there");
        match section.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => section.entries.push((key.to_owned(), value.to_owned())),
        }
    }
    // No keys before the first header: no global table.
    sections.retain(|s| s.line > 0 || !s.entries.is_empty());
    Ok(sections)
}

/// A section as a table: one row, a column per key (ordinals from 1).
fn describe(section: Section) -> Table {
    let columns = section.entries.iter().enumerate().map(|(index, (key, value))| {
        ColumnBuilder::new(key.clone(), index as u32 + 1, infer(value), "ini value").nullable(false).build()
    });
    let origin = match section.line {
        0 => "keys before the first section".to_owned(),
        line => format!("[{}] at line {line}", section.name),
    };
    TableBuilder::new(section.name, ObjectKind::Table)
        .columns(columns)
        .comment(Some(origin))
        .row_estimate(Some(1))
        .build()
}

/// The portable type a value looks like (INI itself has only text).
fn infer(value: &str) -> &'static str {
    if value.parse::<i64>().is_ok() {
        data_type::INT64
    } else if value.parse::<f64>().is_ok_and(f64::is_finite) {
        data_type::FLOAT64
    } else if ["true", "false", "yes", "no", "on", "off"].iter().any(|b| value.eq_ignore_ascii_case(b)) {
        data_type::BOOLEAN
    } else {
        data_type::STRING
    }
}

/// A value in the case [`infer`] picked for it.
fn typed(value: &str) -> Value {
    match infer(value) {
        data_type::INT64 => value.parse().map_or_else(|_| Value::Text(value.to_owned()), Value::Int64),
        data_type::FLOAT64 => value.parse().map_or_else(|_| Value::Text(value.to_owned()), Value::Float64),
        data_type::BOOLEAN => Value::Bool(["true", "yes", "on"].iter().any(|b| value.eq_ignore_ascii_case(b))),
        _ => Value::Text(value.to_owned()),
    }
}

inlet_sdk::export_connector!(Template);

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str =
        "name = x\n; comment\n[server]\nhost = db\nport = 5432\nport = 5433\n\n[limits]\nratio = 2.5\n";

    #[test]
    fn sections_become_tables_with_typed_columns() {
        let sections = parse(EXAMPLE, "global").unwrap();
        let names: Vec<_> = sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["global", "server", "limits"]);
        assert_eq!(sections[1].entries, [("host".into(), "db".into()), ("port".into(), "5433".into())]);
        let table = describe(sections.into_iter().nth(1).unwrap());
        let columns: Vec<_> =
            table.columns.iter().map(|c| (c.name.as_str(), c.ordinal, c.data_type.as_str())).collect();
        assert_eq!(columns, [("host", 1, "string"), ("port", 2, "int64")]);
        assert_eq!(table.comment.as_deref(), Some("[server] at line 3"));
    }

    #[test]
    fn bad_lines_are_protocol_errors_with_their_number() {
        for (text, expected) in
            [("[a]\nnot a pair", "line 2"), ("[]", "line 1"), ("[a]\n[a]", "twice"), ("= v", "line 1")]
        {
            let error = parse(text, "global").unwrap_err();
            assert_eq!(error.kind, ErrorKind::Protocol);
            assert!(error.message.contains(expected), "{text:?}: {}", error.message);
        }
    }

    #[test]
    fn values_are_typed_by_their_look() {
        assert_eq!(infer("-3"), data_type::INT64);
        assert_eq!(infer("2.5"), data_type::FLOAT64);
        assert_eq!(infer("inf"), data_type::STRING);
        assert_eq!(infer("Yes"), data_type::BOOLEAN);
        assert_eq!(infer("db.internal"), data_type::STRING);
    }

    #[test]
    fn connect_test_and_discover_a_file_with_paging() {
        let path = std::env::temp_dir().join(format!("inlet-template-{}.ini", std::process::id()));
        std::fs::write(&path, EXAMPLE).unwrap();
        let config = serde_json::json!({ "file_path": path.to_str().unwrap() });
        let request = inlet_sdk::testing::connect_request("template", &config);
        let mut connection = Template::connect(&request, &mut Steps::new()).unwrap();
        let mut steps = Steps::new();
        assert_eq!(connection.test(&mut steps).unwrap(), None);
        assert_eq!(steps.as_slice()[1].message.as_deref(), Some("3 sections"));
        let first = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 2)).unwrap();
        assert_eq!(first.schemas[0].tables.len(), 2);
        let token = first.next_page_token.as_deref();
        let second = connection.discover(&inlet_sdk::testing::discover_request(token, &[], 2)).unwrap();
        assert_eq!(second.schemas[0].tables[0].name, "limits");
        assert_eq!(second.next_page_token, None);
        let small = serde_json::json!({ "file_path": path.to_str().unwrap(), "max_file_kib": 1 });
        std::fs::write(&path, "k = v\n".repeat(400)).unwrap();
        let error = Template::connect(&inlet_sdk::testing::connect_request("template", &small), &mut Steps::new());
        assert_eq!(error.err().map(|e| e.kind), Some(ErrorKind::Config));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn preview_returns_a_section_as_one_typed_row() {
        let path = std::env::temp_dir().join(format!("inlet-template-preview-{}.ini", std::process::id()));
        std::fs::write(&path, EXAMPLE).unwrap();
        let config = serde_json::json!({ "file_path": path.to_str().unwrap() });
        let request = inlet_sdk::testing::connect_request("template", &config);
        let mut connection = Template::connect(&request, &mut Steps::new()).unwrap();
        let preview = |columns: &[&str], object: &str| PreviewRequest {
            schema: SCHEMA.to_owned(),
            object: object.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            limit: 10,
        };
        let rows = connection.preview(&preview(&["port", "host"], "server")).unwrap();
        let names: Vec<_> = rows.columns().into_iter().map(|c| (c.name, c.data_type)).collect();
        assert_eq!(names, [("port".into(), "int64".into()), ("host".into(), "string".into())]);
        let batches = inlet_sdk::testing::drain(rows, &mut connection, 100).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].row_count, 1);
        assert!(matches!(&batches[0].columns[0].values, inlet_sdk::Values::Int64(v) if v == &[5433]));
        assert_eq!(inlet_sdk::testing::texts(&batches[0].columns[1]), [Some("db".to_owned())]);
        for (columns, object) in [(&[][..], "nope"), (&["nope"][..], "server")] {
            let error = connection.preview(&preview(columns, object)).err().unwrap();
            assert_eq!(error.kind, ErrorKind::NotFound, "{}", error.message);
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn configs_are_checked_again() {
        for bad in [
            serde_json::json!({ "file_path": " " }),
            serde_json::json!({ "file_path": "/data/a.ini", "max_file_kib": 0 }),
            serde_json::json!({ "file_path": "/data/a.ini", "password": "x" }),
        ] {
            let error = Config::from_json(&bad.to_string()).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Config, "{bad}");
        }
    }
}
