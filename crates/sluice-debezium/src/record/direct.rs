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

use sluice_core::{Lsn, Op, Origin, Row, SourcePosition, TableId, TableSchema, Timestamp, Xid};

use super::Header;
use crate::avro;
use crate::config::DebeziumConfig;
use crate::connect::{ConnectValue, Schema};
use crate::envelope::{self, TableRecordSchemas};
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
            let value = self.row.0.get(i).ok_or_else(|| {
                DebeziumError::SchemaMismatch(format!(
                    "a row of {} has {} values but column #{i} was expected",
                    self.table.id,
                    self.row.0.len()
                ))
            })?;
            let converted =
                converter.convert(&self.table.id, column, &f.schema, value, source, self.config)?;
            avro::encode(&f.schema, &converted, out)?;
        }
        Ok(())
    }
}

/// The inputs of one `source` block and its Avro body, kept while consecutive rows share them.
#[derive(Debug, Default)]
pub(super) struct SourceCache {
    inputs: Option<SourceInputs>,
    pub(super) body: Vec<u8>,
}

/// Everything a `source` block of a row record depends on (besides the connector's config).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SourceInputs {
    pub(super) table: TableId,
    pub(super) relation_id: u32,
    pub(super) version: u32,
    pub(super) ts: Timestamp,
    pub(super) marker: Option<sluice_core::SnapshotMark>,
    pub(super) last_commit_lsn: Option<Lsn>,
    pub(super) lsn: Lsn,
    pub(super) xid: Option<Xid>,
    pub(super) origin: Option<Origin>,
}

impl SourceCache {
    /// The body for `inputs`, encoded again only when they changed.
    pub(super) fn body_for(
        &mut self,
        inputs: SourceInputs,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), DebeziumError>,
    ) -> Result<&[u8], DebeziumError> {
        if self.inputs.as_ref() != Some(&inputs) {
            self.inputs = None;
            self.body.clear();
            encode(&mut self.body)?;
            self.inputs = Some(inputs);
        }
        Ok(&self.body)
    }
}
