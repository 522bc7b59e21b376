//! What the file connectors share to preview an object: the object named as
//! `discover` named it, the columns it described as result columns (those
//! asked for, in the order asked), and the error for a value past the sample
//! that does not fit its column's type.

use inlet_sdk::rows::result_column;
use inlet_sdk::{Column, ConnectorError, PreviewRequest, ResultColumn, TimeUnit, data_type};

/// `not_found` unless the request names `schema`.`object`.
pub fn check_object(request: &PreviewRequest, schema: &str, object: &str) -> Result<(), ConnectorError> {
    if request.schema != schema {
        return Err(ConnectorError::not_found(format!("no schema `{}` (the source has `{schema}`)", request.schema)));
    }
    if request.object != object {
        return Err(ConnectorError::not_found(format!("no object `{}` in `{schema}`", request.object)));
    }
    Ok(())
}

/// The positions in `columns` of the columns asked for, in the order asked
/// (all of them when none are); an unknown name is `not_found`.
pub fn select(columns: &[Column], requested: &[String], object: &str) -> Result<Vec<usize>, ConnectorError> {
    if requested.is_empty() {
        return Ok((0..columns.len()).collect());
    }
    requested
        .iter()
        .map(|name| {
            columns
                .iter()
                .position(|column| &column.name == name)
                .ok_or_else(|| ConnectorError::not_found(format!("no column `{name}` in `{object}`")))
        })
        .collect()
}

/// The result column of a discovered column: the same types, precision and
/// scale; times and timestamps in microseconds ([`crate::parse`]).
pub fn result_column_of(column: &Column) -> ResultColumn {
    let mut result = result_column(column.name.clone(), &column.data_type, column.native_type.clone());
    result.nullable = column.nullable;
    (result.precision, result.scale) = (column.precision, column.scale);
    if matches!(column.data_type.as_str(), data_type::TIME | data_type::TIMESTAMP | data_type::TIMESTAMP_TZ) {
        result.time_unit = Some(TimeUnit::Microsecond);
    }
    result
}

/// Why a value past the sample does not fit the type the sample gave its
/// column; the connector says where, in a `protocol` error (never a silent
/// NULL).
pub fn misfit(column: &str, value: &str, data_type: &str, sampled: u64) -> String {
    let shown: String = value.chars().take(40).collect();
    let more = if shown.len() < value.len() { "…" } else { "" };
    format!(
        "column `{column}`: {shown:?}{more} is not a {data_type}, the type inferred from the first {sampled} \
         rows; raise `sample_rows` to type the column from more rows"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;
    use inlet_sdk::schema::ColumnBuilder;

    fn request(schema: &str, object: &str) -> PreviewRequest {
        PreviewRequest { schema: schema.into(), object: object.into(), columns: vec![], limit: 10 }
    }

    #[test]
    fn objects_and_columns_are_found_or_not_found() {
        assert!(check_object(&request("default", "t"), "default", "t").is_ok());
        for (schema, object) in [("public", "t"), ("default", "u")] {
            assert_eq!(check_object(&request(schema, object), "default", "t").unwrap_err().kind, ErrorKind::NotFound);
        }
        let columns: Vec<Column> =
            ["a", "b", "c"].iter().map(|name| ColumnBuilder::new(*name, 1, "int64", "integer").build()).collect();
        assert_eq!(select(&columns, &[], "t").unwrap(), [0, 1, 2]);
        assert_eq!(select(&columns, &["c".into(), "a".into()], "t").unwrap(), [2, 0]);
        let error = select(&columns, &["a".into(), "z".into()], "t").unwrap_err();
        assert_eq!((error.kind, error.message.as_str()), (ErrorKind::NotFound, "no column `z` in `t`"));
    }

    #[test]
    fn result_columns_keep_the_discovered_types() {
        let decimal = ColumnBuilder::new("d", 1, "decimal", "decimal(5,2)")
            .nullable(false)
            .precision_scale(Some(5), Some(2))
            .build();
        let result = result_column_of(&decimal);
        assert_eq!((result.precision, result.scale, result.nullable), (Some(5), Some(2), false));
        let stamp = result_column_of(&ColumnBuilder::new("t", 2, "timestamp-tz", "timestamp").nullable(true).build());
        assert_eq!((stamp.time_unit, stamp.nullable), (Some(TimeUnit::Microsecond), true));
        assert_eq!(result_column_of(&decimal).time_unit, None);
    }

    #[test]
    fn misfits_say_where_and_why() {
        let message = misfit("n", "abc", "int64", 1000);
        assert!(message.starts_with("column `n`: \"abc\" is not a int64, the type inferred from the first 1000 rows"));
        assert!(misfit("n", &"x".repeat(50), "int64", 1).contains(&format!("{:?}…", "x".repeat(40))));
    }
}
