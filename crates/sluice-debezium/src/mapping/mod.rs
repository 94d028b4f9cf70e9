//! PostgreSQL columns and values → Kafka Connect schemas and values, exactly as Debezium 3.6's
//! PostgreSQL connector produces them for pgoutput streams.
//!
//! Behaviour is re-derived from `PostgresValueConverter` (type switch, bits, money, interval,
//! timestamptz, hstore, arrays, TOAST placeholders), `JdbcValueConverters` (generic JDBC types,
//! `convertValue`'s NOT NULL fallback, binary modes, temporal precision modes),
//! `PostgresDefaultValueConverter` (column defaults), `TableSchemaBuilder` (optional, defaults,
//! conversion-failure handling), `ColumnMappers` / `MaskStrings` / `TruncateColumn` /
//! `PropagateSourceMetadataToSchemaParameter`, `pgoutput.ColumnMetaData` + pgjdbc's
//! `TypeInfoCache` (column length/scale, see `meta.rs`), and the `io.debezium.time` /
//! `io.debezium.data` semantic types (see [`semantic`]).
//!
//! Rules worth knowing (each cites the Debezium class it comes from):
//!
//! * **Omitted columns.** `PostgresValueConverter.schemaBuilder` returns no schema for `box`,
//!   `circle`, `line`, `lseg`, `path`, `polygon`, composite and other unknown types (`xid`, `cid`,
//!   `reg*`, `tsquery`, `jsonpath`, multiranges, non-built-in ranges, extension types), unless
//!   `include.unknown.datatypes` is set; then they are bytes of their text form (geometric types as
//!   pgjdbc's `PGobject.getValue()` re-renders them, with Java `Double.toString` numbers) encoded per
//!   `binary.handling.mode`. Arrays of `money`, `name`, `interval`, `varbit`, `xml` and `point` are
//!   always omitted; arrays of domains, composites and unknown types only exist with
//!   `include.unknown.datatypes`. Extension types recognised by name: PostGIS `geometry`
//!   (`io.debezium.data.geometry.Geometry`, always optional) and `geography`, pgvector `vector`,
//!   `halfvec`, `sparsevec`, and `isbn` (string); see `extension.rs`.
//! * **Key fields** get no column mappers ([`key_column_schema`], and a [`ColumnConverter`] built
//!   without them).
//! * **Array element optionality.** Elements of the explicitly listed array types are optional;
//!   arrays resolved through the generic path (`enum[]`, `bit[]`, `tsvector[]`, unknown element
//!   types) get *required* element schemas, as `PostgresValueConverter.arrayElementSchema` builds
//!   them without `optional()`.
//! * **Conversion failures.** Debezium's `event.converting.failure.handling.mode` defaults to `warn`:
//!   a value that cannot be converted leaves the field unset, which Connect serializes as the field's
//!   default, else null. Here: the schema's default, else `Null` for an optional field, else an error
//!   (Connect's converters reject a null in a required field without default). Examples: `numeric`
//!   NaN/±Infinity in `precise` mode, nanosecond timestamps outside 1677–2262.
//! * **NULL in a NOT NULL column** (the unsent columns of a `REPLICA IDENTITY DEFAULT` before-image):
//!   the schema default when there is one, else the type's fallback (`JdbcValueConverters.convertValue`):
//!   `false`, `0`, `""`, empty bytes, epoch, `"00:00:00Z"`, `"1970-01-01T00:00:00Z"`,
//!   `"P0Y0M0DT0H0M0S"`, point (0,0), `"{}"`/empty map for hstore, empty array.
//! * **`name` columns** have a string schema, but pgoutput values of type `name` only reach the
//!   converter with `include.unknown.datatypes` (`ReplicationMessageColumnValueResolver` has no case
//!   for `name`); otherwise they are null (or the NOT NULL fallback).
//! * **Multi-dimensional arrays**: the JDBC driver hands Debezium nested Java arrays whose rows the
//!   element converter cannot convert; Debezium emits one null per row of the first dimension, and so
//!   does this.
//! * **Unchanged TOAST values** ([`Value::UnchangedToast`], `UnchangedToastedReplicationMessageColumn` and
//!   `UnchangedToastedPlaceholder`): by column type name, `_text`/`_varchar`/`_bpchar`/`_json`/
//!   `_jsonb` → `[placeholder]`, `_bytea` → `[placeholder bytes]` (encoded per binary mode),
//!   `_int4`/`_date` → the placeholder's bytes as signed int32s, `_int8` → as int64s, `_uuid` →
//!   `[UUID.nameUUIDFromBytes(placeholder)]`, `hstore` → `{placeholder: placeholder}` (JSON or map);
//!   any other type: `bytea`/unknown types in `bytes` mode → placeholder bytes, in `hex` mode → the
//!   placeholder string, in base64 modes → null; every other column whose schema is a string
//!   (text, varchar, json, xml, uuid, enum, ranges, tsvector, citext, ltree, numeric in `string` mode,
//!   temporal strings) → the placeholder string; anything else (e.g. `numeric` in precise/double
//!   mode, `float8[]`, `numeric[]`, `bit`) is a conversion failure, as it is in Debezium.
//! * **Column mappers** (`ColumnMappers`): only the first matching rule applies, in the order
//!   truncate rules, mask rules, `column.propagate.source.type`, `datatype.propagate.source.type`.
//!   Masking replaces every value of a CHAR/VARCHAR/TEXT/NAME/enum column (even null) with N `*`
//!   and adds schema parameter `masked=true` (to any matched column). Truncation cuts any string
//!   value to N UTF-16 units and any byte-buffer value (`bytea`/unknown in `bytes` mode) to N bytes,
//!   when the column's length is unknown or above N, and adds `truncateLength=N`.

pub(crate) mod decimal;
pub(crate) mod defaults;
pub(crate) mod extension;
mod mappers;
pub(crate) mod meta;
pub mod semantic;
pub(crate) mod temporal;
mod toast;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use base64::Engine;
use sluice_core::value::Array;
use sluice_core::{Column, ColumnType, Date, Numeric, TableId, Timestamp, TypeKind, Value};

use crate::DebeziumConfig;
use crate::config::{BinaryMode, DecimalMode, HstoreMode, IntervalMode, TimePrecisionMode};
use crate::connect::{ConnectValue, Schema, SchemaType};
use crate::error::DebeziumError;
use crate::java;

use decimal::BigDec;
use extension::Extension;
use mappers::mapper_rule;
use meta::ColumnMeta;
use temporal::{Fraction, IntervalFields};
use toast::toast_value;

/// The Connect schema of a column, or `None` when Debezium omits the column (a type it has no
/// converter for, without `include.unknown.datatypes`).
///
/// The schema is optional when the column is nullable, carries the column default parsed as
/// `PostgresDefaultValueConverter` does (see `defaults.rs`), and the parameters of the first
/// matching column mapper (mask, truncate, propagate source type). For the fields of the *key*
/// struct use [`key_column_schema`]: Debezium applies no column mappers to keys.
pub fn column_schema(
    table: &TableId,
    column: &Column,
    config: &DebeziumConfig,
) -> Result<Option<Schema>, DebeziumError> {
    Ok(schema_for(table, column, config, true))
}

/// The Connect schema of a key column: as [`column_schema`] but without column mappers
/// (`TableSchemaBuilder.create` adds key fields with no mapper).
pub fn key_column_schema(
    table: &TableId,
    column: &Column,
    config: &DebeziumConfig,
) -> Result<Option<Schema>, DebeziumError> {
    Ok(schema_for(table, column, config, false))
}

fn schema_for(table: &TableId, column: &Column, config: &DebeziumConfig, mappers: bool) -> Option<Schema> {
    let meta = meta::column_meta(&column.ty);
    let plan = Plan::for_column(&column.ty, meta, config)?;
    let mut schema = plan.schema();
    if mappers && let Some(rule) = mapper_rule(table, column, config) {
        rule.alter_schema(column, meta, &mut schema);
    }
    if column.nullable {
        schema = schema.optional();
    }
    if let Some(default) = defaults::parse_default(column, &plan, config) {
        schema = schema.with_default(default);
    }
    Some(schema)
}

/// Where a value was read: Debezium converts a few types differently in its snapshot (JDBC) than
/// when streaming (pgoutput text), and sluice reproduces that where Debezium's value is not wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueSource {
    /// An initial-snapshot read (op `r`).
    Snapshot,
    /// A streamed change.
    Stream,
}

/// How one column's values become Connect values: its plan, metadata and column mapper, decided
/// once per table version instead of for every value (the plan depends only on the column's type
/// and the configuration).
#[derive(Debug, Clone)]
pub struct ColumnConverter {
    plan: Plan,
    meta: ColumnMeta,
    rule: Option<mappers::MapperRule>,
}

impl ColumnConverter {
    /// The converter of a value column (`mappers`) or a key column (no column mappers). Fails for
    /// a column without a Connect schema (Debezium omits it).
    pub fn new(
        table: &TableId,
        column: &Column,
        config: &DebeziumConfig,
        mappers: bool,
    ) -> Result<Self, DebeziumError> {
        let meta = meta::column_meta(&column.ty);
        let Some(plan) = Plan::for_column(&column.ty, meta, config) else {
            return Err(DebeziumError::Value {
                table: table.to_string(),
                column: column.name.to_string(),
                message: "the column has no Connect schema (Debezium omits it)".to_owned(),
            });
        };
        let rule = if mappers { mapper_rule(table, column, config) } else { None };
        Ok(ColumnConverter { plan, meta, rule })
    }

    /// The text `convert` would hand out as a Connect string for `value`, borrowed: a character
    /// (or other text-kept) column's text without a column mapper. `None` when the conversion
    /// does anything else, `name` columns included (their snapshot and streaming forms differ).
    /// Lets an encoder write the text without the copy a [`ConnectValue`] would own.
    pub fn borrowed_text<'v>(&self, value: &'v Value) -> Option<&'v str> {
        match (&self.plan, value, &self.rule) {
            (Plan::Text(kind), Value::Text(s), None) if !matches!(kind, TextKind::Name) => Some(s),
            _ => None,
        }
    }

    /// The Connect value of one column value under its schema (from [`column_schema`] or
    /// [`key_column_schema`]); `table`, `column` and `schema` must be the ones the converter was
    /// built for.
    ///
    /// A NULL in a NOT NULL column (as pgoutput sends the columns outside the replica identity of
    /// an old-row image) becomes the schema default or the type's fallback value; Debezium's
    /// `convertValue` applies that rule to every NULL in a NOT NULL column, so this does too.
    pub fn convert(
        &self,
        table: &TableId,
        column: &Column,
        schema: &Schema,
        value: &Value,
        source: ValueSource,
        config: &DebeziumConfig,
    ) -> Result<ConnectValue, DebeziumError> {
        let (plan, meta) = (&self.plan, self.meta);
        let outcome = match value {
            Value::Null => Outcome::Null,
            Value::UnchangedToast => toast_value(plan, column, config),
            // Debezium's snapshot reads `name` columns through JDBC as strings, while its streaming
            // treats them as an unknown type (null unless include.unknown.datatypes).
            Value::Text(s)
                if source == ValueSource::Snapshot && matches!(plan, Plan::Text(TextKind::Name)) =>
            {
                Outcome::Value(ConnectValue::String(s.clone()))
            }
            v => plan.convert(v, config),
        };
        let converted = match outcome {
            Outcome::Value(v) => v,
            Outcome::Null if schema.optional => ConnectValue::Null,
            Outcome::Null => schema.default.clone().unwrap_or_else(|| plan.fallback(meta)),
            Outcome::Failed(why) | Outcome::Thrown(why) => match (&schema.default, schema.optional) {
                (Some(default), _) => default.clone(),
                (None, true) => ConnectValue::Null,
                (None, false) => {
                    return Err(DebeziumError::Value {
                        table: table.to_string(),
                        column: column.name.to_string(),
                        message: format!(
                            "{why}; the column is NOT NULL without a default, so Debezium cannot \
                             serialize the event either"
                        ),
                    });
                }
            },
        };
        Ok(match self.rule {
            Some(rule) => {
                rule.map_value(column, meta, plan, converted, matches!(value, Value::UnchangedToast))
            }
            None => converted,
        })
    }
}

/// Whether a column is captured (`column.include.list` / `column.exclude.list`, matched against
/// `schema.table.column`). Key columns are kept by the caller regardless.
pub fn column_selected(table: &TableId, column: &Column, config: &DebeziumConfig) -> bool {
    let id = column_id(table, column);
    if let Some(include) = &config.column_include {
        return include.iter().any(|re| re.is_match(&id));
    }
    if let Some(exclude) = &config.column_exclude {
        return !exclude.iter().any(|re| re.is_match(&id));
    }
    true
}

fn column_id(table: &TableId, column: &Column) -> String {
    format!("{}.{}.{}", table.schema, table.name, column.name)
}

/// The result of converting one value.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A converted value.
    Value(ConnectValue),
    /// The source value is null (or Debezium's converter sees none).
    Null,
    /// Debezium's converter cannot convert it (`handleUnknownData`: null, logged).
    Failed(String),
    /// Debezium's converter throws; inside an array this fails the whole column, not one element.
    Thrown(String),
}

/// How the text of a string-typed column is labelled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TextKind {
    Plain,
    /// `name`: see the module docs.
    Name,
    Json,
    Xml,
    Uuid,
    Ltree,
    Tsvector,
    Enum(Arc<[String]>),
}

/// `time` / `timestamp` representations per `time.precision.mode` and precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemporalUnit {
    Millis,
    Micros,
    Nanos,
    Iso,
    Connect,
}

/// Geometric types rendered by pgjdbc's `PGobject.getValue()` when included as unknown types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Geometric {
    Box,
    Lseg,
    Path,
    Polygon,
    Line,
    Circle,
}

/// What Debezium does with a column: its schema and its converter, decided once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    Bool,
    Bits(i32),
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Numeric { mode: DecimalMode, meta: ColumnMeta },
    Money { mode: DecimalMode, digits: u32 },
    Text(TextKind),
    Bytea(BinaryMode),
    Unknown(BinaryMode, Option<Geometric>),
    Date(TimePrecisionMode),
    Time(TemporalUnit),
    Timestamp(TemporalUnit),
    TimeTz,
    TimestampTz(i32),
    Interval(IntervalMode),
    Point,
    Hstore(HstoreMode),
    Extension(Extension),
    Array { element: Box<Plan>, element_optional: bool },
}

const BUILTIN_RANGES: [u32; 6] = [3904, 3906, 3908, 3910, 3912, 3926];
const OID_OID: u32 = 26;

fn time_unit(mode: TimePrecisionMode, precision: i32) -> TemporalUnit {
    match mode {
        TimePrecisionMode::Adaptive if precision <= 3 => TemporalUnit::Millis,
        TimePrecisionMode::Adaptive if precision <= 6 => TemporalUnit::Micros,
        TimePrecisionMode::Adaptive => TemporalUnit::Nanos,
        TimePrecisionMode::AdaptiveTimeMicroseconds | TimePrecisionMode::Microseconds => TemporalUnit::Micros,
        TimePrecisionMode::Nanoseconds => TemporalUnit::Nanos,
        TimePrecisionMode::IsoString => TemporalUnit::Iso,
        TimePrecisionMode::Connect => TemporalUnit::Connect,
    }
}

fn timestamp_unit(mode: TimePrecisionMode, precision: i32) -> TemporalUnit {
    match mode {
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds if precision <= 3 => {
            TemporalUnit::Millis
        }
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds if precision <= 6 => {
            TemporalUnit::Micros
        }
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds => TemporalUnit::Nanos,
        TimePrecisionMode::Microseconds => TemporalUnit::Micros,
        TimePrecisionMode::Nanoseconds => TemporalUnit::Nanos,
        TimePrecisionMode::IsoString => TemporalUnit::Iso,
        TimePrecisionMode::Connect => TemporalUnit::Connect,
    }
}

impl Plan {
    /// `PostgresValueConverter.schemaBuilder` / `converter` for a column type (domains resolve to
    /// their base type, as Debezium uses the root type's OID).
    pub(crate) fn for_column(ty: &ColumnType, meta: ColumnMeta, config: &DebeziumConfig) -> Option<Plan> {
        let base = ty.base();
        let unknown =
            |geo| config.include_unknown_datatypes.then_some(Plan::Unknown(config.binary_mode, geo));
        Some(match &base.kind {
            TypeKind::Bool => Plan::Bool,
            TypeKind::Bit | TypeKind::VarBit if meta.length > 1 => Plan::Bits(meta.length),
            TypeKind::Bit | TypeKind::VarBit => Plan::Bool,
            TypeKind::Int2 => Plan::Int16,
            TypeKind::Int4 => Plan::Int32,
            TypeKind::Int8 => Plan::Int64,
            TypeKind::Oid if base.oid == OID_OID => Plan::Int64,
            TypeKind::Float4 => Plan::Float32,
            TypeKind::Float8 => Plan::Float64,
            TypeKind::Numeric => Plan::Numeric { mode: config.decimal_mode, meta },
            TypeKind::Money => {
                Plan::Money { mode: config.decimal_mode, digits: config.money_fraction_digits }
            }
            TypeKind::Bpchar
            | TypeKind::Varchar
            | TypeKind::Text
            | TypeKind::Char
            | TypeKind::Citext
            | TypeKind::Inet
            | TypeKind::Cidr
            | TypeKind::MacAddr
            | TypeKind::MacAddr8 => Plan::Text(TextKind::Plain),
            TypeKind::Range { .. } if BUILTIN_RANGES.contains(&base.oid) => Plan::Text(TextKind::Plain),
            TypeKind::Name => Plan::Text(TextKind::Name),
            TypeKind::Json | TypeKind::Jsonb => Plan::Text(TextKind::Json),
            TypeKind::Xml => Plan::Text(TextKind::Xml),
            TypeKind::Uuid => Plan::Text(TextKind::Uuid),
            TypeKind::Ltree => Plan::Text(TextKind::Ltree),
            TypeKind::TsVector => Plan::Text(TextKind::Tsvector),
            TypeKind::Enum { labels } => Plan::Text(TextKind::Enum(labels.clone())),
            TypeKind::Bytea => Plan::Bytea(config.binary_mode),
            TypeKind::Date => Plan::Date(config.time_precision_mode),
            TypeKind::Time => Plan::Time(time_unit(config.time_precision_mode, meta.time_precision())),
            TypeKind::Timestamp => {
                Plan::Timestamp(timestamp_unit(config.time_precision_mode, meta.time_precision()))
            }
            TypeKind::TimeTz => Plan::TimeTz,
            TypeKind::TimestampTz => Plan::TimestampTz(meta.scale),
            TypeKind::Interval => Plan::Interval(config.interval_mode),
            TypeKind::Point => Plan::Point,
            TypeKind::Hstore => Plan::Hstore(config.hstore_mode),
            TypeKind::Array { element } => return array_plan(element, meta, config),
            TypeKind::Box => return unknown(Some(Geometric::Box)),
            TypeKind::Lseg => return unknown(Some(Geometric::Lseg)),
            TypeKind::Path => return unknown(Some(Geometric::Path)),
            TypeKind::Polygon => return unknown(Some(Geometric::Polygon)),
            TypeKind::Line => return unknown(Some(Geometric::Line)),
            TypeKind::Circle => return unknown(Some(Geometric::Circle)),
            TypeKind::Unknown if Extension::from_type_name(&base.name).is_some() => {
                Plan::Extension(Extension::from_type_name(&base.name)?)
            }
            TypeKind::Oid
            | TypeKind::Range { .. }
            | TypeKind::MultiRange { .. }
            | TypeKind::JsonPath
            | TypeKind::TsQuery
            | TypeKind::Composite
            | TypeKind::Unknown
            | TypeKind::Domain { .. } => return unknown(None),
        })
    }

    /// The Connect schema (required; the caller makes it optional).
    pub(crate) fn schema(&self) -> Schema {
        use semantic as s;
        let p = Schema::primitive;
        match self {
            Plan::Bool => p(SchemaType::Boolean),
            Plan::Bits(n) => s::bits(*n),
            Plan::Int16 => p(SchemaType::Int16),
            Plan::Int32 => p(SchemaType::Int32),
            Plan::Int64 => p(SchemaType::Int64),
            Plan::Float32 => p(SchemaType::Float32),
            Plan::Float64 => p(SchemaType::Float64),
            Plan::Numeric { mode: DecimalMode::Precise, meta } if meta.is_variable_scale_decimal() => {
                s::variable_scale_decimal()
            }
            Plan::Numeric { mode: DecimalMode::Precise, meta } => s::decimal(meta.scale, Some(meta.length)),
            Plan::Money { mode: DecimalMode::Precise, digits } => {
                s::decimal(i32::try_from(*digits).unwrap_or(i32::MAX), None)
            }
            Plan::Numeric { mode: DecimalMode::Double, .. }
            | Plan::Money { mode: DecimalMode::Double, .. } => p(SchemaType::Float64),
            Plan::Numeric { mode: DecimalMode::String, .. }
            | Plan::Money { mode: DecimalMode::String, .. } => p(SchemaType::String),
            Plan::Text(kind) => match kind {
                TextKind::Plain | TextKind::Name => p(SchemaType::String),
                TextKind::Json => s::named_string(s::JSON),
                TextKind::Xml => s::named_string(s::XML),
                TextKind::Uuid => s::named_string(s::UUID),
                TextKind::Ltree => s::named_string(s::LTREE),
                TextKind::Tsvector => s::named_string(s::TSVECTOR),
                TextKind::Enum(labels) => s::enumeration(labels),
            },
            Plan::Bytea(BinaryMode::Bytes) | Plan::Unknown(BinaryMode::Bytes, _) => p(SchemaType::Bytes),
            Plan::Bytea(_) | Plan::Unknown(..) => p(SchemaType::String),
            Plan::Date(TimePrecisionMode::Connect) => s::named(SchemaType::Int32, s::CONNECT_DATE),
            Plan::Date(TimePrecisionMode::IsoString) => s::named_string(s::ISO_DATE),
            Plan::Date(_) => s::named(SchemaType::Int32, s::DATE),
            Plan::Time(unit) => match unit {
                TemporalUnit::Millis => s::named(SchemaType::Int32, s::TIME),
                TemporalUnit::Micros => s::named(SchemaType::Int64, s::MICRO_TIME),
                TemporalUnit::Nanos => s::named(SchemaType::Int64, s::NANO_TIME),
                TemporalUnit::Iso => s::named_string(s::ISO_TIME),
                TemporalUnit::Connect => s::named(SchemaType::Int32, s::CONNECT_TIME),
            },
            Plan::Timestamp(unit) => match unit {
                TemporalUnit::Millis => s::named(SchemaType::Int64, s::TIMESTAMP),
                TemporalUnit::Micros => s::named(SchemaType::Int64, s::MICRO_TIMESTAMP),
                TemporalUnit::Nanos => s::named(SchemaType::Int64, s::NANO_TIMESTAMP),
                TemporalUnit::Iso => s::named_string(s::ISO_TIMESTAMP),
                TemporalUnit::Connect => s::named(SchemaType::Int64, s::CONNECT_TIMESTAMP),
            },
            Plan::TimeTz => s::named_string(s::ZONED_TIME),
            Plan::TimestampTz(_) => s::named_string(s::ZONED_TIMESTAMP),
            Plan::Interval(IntervalMode::Numeric) => s::named(SchemaType::Int64, s::MICRO_DURATION),
            Plan::Interval(IntervalMode::String) => s::named_string(s::INTERVAL),
            Plan::Point => s::point(),
            Plan::Extension(e) => e.schema(),
            Plan::Hstore(HstoreMode::Json) => s::named_string(s::JSON),
            Plan::Hstore(HstoreMode::Map) => {
                Schema::map(p(SchemaType::String), p(SchemaType::String).optional())
            }
            Plan::Array { element, element_optional } => {
                let item = element.schema();
                Schema::array(if *element_optional { item.optional() } else { item })
            }
        }
    }

    /// The Connect type of [`Plan::schema`].
    pub(crate) fn schema_type(&self) -> SchemaType {
        self.schema().schema_type
    }

    /// `convertValue`'s fallback for a NULL in a NOT NULL column without default.
    pub(crate) fn fallback(&self, meta: ColumnMeta) -> ConnectValue {
        use ConnectValue as C;
        match self {
            Plan::Bool => C::Boolean(false),
            Plan::Bits(_) => C::Bytes(Vec::new()),
            Plan::Int16 => C::Int16(0),
            Plan::Int32 => C::Int32(0),
            Plan::Int64 => C::Int64(0),
            Plan::Float32 => C::Float32(0.0),
            Plan::Float64 => C::Float64(0.0),
            Plan::Numeric { .. } => {
                let scale = if meta.scale > 0 { meta.scale } else { 0 };
                match self.convert_decimal(&BigDec::zero(scale)) {
                    Outcome::Value(v) => v,
                    _ => C::Null,
                }
            }
            Plan::Money { mode, digits } => {
                let zero = BigDec::zero(i32::try_from(*digits).unwrap_or(0));
                match mode {
                    DecimalMode::Precise => C::Bytes(zero.unscaled_bytes()),
                    DecimalMode::Double => C::Float64(0.0),
                    DecimalMode::String => C::String(zero.to_plain_string()),
                }
            }
            Plan::Text(_) => C::String(String::new()),
            Plan::Bytea(BinaryMode::Bytes) | Plan::Unknown(BinaryMode::Bytes, _) => C::Bytes(Vec::new()),
            Plan::Bytea(_) | Plan::Unknown(..) => C::String(String::new()),
            Plan::Date(TimePrecisionMode::IsoString) => C::String("1970-01-01Z".to_owned()),
            Plan::Date(_) => C::Int32(0),
            Plan::Time(TemporalUnit::Iso) => C::String("00:00:00Z".to_owned()),
            Plan::Time(TemporalUnit::Millis | TemporalUnit::Connect) => C::Int32(0),
            Plan::Time(_) => C::Int64(0),
            Plan::Timestamp(TemporalUnit::Iso) => C::String("1970-01-01T00:00:00Z".to_owned()),
            Plan::Timestamp(_) => C::Int64(0),
            Plan::TimeTz => C::String("00:00:00Z".to_owned()),
            Plan::TimestampTz(_) => C::String("1970-01-01T00:00:00Z".to_owned()),
            Plan::Interval(IntervalMode::Numeric) => C::Int64(0),
            Plan::Interval(IntervalMode::String) => C::String("P0Y0M0DT0H0M0S".to_owned()),
            Plan::Point => point_value(0.0, 0.0),
            Plan::Extension(e) => e.fallback(),
            Plan::Hstore(HstoreMode::Json) => C::String("{}".to_owned()),
            Plan::Hstore(HstoreMode::Map) => C::Map(Vec::new()),
            Plan::Array { .. } => C::Array(Vec::new()),
        }
    }

    /// Converts a non-null, non-TOAST value.
    pub(crate) fn convert(&self, value: &Value, config: &DebeziumConfig) -> Outcome {
        use ConnectValue as C;
        let ok = Outcome::Value;
        let mismatch =
            || Outcome::Failed(format!("a {} value does not fit this column's type", value_kind(value)));
        match (self, value) {
            (Plan::Bool, Value::Bool(b)) => ok(C::Boolean(*b)),
            (Plan::Bool, Value::Bits { len, data }) => {
                ok(C::Boolean(bits_le(*len, data).iter().any(|&b| b != 0)))
            }
            (Plan::Bits(_), Value::Bits { len, data }) => ok(C::Bytes(bits_le(*len, data))),
            (Plan::Bits(_), Value::Bool(b)) => ok(C::Bytes(vec![u8::from(*b)])),
            (Plan::Int16, Value::Int16(v)) => ok(C::Int16(*v)),
            (Plan::Int32, Value::Int32(v)) => ok(C::Int32(*v)),
            (Plan::Int64, Value::Int64(v)) => ok(C::Int64(*v)),
            (Plan::Float32, Value::Float32(v)) => ok(C::Float32(*v)),
            (Plan::Float64, Value::Float64(v)) => ok(C::Float64(*v)),
            (Plan::Numeric { mode, meta }, Value::Numeric(n)) => match n {
                Numeric::Finite(d) => {
                    // A fixed scale in precise mode is the common case: the i128 path, falling
                    // back to the digit path for what it cannot decide.
                    let fixed_scale = *mode == DecimalMode::Precise
                        && meta.length != meta::VARIABLE_SCALE_DECIMAL_LENGTH
                        && !meta.is_variable_scale_decimal();
                    match fixed_scale.then(|| decimal::unscaled_bytes_at_scale(d, meta.scale)).flatten() {
                        Some(bytes) => ok(C::Bytes(bytes)),
                        None => self.convert_decimal(&BigDec::from_decimal(d)),
                    }
                }
                special => match mode {
                    DecimalMode::Precise => Outcome::Thrown(
                        "NaN and infinities have no Decimal form in decimal.handling.mode=precise".to_owned(),
                    ),
                    DecimalMode::Double => ok(C::Float64(match special {
                        Numeric::PositiveInfinity => f64::INFINITY,
                        Numeric::NegativeInfinity => f64::NEG_INFINITY,
                        _ => f64::NAN,
                    })),
                    DecimalMode::String => ok(C::String(
                        match special {
                            Numeric::PositiveInfinity => "POSITIVE_INFINITY",
                            Numeric::NegativeInfinity => "NEGATIVE_INFINITY",
                            _ => "NAN",
                        }
                        .to_owned(),
                    )),
                },
            },
            (Plan::Money { mode, digits }, Value::Numeric(Numeric::Finite(d))) => {
                let d = BigDec::from_decimal(d);
                ok(match mode {
                    DecimalMode::Precise => {
                        C::Bytes(d.with_scale_half_up(i32::try_from(*digits).unwrap_or(0)).unscaled_bytes())
                    }
                    DecimalMode::Double => C::Float64(d.to_f64()),
                    DecimalMode::String => C::String(d.to_plain_string()),
                })
            }
            (Plan::Text(TextKind::Name), Value::Text(s)) => {
                if config.include_unknown_datatypes {
                    ok(C::String(s.clone()))
                } else {
                    Outcome::Null
                }
            }
            (Plan::Text(TextKind::Uuid), Value::Uuid(b)) => ok(C::String(java::format_uuid(b))),
            (Plan::Text(_), Value::Text(s)) => ok(C::String(s.clone())),
            (Plan::Bytea(mode), Value::Bytes(b)) => ok(encode_binary(*mode, b)),
            (Plan::Unknown(mode, geo), v) => match unknown_text(*geo, v) {
                Some(text) => ok(encode_binary(*mode, text.as_bytes())),
                None => mismatch(),
            },
            (Plan::Date(mode), Value::Date(d)) => {
                let days = match d {
                    Date::Days(d) => i64::from(*d),
                    Date::PositiveInfinity => temporal::date_positive_infinity_days(),
                    Date::NegativeInfinity => temporal::date_negative_infinity_days(),
                };
                ok(date_value(*mode, days))
            }
            (Plan::Time(unit), Value::Time(micros)) => convert_time(*unit, *micros),
            (Plan::Timestamp(unit), Value::Timestamp(ts)) => convert_timestamp(*unit, *ts),
            (Plan::TimeTz, Value::TimeTz { micros, offset_seconds }) => {
                ok(C::String(temporal::zoned_time(*micros, *offset_seconds)))
            }
            (Plan::TimestampTz(width), Value::TimestampTz(ts)) => ok(C::String(match ts {
                Timestamp::Micros(m) => temporal::zoned_timestamp(*m, *width),
                Timestamp::PositiveInfinity => "infinity".to_owned(),
                Timestamp::NegativeInfinity => "-infinity".to_owned(),
            })),
            (Plan::Interval(mode), Value::Interval { months, days, micros }) => {
                let fields = IntervalFields::from_pg(*months, *days, *micros);
                ok(match mode {
                    IntervalMode::Numeric => C::Int64(fields.micro_duration()),
                    IntervalMode::String => C::String(fields.iso_string()),
                })
            }
            (Plan::Point, Value::Point { x, y }) => ok(point_value(*x, *y)),
            (Plan::Extension(e), Value::Text(t)) => e.convert(t),
            (Plan::Hstore(mode), Value::Hstore(pairs)) => ok(hstore_value(*mode, pairs)),
            (Plan::Array { element, element_optional }, Value::Array(a)) => {
                convert_array(element, *element_optional, a, config)
            }
            _ => mismatch(),
        }
    }

    /// `PostgresValueConverter.convertDecimal` for a finite number.
    fn convert_decimal(&self, d: &BigDec) -> Outcome {
        use ConnectValue as C;
        let Plan::Numeric { mode, meta } = self else {
            return Outcome::Failed("not a numeric column".to_owned());
        };
        // JdbcValueConverters.withScaleAdjustedIfNeeded, then the PostgreSQL override.
        let mut d = d.clone();
        if meta.scale > d.scale() {
            d = d.with_scale_exact(meta.scale).unwrap_or(d);
        }
        if meta.length != meta::VARIABLE_SCALE_DECIMAL_LENGTH {
            match d.with_scale_exact(meta.scale) {
                Some(rescaled) => d = rescaled,
                None => {
                    return Outcome::Thrown(format!(
                        "the value has more than {} fraction digits",
                        meta.scale
                    ));
                }
            }
        }
        if meta.is_variable_scale_decimal() && *mode == DecimalMode::Precise {
            let mut stripped = d.strip_trailing_zeros();
            if stripped.scale() < 0 {
                stripped = stripped.with_scale_exact(0).unwrap_or(stripped);
            }
            return Outcome::Value(C::Struct(vec![
                C::Int32(stripped.scale()),
                C::Bytes(stripped.unscaled_bytes()),
            ]));
        }
        Outcome::Value(match mode {
            DecimalMode::Precise => C::Bytes(d.unscaled_bytes()),
            DecimalMode::Double => C::Float64(d.to_f64()),
            DecimalMode::String => C::String(d.to_plain_string()),
        })
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::UnchangedToast => "unchanged TOAST",
        Value::Bool(_) => "boolean",
        Value::Int16(_) => "smallint",
        Value::Int32(_) => "integer",
        Value::Int64(_) => "bigint",
        Value::Float32(_) => "real",
        Value::Float64(_) => "double",
        Value::Numeric(_) => "numeric",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytea",
        Value::Bits { .. } => "bit string",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::TimeTz { .. } => "timetz",
        Value::Timestamp(_) => "timestamp",
        Value::TimestampTz(_) => "timestamptz",
        Value::Interval { .. } => "interval",
        Value::Uuid(_) => "uuid",
        Value::Point { .. } => "point",
        Value::Hstore(_) => "hstore",
        Value::Array(_) => "array",
    }
}

/// `PostgresValueConverter.schemaBuilder`'s array cases: the element plan and whether the element
/// schema is optional, or `None` when Debezium omits the column.
fn array_plan(element: &ColumnType, meta: ColumnMeta, config: &DebeziumConfig) -> Option<Plan> {
    let array =
        |plan: Plan, optional: bool| Plan::Array { element: Box::new(plan), element_optional: optional };
    let unknown_element = || {
        config
            .include_unknown_datatypes
            .then(|| array(Plan::Unknown(config.binary_mode, geometric(element)), false))
    };
    Some(match &element.kind {
        TypeKind::Int2 => array(Plan::Int16, true),
        TypeKind::Int4 => array(Plan::Int32, true),
        TypeKind::Int8 => array(Plan::Int64, true),
        TypeKind::Oid if element.oid == OID_OID => array(Plan::Int64, true),
        TypeKind::Char
        | TypeKind::Varchar
        | TypeKind::Text
        | TypeKind::Bpchar
        | TypeKind::Inet
        | TypeKind::Cidr
        | TypeKind::MacAddr
        | TypeKind::MacAddr8
        | TypeKind::Citext => array(Plan::Text(TextKind::Plain), true),
        TypeKind::Range { .. } if BUILTIN_RANGES.contains(&element.oid) => {
            array(Plan::Text(TextKind::Plain), true)
        }
        TypeKind::Numeric => array(Plan::Numeric { mode: config.decimal_mode, meta }, true),
        TypeKind::Float4 => array(Plan::Float32, true),
        TypeKind::Float8 => array(Plan::Float64, true),
        TypeKind::Bool => array(Plan::Bool, true),
        TypeKind::Date => array(Plan::Date(config.time_precision_mode), true),
        TypeKind::Uuid => array(Plan::Text(TextKind::Uuid), true),
        TypeKind::Json | TypeKind::Jsonb => array(Plan::Text(TextKind::Json), true),
        TypeKind::Time => {
            array(Plan::Time(time_unit(config.time_precision_mode, meta.time_precision())), true)
        }
        TypeKind::TimeTz => array(Plan::TimeTz, true),
        TypeKind::Timestamp => {
            array(Plan::Timestamp(timestamp_unit(config.time_precision_mode, meta.time_precision())), true)
        }
        TypeKind::TimestampTz => array(Plan::TimestampTz(meta.scale), true),
        TypeKind::Bytea => array(Plan::Bytea(config.binary_mode), true),
        TypeKind::Hstore => array(Plan::Hstore(config.hstore_mode), true),
        TypeKind::Ltree => array(Plan::Text(TextKind::Ltree), true),
        // "TODO DBZ-459": no schema, whatever include.unknown.datatypes says.
        TypeKind::Money
        | TypeKind::Name
        | TypeKind::Interval
        | TypeKind::VarBit
        | TypeKind::Xml
        | TypeKind::Point => {
            return None;
        }
        // The generic path (`arrayElementSchema`): element schemas are not made optional.
        TypeKind::Enum { labels } => array(Plan::Text(TextKind::Enum(labels.clone())), false),
        TypeKind::Bit if meta.length > 1 => array(Plan::Bits(meta.length), false),
        TypeKind::Bit => array(Plan::Bool, false),
        TypeKind::TsVector => array(Plan::Text(TextKind::Tsvector), false),
        TypeKind::Unknown => match Extension::from_type_name(&element.name) {
            // geometryArrayOid / geographyArrayOid: optional elements (Geometry's builder is optional).
            Some(g @ (Extension::Geometry | Extension::Geography)) => array(Plan::Extension(g), true),
            Some(other) => array(Plan::Extension(other), false),
            None => return unknown_element(),
        },
        _ => return unknown_element(),
    })
}

fn geometric(ty: &ColumnType) -> Option<Geometric> {
    match ty.base().kind {
        TypeKind::Box => Some(Geometric::Box),
        TypeKind::Lseg => Some(Geometric::Lseg),
        TypeKind::Path => Some(Geometric::Path),
        TypeKind::Polygon => Some(Geometric::Polygon),
        TypeKind::Line => Some(Geometric::Line),
        TypeKind::Circle => Some(Geometric::Circle),
        _ => None,
    }
}

/// Array values as Debezium gets them from pgjdbc's `PgArray.getArray()` (`ArrayDecoding`), which
/// decodes every element first: a value the driver cannot decode (numeric NaN/±Infinity, a `bit(n)`
/// element with n > 1, both parsed as BigDecimal / Boolean) fails the whole column.
///
/// Where the element schema is required (Debezium declares `enum[]`, `bit[]`, `tsvector[]` ... with
/// required elements), an element that would be null cannot be put in the array: Connect rejects
/// the struct, and the column as a whole falls back to null or its default instead.
fn convert_array(element: &Plan, element_optional: bool, array: &Array, config: &DebeziumConfig) -> Outcome {
    let required_null =
        || Outcome::Failed("a NULL element in an array whose elements are required".to_owned());
    if array.dims.len() > 1 {
        let rows = array.dims.first().map_or(0, |d| d.len as usize).min(array.elements.len());
        if !element_optional && rows > 0 {
            return required_null();
        }
        return Outcome::Value(ConnectValue::Array(vec![ConnectValue::Null; rows]));
    }
    let mut out = Vec::with_capacity(array.elements.len());
    for v in &array.elements {
        let converted = match (element, v) {
            (_, Value::Null | Value::UnchangedToast) => Outcome::Null,
            (Plan::Numeric { .. }, Value::Numeric(n)) if !matches!(n, Numeric::Finite(_)) => {
                Outcome::Thrown("the JDBC driver cannot decode NaN/Infinity inside numeric[]".to_owned())
            }
            (Plan::Bits(_), Value::Bits { .. }) => {
                Outcome::Thrown("the JDBC driver decodes bit[] elements as booleans".to_owned())
            }
            // java.sql.Time: millisecond precision, 24:00:00 wrapping to midnight
            // (`TimestampUtils.toTime`, `Conversions.toLocalTime`).
            (Plan::Time(_), Value::Time(micros)) => {
                let ms = micros.rem_euclid(sluice_core::time::MICROS_PER_DAY) / 1000 * 1000;
                element.convert(&Value::Time(ms), config)
            }
            // java.sql.Date of the driver's infinity sentinels, read back in UTC.
            (Plan::Date(mode), Value::Date(Date::PositiveInfinity)) => {
                Outcome::Value(date_value(*mode, sluice_core::time::days_from_civil(292_278_994, 8, 16)))
            }
            (Plan::Date(mode), Value::Date(Date::NegativeInfinity)) => {
                Outcome::Value(date_value(*mode, sluice_core::time::days_from_civil(292_269_055, 12, 2)))
            }
            // java.sql.Timestamp built with the Julian/Gregorian hybrid calendar, then taken as an
            // Instant (`convertTimestampToLocalDateTime`): dates before 1582-10-15 shift.
            (Plan::Timestamp(_), Value::Timestamp(Timestamp::Micros(m))) => {
                element.convert(&Value::Timestamp(Timestamp::Micros(temporal::julian_shift(*m))), config)
            }
            (_, v) => element.convert(v, config),
        };
        out.push(match converted {
            Outcome::Value(c) => c,
            Outcome::Null | Outcome::Failed(_) if !element_optional => return required_null(),
            Outcome::Null | Outcome::Failed(_) => ConnectValue::Null,
            thrown @ Outcome::Thrown(_) => return thrown,
        });
    }
    Outcome::Value(ConnectValue::Array(out))
}

/// A day count per `time.precision.mode` (Java's `(int) date.toEpochDay()` for the int32 forms).
fn date_value(mode: TimePrecisionMode, days: i64) -> ConnectValue {
    match mode {
        TimePrecisionMode::IsoString => ConnectValue::String(format!("{}Z", temporal::iso_local_date(days))),
        _ => ConnectValue::Int32(days as i32),
    }
}

fn convert_time(unit: TemporalUnit, micros: i64) -> Outcome {
    use ConnectValue as C;
    Outcome::Value(match unit {
        TemporalUnit::Millis | TemporalUnit::Connect => C::Int32((micros.div_euclid(1000)) as i32),
        TemporalUnit::Micros => C::Int64(micros),
        TemporalUnit::Nanos => match micros.checked_mul(1000) {
            Some(n) => C::Int64(n),
            None => return Outcome::Thrown("time out of range".to_owned()),
        },
        // IsoTime.toIsoString rejects durations outside 0..=24h; 24:00:00 wraps to midnight.
        TemporalUnit::Iso if !(0..=temporal_day()).contains(&micros) => {
            return Outcome::Failed("time values must be between 00:00:00 and 24:00:00".to_owned());
        }
        TemporalUnit::Iso => C::String(format!("{}Z", temporal::iso_local_time(micros, Fraction::Minimal))),
    })
}

fn temporal_day() -> i64 {
    sluice_core::time::MICROS_PER_DAY
}

fn convert_timestamp(unit: TemporalUnit, ts: Timestamp) -> Outcome {
    use ConnectValue as C;
    let micros = match ts {
        Timestamp::Micros(m) => m,
        Timestamp::PositiveInfinity => temporal::TIMESTAMP_POSITIVE_INFINITY_MICROS,
        Timestamp::NegativeInfinity => temporal::TIMESTAMP_NEGATIVE_INFINITY_MICROS,
    };
    Outcome::Value(match unit {
        TemporalUnit::Millis | TemporalUnit::Connect => C::Int64(micros.div_euclid(1000)),
        TemporalUnit::Micros => C::Int64(micros),
        TemporalUnit::Nanos => match ts {
            Timestamp::PositiveInfinity => C::Int64(i64::MAX),
            Timestamp::NegativeInfinity => C::Int64(i64::MIN),
            Timestamp::Micros(m) => match m.checked_mul(1000) {
                Some(n) => C::Int64(n),
                None => {
                    return Outcome::Thrown(
                        "the timestamp is outside the nanosecond range (years 1677 to 2262)".to_owned(),
                    );
                }
            },
        },
        TemporalUnit::Iso => {
            C::String(format!("{}Z", temporal::iso_local_date_time(micros, Fraction::Minimal)))
        }
    })
}

/// `Point.createValue(schema, x, y)`: `{x, y, wkb, srid=null}` with a little-endian WKB point.
fn point_value(x: f64, y: f64) -> ConnectValue {
    let mut wkb = Vec::with_capacity(21);
    wkb.push(1u8);
    wkb.extend_from_slice(&1u32.to_le_bytes());
    wkb.extend_from_slice(&x.to_le_bytes());
    wkb.extend_from_slice(&y.to_le_bytes());
    ConnectValue::Struct(vec![
        ConnectValue::Float64(x),
        ConnectValue::Float64(y),
        ConnectValue::Bytes(wkb),
        ConnectValue::Null,
    ])
}

/// hstore as Debezium builds it from `HStoreConverter.fromString` (a `HashMap`, so its iteration
/// order): a compact Jackson JSON object, or a Connect map.
fn hstore_value(mode: HstoreMode, pairs: &[(String, Option<String>)]) -> ConnectValue {
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let order = java::hash_map_order(&keys);
    match mode {
        HstoreMode::Json => {
            let mut out = String::from("{");
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                let (k, v) = &pairs[i];
                java::push_json_string(&mut out, k);
                out.push(':');
                match v {
                    Some(v) => java::push_json_string(&mut out, v),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
            ConnectValue::String(out)
        }
        HstoreMode::Map => ConnectValue::Map(
            order
                .iter()
                .map(|&i| {
                    let (k, v) = &pairs[i];
                    (
                        ConnectValue::String(k.clone()),
                        v.clone().map_or(ConnectValue::Null, ConnectValue::String),
                    )
                })
                .collect(),
        ),
    }
}

/// The bit string as a little-endian number (`PostgresValueConverter.convertBits`): the last bit
/// of the string is bit 0; as many bytes as the highest set bit needs (none for all zeros).
fn bits_le(len: u32, data: &[u8]) -> Vec<u8> {
    let len = usize::try_from(len).unwrap_or(0).min(data.len().saturating_mul(8));
    let mut out = vec![0u8; len / 8 + 1];
    let mut highest: Option<usize> = None;
    for i in 0..len {
        if data.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0) {
            let w = len - 1 - i;
            out[w / 8] |= 1 << (w % 8);
            highest = Some(highest.map_or(w, |h: usize| h.max(w)));
        }
    }
    out.truncate(highest.map_or(0, |h| h / 8 + 1));
    out
}

/// `binary.handling.mode` applied to bytes (`JdbcValueConverters.convertBinary*`).
fn encode_binary(mode: BinaryMode, bytes: &[u8]) -> ConnectValue {
    match mode {
        BinaryMode::Bytes => ConnectValue::Bytes(bytes.to_vec()),
        BinaryMode::Base64 => ConnectValue::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        BinaryMode::Base64UrlSafe => {
            ConnectValue::String(base64::engine::general_purpose::URL_SAFE.encode(bytes))
        }
        BinaryMode::Hex => ConnectValue::String(hex::encode(bytes)),
    }
}

/// The text an included unknown-type value is encoded from.
fn unknown_text(geo: Option<Geometric>, value: &Value) -> Option<String> {
    match value {
        Value::Text(s) => Some(match geo {
            Some(g) => render_geometric(g, s).unwrap_or_else(|| s.clone()),
            None => s.clone(),
        }),
        Value::Int64(n) => Some(n.to_string()),
        Value::Int32(n) => Some(n.to_string()),
        _ => None,
    }
}

/// pgjdbc's `PGbox/PGlseg/PGpath/PGpolygon/PGline/PGcircle.getValue()` of PostgreSQL's text form:
/// the same punctuation with every number re-printed by Java's `Double.toString`.
fn render_geometric(geo: Geometric, text: &str) -> Option<String> {
    let numbers: Vec<f64> = text
        .split(['(', ')', '[', ']', '<', '>', '{', '}', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<f64>().ok())
        .collect::<Option<_>>()?;
    let n = |v: f64| java::double_to_string(v);
    let points = |nums: &[f64]| -> String {
        nums.chunks(2)
            .map(|p| format!("({},{})", n(p[0]), n(*p.get(1).unwrap_or(&0.0))))
            .collect::<Vec<_>>()
            .join(",")
    };
    Some(match geo {
        Geometric::Box if numbers.len() == 4 => points(&numbers),
        Geometric::Lseg if numbers.len() == 4 => format!("[{}]", points(&numbers)),
        Geometric::Path if numbers.len().is_multiple_of(2) => {
            if text.trim_start().starts_with('[') {
                format!("[{}]", points(&numbers))
            } else {
                format!("({})", points(&numbers))
            }
        }
        Geometric::Polygon if numbers.len().is_multiple_of(2) => format!("({})", points(&numbers)),
        Geometric::Line if numbers.len() == 3 => {
            format!("{{{},{},{}}}", n(numbers[0]), n(numbers[1]), n(numbers[2]))
        }
        Geometric::Circle if numbers.len() == 3 => {
            format!("<({},{}),{}>", n(numbers[0]), n(numbers[1]), n(numbers[2]))
        }
        _ => return None,
    })
}
