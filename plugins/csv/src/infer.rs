//! Column type inference over the sampled values of a CSV file.
//!
//! Each non-null value is classified on its own ([`classify`]); a column's
//! type is the widening ([`Kind::widen`]) of its values' kinds. Only the text
//! decides: no locale, no trimming, so that a reader that trusts the schema
//! can parse every sampled value exactly as it is.

use inlet_sdk::data_type;

/// The largest decimal precision reported; wider numbers are float64.
pub const MAX_DECIMAL_PRECISION: u32 = 38;

/// What one value (or a whole column) looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    /// Digits with a decimal point; the precision and scale of the column
    /// come from [`ColumnStats`], not from here.
    Decimal,
    Float64,
    Boolean,
    Date,
    Timestamp,
    TimestampTz,
    String,
}

impl Kind {
    /// The narrowest kind that holds values of both kinds.
    pub fn widen(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Int64, Decimal) | (Decimal, Int64) => Decimal,
            (Int64 | Decimal, Float64) | (Float64, Int64 | Decimal) => Float64,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            _ => String,
        }
    }
}

/// The digits of a plain number: integer digits (without leading zeros) and
/// digits after the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digits {
    integer: u32,
    scale: u32,
}

/// A classified value, with the digits of plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Classified {
    kind: Kind,
    digits: Option<Digits>,
}

/// Classifies one non-null value.
#[cfg(test)]
fn classify(value: &str) -> Kind {
    classify_value(value).kind
}

fn classify_value(value: &str) -> Classified {
    let plain = |kind| Classified { kind, digits: None };
    if let Some(digits) = plain_number(value) {
        let total = digits.integer + digits.scale;
        if digits.scale == 0 && value.parse::<i64>().is_ok() {
            return Classified { kind: Kind::Int64, digits: Some(digits) };
        }
        // An integer beyond i64 is still exact as decimal(p,0), up to 38 digits.
        if total <= MAX_DECIMAL_PRECISION {
            return Classified { kind: Kind::Decimal, digits: Some(digits) };
        }
        return plain(Kind::Float64);
    }
    if is_float(value) {
        return plain(Kind::Float64);
    }
    if is_boolean(value) {
        return plain(Kind::Boolean);
    }
    plain(classify_temporal(value).unwrap_or(Kind::String))
}

/// `[+-]digits[.digits]`, `[+-].digits` or `[+-]digits.`: the digit counts.
fn plain_number(value: &str) -> Option<Digits> {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer) || !fraction.is_none_or(all_digits) {
        return None;
    }
    if integer.is_empty() && fraction.is_none_or(str::is_empty) {
        return None;
    }
    let significant = integer.trim_start_matches('0').len();
    Some(Digits {
        integer: u32::try_from(significant).unwrap_or(u32::MAX),
        scale: u32::try_from(fraction.map_or(0, str::len)).unwrap_or(u32::MAX),
    })
}

/// A number with an exponent, or infinity / NaN.
fn is_float(value: &str) -> bool {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    if ["inf", "infinity", "nan"].iter().any(|word| unsigned.eq_ignore_ascii_case(word)) {
        return true;
    }
    let Some(at) = unsigned.find(['e', 'E']) else {
        return false;
    };
    let (mantissa, exponent) = (&unsigned[..at], &unsigned[at + 1..]);
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    // The mantissa has no sign of its own: the one sign was stripped above.
    !mantissa.starts_with(['+', '-'])
        && plain_number(mantissa).is_some()
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

fn is_boolean(value: &str) -> bool {
    ["true", "false", "yes", "no", "t", "f"].iter().any(|word| value.eq_ignore_ascii_case(word))
}

/// `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM:SS[.fraction]`, and the latter with
/// `Z` or `±HH:MM`.
fn classify_temporal(value: &str) -> Option<Kind> {
    let bytes = value.as_bytes();
    if bytes.len() < 10 || !value.is_char_boundary(10) || !is_date(&bytes[..10]) {
        return None;
    }
    let rest = &bytes[10..];
    if rest.is_empty() {
        return Some(Kind::Date);
    }
    if !matches!(rest[0], b'T' | b' ') || rest.len() < 9 || !is_time(&rest[1..9]) {
        return None;
    }
    let mut rest = &rest[9..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        rest = &fraction[digits..];
    }
    match rest {
        [] => Some(Kind::Timestamp),
        [b'Z' | b'z'] => Some(Kind::TimestampTz),
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let hours = two_digits(*h1, *h2)?;
            let minutes = two_digits(*m1, *m2)?;
            (hours <= 23 && minutes <= 59).then_some(Kind::TimestampTz)
        }
        _ => None,
    }
}

fn is_date(bytes: &[u8]) -> bool {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *bytes else {
        return false;
    };
    let (Some(century), Some(year), Some(month), Some(day)) =
        (two_digits(y1, y2), two_digits(y3, y4), two_digits(m1, m2), two_digits(d1, d2))
    else {
        return false;
    };
    let year = century * 100 + year;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_time(bytes: &[u8]) -> bool {
    let [h1, h2, b':', m1, m2, b':', s1, s2] = *bytes else {
        return false;
    };
    matches!(
        (two_digits(h1, h2), two_digits(m1, m2), two_digits(s1, s2)),
        (Some(h), Some(m), Some(s)) if h <= 23 && m <= 59 && s <= 59
    )
}

fn two_digits(a: u8, b: u8) -> Option<u32> {
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
}

/// What the sample says about one column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// The widened kind of the non-null values; `None` while all were null.
    kind: Option<Kind>,
    nulls: bool,
    /// The longest non-null value, in characters.
    max_chars: usize,
    /// Over plain numbers: the most integer digits and the largest scale.
    max_integer_digits: u32,
    max_scale: u32,
}

/// The column type the sample leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inferred {
    pub data_type: &'static str,
    pub native_type: String,
    pub nullable: bool,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

impl ColumnStats {
    /// A null value, or a row too short to reach this column.
    pub fn observe_null(&mut self) {
        self.nulls = true;
    }

    pub fn observe(&mut self, value: &str) {
        let classified = classify_value(value);
        if let Some(digits) = classified.digits {
            self.max_integer_digits = self.max_integer_digits.max(digits.integer);
            self.max_scale = self.max_scale.max(digits.scale);
        }
        self.max_chars = self.max_chars.max(value.chars().count());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(values: &[Option<&str>]) -> Inferred {
        let mut stats = ColumnStats::default();
        for value in values {
            match value {
                Some(value) => stats.observe(value),
                None => stats.observe_null(),
            }
        }
        stats.infer()
    }

    #[test]
    fn classifies_single_values() {
        let cases = [
            ("0", Kind::Int64),
            ("-42", Kind::Int64),
            ("+7", Kind::Int64),
            ("9223372036854775807", Kind::Int64),
            ("9223372036854775808", Kind::Decimal),
            ("12.50", Kind::Decimal),
            ("-.5", Kind::Decimal),
            ("3.", Kind::Decimal),
            ("1e10", Kind::Float64),
            ("-2.5E-3", Kind::Float64),
            ("inf", Kind::Float64),
            ("-Infinity", Kind::Float64),
            ("NaN", Kind::Float64),
            ("123456789012345678901234567890123456789", Kind::Float64),
            ("TRUE", Kind::Boolean),
            ("no", Kind::Boolean),
            ("f", Kind::Boolean),
            ("2024-02-29", Kind::Date),
            ("2024-01-05T10:20:30", Kind::Timestamp),
            ("2024-01-05 10:20:30.123456", Kind::Timestamp),
            ("2024-01-05T10:20:30Z", Kind::TimestampTz),
            ("2024-01-05 10:20:30.5+05:30", Kind::TimestampTz),
            ("2024-01-05T10:20:30-08:00", Kind::TimestampTz),
        ];
        for (value, kind) in cases {
            assert_eq!(classify(value), kind, "{value}");
        }
    }

    #[test]
    fn near_misses_are_strings() {
        for value in [
            " 1",
            "1 ",
            "1,000",
            "1.2.3",
            ".",
            "-",
            "+",
            "e5",
            "1e",
            "1e+",
            "--1",
            "+-1e5",
            "0x1F",
            "yes!",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-1-05",
            "2024-01-05T25:00:00",
            "2024-01-05T10:60:00",
            "2024-01-05T10:20",
            "2024-01-05T10:20:30.",
            "2024-01-05T10:20:30.1234567890",
            "2024-01-05T10:20:30+5:30",
            "2024-01-05T10:20:30 Z",
            "2024-01-05X10:20:30",
            "2024-01-05é",
            "ünïcode",
            "",
        ] {
            assert_eq!(classify(value), Kind::String, "{value:?}");
        }
    }

    #[test]
    fn zero_and_one_are_integers_not_booleans() {
        let column = infer(&[Some("0"), Some("1"), Some("1")]);
        assert_eq!(column.data_type, "int64");
        assert_eq!(column.native_type, "integer");
        assert!(!column.nullable);
    }

    #[test]
    fn widening_follows_the_rules() {
        use Kind::*;
        assert_eq!(Int64.widen(Decimal), Decimal);
        assert_eq!(Decimal.widen(Int64), Decimal);
        assert_eq!(Int64.widen(Float64), Float64);
        assert_eq!(Float64.widen(Decimal), Float64);
        assert_eq!(Date.widen(Timestamp), Timestamp);
        assert_eq!(Timestamp.widen(Date), Timestamp);
        assert_eq!(Timestamp.widen(TimestampTz), String);
        assert_eq!(Date.widen(TimestampTz), String);
        assert_eq!(Boolean.widen(Int64), String);
        assert_eq!(Date.widen(Int64), String);
        assert_eq!(String.widen(Int64), String);
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
}
