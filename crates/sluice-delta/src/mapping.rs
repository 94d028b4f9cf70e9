//! Debezium (Kafka Connect) schemas → Delta-compatible Arrow schemas.
//!
//! | Connect / Debezium | Arrow (Delta) |
//! |---|---|
//! | `int8` / `int16` / `int32` / `int64` | `Int8` / `Int16` / `Int32` / `Int64` (byte/short/integer/long) |
//! | `float32` / `float64`, `boolean` | `Float32` / `Float64`, `Boolean` |
//! | `string`, every string-shaped semantic type (`Json`, `Uuid`, `Enum`, `Xml`, `ZonedTime`, ...) | `Utf8` |
//! | `bytes` (`Bits` included) | `Binary` |
//! | `org.apache.kafka.connect.data.Decimal`, `connect.decimal.precision` ≤ 38 | `Decimal128(p, s)` |
//! | `Decimal` wider than 38 or of unknown precision, `VariableScaleDecimal` | `Utf8`, exact plain text |
//! | `io.debezium.time.Date`, Connect `Date` | `Date32` |
//! | `io.debezium.time.{Timestamp,MicroTimestamp,NanoTimestamp}`, Connect `Timestamp` | `Timestamp(µs,UTC)` |
//! | `io.debezium.time.ZonedTimestamp` (ISO-8601 text) | `Timestamp(µs, "UTC")`, parsed |
//! | `io.debezium.time.{Time,MicroTime,NanoTime}`, Connect `Time` | `Int64`: microseconds since midnight |
//! | `array` / `struct` / `map` | `List` / `Struct` / `Map` |
//!
//! **Timestamps without time zone are stored as Delta `timestamp` (UTC), not `timestamp_ntz`.** The
//! target architecture names `timestamp_ntz`, but an Arrow `Timestamp(_, None)` column makes delta-rs
//! raise the table's protocol to reader 3 / writer 7 with the `timestampNtz` feature, which shuts
//! out older readers. A `timestamp` column keeps reader 1 / writer 2, and the stored value is exactly
//! Debezium's: the wall-clock time read as microseconds since the epoch in UTC (what `MicroTimestamp`
//! carries). A reader that shows the column in its session time zone shifts the display; read it in
//! UTC to see the source's wall clock.
//!
//! Delta has no time-of-day type, so times become `Int64` microseconds since midnight (nanosecond
//! times are truncated to µs, millisecond times scaled). Debezium's infinity timestamps
//! (`9223372036825200000` µs and its negative twin) are kept as they come. Nanosecond timestamps are
//! truncated (floor) to microseconds.
//!
//! Every column is nullable except the key columns; nested fields are all nullable, so later
//! changes of a column's optionality never need a table rewrite. After the source columns come the
//! metadata columns, named with a leading underscore:
//!
//! * `_op` (`Utf8`, not null): the Debezium operation of the row's last change, `c`, `u` or `r`
//!   (deleted rows leave the table);
//! * `_commit_lsn` (`Int64`, not null): LSN of the source transaction's commit record; for snapshot
//!   rows the snapshot's consistent point (`source.lsn`);
//! * `_seq` (`Int64`, not null): the change's position within its transaction (within the snapshot
//!   for snapshot rows); with `_commit_lsn` it orders all changes of a key;
//! * `_source_ts` (`Timestamp(µs, "UTC")`): the source commit time (snapshot read time for `r`).

use std::collections::HashSet;
use std::sync::Arc;

use deltalake::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Schema as ArrowSchema, SchemaRef, TimeUnit,
};
use sluice_debezium::connect::{Schema, SchemaType};
use sluice_debezium::mapping::semantic;

use crate::error::DeltaError;

/// `_op`: the operation of the row's last change.
pub const OP_COLUMN: &str = "_op";
/// `_commit_lsn`: the commit LSN of the row's last change.
pub const COMMIT_LSN_COLUMN: &str = "_commit_lsn";
/// `_seq`: the position of the row's last change within its transaction.
pub const SEQ_COLUMN: &str = "_seq";
/// `_source_ts`: the source commit time of the row's last change.
pub const SOURCE_TS_COLUMN: &str = "_source_ts";
/// The metadata columns, in the order they follow the source columns.
pub const METADATA_COLUMNS: [&str; 4] = [OP_COLUMN, COMMIT_LSN_COLUMN, SEQ_COLUMN, SOURCE_TS_COLUMN];

/// The time zone of every timestamp column (delta-rs accepts exactly `"UTC"`).
pub const UTC: &str = "UTC";

/// Delta Lake's largest decimal precision.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// How one Connect value becomes one Arrow value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Conversion {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    Utf8,
    Binary,
    /// Connect `Decimal` bytes (big-endian two's complement unscaled value) → `Decimal128(p, s)`.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// Connect `Decimal` bytes → exact text with `scale`.
    DecimalText {
        scale: i32,
    },
    /// `VariableScaleDecimal` struct → exact text; indexes of its `scale` and `value` fields.
    VariableDecimalText {
        scale: usize,
        value: usize,
    },
    /// Days since the epoch.
    Date,
    /// Epoch milliseconds / microseconds / nanoseconds → µs.
    TimestampMillis,
    TimestampMicros,
    TimestampNanos,
    /// ISO-8601 text with offset → µs UTC.
    ZonedTimestamp,
    /// Milliseconds / microseconds / nanoseconds of the day → µs (`Int64`).
    TimeMillis,
    TimeMicros,
    TimeNanos,
    List(Box<Conversion>),
    Struct(Vec<Conversion>),
    Map(Box<Conversion>, Box<Conversion>),
}

/// One source column: its name, Arrow field, Connect schema and conversion.
#[derive(Debug, Clone)]
pub struct ColumnMapping {
    name: String,
    field: FieldRef,
    connect: Arc<Schema>,
    conversion: Conversion,
}

impl ColumnMapping {
    /// The column name (the Connect field name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Arrow field the column is stored as.
    pub fn field(&self) -> &FieldRef {
        &self.field
    }

    /// The Connect schema the column's values come with.
    pub fn connect_schema(&self) -> &Arc<Schema> {
        &self.connect
    }

    pub(crate) fn conversion(&self) -> &Conversion {
        &self.conversion
    }
}

/// A table's Delta layout derived from its Debezium key and row schemas: the source columns in row
/// order, which of them form the key, and the Arrow schema (source columns, then metadata columns).
#[derive(Debug, Clone)]
pub struct TableMapping {
    table: String,
    columns: Vec<ColumnMapping>,
    key: Vec<usize>,
    schema: SchemaRef,
}

impl TableMapping {
    /// The mapping of a table from its key schema and its row schema (`<topic>.Value`, the schema of
    /// the envelope's `after`). `table` names the table in errors (the topic).
    pub fn new(table: &str, key_schema: Option<&Schema>, row_schema: &Schema) -> Result<Self, DeltaError> {
        let schema_err = |message: String| DeltaError::Schema { table: table.to_owned(), message };
        if row_schema.schema_type != SchemaType::Struct {
            return Err(schema_err(format!(
                "the row schema is a {}, not a struct",
                row_schema.schema_type.json_name()
            )));
        }
        let key_schema = key_schema.ok_or_else(|| DeltaError::NoKey { table: table.to_owned() })?;
        if key_schema.fields.is_empty() {
            return Err(DeltaError::NoKey { table: table.to_owned() });
        }
        let mut key = Vec::with_capacity(key_schema.fields.len());
        for kf in &key_schema.fields {
            let i = row_schema.fields.iter().position(|f| f.name == kf.name).ok_or_else(|| {
                schema_err(format!("key column '{}' is not a column of the row schema", kf.name))
            })?;
            key.push(i);
        }
        let mut seen = HashSet::new();
        let mut columns = Vec::with_capacity(row_schema.fields.len());
        for (i, f) in row_schema.fields.iter().enumerate() {
            if METADATA_COLUMNS.contains(&f.name.as_str()) {
                return Err(DeltaError::ColumnConflict { table: table.to_owned(), column: f.name.clone() });
            }
            if !seen.insert(f.name.to_ascii_lowercase()) {
                return Err(schema_err(format!(
                    "two columns are named '{}' ignoring case, which Delta Lake does not allow",
                    f.name
                )));
            }
            let (data_type, conversion) =
                arrow_type(&f.schema).map_err(|m| schema_err(format!("column '{}': {m}", f.name)))?;
            let nullable = !key.contains(&i);
            columns.push(ColumnMapping {
                name: f.name.clone(),
                field: Arc::new(Field::new(&f.name, data_type, nullable)),
                connect: f.schema.clone(),
                conversion,
            });
        }
        let mut fields: Vec<FieldRef> = columns.iter().map(|c| c.field.clone()).collect();
        fields.extend(metadata_fields());
        Ok(TableMapping { table: table.to_owned(), columns, key, schema: Arc::new(ArrowSchema::new(fields)) })
    }

    /// The mapping from a record's key schema and its envelope schema (`<topic>.Envelope`), whose
    /// `after` field holds the row schema.
    pub fn from_envelope(
        table: &str,
        key_schema: Option<&Schema>,
        envelope: &Schema,
    ) -> Result<Self, DeltaError> {
        let row = envelope.field("after").or_else(|| envelope.field("before")).ok_or_else(|| {
            DeltaError::Schema {
                table: table.to_owned(),
                message: "the value schema is not a Debezium envelope (no 'after' field)".into(),
            }
        })?;
        TableMapping::new(table, key_schema, &row.schema)
    }

    /// The table's name in errors (the topic).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The source columns, in row order.
    pub fn columns(&self) -> &[ColumnMapping] {
        &self.columns
    }

    /// Indexes into [`TableMapping::columns`] of the key columns, in key order.
    pub fn key_indexes(&self) -> &[usize] {
        &self.key
    }

    /// The key column names, in key order.
    pub fn key_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.key.iter().map(|&i| self.columns[i].name.as_str())
    }

    /// The Arrow schema of the table: source columns, then [`METADATA_COLUMNS`].
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether the other mapping has the same columns of the same types with the same key.
    pub fn same_layout(&self, other: &TableMapping) -> bool {
        self.key == other.key && self.schema == other.schema
    }
}

/// The metadata fields appended to every table.
pub fn metadata_fields() -> [FieldRef; 4] {
    [
        Arc::new(Field::new(OP_COLUMN, DataType::Utf8, false)),
        Arc::new(Field::new(COMMIT_LSN_COLUMN, DataType::Int64, false)),
        Arc::new(Field::new(SEQ_COLUMN, DataType::Int64, false)),
        Arc::new(Field::new(SOURCE_TS_COLUMN, utc_timestamp(), true)),
    ]
}

/// `Timestamp(Microsecond, "UTC")`, Delta's `timestamp`.
pub fn utc_timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// The Arrow type a Connect schema is stored as, and how its values convert. The error says why
/// a schema has no Delta form.
pub(crate) fn arrow_type(schema: &Schema) -> Result<(DataType, Conversion), String> {
    if let Some(mapped) = semantic_type(schema)? {
        return Ok(mapped);
    }
    Ok(match schema.schema_type {
        SchemaType::Int8 => (DataType::Int8, Conversion::Int8),
        SchemaType::Int16 => (DataType::Int16, Conversion::Int16),
        SchemaType::Int32 => (DataType::Int32, Conversion::Int32),
        SchemaType::Int64 => (DataType::Int64, Conversion::Int64),
        SchemaType::Float32 => (DataType::Float32, Conversion::Float32),
        SchemaType::Float64 => (DataType::Float64, Conversion::Float64),
        SchemaType::Boolean => (DataType::Boolean, Conversion::Boolean),
        SchemaType::String => (DataType::Utf8, Conversion::Utf8),
        SchemaType::Bytes => (DataType::Binary, Conversion::Binary),
        SchemaType::Array => {
            let items = schema.items.as_deref().ok_or("an array schema without an element schema")?;
            let (t, c) = arrow_type(items)?;
            (DataType::List(Arc::new(Field::new("element", t, true))), Conversion::List(Box::new(c)))
        }
        SchemaType::Map => {
            let (k, v) = schema
                .map_key
                .as_deref()
                .zip(schema.map_value.as_deref())
                .ok_or("a map schema without key and value schemas")?;
            let (kt, kc) = arrow_type(k)?;
            let (vt, vc) = arrow_type(v)?;
            let entries = Field::new(
                "key_value",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", kt, false),
                    Field::new("value", vt, true),
                ])),
                false,
            );
            (DataType::Map(Arc::new(entries), false), Conversion::Map(Box::new(kc), Box::new(vc)))
        }
        SchemaType::Struct => {
            if schema.fields.is_empty() {
                return Err("a struct without fields has no Delta Lake type".into());
            }
            let mut fields = Vec::with_capacity(schema.fields.len());
            let mut conversions = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                let (t, c) = arrow_type(&f.schema).map_err(|m| format!("field '{}': {m}", f.name))?;
                fields.push(Field::new(&f.name, t, true));
                conversions.push(c);
            }
            (DataType::Struct(Fields::from(fields)), Conversion::Struct(conversions))
        }
    })
}

/// The mapping of Debezium's and Connect's semantic types, when the schema is one (and has the
/// primitive type that semantic type uses).
fn semantic_type(schema: &Schema) -> Result<Option<(DataType, Conversion)>, String> {
    let Some(name) = schema.name.as_deref() else { return Ok(None) };
    let ty = schema.schema_type;
    let ts = || utc_timestamp();
    Ok(Some(match (name, ty) {
        (semantic::CONNECT_DECIMAL, SchemaType::Bytes) => {
            let scale: i32 = schema
                .parameter(semantic::DECIMAL_SCALE)
                .ok_or("a Decimal schema without a scale parameter")?
                .parse()
                .map_err(|_| "a Decimal schema whose scale is not an integer")?;
            let precision = schema.parameter(semantic::DECIMAL_PRECISION).and_then(|p| p.parse::<i32>().ok());
            match precision {
                Some(p @ 1..=38) if (0..=p).contains(&scale) => {
                    let (p, s) = (p as u8, scale as i8);
                    (DataType::Decimal128(p, s), Conversion::Decimal { precision: p, scale: s })
                }
                _ => (DataType::Utf8, Conversion::DecimalText { scale }),
            }
        }
        (semantic::VARIABLE_SCALE_DECIMAL, SchemaType::Struct) => {
            let scale = schema.fields.iter().position(|f| f.name == "scale");
            let value = schema.fields.iter().position(|f| f.name == "value");
            match scale.zip(value) {
                Some((scale, value)) => (DataType::Utf8, Conversion::VariableDecimalText { scale, value }),
                None => return Err("a VariableScaleDecimal struct without 'scale' and 'value'".into()),
            }
        }
        (semantic::DATE | semantic::CONNECT_DATE, SchemaType::Int32) => (DataType::Date32, Conversion::Date),
        (semantic::TIMESTAMP | semantic::CONNECT_TIMESTAMP, SchemaType::Int64) => {
            (ts(), Conversion::TimestampMillis)
        }
        (semantic::MICRO_TIMESTAMP, SchemaType::Int64) => (ts(), Conversion::TimestampMicros),
        (semantic::NANO_TIMESTAMP, SchemaType::Int64) => (ts(), Conversion::TimestampNanos),
        (semantic::ZONED_TIMESTAMP, SchemaType::String) => (ts(), Conversion::ZonedTimestamp),
        (semantic::TIME | semantic::CONNECT_TIME, SchemaType::Int32) => {
            (DataType::Int64, Conversion::TimeMillis)
        }
        (semantic::MICRO_TIME, SchemaType::Int64) => (DataType::Int64, Conversion::TimeMicros),
        (semantic::NANO_TIME, SchemaType::Int64) => (DataType::Int64, Conversion::TimeNanos),
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use sluice_debezium::connect::Field as ConnectField;

    use super::*;

    fn field(name: &str, schema: Schema) -> ConnectField {
        ConnectField { name: name.into(), schema: Arc::new(schema) }
    }

    fn prim(t: SchemaType) -> Schema {
        Schema::primitive(t)
    }

    fn mapped(schema: Schema) -> DataType {
        arrow_type(&schema).expect("maps").0
    }

    #[test]
    fn primitives_map_to_their_delta_types() {
        assert_eq!(mapped(prim(SchemaType::Int8)), DataType::Int8);
        assert_eq!(mapped(prim(SchemaType::Int16)), DataType::Int16);
        assert_eq!(mapped(prim(SchemaType::Int32)), DataType::Int32);
        assert_eq!(mapped(prim(SchemaType::Int64)), DataType::Int64);
        assert_eq!(mapped(prim(SchemaType::Float32)), DataType::Float32);
        assert_eq!(mapped(prim(SchemaType::Float64)), DataType::Float64);
        assert_eq!(mapped(prim(SchemaType::Boolean)), DataType::Boolean);
        assert_eq!(mapped(prim(SchemaType::String)), DataType::Utf8);
        assert_eq!(mapped(prim(SchemaType::Bytes)), DataType::Binary);
    }

    #[test]
    fn decimals_fit_decimal128_up_to_precision_38_else_text() {
        assert_eq!(mapped(semantic::decimal(2, Some(10))), DataType::Decimal128(10, 2));
        assert_eq!(mapped(semantic::decimal(0, Some(38))), DataType::Decimal128(38, 0));
        assert_eq!(mapped(semantic::decimal(2, Some(39))), DataType::Utf8);
        assert_eq!(mapped(semantic::decimal(2, None)), DataType::Utf8, "unknown precision is too wide");
        assert_eq!(mapped(semantic::decimal(-2, Some(10))), DataType::Utf8, "negative scale");
        assert_eq!(mapped(semantic::variable_scale_decimal()), DataType::Utf8);
        assert_eq!(arrow_type(&semantic::decimal(3, None)).unwrap().1, Conversion::DecimalText { scale: 3 });
    }

    #[test]
    fn temporal_types_become_utc_timestamps_dates_and_microsecond_times() {
        let ts = utc_timestamp();
        assert_eq!(mapped(semantic::named(SchemaType::Int32, semantic::DATE)), DataType::Date32);
        assert_eq!(mapped(semantic::named(SchemaType::Int32, semantic::CONNECT_DATE)), DataType::Date32);
        for name in [semantic::TIMESTAMP, semantic::MICRO_TIMESTAMP, semantic::NANO_TIMESTAMP] {
            assert_eq!(mapped(semantic::named(SchemaType::Int64, name)), ts, "{name}");
        }
        assert_eq!(mapped(semantic::named(SchemaType::Int64, semantic::CONNECT_TIMESTAMP)), ts);
        assert_eq!(mapped(semantic::named_string(semantic::ZONED_TIMESTAMP)), ts);
        assert_eq!(mapped(semantic::named(SchemaType::Int32, semantic::TIME)), DataType::Int64);
        assert_eq!(mapped(semantic::named(SchemaType::Int64, semantic::MICRO_TIME)), DataType::Int64);
        assert_eq!(mapped(semantic::named(SchemaType::Int64, semantic::NANO_TIME)), DataType::Int64);
        for name in [semantic::ZONED_TIME, semantic::JSON, semantic::UUID, semantic::XML, semantic::INTERVAL]
        {
            assert_eq!(mapped(semantic::named_string(name)), DataType::Utf8, "{name}");
        }
        assert_eq!(mapped(semantic::named(SchemaType::Int64, semantic::MICRO_DURATION)), DataType::Int64);
        assert_eq!(mapped(semantic::bits(3)), DataType::Binary);
    }

    #[test]
    fn a_semantic_name_on_an_unexpected_type_falls_back_to_the_primitive_rule() {
        assert_eq!(mapped(semantic::named(SchemaType::String, semantic::MICRO_TIMESTAMP)), DataType::Utf8);
    }

    #[test]
    fn arrays_structs_and_maps_nest() {
        let list = mapped(Schema::array(prim(SchemaType::String).optional()));
        assert_eq!(list, DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))));
        let point = mapped(semantic::point());
        let DataType::Struct(fields) = point else { panic!("struct") };
        assert_eq!(fields.iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["x", "y", "wkb", "srid"]);
        let map = mapped(Schema::map(prim(SchemaType::String), prim(SchemaType::String).optional()));
        let DataType::Map(entries, false) = map else { panic!("map") };
        let DataType::Struct(kv) = entries.data_type() else { panic!("entries") };
        assert!(!kv[0].is_nullable() && kv[1].is_nullable());
        assert!(arrow_type(&Schema::structure("empty", vec![])).is_err());
    }

    fn customers() -> (Schema, Schema) {
        let key = Schema::structure("t.Key", vec![field("id", prim(SchemaType::Int32))]);
        let row = Schema::structure(
            "t.Value",
            vec![
                field("id", prim(SchemaType::Int32)),
                field("name", prim(SchemaType::String).optional()),
                field("updated", semantic::named(SchemaType::Int64, semantic::MICRO_TIMESTAMP).optional()),
            ],
        )
        .optional();
        (key, row)
    }

    #[test]
    fn a_table_has_its_columns_then_the_metadata_columns() {
        let (key, row) = customers();
        let m = TableMapping::new("pg.public.customers", Some(&key), &row).unwrap();
        let names: Vec<&str> = m.arrow_schema().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "name", "updated", "_op", "_commit_lsn", "_seq", "_source_ts"]);
        assert_eq!(m.key_names().collect::<Vec<_>>(), ["id"]);
        assert!(!m.arrow_schema().field(0).is_nullable(), "key columns are not null");
        assert!(m.arrow_schema().field(1).is_nullable());
        assert_eq!(m.arrow_schema().field(6).data_type(), &utc_timestamp());
    }

    #[test]
    fn tables_without_key_or_with_colliding_names_are_refused() {
        let (key, row) = customers();
        assert!(matches!(TableMapping::new("t", None, &row), Err(DeltaError::NoKey { .. })));
        let mut clash = row.clone();
        clash.fields.push(field("_op", prim(SchemaType::String)));
        assert!(matches!(
            TableMapping::new("t", Some(&key), &clash),
            Err(DeltaError::ColumnConflict { column, .. }) if column == "_op"
        ));
        let mut missing_key = key.clone();
        missing_key.fields[0].name = "nope".into();
        assert!(matches!(TableMapping::new("t", Some(&missing_key), &row), Err(DeltaError::Schema { .. })));
    }

    #[test]
    fn every_mapped_schema_is_accepted_by_delta() {
        use deltalake::kernel::StructType;
        use deltalake::kernel::engine::arrow_conversion::TryFromArrow as _;
        let (key, mut row) = customers();
        row.fields.push(field("amount", semantic::decimal(2, Some(12)).optional()));
        row.fields.push(field("tags", Schema::array(prim(SchemaType::String).optional()).optional()));
        row.fields.push(field(
            "attrs",
            Schema::map(prim(SchemaType::String), prim(SchemaType::String).optional()).optional(),
        ));
        row.fields.push(field("geo", semantic::point().optional()));
        row.fields.push(field("d", semantic::named(SchemaType::Int32, semantic::DATE).optional()));
        let m = TableMapping::new("t", Some(&key), &row).unwrap();
        StructType::try_from_arrow(m.arrow_schema().as_ref()).expect("a Delta schema");
    }
}
