//! The footer's flat list of schema elements as a tree, and the tree as the
//! SDK's columns: structs become dotted columns (`address.city`), lists and
//! maps one `array`/`map` column whose comment spells out the element
//! types, leaves a portable type from their physical and logical types.

use inlet_sdk::prelude::*;
use inlet_sdk::{ConnectorError, data_type};

use crate::meta::{Logical, Physical, Repetition, SchemaElement, TimeUnit};

/// Groups nested deeper than this are refused.
pub const MAX_NESTING: u32 = 64;
/// Type descriptions in comments stop growing here.
const MAX_DESCRIPTION: usize = 512;

const CONVERTED: [&str; 22] = [
    "UTF8",
    "MAP",
    "MAP_KEY_VALUE",
    "LIST",
    "ENUM",
    "DECIMAL",
    "DATE",
    "TIME_MILLIS",
    "TIME_MICROS",
    "TIMESTAMP_MILLIS",
    "TIMESTAMP_MICROS",
    "UINT_8",
    "UINT_16",
    "UINT_32",
    "UINT_64",
    "INT_8",
    "INT_16",
    "INT_32",
    "INT_64",
    "JSON",
    "BSON",
    "INTERVAL",
];
const CONVERTED_INTERVAL: i32 = 21;

/// One schema element and its children.
pub struct Node<'a> {
    pub element: &'a SchemaElement,
    pub children: Vec<Node<'a>>,
}

impl Node<'_> {
    fn is_group(&self) -> bool {
        self.element.physical.is_none()
    }
}

fn malformed(what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::protocol(format!("malformed Parquet schema: {what}"))
}

/// The tree under the root element (the first one).
pub fn tree(schema: &[SchemaElement]) -> Result<Node<'_>, ConnectorError> {
    if schema.is_empty() {
        return Err(malformed("it has no elements"));
    }
    let mut pos = 0;
    let root = build(schema, &mut pos, 0)?;
    if !root.is_group() {
        return Err(malformed("the root element is not a group"));
    }
    if pos != schema.len() {
        return Err(malformed(format!("{} elements follow the root's last child", schema.len() - pos)));
    }
    Ok(root)
}

fn build<'a>(schema: &'a [SchemaElement], pos: &mut usize, depth: u32) -> Result<Node<'a>, ConnectorError> {
    let element = schema.get(*pos).ok_or_else(|| malformed("a group has more children than elements follow it"))?;
    *pos += 1;
    let mut node = Node { element, children: Vec::new() };
    if !node.is_group() {
        return Ok(node);
    }
    let count = element.num_children.unwrap_or(0);
    let count =
        usize::try_from(count).map_err(|_| malformed(format!("group `{}` has {count} children", element.name)))?;
    if count > schema.len() - *pos {
        return Err(malformed(format!(
            "group `{}` claims {count} children but only {} elements follow",
            element.name,
            schema.len() - *pos
        )));
    }
    if count > 0 && depth >= MAX_NESTING {
        return Err(ConnectorError::unsupported(format!("the schema nests groups deeper than {MAX_NESTING} levels")));
    }
    node.children.reserve(count);
    for _ in 0..count {
        node.children.push(build(schema, pos, depth + 1)?);
    }
    Ok(node)
}

/// The columns of a schema, ordinals from 1.
pub fn columns(schema: &[SchemaElement]) -> Result<Vec<Column>, ConnectorError> {
    let root = tree(schema)?;
    let mut out = Vec::new();
    for child in &root.children {
        visit(child, "", false, &mut out);
    }
    Ok(out)
}

fn visit(node: &Node<'_>, prefix: &str, ancestors_nullable: bool, out: &mut Vec<Column>) {
    let element = node.element;
    let name = format!("{prefix}{}", element.name);
    let ordinal = u32::try_from(out.len() + 1).unwrap_or(u32::MAX);
    let repetition = element.repetition.unwrap_or(Repetition::Optional);
    let nullable = ancestors_nullable || repetition == Repetition::Optional;
    let mut notes = Vec::new();
    if let Some(id) = element.field_id {
        notes.push(format!("field id {id}"));
    }
    let column = if repetition == Repetition::Repeated {
        // A bare repeated field (no LIST annotation): a list that may be empty.
        notes.insert(0, format!("repeated {}", describe_single(node)));
        ColumnBuilder::new(name, ordinal, data_type::ARRAY, format!("repeated {}", native_of(node)))
            .nullable(ancestors_nullable)
    } else if node.is_group() && is_list(element) {
        notes.insert(0, describe(node));
        ColumnBuilder::new(name, ordinal, data_type::ARRAY, "group (LIST)").nullable(nullable)
    } else if node.is_group() && is_map(element) {
        notes.insert(0, describe(node));
        ColumnBuilder::new(name, ordinal, data_type::MAP, "group (MAP)").nullable(nullable)
    } else if node.is_group() {
        if node.children.is_empty() {
            notes.insert(0, "an empty group".to_owned());
            ColumnBuilder::new(name, ordinal, data_type::STRUCT, "group").nullable(nullable)
        } else {
            let prefix = format!("{name}.");
            for child in &node.children {
                visit(child, &prefix, nullable, out);
            }
            return;
        }
    } else {
        let leaf = leaf(element);
        if let Some(note) = leaf.note {
            notes.insert(0, note);
        }
        ColumnBuilder::new(name, ordinal, leaf.data_type, leaf.native)
            .nullable(nullable)
            .precision_scale(leaf.precision, leaf.scale)
            .max_length(leaf.max_length)
    };
    let comment = if notes.is_empty() { None } else { Some(notes.join("; ")) };
    out.push(column.comment(comment).build());
}

/// The schema elements behind [`columns`], in the same order: each
/// column's path of field names from the root (`["address", "city"]` for
/// `address.city`) and its element (a leaf, or the list/map/repeated/empty
/// group the column stands for).
pub fn column_paths(schema: &[SchemaElement]) -> Result<Vec<(Vec<String>, &SchemaElement)>, ConnectorError> {
    fn walk<'a>(node: &Node<'a>, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a SchemaElement)>) {
        let element = node.element;
        path.push(element.name.clone());
        let repeated = element.repetition == Some(Repetition::Repeated);
        if !repeated && node.is_group() && !is_list(element) && !is_map(element) && !node.children.is_empty() {
            for child in &node.children {
                walk(child, path, out);
            }
        } else {
            out.push((path.clone(), element));
        }
        path.pop();
    }
    let root = tree(schema)?;
    let mut out = Vec::new();
    for child in &root.children {
        walk(child, &mut Vec::new(), &mut out);
    }
    Ok(out)
}

/// The logical type of a leaf: its own, or the one its converted type stands for.
pub fn logical_of(element: &SchemaElement) -> Option<Logical> {
    element.logical.clone().or_else(|| from_converted(element))
}

fn is_list(element: &SchemaElement) -> bool {
    matches!(element.logical, Some(Logical::List)) || element.converted == Some(3)
}

fn is_map(element: &SchemaElement) -> bool {
    matches!(element.logical, Some(Logical::Map)) || matches!(element.converted, Some(1 | 2))
}

fn native_of(node: &Node<'_>) -> String {
    if node.is_group() { "group".to_owned() } else { leaf(node.element).native }
}

/// A short type for comments: `int64`, `list<string>`, `struct<a: int32>`.
pub fn describe(node: &Node<'_>) -> String {
    let mut text = String::new();
    describe_into(node, &mut text);
    text
}

/// As [`describe`], the repetition of `node` itself left out.
fn describe_single(node: &Node<'_>) -> String {
    let mut text = String::new();
    describe_type(node, &mut text);
    text
}

fn describe_into(node: &Node<'_>, text: &mut String) {
    if node.element.repetition == Some(Repetition::Repeated) {
        text.push_str("list<");
        describe_type(node, text);
        text.push('>');
    } else {
        describe_type(node, text);
    }
}

fn describe_type(node: &Node<'_>, text: &mut String) {
    if text.len() > MAX_DESCRIPTION {
        if !text.ends_with('…') {
            text.push('…');
        }
        return;
    }
    let element = node.element;
    if !node.is_group() {
        let leaf = leaf(element);
        match (leaf.precision, leaf.scale) {
            (Some(p), Some(s)) => text.push_str(&format!("decimal({p},{s})")),
            _ => text.push_str(leaf.data_type),
        }
        return;
    }
    if is_list(element) {
        text.push_str("list<");
        match list_element(node) {
            Some(item) => describe_type(item, text),
            None => text.push('?'),
        }
        text.push('>');
    } else if is_map(element) {
        text.push_str("map<");
        match map_entry(node) {
            Some((key, value)) => {
                describe_type(key, text);
                text.push_str(", ");
                match value {
                    Some(value) => describe_type(value, text),
                    None => text.push_str("null"),
                }
            }
            None => text.push('?'),
        }
        text.push('>');
    } else {
        text.push_str("struct<");
        for (i, child) in node.children.iter().enumerate() {
            if text.len() > MAX_DESCRIPTION {
                text.push('…');
                break;
            }
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&child.element.name);
            text.push_str(": ");
            describe_into(child, text);
        }
        text.push('>');
    }
}

/// The element of a LIST group: three-level (`list.element`) or the legacy two-level forms.
fn list_element<'n, 'a>(node: &'n Node<'a>) -> Option<&'n Node<'a>> {
    let [repeated] = node.children.as_slice() else { return None };
    let legacy = repeated.element.name == "array" || repeated.element.name.ends_with("_tuple");
    match repeated.children.as_slice() {
        [item] if repeated.is_group() && !legacy => Some(item),
        _ => Some(repeated),
    }
}

/// The key and value of a MAP group's repeated `key_value` child.
#[allow(clippy::type_complexity)]
fn map_entry<'n, 'a>(node: &'n Node<'a>) -> Option<(&'n Node<'a>, Option<&'n Node<'a>>)> {
    let [entry] = node.children.as_slice() else { return None };
    match entry.children.as_slice() {
        [key] => Some((key, None)),
        [key, value] => Some((key, Some(value))),
        _ => None,
    }
}

/// A leaf's column type.
pub struct Leaf {
    pub data_type: &'static str,
    pub native: String,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub max_length: Option<u32>,
    pub note: Option<String>,
}

/// The logical type a legacy converted type stands for.
fn from_converted(element: &SchemaElement) -> Option<Logical> {
    Some(match element.converted? {
        0 => Logical::String,
        4 => Logical::Enum,
        5 => Logical::Decimal { scale: element.scale.unwrap_or(0), precision: element.precision.unwrap_or(0) },
        6 => Logical::Date,
        7 => Logical::Time { utc: true, unit: TimeUnit::Millis },
        8 => Logical::Time { utc: true, unit: TimeUnit::Micros },
        9 => Logical::Timestamp { utc: true, unit: TimeUnit::Millis },
        10 => Logical::Timestamp { utc: true, unit: TimeUnit::Micros },
        11 => Logical::Integer { bits: 8, signed: false },
        12 => Logical::Integer { bits: 16, signed: false },
        13 => Logical::Integer { bits: 32, signed: false },
        14 => Logical::Integer { bits: 64, signed: false },
        15 => Logical::Integer { bits: 8, signed: true },
        16 => Logical::Integer { bits: 16, signed: true },
        17 => Logical::Integer { bits: 32, signed: true },
        18 => Logical::Integer { bits: 64, signed: true },
        19 => Logical::Json,
        20 => Logical::Bson,
        _ => return None,
    })
}

fn logical_name(logical: &Logical) -> String {
    let utc = |utc: bool| if utc { ", UTC" } else { "" };
    match logical {
        Logical::String => "STRING".into(),
        Logical::Map => "MAP".into(),
        Logical::List => "LIST".into(),
        Logical::Enum => "ENUM".into(),
        Logical::Decimal { scale, precision } => format!("DECIMAL({precision},{scale})"),
        Logical::Date => "DATE".into(),
        Logical::Time { utc: u, unit } => format!("TIME({}{})", unit.name(), utc(*u)),
        Logical::Timestamp { utc: u, unit } => format!("TIMESTAMP({}{})", unit.name(), utc(*u)),
        Logical::Integer { bits, signed } => format!("INT({bits}, {})", if *signed { "signed" } else { "unsigned" }),
        Logical::Unknown => "UNKNOWN".into(),
        Logical::Json => "JSON".into(),
        Logical::Bson => "BSON".into(),
        Logical::Uuid => "UUID".into(),
        Logical::Float16 => "FLOAT16".into(),
        Logical::Variant => "VARIANT".into(),
        Logical::Geometry => "GEOMETRY".into(),
        Logical::Geography => "GEOGRAPHY".into(),
        Logical::Other(id) => format!("logical type #{id}"),
    }
}

fn nonneg(value: i32) -> Option<u32> {
    u32::try_from(value).ok()
}

pub fn leaf(element: &SchemaElement) -> Leaf {
    let physical = element.physical.unwrap_or(Physical::ByteArray);
    let mut native = physical.name().to_owned();
    let fixed_len = element.type_length.and_then(nonneg);
    if physical == Physical::FixedLenByteArray {
        native.push_str(&format!("({})", element.type_length.unwrap_or(0)));
    }
    let logical = element.logical.clone().or_else(|| from_converted(element));
    match (&element.logical, element.converted) {
        (Some(logical), _) => native.push_str(&format!(" ({})", logical_name(logical))),
        (None, Some(code)) => {
            let name = usize::try_from(code).ok().and_then(|i| CONVERTED.get(i)).copied();
            native.push_str(&format!(" ({})", name.unwrap_or("unknown converted type")));
        }
        (None, None) => {}
    }
    let mut leaf =
        Leaf { data_type: data_type::OTHER, native, precision: None, scale: None, max_length: None, note: None };
    let plain = |leaf: &mut Leaf| {
        leaf.data_type = match physical {
            Physical::Boolean => data_type::BOOLEAN,
            Physical::Int32 => data_type::INT32,
            Physical::Int64 => data_type::INT64,
            Physical::Int96 => {
                leaf.note = Some("INT96 timestamp (legacy: nanoseconds, no time zone)".to_owned());
                data_type::TIMESTAMP
            }
            Physical::Float => data_type::FLOAT32,
            Physical::Double => data_type::FLOAT64,
            Physical::ByteArray => data_type::BINARY,
            Physical::FixedLenByteArray => {
                leaf.max_length = fixed_len;
                data_type::BINARY
            }
        }
    };
    if element.converted == Some(CONVERTED_INTERVAL) && element.logical.is_none() {
        leaf.data_type = data_type::INTERVAL;
        leaf.note = Some("months, days and milliseconds".to_owned());
        return leaf;
    }
    let Some(logical) = logical else {
        plain(&mut leaf);
        return leaf;
    };
    let legacy = element.logical.is_none();
    leaf.data_type = match logical {
        Logical::String => data_type::STRING,
        Logical::Enum => {
            leaf.note = Some("enum stored as a string".to_owned());
            data_type::ENUM
        }
        Logical::Json => data_type::JSON,
        Logical::Bson => {
            leaf.note = Some("BSON document".to_owned());
            data_type::BINARY
        }
        Logical::Uuid => data_type::UUID,
        Logical::Date => data_type::DATE,
        Logical::Decimal { scale, precision } => {
            leaf.precision = nonneg(precision);
            leaf.scale = nonneg(scale);
            data_type::DECIMAL
        }
        Logical::Time { utc, unit } => {
            let zone = if utc { "adjusted to UTC" } else { "local time" };
            leaf.note = Some(format!("time of day in {}, {zone}", unit.words()));
            data_type::TIME
        }
        Logical::Timestamp { utc, unit } => {
            let zone = if utc { "adjusted to UTC" } else { "local (not adjusted to UTC)" };
            leaf.note = Some(format!("timestamp in {}, {zone}", unit.words()));
            if utc { data_type::TIMESTAMP_TZ } else { data_type::TIMESTAMP }
        }
        Logical::Integer { bits, signed } => match (bits, signed) {
            (8, true) => {
                leaf.note = Some("8-bit signed integer".to_owned());
                data_type::INT16
            }
            (16, true) => data_type::INT16,
            (32, true) => data_type::INT32,
            (64, true) => data_type::INT64,
            (8, false) => data_type::UINT8,
            (16, false) => data_type::UINT16,
            (32, false) => data_type::UINT32,
            _ => data_type::UINT64,
        },
        Logical::Float16 => {
            leaf.note = Some("16-bit float".to_owned());
            data_type::FLOAT32
        }
        Logical::Unknown => {
            leaf.note = Some("always null (UNKNOWN logical type)".to_owned());
            data_type::OTHER
        }
        Logical::Variant => {
            leaf.note = Some("variant (semi-structured)".to_owned());
            data_type::JSON
        }
        Logical::Geometry | Logical::Geography => data_type::GEOMETRY,
        Logical::Map | Logical::List | Logical::Other(_) => {
            plain(&mut leaf);
            leaf.data_type
        }
    };
    if legacy {
        let converted = leaf.native.rsplit('(').next().unwrap_or_default().trim_end_matches(')').to_owned();
        let note = format!("converted type {converted}");
        leaf.note = Some(match leaf.note.take() {
            Some(existing) => format!("{existing}; {note}"),
            None => note,
        });
    }
    leaf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(name: &str, physical: Option<Physical>, repetition: Repetition, children: Option<i32>) -> SchemaElement {
        SchemaElement {
            name: name.to_owned(),
            physical,
            repetition: Some(repetition),
            num_children: children,
            ..SchemaElement::default()
        }
    }

    fn with_logical(mut element: SchemaElement, logical: Logical) -> SchemaElement {
        element.logical = Some(logical);
        element
    }

    #[test]
    fn structs_flatten_lists_and_maps_are_described() {
        use Repetition::*;
        let schema = vec![
            el("schema", None, Required, Some(4)),
            el("id", Some(Physical::Int64), Required, None),
            el("address", None, Optional, Some(2)),
            el("city", Some(Physical::ByteArray), Required, None),
            el("zip", Some(Physical::Int32), Required, None),
            with_logical(el("tags", None, Required, Some(1)), Logical::List),
            el("list", None, Repeated, Some(1)),
            with_logical(el("element", Some(Physical::ByteArray), Optional, None), Logical::String),
            with_logical(el("attrs", None, Optional, Some(1)), Logical::Map),
            el("key_value", None, Repeated, Some(2)),
            with_logical(el("key", Some(Physical::ByteArray), Required, None), Logical::String),
            el("value", Some(Physical::Double), Optional, None),
        ];
        let columns = columns(&schema).unwrap();
        let got: Vec<_> = columns
            .iter()
            .map(|c| (c.ordinal, c.name.as_str(), c.data_type.as_str(), c.nullable, c.comment.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "id", "int64", false, None),
                (2, "address.city", "binary", true, None),
                (3, "address.zip", "int32", true, None),
                (4, "tags", "array", false, Some("list<string>")),
                (5, "attrs", "map", true, Some("map<string, float64>")),
            ]
        );
    }

    #[test]
    fn bad_trees_are_errors() {
        use Repetition::*;
        assert!(columns(&[]).is_err());
        let too_many = [el("schema", None, Required, Some(3)), el("a", Some(Physical::Int32), Required, None)];
        assert!(columns(&too_many).unwrap_err().message.contains("claims 3 children"));
        let trailing = [el("schema", None, Required, Some(0)), el("a", Some(Physical::Int32), Required, None)];
        assert!(columns(&trailing).unwrap_err().message.contains("follow the root"));
        let mut deep: Vec<_> = (0..100).map(|i| el(&format!("g{i}"), None, Optional, Some(1))).collect();
        deep.push(el("leaf", Some(Physical::Int32), Required, None));
        assert_eq!(columns(&deep).unwrap_err().kind, inlet_sdk::ErrorKind::Unsupported);
    }

    #[test]
    fn leaves_map_logical_and_converted_types() {
        let mut decimal = el("d", Some(Physical::FixedLenByteArray), Repetition::Required, None);
        decimal.type_length = Some(16);
        decimal.converted = Some(5);
        decimal.precision = Some(38);
        decimal.scale = Some(4);
        let leaf = leaf(&decimal);
        assert_eq!((leaf.data_type, leaf.native.as_str()), ("decimal", "FIXED_LEN_BYTE_ARRAY(16) (DECIMAL)"));
        assert_eq!((leaf.precision, leaf.scale), (Some(38), Some(4)));
        assert_eq!(leaf.note.as_deref(), Some("converted type DECIMAL"));

        let ts = with_logical(
            el("t", Some(Physical::Int64), Repetition::Optional, None),
            Logical::Timestamp { utc: false, unit: TimeUnit::Nanos },
        );
        let leaf = super::leaf(&ts);
        assert_eq!((leaf.data_type, leaf.native.as_str()), ("timestamp", "INT64 (TIMESTAMP(NANOS))"));
        assert_eq!(leaf.note.as_deref(), Some("timestamp in nanoseconds, local (not adjusted to UTC)"));

        let int96 = super::leaf(&el("x", Some(Physical::Int96), Repetition::Optional, None));
        assert_eq!(int96.data_type, "timestamp");
        let fixed = {
            let mut f = el("f", Some(Physical::FixedLenByteArray), Repetition::Optional, None);
            f.type_length = Some(3);
            super::leaf(&f)
        };
        assert_eq!((fixed.data_type, fixed.max_length), ("binary", Some(3)));
    }
}
