//! The checks a result batch passes before anything above the runtime sees
//! it. A batch comes from a hostile guest, and the encoders (JSON, CSV,
//! Arrow) index its vectors without checking again, so a batch is refused
//! whole — as the connector's protocol error — when its shape is wrong: a
//! column count other than the result's, a vector of another case than the
//! column's type, lengths that disagree with `row-count`, offsets that run
//! backwards, out of range or through a character, more rows than asked,
//! or more bytes than [`limits::BATCH_BYTES`].

use crate::model::{Batch, ByteVector, ColumnValues, ResultColumn, TextVector, Values};

/// The documented sizes of results.
pub mod limits {
    /// Columns of one result.
    pub const COLUMNS: usize = 4096;
    /// One batch, as [`crate::model::Batch::byte_size`] counts it.
    pub const BATCH_BYTES: usize = 16 * 1024 * 1024;
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("a batch has {found} columns, but the result has {expected}")]
    ColumnCount { expected: usize, found: usize },
    #[error("a result has {0} columns; at most {max} are allowed", max = limits::COLUMNS)]
    TooManyColumns(usize),
    #[error("a batch has {found} rows, but at most {asked} were asked for")]
    TooManyRows { asked: u32, found: u32 },
    #[error("a batch of {0} bytes is over the {max} byte cap", max = limits::BATCH_BYTES)]
    TooLarge(usize),
    #[error("column `{column}` is {data_type} but its values are {found:?}")]
    WrongCase { column: String, data_type: String, found: crate::model::ValuesKind },
    #[error("column `{column}` has {found} values for {rows} rows")]
    Length { column: String, rows: u32, found: usize },
    #[error("column `{column}` has a validity list of {found} entries for {rows} rows")]
    Validity { column: String, rows: u32, found: usize },
    #[error("column `{column}` has offsets that do not lay out its data: {reason}")]
    Offsets { column: String, reason: &'static str },
}

/// Checks `batch` against the result's `columns` and the rows asked for.
pub fn check(batch: &Batch, columns: &[ResultColumn], max_rows: u32) -> Result<(), BatchError> {
    if batch.columns.len() != columns.len() {
        return Err(BatchError::ColumnCount { expected: columns.len(), found: batch.columns.len() });
    }
    if batch.row_count > max_rows {
        return Err(BatchError::TooManyRows { asked: max_rows, found: batch.row_count });
    }
    let bytes = batch.byte_size();
    if bytes > limits::BATCH_BYTES {
        return Err(BatchError::TooLarge(bytes));
    }
    for (column, values) in columns.iter().zip(&batch.columns) {
        check_column(column, values, batch.row_count)?;
    }
    Ok(())
}

/// Checks the columns of a result as the connector announced them.
pub fn check_columns(columns: &[ResultColumn]) -> Result<(), BatchError> {
    if columns.len() > limits::COLUMNS {
        return Err(BatchError::TooManyColumns(columns.len()));
    }
    Ok(())
}

fn check_column(column: &ResultColumn, values: &ColumnValues, rows: u32) -> Result<(), BatchError> {
    let name = || column.name.clone();
    if values.values.kind() != column.values_kind() {
        return Err(BatchError::WrongCase {
            column: name(),
            data_type: column.data_type.clone(),
            found: values.values.kind(),
        });
    }
    let offsets_error = |reason| BatchError::Offsets { column: name(), reason };
    match &values.values {
        Values::Decimal(text) | Values::Utf8(text) | Values::Json(text) => {
            check_text(text).map_err(offsets_error)?;
        }
        Values::Binary(bytes) => check_bytes(bytes).map_err(offsets_error)?,
        _ => {}
    }
    let found = values.values.len();
    if found != rows as usize {
        return Err(BatchError::Length { column: name(), rows, found });
    }
    if !values.validity.is_empty() && values.validity.len() != rows as usize {
        return Err(BatchError::Validity { column: name(), rows, found: values.validity.len() });
    }
    Ok(())
}

fn check_offsets(offsets: &[u32], data_len: usize) -> Result<(), &'static str> {
    let Some((&first, _)) = offsets.split_first() else { return Err("there are none (one per value plus one)") };
    if first != 0 {
        return Err("the first is not 0");
    }
    if offsets.windows(2).any(|pair| pair[1] < pair[0]) {
        return Err("they run backwards");
    }
    if offsets.last().map(|&last| last as usize) != Some(data_len) {
        return Err("the last is not the data's length");
    }
    // Arrow's offsets are i32.
    if data_len > i32::MAX as usize {
        return Err("the data is over 2 GiB");
    }
    Ok(())
}

fn check_text(text: &TextVector) -> Result<(), &'static str> {
    check_offsets(&text.offsets, text.data.len())?;
    if text.offsets.iter().any(|&offset| !text.data.is_char_boundary(offset as usize)) {
        return Err("one falls inside a character");
    }
    Ok(())
}

fn check_bytes(bytes: &ByteVector) -> Result<(), &'static str> {
    check_offsets(&bytes.offsets, bytes.data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str) -> ResultColumn {
        ResultColumn::plain(name, data_type)
    }

    fn text(values: &[&str]) -> TextVector {
        let mut vector = TextVector { offsets: vec![0], data: String::new() };
        for value in values {
            vector.data.push_str(value);
            vector.offsets.push(vector.data.len() as u32);
        }
        vector
    }

    fn batch(rows: u32, columns: Vec<Values>) -> Batch {
        Batch {
            row_count: rows,
            columns: columns.into_iter().map(|values| ColumnValues { values, validity: vec![] }).collect(),
        }
    }

    #[test]
    fn a_well_formed_batch_passes() {
        let columns = [column("id", "int64"), column("name", "string"), column("doc", "json")];
        let good = batch(
            2,
            vec![Values::Int64(vec![1, 2]), Values::Utf8(text(&["é", ""])), Values::Json(text(&["{}", "[]"]))],
        );
        assert_eq!(check(&good, &columns, 2), Ok(()));
    }

    #[test]
    fn shape_errors_are_named() {
        let columns = [column("id", "int64"), column("name", "string")];
        let two = |values: Values| batch(2, vec![Values::Int64(vec![1, 2]), values]);
        assert!(matches!(
            check(&batch(1, vec![Values::Int64(vec![1])]), &columns, 5),
            Err(BatchError::ColumnCount { .. })
        ));
        assert!(matches!(check(&two(Values::Int32(vec![1, 2])), &columns, 5), Err(BatchError::WrongCase { .. })));
        assert!(matches!(check(&two(Values::Utf8(text(&["a"]))), &columns, 5), Err(BatchError::Length { .. })));
        assert!(matches!(
            check(&two(Values::Utf8(text(&["a", "b"]))), &columns, 1),
            Err(BatchError::TooManyRows { .. })
        ));
        let inside = TextVector { offsets: vec![0, 1, 2], data: "é".into() };
        assert!(matches!(check(&two(Values::Utf8(inside)), &columns, 5), Err(BatchError::Offsets { .. })));
        let backwards = TextVector { offsets: vec![0, 2, 1], data: "ab".into() };
        assert!(matches!(check(&two(Values::Utf8(backwards)), &columns, 5), Err(BatchError::Offsets { .. })));
        let past_end = TextVector { offsets: vec![0, 1, 9], data: "ab".into() };
        assert!(matches!(check(&two(Values::Utf8(past_end)), &columns, 5), Err(BatchError::Offsets { .. })));
        let mut short_validity = two(Values::Utf8(text(&["a", "b"])));
        short_validity.columns[1].validity = vec![true];
        assert!(matches!(check(&short_validity, &columns, 5), Err(BatchError::Validity { .. })));
    }

    #[test]
    fn a_batch_over_the_byte_cap_is_refused() {
        let columns = [column("blob", "binary")];
        let data = vec![0u8; limits::BATCH_BYTES + 1];
        let big = ByteVector { offsets: vec![0, data.len() as u32], data };
        assert!(matches!(check(&batch(1, vec![Values::Binary(big)]), &columns, 1), Err(BatchError::TooLarge(_))));
    }
}
