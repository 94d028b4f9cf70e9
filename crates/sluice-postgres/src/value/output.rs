//! Renders values the way PostgreSQL's output functions print them under the session settings in
//! the module docs, so binary datums of text-kept types (range bounds, geometric coordinates)
//! become exactly the text the server would have sent.

use std::fmt::Write as _;

use sluice_core::time::{MICROS_PER_DAY, civil_from_days};
use sluice_core::{ColumnType, Date, Numeric, Timestamp, TypeKind, Value};

use super::ValueErrorKind;

// Writing to a String cannot fail, so `write!` results are ignored throughout.

/// `float8out` with `extra_float_digits > 0`: the shortest digits that round-trip, in fixed notation
/// when the decimal exponent is in `-4..15`, else as `d.ddde±XX`.
pub(super) fn float8(out: &mut String, v: f64) {
    if v.is_finite() {
        shortest(out, &format!("{v:e}"), 15);
    } else {
        special_float(out, v.is_nan(), v.is_sign_negative());
    }
}

/// `float4out`: like [`float8`] with fixed notation for decimal exponents in `-4..6`.
pub(super) fn float4(out: &mut String, v: f32) {
    if v.is_finite() {
        shortest(out, &format!("{v:e}"), 6);
    } else {
        special_float(out, v.is_nan(), v.is_sign_negative());
    }
}

fn special_float(out: &mut String, nan: bool, negative: bool) {
    out.push_str(match (nan, negative) {
        (true, _) => "NaN",
        (false, false) => "Infinity",
        (false, true) => "-Infinity",
    });
}

/// Reformats Rust's shortest round-trip scientific form (`-1.25e-7`) in PostgreSQL's layout.
fn shortest(out: &mut String, sci: &str, fixed_below: i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    if (-4..fixed_below).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                let (int, frac) = digits.split_at(int_len);
                let _ = write!(out, "{int}.{frac}");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        let (first, rest) = digits.split_at(digits.len().min(1));
        out.push_str(first);
        if !rest.is_empty() {
            let _ = write!(out, ".{rest}");
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    }
}

/// `YYYY-MM-DD`, with ` BC` before year 1 (years below 1000 zero-padded to four digits).
fn ymd(out: &mut String, days: i64) -> bool {
    let (y, m, d) = civil_from_days(days);
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    let _ = write!(out, "{year:04}-{m:02}-{d:02}");
    bc
}

pub(super) fn date(out: &mut String, d: Date) {
    match d {
        Date::Days(days) => {
            if ymd(out, days.into()) {
                out.push_str(" BC");
            }
        }
        Date::PositiveInfinity => out.push_str("infinity"),
        Date::NegativeInfinity => out.push_str("-infinity"),
    }
}

/// `HH:MM:SS[.ffffff]` with trailing fraction zeros dropped.
pub(super) fn time(out: &mut String, micros: i64) {
    let secs = micros / 1_000_000;
    let _ = write!(out, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    fraction(out, micros.unsigned_abs() % 1_000_000);
}

fn fraction(out: &mut String, micros: u64) {
    if micros != 0 {
        let f = format!("{micros:06}");
        let _ = write!(out, ".{}", f.trim_end_matches('0'));
    }
}

/// `+HH`, `+HH:MM` or `+HH:MM:SS` (east of UTC positive).
pub(super) fn zone_offset(out: &mut String, east_seconds: i32) {
    let sign = if east_seconds >= 0 { '+' } else { '-' };
    let s = east_seconds.unsigned_abs();
    let _ = write!(out, "{sign}{:02}", s / 3600);
    if !s.is_multiple_of(60) {
        let _ = write!(out, ":{:02}:{:02}", s / 60 % 60, s % 60);
    } else if !(s / 60).is_multiple_of(60) {
        let _ = write!(out, ":{:02}", s / 60 % 60);
    }
}

/// ISO timestamp; `timestamptz` values are already UTC and print with `+00` (TimeZone=UTC).
pub(super) fn timestamp(out: &mut String, t: Timestamp, with_zone: bool) {
    match t {
        Timestamp::Micros(m) => {
            let bc = ymd(out, m.div_euclid(MICROS_PER_DAY));
            out.push(' ');
            time(out, m.rem_euclid(MICROS_PER_DAY));
            if with_zone {
                out.push_str("+00");
            }
            if bc {
                out.push_str(" BC");
            }
        }
        Timestamp::PositiveInfinity => out.push_str("infinity"),
        Timestamp::NegativeInfinity => out.push_str("-infinity"),
    }
}

/// `IntervalStyle=postgres`: `1 year 2 mons -3 days +04:05:06.78`.
pub(super) fn interval(out: &mut String, months: i32, days: i32, micros: i64) {
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [(months / 12, "year"), (months % 12, "mon"), (days, "day")] {
        if value == 0 {
            continue;
        }
        let space = if is_zero { "" } else { " " };
        let plus = if is_before && value > 0 { "+" } else { "" };
        let plural = if value != 1 { "s" } else { "" };
        let _ = write!(out, "{space}{plus}{value} {unit}{plural}");
        is_before = value < 0;
        is_zero = false;
    }
    if is_zero || micros != 0 {
        if !is_zero {
            out.push(' ');
        }
        if micros < 0 {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        let abs = micros.unsigned_abs();
        let secs = abs / 1_000_000;
        let _ = write!(out, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        fraction(out, abs % 1_000_000);
    }
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// A double-quoted string with `"` and `\` backslash-escaped (hstore and array element quoting).
fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Renders any decoded value as its type's text output. `ty` supplies what the value alone does
/// not say (array delimiters, element types).
pub(super) fn value(out: &mut String, ty: &ColumnType, v: &Value) -> Result<(), ValueErrorKind> {
    match v {
        Value::Null | Value::UnchangedToast => {
            return Err(ValueErrorKind::Malformed("a missing value where one is required"));
        }
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Int16(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Int32(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float32(f) => float4(out, *f),
        Value::Float64(f) => float8(out, *f),
        Value::Numeric(n) => out.push_str(match n {
            Numeric::Finite(d) => d.as_str(),
            Numeric::NaN => "NaN",
            Numeric::PositiveInfinity => "Infinity",
            Numeric::NegativeInfinity => "-Infinity",
        }),
        Value::Text(s) => out.push_str(s),
        Value::Bytes(b) => {
            out.push_str("\\x");
            hex(out, b);
        }
        Value::Bits { len, data } => {
            for i in 0..*len as usize {
                let bit = data.get(i / 8).is_some_and(|byte| byte & (0x80 >> (i % 8)) != 0);
                out.push(if bit { '1' } else { '0' });
            }
        }
        Value::Date(d) => date(out, *d),
        Value::Time(t) => time(out, *t),
        Value::TimeTz { micros, offset_seconds } => {
            time(out, *micros);
            zone_offset(out, *offset_seconds);
        }
        Value::Timestamp(t) => timestamp(out, *t, false),
        Value::TimestampTz(t) => timestamp(out, *t, true),
        Value::Interval { months, days, micros } => interval(out, *months, *days, *micros),
        Value::Uuid(u) => {
            for (i, chunk) in [&u[..4], &u[4..6], &u[6..8], &u[8..10], &u[10..]].into_iter().enumerate() {
                if i > 0 {
                    out.push('-');
                }
                hex(out, chunk);
            }
        }
        Value::Point { x, y } => {
            out.push('(');
            float8(out, *x);
            out.push(',');
            float8(out, *y);
            out.push(')');
        }
        Value::Hstore(pairs) => {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quoted(out, k);
                out.push_str("=>");
                match v {
                    Some(v) => quoted(out, v),
                    None => out.push_str("NULL"),
                }
            }
        }
        Value::Array(a) => {
            let element = match &ty.base().kind {
                TypeKind::Array { element } => element.as_ref(),
                _ => return Err(ValueErrorKind::Malformed("an array value for a non-array type")),
            };
            array(out, element, a)?;
        }
    }
    Ok(())
}

/// `array_out`: bounds decoration when a lower bound is not 1, nested braces, elements quoted when
/// they are empty, `NULL`-like or contain syntax characters or whitespace.
fn array(
    out: &mut String,
    element: &ColumnType,
    a: &sluice_core::value::Array,
) -> Result<(), ValueErrorKind> {
    if a.dims.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    if a.dims.iter().any(|d| d.lower_bound != 1) {
        for d in &a.dims {
            let upper = i64::from(d.lower_bound) + i64::from(d.len) - 1;
            let _ = write!(out, "[{}:{upper}]", d.lower_bound);
        }
        out.push('=');
    }
    let delimiter = if matches!(element.base().kind, TypeKind::Box) { ';' } else { ',' };
    // Elements per block of each dimension: a brace opens (and the previous one closes) wherever
    // an element index is a multiple of a block size.
    let mut blocks = vec![1usize; a.dims.len()];
    let mut size = 1usize;
    for (k, d) in a.dims.iter().enumerate().rev() {
        size = size.saturating_mul(d.len as usize);
        blocks[k] = size;
    }
    if size != a.elements.len() {
        return Err(ValueErrorKind::Malformed("array dimensions do not match its elements"));
    }
    if size == 0 {
        out.push_str("{}");
        return Ok(());
    }
    let mut scratch = String::new();
    for (i, e) in a.elements.iter().enumerate() {
        let braces = blocks.iter().filter(|&&b| i % b == 0).count();
        if i > 0 {
            out.extend(std::iter::repeat_n('}', braces));
            out.push(delimiter);
        }
        out.extend(std::iter::repeat_n('{', braces));
        if e.is_null() {
            out.push_str("NULL");
            continue;
        }
        scratch.clear();
        value(&mut scratch, element, e)?;
        let needs_quotes = scratch.is_empty()
            || scratch.eq_ignore_ascii_case("NULL")
            || scratch.chars().any(|c| {
                matches!(c, '"' | '\\' | '{' | '}' | ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
                    || c == delimiter
            });
        if needs_quotes {
            quoted(out, &scratch);
        } else {
            out.push_str(&scratch);
        }
    }
    out.extend(std::iter::repeat_n('}', a.dims.len()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::value::{Array, ArrayDim};

    fn f8(v: f64) -> String {
        let mut s = String::new();
        float8(&mut s, v);
        s
    }

    fn f4(v: f32) -> String {
        let mut s = String::new();
        float4(&mut s, v);
        s
    }

    #[test]
    fn floats_print_like_the_server_with_extra_float_digits() {
        // Expected strings were taken from PostgreSQL 15 with extra_float_digits=3.
        assert_eq!(f8(0.00012345), "0.00012345");
        assert_eq!(f8(0.0001), "0.0001");
        assert_eq!(f8(0.00001), "1e-05");
        assert_eq!(f8(1e14), "100000000000000");
        assert_eq!(f8(1e15), "1e+15");
        assert_eq!(f8(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(f8(12345678901234.5), "12345678901234.5");
        assert_eq!(f8(1e100), "1e+100");
        assert_eq!(f8(-0.0), "-0");
        assert_eq!(f8(0.0), "0");
        assert_eq!(f8(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(f8(f64::NAN), "NaN");
        assert_eq!(f8(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(f4(100000.0), "100000");
        assert_eq!(f4(1e6), "1e+06");
        assert_eq!(f4(1234567.0), "1.234567e+06");
        assert_eq!(f4(123456.7), "123456.7");
        assert_eq!(f4(1.5e-5), "1.5e-05");
        assert_eq!(f4(3.4028235e38), "3.4028235e+38");
    }

    #[test]
    fn intervals_print_in_postgres_style() {
        let iv = |m, d, us| {
            let mut s = String::new();
            interval(&mut s, m, d, us);
            s
        };
        assert_eq!(iv(0, -1, 7_200_000_000), "-1 days +02:00:00");
        assert_eq!(iv(0, 1, -7_200_000_000), "1 day -02:00:00");
        assert_eq!(iv(-10, 0, 0), "-10 mons");
        assert_eq!(iv(-14, -3, -14_706_500_000), "-1 years -2 mons -3 days -04:05:06.5");
        assert_eq!(iv(0, 0, 0), "00:00:00");
        assert_eq!(iv(14, 3, 14_706_780_000), "1 year 2 mons 3 days 04:05:06.78");
        assert_eq!(iv(-1, 1, 0), "-1 mons +1 day");
        assert_eq!(iv(1, -1, 3_600_000_000), "1 mon -1 days +01:00:00");
        assert_eq!(iv(0, 0, i64::MIN), "-2562047788:00:54.775808");
    }

    #[test]
    fn arrays_print_bounds_nesting_and_quotes() {
        let text = ColumnType::new(25, -1, "text", TypeKind::Text);
        let ty = ColumnType::new(1009, -1, "_text", TypeKind::Array { element: Box::new(text) });
        let t = |s: &str| Value::Text(s.into());
        let a = Array {
            dims: vec![ArrayDim { len: 2, lower_bound: 0 }, ArrayDim { len: 2, lower_bound: 1 }],
            elements: vec![t("a b"), Value::Null, t("NULL"), t("x\"\\")],
        };
        let mut s = String::new();
        value(&mut s, &ty, &Value::Array(a)).unwrap();
        assert_eq!(s, r#"[0:1][1:2]={{"a b",NULL},{"NULL","x\"\\"}}"#);
    }
}
