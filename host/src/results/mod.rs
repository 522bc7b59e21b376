//! Results as clients read them: the formats a preview or query answers in,
//! each encoding the version-neutral batches of [`crate::model`] directly
//! (the vectors crossed the boundary already checked, see
//! `runtime::batches`).
//!
//! - `application/json`: the columns, then every row as an array (one body).
//! - `application/x-ndjson`: a header line with the columns, then one line
//!   per row as an array, streamed as batches arrive.
//! - `text/csv`: a header of column names, then RFC 4180 rows; NULL is an
//!   empty field, an empty string is `""`.
//! - `application/vnd.apache.arrow.stream`: Arrow IPC, a record batch per
//!   connector batch.
//!
//! How a value is written as text (dates, times, binary as base64, NaN) is
//! in `cells`.

pub mod arrow;
mod cells;
pub mod text;

pub use cells::{cell_json, column_json};

/// A response format, chosen by `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
    Arrow,
}

impl Format {
    pub const ALL: [Self; 4] = [Self::Json, Self::Ndjson, Self::Csv, Self::Arrow];

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Arrow => "application/vnd.apache.arrow.stream",
        }
    }

    fn media_type(self) -> &'static str {
        self.content_type().split(';').next().unwrap_or_default()
    }

    /// The first format `accept` lists that we write (by order, ignoring
    /// q-values); JSON for no header or `*/*`. `None` when it lists only
    /// others.
    pub fn from_accept(accept: Option<&str>) -> Option<Self> {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Some(Self::Json) };
        accept.split(',').find_map(|item| {
            let media = item.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            match media.as_str() {
                "*/*" | "application/*" => Some(Self::Json),
                "text/*" => Some(Self::Csv),
                _ => Self::ALL.into_iter().find(|format| format.media_type() == media),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_first_format_we_write() {
        assert_eq!(Format::from_accept(None), Some(Format::Json));
        assert_eq!(Format::from_accept(Some("*/*")), Some(Format::Json));
        assert_eq!(Format::from_accept(Some("text/csv")), Some(Format::Csv));
        assert_eq!(Format::from_accept(Some("application/xml, application/x-ndjson;q=0.5")), Some(Format::Ndjson));
        assert_eq!(Format::from_accept(Some("Application/Vnd.Apache.Arrow.Stream")), Some(Format::Arrow));
        assert_eq!(Format::from_accept(Some("application/xml")), None);
    }
}
