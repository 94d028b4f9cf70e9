//! Kafka Connect's `JsonConverter`, byte for byte.
//!
//! [`schema_to_json`] is the converter's JSON form of a Connect schema: keys in the order
//! `type`, then `items` (array) / `keys`, `values` (map) / `fields` (struct), then `optional`,
//! `name`, `version`, `doc`, `parameters`, `default`; absent metadata is omitted, and each struct
//! field is its schema's object with `"field": <name>` appended last.
//!
//! [`value_to_json`] converts a value the way the converter does with its defaults
//! (`decimal.format=BASE64`, `replace.null.with.default=true`): bytes and `Decimal` (whose value is
//! already the unscaled two's-complement bytes) as standard base64 with padding; Connect `Date`,
//! `Time`, `Timestamp` as their integers; maps whose key schema is `string` as objects, other maps
//! as arrays of `[key, value]` pairs; a null whose schema has a default becomes the default.
//!
//! [`serialize`] produces the exact bytes: compact JSON, the `{"schema":…,"payload":…}` envelope
//! when `schemas.enable`, and Jackson's rendering: integers plainly; float64 as Java's
//! `Double.toString` and float32 as `Float.toString` (`1.0`, `1.0E7`, `1.0E-4`; the JDK 17 digits
//! the oracle prints, see [`java_double`]); non-finite floats as the strings `"NaN"`,
//! `"Infinity"`, `"-Infinity"`; `"`, `\` and control characters escaped (`\n`-style where JSON has
//! one, else `\u00XX` with upper-case hex), everything else (including non-ASCII) as UTF-8.
//!
//! The `serde_json::Value`s returned here hold float32 numbers as the double nearest to the
//! printed decimal; only [`serialize`] guarantees the converter's exact text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use crate::avro::{is_decimal, minimal_decimal};
use crate::connect::{ConnectValue, Schema, SchemaType};
use crate::error::DebeziumError;
use crate::java::float::{java_double, java_float, java_non_finite};

/// The converter's JSON form of `schema` (what travels in `"schema"` with `schemas.enable`).
pub fn schema_to_json(schema: &Schema) -> Value {
    schema_node(schema).to_value()
}

/// The converter's JSON form of `value` under `schema` (what travels in `"payload"`).
pub fn value_to_json(schema: &Schema, value: &ConnectValue) -> Result<Value, DebeziumError> {
    Ok(convert(Some(schema), value)?.to_value())
}

/// The bytes `JsonConverter.fromConnectData` returns; `None` where it returns null (both schema
/// and value absent: tombstones and null keys).
pub fn serialize(
    schema: Option<&Schema>,
    value: Option<&ConnectValue>,
    schemas_enable: bool,
) -> Result<Option<Vec<u8>>, DebeziumError> {
    if schema.is_none() && value.is_none_or(ConnectValue::is_null) {
        return Ok(None);
    }
    let null = ConnectValue::Null;
    let payload = convert(schema, value.unwrap_or(&null))?;
    let json = if schemas_enable {
        Node::Object(vec![
            ("schema".into(), schema.map_or(Node::Null, schema_node)),
            ("payload".into(), payload),
        ])
    } else {
        payload
    };
    let mut out = Vec::with_capacity(512);
    json.write(&mut out);
    Ok(Some(out))
}

/// A JSON tree as Jackson holds it: float and double nodes print differently, objects keep
/// insertion order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f32),
    Double(f64),
    Text(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// Jackson's `ObjectNode.set`: a key already present keeps its place and takes the value.
    pub(crate) fn set(entries: &mut Vec<(String, Node)>, key: String, value: Node) {
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => entries.push((key, value)),
        }
    }

    /// Compact JSON as `JsonConverter` writes it (Jackson's UTF-8 generator, which escapes
    /// characters beyond the Basic Multilingual Plane as `\uD83D\uDE00` surrogate pairs).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        self.write_escaping(out, true);
    }

    /// Compact JSON as Avro's `Schema.toString()` writes it (Jackson's character generator:
    /// every character beyond the control range as it is).
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        self.write_escaping(out, false);
    }

    fn write_escaping(&self, out: &mut Vec<u8>, surrogates: bool) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Node::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Node::Float(f) if f.is_finite() => out.extend_from_slice(java_float(*f).as_bytes()),
            Node::Double(d) if d.is_finite() => out.extend_from_slice(java_double(*d).as_bytes()),
            Node::Float(f) => write_string(java_non_finite(f64::from(*f)), out, surrogates),
            Node::Double(d) => write_string(java_non_finite(*d), out, surrogates),
            Node::Text(s) => write_string(s, out, surrogates),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_escaping(out, surrogates);
                }
                out.push(b']');
            }
            Node::Object(entries) => {
                out.push(b'{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(k, out, surrogates);
                    out.push(b':');
                    v.write_escaping(out, surrogates);
                }
                out.push(b'}');
            }
        }
    }

    /// The same tree as a `serde_json::Value` (non-finite floats as their strings, float32 as
    /// the double nearest to its printed decimal).
    pub(crate) fn to_value(&self) -> Value {
        let number = |text: String, fallback: f64| {
            let v = text.parse::<f64>().unwrap_or(fallback);
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        };
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) if f.is_finite() => number(java_float(*f), f64::from(*f)),
            Node::Double(d) if d.is_finite() => number(java_double(*d), *d),
            Node::Float(f) => Value::from(java_non_finite(f64::from(*f))),
            Node::Double(d) => Value::from(java_non_finite(*d)),
            Node::Text(s) => Value::from(s.as_str()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }
}

/// A JSON string with Jackson's escapes; `surrogates` also escapes characters beyond U+FFFF as
/// their UTF-16 surrogate pair.
fn write_string(s: &str, out: &mut Vec<u8>, surrogates: bool) {
    fn escape_unit(unit: u16, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((unit >> shift) & 0xf)]);
        }
    }
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\0'..='\u{1f}' => escape_unit(c as u16, out),
            c if surrogates && u32::from(c) > 0xffff => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    escape_unit(*unit, out);
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The converter's JSON form of `schema`.
fn schema_node(schema: &Schema) -> Node {
    let mut obj = vec![("type".to_owned(), Node::Text(schema.schema_type.json_name().to_owned()))];
    match schema.schema_type {
        SchemaType::Array => {
            obj.push(("items".into(), schema.items.as_deref().map_or(Node::Null, schema_node)));
        }
        SchemaType::Map => {
            obj.push(("keys".into(), schema.map_key.as_deref().map_or(Node::Null, schema_node)));
            obj.push(("values".into(), schema.map_value.as_deref().map_or(Node::Null, schema_node)));
        }
        SchemaType::Struct => {
            let fields = schema
                .fields
                .iter()
                .map(|field| {
                    let mut f = schema_node(&field.schema);
                    if let Node::Object(entries) = &mut f {
                        Node::set(entries, "field".into(), Node::Text(field.name.clone()));
                    }
                    f
                })
                .collect();
            obj.push(("fields".into(), Node::Array(fields)));
        }
        _ => {}
    }
    obj.push(("optional".into(), Node::Bool(schema.optional)));
    if let Some(name) = &schema.name {
        obj.push(("name".into(), Node::Text(name.clone())));
    }
    if let Some(version) = schema.version {
        obj.push(("version".into(), Node::Int(i64::from(version))));
    }
    if let Some(doc) = &schema.doc {
        obj.push(("doc".into(), Node::Text(doc.clone())));
    }
    if !schema.parameters.is_empty() {
        let mut params = Vec::with_capacity(schema.parameters.len());
        for (k, v) in &schema.parameters {
            Node::set(&mut params, k.clone(), Node::Text(v.clone()));
        }
        obj.push(("parameters".into(), Node::Object(params)));
    }
    if let Some(default) = schema.default.as_ref().filter(|d| !d.is_null()) {
        // Connect's SchemaBuilder rejects a default that does not match its schema; rendering
        // such a default schemaless is the most faithful fallback and never fails.
        let json = convert(Some(schema), default).or_else(|_| schemaless(default)).unwrap_or(Node::Null);
        obj.push(("default".into(), json));
    }
    Node::Object(obj)
}

fn mismatch(schema: &Schema, value: &ConnectValue) -> DebeziumError {
    DebeziumError::SchemaMismatch(format!(
        "JSON: a {} schema{} cannot hold a {} value",
        schema.schema_type.json_name(),
        schema.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
        value.kind()
    ))
}

/// `convertToJson`: `schema` absent means schemaless conversion.
fn convert(schema: Option<&Schema>, value: &ConnectValue) -> Result<Node, DebeziumError> {
    let Some(schema) = schema else { return schemaless(value) };
    if value.is_null() {
        if let Some(default) = &schema.default
            && !default.is_null()
        {
            return convert(Some(schema), default);
        }
        if schema.optional {
            return Ok(Node::Null);
        }
        return Err(DebeziumError::SchemaMismatch(format!(
            "JSON: null value for a required {} without default{}",
            schema.schema_type.json_name(),
            schema.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
        )));
    }
    Ok(match (schema.schema_type, value) {
        (SchemaType::Int8, ConnectValue::Int8(v)) => Node::Int(i64::from(*v)),
        (SchemaType::Int16, ConnectValue::Int16(v)) => Node::Int(i64::from(*v)),
        (SchemaType::Int32, ConnectValue::Int32(v)) => Node::Int(i64::from(*v)),
        (SchemaType::Int64, ConnectValue::Int64(v)) => Node::Int(*v),
        (SchemaType::Float32, ConnectValue::Float32(v)) => Node::Float(*v),
        (SchemaType::Float64, ConnectValue::Float64(v)) => Node::Double(*v),
        (SchemaType::Boolean, ConnectValue::Boolean(v)) => Node::Bool(*v),
        (SchemaType::String, ConnectValue::String(v)) => Node::Text(v.clone()),
        (SchemaType::Bytes, ConnectValue::Bytes(v)) if is_decimal(schema) => {
            Node::Text(BASE64.encode(minimal_decimal(v)))
        }
        (SchemaType::Bytes, ConnectValue::Bytes(v)) => Node::Text(BASE64.encode(v)),
        (SchemaType::Array, ConnectValue::Array(items)) => {
            let item_schema = schema.items.as_deref();
            Node::Array(items.iter().map(|item| convert(item_schema, item)).collect::<Result<_, _>>()?)
        }
        (SchemaType::Map, ConnectValue::Map(entries)) => {
            let object_mode = schema.map_key.as_deref().is_none_or(|k| k.schema_type == SchemaType::String);
            map_node(entries, object_mode, schema.map_key.as_deref(), schema.map_value.as_deref())?
        }
        (SchemaType::Struct, ConnectValue::Struct(values)) => {
            if values.len() != schema.fields.len() {
                return Err(DebeziumError::SchemaMismatch(format!(
                    "JSON: struct{} has {} fields but the value has {}",
                    schema.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default(),
                    schema.fields.len(),
                    values.len()
                )));
            }
            let mut obj = Vec::with_capacity(values.len());
            for (field, v) in schema.fields.iter().zip(values) {
                Node::set(&mut obj, field.name.clone(), convert(Some(&field.schema), v)?);
            }
            Node::Object(obj)
        }
        _ => return Err(mismatch(schema, value)),
    })
}

fn map_node(
    entries: &[(ConnectValue, ConnectValue)],
    object_mode: bool,
    key_schema: Option<&Schema>,
    value_schema: Option<&Schema>,
) -> Result<Node, DebeziumError> {
    if object_mode {
        let mut obj = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            // Jackson's `asText()` of the converted key: the text itself, or "null".
            let key = match convert(key_schema, k)? {
                Node::Text(s) => s,
                other => {
                    let mut text = Vec::new();
                    other.write_text(&mut text);
                    String::from_utf8_lossy(&text).into_owned()
                }
            };
            Node::set(&mut obj, key, convert(value_schema, v)?);
        }
        Ok(Node::Object(obj))
    } else {
        let mut list = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            list.push(Node::Array(vec![convert(key_schema, k)?, convert(value_schema, v)?]));
        }
        Ok(Node::Array(list))
    }
}

/// Conversion without a schema: types follow the values; structs need a schema.
fn schemaless(value: &ConnectValue) -> Result<Node, DebeziumError> {
    Ok(match value {
        ConnectValue::Null => Node::Null,
        ConnectValue::Int8(v) => Node::Int(i64::from(*v)),
        ConnectValue::Int16(v) => Node::Int(i64::from(*v)),
        ConnectValue::Int32(v) => Node::Int(i64::from(*v)),
        ConnectValue::Int64(v) => Node::Int(*v),
        ConnectValue::Float32(v) => Node::Float(*v),
        ConnectValue::Float64(v) => Node::Double(*v),
        ConnectValue::Boolean(v) => Node::Bool(*v),
        ConnectValue::String(v) => Node::Text(v.clone()),
        ConnectValue::Bytes(v) => Node::Text(BASE64.encode(v)),
        ConnectValue::Array(items) => Node::Array(items.iter().map(schemaless).collect::<Result<_, _>>()?),
        ConnectValue::Map(entries) => {
            let object_mode = entries.iter().all(|(k, _)| matches!(k, ConnectValue::String(_)));
            map_node(entries, object_mode, None, None)?
        }
        ConnectValue::Struct(_) => {
            return Err(DebeziumError::SchemaMismatch("JSON: a struct value needs a schema".into()));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::avro::fixture;
    use crate::connect::Field;

    fn ser(schema: &Schema, value: &ConnectValue) -> Vec<u8> {
        serialize(Some(schema), Some(value), false).unwrap().unwrap()
    }

    fn schema_text(schema: &Schema) -> Vec<u8> {
        let mut out = Vec::new();
        schema_node(schema).write(&mut out);
        out
    }

    fn text(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("not a tombstone")).unwrap()
    }

    #[test]
    fn key_matches_the_oracle_byte_for_byte() {
        let key = ConnectValue::Struct(vec![ConnectValue::Int32(2)]);
        let out = text(serialize(Some(&fixture::key_schema()), Some(&key), true).unwrap());
        assert_eq!(
            out,
            r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"default":0,"field":"id"}],"optional":false,"name":"PostgreSQL_server.public.customers.Key"},"payload":{"id":2}}"#
        );
    }

    #[test]
    fn envelope_matches_the_oracle() {
        let out = serialize(Some(&fixture::envelope_schema()), Some(&fixture::sally_insert()), true).unwrap();
        let out = text(out);
        let parsed: Value = serde_json::from_str(&out).unwrap();
        // Same keys in the same order, same values, same layout once pretty-printed.
        assert_eq!(serde_json::to_string_pretty(&parsed).unwrap(), fixture::ORACLE_SALLY_INSERT_JSON);
        // And compact, as the converter writes it.
        let oracle: Value = serde_json::from_str(fixture::ORACLE_SALLY_INSERT_JSON).unwrap();
        assert_eq!(out, serde_json::to_string(&oracle).unwrap());
        assert!(out.contains(r#""snapshot":"false""#), "null took the schema default");
    }

    #[test]
    fn schemas_disabled_payload_only_and_tombstones() {
        let key = ConnectValue::Struct(vec![ConnectValue::Int32(1)]);
        let out = text(serialize(Some(&fixture::key_schema()), Some(&key), false).unwrap());
        assert_eq!(out, r#"{"id":1}"#);
        assert_eq!(serialize(None, None, true).unwrap(), None);
        assert_eq!(serialize(None, Some(&ConnectValue::Null), false).unwrap(), None);
        // A schema with a null value is not a tombstone: the converter writes the envelope.
        let opt = Schema::primitive(SchemaType::String).optional();
        assert_eq!(
            text(serialize(Some(&opt), None, true).unwrap()),
            r#"{"schema":{"type":"string","optional":true},"payload":null}"#
        );
        assert_eq!(text(serialize(Some(&opt), None, false).unwrap()), "null");
        // Schemaless values.
        let v = ConnectValue::Map(vec![(ConnectValue::String("a".into()), ConnectValue::Int64(1))]);
        assert_eq!(text(serialize(None, Some(&v), true).unwrap()), r#"{"schema":null,"payload":{"a":1}}"#);
        let struct_value = ConnectValue::Struct(vec![]);
        assert!(serialize(None, Some(&struct_value), false).is_err());
    }

    #[test]
    fn java_number_rendering() {
        let cases = [
            (1.0, "1.0"),
            (-1.5, "-1.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (1234567.0, "1234567.0"),
            (1.0e7, "1.0E7"),
            (12345678.9, "1.23456789E7"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (0.002, "0.002"),
            (123456.789, "123456.789"),
            // JDK 17's digit loop is not always shortest; these are its outputs.
            (1.0e23, "9.999999999999999E22"),
            (f64::from(166.607_57_f32), "166.60757446289062"),
            (f64::from_bits(4887653634698721523), "5.8896779562023516E18"),
            (7.743_126_36e19, "7.743126360000001E19"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (4.9e-324, "4.9E-324"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (v, expected) in cases {
            assert_eq!(java_double(v), expected, "{v:e}");
            let out = serialize(
                Some(&Schema::primitive(SchemaType::Float64)),
                Some(&ConnectValue::Float64(v)),
                false,
            );
            assert_eq!(text(out.unwrap()), expected);
        }
        let floats = [
            (0.1f32, "0.1"),
            (1.0f32, "1.0"),
            (3.4028235e38f32, "3.4028235E38"),
            (1.0e10f32, "1.0E10"),
            (1.4e-45f32, "1.4E-45"),
            (16777216.0f32, "1.6777216E7"),
            (-2.5e-4f32, "-2.5E-4"),
            (0.3f32, "0.3"),
            (f32::from_bits(1468865650), "3.10306622E14"),
            (4.388e16f32, "4.3880002E16"),
        ];
        for (v, expected) in floats {
            assert_eq!(java_float(v), expected, "{v:e}");
        }
        let nan = Schema::primitive(SchemaType::Float64);
        for (v, expected) in
            [(f64::NAN, "\"NaN\""), (f64::INFINITY, "\"Infinity\""), (f64::NEG_INFINITY, "\"-Infinity\"")]
        {
            let out = text(serialize(Some(&nan), Some(&ConnectValue::Float64(v)), false).unwrap());
            assert_eq!(out, expected);
        }
        let out = text(
            serialize(
                Some(&Schema::primitive(SchemaType::Int64)),
                Some(&ConnectValue::Int64(i64::MIN)),
                false,
            )
            .unwrap(),
        );
        assert_eq!(out, "-9223372036854775808");
    }

    #[test]
    fn jackson_string_escapes() {
        let s = Schema::primitive(SchemaType::String);
        let v = ConnectValue::String("a\"b\\c\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f}é/😀".into());
        let out = text(serialize(Some(&s), Some(&v), false).unwrap());
        // Jackson's UTF-8 generator escapes characters beyond U+FFFF as surrogate pairs.
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001F\u{7f}é/\\uD83D\\uDE00\"");
        let mut text = Vec::new();
        Node::Text("é😀\u{1}".into()).write_text(&mut text);
        assert_eq!(text, "\"é😀\\u0001\"".as_bytes());
    }

    #[test]
    fn logical_and_binary_values() {
        let decimal = Schema::primitive(SchemaType::Bytes)
            .named("org.apache.kafka.connect.data.Decimal")
            .versioned(1)
            .with_parameter("scale", "3")
            .with_parameter("connect.decimal.precision", "10");
        // numeric(10,3) 12.345 → unscaled 12345 = 0x3039 → "MDk=" (reference §3.1).
        let json = value_to_json(&decimal, &ConnectValue::Bytes(vec![0x30, 0x39])).unwrap();
        assert_eq!(json, Value::from("MDk="));
        assert_eq!(
            schema_to_json(&decimal),
            serde_json::json!({"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"3","connect.decimal.precision":"10"}})
        );
        let date =
            Schema::primitive(SchemaType::Int32).named("org.apache.kafka.connect.data.Date").versioned(1);
        assert_eq!(value_to_json(&date, &ConnectValue::Int32(17109)).unwrap(), Value::from(17109));
    }

    #[test]
    fn maps_arrays_and_defaults() {
        let hstore = Schema::map(
            Schema::primitive(SchemaType::String),
            Schema::primitive(SchemaType::String).optional(),
        );
        let v = ConnectValue::Map(vec![
            (ConnectValue::String("k".into()), ConnectValue::String("v".into())),
            (ConnectValue::String("n".into()), ConnectValue::Null),
        ]);
        assert_eq!(ser(&hstore, &v), br#"{"k":"v","n":null}"#);
        assert_eq!(
            schema_text(&hstore),
            br#"{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},"optional":false}"#
        );
        let sparse =
            Schema::map(Schema::primitive(SchemaType::Int16), Schema::primitive(SchemaType::Float64));
        let v = ConnectValue::Map(vec![(ConnectValue::Int16(1), ConnectValue::Float64(2.0))]);
        assert_eq!(ser(&sparse, &v), b"[[1,2.0]]");
        let arr = Schema::array(Schema::primitive(SchemaType::Int32).optional()).optional().with_doc("d");
        let v = ConnectValue::Array(vec![ConnectValue::Int32(1), ConnectValue::Null]);
        assert_eq!(ser(&arr, &v), b"[1,null]");
        assert_eq!(
            schema_text(&arr),
            br#"{"type":"array","items":{"type":"int32","optional":true},"optional":true,"doc":"d"}"#
        );
        let bytes = Schema::primitive(SchemaType::Bytes);
        assert_eq!(value_to_json(&bytes, &ConnectValue::Bytes(vec![1, 2, 3])).unwrap(), Value::from("AQID"));
    }

    #[test]
    fn mismatches_are_errors() {
        let st = Schema::structure(
            "s",
            vec![Field { name: "a".into(), schema: Arc::new(Schema::primitive(SchemaType::Int32)) }],
        );
        assert!(value_to_json(&st, &ConnectValue::Struct(vec![])).is_err());
        assert!(value_to_json(&st, &ConnectValue::Struct(vec![ConnectValue::Null])).is_err());
        assert!(value_to_json(&st, &ConnectValue::Struct(vec![ConnectValue::Int64(1)])).is_err());
        assert!(value_to_json(&st, &ConnectValue::Int32(1)).is_err());
        assert!(
            value_to_json(
                &Schema::primitive(SchemaType::Array),
                &ConnectValue::Array(vec![ConnectValue::Int8(1)])
            )
            .is_ok()
        );
    }
}
