//! A table's description and sample as catalog objects: the table itself
//! (kind `table`) and one object of kind `index` per global or local
//! secondary index, named `<table>/<index>`.
//!
//! Columns come in this order: the primary key (partition, then sort key),
//! the other declared attributes (index keys), then every attribute path the
//! Scan sample found, by name. Declared attributes keep DynamoDB's declared
//! type (`S`, `N`, `B`); numbers are narrowed by the sample when it agrees.

use inlet_sdk::data_type;
use inlet_sdk::prelude::*;

use crate::api::{Index, KeyElement, TableDescription};
use crate::sample::{Described, Sample, Tags};

/// How much of the table the sample read, and why it stopped.
#[derive(Debug, Clone, Default)]
pub struct SampleNote {
    /// Set when the sample could not be read (e.g. Scan not permitted).
    pub unavailable: Option<String>,
    /// The Scan stopped before the table's end.
    pub partial: bool,
}

/// The table and its indexes, in that order.
pub fn objects(description: &TableDescription, sample: &Sample, note: &SampleNote) -> Vec<Table> {
    let columns = table_columns(description, sample);
    let mut objects = Vec::with_capacity(1 + description.global_secondary_indexes.len());
    let primary: Vec<String> =
        ordered_keys(&description.key_schema).into_iter().map(|k| k.attribute_name.clone()).collect();
    let mut table = TableBuilder::new(description.table_name.clone(), ObjectKind::Table)
        .columns(columns.clone())
        .comment(Some(table_comment(description, sample, note)))
        .row_estimate(description.item_count)
        .size_bytes(description.table_size_bytes);
    if !primary.is_empty() {
        table = table.constraint(Constraint::primary_key("primary_key", primary));
    }
    objects.push(table.build());
    let indexes = description
        .global_secondary_indexes
        .iter()
        .map(|index| (index, "global"))
        .chain(description.local_secondary_indexes.iter().map(|index| (index, "local")));
    for (index, scope) in indexes {
        objects.push(index_object(description, index, scope, &columns));
    }
    objects
}

/// HASH before RANGE, whatever order DynamoDB listed them in.
fn ordered_keys(keys: &[KeyElement]) -> Vec<&KeyElement> {
    let mut keys: Vec<&KeyElement> = keys.iter().collect();
    keys.sort_by_key(|k| if k.key_type == "HASH" { 0 } else { 1 });
    keys
}

fn push_name(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_owned());
    }
}

fn key_role(key_type: &str) -> &'static str {
    if key_type == "HASH" { "partition key" } else { "sort key" }
}

fn table_columns(description: &TableDescription, sample: &Sample) -> Vec<Column> {
    let mut names: Vec<String> = Vec::new();
    for key in ordered_keys(&description.key_schema) {
        push_name(&mut names, &key.attribute_name);
    }
    for definition in &description.attribute_definitions {
        push_name(&mut names, &definition.attribute_name);
    }
    let declared = names.len();
    for (path, attribute) in &sample.attributes {
        if attribute.has_column() {
            push_name(&mut names, path);
        }
    }
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ordinal = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if i < declared {
                declared_column(description, sample, name, ordinal)
            } else {
                let described = sample.attributes.get(name).map(|a| a.describe(sample.items));
                sampled_column(name, ordinal, described)
            }
        })
        .collect()
}

fn sampled_column(name: &str, ordinal: u32, described: Option<Described>) -> Column {
    let Some(d) = described else {
        return ColumnBuilder::new(name, ordinal, data_type::OTHER, "?").build();
    };
    ColumnBuilder::new(name, ordinal, d.data_type, d.native_type)
        .nullable(d.nullable)
        .max_length(d.max_length)
        .precision_scale(d.precision, d.scale)
        .comment(d.comment)
        .build()
}

/// A key attribute: its declared type, narrowed by the sample for numbers.
fn declared_column(description: &TableDescription, sample: &Sample, name: &str, ordinal: u32) -> Column {
    let declared = description
        .attribute_definitions
        .iter()
        .find(|d| d.attribute_name == name)
        .map(|d| d.attribute_type.as_str())
        .unwrap_or("");
    let mut roles: Vec<String> = Vec::new();
    let table_key = description.key_schema.iter().find(|k| k.attribute_name == name);
    if let Some(key) = table_key {
        roles.push(key_role(&key.key_type).to_owned());
    }
    let index_roles = description
        .global_secondary_indexes
        .iter()
        .map(|i| (i, "global"))
        .chain(description.local_secondary_indexes.iter().map(|i| (i, "local")));
    for (index, scope) in index_roles {
        if let Some(key) = index.key_schema.iter().find(|k| k.attribute_name == name) {
            roles.push(format!("{} of {scope} index {}", key_role(&key.key_type), index.index_name));
        }
    }
    let sampled = sample.attributes.get(name);
    let described = sampled.map(|a| a.describe(sample.items));
    let sampled_only = |tags: Tags| sampled.is_some_and(|a| a.tags.without(Tags::NULL) == tags);
    let mut column = match declared {
        "S" => match &described {
            // A string key written as dates or timestamps says so.
            Some(d) if sampled_only(Tags::S) => {
                ColumnBuilder::new(name, ordinal, d.data_type, "S").max_length(d.max_length)
            }
            _ => ColumnBuilder::new(name, ordinal, data_type::STRING, "S"),
        },
        "N" => match &described {
            Some(d) if sampled_only(Tags::N) && d.data_type != data_type::STRING => {
                ColumnBuilder::new(name, ordinal, d.data_type, "N").precision_scale(d.precision, d.scale)
            }
            _ => ColumnBuilder::new(name, ordinal, data_type::DECIMAL, "N"),
        },
        "B" => {
            let max_length = if sampled_only(Tags::B) { described.as_ref().and_then(|d| d.max_length) } else { None };
            ColumnBuilder::new(name, ordinal, data_type::BINARY, "B").max_length(max_length)
        }
        other => ColumnBuilder::new(name, ordinal, data_type::OTHER, other),
    };
    // Table keys are in every item; index keys only in the items an index holds.
    let nullable = table_key.is_none() && described.as_ref().is_none_or(|d| d.nullable);
    column = column.nullable(nullable);
    if !roles.is_empty() {
        column = column.comment(Some(roles.join("; ")));
    }
    column.build()
}

fn table_comment(description: &TableDescription, sample: &Sample, note: &SampleNote) -> String {
    let mut parts =
        vec![format!("DynamoDB table, {}", description.table_status.as_deref().unwrap_or("status unknown"))];
    let keys: Vec<String> = ordered_keys(&description.key_schema)
        .iter()
        .map(|k| format!("{} ({})", k.attribute_name, k.key_type))
        .collect();
    if !keys.is_empty() {
        parts.push(format!("key {}", keys.join(", ")));
    }
    if let Some(mode) = description.billing_mode_summary.as_ref().and_then(|b| b.billing_mode.as_deref()) {
        parts.push(format!("billing {mode}"));
    }
    if let Some(class) = description.table_class_summary.as_ref().and_then(|c| c.table_class.as_deref()) {
        parts.push(format!("class {class}"));
    }
    for (indexes, scope) in
        [(&description.global_secondary_indexes, "global"), (&description.local_secondary_indexes, "local")]
    {
        if !indexes.is_empty() {
            let names: Vec<&str> = indexes.iter().map(|i| i.index_name.as_str()).collect();
            let plural = if indexes.len() == 1 { "" } else { "es" };
            parts.push(format!("{} {scope} secondary index{plural} ({})", indexes.len(), names.join(", ")));
        }
    }
    if let Some(stream) = description.stream_specification.as_ref().filter(|s| s.stream_enabled) {
        parts.push(format!("stream {}", stream.stream_view_type.as_deref().unwrap_or("enabled")));
    }
    if description.deletion_protection_enabled == Some(true) {
        parts.push("deletion protection on".to_owned());
    }
    match &note.unavailable {
        Some(why) => parts.push(format!("attributes not sampled: {why}")),
        None => {
            let of = description.item_count.map(|n| format!(" of about {n}")).unwrap_or_default();
            let whole = if note.partial { "" } else { ", the whole table" };
            parts.push(format!("attributes from a Scan sample of {} items{of}{whole}", sample.items));
        }
    }
    if sample.dropped_paths > 0 {
        parts.push(format!(
            "{} attribute paths beyond the first {} left out",
            sample.dropped_paths,
            crate::sample::MAX_PATHS
        ));
    }
    parts.push("item count and size are DynamoDB's estimates (refreshed about every six hours)".to_owned());
    parts.join("; ")
}

/// An index as an object of kind `index`: its key, then what it projects.
fn index_object(description: &TableDescription, index: &Index, scope: &str, table_columns: &[Column]) -> Table {
    let projection = index.projection.as_ref();
    let projection_type = projection.and_then(|p| p.projection_type.as_deref()).unwrap_or("ALL");
    let mut names: Vec<String> = Vec::new();
    for key in ordered_keys(&index.key_schema) {
        push_name(&mut names, &key.attribute_name);
    }
    for key in ordered_keys(&description.key_schema) {
        push_name(&mut names, &key.attribute_name);
    }
    match projection_type {
        "KEYS_ONLY" => {}
        "INCLUDE" => {
            for name in projection.map(|p| p.non_key_attributes.as_slice()).unwrap_or_default() {
                push_name(&mut names, name);
            }
        }
        _ => {
            for column in table_columns {
                // Flattened paths belong to their top-level attribute, which ALL projects.
                push_name(&mut names, &column.name);
            }
        }
    }
    let columns = names.iter().enumerate().map(|(i, name)| {
        let ordinal = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut column = match table_columns.iter().find(|c| &c.name == name) {
            Some(column) => column.clone(),
            None => ColumnBuilder::new(name.clone(), ordinal, data_type::OTHER, "?")
                .comment(Some("projected, not seen in the sample".to_owned()))
                .build(),
        };
        column.ordinal = ordinal;
        if let Some(key) = index.key_schema.iter().find(|k| &k.attribute_name == name) {
            // Items without the index key are not in the index.
            column.nullable = false;
            column.comment = Some(format!("{} of this index", key_role(&key.key_type)));
        } else if let Some(key) = description.key_schema.iter().find(|k| &k.attribute_name == name) {
            column.comment = Some(format!("table {}", key_role(&key.key_type)));
        } else if description.attribute_definitions.iter().any(|d| &d.attribute_name == name) {
            // Its roles in other indexes are the table's story, not this index's.
            column.comment = None;
        }
        column
    });
    let keys: Vec<String> =
        ordered_keys(&index.key_schema).iter().map(|k| format!("{} ({})", k.attribute_name, k.key_type)).collect();
    let mut comment = vec![
        format!("{scope} secondary index of {}", description.table_name),
        format!("key {}", keys.join(", ")),
        format!("projection {projection_type}"),
    ];
    if let Some(status) = &index.index_status {
        comment.push(format!("status {status}"));
    }
    TableBuilder::new(format!("{}/{}", description.table_name, index.index_name), ObjectKind::Index)
        .columns(columns)
        .comment(Some(comment.join("; ")))
        .row_estimate(index.item_count)
        .size_bytes(index.index_size_bytes)
        .build()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn description() -> TableDescription {
        let json = json!({
            "TableName": "orders", "TableStatus": "ACTIVE", "ItemCount": 1000, "TableSizeBytes": 64000,
            "KeySchema": [{"AttributeName": "created", "KeyType": "RANGE"}, {"AttributeName": "customer", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "customer", "AttributeType": "S"},
                {"AttributeName": "created", "AttributeType": "N"},
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "total", "AttributeType": "N"},
                {"AttributeName": "day", "AttributeType": "S"}
            ],
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_status", "IndexStatus": "ACTIVE", "ItemCount": 900, "IndexSizeBytes": 500,
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}, {"AttributeName": "created", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total", "note"]}
            }],
            "LocalSecondaryIndexes": [{
                "IndexName": "by_total",
                "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"}, {"AttributeName": "total", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}
            }],
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"}
        });
        serde_json::from_value(json).unwrap()
    }

    fn sample() -> Sample {
        let mut sample = Sample::default();
        for item in [
            json!({"customer": {"S": "c1"}, "created": {"N": "1700000000"}, "status": {"S": "open"},
                   "total": {"N": "12.5"}, "address": {"M": {"city": {"S": "Oslo"}}}, "day": {"S": "2024-01-02"}}),
            json!({"customer": {"S": "c22"}, "created": {"N": "1700000001"}, "total": {"N": "3"}, "day": {"S": "2024-01-03"}}),
        ] {
            sample.observe(item.as_object().unwrap());
        }
        sample
    }

    fn column<'a>(table: &'a Table, name: &str) -> &'a Column {
        table.columns.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name} in {table:?}"))
    }

    #[test]
    fn the_table_has_its_keys_first_then_declared_then_sampled_attributes() {
        let objects = objects(&description(), &sample(), &SampleNote { unavailable: None, partial: true });
        assert_eq!(objects.len(), 3);
        let table = &objects[0];
        assert_eq!(table.kind, ObjectKind::Table);
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["customer", "created", "status", "total", "day", "address.city"]);
        let ordinals: Vec<u32> = table.columns.iter().map(|c| c.ordinal).collect();
        assert_eq!(ordinals, [1, 2, 3, 4, 5, 6]);
        let day = column(table, "day");
        assert_eq!((day.data_type.as_str(), day.native_type.as_str(), day.comment.as_deref()), ("date", "S", None));
        assert_eq!(table.constraints.len(), 1);
        assert_eq!(table.constraints[0].kind, ConstraintKind::PrimaryKey);
        assert_eq!(table.constraints[0].columns, ["customer", "created"]);
        let customer = column(table, "customer");
        assert_eq!(
            (customer.data_type.as_str(), customer.native_type.as_str(), customer.nullable),
            ("string", "S", false)
        );
        assert_eq!(customer.max_length, Some(3));
        assert_eq!(customer.comment.as_deref(), Some("partition key; partition key of local index by_total"));
        let created = column(table, "created");
        assert_eq!((created.data_type.as_str(), created.native_type.as_str()), ("int64", "N"));
        assert_eq!(created.comment.as_deref(), Some("sort key; sort key of global index by_status"));
        let status = column(table, "status");
        assert!(status.nullable, "a sparse index key");
        let total = column(table, "total");
        assert_eq!((total.data_type.as_str(), total.precision, total.scale), ("decimal", Some(3), Some(1)));
        assert!(!total.nullable);
        assert_eq!(column(table, "address.city").data_type, "string");
        assert_eq!((table.row_estimate, table.size_bytes), (Some(1000), Some(64000)));
        let comment = table.comment.as_deref().unwrap();
        assert!(
            comment
                .starts_with("DynamoDB table, ACTIVE; key customer (HASH), created (RANGE); billing PAY_PER_REQUEST"),
            "{comment}"
        );
        assert!(
            comment.contains("1 global secondary index (by_status); 1 local secondary index (by_total)"),
            "{comment}"
        );
        assert!(comment.contains("stream NEW_IMAGE"), "{comment}");
        assert!(comment.contains("a Scan sample of 2 items of about 1000;"), "{comment}");
    }

    #[test]
    fn indexes_are_objects_with_their_projection() {
        let objects = objects(&description(), &sample(), &SampleNote::default());
        let gsi = &objects[1];
        assert_eq!((gsi.name.as_str(), gsi.kind), ("orders/by_status", ObjectKind::Index));
        let names: Vec<&str> = gsi.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["status", "created", "customer", "total", "note"]);
        assert!(!gsi.columns[0].nullable);
        assert_eq!(gsi.columns[0].comment.as_deref(), Some("partition key of this index"));
        assert_eq!(gsi.columns[2].comment.as_deref(), Some("table partition key"));
        assert_eq!(gsi.columns[3].comment, None, "total's role in by_total is not this index's");
        assert_eq!(gsi.columns[4].data_type, "other");
        assert_eq!(gsi.columns.iter().map(|c| c.ordinal).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!((gsi.row_estimate, gsi.size_bytes), (Some(900), Some(500)));
        assert_eq!(
            gsi.comment.as_deref(),
            Some(
                "global secondary index of orders; key status (HASH), created (RANGE); projection INCLUDE; status ACTIVE"
            )
        );
        let lsi = &objects[2];
        assert_eq!(lsi.name, "orders/by_total");
        let names: Vec<&str> = lsi.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["customer", "total", "created"]);
        assert!(lsi.comment.as_deref().unwrap().starts_with("local secondary index of orders"));
    }

    #[test]
    fn a_table_without_a_sample_says_why() {
        let note = SampleNote { unavailable: Some("Scan is not permitted".into()), partial: false };
        let objects = objects(&description(), &Sample::default(), &note);
        let table = &objects[0];
        assert_eq!(table.columns.len(), 5);
        assert_eq!(column(table, "created").data_type, "decimal");
        assert!(table.comment.as_deref().unwrap().contains("attributes not sampled: Scan is not permitted"));
    }
}
