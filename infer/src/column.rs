//! The per-column accumulator: values arrive one by one, the column's kind
//! widens, and [`ColumnStats::infer`] turns what was seen into a column type.

use inlet_sdk::data_type;

use crate::Kind;
use crate::classify::{self, Classified, MAX_DECIMAL_PRECISION};

/// What the sample says about one column. A few numbers, whatever the
/// number of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// The widened kind of the non-null values; `None` while all were null.
    kind: Option<Kind>,
    nulls: bool,
    /// The longest non-null value, in characters.
    max_chars: usize,
    /// Over exact numbers: the most integer digits and the largest scale.
    max_integer_digits: u32,
    max_scale: u32,
}

/// The column type the sample leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inferred {
    /// The widened kind; `String` for a column that was null throughout.
    pub kind: Kind,
    /// The portable name (`inlet_sdk::data_type`).
    pub data_type: &'static str,
    /// A SQL-like spelling (`integer`, `decimal(p,s)`, `text`, …); a
    /// connector whose format has its own type names may replace it.
    pub native_type: String,
    pub nullable: bool,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

impl ColumnStats {
    /// A null value, or a row that does not reach this column.
    pub fn observe_null(&mut self) {
        self.nulls = true;
    }

    /// Untyped text (a CSV field), classified by [`classify::classify_text`].
    pub fn observe_text(&mut self, value: &str) {
        self.add(classify::text(value), value.chars().count());
    }

    /// A value typed as a string (a JSON string): a string, date or timestamp.
    pub fn observe_string(&mut self, value: &str) {
        let kind = classify::classify_string(value);
        self.add(Classified { kind, digits: None }, value.chars().count());
    }

    pub fn observe_boolean(&mut self, value: bool) {
        let chars = if value { 4 } else { 5 };
        self.add(Classified { kind: Kind::Boolean, digits: None }, chars);
    }

    /// A typed integer (wide enough for JSON's `u64` and `i64`).
    pub fn observe_integer(&mut self, value: i128) {
        let classified = classify::integer(value);
        let sign = usize::from(value < 0);
        let digits = classified.digits.map_or(0, |d| d.integer.max(1) as usize);
        self.add(classified, sign + digits);
    }

    /// A typed binary floating-point number.
    pub fn observe_float(&mut self, value: f64) {
        self.add(Classified { kind: Kind::Float64, digits: None }, display_len(value));
    }

    /// The widened kind so far; `None` while every value was null.
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }

    /// Whether a null was observed.
    pub fn has_nulls(&self) -> bool {
        self.nulls
    }

    fn add(&mut self, classified: Classified, chars: usize) {
        if let Some(digits) = classified.digits {
            self.max_integer_digits = self.max_integer_digits.max(digits.integer);
            self.max_scale = self.max_scale.max(digits.scale);
        }
        self.max_chars = self.max_chars.max(chars);
        self.kind = Some(match self.kind {
            None => classified.kind,
            Some(kind) => kind.widen(classified.kind),
        });
    }

    pub fn infer(&self) -> Inferred {
        let mut kind = self.kind.unwrap_or(Kind::String);
        let precision = (self.max_integer_digits + self.max_scale).max(1);
        // Integers and decimals that together need more than 38 digits fit
        // no decimal type.
        if kind == Kind::Decimal && precision > MAX_DECIMAL_PRECISION {
            kind = Kind::Float64;
        }
        let simple = |data_type, native: &str| Inferred {
            kind,
            data_type,
            native_type: native.to_owned(),
            nullable: self.nulls,
            max_length: None,
            precision: None,
            scale: None,
        };
        match kind {
            Kind::Int64 => simple(data_type::INT64, "integer"),
            Kind::Decimal => Inferred {
                precision: Some(precision),
                scale: Some(self.max_scale),
                ..simple(data_type::DECIMAL, &format!("decimal({precision},{})", self.max_scale))
            },
            Kind::Float64 => simple(data_type::FLOAT64, "double"),
            Kind::Boolean => simple(data_type::BOOLEAN, "boolean"),
            Kind::Date => simple(data_type::DATE, "date"),
            Kind::Timestamp => simple(data_type::TIMESTAMP, "timestamp"),
            Kind::TimestampTz => simple(data_type::TIMESTAMP_TZ, "timestamp with time zone"),
            Kind::String => Inferred {
                // Unknown for a column that was null throughout.
                max_length: self.kind.map(|_| u32::try_from(self.max_chars).unwrap_or(u32::MAX)),
                // A column with no value at all says nothing: keep it nullable.
                nullable: self.nulls || self.kind.is_none(),
                ..simple(data_type::STRING, "text")
            },
        }
    }
}

/// The length of `value` as Rust displays it, without allocating.
fn display_len(value: f64) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.chars().count();
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail.
    let _ = std::fmt::write(&mut count, format_args!("{value}"));
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(values: &[Option<&str>]) -> Inferred {
        let mut stats = ColumnStats::default();
        for value in values {
            match value {
                Some(value) => stats.observe_text(value),
                None => stats.observe_null(),
            }
        }
        stats.infer()
    }

    #[test]
    fn zero_and_one_are_integers_not_booleans() {
        let column = infer(&[Some("0"), Some("1"), Some("1")]);
        assert_eq!(column.data_type, "int64");
        assert_eq!(column.native_type, "integer");
        assert!(!column.nullable);
    }

    #[test]
    fn decimals_report_precision_and_scale_over_the_column() {
        let column = infer(&[Some("12.5"), Some("-1234"), Some("0.125"), None]);
        assert_eq!(column.data_type, "decimal");
        assert_eq!(column.native_type, "decimal(7,3)");
        assert_eq!((column.precision, column.scale), (Some(7), Some(3)));
        assert!(column.nullable);
        assert_eq!(column.max_length, None);
        let small = infer(&[Some("0.00")]);
        assert_eq!((small.precision, small.scale), (Some(2), Some(2)));
    }

    #[test]
    fn decimals_wider_than_38_digits_become_float64() {
        let column = infer(&[Some("12345678901234567890123456789.5"), Some("0.0000000001")]);
        assert_eq!(column.data_type, "float64");
        assert_eq!(column.native_type, "double");
        assert_eq!(column.precision, None);
    }

    #[test]
    fn numbers_mixed_with_floats_are_float64() {
        let column = infer(&[Some("1"), Some("2.5"), Some("1e3")]);
        assert_eq!(column.data_type, "float64");
    }

    #[test]
    fn dates_mixed_with_timestamps_are_timestamps() {
        let column = infer(&[Some("2024-01-01"), Some("2024-01-02 03:04:05")]);
        assert_eq!(column.data_type, "timestamp");
        assert_eq!(column.native_type, "timestamp");
    }

    #[test]
    fn strings_report_the_longest_value_in_characters() {
        let column = infer(&[Some("42"), Some("héllo wörld"), None, Some("x")]);
        assert_eq!(column.data_type, "string");
        assert_eq!(column.native_type, "text");
        assert_eq!(column.max_length, Some(11));
        assert!(column.nullable);
    }

    #[test]
    fn an_all_null_column_is_a_nullable_string() {
        let column = infer(&[None, None]);
        assert_eq!(column.data_type, "string");
        assert!(column.nullable);
        assert_eq!(column.max_length, None);
        let empty = infer(&[]);
        assert_eq!(empty.data_type, "string");
        assert!(empty.nullable);
    }

    #[test]
    fn typed_values_widen_like_text() {
        let mut stats = ColumnStats::default();
        stats.observe_integer(3);
        stats.observe_float(2.5);
        assert_eq!(stats.infer().data_type, "float64");
        stats.observe_string("abc");
        let column = stats.infer();
        assert_eq!((column.kind, column.data_type), (Kind::String, "string"));
        // "2.5" and "abc" are 3 characters, the integer 1.
        assert_eq!(column.max_length, Some(3));
        assert!(!column.nullable);
    }

    #[test]
    fn typed_integers_beyond_i64_are_decimals_with_their_digits() {
        let mut stats = ColumnStats::default();
        stats.observe_integer(i128::from(u64::MAX));
        stats.observe_integer(-5);
        let column = stats.infer();
        assert_eq!(column.native_type, "decimal(20,0)");
        assert_eq!((column.precision, column.scale), (Some(20), Some(0)));
    }

    #[test]
    fn typed_strings_and_booleans_keep_their_kind() {
        let mut dates = ColumnStats::default();
        dates.observe_string("2024-01-01");
        dates.observe_string("2024-01-02T03:04:05");
        assert_eq!(dates.infer().data_type, "timestamp");
        let mut flags = ColumnStats::default();
        flags.observe_boolean(true);
        flags.observe_null();
        let column = flags.infer();
        assert_eq!((column.data_type, column.nullable), ("boolean", true));
        flags.observe_string("false");
        assert_eq!(flags.infer().max_length, Some(5));
    }

    #[test]
    fn float_lengths_are_counted_as_displayed() {
        assert_eq!(display_len(2.5), 3);
        assert_eq!(display_len(-0.125), 6);
        assert_eq!(display_len(1e3), 4);
    }
}
