//! Values read back in the type inference gave their column, for previews:
//! the text [`classify`](crate::classify) recognised as a kind, parsed into
//! the SDK's [`Value`] of the column's portable data type.
//!
//! Times and timestamps are in microseconds (the result columns say so);
//! digits past the microsecond (up to 9 are recognised) are truncated.

use inlet_sdk::data_type;
use inlet_sdk::rows::Value;

use crate::Kind;
use crate::classify::classify_string;

/// `text` as a value of a column of `data_type` (`scale` for decimals), or
/// `None` when it is not one (a value past the sample that does not fit the
/// type the sample gave). Text columns of any other type take it as it is;
/// JSON columns are the caller's (text is not JSON).
pub fn text_value(data_type: &str, text: &str, scale: Option<u32>) -> Option<Value> {
    match data_type {
        data_type::INT64 => text.parse().ok().map(Value::Int64),
        data_type::DECIMAL => decimal_text(text, scale.unwrap_or(0)).map(Value::Decimal),
        data_type::FLOAT64 => float(text).map(Value::Float64),
        data_type::BOOLEAN => boolean(text).map(Value::Bool),
        data_type::DATE => date_days(text).map(Value::Date),
        data_type::TIMESTAMP => timestamp_micros(text, false).map(Value::Timestamp),
        data_type::TIMESTAMP_TZ => timestamp_micros(text, true).map(Value::Timestamp),
        data_type::TIME => time_micros(text).map(Value::Time),
        data_type::JSON | data_type::ARRAY | data_type::MAP | data_type::STRUCT => None,
        _ => Some(Value::Text(text.to_owned())),
    }
}

/// A number as `classify` reads one: with an exponent, `inf` or `nan` too.
fn float(text: &str) -> Option<f64> {
    // Rust's parser also takes these spellings; `classify` has the final say
    // on what is a number, so that `infinity` and `1e5` agree with it.
    match crate::classify::classify_text(text) {
        Kind::Int64 | Kind::Decimal | Kind::Float64 => text.parse().ok(),
        _ => None,
    }
}

fn boolean(text: &str) -> Option<bool> {
    let is = |words: [&str; 3]| words.iter().any(|word| text.eq_ignore_ascii_case(word));
    if is(["true", "yes", "t"]) {
        Some(true)
    } else if is(["false", "no", "f"]) {
        Some(false)
    } else {
        None
    }
}

/// A plain number (`[+-]digits[.digits]`) written at `scale` digits after
/// the point, without a `+` or leading zeros: `+012.5` at scale 2 is
/// `12.50`. Digits past `scale` are kept (nothing is rounded away).
pub fn decimal_text(text: &str, scale: u32) -> Option<String> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || !digits(fraction) || (integer.is_empty() && fraction.is_empty()) {
        return None;
    }
    let integer = integer.trim_start_matches('0');
    let zero = integer.is_empty() && fraction.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(text.len() + scale as usize + 2);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(if integer.is_empty() { "0" } else { integer });
    let width = (scale as usize).max(fraction.len());
    if width > 0 {
        out.push('.');
        out.push_str(fraction);
        out.extend(std::iter::repeat_n('0', width - fraction.len()));
    }
    Some(out)
}

/// `YYYY-MM-DD` as days since 1970-01-01.
pub fn date_days(text: &str) -> Option<i32> {
    if classify_string(text) != Kind::Date {
        return None;
    }
    let days = ymd_days(text.as_bytes())?;
    i32::try_from(days).ok()
}

/// A date, or a date and time, as microseconds since 1970-01-01T00:00:00:
/// without a zone for `zoned == false` (a date is its midnight), with `Z`
/// or `±HH:MM` (converted to UTC) for `zoned == true`.
pub fn timestamp_micros(text: &str, zoned: bool) -> Option<i64> {
    let kind = classify_string(text);
    let fits = if zoned { kind == Kind::TimestampTz } else { matches!(kind, Kind::Date | Kind::Timestamp) };
    if !fits {
        return None;
    }
    let bytes = text.as_bytes();
    let days = ymd_days(bytes)?;
    if kind == Kind::Date {
        return days.checked_mul(MICROS_PER_DAY);
    }
    // `classify` checked the layout: `T` or a space at 10, `HH:MM:SS` after.
    let (of_day, rest) = clock_micros(&text[11..])?;
    let offset_minutes = match rest.as_bytes() {
        [] | [b'Z' | b'z'] => 0,
        [sign, h1, h2, b':', m1, m2] => {
            let minutes = i64::from(number(&[*h1, *h2])? * 60 + number(&[*m1, *m2])?);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    days.checked_mul(MICROS_PER_DAY)?.checked_add(of_day)?.checked_sub(offset_minutes * 60 * 1_000_000)
}

/// `HH:MM:SS[.fraction]` as microseconds since midnight.
pub fn time_micros(text: &str) -> Option<i64> {
    match clock_micros(text)? {
        (micros, "") => Some(micros),
        _ => None,
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The clock at the start of `text` and what follows it.
fn clock_micros(text: &str) -> Option<(i64, &str)> {
    let bytes = text.as_bytes();
    let [h1, h2, b':', m1, m2, b':', s1, s2, ..] = *bytes else { return None };
    let (hours, minutes, seconds) = (number(&[h1, h2])?, number(&[m1, m2])?, number(&[s1, s2])?);
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let mut micros = i64::from((hours * 60 + minutes) * 60 + seconds) * 1_000_000;
    let mut rest = &text[8..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Microseconds: the first six digits, padded; later ones truncated.
        let kept = &fraction[..digits.min(6)];
        let scaled = kept.parse::<i64>().ok()? * 10_i64.pow(6 - kept.len() as u32);
        micros += scaled;
        rest = &fraction[digits..];
    }
    Some((micros, rest))
}

fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
}

/// Days since 1970-01-01 of the `YYYY-MM-DD` at the start of `bytes`
/// (already checked to be a real date).
fn ymd_days(bytes: &[u8]) -> Option<i64> {
    let year = i64::from(number(bytes.get(0..4)?)?);
    let month = i64::from(number(bytes.get(5..7)?)?);
    let day = i64::from(number(bytes.get(8..10)?)?);
    // Counted from 0000-03-01, so that a leap day ends its year.
    let (year, month) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days from 0000-03-01 to 1970-01-01.
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_parse_as_classified() {
        assert_eq!(text_value("int64", "+7", None), Some(Value::Int64(7)));
        assert_eq!(text_value("int64", "1.5", None), None);
        assert_eq!(text_value("float64", "-2.5E-3", None), Some(Value::Float64(-0.0025)));
        assert!(matches!(text_value("float64", "NaN", None), Some(Value::Float64(x)) if x.is_nan()));
        assert_eq!(text_value("float64", "-Infinity", None), Some(Value::Float64(f64::NEG_INFINITY)));
        assert_eq!(text_value("float64", "abc", None), None);
        assert_eq!(text_value("boolean", "Yes", None), Some(Value::Bool(true)));
        assert_eq!(text_value("boolean", "F", None), Some(Value::Bool(false)));
        assert_eq!(text_value("boolean", "1", None), None);
        assert_eq!(text_value("string", " 1 ", None), Some(Value::Text(" 1 ".into())));
        assert_eq!(text_value("json", "[]", None), None);
    }

    #[test]
    fn decimals_are_written_at_the_column_scale() {
        let cases = [
            ("12.5", 2, "12.50"),
            ("+0012.5", 2, "12.50"),
            ("-.5", 2, "-0.50"),
            ("3.", 1, "3.0"),
            ("-0.00", 2, "0.00"),
            ("7", 0, "7"),
            ("1.2345", 2, "1.2345"),
            ("18446744073709551615", 0, "18446744073709551615"),
        ];
        for (text, scale, expected) in cases {
            assert_eq!(decimal_text(text, scale).as_deref(), Some(expected), "{text}");
        }
        for text in ["", ".", "1e5", "1,5", "--1"] {
            assert_eq!(decimal_text(text, 2), None, "{text}");
        }
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(date_days("1970-01-01"), Some(0));
        assert_eq!(date_days("2024-02-29"), Some(19_782));
        assert_eq!(date_days("1969-12-31"), Some(-1));
        assert_eq!(date_days("2000-03-01"), Some(11_017));
        assert_eq!(date_days("0001-01-01"), Some(-719_162));
        assert_eq!(date_days("2023-02-29"), None);
        assert_eq!(date_days("2024-01-05T00:00:00"), None);
    }

    #[test]
    fn timestamps_are_utc_microseconds() {
        let noon = 19_727 * MICROS_PER_DAY + 12 * 3_600_000_000;
        assert_eq!(timestamp_micros("2024-01-05 12:00:00", false), Some(noon));
        assert_eq!(timestamp_micros("2024-01-05", false), Some(19_727 * MICROS_PER_DAY));
        assert_eq!(timestamp_micros("2024-01-05T12:00:00.1234567", false), Some(noon + 123_456));
        assert_eq!(timestamp_micros("2024-01-05T12:00:00Z", false), None);
        assert_eq!(timestamp_micros("2024-01-05T12:00:00Z", true), Some(noon));
        assert_eq!(timestamp_micros("2024-01-05T14:30:00+02:30", true), Some(noon));
        assert_eq!(timestamp_micros("2024-01-05T04:00:00.5-08:00", true), Some(noon + 500_000));
        assert_eq!(timestamp_micros("2024-01-05T12:00:00", true), None);
        assert_eq!(time_micros("10:20:30.25"), Some(37_230_250_000));
        assert_eq!(time_micros("24:00:00"), None);
        assert_eq!(time_micros("10:20"), None);
    }
}
