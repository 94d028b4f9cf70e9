//! Typed column values.
//!
//! A [`Value`] is what a PostgreSQL datum means, decoded once from pgoutput's text or binary form
//! (or from a snapshot's COPY output). Representations are chosen so that later stages can produce
//! Debezium's encodings exactly: decimals keep every digit and their scale, temporal values keep
//! microseconds and infinities, and an unchanged TOAST column is [`Value::UnchangedToast`], never a
//! NULL. Types with no structured meaning here (inet, ranges, tsvector, enums, ...) keep the
//! server's canonical text form in [`Value::Text`]; the column's [`crate::ColumnType`] says what the
//! text is.

use std::fmt;

/// One column value.
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// The column is TOASTed and did not change; pgoutput did not send it. Consumers must keep the
    /// value they already have (or use a placeholder); it is *not* a NULL.
    UnchangedToast,
    /// `boolean`, and `bit(1)`.
    Bool(bool),
    /// `smallint`.
    Int16(i16),
    /// `integer`.
    Int32(i32),
    /// `bigint`, and unsigned 32-bit `oid`-like types widened.
    Int64(i64),
    /// `real`.
    Float32(f32),
    /// `double precision`.
    Float64(f64),
    /// `numeric` and `money`.
    Numeric(Numeric),
    /// Character types, and any type kept in its canonical text form.
    Text(String),
    /// `bytea`.
    Bytes(Vec<u8>),
    /// `bit(n)` / `varbit(n)`: `len` bits, most significant bit of `data[0]` first (PostgreSQL's order).
    Bits {
        /// Number of bits.
        len: u32,
        /// Packed bits, high bit first, zero-padded at the end.
        data: Vec<u8>,
    },
    /// `date`.
    Date(Date),
    /// `time`: microseconds since midnight (`24:00:00` is 86,400,000,000).
    Time(i64),
    /// `timetz`: local microseconds since midnight and the zone's offset east of UTC in seconds.
    TimeTz {
        /// Local time of day in microseconds.
        micros: i64,
        /// Offset east of UTC in seconds (`+02:00` is 7200).
        offset_seconds: i32,
    },
    /// `timestamp` without time zone: wall-clock microseconds since 1970-01-01 00:00.
    Timestamp(Timestamp),
    /// `timestamptz`: microseconds since the Unix epoch (UTC).
    TimestampTz(Timestamp),
    /// `interval`, in PostgreSQL's three fields.
    Interval {
        /// Months (years are 12 months).
        months: i32,
        /// Days.
        days: i32,
        /// Microseconds.
        micros: i64,
    },
    /// `uuid`.
    Uuid([u8; 16]),
    /// `point`.
    Point {
        /// x coordinate.
        x: f64,
        /// y coordinate.
        y: f64,
    },
    /// `hstore`: pairs in the server's order; a `None` value is an SQL NULL.
    Hstore(Vec<(String, Option<String>)>),
    /// An array of any dimension.
    Array(Array),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A rough count of heap and inline bytes, used for byte-bounded buffers.
    pub fn approx_size(&self) -> usize {
        let heap = match self {
            Value::Numeric(Numeric::Finite(d)) => d.as_str().len(),
            Value::Text(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Bits { data, .. } => data.len(),
            Value::Hstore(pairs) => {
                pairs.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, String::len) + 48).sum()
            }
            Value::Array(a) => a.elements.iter().map(Value::approx_size).sum::<usize>() + a.dims.len() * 8,
            _ => 0,
        };
        heap + std::mem::size_of::<Value>()
    }
}

/// A multi-dimensional array value, flattened in row-major order.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Array {
    /// One entry per dimension: (length, lower bound). Empty for an empty array.
    pub dims: Vec<ArrayDim>,
    /// Elements in row-major order; NULL elements are [`Value::Null`].
    pub elements: Vec<Value>,
}

/// One dimension of an [`Array`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ArrayDim {
    /// Number of elements along this dimension.
    pub len: u32,
    /// Index of the first element (1 unless written otherwise, e.g. `'[0:1]={1,2}'`).
    pub lower_bound: i32,
}

/// A `numeric` value, including the special values PostgreSQL allows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Numeric {
    /// A finite number with its exact digits and scale.
    Finite(Decimal),
    /// `NaN`.
    NaN,
    /// `Infinity` (PostgreSQL 14+).
    PositiveInfinity,
    /// `-Infinity` (PostgreSQL 14+).
    NegativeInfinity,
}

/// An exact decimal kept as canonical text: optional `-`, digits, optional `.` and fraction digits.
///
/// The fraction keeps its trailing zeros, because the scale is part of the value (`1.10` has
/// scale 2), exactly as PostgreSQL prints it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal(Box<str>);

/// The text is not a plain decimal number.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("not a decimal number: {0:?}")]
pub struct ParseDecimalError(pub String);

impl Decimal {
    /// Parses `[-+]digits[.digits]` (at least one digit). Leading zeros of the integer part are
    /// removed; the fraction is kept as written.
    pub fn parse(text: &str) -> Result<Self, ParseDecimalError> {
        let err = || ParseDecimalError(text.to_owned());
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int)
            || !frac.is_none_or(all_digits)
            || (int.is_empty() && frac.is_none_or(str::is_empty))
        {
            return Err(err());
        }
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let is_zero = int == "0" && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
        let mut out = String::with_capacity(text.len() + 1);
        if negative && !is_zero {
            out.push('-');
        }
        out.push_str(int);
        if let Some(f) = frac.filter(|f| !f.is_empty()) {
            out.push('.');
            out.push_str(f);
        }
        Ok(Decimal(out.into_boxed_str()))
    }

    /// Takes text already in the canonical form [`Decimal::as_str`] gives (`-` only on a non-zero
    /// number, no leading zeros before a digit of the integer part, a `.` only with fraction
    /// digits after it), checked but not copied: for decoders that write that form directly.
    pub fn from_canonical(text: String) -> Result<Self, ParseDecimalError> {
        let bytes = text.as_bytes();
        let body = bytes.strip_prefix(b"-").unwrap_or(bytes);
        let (int, frac) = match body.iter().position(|&b| b == b'.') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        let canonical = digits(int)
            && (int.len() == 1 || int[0] != b'0')
            && frac.is_none_or(digits)
            && (body.len() == bytes.len() || body.iter().any(|&b| (b'1'..=b'9').contains(&b)));
        if canonical { Ok(Decimal(text.into_boxed_str())) } else { Err(ParseDecimalError(text)) }
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point.
    pub fn scale(&self) -> u32 {
        self.0.split_once('.').map_or(0, |(_, f)| f.len() as u32)
    }

    /// True if the number is below zero.
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-')
    }

    /// All digits without sign or point, i.e. the unscaled integer's magnitude in base 10
    /// (leading zeros possible when the integer part is 0).
    pub fn unscaled_digits(&self) -> String {
        self.0.trim_start_matches('-').chars().filter(char::is_ascii_digit).collect()
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({})", self.0)
    }
}

/// A `date`: days since 1970-01-01, or one of PostgreSQL's infinities.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Date {
    /// Days since the Unix epoch (negative before 1970; BC dates are far negative).
    Days(i32),
    /// `infinity`.
    PositiveInfinity,
    /// `-infinity`.
    NegativeInfinity,
}

/// A `timestamp`/`timestamptz`: microseconds since the Unix epoch, or an infinity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Timestamp {
    /// Microseconds since 1970-01-01 00:00:00 (UTC for `timestamptz`, wall clock for `timestamp`).
    Micros(i64),
    /// `infinity`.
    PositiveInfinity,
    /// `-infinity`.
    NegativeInfinity,
}

impl Timestamp {
    /// The current wall-clock time (processing time, for envelope `ts_*` fields).
    pub fn now() -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        Timestamp::Micros(micros)
    }
}

/// A row's values, aligned with [`crate::TableSchema::columns`].
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Approximate size in bytes, for byte-bounded buffers.
    pub fn approx_size(&self) -> usize {
        self.0.iter().map(Value::approx_size).sum::<usize>() + std::mem::size_of::<Row>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_keeps_scale_and_strips_leading_zeros() {
        let d = Decimal::parse("0012.3400").unwrap();
        assert_eq!(d.as_str(), "12.3400");
        assert_eq!(d.scale(), 4);
        assert_eq!(d.unscaled_digits(), "123400");
        assert_eq!(Decimal::parse("-0.00").unwrap().as_str(), "0.00");
        assert_eq!(Decimal::parse("-.5").unwrap().as_str(), "-0.5");
        assert!(Decimal::parse("-0.5").unwrap().is_negative());
        assert_eq!(Decimal::parse("+7").unwrap().as_str(), "7");
    }

    #[test]
    fn canonical_text_is_taken_only_when_canonical() {
        for good in ["0", "7", "-7", "12.3400", "0.00", "-0.5", "100", "0.0001"] {
            let d = Decimal::from_canonical(good.to_owned()).unwrap();
            assert_eq!(d, Decimal::parse(good).unwrap(), "{good:?}");
        }
        for bad in ["", "-", ".", "1.", ".5", "-0", "-0.00", "007", "00.1", "+7", "1e5", "1.2.3", " 1", "-.5"]
        {
            assert!(Decimal::from_canonical(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decimal_rejects_non_numbers() {
        for bad in ["", "-", ".", "1e5", "NaN", "1.2.3", "12a", " 1"] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?}");
        }
    }
}
