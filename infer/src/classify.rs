//! Classifying one non-null value.
//!
//! [`classify_text`] reads untyped text (a CSV field): numbers, booleans,
//! dates and timestamps are recognised exactly as written. [`classify_string`]
//! reads a value that is already typed as a string (a JSON string): only its
//! date or time format can refine it, since `"42"` in JSON is a string.

use crate::Kind;

/// The largest decimal precision reported; wider numbers are float64.
pub const MAX_DECIMAL_PRECISION: u32 = 38;

/// The digits of a plain number: integer digits (without leading zeros) and
/// digits after the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digits {
    pub integer: u32,
    pub scale: u32,
}

/// A classified value, with the digits of plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Classified {
    pub kind: Kind,
    pub digits: Option<Digits>,
}

/// The kind of one non-null text value.
pub fn classify_text(value: &str) -> Kind {
    text(value).kind
}

/// The kind of a value typed as a string: a date or timestamp when it is
/// written as one, otherwise a string.
pub fn classify_string(value: &str) -> Kind {
    classify_temporal(value).unwrap_or(Kind::String)
}

pub(crate) fn text(value: &str) -> Classified {
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
    plain(classify_string(value))
}

/// A typed integer: `int64` when it fits, else an exact `decimal(p,0)`
/// (a JSON parser hands out integers up to `u64::MAX`).
pub(crate) fn integer(value: i128) -> Classified {
    let digits = Digits { integer: integer_digits(value.unsigned_abs()), scale: 0 };
    let kind = if i64::try_from(value).is_ok() { Kind::Int64 } else { Kind::Decimal };
    Classified { kind, digits: Some(digits) }
}

/// Significant decimal digits of `value` (0 for zero, as for text `0`).
fn integer_digits(mut value: u128) -> u32 {
    let mut digits = 0;
    while value > 0 {
        value /= 10;
        digits += 1;
    }
    digits
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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(classify_text(value), kind, "{value}");
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
            assert_eq!(classify_text(value), Kind::String, "{value:?}");
        }
    }

    #[test]
    fn typed_strings_are_refined_only_by_their_date_format() {
        assert_eq!(classify_string("42"), Kind::String);
        assert_eq!(classify_string("true"), Kind::String);
        assert_eq!(classify_string("1.5"), Kind::String);
        assert_eq!(classify_string("2024-02-29"), Kind::Date);
        assert_eq!(classify_string("2024-01-05T10:20:30"), Kind::Timestamp);
        assert_eq!(classify_string("2024-01-05T10:20:30Z"), Kind::TimestampTz);
        assert_eq!(classify_string("2023-02-29"), Kind::String);
    }

    #[test]
    fn typed_integers_beyond_i64_are_exact_decimals() {
        assert_eq!(integer(0), Classified { kind: Kind::Int64, digits: Some(Digits { integer: 0, scale: 0 }) });
        assert_eq!(integer(-1234).digits, Some(Digits { integer: 4, scale: 0 }));
        assert_eq!(integer(i128::from(i64::MIN)).kind, Kind::Int64);
        let big = integer(i128::from(u64::MAX));
        assert_eq!(big.kind, Kind::Decimal);
        assert_eq!(big.digits, Some(Digits { integer: 20, scale: 0 }));
    }
}
