//! Discovery from pg_catalog, one page at a time, in a fixed number of
//! set-based queries per page (relations, columns, constraints, and the
//! column names of foreign tables referenced from outside the page).
//!
//! Pages are keyed on (schema name, relation name): the token is the last pair
//! returned, so a page never depends on how many rows came before it.
//!
//! The SQL sticks to what PostgreSQL 8.0 already had where it can (no arrays
//! functions, no row comparisons, no `typcategory`), because Redshift's leader
//! node answers these catalog queries and is an 8.0 fork.

use std::collections::{HashMap, HashSet};

use inlet_sdk::paging::page_size;
use inlet_sdk::prelude::*;
use inlet_sdk::row::{number, optional, text};

use crate::config::Flavor;
use crate::wire::{Client, Row};

/// Schemas that are the system's, not the user's: hidden unless included by name.
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "pg_toast"];
/// Redshift's internal schemas on top of PostgreSQL's.
const REDSHIFT_SYSTEM_SCHEMAS: &[&str] = &["pg_internal", "pg_automv", "pg_auto_copy", "pg_mv", "pg_s3"];
/// Per-session temporary schemas (`pg_temp_3`, `pg_toast_temp_3`), as LIKE patterns.
const TEMP_SCHEMA_PATTERNS: &[&str] = &[r"pg\_temp\_%", r"pg\_toast\_temp\_%"];

/// Quotes a string as an SQL literal. With `standard_conforming_strings` off
/// (Redshift, old servers) backslashes escape, so they are doubled too.
pub fn literal(value: &str, standard_strings: bool) -> Result<String, ConnectorError> {
    if value.contains('\0') {
        return Err(ConnectorError::config("a schema or table name contains a NUL character"));
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => quoted.push_str("''"),
            '\\' if !standard_strings => quoted.push_str(r"\\"),
            ch => quoted.push(ch),
        }
    }
    quoted.push('\'');
    Ok(quoted)
}

fn literal_list(values: &[String], standard_strings: bool) -> Result<String, ConnectorError> {
    let quoted: Result<Vec<_>, _> = values.iter().map(|v| literal(v, standard_strings)).collect();
    Ok(quoted?.join(", "))
}

/// The WHERE clause (on `n`, a pg_namespace) that picks non-system schemas.
fn non_system_schemas(flavor: Flavor, standard_strings: bool) -> Result<String, ConnectorError> {
    let mut names: Vec<String> = SYSTEM_SCHEMAS.iter().map(|s| (*s).to_owned()).collect();
    if flavor == Flavor::Redshift {
        names.extend(REDSHIFT_SYSTEM_SCHEMAS.iter().map(|s| (*s).to_owned()));
    }
    let mut clause = format!("n.nspname NOT IN ({})", literal_list(&names, standard_strings)?);
    for pattern in TEMP_SCHEMA_PATTERNS {
        clause.push_str(&format!(" AND n.nspname NOT LIKE {}", literal(pattern, standard_strings)?));
    }
    Ok(clause)
}

/// The schema part of the relation query: the include list replaces the
/// default exclusion of system schemas; the exclude list always applies.
fn schema_filter(request: &DiscoverRequest, flavor: Flavor, standard_strings: bool) -> Result<String, ConnectorError> {
    let mut clause = if request.include_schemas.is_empty() {
        non_system_schemas(flavor, standard_strings)?
    } else {
        format!("n.nspname IN ({})", literal_list(&request.include_schemas, standard_strings)?)
    };
    if !request.exclude_schemas.is_empty() {
        clause.push_str(&format!(
            " AND n.nspname NOT IN ({})",
            literal_list(&request.exclude_schemas, standard_strings)?
        ));
    }
    Ok(clause)
}

/// The page token: the last (schema, relation) of the previous page.
fn encode_token(schema: &str, table: &str) -> String {
    serde_json::json!([schema, table]).to_string()
}

fn decode_token(token: &str) -> Result<(String, String), ConnectorError> {
    serde_json::from_str(token).map_err(|_| ConnectorError::config("invalid page token"))
}

/// Checks what the "catalog permission" step promises: the user may connect
/// to the database, read pg_catalog, and use at least one non-system schema.
/// Returns a note for the step.
pub fn check_permissions(client: &mut Client, flavor: Flavor) -> Result<String, ConnectorError> {
    let standard = client.standard_conforming_strings();
    // The CONNECT privilege arrived in 8.2: Redshift has none to check, and
    // being logged in already proves it there.
    let connect = match flavor {
        Flavor::Postgres => "pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CONNECT')",
        Flavor::Redshift => "true",
    };
    let sql = format!(
        "SELECT {connect}, \
                pg_catalog.has_schema_privilege('pg_catalog', 'USAGE'), \
                (SELECT count(*) FROM pg_catalog.pg_namespace n WHERE {} \
                   AND pg_catalog.has_schema_privilege(n.nspname, 'USAGE'))",
        non_system_schemas(flavor, standard)?
    );
    let rows = client.simple_query(&sql)?;
    let row = rows.first().ok_or_else(|| ConnectorError::protocol("the privilege query returned no row"))?;
    if !flag(row, 0)? {
        return Err(ConnectorError::permission("the user may not CONNECT to this database"));
    }
    if !flag(row, 1)? {
        return Err(ConnectorError::permission("the user has no USAGE on pg_catalog"));
    }
    let usable: u64 = number(row, 2)?;
    if usable == 0 {
        return Err(ConnectorError::permission("the user has USAGE on no schema besides the system ones"));
    }
    Ok(format!("{usable} schema(s) readable"))
}

/// One relation of the page, before its columns and constraints are attached.
struct Relation {
    oid: u32,
    schema: String,
    table: TableBuilder,
    name: String,
}

/// Reads one page of the catalog.
pub fn discover(
    client: &mut Client,
    flavor: Flavor,
    request: &DiscoverRequest,
) -> Result<DiscoverPage, ConnectorError> {
    let standard = client.standard_conforming_strings();
    let limit = page_size(request);
    let mut sql = format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind, \
                pg_catalog.obj_description(c.oid, 'pg_class'), c.reltuples, {size} \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {schemas}",
        size = match flavor {
            Flavor::Postgres => "CASE WHEN c.relkind IN ('r', 'm') THEN pg_catalog.pg_total_relation_size(c.oid) END",
            // Redshift keeps sizes in svv_table_info, which needs more than catalog rights.
            Flavor::Redshift => "NULL",
        },
        schemas = schema_filter(request, flavor, standard)?,
    );
    if let Some(token) = &request.page_token {
        let (schema, table) = decode_token(token)?;
        let (schema, table) = (literal(&schema, standard)?, literal(&table, standard)?);
        // Spelled out rather than a row comparison, which PostgreSQL 8.0 lacks.
        sql.push_str(&format!(" AND (n.nspname > {schema} OR (n.nspname = {schema} AND c.relname > {table}))"));
    }
    sql.push_str(&format!(" ORDER BY n.nspname, c.relname LIMIT {}", limit + 1));
    let mut rows = client.simple_query(&sql)?;
    let more = rows.len() > limit;
    rows.truncate(limit);

    let mut relations = Vec::with_capacity(rows.len());
    for row in &rows {
        relations.push(relation(row)?);
    }
    if relations.is_empty() {
        return Ok(DiscoverPage { schemas: Vec::new(), next_page_token: None });
    }
    let oids: Vec<String> = relations.iter().map(|r| r.oid.to_string()).collect();
    let oid_list = oids.join(", ");

    let columns = columns(client, flavor, &oid_list)?;
    let constraints = constraints(client, &oid_list)?;

    // Column names of referenced tables outside this page, for foreign keys.
    let page: HashSet<u32> = relations.iter().map(|r| r.oid).collect();
    let outside: Vec<String> = constraints
        .iter()
        .filter_map(|c| c.referenced.as_ref().map(|r| r.oid))
        .filter(|oid| !page.contains(oid))
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|oid| oid.to_string())
        .collect();
    let mut names = column_names(&columns);
    if !outside.is_empty() {
        let sql = format!(
            "SELECT a.attrelid, a.attnum, a.attname FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid IN ({}) AND a.attnum > 0 AND NOT a.attisdropped",
            outside.join(", ")
        );
        for row in client.simple_query(&sql)? {
            names.insert((number(&row, 0)?, number(&row, 1)?), text(&row, 2)?.to_owned());
        }
    }

    let next_page_token = match (more, relations.last()) {
        (true, Some(last)) => Some(encode_token(&last.schema, &last.name)),
        _ => None,
    };
    let mut columns_by_oid: HashMap<u32, Vec<Column>> = HashMap::new();
    for (oid, column) in columns {
        columns_by_oid.entry(oid).or_default().push(column);
    }
    let mut constraints_by_oid: HashMap<u32, Vec<Constraint>> = HashMap::new();
    for raw in constraints {
        let oid = raw.oid;
        constraints_by_oid.entry(oid).or_default().push(raw.resolve(&names)?);
    }

    let mut schemas: Vec<Schema> = Vec::new();
    for relation in relations {
        let table = relation.table.columns(columns_by_oid.remove(&relation.oid).unwrap_or_default()).build();
        let table = Table { constraints: constraints_by_oid.remove(&relation.oid).unwrap_or_default(), ..table };
        match schemas.last_mut() {
            Some(schema) if schema.name == relation.schema => schema.tables.push(table),
            _ => schemas.push(Schema { name: relation.schema, tables: vec![table] }),
        }
    }
    Ok(DiscoverPage { schemas, next_page_token })
}

fn relation(row: &Row) -> Result<Relation, ConnectorError> {
    let oid = number(row, 0)?;
    let schema = text(row, 1)?.to_owned();
    let name = text(row, 2)?.to_owned();
    let (kind, has_rows) = match text(row, 3)? {
        "r" | "p" => (ObjectKind::Table, true),
        "v" => (ObjectKind::View, false),
        "m" => (ObjectKind::MaterializedView, true),
        "f" => (ObjectKind::ExternalTable, false),
        other => {
            return Err(ConnectorError::protocol(format!("unexpected relkind `{other}`")));
        }
    };
    // reltuples is -1 for never-analyzed tables (PostgreSQL 14+); an estimate
    // of a view's rows does not exist.
    let row_estimate = match (has_rows, optional(row, 5)) {
        (true, Some(tuples)) => tuples.parse::<f64>().ok().filter(|t| *t >= 0.0).map(|t| t.round() as u64),
        _ => None,
    };
    let size_bytes = optional(row, 6).and_then(|s| s.parse::<u64>().ok());
    let table = TableBuilder::new(name.clone(), kind)
        .comment(optional(row, 4).map(str::to_owned))
        .row_estimate(row_estimate)
        .size_bytes(size_bytes);
    Ok(Relation { oid, schema, table, name })
}

/// All columns of the page's relations, in (relation, position) order.
fn columns(client: &mut Client, flavor: Flavor, oid_list: &str) -> Result<Vec<(u32, Column)>, ConnectorError> {
    let default_expr = match flavor {
        Flavor::Postgres => "pg_catalog.pg_get_expr(d.adbin, d.adrelid)",
        // adsrc is the 8.0 spelling (dropped in PostgreSQL 12).
        Flavor::Redshift => "d.adsrc",
    };
    let sql = format!(
        "SELECT a.attrelid, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                a.attnotnull, {default_expr}, pg_catalog.col_description(a.attrelid, a.attnum), \
                CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, \
                COALESCE(b.typname, t.typname), COALESCE(b.typtype, t.typtype), \
                COALESCE(b.typelem, t.typelem), COALESCE(b.typlen, t.typlen) \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid IN ({oid_list}) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum"
    );
    let mut columns = Vec::new();
    for row in client.simple_query(&sql)? {
        let oid: u32 = number(&row, 0)?;
        let ordinal: u32 = number(&row, 1)?;
        let typmod: i32 = number(&row, 7)?;
        let type_name = text(&row, 8)?;
        let type_kind = text(&row, 9)?;
        let is_array = text(&row, 10)? != "0" && text(&row, 11)? == "-1";
        let data_type = portable_type(type_name, type_kind, is_array);
        let (precision, scale) =
            if type_name == "numeric" && !is_array { numeric_typmod(typmod) } else { (None, None) };
        let max_length = match type_name {
            // varchar(n) and char(n) store n + 4 (the varlena header) in typmod.
            "varchar" | "bpchar" if !is_array && typmod >= 4 => u32::try_from(typmod - 4).ok(),
            _ => None,
        };
        let column = ColumnBuilder::new(text(&row, 2)?, ordinal, data_type, text(&row, 3)?)
            .nullable(!flag(&row, 4)?)
            .default_value(optional(&row, 5).map(str::to_owned))
            .comment(optional(&row, 6).map(str::to_owned))
            .max_length(max_length)
            .precision_scale(precision, scale)
            .build();
        columns.push((oid, column));
    }
    Ok(columns)
}

/// numeric(p, s) stores ((p << 16) | s) + 4 in typmod; -1 means unconstrained.
/// A negative scale (PostgreSQL 15+) has no place in the record, so it is left out.
pub(crate) fn numeric_typmod(typmod: i32) -> (Option<u32>, Option<u32>) {
    if typmod < 4 {
        return (None, None);
    }
    let packed = typmod - 4;
    let precision = u32::try_from((packed >> 16) & 0xffff).ok();
    let raw_scale = packed & 0x7ff;
    let scale = if raw_scale & 0x400 != 0 { None } else { u32::try_from(raw_scale).ok() };
    (precision, scale)
}

/// Maps a PostgreSQL (or Redshift) type to the portable names of
/// `inlet_sdk::data_type`. Domains arrive here as their base type.
pub fn portable_type(type_name: &str, type_kind: &str, is_array: bool) -> &'static str {
    use inlet_sdk::data_type as dt;
    if is_array {
        return dt::ARRAY;
    }
    match type_kind {
        "e" => return dt::ENUM,
        "c" => return dt::STRUCT,
        "r" | "m" => return dt::OTHER, // ranges and multiranges
        _ => {}
    }
    match type_name {
        "bool" => dt::BOOLEAN,
        "int2" => dt::INT16,
        "int4" => dt::INT32,
        "int8" => dt::INT64,
        "oid" | "xid" | "cid" | "regclass" | "regtype" | "regproc" => dt::UINT32,
        "float4" => dt::FLOAT32,
        "float8" => dt::FLOAT64,
        "numeric" | "money" => dt::DECIMAL,
        "text" | "varchar" | "bpchar" | "char" | "name" | "citext" | "xml" => dt::STRING,
        "bytea" | "varbyte" => dt::BINARY,
        "date" => dt::DATE,
        "time" | "timetz" => dt::TIME,
        "timestamp" => dt::TIMESTAMP,
        "timestamptz" => dt::TIMESTAMP_TZ,
        "interval" | "intervaly2m" | "intervald2s" => dt::INTERVAL,
        "uuid" => dt::UUID,
        // Redshift's SUPER holds semi-structured (JSON-like) values.
        "json" | "jsonb" | "super" => dt::JSON,
        "hstore" => dt::MAP,
        "point" | "line" | "lseg" | "box" | "path" | "polygon" | "circle" | "geometry" | "geography" => dt::GEOMETRY,
        _ => dt::OTHER,
    }
}

fn column_names(columns: &[(u32, Column)]) -> HashMap<(u32, u32), String> {
    columns.iter().map(|(oid, c)| ((*oid, c.ordinal), c.name.clone())).collect()
}

/// A constraint as pg_constraint has it: column numbers still to be named.
struct RawConstraint {
    oid: u32,
    name: String,
    kind: ConstraintKind,
    columns: Vec<u32>,
    referenced: Option<Referenced>,
    definition: Option<String>,
}

struct Referenced {
    oid: u32,
    schema: String,
    table: String,
    columns: Vec<u32>,
}

impl RawConstraint {
    fn resolve(self, names: &HashMap<(u32, u32), String>) -> Result<Constraint, ConnectorError> {
        let name_all = |oid: u32, numbers: &[u32]| -> Result<Vec<String>, ConnectorError> {
            numbers
                .iter()
                .map(|n| {
                    names.get(&(oid, *n)).cloned().ok_or_else(|| {
                        ConnectorError::protocol(format!("constraint column {n} of relation {oid} not found"))
                    })
                })
                .collect()
        };
        let columns = name_all(self.oid, &self.columns)?;
        Ok(match (self.kind, self.referenced) {
            (ConstraintKind::ForeignKey, Some(referenced)) => Constraint::foreign_key(
                self.name,
                columns,
                referenced.schema,
                referenced.table,
                name_all(referenced.oid, &referenced.columns)?,
            ),
            (ConstraintKind::Check, _) => Constraint::check(self.name, columns, self.definition.unwrap_or_default()),
            (ConstraintKind::Unique, _) => Constraint::unique(self.name, columns),
            (ConstraintKind::PrimaryKey, _) => Constraint::primary_key(self.name, columns),
            (ConstraintKind::ForeignKey, None) => {
                return Err(ConnectorError::protocol("a foreign key without a referenced table"));
            }
        })
    }
}

fn constraints(client: &mut Client, oid_list: &str) -> Result<Vec<RawConstraint>, ConnectorError> {
    // conkey and confkey arrive as array text ("{1,2}") and are parsed here,
    // because unnest and array_agg are missing on Redshift.
    let sql = format!(
        "SELECT con.conrelid, con.conname, con.contype, con.conkey, con.confrelid, fn.nspname, fc.relname, \
                con.confkey, CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_constraintdef(con.oid) END \
         FROM pg_catalog.pg_constraint con \
         LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid \
         LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
         WHERE con.conrelid IN ({oid_list}) AND con.contype IN ('p', 'u', 'f', 'c') \
         ORDER BY con.conrelid, con.contype, con.conname"
    );
    let mut constraints = Vec::new();
    for row in client.simple_query(&sql)? {
        let kind = match text(&row, 2)? {
            "p" => ConstraintKind::PrimaryKey,
            "u" => ConstraintKind::Unique,
            "f" => ConstraintKind::ForeignKey,
            _ => ConstraintKind::Check,
        };
        let referenced = if kind == ConstraintKind::ForeignKey {
            Some(Referenced {
                oid: number(&row, 4)?,
                schema: text(&row, 5)?.to_owned(),
                table: text(&row, 6)?.to_owned(),
                columns: int_array(optional(&row, 7).unwrap_or("{}"))?,
            })
        } else {
            None
        };
        constraints.push(RawConstraint {
            oid: number(&row, 0)?,
            name: text(&row, 1)?.to_owned(),
            kind,
            // A check on an expression only (e.g. CHECK (random() > 0)) has no columns.
            columns: int_array(optional(&row, 3).unwrap_or("{}"))?,
            referenced,
            definition: optional(&row, 8).map(str::to_owned),
        });
    }
    Ok(constraints)
}

/// Parses the text form of a one-dimensional integer array, e.g. `{1,2}`.
fn int_array(value: &str) -> Result<Vec<u32>, ConnectorError> {
    let inner = value
        .trim()
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .ok_or_else(|| ConnectorError::protocol(format!("not an array literal: `{value}`")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| item.parse().map_err(|_| ConnectorError::protocol(format!("not an integer: `{item}`"))))
        .collect()
}

fn flag(row: &Row, index: usize) -> Result<bool, ConnectorError> {
    match text(row, index)? {
        "t" => Ok(true),
        "f" => Ok(false),
        other => Err(ConnectorError::protocol(format!("catalog value `{other}` is not a boolean"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_quotes_and_backslashes_when_needed() {
        assert_eq!(literal("it's", true).unwrap(), "'it''s'");
        assert_eq!(literal(r"a\b", true).unwrap(), r"'a\b'");
        assert_eq!(literal(r"a\'b", false).unwrap(), r"'a\\''b'");
        assert!(literal("a\0b", true).is_err());
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let token = encode_token("my \"schema\"", "t'1");
        assert_eq!(decode_token(&token).unwrap(), ("my \"schema\"".to_owned(), "t'1".to_owned()));
        assert_eq!(decode_token("nope").unwrap_err().kind, ErrorKind::Config);
    }

    #[test]
    fn numeric_typmods_decode() {
        assert_eq!(numeric_typmod((10 << 16 | 2) + 4), (Some(10), Some(2)));
        assert_eq!(numeric_typmod(-1), (None, None));
    }

    #[test]
    fn int_arrays_parse() {
        assert_eq!(int_array("{1,3}").unwrap(), vec![1, 3]);
        assert_eq!(int_array("{}").unwrap(), Vec::<u32>::new());
        assert!(int_array("1,3").is_err());
    }

    #[test]
    fn types_map_to_portable_names() {
        assert_eq!(portable_type("int4", "b", false), "int32");
        assert_eq!(portable_type("int4", "b", true), "array");
        assert_eq!(portable_type("mood", "e", false), "enum");
        assert_eq!(portable_type("timestamptz", "b", false), "timestamp-tz");
        assert_eq!(portable_type("jsonb", "b", false), "json");
    }

    #[test]
    fn include_list_replaces_the_system_exclusion() {
        let request = DiscoverRequest {
            include_schemas: vec!["o'brien".into()],
            exclude_schemas: vec!["x".into()],
            page_token: None,
            page_size: 10,
        };
        let clause = schema_filter(&request, Flavor::Postgres, true).unwrap();
        assert_eq!(clause, "n.nspname IN ('o''brien') AND n.nspname NOT IN ('x')");
    }
}
