//! Per-table Connect schemas (key, row value, envelope) and the shared `source` and
//! `transaction` blocks, with the builders of their values.
//!
//! Shapes are Debezium 3.6's: the envelope `<topic>.Envelope` (version 2) has the fields `before`,
//! `after` (the optional row struct `<topic>.Value`), `source`
//! (`io.debezium.connector.postgresql.Source` version 1), `transaction` (optional `event.block`
//! version 1), `op`, `ts_ms`, `ts_us`, `ts_ns`, in that order. The key `<topic>.Key` holds the key
//! columns (primary key, replica-identity index, or `message.key.columns`) and is absent when the
//! table has none. Row and key structs carry no version.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use sluice_core::{Lsn, Origin, Row, SnapshotMark, TableSchema, Timestamp, Value, Xid};

use crate::config::{DEBEZIUM_VERSION, DebeziumConfig};
use crate::connect::{ConnectValue, Field, Schema, SchemaType};
use crate::error::DebeziumError;
use crate::mapping::{self, ColumnConverter, ValueSource};
use crate::naming::{self, NameAdjuster};

/// `Envelope.SCHEMA_VERSION`.
pub const ENVELOPE_SCHEMA_VERSION: i32 = 2;
/// Name of the PostgreSQL `source` block schema.
pub const SOURCE_SCHEMA_NAME: &str = "io.debezium.connector.postgresql.Source";
/// Name of the envelope's transaction block schema.
pub const TRANSACTION_BLOCK_SCHEMA_NAME: &str = "event.block";
/// Semantic name of the `snapshot` field.
pub const ENUM_SCHEMA_NAME: &str = "io.debezium.data.Enum";
/// The `allowed` values of the `snapshot` enum, in `SnapshotRecord` declaration order.
pub const SNAPSHOT_ALLOWED: &str =
    "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental";
/// `source.connector` of the PostgreSQL connector.
pub const CONNECTOR_NAME: &str = "postgresql";

fn field(name: &str, schema: Schema) -> Field {
    Field { name: name.to_owned(), schema: Arc::new(schema) }
}

fn string() -> Schema {
    Schema::primitive(SchemaType::String)
}

fn int64() -> Schema {
    Schema::primitive(SchemaType::Int64)
}

/// The `source.snapshot` schema: optional `io.debezium.data.Enum` v1, default `"false"`.
pub fn snapshot_schema() -> Schema {
    string()
        .named(ENUM_SCHEMA_NAME)
        .versioned(1)
        .with_parameter("allowed", SNAPSHOT_ALLOWED)
        .with_default(ConnectValue::String("false".into()))
        .optional()
}

/// The `io.debezium.connector.postgresql.Source` schema (version 1, 16 fields).
pub fn source_schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(
                Schema::structure(
                    SOURCE_SCHEMA_NAME,
                    vec![
                        field("version", string()),
                        field("connector", string()),
                        field("name", string()),
                        field("ts_ms", int64()),
                        field("snapshot", snapshot_schema()),
                        field("db", string()),
                        field("sequence", string().optional()),
                        field("ts_us", int64().optional()),
                        field("ts_ns", int64().optional()),
                        field("schema", string()),
                        field("table", string()),
                        field("txId", int64().optional()),
                        field("lsn", int64().optional()),
                        field("xmin", int64().optional()),
                        field("origin", string().optional()),
                        field("origin_lsn", int64().optional()),
                    ],
                )
                .versioned(1),
            )
        })
        .clone()
}

/// The envelope's `transaction` field schema: optional `event.block` v1 `{id, total_order,
/// data_collection_order}`.
pub fn transaction_block_schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(
                Schema::structure(
                    TRANSACTION_BLOCK_SCHEMA_NAME,
                    vec![
                        field("id", string()),
                        field("total_order", int64()),
                        field("data_collection_order", int64()),
                    ],
                )
                .versioned(1)
                .optional(),
            )
        })
        .clone()
}

/// Milliseconds, microseconds and nanoseconds since the epoch, as `Instant` arithmetic gives them.
pub fn epoch_parts(ts: Timestamp) -> Result<(i64, i64, i64), DebeziumError> {
    match ts {
        Timestamp::Micros(us) => Ok((us.div_euclid(1000), us, us.saturating_mul(1000))),
        _ => Err(DebeziumError::SchemaMismatch("an event time is infinite".into())),
    }
}

/// The `source.snapshot` value for a snapshot mark (`None` = streaming).
///
/// Precedence as in Debezium's marker resolution: last, first, last in table, first in table, true.
pub fn snapshot_marker(mark: Option<&SnapshotMark>) -> &'static str {
    mark.map_or("false", SnapshotMark::marker)
}

/// `source.sequence`: the JSON array `["<last commit LSN>","<LSN>"]`, each a decimal string or null.
pub fn sequence_text(last_commit: Option<Lsn>, lsn: Option<Lsn>) -> String {
    // Written for every event: plain appends rather than the formatting machinery.
    fn part(out: &mut String, l: Option<Lsn>) {
        match l {
            None => out.push_str("null"),
            Some(l) => {
                let v = l.as_u64() as i64;
                out.push('"');
                if v < 0 {
                    out.push('-');
                }
                crate::mapping::temporal::push_padded(out, v.unsigned_abs(), 1);
                out.push('"');
            }
        }
    }
    let mut out = String::with_capacity(48);
    out.push('[');
    part(&mut out, last_commit);
    out.push(',');
    part(&mut out, lsn);
    out.push(']');
    out
}

/// What goes into one `source` block.
#[derive(Debug, Clone)]
pub struct SourceInfo<'a> {
    /// The change's time in the database (commit time; snapshot read time).
    pub ts: Timestamp,
    /// Snapshot mark of a snapshot read; `None` while streaming.
    pub snapshot: Option<&'a SnapshotMark>,
    /// LSN of the last commit processed before this event (first element of `sequence`).
    pub last_commit_lsn: Option<Lsn>,
    /// The event's LSN.
    pub lsn: Option<Lsn>,
    /// PostgreSQL schema (`""` for messages).
    pub schema: &'a str,
    /// Table name (`""` for messages).
    pub table: &'a str,
    /// Transaction id.
    pub tx_id: Option<Xid>,
    /// Replication origin.
    pub origin: Option<&'a Origin>,
}

/// Builds the `source` struct value.
pub fn source_value(config: &DebeziumConfig, info: &SourceInfo<'_>) -> Result<ConnectValue, DebeziumError> {
    let (ms, us, ns) = epoch_parts(info.ts)?;
    let opt_i64 = |v: Option<i64>| v.map_or(ConnectValue::Null, ConnectValue::Int64);
    Ok(ConnectValue::Struct(vec![
        ConnectValue::String(DEBEZIUM_VERSION.into()),
        ConnectValue::String(CONNECTOR_NAME.into()),
        ConnectValue::String(config.topic_prefix.clone()),
        ConnectValue::Int64(ms),
        ConnectValue::String(snapshot_marker(info.snapshot).into()),
        ConnectValue::String(config.database.clone()),
        ConnectValue::String(sequence_text(info.last_commit_lsn, info.lsn)),
        ConnectValue::Int64(us),
        ConnectValue::Int64(ns),
        ConnectValue::String(info.schema.into()),
        ConnectValue::String(info.table.into()),
        opt_i64(info.tx_id.map(|x| i64::from(x.0))),
        opt_i64(info.lsn.map(|l| l.as_u64() as i64)),
        // xmin: only with xmin.fetch.interval.ms > 0, which sluice does not support.
        ConnectValue::Null,
        info.origin.map_or(ConnectValue::Null, |o| ConnectValue::String(o.name.to_string())),
        opt_i64(info.origin.map(|o| o.lsn.as_u64() as i64)),
    ]))
}

/// The envelope's `transaction` value.
pub fn transaction_block_value(id: String, total_order: u64, data_collection_order: u64) -> ConnectValue {
    ConnectValue::Struct(vec![
        ConnectValue::String(id),
        ConnectValue::Int64(total_order as i64),
        ConnectValue::Int64(data_collection_order as i64),
    ])
}

/// The Connect schemas of one version of one table, with the column positions they read.
#[derive(Debug, Clone)]
pub struct TableRecordSchemas {
    /// The data topic, which also prefixes the schema names.
    pub topic: String,
    /// `<topic>.Key`; `None` when the table has no key columns (records get a null key).
    pub key: Option<Arc<Schema>>,
    /// `<topic>.Value` (optional struct).
    pub value: Arc<Schema>,
    /// `<topic>.Envelope` version 2.
    pub envelope: Arc<Schema>,
    /// Column index of each key field, in field order.
    pub key_columns: Vec<usize>,
    /// Column index of each value field, in field order.
    pub value_columns: Vec<usize>,
    /// The converter of each key field, in field order (built once, used for every row).
    pub key_converters: Vec<ColumnConverter>,
    /// The converter of each value field, in field order.
    pub value_converters: Vec<ColumnConverter>,
}

/// The key columns of a table: the columns named by the first matching `message.key.columns`
/// entries (in listed order, each matching columns in table order), else the table's key.
pub fn key_column_indexes(config: &DebeziumConfig, table: &TableSchema) -> Vec<usize> {
    let qualified = format!("{}.{}", table.id.schema, table.id.name);
    let mut out = Vec::new();
    for (table_re, columns) in &config.message_key_columns {
        if !table_re.is_match(&qualified) {
            continue;
        }
        for pattern in columns {
            let re = regex::RegexBuilder::new(&format!("^(?:{pattern})$")).case_insensitive(true).build();
            for (i, c) in table.columns.iter().enumerate() {
                let hit = match &re {
                    Ok(re) => re.is_match(&c.name),
                    Err(_) => c.name.eq_ignore_ascii_case(pattern),
                };
                if hit {
                    out.push(i);
                }
            }
        }
    }
    if out.is_empty() { table.key.clone() } else { out }
}

fn push_field(
    fields: &mut Vec<Field>,
    names: &mut HashSet<String>,
    struct_name: &str,
    name: String,
    schema: Schema,
) -> Result<(), DebeziumError> {
    if !names.insert(name.clone()) {
        return Err(DebeziumError::NameConflict(format!(
            "schema {struct_name} would have two fields named '{name}'; rename a column or adjust message.key.columns"
        )));
    }
    fields.push(Field { name, schema: Arc::new(schema) });
    Ok(())
}

/// Builds the key, value and envelope schemas of a table version.
pub fn build_table_schemas(
    config: &DebeziumConfig,
    table: &TableSchema,
    schema_names: &mut NameAdjuster,
    field_names: &mut NameAdjuster,
) -> Result<TableRecordSchemas, DebeziumError> {
    let topic = naming::data_topic(config, &table.id);
    let value_name = schema_names.adjust(&format!("{topic}.Value"))?;
    let key_name = schema_names.adjust(&format!("{topic}.Key"))?;

    let key_indexes = key_column_indexes(config, table);
    let mut key_fields = Vec::new();
    let mut key_columns = Vec::new();
    let mut key_converters = Vec::new();
    let mut names = HashSet::new();
    for &i in &key_indexes {
        let column = table.columns.get(i).ok_or_else(|| {
            DebeziumError::SchemaMismatch(format!("table {} has no key column #{i}", table.id))
        })?;
        // Key fields carry no column mappers (masking, truncation), as in Debezium.
        if let Some(schema) = mapping::key_column_schema(&table.id, column, config)? {
            let name = field_names.adjust(&column.name)?;
            push_field(&mut key_fields, &mut names, &key_name, name, schema)?;
            key_columns.push(i);
            key_converters.push(ColumnConverter::new(&table.id, column, config, false)?);
        }
    }
    let key = (!key_indexes.is_empty()).then(|| Arc::new(Schema::structure(key_name.clone(), key_fields)));

    let mut value_fields = Vec::new();
    let mut value_columns = Vec::new();
    let mut value_converters = Vec::new();
    let mut names = HashSet::new();
    for (i, column) in table.columns.iter().enumerate() {
        if !mapping::column_selected(&table.id, column, config) {
            continue;
        }
        if let Some(schema) = mapping::column_schema(&table.id, column, config)? {
            let name = field_names.adjust(&column.name)?;
            push_field(&mut value_fields, &mut names, &value_name, name, schema)?;
            value_columns.push(i);
            value_converters.push(ColumnConverter::new(&table.id, column, config, true)?);
        }
    }
    let value = Arc::new(Schema::structure(value_name, value_fields).optional());

    let envelope_name = schema_names.adjust(&format!("{topic}.Envelope"))?;
    let envelope = Arc::new(
        Schema::structure(
            envelope_name,
            vec![
                Field { name: "before".into(), schema: value.clone() },
                Field { name: "after".into(), schema: value.clone() },
                Field { name: "source".into(), schema: source_schema() },
                Field { name: "transaction".into(), schema: transaction_block_schema() },
                field("op", string()),
                field("ts_ms", int64().optional()),
                field("ts_us", int64().optional()),
                field("ts_ns", int64().optional()),
            ],
        )
        .versioned(ENVELOPE_SCHEMA_VERSION),
    );
    Ok(TableRecordSchemas {
        topic,
        key,
        value,
        envelope,
        key_columns,
        value_columns,
        key_converters,
        value_converters,
    })
}

/// Column `i` of a row, or an error naming the table when the row is shorter.
pub(crate) fn cell<'a>(table: &TableSchema, row: &'a Row, i: usize) -> Result<&'a Value, DebeziumError> {
    row.0.get(i).ok_or_else(|| {
        DebeziumError::SchemaMismatch(format!(
            "a row of {} has {} values but column #{i} was expected",
            table.id,
            row.0.len()
        ))
    })
}

fn struct_of(
    config: &DebeziumConfig,
    table: &TableSchema,
    schema: &Schema,
    columns: &[usize],
    converters: &[ColumnConverter],
    row: &Row,
    source: ValueSource,
) -> Result<ConnectValue, DebeziumError> {
    let mut values = Vec::with_capacity(columns.len());
    for ((f, &i), converter) in schema.fields.iter().zip(columns).zip(converters) {
        let column = &table.columns[i];
        let value = cell(table, row, i)?;
        values.push(converter.convert(&table.id, column, &f.schema, value, source, config)?);
    }
    Ok(ConnectValue::Struct(values))
}

/// The row struct (`<topic>.Value`) of a row.
pub fn row_value(
    config: &DebeziumConfig,
    table: &TableSchema,
    schemas: &TableRecordSchemas,
    row: &Row,
    source: ValueSource,
) -> Result<ConnectValue, DebeziumError> {
    struct_of(config, table, &schemas.value, &schemas.value_columns, &schemas.value_converters, row, source)
}

/// The key struct of a row; `None` when the table has no key.
pub fn key_value(
    config: &DebeziumConfig,
    table: &TableSchema,
    schemas: &TableRecordSchemas,
    row: &Row,
    source: ValueSource,
) -> Result<Option<ConnectValue>, DebeziumError> {
    let Some(key) = &schemas.key else { return Ok(None) };
    struct_of(config, table, key, &schemas.key_columns, &schemas.key_converters, row, source).map(Some)
}

/// The parts of an envelope value.
#[derive(Debug, Clone)]
pub struct EnvelopeValue {
    /// `before` (`Null` when absent).
    pub before: ConnectValue,
    /// `after` (`Null` when absent).
    pub after: ConnectValue,
    /// `source`.
    pub source: ConnectValue,
    /// `transaction` (`Null` unless transaction metadata is on).
    pub transaction: ConnectValue,
    /// `op` code.
    pub op: &'static str,
    /// Processing time (envelope `ts_*`).
    pub now: Timestamp,
}

impl EnvelopeValue {
    /// The envelope struct, in field order.
    pub fn into_value(self) -> Result<ConnectValue, DebeziumError> {
        let (ms, us, ns) = epoch_parts(self.now)?;
        Ok(ConnectValue::Struct(vec![
            self.before,
            self.after,
            self.source,
            self.transaction,
            ConnectValue::String(self.op.into()),
            ConnectValue::Int64(ms),
            ConnectValue::Int64(us),
            ConnectValue::Int64(ns),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_is_a_json_array_of_decimal_strings() {
        assert_eq!(sequence_text(None, Some(Lsn(0x16B_3748))), r#"[null,"23803720"]"#);
        assert_eq!(sequence_text(Some(Lsn(7)), None), r#"["7",null]"#);
        assert_eq!(sequence_text(Some(Lsn(u64::MAX)), Some(Lsn(0))), r#"["-1","0"]"#);
    }
}
