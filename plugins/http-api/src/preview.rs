//! The first records of one table: an endpoint's records, or the records
//! of an array inside them (`endpoint.field`), in the columns discover gave.
//!
//! The endpoint is requested again (the API has no paging the connector
//! knows of: one response holds the records) and described from the same
//! sample as discover, so columns and types are discover's. The rows are
//! then read from the whole response, up to `limit`.

use inlet_sdk::prelude::*;
use inlet_sdk::{ResultColumn, TimeUnit};

use crate::json::Json;
use crate::{HttpApiConnection, SCHEMA, values};

pub fn preview(
    connection: &mut HttpApiConnection,
    request: &PreviewRequest,
) -> Result<Box<dyn Rows<HttpApiConnection>>, ConnectorError> {
    if request.schema != SCHEMA {
        return Err(ConnectorError::not_found(format!("no schema `{}` (an HTTP API has `{SCHEMA}`)", request.schema)));
    }
    let object = request.object.as_str();
    let endpoints = connection.endpoints()?;
    // Tables are named after their endpoint: `name`, or `name.field…` for arrays of records.
    let candidates = endpoints.iter().filter(|endpoint| {
        let name = endpoint.name.trim();
        object == name || object.strip_prefix(name).is_some_and(|rest| rest.starts_with('.'))
    });
    for endpoint in candidates {
        let (response, target) = connection.fetch(endpoint)?;
        let keep = usize::try_from(connection.config.sample_size).unwrap_or(usize::MAX);
        let sampled = HttpApiConnection::parse(endpoint, &response, &target, keep)?;
        let shape = connection.shape(&HttpApiConnection::records(endpoint, &sampled, &target)?);
        let name = endpoint.name.trim();
        let Some(path) = shape.path_to(name, object) else { continue };
        let Some(table) = shape.tables(name, String::new()).into_iter().find(|t| t.name == object) else {
            continue;
        };
        let picked = pick(&table, &request.columns)?;
        // Rows from the whole response (its size is capped by max_response_mib).
        let whole = HttpApiConnection::parse(endpoint, &response, &target, usize::MAX)?;
        let found = HttpApiConnection::records(endpoint, &whole, &target)?;
        let mut records = Vec::new();
        collect(&found.records, &path, request.limit as usize, &mut records);
        let rows = records
            .iter()
            .map(|record| {
                picked
                    .iter()
                    .map(|column| values::cell(values::lookup(record, &column.name), &column.data_type, column.scale))
                    .collect()
            })
            .collect();
        let columns = picked.iter().map(|column| result_of(column)).collect();
        return Ok(Box::new(BufferedRows::new(columns, rows)));
    }
    Err(ConnectorError::not_found(format!(
        "no table `{object}` (tables are the endpoints and their arrays of records)"
    )))
}

/// The columns asked for, in the order asked (all when none).
fn pick<'a>(table: &'a Table, names: &[String]) -> Result<Vec<&'a Column>, ConnectorError> {
    if names.is_empty() {
        return Ok(table.columns.iter().collect());
    }
    let find = |name: &String| {
        table
            .columns
            .iter()
            .find(|c| &c.name == name)
            .ok_or_else(|| ConnectorError::not_found(format!("no column `{name}` in `{}`", table.name)))
    };
    names.iter().map(find).collect()
}

/// Up to `limit` records: `records` themselves, or the elements of the
/// arrays along `path` inside them (depth first, in document order).
fn collect<'a>(records: &[&'a Json], path: &[String], limit: usize, out: &mut Vec<&'a Json>) {
    for record in records {
        if out.len() >= limit {
            return;
        }
        match path.split_first() {
            None => out.push(record),
            Some((field, rest)) => {
                if let Some(Json::Array(items, _)) = values::lookup(record, field) {
                    let items: Vec<&Json> = items.iter().filter(|item| matches!(item, Json::Object(_))).collect();
                    collect(&items, rest, limit, out);
                }
            }
        }
    }
}

fn result_of(column: &Column) -> ResultColumn {
    let mut result = result_column(column.name.clone(), &column.data_type, column.native_type.clone());
    result.nullable = column.nullable;
    result.precision = column.precision;
    result.scale = column.scale;
    match column.data_type.as_str() {
        data_type::TIMESTAMP => result.time_unit = Some(TimeUnit::Microsecond),
        data_type::TIMESTAMP_TZ => {
            result.time_unit = Some(TimeUnit::Microsecond);
            result.time_zone = Some("UTC".to_owned());
        }
        _ => {}
    }
    result
}
