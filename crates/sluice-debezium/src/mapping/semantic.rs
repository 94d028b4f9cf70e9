//! Connect schema names, versions, docs and parameter keys of the semantic types Debezium's
//! PostgreSQL connector uses, and builders for their schemas. Every name here is a wire-visible
//! fact: it ends up in `connect.name` (Avro) or `"name"` (JSON schemas).
//!
//! Sources: the `io.debezium.time.*`, `io.debezium.data.*` and `io.debezium.data.geometry.*`
//! classes (all semantic schemas are version 1), `SchemaFactory`, and Kafka Connect's
//! `org.apache.kafka.connect.data.{Decimal,Date,Time,Timestamp}` logical types (also version 1).

use std::sync::Arc;

use crate::connect::{Field, Schema, SchemaType};

/// Version every semantic schema carries.
pub const SEMANTIC_VERSION: i32 = 1;

/// `org.apache.kafka.connect.data.Decimal` (bytes; parameter `scale`).
pub const CONNECT_DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
/// Kafka Connect `Decimal`'s scale parameter.
pub const DECIMAL_SCALE: &str = "scale";
/// Debezium's precision parameter on `Decimal` (`SpecialValueDecimal.PRECISION_PARAMETER_KEY`).
pub const DECIMAL_PRECISION: &str = "connect.decimal.precision";
/// `org.apache.kafka.connect.data.Date` (int32 days).
pub const CONNECT_DATE: &str = "org.apache.kafka.connect.data.Date";
/// `org.apache.kafka.connect.data.Time` (int32 milliseconds of the day).
pub const CONNECT_TIME: &str = "org.apache.kafka.connect.data.Time";
/// `org.apache.kafka.connect.data.Timestamp` (int64 epoch milliseconds).
pub const CONNECT_TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

/// `io.debezium.time.Date` (int32 days since the epoch).
pub const DATE: &str = "io.debezium.time.Date";
/// `io.debezium.time.Time` (int32 milliseconds of the day).
pub const TIME: &str = "io.debezium.time.Time";
/// `io.debezium.time.MicroTime` (int64 microseconds of the day).
pub const MICRO_TIME: &str = "io.debezium.time.MicroTime";
/// `io.debezium.time.NanoTime` (int64 nanoseconds of the day).
pub const NANO_TIME: &str = "io.debezium.time.NanoTime";
/// `io.debezium.time.Timestamp` (int64 epoch milliseconds).
pub const TIMESTAMP: &str = "io.debezium.time.Timestamp";
/// `io.debezium.time.MicroTimestamp` (int64 epoch microseconds).
pub const MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
/// `io.debezium.time.NanoTimestamp` (int64 epoch nanoseconds).
pub const NANO_TIMESTAMP: &str = "io.debezium.time.NanoTimestamp";
/// `io.debezium.time.IsoDate` (string).
pub const ISO_DATE: &str = "io.debezium.time.IsoDate";
/// `io.debezium.time.IsoTime` (string).
pub const ISO_TIME: &str = "io.debezium.time.IsoTime";
/// `io.debezium.time.IsoTimestamp` (string).
pub const ISO_TIMESTAMP: &str = "io.debezium.time.IsoTimestamp";
/// `io.debezium.time.ZonedTime` (string, UTC).
pub const ZONED_TIME: &str = "io.debezium.time.ZonedTime";
/// `io.debezium.time.ZonedTimestamp` (string, UTC).
pub const ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";
/// `io.debezium.time.MicroDuration` (int64 approximate microseconds).
pub const MICRO_DURATION: &str = "io.debezium.time.MicroDuration";
/// `io.debezium.time.Interval` (ISO-8601 string).
pub const INTERVAL: &str = "io.debezium.time.Interval";

/// `io.debezium.data.Bits` (bytes; parameter `length`).
pub const BITS: &str = "io.debezium.data.Bits";
/// `Bits`' length parameter.
pub const BITS_LENGTH: &str = "length";
/// `io.debezium.data.Json`.
pub const JSON: &str = "io.debezium.data.Json";
/// `io.debezium.data.Xml`.
pub const XML: &str = "io.debezium.data.Xml";
/// `io.debezium.data.Uuid`.
pub const UUID: &str = "io.debezium.data.Uuid";
/// `io.debezium.data.Enum` (string; parameter `allowed`).
pub const ENUM: &str = "io.debezium.data.Enum";
/// `Enum`'s parameter: the labels, comma-separated, in `enumsortorder`.
pub const ENUM_ALLOWED: &str = "allowed";
/// `io.debezium.data.Ltree`.
pub const LTREE: &str = "io.debezium.data.Ltree";
/// `io.debezium.data.Tsvector`.
pub const TSVECTOR: &str = "io.debezium.data.Tsvector";
/// `io.debezium.data.VariableScaleDecimal` (struct `scale`, `value`).
pub const VARIABLE_SCALE_DECIMAL: &str = "io.debezium.data.VariableScaleDecimal";
/// `VariableScaleDecimal`'s doc.
pub const VARIABLE_SCALE_DECIMAL_DOC: &str = "Variable scaled decimal";
/// `io.debezium.data.geometry.Point` (struct `x`, `y`, `wkb`, `srid`).
pub const POINT: &str = "io.debezium.data.geometry.Point";
/// `Point`'s doc.
pub const POINT_DOC: &str = "Geometry (POINT)";

/// `io.debezium.data.geometry.Geometry` (struct `wkb`, `srid`; PostGIS `geometry`).
pub const GEOMETRY: &str = "io.debezium.data.geometry.Geometry";
/// `Geometry`'s doc.
pub const GEOMETRY_DOC: &str = "Geometry";
/// `io.debezium.data.geometry.Geography` (struct `wkb`, `srid`; PostGIS `geography`).
pub const GEOGRAPHY: &str = "io.debezium.data.geometry.Geography";
/// `Geography`'s doc.
pub const GEOGRAPHY_DOC: &str = "Geography";
/// `io.debezium.data.DoubleVector` (array of float64; pgvector `vector`).
pub const DOUBLE_VECTOR: &str = "io.debezium.data.DoubleVector";
/// `io.debezium.data.FloatVector` (array of float32; pgvector `halfvec`).
pub const FLOAT_VECTOR: &str = "io.debezium.data.FloatVector";
/// `io.debezium.data.SparseDoubleVector` (struct `dimensions`, `vector`; pgvector `sparsevec`).
pub const SPARSE_DOUBLE_VECTOR: &str = "io.debezium.data.SparseDoubleVector";
/// `SparseDoubleVector`'s doc.
pub const SPARSE_DOUBLE_VECTOR_DOC: &str = "Sparse double vector";

/// Column-mapper parameter: `column.mask.with.N.chars` (`MaskStrings.alterFieldSchema`).
pub const MASKED: &str = "masked";
/// Column-mapper parameter: `column.truncate.to.N.chars` (`TruncateColumn.alterFieldSchema`).
pub const TRUNCATE_LENGTH: &str = "truncateLength";
/// `column.propagate.source.type`: upper-case source type name.
pub const SOURCE_COLUMN_TYPE: &str = "__debezium.source.column.type";
/// `column.propagate.source.type`: column length (JDBC precision).
pub const SOURCE_COLUMN_LENGTH: &str = "__debezium.source.column.length";
/// `column.propagate.source.type`: column scale.
pub const SOURCE_COLUMN_SCALE: &str = "__debezium.source.column.scale";
/// `column.propagate.source.type`: the original column name.
pub const SOURCE_COLUMN_NAME: &str = "__debezium.source.column.name";

/// A required string schema with a semantic name.
pub fn named_string(name: &str) -> Schema {
    Schema::primitive(SchemaType::String).named(name).versioned(SEMANTIC_VERSION)
}

/// A required schema of `ty` with a semantic name.
pub fn named(ty: SchemaType, name: &str) -> Schema {
    Schema::primitive(ty).named(name).versioned(SEMANTIC_VERSION)
}

/// `Decimal.builder(scale)` plus, when given, Debezium's precision parameter.
pub fn decimal(scale: i32, precision: Option<i32>) -> Schema {
    let s = named(SchemaType::Bytes, CONNECT_DECIMAL).with_parameter(DECIMAL_SCALE, scale.to_string());
    match precision {
        Some(p) => s.with_parameter(DECIMAL_PRECISION, p.to_string()),
        None => s,
    }
}

/// `VariableScaleDecimal`'s struct schema.
pub fn variable_scale_decimal() -> Schema {
    Schema::structure(
        VARIABLE_SCALE_DECIMAL,
        vec![
            field("scale", Schema::primitive(SchemaType::Int32)),
            field("value", Schema::primitive(SchemaType::Bytes)),
        ],
    )
    .versioned(SEMANTIC_VERSION)
    .with_doc(VARIABLE_SCALE_DECIMAL_DOC)
}

/// `Point`'s struct schema.
pub fn point() -> Schema {
    Schema::structure(
        POINT,
        vec![
            field("x", Schema::primitive(SchemaType::Float64)),
            field("y", Schema::primitive(SchemaType::Float64)),
            field("wkb", Schema::primitive(SchemaType::Bytes).optional()),
            field("srid", Schema::primitive(SchemaType::Int32).optional()),
        ],
    )
    .versioned(SEMANTIC_VERSION)
    .with_doc(POINT_DOC)
}

/// `Bits.builder(length)`.
pub fn bits(length: i32) -> Schema {
    named(SchemaType::Bytes, BITS).with_parameter(BITS_LENGTH, length.to_string())
}

/// `Enum.builder(allowed)`.
pub fn enumeration(labels: &[String]) -> Schema {
    named_string(ENUM).with_parameter(ENUM_ALLOWED, labels.join(","))
}

fn field(name: &str, schema: Schema) -> Field {
    Field { name: name.to_owned(), schema: Arc::new(schema) }
}
