//! The first items of a table or an index, in the columns discover gave it.
//!
//! The object is described again as discover describes it (DescribeTable
//! and the sample Scan), so the preview's columns and types are discover's.
//! Items then come from Scans of at most the rows still wanted, one page per
//! batch the host pulls, following `LastEvaluatedKey`: a page may hold fewer
//! items than asked (1 MB per page), and nothing past `limit` is read.

use inlet_sdk::http::Transport;
use inlet_sdk::prelude::*;
use inlet_sdk::{Batch, ResultColumn, TimeUnit};
use serde_json::Value as Json;

use crate::api::Client;
use crate::config::Config;
use crate::values;

/// Items per Scan page at most, whatever the host's batch size.
pub const MAX_PAGE_ITEMS: u32 = 1000;

/// A preview in progress: what to scan, where it stands.
pub struct ScanRows {
    table: String,
    index: Option<String>,
    /// The columns asked for, with the scale decimals are written at.
    columns: Vec<ResultColumn>,
    scales: Vec<Option<u32>>,
    remaining: u64,
    start: Option<Json>,
    done: bool,
}

/// The object `request` names, described; its rows are read by [`ScanRows::next_batch`].
pub fn open<T: Transport>(
    client: &Client<T>,
    config: &Config,
    request: &PreviewRequest,
) -> Result<ScanRows, ConnectorError> {
    if request.schema != config.region {
        return Err(ConnectorError::not_found(format!(
            "no schema `{}` (the catalog's one schema is the region, {})",
            request.schema, config.region
        )));
    }
    let (table, index) = match request.object.split_once('/') {
        Some((table, index)) => (table, Some(index)),
        None => (request.object.as_str(), None),
    };
    let missing = || ConnectorError::not_found(format!("no table or index `{}`", request.object));
    let prefix = config.table_prefix.as_deref().unwrap_or("");
    if table.is_empty() || !table.starts_with(prefix) {
        return Err(missing());
    }
    let object = crate::describe(client, config, table)?
        .and_then(|objects| objects.into_iter().find(|o| o.name == request.object))
        .ok_or_else(missing)?;
    let picked: Vec<&Column> = if request.columns.is_empty() {
        object.columns.iter().collect()
    } else {
        let find = |name: &String| {
            object
                .columns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| ConnectorError::not_found(format!("no column `{name}` in `{}`", object.name)))
        };
        request.columns.iter().map(find).collect::<Result<_, _>>()?
    };
    Ok(ScanRows {
        table: table.to_owned(),
        index: index.map(str::to_owned),
        columns: picked.iter().map(|c| result_of(c)).collect(),
        scales: picked.iter().map(|c| c.scale).collect(),
        remaining: u64::from(request.limit),
        start: None,
        done: request.limit == 0,
    })
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

impl ScanRows {
    pub fn columns(&self) -> Vec<ResultColumn> {
        self.columns.clone()
    }

    /// The next Scan page as a batch of at most `max_rows` rows, or `None`
    /// once `limit` items were read or the table ends.
    pub fn next_batch<T: Transport>(
        &mut self,
        client: &Client<T>,
        max_rows: u32,
    ) -> Result<Option<Batch>, ConnectorError> {
        if self.done || self.remaining == 0 {
            return Ok(None);
        }
        let wanted = u64::from(max_rows.clamp(1, MAX_PAGE_ITEMS)).min(self.remaining) as u32;
        let page = client.scan_page(&self.table, self.index.as_deref(), wanted, self.start.as_ref())?;
        self.start = page.last_evaluated_key.filter(|key| !key.is_null());
        self.done = self.start.is_none();
        let mut builder = BatchBuilder::new(&self.columns);
        for item in page.items.iter().take(usize::try_from(self.remaining).unwrap_or(usize::MAX)) {
            let row = self
                .columns
                .iter()
                .zip(&self.scales)
                .map(|(column, scale)| values::cell(values::lookup(item, &column.name), &column.data_type, *scale))
                .collect();
            builder.push_row(row)?;
        }
        self.remaining -= u64::from(builder.len());
        // An empty page with a key to go on from is not the end.
        Ok(Some(builder.finish()))
    }
}
