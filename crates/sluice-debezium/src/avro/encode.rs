//! Avro binary encoding of a Connect value, under the Avro schema [`super::avro_schema`] derives
//! from its Connect schema.
//!
//! `int`/`long` (and `int8`/`int16`) are zig-zag varints; `float`/`double` little-endian IEEE;
//! `boolean` one byte; `string`/`bytes` a length then the bytes; a union its branch index then the
//! value (branch order from [`super::optionality`]); a record its fields in order; arrays and maps
//! one block of `count` items followed by the terminating `0` block (empty ones are just `0`),
//! as Avro's `GenericDatumWriter` writes them.

use super::{default_of, is_decimal, map_as_entries, minimal_decimal, optionality};
use crate::connect::{ConnectValue, Schema, SchemaType};
use crate::error::DebeziumError;

/// Appends the Avro binary encoding of `value` under `schema` to `out`. On error `out` is left as
/// it was.
pub fn encode(schema: &Schema, value: &ConnectValue, out: &mut Vec<u8>) -> Result<(), DebeziumError> {
    let start = out.len();
    let result = encode_value(schema, value, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Appends what precedes a non-null value of `schema`: its union branch when the schema is
/// optional, nothing otherwise. The fields of a struct written one by one follow it.
pub fn write_present(schema: &Schema, out: &mut Vec<u8>) {
    if let Some((_, value_branch)) = optionality(schema).branches() {
        write_long(value_branch, out);
    }
}

/// Appends a required `string`: its length, then its bytes.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    write_bytes(s.as_bytes(), out);
}

fn encode_value(schema: &Schema, value: &ConnectValue, out: &mut Vec<u8>) -> Result<(), DebeziumError> {
    // A null with a default is the default, as `Struct.get` hands it out.
    let value = match (value, default_of(schema)) {
        (ConnectValue::Null, Some(default)) => default,
        _ => value,
    };
    match optionality(schema).branches() {
        Some((null_branch, value_branch)) => {
            if value.is_null() {
                write_long(null_branch, out);
                return Ok(());
            }
            write_long(value_branch, out);
        }
        None if value.is_null() => {
            return Err(DebeziumError::SchemaMismatch(format!(
                "Avro: null value for a required {}{}",
                schema.schema_type.json_name(),
                schema.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            )));
        }
        None => {}
    }
    encode_present(schema, value, out)
}

fn encode_present(schema: &Schema, value: &ConnectValue, out: &mut Vec<u8>) -> Result<(), DebeziumError> {
    match (schema.schema_type, value) {
        (SchemaType::Int8, ConnectValue::Int8(v)) => write_long(i64::from(*v), out),
        (SchemaType::Int16, ConnectValue::Int16(v)) => write_long(i64::from(*v), out),
        (SchemaType::Int32, ConnectValue::Int32(v)) => write_long(i64::from(*v), out),
        (SchemaType::Int64, ConnectValue::Int64(v)) => write_long(*v, out),
        (SchemaType::Float32, ConnectValue::Float32(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (SchemaType::Float64, ConnectValue::Float64(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (SchemaType::Boolean, ConnectValue::Boolean(v)) => out.push(u8::from(*v)),
        (SchemaType::String, ConnectValue::String(v)) => write_bytes(v.as_bytes(), out),
        (SchemaType::Bytes, ConnectValue::Bytes(v)) if is_decimal(schema) => {
            write_bytes(minimal_decimal(v), out)
        }
        (SchemaType::Bytes, ConnectValue::Bytes(v)) => write_bytes(v, out),
        (SchemaType::Array, ConnectValue::Array(items)) => {
            let item_schema = schema.items.as_deref().ok_or_else(|| missing(schema))?;
            write_block_count(items.len(), out);
            for item in items {
                encode_value(item_schema, item, out)?;
            }
            out.push(0);
        }
        (SchemaType::Map, ConnectValue::Map(entries)) => {
            let (Some(key_schema), Some(value_schema)) =
                (schema.map_key.as_deref(), schema.map_value.as_deref())
            else {
                return Err(missing(schema));
            };
            write_block_count(entries.len(), out);
            let as_entries = map_as_entries(key_schema);
            for (k, v) in entries {
                if as_entries {
                    encode_value(key_schema, k, out)?;
                } else {
                    let ConnectValue::String(k) = k else { return Err(mismatch(key_schema, k)) };
                    write_bytes(k.as_bytes(), out);
                }
                encode_value(value_schema, v, out)?;
            }
            out.push(0);
        }
        (SchemaType::Struct, ConnectValue::Struct(values)) => {
            if values.len() != schema.fields.len() {
                return Err(DebeziumError::SchemaMismatch(format!(
                    "Avro: struct{} has {} fields but the value has {}",
                    schema.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default(),
                    schema.fields.len(),
                    values.len()
                )));
            }
            for (field, v) in schema.fields.iter().zip(values) {
                encode_value(&field.schema, v, out)?;
            }
        }
        _ => return Err(mismatch(schema, value)),
    }
    Ok(())
}

fn missing(schema: &Schema) -> DebeziumError {
    DebeziumError::SchemaMismatch(format!(
        "Avro: {} schema without its element schemas",
        schema.schema_type.json_name()
    ))
}

fn mismatch(schema: &Schema, value: &ConnectValue) -> DebeziumError {
    DebeziumError::SchemaMismatch(format!(
        "Avro: a {} schema{} cannot hold a {} value",
        schema.schema_type.json_name(),
        schema.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
        value.kind()
    ))
}

fn write_block_count(count: usize, out: &mut Vec<u8>) {
    if count > 0 {
        write_long(i64::try_from(count).unwrap_or(i64::MAX), out);
    }
}

/// A zig-zag varint.
pub(crate) fn write_long(v: i64, out: &mut Vec<u8>) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    write_long(i64::try_from(bytes.len()).unwrap_or(i64::MAX), out);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::{decode, fixture, frame};

    fn encoded(schema: &Schema, value: &ConnectValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode(schema, value, &mut out).unwrap();
        out
    }

    #[test]
    fn zig_zag_varints() {
        let cases: [(i64, &[u8]); 8] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (63, &[0x7e]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (i64::MIN, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            write_long(v, &mut out);
            assert_eq!(out, bytes, "{v}");
        }
    }

    #[test]
    fn key_vector_from_the_live_capture() {
        // Key {"id":1} under schema id 2 → 00 00000002 02.
        let body = encoded(&fixture::key_schema(), &ConnectValue::Struct(vec![ConnectValue::Int32(1)]));
        let mut framed = Vec::new();
        frame(2, &body, &mut framed);
        assert_eq!(framed, [0x00, 0x00, 0x00, 0x00, 0x02, 0x02]);
    }

    #[test]
    fn value_vector_from_the_live_capture() {
        // Value → 00 00000003 00 02 02 08 "Anne" …: before null (branch 0), after branch 1, id 1.
        let ConnectValue::Struct(mut fields) = fixture::sally_insert() else { unreachable!() };
        fields[1] = ConnectValue::Struct(vec![
            ConnectValue::Int32(1),
            ConnectValue::String("Anne".into()),
            ConnectValue::String("Kretchmar".into()),
            ConnectValue::String("annek@noanswer.org".into()),
        ]);
        let value = ConnectValue::Struct(fields);
        let mut framed = Vec::new();
        frame(3, &encoded(&fixture::envelope_schema(), &value), &mut framed);
        assert_eq!(framed[..12], [0x00, 0, 0, 0, 3, 0x00, 0x02, 0x02, 0x08, b'A', b'n', b'n']);
    }

    #[test]
    fn envelope_layout_and_snapshot_default() {
        let schema = fixture::envelope_schema();
        let bytes = encoded(&schema, &fixture::sally_insert());
        let mut expected = vec![0x00, 0x02, 0x04, 0x0a];
        expected.extend_from_slice(b"Sally");
        expected.push(0x0c);
        expected.extend_from_slice(b"Thomas");
        expected.push(42);
        expected.extend_from_slice(b"sally.thomas@acme.com");
        assert_eq!(bytes[..expected.len()], expected);
        // source.snapshot is null in the struct, so its default "false" is written, as
        // `Struct.get` returns it: branch 0 of ["string"…,"null"], then the string.
        let ConnectValue::Struct(decoded) = decode(&schema, &bytes).unwrap() else { panic!() };
        let ConnectValue::Struct(source) = &decoded[2] else { panic!() };
        assert_eq!(source[4], ConnectValue::String("false".into()));
        let needle = [&[0x00, 0x0a][..], b"false"].concat();
        assert!(bytes.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn decimal_and_small_ints() {
        let decimal = Schema::primitive(SchemaType::Bytes)
            .named(crate::avro::DECIMAL)
            .with_parameter("scale", "3")
            .optional();
        assert_eq!(encoded(&decimal, &ConnectValue::Bytes(vec![0x30, 0x39])), [0x02, 0x04, 0x30, 0x39]);
        assert_eq!(encoded(&decimal, &ConnectValue::Null), [0x00]);
        // Redundant sign bytes are dropped, as the converter's BigDecimal round trip does.
        assert_eq!(encoded(&decimal, &ConnectValue::Bytes(vec![0x00, 0x30, 0x39])), [0x02, 0x04, 0x30, 0x39]);
        assert_eq!(encoded(&decimal, &ConnectValue::Bytes(vec![0xff, 0xff, 0x9f])), [0x02, 0x02, 0x9f]);
        assert_eq!(encoded(&decimal, &ConnectValue::Bytes(vec![0xff, 0x7f])), [0x02, 0x04, 0xff, 0x7f]);
        assert_eq!(encoded(&decimal, &ConnectValue::Bytes(vec![])), [0x02, 0x02, 0x00]);
        assert_eq!(encoded(&Schema::primitive(SchemaType::Int16), &ConnectValue::Int16(-300)), [0xd7, 0x04]);
        assert_eq!(
            encoded(&Schema::primitive(SchemaType::Float32), &ConnectValue::Float32(1.0)),
            [0, 0, 0x80, 0x3f]
        );
        assert_eq!(encoded(&Schema::primitive(SchemaType::Boolean), &ConnectValue::Boolean(true)), [1]);
        let with_default =
            Schema::primitive(SchemaType::Int32).optional().with_default(ConnectValue::Int32(5));
        assert_eq!(encoded(&with_default, &ConnectValue::Null), [0x00, 0x0a], "[int,null]: default written");
        assert_eq!(encoded(&with_default, &ConnectValue::Int32(1)), [0x00, 0x02]);
    }

    #[test]
    fn arrays_and_maps_in_one_block() {
        let arr = Schema::array(Schema::primitive(SchemaType::Int32));
        assert_eq!(encoded(&arr, &ConnectValue::Array(vec![])), [0x00]);
        let v = ConnectValue::Array(vec![ConnectValue::Int32(1), ConnectValue::Int32(2)]);
        assert_eq!(encoded(&arr, &v), [0x04, 0x02, 0x04, 0x00]);
        let map = Schema::map(Schema::primitive(SchemaType::String), Schema::primitive(SchemaType::Int32));
        let v = ConnectValue::Map(vec![(ConnectValue::String("a".into()), ConnectValue::Int32(1))]);
        assert_eq!(encoded(&map, &v), [0x02, 0x02, b'a', 0x02, 0x00]);
        let entries =
            Schema::map(Schema::primitive(SchemaType::Int16), Schema::primitive(SchemaType::Float64));
        let v = ConnectValue::Map(vec![(ConnectValue::Int16(1), ConnectValue::Float64(0.5))]);
        assert_eq!(encoded(&entries, &v), [0x02, 0x02, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0x00]);
    }

    #[test]
    fn mismatches_error_and_leave_out_untouched() {
        let schema = fixture::key_schema();
        let mut out = vec![9];
        assert!(encode(&schema, &ConnectValue::Struct(vec![ConnectValue::Int64(1)]), &mut out).is_err());
        assert!(encode(&schema, &ConnectValue::Struct(vec![]), &mut out).is_err());
        assert!(encode(&Schema::primitive(SchemaType::String), &ConnectValue::Null, &mut out).is_err());
        assert!(
            encode(&Schema::primitive(SchemaType::Array), &ConnectValue::Array(vec![]), &mut out).is_err()
        );
        assert_eq!(out, [9]);
    }
}
