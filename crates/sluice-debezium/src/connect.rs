//! The Kafka Connect data model, as Debezium's records use it.
//!
//! Debezium builds Connect `Schema`s and `Struct`s; the converters (JsonConverter, Confluent's
//! AvroConverter) serialize those. sluice builds the same model so that both serializations can
//! follow the converters' rules exactly. Field order, schema names, versions, parameters (in
//! insertion order) and defaults are all significant: they end up in Avro schemas and JSON.

use std::sync::Arc;

/// Connect's schema types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `float32`
    Float32,
    /// `float64`
    Float64,
    /// `boolean`
    Boolean,
    /// `string`
    String,
    /// `bytes`
    Bytes,
    /// `array`
    Array,
    /// `map`
    Map,
    /// `struct`
    Struct,
}

impl SchemaType {
    /// The name JsonConverter writes in `"type"`.
    pub fn json_name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float",
            SchemaType::Float64 => "double",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }
}

/// One field of a struct schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name (after any name adjustment).
    pub name: String,
    /// Its schema.
    pub schema: Arc<Schema>,
}

/// A Connect schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The type.
    pub schema_type: SchemaType,
    /// Whether the value may be null.
    pub optional: bool,
    /// Semantic name (e.g. `io.debezium.time.MicroTimestamp`, `<topic>.Value`).
    pub name: Option<String>,
    /// Schema version (e.g. 1 for Debezium's semantic types, 2 for the envelope).
    pub version: Option<i32>,
    /// Documentation (`connect.doc` in Avro).
    pub doc: Option<String>,
    /// Parameters in insertion order (e.g. Decimal's `scale`, `connect.decimal.precision`).
    pub parameters: Vec<(String, String)>,
    /// Default value.
    pub default: Option<ConnectValue>,
    /// Struct fields, in order.
    pub fields: Vec<Field>,
    /// Array element schema.
    pub items: Option<Arc<Schema>>,
    /// Map key schema.
    pub map_key: Option<Arc<Schema>>,
    /// Map value schema.
    pub map_value: Option<Arc<Schema>>,
}

impl Schema {
    /// A required primitive schema of `schema_type` with no name.
    pub fn primitive(schema_type: SchemaType) -> Self {
        Schema {
            schema_type,
            optional: false,
            name: None,
            version: None,
            doc: None,
            parameters: Vec::new(),
            default: None,
            fields: Vec::new(),
            items: None,
            map_key: None,
            map_value: None,
        }
    }

    /// A required struct schema named `name` with `fields`.
    pub fn structure(name: impl Into<String>, fields: Vec<Field>) -> Self {
        Schema { name: Some(name.into()), fields, ..Schema::primitive(SchemaType::Struct) }
    }

    /// A required array of `items`.
    pub fn array(items: Schema) -> Self {
        Schema { items: Some(Arc::new(items)), ..Schema::primitive(SchemaType::Array) }
    }

    /// A required map.
    pub fn map(key: Schema, value: Schema) -> Self {
        Schema {
            map_key: Some(Arc::new(key)),
            map_value: Some(Arc::new(value)),
            ..Schema::primitive(SchemaType::Map)
        }
    }

    /// Builder: sets `optional`.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Builder: sets the semantic name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Builder: sets the version.
    pub fn versioned(mut self, version: i32) -> Self {
        self.version = Some(version);
        self
    }

    /// Builder: sets the doc.
    pub fn with_doc(mut self, doc: impl Into<String>) -> Self {
        self.doc = Some(doc.into());
        self
    }

    /// Builder: appends a parameter.
    pub fn with_parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((key.into(), value.into()));
        self
    }

    /// Builder: sets the default value.
    pub fn with_default(mut self, default: ConnectValue) -> Self {
        self.default = Some(default);
        self
    }

    /// A parameter's value.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A Connect value. Structs hold their values in the order of their schema's fields.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectValue {
    /// null
    Null,
    /// `int8`
    Int8(i8),
    /// `int16`
    Int16(i16),
    /// `int32`
    Int32(i32),
    /// `int64`
    Int64(i64),
    /// `float32`
    Float32(f32),
    /// `float64`
    Float64(f64),
    /// `boolean`
    Boolean(bool),
    /// `string`
    String(String),
    /// `bytes`
    Bytes(Vec<u8>),
    /// `array`
    Array(Vec<ConnectValue>),
    /// `map`, entries in order
    Map(Vec<(ConnectValue, ConnectValue)>),
    /// `struct`, one value per schema field, in field order
    Struct(Vec<ConnectValue>),
}

impl ConnectValue {
    /// The variant's Connect type name, for error messages (never the value itself).
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectValue::Null => "null",
            ConnectValue::Int8(_) => "int8",
            ConnectValue::Int16(_) => "int16",
            ConnectValue::Int32(_) => "int32",
            ConnectValue::Int64(_) => "int64",
            ConnectValue::Float32(_) => "float32",
            ConnectValue::Float64(_) => "float64",
            ConnectValue::Boolean(_) => "boolean",
            ConnectValue::String(_) => "string",
            ConnectValue::Bytes(_) => "bytes",
            ConnectValue::Array(_) => "array",
            ConnectValue::Map(_) => "map",
            ConnectValue::Struct(_) => "struct",
        }
    }

    /// True for [`ConnectValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, ConnectValue::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_compose() {
        let s = Schema::primitive(SchemaType::Bytes)
            .named("org.apache.kafka.connect.data.Decimal")
            .versioned(1)
            .with_parameter("scale", "3")
            .with_parameter("connect.decimal.precision", "10")
            .optional();
        assert!(s.optional);
        assert_eq!(s.parameter("scale"), Some("3"));
        assert_eq!(s.parameters[1].0, "connect.decimal.precision", "insertion order kept");
    }
}
