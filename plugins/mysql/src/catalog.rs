//! Discovery from information_schema, one page at a time, in a fixed number
//! of set-based queries per page (tables; then the page's columns, table
//! constraints, key columns and check clauses), never one query per table.
//!
//! Pages are keyed on (schema, table) compared as bytes, so that names that
//! differ only in case (allowed where lower_case_table_names=0) are never
//! skipped: the token is the last pair returned.
//!
//! Every literal is a hex literal (X'…'): no quoting rules to get wrong,
//! whatever the session's sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES), and
//! a hex literal is a binary string, so comparisons with it are exact.

use std::collections::{HashMap, HashSet};

use inlet_sdk::paging::page_size;
use inlet_sdk::prelude::*;
use inlet_sdk::row::{number, optional, text};

use crate::client::Client;
use crate::config::Config;
use crate::resultset::Row;
use crate::types::{self, DefaultStyle};

/// The server's own databases: hidden unless asked for.
pub const SYSTEM_SCHEMAS: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];

/// What this server's information_schema has, probed once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// CHECK_CONSTRAINTS exists (MariaDB 10.2+, MySQL 8.0.16+)…
    pub check_constraints: bool,
    /// …and names the table (MariaDB; MySQL's does not, its check names are
    /// unique per schema and TABLE_CONSTRAINTS maps them to tables).
    pub check_table_name: bool,
    /// COLUMNS.GENERATION_EXPRESSION exists (MariaDB 10.2+, MySQL 5.7+).
    pub generation_expression: bool,
    pub default_style: DefaultStyle,
}

/// Asks information_schema about itself, in one query.
pub fn probe_features(client: &mut Client) -> Result<Features, ConnectorError> {
    let rows = client.query(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME IN ('CHECK_CONSTRAINTS', 'COLUMNS') \
           AND COLUMN_NAME IN ('TABLE_NAME', 'CHECK_CLAUSE', 'GENERATION_EXPRESSION')",
    )?;
    let has = |table: &str, column: &str| {
        rows.iter().any(|row| {
            optional(row, 0).is_some_and(|t| t.eq_ignore_ascii_case(table))
                && optional(row, 1).is_some_and(|c| c.eq_ignore_ascii_case(column))
        })
    };
    let handshake = &client.handshake;
    // MariaDB 10.2.7 began to show defaults as SQL expressions.
    let default_style = if handshake.is_mariadb() && types::parse_version(handshake.version()) >= (10, 2, 7) {
        DefaultStyle::Expression
    } else {
        DefaultStyle::Raw
    };
    Ok(Features {
        check_constraints: has("CHECK_CONSTRAINTS", "CHECK_CLAUSE"),
        check_table_name: has("CHECK_CONSTRAINTS", "TABLE_NAME"),
        generation_expression: has("COLUMNS", "GENERATION_EXPRESSION"),
        default_style,
    })
}

/// `X'…'`: the bytes of `value` as a hex literal.
pub fn hex_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2 + 3);
    out.push_str("X'");
    for byte in value.bytes() {
        out.push_str(&format!("{byte:02X}"));
    }
    out.push('\'');
    out
}

fn hex_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    values.into_iter().map(hex_literal).collect::<Vec<_>>().join(", ")
}

/// The databases to list, as a condition on `column`; `None` when the
/// filters leave nothing. An explicit list (the config's `schemas`, the
/// request's include list, or both intersected) replaces the default
/// exclusion of system schemas; the request's exclude list always applies.
pub fn schema_condition(config: &Config, request: &DiscoverRequest, column: &str) -> Option<String> {
    let explicit: Option<Vec<&str>> = match (&config.options.schemas, request.include_schemas.is_empty()) {
        (Some(configured), true) => Some(configured.iter().map(String::as_str).collect()),
        (Some(configured), false) => {
            Some(configured.iter().filter(|s| request.include_schemas.contains(s)).map(String::as_str).collect())
        }
        (None, false) => Some(request.include_schemas.iter().map(String::as_str).collect()),
        (None, true) => None,
    };
    let mut clause = match explicit {
        Some(list) if list.is_empty() => return None,
        Some(list) => format!("{column} IN ({})", hex_list(list)),
        None if config.options.include_system_schemas => "1 = 1".to_owned(),
        None => format!("{column} NOT IN ({})", hex_list(SYSTEM_SCHEMAS.iter().copied())),
    };
    if !request.exclude_schemas.is_empty() {
        clause.push_str(&format!(
            " AND {column} NOT IN ({})",
            hex_list(request.exclude_schemas.iter().map(String::as_str))
        ));
    }
    Some(clause)
}

/// The page token: the last (schema, table) of the previous page.
fn encode_token(schema: &str, table: &str) -> String {
    serde_json::json!([schema, table]).to_string()
}

fn decode_token(token: &str) -> Result<(String, String), ConnectorError> {
    serde_json::from_str(token).map_err(|_| ConnectorError::config("invalid page token"))
}

/// What the "catalog permission" step promises: information_schema answers,
/// and the user sees at least one database of its own. Returns a note for
/// the step, mentioning a missing SELECT privilege (discovery still lists
/// what the user has any privilege on, but data cannot be read).
pub fn check_permissions(client: &mut Client) -> Result<String, ConnectorError> {
    let system = hex_list(SYSTEM_SCHEMAS.iter().copied());
    let rows = client.query(&format!(
        "SELECT CURRENT_USER(), \
                (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ({system})), \
                (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ({system}))"
    ))?;
    let row = rows.first().ok_or_else(|| ConnectorError::protocol("the privilege query returned no row"))?;
    let user = text(row, 0)?.to_owned();
    let schemas: u64 = number(row, 1)?;
    let tables: u64 = number(row, 2)?;
    if schemas == 0 {
        return Err(ConnectorError::permission(format!(
            "{user} has privileges on no database besides the system ones, so there is nothing to discover"
        )));
    }
    let grants = client.query("SHOW GRANTS")?;
    let may_select = grants.iter().filter_map(|row| optional(row, 0)).any(grant_allows_select);
    let mut note = format!("{user}: {schemas} database(s), {tables} table(s) visible");
    if !may_select {
        note.push_str("; no SELECT privilege in SHOW GRANTS (structure only: data cannot be read)");
    }
    Ok(note)
}

/// Whether one line of SHOW GRANTS grants SELECT (or everything).
pub fn grant_allows_select(grant: &str) -> bool {
    let upper = grant.to_ascii_uppercase();
    let Some(privileges) = upper.strip_prefix("GRANT ").and_then(|rest| rest.split(" ON ").next()) else {
        return false;
    };
    privileges.split(',').map(str::trim).any(|p| p == "SELECT" || p.starts_with("SELECT (") || p.starts_with("ALL"))
}

/// One table of the page, before its columns and constraints are attached.
struct PageTable {
    schema: String,
    name: String,
    table: TableBuilder,
}

/// Reads one page of the catalog.
pub fn discover(
    client: &mut Client,
    features: Features,
    config: &Config,
    request: &DiscoverRequest,
) -> Result<DiscoverPage, ConnectorError> {
    let empty = DiscoverPage { schemas: Vec::new(), next_page_token: None };
    let Some(schemas) = schema_condition(config, request, "TABLE_SCHEMA") else { return Ok(empty) };
    let limit = page_size(request);
    let mut sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH \
         FROM information_schema.TABLES \
         WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW', 'SYSTEM VIEW') AND {schemas}"
    );
    if let Some(token) = &request.page_token {
        let (schema, table) = decode_token(token)?;
        let (schema, table) = (hex_literal(&schema), hex_literal(&table));
        sql.push_str(&format!(
            " AND (CAST(TABLE_SCHEMA AS BINARY) > {schema} \
               OR (CAST(TABLE_SCHEMA AS BINARY) = {schema} AND CAST(TABLE_NAME AS BINARY) > {table}))"
        ));
    }
    sql.push_str(&format!(" ORDER BY CAST(TABLE_SCHEMA AS BINARY), CAST(TABLE_NAME AS BINARY) LIMIT {}", limit + 1));
    let mut rows = client.query(&sql)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut tables = Vec::with_capacity(rows.len());
    for row in &rows {
        tables.push(page_table(row)?);
    }
    if tables.is_empty() {
        return Ok(empty);
    }

    // The page's tables as two IN lists; the cross product may name a few
    // tables off the page, which the (schema, table) lookups below ignore.
    let page: HashSet<(String, String)> = tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect();
    let schema_names: HashSet<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let table_names: HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let schema_list = hex_list(schema_names.iter().copied());
    let table_list = hex_list(table_names.iter().copied());
    let on_page = |schema_column: &str| format!("{schema_column} IN ({schema_list}) AND TABLE_NAME IN ({table_list})");

    let checks = if !features.check_constraints {
        HashMap::new()
    } else if features.check_table_name {
        check_constraints(client, &on_page("CONSTRAINT_SCHEMA"), true)?
    } else {
        check_constraints(client, &format!("c.CONSTRAINT_SCHEMA IN ({schema_list})"), false)?
    };
    let mut columns = columns(client, features, &on_page("TABLE_SCHEMA"), &page, &checks)?;
    let mut constraints = constraints(client, &on_page("TABLE_SCHEMA"), &page, &checks, &columns)?;

    let next_page_token = match (more, tables.last()) {
        (true, Some(last)) => Some(encode_token(&last.schema, &last.name)),
        _ => None,
    };
    let mut result: Vec<Schema> = Vec::new();
    for page_table in tables {
        let key = (page_table.schema, page_table.name);
        let table = page_table.table.columns(columns.remove(&key).unwrap_or_default()).build();
        let table = Table { constraints: constraints.remove(&key).unwrap_or_default(), ..table };
        match result.last_mut() {
            Some(schema) if schema.name == key.0 => schema.tables.push(table),
            _ => result.push(Schema { name: key.0, tables: vec![table] }),
        }
    }
    Ok(DiscoverPage { schemas: result, next_page_token })
}

fn page_table(row: &Row) -> Result<PageTable, ConnectorError> {
    let schema = text(row, 0)?.to_owned();
    let name = text(row, 1)?.to_owned();
    let kind = match text(row, 2)? {
        "BASE TABLE" | "SYSTEM VERSIONED" => ObjectKind::Table,
        "VIEW" | "SYSTEM VIEW" => ObjectKind::View,
        other => return Err(ConnectorError::protocol(format!("unexpected TABLE_TYPE `{other}`"))),
    };
    let is_table = kind == ObjectKind::Table;
    // Views have no comment of their own (the column says "VIEW").
    let comment = optional(row, 3).filter(|c| is_table && !c.is_empty()).map(str::to_owned);
    let row_estimate = if is_table { optional(row, 4).and_then(|v| v.parse::<u64>().ok()) } else { None };
    let data = optional(row, 5).and_then(|v| v.parse::<u64>().ok());
    let index = optional(row, 6).and_then(|v| v.parse::<u64>().ok());
    let size_bytes = match (is_table, data, index) {
        (false, _, _) | (true, None, None) => None,
        (true, data, index) => Some(data.unwrap_or(0).saturating_add(index.unwrap_or(0))),
    };
    let table =
        TableBuilder::new(name.clone(), kind).comment(comment).row_estimate(row_estimate).size_bytes(size_bytes);
    Ok(PageTable { schema, name, table })
}

type TableKey = (String, String);

/// A CHECK constraint, attached to its table.
struct Check {
    name: String,
    clause: String,
    /// MariaDB's column-level checks are named after their column.
    column_level: bool,
}

/// The check constraints of the page's tables. `with_table_name`: the
/// server's CHECK_CONSTRAINTS has TABLE_NAME (MariaDB); `condition` is then
/// on its own columns, else on `c` (CHECK_CONSTRAINTS joined to TABLE_CONSTRAINTS).
fn check_constraints(
    client: &mut Client,
    condition: &str,
    with_table_name: bool,
) -> Result<HashMap<TableKey, Vec<Check>>, ConnectorError> {
    let mut checks: HashMap<TableKey, Vec<Check>> = HashMap::new();
    if with_table_name {
        // MariaDB: names are per table; LEVEL tells column checks apart.
        let sql = format!(
            "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, LEVEL \
             FROM information_schema.CHECK_CONSTRAINTS WHERE {condition}"
        );
        for row in client.query(&sql)? {
            let key = (text(&row, 0)?.to_owned(), text(&row, 1)?.to_owned());
            checks.entry(key).or_default().push(Check {
                name: text(&row, 2)?.to_owned(),
                clause: optional(&row, 3).unwrap_or_default().to_owned(),
                column_level: optional(&row, 4).is_some_and(|l| l.eq_ignore_ascii_case("Column")),
            });
        }
    } else {
        // MySQL: names are per schema; TABLE_CONSTRAINTS says which table.
        let sql = format!(
            "SELECT c.CONSTRAINT_SCHEMA, t.TABLE_NAME, c.CONSTRAINT_NAME, c.CHECK_CLAUSE \
             FROM information_schema.CHECK_CONSTRAINTS c \
             JOIN information_schema.TABLE_CONSTRAINTS t \
               ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME \
              AND t.CONSTRAINT_TYPE = 'CHECK' \
             WHERE {condition}"
        );
        for row in client.query(&sql)? {
            let key = (text(&row, 0)?.to_owned(), text(&row, 1)?.to_owned());
            checks.entry(key).or_default().push(Check {
                name: text(&row, 2)?.to_owned(),
                clause: optional(&row, 3).unwrap_or_default().to_owned(),
                column_level: false,
            });
        }
    }
    Ok(checks)
}

/// The page's columns by table, in ordinal order.
fn columns(
    client: &mut Client,
    features: Features,
    on_page: &str,
    page: &HashSet<TableKey>,
    checks: &HashMap<TableKey, Vec<Check>>,
) -> Result<HashMap<TableKey, Vec<Column>>, ConnectorError> {
    let generation = if features.generation_expression { "GENERATION_EXPRESSION" } else { "NULL" };
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, \
                DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, COLUMN_TYPE, EXTRA, \
                COLUMN_COMMENT, {generation} \
         FROM information_schema.COLUMNS WHERE {on_page}"
    );
    let mut columns: HashMap<TableKey, Vec<Column>> = HashMap::new();
    for row in client.query(&sql)? {
        let key = (text(&row, 0)?.to_owned(), text(&row, 1)?.to_owned());
        if !page.contains(&key) {
            continue;
        }
        let name = text(&row, 2)?;
        let ordinal: u32 = number(&row, 3)?;
        let data_type = text(&row, 6)?;
        let column_type = text(&row, 10)?;
        let extra = optional(&row, 11).unwrap_or_default();
        let generated =
            optional(&row, 13).filter(|e| !e.is_empty() && extra.to_ascii_uppercase().contains("GENERATED"));
        let default_value = match generated {
            Some(expression) => Some(types::generated_default(expression, extra)),
            None => types::normalize_default(optional(&row, 4), features.default_style),
        };
        let is_json_check = checks
            .get(&key)
            .is_some_and(|list| list.iter().any(|c| c.column_level && types::is_mariadb_json_check(&c.clause, name)));
        let portable = if is_json_check && data_type.eq_ignore_ascii_case("longtext") {
            inlet_sdk::data_type::JSON
        } else {
            types::portable_type(data_type, column_type)
        };
        let max_length = if types::has_max_length(data_type) {
            optional(&row, 7).and_then(|v| v.parse::<u64>().ok()).and_then(|v| u32::try_from(v).ok())
        } else {
            None
        };
        let (precision, scale) = if types::has_precision(data_type) {
            (optional(&row, 8).and_then(|v| v.parse().ok()), optional(&row, 9).and_then(|v| v.parse().ok()))
        } else {
            (None, None)
        };
        let column = ColumnBuilder::new(name, ordinal, portable, column_type)
            .nullable(optional(&row, 5) == Some("YES"))
            .default_value(default_value)
            .max_length(max_length)
            .precision_scale(precision, scale)
            .comment(optional(&row, 12).filter(|c| !c.is_empty()).map(str::to_owned))
            .build();
        columns.entry(key).or_default().push(column);
    }
    for list in columns.values_mut() {
        list.sort_by_key(|c| c.ordinal);
    }
    Ok(columns)
}

/// One key column of a constraint, from KEY_COLUMN_USAGE.
struct KeyColumn {
    position: u32,
    column: String,
    referenced: Option<(String, String, String)>,
}

/// Primary keys, unique keys, foreign keys and checks by table.
fn constraints(
    client: &mut Client,
    on_page: &str,
    page: &HashSet<TableKey>,
    checks: &HashMap<TableKey, Vec<Check>>,
    columns: &HashMap<TableKey, Vec<Column>>,
) -> Result<HashMap<TableKey, Vec<Constraint>>, ConnectorError> {
    // Key columns by (schema, table, constraint name, is foreign key): a
    // foreign key and a unique key of one table may share a name.
    let mut keys: HashMap<(String, String, String, bool), Vec<KeyColumn>> = HashMap::new();
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, \
                REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
         FROM information_schema.KEY_COLUMN_USAGE WHERE {on_page}"
    );
    for row in client.query(&sql)? {
        let referenced = match (optional(&row, 5), optional(&row, 6), optional(&row, 7)) {
            (Some(schema), Some(table), Some(column)) => Some((schema.to_owned(), table.to_owned(), column.to_owned())),
            _ => None,
        };
        let key =
            (text(&row, 0)?.to_owned(), text(&row, 1)?.to_owned(), text(&row, 2)?.to_owned(), referenced.is_some());
        keys.entry(key).or_default().push(KeyColumn {
            position: number(&row, 4)?,
            column: text(&row, 3)?.to_owned(),
            referenced,
        });
    }
    for list in keys.values_mut() {
        list.sort_by_key(|k| k.position);
    }

    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE \
         FROM information_schema.TABLE_CONSTRAINTS WHERE {on_page} \
           AND CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')"
    );
    let mut constraints: HashMap<TableKey, Vec<Constraint>> = HashMap::new();
    for row in client.query(&sql)? {
        let table = (text(&row, 0)?.to_owned(), text(&row, 1)?.to_owned());
        if !page.contains(&table) {
            continue;
        }
        let name = text(&row, 2)?.to_owned();
        let kind = text(&row, 3)?;
        let is_foreign = kind == "FOREIGN KEY";
        let key_columns =
            keys.remove(&(table.0.clone(), table.1.clone(), name.clone(), is_foreign)).unwrap_or_default();
        let names: Vec<String> = key_columns.iter().map(|k| k.column.clone()).collect();
        let constraint = match kind {
            "PRIMARY KEY" => Constraint::primary_key(name, names),
            "UNIQUE" => Constraint::unique(name, names),
            _ => {
                let Some((schema, referenced_table, _)) = key_columns.first().and_then(|k| k.referenced.clone()) else {
                    return Err(ConnectorError::protocol(format!("foreign key {name} has no referenced table")));
                };
                let referenced_columns =
                    key_columns.iter().filter_map(|k| k.referenced.as_ref().map(|r| r.2.clone())).collect();
                Constraint::foreign_key(name, names, schema, referenced_table, referenced_columns)
            }
        };
        constraints.entry(table).or_default().push(constraint);
    }

    for (table, list) in checks {
        if !page.contains(table) {
            continue;
        }
        let table_columns: Vec<String> =
            columns.get(table).map(|cs| cs.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
        for check in list {
            let used = if check.column_level && table_columns.contains(&check.name) {
                vec![check.name.clone()]
            } else {
                types::check_columns(&check.clause, &table_columns)
            };
            constraints.entry(table.clone()).or_default().push(Constraint::check(
                check.name.clone(),
                used,
                format!("CHECK ({})", check.clause),
            ));
        }
    }
    // A stable order: primary key, unique, foreign keys, checks, each by name.
    for list in constraints.values_mut() {
        list.sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then_with(|| a.name.cmp(&b.name)));
    }
    Ok(constraints)
}

fn rank(kind: ConstraintKind) -> u8 {
    match kind {
        ConstraintKind::PrimaryKey => 0,
        ConstraintKind::Unique => 1,
        ConstraintKind::ForeignKey => 2,
        ConstraintKind::Check => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(schemas: Option<Vec<&str>>, system: bool) -> Config {
        Config {
            host: "db".into(),
            port: None,
            ssl_mode: Default::default(),
            ssl_root_cert: None,
            options: crate::config::Options {
                database: None,
                username: "u".into(),
                server_public_key: None,
                include_system_schemas: system,
                schemas: schemas.map(|s| s.into_iter().map(str::to_owned).collect()),
            },
        }
    }

    fn request(include: &[&str], exclude: &[&str]) -> DiscoverRequest {
        DiscoverRequest {
            include_schemas: include.iter().map(|s| (*s).to_owned()).collect(),
            exclude_schemas: exclude.iter().map(|s| (*s).to_owned()).collect(),
            page_token: None,
            page_size: 10,
        }
    }

    #[test]
    fn hex_literals_need_no_escaping() {
        assert_eq!(hex_literal("a'b\\"), "X'6127625C'");
        assert_eq!(hex_literal(""), "X''");
        assert_eq!(hex_literal("é"), "X'C3A9'");
    }

    #[test]
    fn system_schemas_are_hidden_by_default() {
        let clause = schema_condition(&config(None, false), &request(&[], &["x"]), "S").unwrap();
        assert!(clause.starts_with("S NOT IN (X'6D7973716C', "), "{clause}");
        assert!(clause.ends_with(" AND S NOT IN (X'78')"), "{clause}");
        assert_eq!(schema_condition(&config(None, true), &request(&[], &[]), "S").unwrap(), "1 = 1");
    }

    #[test]
    fn configured_and_requested_lists_intersect() {
        let both = schema_condition(&config(Some(vec!["a", "b"]), false), &request(&["b", "c"], &[]), "S");
        assert_eq!(both.unwrap(), "S IN (X'62')");
        assert_eq!(schema_condition(&config(Some(vec!["a"]), false), &request(&["c"], &[]), "S"), None);
        let configured = schema_condition(&config(Some(vec!["mysql"]), false), &request(&[], &[]), "S");
        assert_eq!(configured.unwrap(), "S IN (X'6D7973716C')");
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let token = encode_token("my \"db\"", "t'1");
        assert_eq!(decode_token(&token).unwrap(), ("my \"db\"".to_owned(), "t'1".to_owned()));
        assert_eq!(decode_token("nope").unwrap_err().kind, ErrorKind::Config);
    }

    #[test]
    fn grants_that_allow_select() {
        assert!(grant_allows_select("GRANT SELECT, INSERT ON `shop`.* TO `bob`@`%`"));
        assert!(grant_allows_select("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"));
        assert!(grant_allows_select("GRANT SELECT (`id`) ON `shop`.`t` TO `bob`@`%`"));
        assert!(!grant_allows_select("GRANT USAGE ON *.* TO `bob`@`%` IDENTIFIED BY PASSWORD '*ABC'"));
        assert!(!grant_allows_select("GRANT INSERT ON `select`.* TO `bob`@`%`"));
        assert!(!grant_allows_select("GRANT `reader` TO `bob`@`%`"));
    }
}
