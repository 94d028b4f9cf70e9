//! Avro binary decoding into the Connect model: the inverse of [`super::encode`], also accepting
//! what other Avro writers may produce (several blocks, negative block counts with byte sizes).
//!
//! Any input either decodes or errors: lengths and counts are checked against the bytes left,
//! varints against their width, and nothing is allocated ahead of the bytes that back it.

use super::{map_as_entries, optionality};
use crate::connect::{ConnectValue, Schema, SchemaType};
use crate::error::DebeziumError;

/// Upper bound on the items of one array or map whose items may take no bytes (e.g. empty
/// structs), so that a forged count cannot make decoding spin.
const MAX_ZERO_SIZE_ITEMS: u64 = 1 << 20;

/// Decodes `bytes`, which must hold exactly one value encoded under `schema`'s Avro schema.
/// Decimals come back as their unscaled bytes; a null stays null (its default is not applied).
pub fn decode(schema: &Schema, bytes: &[u8]) -> Result<ConnectValue, DebeziumError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(schema)?;
    if reader.pos != bytes.len() {
        return Err(reader.error(format!("{} trailing bytes", bytes.len() - reader.pos)));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, message: impl std::fmt::Display) -> DebeziumError {
        DebeziumError::SchemaMismatch(format!("Avro decode at byte {}: {message}", self.pos))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DebeziumError> {
        if n > self.remaining() {
            return Err(self.error(format!("needs {n} bytes, {} left", self.remaining())));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn long(&mut self) -> Result<i64, DebeziumError> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error("truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.error("varint longer than 64 bits"));
            }
            n |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(self.error("varint longer than 10 bytes"))
    }

    fn int_in<T: TryFrom<i64>>(&mut self, what: &str) -> Result<T, DebeziumError> {
        let v = self.long()?;
        T::try_from(v).map_err(|_| self.error(format!("{v} is out of range for {what}")))
    }

    fn len(&mut self) -> Result<usize, DebeziumError> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| self.error(format!("negative length {n}")))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DebeziumError> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }

    /// The item count of the next block (0 ends the array or map).
    fn block(&mut self, min_item_size: usize) -> Result<usize, DebeziumError> {
        let mut count = self.long()?;
        if count < 0 {
            count = count.checked_neg().ok_or_else(|| self.error("invalid block count"))?;
            let size = self.long()?;
            if size < 0 {
                return Err(self.error(format!("negative block size {size}")));
            }
        }
        let count = count as u64;
        let limit = match self.remaining().checked_div(min_item_size) {
            Some(fit) => fit as u64,
            None => MAX_ZERO_SIZE_ITEMS,
        };
        if count > limit {
            return Err(
                self.error(format!("block of {count} items cannot fit in {} bytes", self.remaining()))
            );
        }
        Ok(count as usize)
    }

    fn value(&mut self, schema: &Schema) -> Result<ConnectValue, DebeziumError> {
        if let Some((null_branch, value_branch)) = optionality(schema).branches() {
            let branch = self.long()?;
            if branch == null_branch {
                return Ok(ConnectValue::Null);
            }
            if branch != value_branch {
                return Err(self.error(format!("union branch {branch} out of range")));
            }
        }
        self.present(schema)
    }

    fn present(&mut self, schema: &Schema) -> Result<ConnectValue, DebeziumError> {
        Ok(match schema.schema_type {
            SchemaType::Int8 => ConnectValue::Int8(self.int_in("int8")?),
            SchemaType::Int16 => ConnectValue::Int16(self.int_in("int16")?),
            SchemaType::Int32 => ConnectValue::Int32(self.int_in("int")?),
            SchemaType::Int64 => ConnectValue::Int64(self.long()?),
            SchemaType::Float32 => {
                let b = self.take(4)?;
                ConnectValue::Float32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            SchemaType::Float64 => {
                let b = self.take(8)?;
                ConnectValue::Float64(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            }
            SchemaType::Boolean => match self.take(1)?[0] {
                0 => ConnectValue::Boolean(false),
                1 => ConnectValue::Boolean(true),
                b => return Err(self.error(format!("invalid boolean byte {b}"))),
            },
            SchemaType::String => {
                let b = self.bytes()?;
                ConnectValue::String(String::from_utf8(b).map_err(|_| self.error("string is not UTF-8"))?)
            }
            SchemaType::Bytes => ConnectValue::Bytes(self.bytes()?),
            SchemaType::Array => {
                let item_schema =
                    schema.items.as_deref().ok_or_else(|| self.error("array schema without items"))?;
                let min = min_size(item_schema);
                let mut items = Vec::new();
                loop {
                    let count = self.block(min)?;
                    if count == 0 {
                        break;
                    }
                    items.reserve(count);
                    for _ in 0..count {
                        items.push(self.value(item_schema)?);
                    }
                }
                ConnectValue::Array(items)
            }
            SchemaType::Map => {
                let (Some(key_schema), Some(value_schema)) =
                    (schema.map_key.as_deref(), schema.map_value.as_deref())
                else {
                    return Err(self.error("map schema without key or value schema"));
                };
                let as_entries = map_as_entries(key_schema);
                let min = if as_entries { min_size(key_schema) } else { 1 } + min_size(value_schema);
                let mut entries = Vec::new();
                loop {
                    let count = self.block(min)?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count);
                    for _ in 0..count {
                        let key =
                            if as_entries { self.value(key_schema)? } else { self.present(key_schema)? };
                        entries.push((key, self.value(value_schema)?));
                    }
                }
                ConnectValue::Map(entries)
            }
            SchemaType::Struct => {
                let mut values = Vec::with_capacity(schema.fields.len());
                for field in &schema.fields {
                    values.push(self.value(&field.schema)?);
                }
                ConnectValue::Struct(values)
            }
        })
    }
}

/// The fewest bytes a value of `schema` takes.
fn min_size(schema: &Schema) -> usize {
    if schema.optional {
        return 1;
    }
    match schema.schema_type {
        SchemaType::Float32 => 4,
        SchemaType::Float64 => 8,
        SchemaType::Struct => {
            schema.fields.iter().map(|f| min_size(&f.schema)).fold(0, usize::saturating_add)
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::avro::{DECIMAL, avro_schema_string, default_of, encode, fixture};
    use crate::connect::Field;

    use crate::avro::fixture::Gen;

    struct SchemaGen {
        rng: Gen,
        names: u32,
    }

    impl SchemaGen {
        fn schema(&mut self, depth: u32) -> Schema {
            let kinds = if depth >= 3 { 10 } else { 14 };
            let mut schema = match self.rng.below(kinds) {
                0 => Schema::primitive(SchemaType::Int8),
                1 => Schema::primitive(SchemaType::Int16),
                2 => Schema::primitive(SchemaType::Int32),
                3 => Schema::primitive(SchemaType::Int64),
                4 => Schema::primitive(SchemaType::Float32),
                5 => Schema::primitive(SchemaType::Float64),
                6 => Schema::primitive(SchemaType::Boolean),
                7 => Schema::primitive(SchemaType::String).named("io.debezium.data.Json").versioned(1),
                8 => Schema::primitive(SchemaType::Bytes),
                9 => Schema::primitive(SchemaType::Bytes)
                    .named(DECIMAL)
                    .versioned(1)
                    .with_parameter("scale", self.rng.below(5).to_string()),
                10 => Schema::array(self.schema(depth + 1)),
                11 => {
                    let key = match self.rng.below(3) {
                        0 => Schema::primitive(SchemaType::String),
                        1 => Schema::primitive(SchemaType::String).optional(),
                        _ => Schema::primitive(SchemaType::Int16),
                    };
                    Schema::map(key, self.schema(depth + 1))
                }
                _ => {
                    let n = self.rng.below(4);
                    let fields = (0..n)
                        .map(|i| Field { name: format!("f{i}"), schema: Arc::new(self.schema(depth + 1)) })
                        .collect();
                    self.names += 1;
                    let mut s =
                        Schema::structure(format!("gen.ns{}.S{}", self.names % 3, self.names), fields);
                    if self.rng.chance(20) {
                        s.name = None;
                    }
                    s
                }
            };
            if self.rng.chance(30) {
                schema.optional = true;
            }
            if schema.schema_type != SchemaType::Struct && self.rng.chance(15) {
                let default = self.value(&Schema { optional: false, ..schema.clone() }, 3);
                schema.default = Some(default);
            }
            schema
        }

        fn value(&mut self, schema: &Schema, depth: u32) -> ConnectValue {
            if (schema.optional || default_of(schema).is_some()) && self.rng.chance(25) {
                return ConnectValue::Null;
            }
            let r = self.rng.next();
            match schema.schema_type {
                SchemaType::Int8 => ConnectValue::Int8(r as i8),
                SchemaType::Int16 => ConnectValue::Int16(r as i16),
                SchemaType::Int32 => ConnectValue::Int32(r as i32 >> (r % 31)),
                SchemaType::Int64 => ConnectValue::Int64(r as i64 >> (r % 63)),
                SchemaType::Float32 => ConnectValue::Float32(f32::from_bits(r as u32)).nan_free(),
                SchemaType::Float64 => ConnectValue::Float64(f64::from_bits(r)).nan_free(),
                SchemaType::Boolean => ConnectValue::Boolean(r & 1 == 1),
                SchemaType::String => {
                    let pool = ["", "a", "é", "\u{1}", "\"", "😀", "line\nbreak"];
                    ConnectValue::String((0..r % 4).map(|i| pool[((r >> (8 * i)) % 7) as usize]).collect())
                }
                // Decimals always have at least one byte (`BigInteger.toByteArray`).
                SchemaType::Bytes => {
                    let min = u64::from(schema.name.is_some());
                    ConnectValue::Bytes((0..min + r % 6).map(|i| (r >> (8 * i)) as u8).collect())
                }
                SchemaType::Array => {
                    let items = schema
                        .items
                        .as_deref()
                        .cloned()
                        .unwrap_or_else(|| Schema::primitive(SchemaType::Int8));
                    let n = if depth > 4 { 0 } else { r % 4 };
                    ConnectValue::Array((0..n).map(|_| self.value(&items, depth + 1)).collect())
                }
                SchemaType::Map => {
                    let (Some(k), Some(v)) = (schema.map_key.as_deref(), schema.map_value.as_deref()) else {
                        return ConnectValue::Map(vec![]);
                    };
                    let n = if depth > 4 { 0 } else { r % 3 };
                    ConnectValue::Map(
                        (0..n).map(|_| (self.value(k, depth + 1), self.value(v, depth + 1))).collect(),
                    )
                }
                SchemaType::Struct => ConnectValue::Struct(
                    schema.fields.iter().map(|f| self.value(&f.schema, depth + 1)).collect(),
                ),
            }
        }
    }

    trait NanFree {
        fn nan_free(self) -> Self;
    }

    impl NanFree for ConnectValue {
        fn nan_free(self) -> Self {
            match self {
                ConnectValue::Float32(v) if v.is_nan() => ConnectValue::Float32(1.5),
                ConnectValue::Float64(v) if v.is_nan() => ConnectValue::Float64(-2.25),
                other => other,
            }
        }
    }

    /// What decoding gives back: nulls replaced by their schema's defaults, as encoding does.
    fn normalized(schema: &Schema, value: &ConnectValue) -> ConnectValue {
        let value = match (value, default_of(schema)) {
            (ConnectValue::Null, Some(default)) => default,
            _ => value,
        };
        match (value, schema.schema_type) {
            (ConnectValue::Array(items), _) => match schema.items.as_deref() {
                Some(s) => ConnectValue::Array(items.iter().map(|i| normalized(s, i)).collect()),
                None => value.clone(),
            },
            (ConnectValue::Map(entries), _) => match (schema.map_key.as_deref(), schema.map_value.as_deref())
            {
                (Some(k), Some(v)) => ConnectValue::Map(
                    entries.iter().map(|(a, b)| (normalized(k, a), normalized(v, b))).collect(),
                ),
                _ => value.clone(),
            },
            (ConnectValue::Struct(values), _) => ConnectValue::Struct(
                schema.fields.iter().zip(values).map(|(f, v)| normalized(&f.schema, v)).collect(),
            ),
            (ConnectValue::Bytes(b), _) if crate::avro::is_decimal(schema) => {
                ConnectValue::Bytes(crate::avro::minimal_decimal(b).to_vec())
            }
            _ => value.clone(),
        }
    }

    #[test]
    fn generated_round_trips() {
        let mut generator = SchemaGen { rng: Gen(0x9e37_79b9_7f4a_7c15), names: 0 };
        let mut encoded_cases = 0;
        for case in 0..3000 {
            let schema = generator.schema(0);
            let value = generator.value(&schema, 0);
            let mut bytes = Vec::new();
            let result = encode(&schema, &value, &mut bytes);
            // Required maps with optional string keys may get a null key: the only invalid input.
            if let Err(e) = result {
                assert!(format!("{e}").contains("null value for a required"), "case {case}: {e}");
                continue;
            }
            encoded_cases += 1;
            let decoded = decode(&schema, &bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert_eq!(decoded, normalized(&schema, &value), "case {case}: {schema:?}");
            let mut again = Vec::new();
            encode(&schema, &decoded, &mut again).unwrap();
            assert_eq!(again, bytes, "case {case}");
            for cut in 0..bytes.len().min(64) {
                assert!(decode(&schema, &bytes[..cut]).is_err(), "case {case}: prefix {cut} decoded");
            }
            match avro_schema_string(&schema) {
                Ok(text) => assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok()),
                // Two different unnamed maps with non-string keys both become
                // io.confluent.connect.avro.MapEntry, which Avro refuses, as with the converter.
                Err(e) => assert!(
                    format!("{e}").contains("can't redefine io.confluent.connect.avro.MapEntry"),
                    "case {case}: {e}"
                ),
            }
            let json = crate::json::serialize(Some(&schema), Some(&value), true).unwrap().unwrap();
            assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok(), "case {case}");
        }
        assert!(encoded_cases > 2500, "{encoded_cases}");
    }

    #[test]
    fn garbage_never_panics() {
        let mut generator = SchemaGen { rng: Gen(0xdead_beef_cafe_f00d), names: 0 };
        let mut rng = Gen(42);
        let mut schemas: Vec<Schema> = (0..200).map(|_| generator.schema(0)).collect();
        schemas.push(fixture::envelope_schema());
        for schema in &schemas {
            for _ in 0..50 {
                let len = rng.below(40) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let _ = decode(schema, &bytes);
            }
            // Bit flips of a valid encoding.
            let value = generator.value(schema, 0);
            let mut bytes = Vec::new();
            if encode(schema, &value, &mut bytes).is_ok() && !bytes.is_empty() {
                for _ in 0..50 {
                    let mut flipped = bytes.clone();
                    let i = rng.below(flipped.len() as u64) as usize;
                    flipped[i] ^= 1 << rng.below(8);
                    let _ = decode(schema, &flipped);
                }
            }
        }
        // Forged counts and lengths.
        let arr = Schema::array(Schema::structure("E", vec![]));
        assert!(decode(&arr, &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        let strings = Schema::array(Schema::primitive(SchemaType::String));
        assert!(decode(&strings, &[0x80, 0x80, 0x80, 0x80, 0x10]).is_err());
        assert!(decode(&Schema::primitive(SchemaType::Bytes), &[0x7e]).is_err());
        assert!(decode(&Schema::primitive(SchemaType::String), &[0x01]).is_err());
        assert!(
            decode(&Schema::primitive(SchemaType::Int32), &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).is_err()
        );
        assert!(decode(&Schema::primitive(SchemaType::Int64), &[0xff; 11]).is_err());
        assert!(decode(&Schema::primitive(SchemaType::Int8), &[0x80, 0x02]).is_err());
        assert!(decode(&Schema::primitive(SchemaType::Boolean), &[2]).is_err());
        assert!(decode(&Schema::primitive(SchemaType::Int32).optional(), &[4, 2]).is_err());
        assert!(decode(&Schema::primitive(SchemaType::String), &[0x02, 0xff]).is_err());
        assert!(decode(&Schema::primitive(SchemaType::Int32), &[0x02, 0x00]).is_err(), "trailing byte");
        // Negative block counts carry a byte size, as other writers may emit them.
        assert_eq!(
            decode(&strings, &[0x01, 0x04, 0x02, b'a', 0x00]).unwrap(),
            ConnectValue::Array(vec![ConnectValue::String("a".into())])
        );
    }

    #[test]
    fn non_finite_floats_round_trip_bitwise() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
            let schema = Schema::primitive(SchemaType::Float64);
            let mut bytes = Vec::new();
            encode(&schema, &ConnectValue::Float64(v), &mut bytes).unwrap();
            let ConnectValue::Float64(back) = decode(&schema, &bytes).unwrap() else { panic!() };
            assert_eq!(back.to_bits(), v.to_bits());
        }
    }
}
