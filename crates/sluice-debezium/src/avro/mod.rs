//! Confluent's Avro serialization of the Connect model, as `AvroConverter` does it.
//!
//! * [`avro_schema`] / [`avro_schema_string`]: `AvroData.fromConnectSchema` with the default
//!   `AvroDataConfig` (`connect.meta.data=true`, `enhanced.avro.schema.support=false`,
//!   `scrub.invalid.names=false`, `discard.type.doc.default=false`,
//!   `allow.optional.map.keys=false`), rendered as Avro's `Schema.toString()` — the text the
//!   converter registers.
//! * [`encode`] / [`decode`]: Avro binary encoding of a value under that schema.
//! * [`connect_schema_from_avro`]: the inverse, `AvroData.toConnectSchema`: the Connect schema a
//!   sink derives from a registered Avro schema.
//! * [`frame`] / [`unframe`]: the Confluent wire format (magic byte 0, big-endian schema id).
//!   (`KafkaAvroSerializer` writes a top-level `bytes` schema's value raw, without the Avro length
//!   prefix; Debezium keys and values are records, so this module does not special-case it.)
//!
//! Schemas: build the text once per Connect schema and cache it with its registry id; `encode`
//! works from the Connect schema directly and allocates nothing but `out`'s growth.
//!
//! The layout rules shared by the schema and the binary encoding (which union branch comes first,
//! when a map becomes an array of entries) live in this module so that both always agree.
//!
//! Value contract: a `Decimal` (`org.apache.kafka.connect.data.Decimal`) value is
//! [`ConnectValue::Bytes`] holding the unscaled value as big-endian two's complement, already at
//! the schema's scale (redundant sign bytes are dropped on output, as the converters' round trip
//! through `BigDecimal` does); Connect `Date`/`Time` are `Int32`, `Timestamp` is `Int64`. A null
//! whose schema has a default is serialized as the default, as Connect's `Struct.get` hands it out.

mod connect_schema;
mod decode;
mod encode;
mod schema;
mod wire;

#[cfg(test)]
pub(crate) mod fixture;

use crate::connect::{ConnectValue, Schema, SchemaType};

pub use connect_schema::connect_schema_from_avro;
pub use decode::decode;
pub use encode::{encode, write_present, write_string};
pub use schema::{avro_schema, avro_schema_string};
pub use wire::{MAGIC_BYTE, frame, unframe};

/// `io.confluent.connect.avro`: namespace of `ConnectDefault` and `MapEntry` records.
pub const CONFLUENT_NAMESPACE: &str = "io.confluent.connect.avro";

/// The Connect logical type names that map to Avro logical types.
pub(crate) const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
pub(crate) const DATE: &str = "org.apache.kafka.connect.data.Date";
pub(crate) const TIME: &str = "org.apache.kafka.connect.data.Time";
pub(crate) const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

/// True for Connect's `Decimal` logical type (matched exactly, as the converters' lookups do).
pub(crate) fn is_decimal(schema: &Schema) -> bool {
    schema.name.as_deref() == Some(DECIMAL)
}

/// The unscaled bytes of a decimal in the minimal two's-complement form the converters produce
/// through `BigDecimal` (`BigInteger.toByteArray()`): redundant sign bytes dropped, and zero as
/// `[0x00]` when empty.
pub(crate) fn minimal_decimal(bytes: &[u8]) -> &[u8] {
    if bytes.is_empty() {
        return &[0];
    }
    let redundant = bytes
        .windows(2)
        .take_while(|w| (w[0] == 0x00 && w[1] & 0x80 == 0) || (w[0] == 0xff && w[1] & 0x80 != 0))
        .count();
    &bytes[redundant..]
}

/// How an optional schema's union is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Optionality {
    /// Not optional: the bare type.
    Required,
    /// `["null", T]`: null is branch 0.
    NullFirst,
    /// `[T, "null"]` (optional with a non-null default): null is branch 1.
    NullLast,
}

impl Optionality {
    /// The union branch index of null and of the value, if a union.
    pub(crate) fn branches(self) -> Option<(i64, i64)> {
        match self {
            Optionality::Required => None,
            Optionality::NullFirst => Some((0, 1)),
            Optionality::NullLast => Some((1, 0)),
        }
    }
}

/// The schema's default, unless it is absent or null (Connect treats a null default as none).
pub(crate) fn default_of(schema: &Schema) -> Option<&ConnectValue> {
    schema.default.as_ref().filter(|d| !d.is_null())
}

/// The union layout `AvroData` gives `schema`: optional structs always get `["null", record]`;
/// other optional schemas put the type first when they have a default.
pub(crate) fn optionality(schema: &Schema) -> Optionality {
    if !schema.optional {
        Optionality::Required
    } else if schema.schema_type != SchemaType::Struct && default_of(schema).is_some() {
        Optionality::NullLast
    } else {
        Optionality::NullFirst
    }
}

/// True when a Connect map becomes an Avro array of `{key, value}` records rather than an Avro
/// map: Avro maps only have non-null string keys.
pub(crate) fn map_as_entries(key: &Schema) -> bool {
    key.schema_type != SchemaType::String || key.optional
}
