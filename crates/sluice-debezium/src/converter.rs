//! Record keys and values serialized the way the configured Kafka Connect converter would.
//!
//! `key.converter` / `value.converter` choose JsonConverter (with or without schemas) or an Avro
//! converter. JSON is complete here. Avro needs a schema id from a registry, so this produces the
//! Avro schema text (what the converter would register under `<topic>-key` / `<topic>-value`) and
//! the Avro body; the registry layer frames the body with the id (`avro::frame`).

use crate::avro;
use crate::config::Converter;
use crate::connect::{ConnectValue, Schema};
use crate::error::DebeziumError;
use crate::json;
use crate::record::Record;

/// One serialized key or value.
#[derive(Debug, Clone, PartialEq)]
pub enum Serialized {
    /// The bytes JsonConverter writes; `None` for a null (tombstone value, keyless table).
    Json(Option<Vec<u8>>),
    /// An Avro body to be framed with the id of `schema` once registered; `None` for a null.
    Avro {
        /// The Avro schema text AvroData derives (the registry subject's schema).
        schema: String,
        /// The Avro binary encoding of the value.
        body: Option<Vec<u8>>,
    },
}

/// Serializes a key or value under a converter.
pub fn serialize(
    converter: &Converter,
    schema: Option<&Schema>,
    value: Option<&ConnectValue>,
) -> Result<Serialized, DebeziumError> {
    match converter {
        Converter::Json { schemas_enable } => {
            Ok(Serialized::Json(json::serialize(schema, value, *schemas_enable)?))
        }
        Converter::Avro { .. } => {
            let Some(schema) = schema else { return Ok(Serialized::Json(None)) };
            let text = avro::avro_schema_string(schema)?;
            // A null key or value is sent as no bytes at all, as Confluent's serializer does.
            let body = match value {
                None | Some(ConnectValue::Null) => None,
                Some(v) => {
                    let mut out = Vec::with_capacity(256);
                    avro::encode(schema, v, &mut out)?;
                    Some(out)
                }
            };
            Ok(Serialized::Avro { schema: text, body })
        }
    }
}

/// A record's key under `key.converter`.
pub fn serialize_key(converter: &Converter, record: &Record) -> Result<Serialized, DebeziumError> {
    serialize(converter, record.key_schema.as_deref(), record.key.as_ref())
}

/// A record's value under `value.converter` (a tombstone's value is null).
pub fn serialize_value(converter: &Converter, record: &Record) -> Result<Serialized, DebeziumError> {
    match &record.value {
        None => match converter {
            Converter::Json { .. } => Ok(Serialized::Json(None)),
            Converter::Avro { .. } => Ok(Serialized::Avro {
                schema: record
                    .value_schema
                    .as_deref()
                    .map(avro::avro_schema_string)
                    .transpose()?
                    .unwrap_or_default(),
                body: None,
            }),
        },
        Some(v) => serialize(converter, record.value_schema.as_deref(), Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{Field, SchemaType};

    fn key_schema() -> Schema {
        Schema::structure(
            "srv.public.t.Key",
            vec![Field { name: "id".into(), schema: Schema::primitive(SchemaType::Int32).into() }],
        )
    }

    #[test]
    fn json_with_and_without_schemas() {
        let s = key_schema();
        let v = ConnectValue::Struct(vec![ConnectValue::Int32(1)]);
        let with = serialize(&Converter::Json { schemas_enable: true }, Some(&s), Some(&v)).unwrap();
        let Serialized::Json(Some(bytes)) = with else { panic!("json expected") };
        assert!(
            bytes.starts_with(b"{\"schema\":{\"type\":\"struct\""),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        let without = serialize(&Converter::Json { schemas_enable: false }, Some(&s), Some(&v)).unwrap();
        assert_eq!(without, Serialized::Json(Some(b"{\"id\":1}".to_vec())));
    }

    #[test]
    fn avro_gives_the_registered_schema_and_body() {
        let s = key_schema();
        let v = ConnectValue::Struct(vec![ConnectValue::Int32(1)]);
        let Serialized::Avro { schema, body } =
            serialize(&Converter::Avro { registry_url: None }, Some(&s), Some(&v)).unwrap()
        else {
            panic!("avro expected")
        };
        assert!(schema.contains("\"name\":\"Key\""), "{schema}");
        assert_eq!(body, Some(vec![0x02]), "zig-zag 1");
    }
}
