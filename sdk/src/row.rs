//! Reading a row of a SQL server's text result (PostgreSQL's simple query,
//! MySQL's text protocol): each cell text or NULL, read by its position.
//!
//! A catalog query's cells are known in advance: a missing one or one that
//! does not parse means the server answered something other than asked, so
//! the errors are `protocol` errors.

use std::str::FromStr;

use crate::ConnectorError;

/// The cell at `index`, `None` when it is NULL or the row is shorter.
pub fn optional(row: &[Option<String>], index: usize) -> Option<&str> {
    row.get(index).and_then(|cell| cell.as_deref())
}

/// The cell at `index`, which must not be NULL.
pub fn text(row: &[Option<String>], index: usize) -> Result<&str, ConnectorError> {
    optional(row, index).ok_or_else(|| ConnectorError::protocol(format!("column {index} of a catalog row is missing")))
}

/// The cell at `index` parsed as a number (any `FromStr`, e.g. `u32`, `i64`).
pub fn number<T: FromStr>(row: &[Option<String>], index: usize) -> Result<T, ConnectorError> {
    let value = text(row, index)?;
    value
        .parse()
        .map_err(|_| ConnectorError::protocol(format!("catalog value `{value}` is not a number of the expected size")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn cells_are_read_by_position() {
        let row = vec![Some("public".to_owned()), None, Some("42".to_owned()), Some("-1".to_owned())];
        assert_eq!(optional(&row, 0), Some("public"));
        assert_eq!((optional(&row, 1), optional(&row, 9)), (None, None));
        assert_eq!(text(&row, 0).unwrap(), "public");
        assert_eq!(number::<u32>(&row, 2).unwrap(), 42);
        let missing = text(&row, 1).unwrap_err();
        assert_eq!(
            (missing.kind, missing.message.as_str()),
            (ErrorKind::Protocol, "column 1 of a catalog row is missing")
        );
        let negative = number::<u32>(&row, 3).unwrap_err();
        assert_eq!(negative.kind, ErrorKind::Protocol);
        assert!(negative.message.contains("`-1`"), "{}", negative.message);
    }
}
