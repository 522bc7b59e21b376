//! Column metadata as information_schema spells it, turned into the
//! platform's terms: portable data types, lengths, and normalized defaults.

use inlet_sdk::data_type as dt;

/// Maps `DATA_TYPE` (and `COLUMN_TYPE`, for signedness and widths) to the
/// portable names of `inlet_sdk::data_type`.
pub fn portable_type(data_type: &str, column_type: &str) -> &'static str {
    let column_type = column_type.to_ascii_lowercase();
    let unsigned = column_type.contains("unsigned");
    match data_type.to_ascii_lowercase().as_str() {
        // BOOL is TINYINT(1); MySQL 8 keeps that display width for this reason.
        "tinyint" if column_type.starts_with("tinyint(1)") && !unsigned => dt::BOOLEAN,
        "tinyint" if unsigned => dt::UINT8,
        // No int8 among the portable types: a signed tinyint fits int16.
        "tinyint" => dt::INT16,
        "smallint" if unsigned => dt::UINT16,
        "smallint" => dt::INT16,
        "mediumint" | "int" | "integer" if unsigned => dt::UINT32,
        "mediumint" | "int" | "integer" => dt::INT32,
        "bigint" if unsigned => dt::UINT64,
        "bigint" => dt::INT64,
        "bit" if column_type == "bit(1)" => dt::BOOLEAN,
        "bit" => dt::BINARY,
        "year" => dt::INT16,
        "decimal" | "numeric" | "dec" | "fixed" => dt::DECIMAL,
        "float" => dt::FLOAT32,
        "double" | "real" | "double precision" => dt::FLOAT64,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => dt::STRING,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => dt::BINARY,
        "date" => dt::DATE,
        "time" => dt::TIME,
        "datetime" => dt::TIMESTAMP,
        // Stored in UTC and shown in the session's time zone.
        "timestamp" => dt::TIMESTAMP_TZ,
        "json" => dt::JSON,
        "enum" => dt::ENUM,
        // MariaDB 10.7+.
        "uuid" => dt::UUID,
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
        | "geometrycollection" | "geomcollection" => dt::GEOMETRY,
        // SET (several members at once; the members are in native_type),
        // MariaDB's inet4/inet6/vector, and whatever comes next.
        _ => dt::OTHER,
    }
}

/// Whether `max_length` (CHARACTER_MAXIMUM_LENGTH: characters, or bytes for
/// binary types) means something for the type. For ENUM and SET it is only
/// the longest member.
pub fn has_max_length(data_type: &str) -> bool {
    matches!(
        data_type.to_ascii_lowercase().as_str(),
        "char"
            | "varchar"
            | "tinytext"
            | "text"
            | "mediumtext"
            | "longtext"
            | "binary"
            | "varbinary"
            | "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
    )
}

pub fn has_precision(data_type: &str) -> bool {
    matches!(data_type.to_ascii_lowercase().as_str(), "decimal" | "numeric" | "dec" | "fixed")
}

/// How a server spells COLUMN_DEFAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultStyle {
    /// MySQL and MariaDB before 10.2.7: the literal value as text, SQL NULL
    /// for "no default" and for DEFAULT NULL.
    Raw,
    /// MariaDB 10.2.7+: an SQL expression: strings quoted ('abc'), numbers
    /// bare, `NULL` (the text) for DEFAULT NULL, functions as calls.
    Expression,
}

/// One normalized default: a literal's value unquoted (`new`, `0.00`), an
/// expression as its text (`current_timestamp()`), and no default or a NULL
/// default as `None`, whichever server it came from.
pub fn normalize_default(raw: Option<&str>, style: DefaultStyle) -> Option<String> {
    let raw = raw?;
    match style {
        DefaultStyle::Raw => Some(raw.to_owned()),
        DefaultStyle::Expression => {
            if raw.eq_ignore_ascii_case("NULL") {
                None
            } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                Some(unescape_literal(inner))
            } else {
                Some(raw.to_owned())
            }
        }
    }
}

/// The value of a single-quoted MySQL string literal's body: `''` is a
/// quote, and a backslash escapes the next character (as MariaDB writes
/// defaults regardless of the session's sql_mode).
fn unescape_literal(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                // The first of a doubled quote; keep one.
                out.push('\'');
                if chars.clone().next() == Some('\'') {
                    chars.next();
                }
            }
            '\\' => match chars.next() {
                Some('0') => out.push('\0'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('b') => out.push('\u{8}'),
                Some('Z') => out.push('\u{1a}'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// What a generated column stores in `default_value`: its expression and kind,
/// e.g. `GENERATED ALWAYS AS (`price` * `qty`) STORED`.
pub fn generated_default(expression: &str, extra: &str) -> String {
    let kind = if extra.to_ascii_uppercase().contains("STORED") { "STORED" } else { "VIRTUAL" };
    format!("GENERATED ALWAYS AS ({expression}) {kind}")
}

/// The backquoted identifiers in a CHECK clause that name the table's
/// columns, in order of first appearance: the columns a check constraint uses.
pub fn check_columns(clause: &str, columns: &[String]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = clause;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        // A backquote inside an identifier is doubled.
        let mut name = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, ch)) = chars.next() {
            if ch == '`' {
                if after[i + 1..].starts_with('`') {
                    name.push('`');
                    chars.next();
                } else {
                    end = Some(i);
                    break;
                }
            } else {
                name.push(ch);
            }
        }
        let Some(end) = end else { break };
        if columns.iter().any(|c| c == &name) && !found.contains(&name) {
            found.push(name);
        }
        rest = &after[end + 1..];
    }
    found
}

/// MariaDB's JSON: a LONGTEXT with the column-level check `json_valid(`col`)`.
pub fn is_mariadb_json_check(clause: &str, column: &str) -> bool {
    let compact: String = clause.chars().filter(|c| !c.is_whitespace()).collect();
    let expected = format!("json_valid(`{}`)", column.replace('`', "``"));
    compact.eq_ignore_ascii_case(&expected) || compact.eq_ignore_ascii_case(&format!("({expected})"))
}

/// (major, minor, patch) from a version string like `10.11.19-MariaDB-0+deb12u1`.
pub fn parse_version(version: &str) -> (u32, u32, u32) {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).take(3).map(|part| part.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_types_keep_their_signedness() {
        assert_eq!(portable_type("int", "int(10) unsigned"), dt::UINT32);
        assert_eq!(portable_type("int", "int(11)"), dt::INT32);
        assert_eq!(portable_type("bigint", "bigint(20) unsigned"), dt::UINT64);
        assert_eq!(portable_type("bigint", "bigint"), dt::INT64);
        assert_eq!(portable_type("tinyint", "tinyint(1)"), dt::BOOLEAN);
        assert_eq!(portable_type("tinyint", "tinyint(4)"), dt::INT16);
        assert_eq!(portable_type("tinyint", "tinyint(3) unsigned"), dt::UINT8);
        assert_eq!(portable_type("smallint", "smallint(5) unsigned"), dt::UINT16);
        assert_eq!(portable_type("mediumint", "mediumint(9)"), dt::INT32);
    }

    #[test]
    fn other_types_map() {
        assert_eq!(portable_type("decimal", "decimal(10,2)"), dt::DECIMAL);
        assert_eq!(portable_type("varchar", "varchar(40)"), dt::STRING);
        assert_eq!(portable_type("longblob", "longblob"), dt::BINARY);
        assert_eq!(portable_type("timestamp", "timestamp"), dt::TIMESTAMP_TZ);
        assert_eq!(portable_type("datetime", "datetime(6)"), dt::TIMESTAMP);
        assert_eq!(portable_type("json", "json"), dt::JSON);
        assert_eq!(portable_type("enum", "enum('a','b')"), dt::ENUM);
        assert_eq!(portable_type("set", "set('a','b')"), dt::OTHER);
        assert_eq!(portable_type("point", "point"), dt::GEOMETRY);
        assert_eq!(portable_type("bit", "bit(1)"), dt::BOOLEAN);
        assert_eq!(portable_type("bit", "bit(8)"), dt::BINARY);
        assert_eq!(portable_type("inet6", "inet6"), dt::OTHER);
    }

    #[test]
    fn mariadb_defaults_are_unquoted() {
        let norm = |raw| normalize_default(raw, DefaultStyle::Expression);
        assert_eq!(norm(Some("'it''s \\\\ x'")), Some("it's \\ x".to_owned()));
        assert_eq!(norm(Some("'happy'")), Some("happy".to_owned()));
        assert_eq!(norm(Some("''")), Some(String::new()));
        assert_eq!(norm(Some("NULL")), None);
        assert_eq!(norm(None), None);
        assert_eq!(norm(Some("0.00")), Some("0.00".to_owned()));
        assert_eq!(norm(Some("current_timestamp()")), Some("current_timestamp()".to_owned()));
        assert_eq!(norm(Some("'a\\nb'")), Some("a\nb".to_owned()));
    }

    #[test]
    fn mysql_defaults_are_kept() {
        let norm = |raw| normalize_default(raw, DefaultStyle::Raw);
        assert_eq!(norm(Some("happy")), Some("happy".to_owned()));
        assert_eq!(norm(Some("'quoted'")), Some("'quoted'".to_owned()));
        assert_eq!(norm(None), None);
    }

    #[test]
    fn check_columns_are_the_backquoted_column_names() {
        let columns = vec!["qty".to_owned(), "price".to_owned(), "we`ird".to_owned()];
        assert_eq!(check_columns("`qty` > 0 and `price` >= `qty`", &columns), vec!["qty", "price"]);
        assert_eq!(check_columns("`we``ird` is not null", &columns), vec!["we`ird"]);
        assert_eq!(check_columns("`other` > 1", &columns), Vec::<String>::new());
        assert_eq!(check_columns("`unterminated", &columns), Vec::<String>::new());
        assert_eq!(check_columns("rand() > 0", &columns), Vec::<String>::new());
    }

    #[test]
    fn mariadb_json_checks_are_recognized() {
        assert!(is_mariadb_json_check("json_valid(`doc`)", "doc"));
        assert!(!is_mariadb_json_check("json_valid(`doc`)", "other"));
        assert!(!is_mariadb_json_check("json_valid(`doc`) and 1", "doc"));
    }

    #[test]
    fn generated_columns_name_their_kind() {
        assert_eq!(
            generated_default("`price` * `qty`", "STORED GENERATED"),
            "GENERATED ALWAYS AS (`price` * `qty`) STORED"
        );
        assert_eq!(
            generated_default("ucase(`name`)", "VIRTUAL GENERATED"),
            "GENERATED ALWAYS AS (ucase(`name`)) VIRTUAL"
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("10.11.19-MariaDB-0+deb12u1"), (10, 11, 19));
        assert_eq!(parse_version("8.0.36"), (8, 0, 36));
        assert_eq!(parse_version("garbage"), (0, 0, 0));
    }
}
