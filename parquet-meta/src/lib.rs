//! Parquet's footer, decoded without Arrow or the Parquet crates: our own
//! bounded Thrift compact decoder, `FileMetaData` with the schema in full
//! and the row groups summed up, and the schema as the SDK's columns; for
//! preview, data pages through the `parquet` crate (pure-Rust codecs).
//! Shared by the Parquet connector (local files) and the S3 connector (byte
//! ranges over HTTP): both hand in bytes or a [`source::Source`] of them.
//!
//! - [`footer`] — the footer from the last bytes of a file ([`footer::from_tail`])
//! - [`meta`] — `FileMetaData` from the footer's bytes
//! - [`schema`] — schema elements as a tree, and as columns
//! - [`thrift`] — Thrift's compact protocol, bounded
//! - [`preview`] — a file's first rows, typed as its columns (the `parquet`
//!   crate's record reader over [`source`], byte ranges from anywhere)
//! - [`partition`] — Hive partition values (and other untyped text) typed as
//!   their inferred column
//! - `arrow` — time zones from the Arrow schema Arrow writers leave in the footer

mod arrow;
mod cells;
pub mod footer;
pub mod meta;
pub mod partition;
pub mod preview;
pub mod schema;
pub mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod thrift;

use std::collections::BTreeMap;

use inlet_sdk::{Column, ConnectorError, data_type};

pub use footer::{Footer, MAX_FOOTER, Tail};
pub use meta::FileMeta;

/// The file's columns: the schema as columns, with the Arrow time zone
/// noted on the timestamps that have one.
pub fn columns(meta: &FileMeta) -> Result<Vec<Column>, ConnectorError> {
    let mut columns = schema::columns(&meta.schema)?;
    add_time_zones(&mut columns, &meta.time_zones);
    Ok(columns)
}

/// Notes the Arrow time zone on timestamp columns that have one.
fn add_time_zones(columns: &mut [Column], zones: &BTreeMap<String, String>) {
    for column in columns {
        let Some(zone) = zones.get(&column.name) else { continue };
        if column.data_type != data_type::TIMESTAMP_TZ && column.data_type != data_type::TIMESTAMP {
            continue;
        }
        let note = format!("Arrow time zone {zone}");
        column.comment = Some(match column.comment.take() {
            Some(comment) => format!("{comment}; {note}"),
            None => note,
        });
    }
}
