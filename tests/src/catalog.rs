//! Finding things in what connectors answer (`inlet plugin exec` output):
//! tables, columns and steps by name, panicking with the whole answer when
//! one is missing, so a failing test shows what was there.

use serde_json::Value;

use crate::ExecOutcome;

/// `schema.table` names in the order discovered.
pub fn table_names(outcome: &ExecOutcome) -> Vec<String> {
    let mut names = Vec::new();
    for schema in outcome.json["schemas"].as_array().expect("schemas") {
        for table in schema["tables"].as_array().expect("tables") {
            names.push(format!("{}.{}", schema["name"].as_str().expect("name"), table["name"].as_str().expect("name")));
        }
    }
    names
}

/// The tables of one schema.
pub fn tables<'a>(outcome: &'a ExecOutcome, schema: &str) -> Vec<&'a Value> {
    outcome.json["schemas"]
        .as_array()
        .expect("schemas")
        .iter()
        .filter(|s| s["name"] == schema)
        .flat_map(|s| s["tables"].as_array().expect("tables").iter())
        .collect()
}

#[track_caller]
pub fn table<'a>(outcome: &'a ExecOutcome, schema: &str, name: &str) -> &'a Value {
    tables(outcome, schema)
        .into_iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{schema}.{name} not discovered: {}", outcome.json))
}

#[track_caller]
pub fn column<'a>(table: &'a Value, name: &str) -> &'a Value {
    table["columns"]
        .as_array()
        .and_then(|columns| columns.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no column {name} in {table}"))
}

#[track_caller]
pub fn step<'a>(outcome: &'a ExecOutcome, name: &str) -> &'a Value {
    outcome.json["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name} in {}", outcome.json))
}

/// The names of a test's steps, in order.
pub fn step_names(outcome: &ExecOutcome) -> Vec<&str> {
    outcome.json["steps"].as_array().expect("steps").iter().filter_map(|s| s["name"].as_str()).collect()
}

/// A column as (name, data_type, native_type, nullable), for comparing whole tables.
pub type ColumnShape = (String, String, String, bool);

/// Every column of `table` as a [`ColumnShape`], in order.
pub fn columns(table: &Value) -> Vec<ColumnShape> {
    table["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap_or_default().to_owned();
            (text("name"), text("data_type"), text("native_type"), c["nullable"] == true)
        })
        .collect()
}

/// An expected [`ColumnShape`].
pub fn col(name: &str, data_type: &str, native: &str, nullable: bool) -> ColumnShape {
    (name.to_owned(), data_type.to_owned(), native.to_owned(), nullable)
}
