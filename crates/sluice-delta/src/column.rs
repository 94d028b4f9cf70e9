//! Connect values → Arrow arrays, one column at a time.
//!
//! A column is built from a slice of borrowed values (one per row; `None` or `Null` is a null), with
//! typed builders sized up front, so no value is cloned: strings and bytes are copied once, into
//! the Arrow buffers. Nested columns (lists, structs, maps) flatten their children into borrowed
//! slices too and recurse. Integer and float conversions accept any narrower Connect width, so rows
//! written before a column was widened still convert. Errors name what did not fit, never the value.

use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, ListArray, MapArray,
    StringBuilder, StructArray, TimestampMicrosecondBuilder,
};
use deltalake::arrow::buffer::{NullBuffer, OffsetBuffer};
use deltalake::arrow::datatypes::{DataType, FieldRef};
use sluice_core::time::{MICROS_PER_DAY, days_from_civil, days_in_month};
use sluice_debezium::connect::ConnectValue;

use crate::mapping::{Conversion, UTC};

/// Debezium's `timestamp` `infinity` in microseconds (`PGStatement.DATE_POSITIVE_INFINITY`).
const POSITIVE_INFINITY_MICROS: i64 = 9_223_372_036_825_200_000;
/// Debezium's `timestamp` `-infinity` in microseconds.
const NEGATIVE_INFINITY_MICROS: i64 = -9_223_372_036_832_400_000;

/// The value, unless absent or null.
fn present(v: Option<&ConnectValue>) -> Option<&ConnectValue> {
    v.filter(|v| !v.is_null())
}

fn mismatch(v: &ConnectValue, expected: &str) -> String {
    format!("a {} value where {expected} was expected", v.kind())
}

fn integer(v: &ConnectValue) -> Result<i64, String> {
    match v {
        ConnectValue::Int8(x) => Ok(i64::from(*x)),
        ConnectValue::Int16(x) => Ok(i64::from(*x)),
        ConnectValue::Int32(x) => Ok(i64::from(*x)),
        ConnectValue::Int64(x) => Ok(*x),
        other => Err(mismatch(other, "an integer")),
    }
}

fn narrow<T: TryFrom<i64>>(v: &ConnectValue, name: &str) -> Result<T, String> {
    T::try_from(integer(v)?).map_err(|_| format!("an integer out of the range of {name}"))
}

fn float(v: &ConnectValue) -> Result<f64, String> {
    match v {
        ConnectValue::Float32(x) => Ok(f64::from(*x)),
        ConnectValue::Float64(x) => Ok(*x),
        other => integer(other).map(|i| i as f64).map_err(|_| mismatch(other, "a float")),
    }
}

/// Builds the Arrow array of `data_type` for `values` (one per row) by `conversion`.
pub(crate) fn build(
    conversion: &Conversion,
    data_type: &DataType,
    values: &[Option<&ConnectValue>],
) -> Result<ArrayRef, String> {
    let n = values.len();
    macro_rules! primitive {
        ($builder:ty, $convert:expr) => {{
            let mut b = <$builder>::with_capacity(n);
            for v in values {
                match present(*v) {
                    Some(v) => b.append_value($convert(v)?),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let utc_micros = |micros: fn(&ConnectValue) -> Result<i64, String>| -> Result<ArrayRef, String> {
        let mut b = TimestampMicrosecondBuilder::with_capacity(n);
        for v in values {
            match present(*v) {
                Some(v) => b.append_value(micros(v)?),
                None => b.append_null(),
            }
        }
        Ok(Arc::new(b.finish().with_timezone(UTC)))
    };
    Ok(match conversion {
        Conversion::Int8 => primitive!(Int8Builder, |v| narrow::<i8>(v, "int8")),
        Conversion::Int16 => primitive!(Int16Builder, |v| narrow::<i16>(v, "int16")),
        Conversion::Int32 => primitive!(Int32Builder, |v| narrow::<i32>(v, "int32")),
        Conversion::Int64 => primitive!(Int64Builder, integer),
        Conversion::Float32 => primitive!(Float32Builder, |v| float(v).map(|f| f as f32)),
        Conversion::Float64 => primitive!(Float64Builder, float),
        Conversion::Boolean => primitive!(BooleanBuilder, |v: &ConnectValue| match v {
            ConnectValue::Boolean(b) => Ok(*b),
            other => Err(mismatch(other, "a boolean")),
        }),
        Conversion::Date => primitive!(Date32Builder, |v| narrow::<i32>(v, "a date")),
        Conversion::TimeMillis => {
            primitive!(Int64Builder, |v| integer(v).map(|ms| ms.saturating_mul(1000)))
        }
        Conversion::TimeMicros => primitive!(Int64Builder, integer),
        Conversion::TimeNanos => primitive!(Int64Builder, |v| integer(v).map(|ns| ns.div_euclid(1000))),
        Conversion::TimestampMillis => utc_micros(|v| integer(v).map(|ms| ms.saturating_mul(1000)))?,
        Conversion::TimestampMicros => utc_micros(integer)?,
        Conversion::TimestampNanos => utc_micros(|v| integer(v).map(|ns| ns.div_euclid(1000)))?,
        Conversion::ZonedTimestamp => utc_micros(|v| match v {
            ConnectValue::String(s) => parse_zoned_timestamp(s),
            other => Err(mismatch(other, "an ISO-8601 timestamp string")),
        })?,
        Conversion::Decimal { precision, scale } => {
            let bound = 10i128.pow(u32::from(*precision));
            let mut b = Decimal128Builder::with_capacity(n);
            for v in values {
                match present(*v) {
                    Some(ConnectValue::Bytes(bytes)) => {
                        let unscaled = unscaled_i128(bytes)
                            .filter(|u| u.unsigned_abs() < bound.unsigned_abs())
                            .ok_or_else(|| format!("a decimal wider than precision {precision}"))?;
                        b.append_value(unscaled);
                    }
                    Some(other) => return Err(mismatch(other, "decimal bytes")),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish().with_precision_and_scale(*precision, *scale).map_err(|e| e.to_string())?)
        }
        Conversion::Utf8 => {
            let bytes: usize =
                values.iter().map(|v| if let Some(ConnectValue::String(s)) = v { s.len() } else { 0 }).sum();
            let mut b = StringBuilder::with_capacity(n, bytes);
            for v in values {
                match present(*v) {
                    Some(ConnectValue::String(s)) => b.append_value(s),
                    Some(other) => return Err(mismatch(other, "a string")),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Conversion::DecimalText { scale } => {
            let mut b = StringBuilder::with_capacity(n, n * 24);
            let mut text = String::new();
            for v in values {
                match present(*v) {
                    Some(ConnectValue::Bytes(bytes)) => {
                        decimal_text(bytes, i64::from(*scale), &mut text);
                        b.append_value(&text);
                    }
                    Some(other) => return Err(mismatch(other, "decimal bytes")),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Conversion::VariableDecimalText { scale, value } => {
            let mut b = StringBuilder::with_capacity(n, n * 24);
            let mut text = String::new();
            for v in values {
                match present(*v) {
                    Some(ConnectValue::Struct(fields)) => {
                        let s = fields.get(*scale).map(integer).transpose()?;
                        match (s, fields.get(*value)) {
                            (Some(s), Some(ConnectValue::Bytes(bytes))) => {
                                decimal_text(bytes, s, &mut text);
                                b.append_value(&text);
                            }
                            _ => b.append_null(),
                        }
                    }
                    Some(other) => return Err(mismatch(other, "a VariableScaleDecimal struct")),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Conversion::Binary => {
            let bytes: usize =
                values.iter().map(|v| if let Some(ConnectValue::Bytes(b)) = v { b.len() } else { 0 }).sum();
            let mut b = BinaryBuilder::with_capacity(n, bytes);
            for v in values {
                match present(*v) {
                    Some(ConnectValue::Bytes(bytes)) => b.append_value(bytes),
                    Some(other) => return Err(mismatch(other, "bytes")),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Conversion::List(element) => {
            let DataType::List(field) = data_type else { return Err(format!("a list built as {data_type}")) };
            let mut offsets = Vec::with_capacity(n + 1);
            offsets.push(0i32);
            let mut valid = Vec::with_capacity(n);
            let mut children: Vec<Option<&ConnectValue>> = Vec::new();
            for v in values {
                match present(*v) {
                    Some(ConnectValue::Array(items)) => {
                        children.extend(items.iter().map(Some));
                        valid.push(true);
                    }
                    Some(other) => return Err(mismatch(other, "an array")),
                    None => valid.push(false),
                }
                offsets.push(i32::try_from(children.len()).map_err(|_| "a list column over 2^31 elements")?);
            }
            let child = build(element, field.data_type(), &children).map_err(|e| format!("element: {e}"))?;
            Arc::new(
                ListArray::try_new(field.clone(), OffsetBuffer::new(offsets.into()), child, nulls(valid))
                    .map_err(|e| e.to_string())?,
            )
        }
        Conversion::Struct(conversions) => {
            let DataType::Struct(fields) = data_type else {
                return Err(format!("a struct built as {data_type}"));
            };
            let mut valid = Vec::with_capacity(n);
            for v in values {
                match present(*v) {
                    Some(ConnectValue::Struct(_)) => valid.push(true),
                    Some(other) => return Err(mismatch(other, "a struct")),
                    None => valid.push(false),
                }
            }
            let mut children = Vec::with_capacity(fields.len());
            let mut column: Vec<Option<&ConnectValue>> = Vec::with_capacity(n);
            for (i, (f, c)) in fields.iter().zip(conversions).enumerate() {
                column.clear();
                column.extend(values.iter().map(|v| match v {
                    Some(ConnectValue::Struct(items)) => items.get(i),
                    _ => None,
                }));
                children.push(
                    build(c, f.data_type(), &column).map_err(|e| format!("field '{}': {e}", f.name()))?,
                );
            }
            Arc::new(StructArray::try_new(fields.clone(), children, nulls(valid)).map_err(|e| e.to_string())?)
        }
        Conversion::Map(key, value) => {
            let DataType::Map(entries, _) = data_type else {
                return Err(format!("a map built as {data_type}"));
            };
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(format!("map entries built as {}", entries.data_type()));
            };
            let mut offsets = Vec::with_capacity(n + 1);
            offsets.push(0i32);
            let mut valid = Vec::with_capacity(n);
            let (mut keys, mut vals): (Vec<Option<&ConnectValue>>, Vec<Option<&ConnectValue>>) =
                (Vec::new(), Vec::new());
            for v in values {
                match present(*v) {
                    Some(ConnectValue::Map(pairs)) => {
                        for (k, v) in pairs {
                            if k.is_null() {
                                return Err("a map with a null key".into());
                            }
                            keys.push(Some(k));
                            vals.push(Some(v));
                        }
                        valid.push(true);
                    }
                    Some(other) => return Err(mismatch(other, "a map")),
                    None => valid.push(false),
                }
                offsets.push(i32::try_from(keys.len()).map_err(|_| "a map column over 2^31 entries")?);
            }
            let k = build(key, kv[0].data_type(), &keys).map_err(|e| format!("map key: {e}"))?;
            let v = build(value, kv[1].data_type(), &vals).map_err(|e| format!("map value: {e}"))?;
            let entries_array =
                StructArray::try_new(kv.clone(), vec![k, v], None).map_err(|e| e.to_string())?;
            Arc::new(
                MapArray::try_new(
                    FieldRef::clone(entries),
                    OffsetBuffer::new(offsets.into()),
                    entries_array,
                    nulls(valid),
                    false,
                )
                .map_err(|e| e.to_string())?,
            )
        }
    })
}

fn nulls(valid: Vec<bool>) -> Option<NullBuffer> {
    if valid.iter().all(|v| *v) { None } else { Some(NullBuffer::from(valid)) }
}

/// A big-endian two's complement integer as an `i128`, if it fits.
pub(crate) fn unscaled_i128(bytes: &[u8]) -> Option<i128> {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0 };
    let (head, tail) = bytes.split_at(bytes.len().saturating_sub(16));
    if head.iter().any(|b| *b != fill) {
        return None;
    }
    let mut buf = [fill; 16];
    buf[16 - tail.len()..].copy_from_slice(tail);
    let v = i128::from_be_bytes(buf);
    // The sign of the 16-byte window must agree with the sign of the whole number.
    (v.is_negative() == negative || tail.is_empty()).then_some(v)
}

/// Writes the exact decimal `unscaled × 10^-scale` in plain notation (like Java's
/// `BigDecimal.toPlainString`) into `out`, for a big-endian two's complement `unscaled` of any length.
pub(crate) fn decimal_text(unscaled: &[u8], scale: i64, out: &mut String) {
    out.clear();
    let negative = unscaled.first().is_some_and(|b| b & 0x80 != 0);
    // Magnitude as big-endian bytes.
    let mut mag: Vec<u8> = unscaled.to_vec();
    if negative {
        for b in mag.iter_mut() {
            *b = !*b;
        }
        for b in mag.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    // Repeated division by 10^9 over big-endian u32 limbs.
    let mut limbs: Vec<u32> = Vec::with_capacity(mag.len() / 4 + 1);
    let pad = (4 - mag.len() % 4) % 4;
    let padded: Vec<u8> = std::iter::repeat_n(0u8, pad).chain(mag.iter().copied()).collect();
    for chunk in padded.chunks(4) {
        limbs.push(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    let mut chunks: Vec<u32> = Vec::new();
    loop {
        while limbs.first() == Some(&0) {
            limbs.remove(0);
        }
        if limbs.is_empty() {
            break;
        }
        let mut rem: u64 = 0;
        for limb in limbs.iter_mut() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        chunks.push(rem as u32);
    }
    let mut digits = String::new();
    match chunks.split_last() {
        None => digits.push('0'),
        Some((most, rest)) => {
            digits.push_str(&most.to_string());
            for c in rest.iter().rev() {
                digits.push_str(&format!("{c:09}"));
            }
        }
    }
    let is_zero = digits == "0";
    if negative && !is_zero {
        out.push('-');
    }
    if scale <= 0 {
        out.push_str(&digits);
        if !is_zero {
            out.extend(std::iter::repeat_n('0', usize::try_from(-scale).unwrap_or(0)));
        }
        return;
    }
    let scale = usize::try_from(scale).unwrap_or(usize::MAX);
    if digits.len() <= scale {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

/// Microseconds since the epoch of an ISO-8601 date-time with offset, as Debezium's
/// `ZonedTimestamp` writes it (`2024-01-02T03:04:05.123456Z`, `+294247-01-10T04:00:25.2Z`,
/// `2024-01-02T03:04:05+02:00`). Digits beyond microseconds are truncated.
pub(crate) fn parse_zoned_timestamp(text: &str) -> Result<i64, String> {
    match text {
        "infinity" | "+infinity" => return Ok(POSITIVE_INFINITY_MICROS),
        "-infinity" => return Ok(NEGATIVE_INFINITY_MICROS),
        _ => {}
    }
    let bad = || "a ZonedTimestamp that is not an ISO-8601 date-time with offset".to_owned();
    let b = text.as_bytes();
    let mut i = 0;
    let sign: i64 = match b.first() {
        Some(b'-') => {
            i = 1;
            -1
        }
        Some(b'+') => {
            i = 1;
            1
        }
        _ => 1,
    };
    let number = |i: &mut usize, min: usize, max: usize| -> Result<i64, String> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        if *i - start < min {
            return Err(bad());
        }
        text[start..*i].parse::<i64>().map_err(|_| bad())
    };
    let expect = |i: &mut usize, c: u8| -> Result<(), String> {
        if b.get(*i) == Some(&c) {
            *i += 1;
            Ok(())
        } else {
            Err(bad())
        }
    };
    let year = sign * number(&mut i, 4, 9)?;
    expect(&mut i, b'-')?;
    let month = number(&mut i, 2, 2)?;
    expect(&mut i, b'-')?;
    let day = number(&mut i, 2, 2)?;
    if b.get(i) != Some(&b'T') && b.get(i) != Some(&b' ') {
        return Err(bad());
    }
    i += 1;
    let hour = number(&mut i, 2, 2)?;
    expect(&mut i, b':')?;
    let minute = number(&mut i, 2, 2)?;
    let mut second = 0;
    let mut micros = 0i64;
    if b.get(i) == Some(&b':') {
        i += 1;
        second = number(&mut i, 2, 2)?;
        if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            let digits = &text[start..i.min(start + 6)];
            micros = digits.parse::<i64>().map_err(|_| bad())? * 10i64.pow(6 - digits.len() as u32);
        }
    }
    let offset_seconds = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(s @ (b'+' | b'-')) => {
            let s = if *s == b'-' { -1 } else { 1 };
            i += 1;
            let oh = number(&mut i, 2, 2)?;
            let mut om = 0;
            let mut os = 0;
            if b.get(i) == Some(&b':') {
                i += 1;
                om = number(&mut i, 2, 2)?;
                if b.get(i) == Some(&b':') {
                    i += 1;
                    os = number(&mut i, 2, 2)?;
                }
            }
            if i != b.len() {
                return Err(bad());
            }
            s * (oh * 3600 + om * 60 + os)
        }
        _ => return Err(bad()),
    };
    let (month, day) = (u32::try_from(month).map_err(|_| bad())?, u32::try_from(day).map_err(|_| bad())?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 24
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let days = i128::from(days_from_civil(year, month, day));
    let secs = i128::from(hour * 3600 + minute * 60 + second - offset_seconds);
    let total = days * i128::from(MICROS_PER_DAY) + secs * 1_000_000 + i128::from(micros);
    i64::try_from(total)
        .map_err(|_| "a ZonedTimestamp out of the range of microseconds since the epoch".to_owned())
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{Decimal128Type, Field, Int32Type, TimestampMicrosecondType};

    use super::*;

    fn text(bytes: &[u8], scale: i64) -> String {
        let mut s = String::new();
        decimal_text(bytes, scale, &mut s);
        s
    }

    #[test]
    fn decimal_text_is_exact_plain_notation() {
        assert_eq!(text(&[0x30, 0x39], 2), "123.45");
        assert_eq!(text(&[0x30, 0x39], 0), "12345");
        assert_eq!(text(&[0x30, 0x39], -2), "1234500");
        assert_eq!(text(&[0x05], 3), "0.005");
        assert_eq!(text(&[0xfb], 3), "-0.005");
        assert_eq!(text(&[0x00], 2), "0.00");
        assert_eq!(text(&[], 0), "0");
        assert_eq!(text(&[0x80], 0), "-128");
        // 2^128 + 1: wider than i128.
        let mut big = vec![0x01];
        big.extend([0u8; 15]);
        big.push(0x01);
        assert_eq!(text(&big, 0), "340282366920938463463374607431768211457");
        assert_eq!(text(&big, 40), "0.0340282366920938463463374607431768211457");
    }

    #[test]
    fn unscaled_values_sign_extend_and_refuse_overflow() {
        assert_eq!(unscaled_i128(&[0xff, 0x85]), Some(-123));
        assert_eq!(unscaled_i128(&[0x00, 0x80]), Some(128));
        assert_eq!(unscaled_i128(&[]), Some(0));
        let mut long = vec![0xff; 20];
        long[19] = 0xfe;
        assert_eq!(unscaled_i128(&long), Some(-2));
        let mut wide = vec![0x01];
        wide.extend([0u8; 16]);
        assert_eq!(unscaled_i128(&wide), None);
    }

    #[test]
    fn zoned_timestamps_parse_to_utc_micros() {
        assert_eq!(parse_zoned_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_zoned_timestamp("1970-01-01T00:00:01.5Z"), Ok(1_500_000));
        assert_eq!(parse_zoned_timestamp("1970-01-01T02:00:00+02:00"), Ok(0));
        assert_eq!(parse_zoned_timestamp("2024-02-29T12:34:56.123456789Z"), Ok(1_709_210_096_123_456));
        assert_eq!(parse_zoned_timestamp("1969-12-31T23:59:59.999999Z"), Ok(-1));
        assert_eq!(parse_zoned_timestamp("+294247-01-10T04:00:25.2Z"), Ok(POSITIVE_INFINITY_MICROS));
        assert_eq!(parse_zoned_timestamp("-290308-12-21T19:59:27.6Z"), Ok(NEGATIVE_INFINITY_MICROS));
        for bad in ["", "2024-02-30T00:00:00Z", "2024-01-01", "2024-01-01T00:00:00", "x024-01-01T00:00Z"] {
            assert!(parse_zoned_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn columns_build_with_nulls_and_widening() {
        let v = [ConnectValue::Int16(7), ConnectValue::Null, ConnectValue::Int32(-3)];
        let refs: Vec<_> = vec![Some(&v[0]), Some(&v[1]), None, Some(&v[2])];
        let a = build(&Conversion::Int32, &DataType::Int32, &refs).unwrap();
        let a = a.as_primitive::<Int32Type>();
        assert_eq!((a.value(0), a.is_null(1), a.is_null(2), a.value(3)), (7, true, true, -3));
        let big = ConnectValue::Int64(1 << 40);
        assert!(build(&Conversion::Int32, &DataType::Int32, &[Some(&big)]).is_err());
        let s = ConnectValue::String("SECRET".into());
        let err = build(&Conversion::Int64, &DataType::Int64, &[Some(&s)]).unwrap_err();
        assert!(!err.contains("SECRET"), "errors never carry values: {err}");
    }

    #[test]
    fn decimals_timestamps_and_nested_columns_build() {
        let d = ConnectValue::Bytes(vec![0x30, 0x39]);
        let a =
            build(&Conversion::Decimal { precision: 5, scale: 2 }, &DataType::Decimal128(5, 2), &[Some(&d)])
                .unwrap();
        assert_eq!(a.as_primitive::<Decimal128Type>().value(0), 12345);
        assert!(
            build(&Conversion::Decimal { precision: 4, scale: 2 }, &DataType::Decimal128(4, 2), &[Some(&d)])
                .is_err()
        );
        let ms = ConnectValue::Int64(1500);
        let t = build(&Conversion::TimestampMillis, &crate::mapping::utc_timestamp(), &[Some(&ms)]).unwrap();
        assert_eq!(t.data_type(), &crate::mapping::utc_timestamp());
        assert_eq!(t.as_primitive::<TimestampMicrosecondType>().value(0), 1_500_000);

        let list_type = DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
        let l1 = ConnectValue::Array(vec![ConnectValue::String("a".into()), ConnectValue::Null]);
        let l2 = ConnectValue::Array(vec![]);
        let l =
            build(&Conversion::List(Box::new(Conversion::Utf8)), &list_type, &[Some(&l1), None, Some(&l2)])
                .unwrap();
        let l = l.as_list::<i32>();
        assert_eq!((l.value_length(0), l.is_null(1), l.value_length(2)), (2, true, 0));

        let (map_type, conv) = crate::mapping::arrow_type(&sluice_debezium::Schema::map(
            sluice_debezium::Schema::primitive(sluice_debezium::SchemaType::String),
            sluice_debezium::Schema::primitive(sluice_debezium::SchemaType::Int32).optional(),
        ))
        .unwrap();
        let m1 = ConnectValue::Map(vec![(ConnectValue::String("k".into()), ConnectValue::Int32(1))]);
        let m = build(&conv, &map_type, &[Some(&m1), None]).unwrap();
        assert_eq!((m.len(), m.is_null(1)), (2, true));
    }
}
