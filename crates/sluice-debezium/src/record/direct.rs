//! Snapshot reads and inserts written straight to Avro, without the Connect value tree.
//!
//! Most records of a busy pipeline are snapshot reads and inserts. For them the general path
//! builds the row struct, the envelope and a sixteen-field `source` block with its strings, walks
//! that tree to encode it, and drops it. [`DirectRow`] writes the same bytes without the tree: each
//! column value is converted by the table's own [`crate::mapping::ColumnConverter`] and encoded at
//! once under its field schema, and the `source` block, identical for every row of a snapshot
//! table, is encoded once and reused while its inputs stay the same. The pieces are the general
//! path's (the converters, [`crate::avro::encode`] under the same schemas, in the envelope's field
//! order), so the bytes are identical: `record::tests` checks that over nineteen types under five
//! configurations, and the Debezium conformance tests on every event of their live workloads.

use std::sync::Arc;

use sluice_core::{Lsn, Op, Origin, Row, SnapshotMark, SourcePosition, TableSchema, Timestamp, Xid};

use super::Header;
use crate::avro;
use crate::config::DebeziumConfig;
use crate::connect::{ConnectValue, Schema, SchemaType};
use crate::envelope::{self, SourceInfo, TableRecordSchemas};
use crate::error::DebeziumError;
use crate::mapping::ValueSource;

/// A create or snapshot-read record not built yet: what its key and value are written from.
/// Made by [`super::RecordBuilder::direct_row`], which has already moved the builder's state past
/// the event, exactly as [`super::RecordBuilder::on_event`] would have.
#[derive(Debug)]
pub struct DirectRow<'a> {
    pub(super) config: &'a DebeziumConfig,
    pub(super) table: &'a TableSchema,
    pub(super) schemas: Arc<TableRecordSchemas>,
    pub(super) row: &'a Row,
    pub(super) op: Op,
    pub(super) now: Timestamp,
    /// The Avro body of the `source` block.
    pub(super) source: &'a [u8],
    pub(super) headers: Arc<[Header]>,
    pub(super) position: &'a SourcePosition,
}

impl DirectRow<'_> {
    /// The destination topic.
    pub fn topic(&self) -> &str {
        &self.schemas.topic
    }

    /// The key schema; `None` when the table has no key (the record's key is null).
    pub fn key_schema(&self) -> Option<&Arc<Schema>> {
        self.schemas.key.as_ref()
    }

    /// The value (envelope) schema.
    pub fn value_schema(&self) -> &Arc<Schema> {
        &self.schemas.envelope
    }

    /// The record's headers, shared as [`super::Record::headers`] is.
    pub fn headers(&self) -> &Arc<[Header]> {
        &self.headers
    }

    /// The source position the record stands for.
    pub fn position(&self) -> &SourcePosition {
        self.position
    }

    fn source(&self) -> ValueSource {
        if self.op == Op::Read { ValueSource::Snapshot } else { ValueSource::Stream }
    }

    /// Appends the key's Avro body (the key struct's fields) to `out`; `false`, writing nothing,
    /// when the table has no key. On error `out` is left as it was.
    pub fn write_key(&self, out: &mut Vec<u8>) -> Result<bool, DebeziumError> {
        let Some(key) = &self.schemas.key else { return Ok(false) };
        let start = out.len();
        let written = self.write_fields(key, &self.schemas.key_columns, &self.schemas.key_converters, out);
        if written.is_err() {
            out.truncate(start);
        }
        written.map(|()| true)
    }

    /// Appends the envelope's Avro body to `out`. On error `out` is left as it was.
    pub fn write_value(&self, out: &mut Vec<u8>) -> Result<(), DebeziumError> {
        let start = out.len();
        let written = self.write_envelope(out);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    fn write_envelope(&self, out: &mut Vec<u8>) -> Result<(), DebeziumError> {
        let fields = &self.schemas.envelope.fields;
        let field = |i: usize| -> Result<&Schema, DebeziumError> {
            fields.get(i).map(|f| &*f.schema).ok_or_else(|| {
                DebeziumError::SchemaMismatch(format!("the envelope of {} lacks field #{i}", self.table.id))
            })
        };
        // before, after, source, transaction, op, ts_ms, ts_us, ts_ns: the order of
        // `envelope::build_table_schemas` and `EnvelopeValue::into_value`.
        avro::encode(field(0)?, &ConnectValue::Null, out)?;
        let after = field(1)?;
        avro::write_present(after, out);
        self.write_fields(after, &self.schemas.value_columns, &self.schemas.value_converters, out)?;
        out.extend_from_slice(self.source);
        avro::encode(field(3)?, &ConnectValue::Null, out)?;
        avro::write_string(self.op.code(), out);
        let (ms, us, ns) = envelope::epoch_parts(self.now)?;
        avro::encode(field(5)?, &ConnectValue::Int64(ms), out)?;
        avro::encode(field(6)?, &ConnectValue::Int64(us), out)?;
        avro::encode(field(7)?, &ConnectValue::Int64(ns), out)
    }

    /// The fields of a key or row struct, each converted and encoded on its own.
    fn write_fields(
        &self,
        schema: &Schema,
        columns: &[usize],
        converters: &[crate::mapping::ColumnConverter],
        out: &mut Vec<u8>,
    ) -> Result<(), DebeziumError> {
        let source = self.source();
        for ((f, &i), converter) in schema.fields.iter().zip(columns).zip(converters) {
            let column = &self.table.columns[i];
            let value = envelope::cell(self.table, self.row, i)?;
            if f.schema.schema_type == SchemaType::String
                && let Some(text) = converter.borrowed_text(value)
            {
                // What encoding `ConnectValue::String(text)` writes, without that copy.
                avro::write_present(&f.schema, out);
                avro::write_string(text, out);
                continue;
            }
            let converted =
                converter.convert(&self.table.id, column, &f.schema, value, source, self.config)?;
            avro::encode(&f.schema, &converted, out)?;
        }
        Ok(())
    }
}

/// The last `source` block's inputs and Avro body, kept while consecutive rows share them.
#[derive(Debug, Default)]
pub(super) struct SourceCache {
    inputs: Option<SourceInputs>,
    body: Vec<u8>,
}

/// An owned [`SourceInfo`]: everything `envelope::source_value` reads besides the config, which
/// is fixed per builder.
#[derive(Debug, Clone, PartialEq)]
struct SourceInputs {
    ts: Timestamp,
    snapshot: Option<SnapshotMark>,
    last_commit_lsn: Option<Lsn>,
    lsn: Option<Lsn>,
    schema: Arc<str>,
    table: Arc<str>,
    tx_id: Option<Xid>,
    origin: Option<Origin>,
}

impl SourceInputs {
    fn matches(&self, info: &SourceInfo<'_>) -> bool {
        self.ts == info.ts
            && self.snapshot.as_ref() == info.snapshot
            && self.last_commit_lsn == info.last_commit_lsn
            && self.lsn == info.lsn
            && *self.schema == *info.schema
            && *self.table == *info.table
            && self.tx_id == info.tx_id
            && self.origin.as_ref() == info.origin
    }

    fn of(info: &SourceInfo<'_>) -> Self {
        SourceInputs {
            ts: info.ts,
            snapshot: info.snapshot.copied(),
            last_commit_lsn: info.last_commit_lsn,
            lsn: info.lsn,
            schema: info.schema.into(),
            table: info.table.into(),
            tx_id: info.tx_id,
            origin: info.origin.cloned(),
        }
    }
}

impl SourceCache {
    /// The body for `info`, encoded again only when it differs from the last one's.
    pub(super) fn body_for(
        &mut self,
        info: &SourceInfo<'_>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), DebeziumError>,
    ) -> Result<&[u8], DebeziumError> {
        if !self.inputs.as_ref().is_some_and(|i| i.matches(info)) {
            self.inputs = None;
            self.body.clear();
            encode(&mut self.body)?;
            self.inputs = Some(SourceInputs::of(info));
        }
        Ok(&self.body)
    }
}
