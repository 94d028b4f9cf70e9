//! sluice's ordered [`SourceEvent`] stream → Debezium 3.6's records.
//!
//! [`RecordBuilder::on_event`] reproduces what Debezium's PostgreSQL connector emits for the same
//! WAL, record for record:
//!
//! * `r`/`c`/`u`/`d` envelopes on the table's data topic, keyed by the key columns (null key when
//!   the table has none). `before` is whatever old row the WAL carried (replica identity), with
//!   NOT NULL columns missing from it filled by the mapping's before-image fallback; an update
//!   without an old row has `before: null`.
//! * an update whose old key differs from its new key becomes a `d` (header `__debezium.newkey`)
//!   and a `c` (header `__debezium.oldkey`), the header values being the key structs;
//! * a tombstone (same topic, key, headers; null value) after every emitted `d` when
//!   `tombstones.on.delete`;
//! * `t` records (null key) for truncates; every op in `skipped.operations` is dropped, each half
//!   of a key change separately, and dropped changes do not count in transaction metadata;
//! * logical decoding messages on `<prefix>.message` (no headers);
//! * transaction metadata (see [`crate::transaction`]);
//! * the `__debezium.context.*` headers when `extended.headers.enabled` (default): on every data
//!   record, snapshot reads included (tombstones copy their delete's headers), never on message,
//!   transaction or heartbeat records. Debezium 3.6 (`DebeziumHeaderProducer`) adds
//!   `connectorLogicalName` (topic prefix), `taskId` (`"0"`), `connectorName` (`"postgresql"`) and
//!   `runId` (a random UUID per start), in that order, string-schema'd, after the key-change
//!   header; [`ContextHeaders`] holds the values.
//!
//! `source` state that Debezium carries across events is carried here too: `sequence` starts with
//! the LSN of the last COMMIT processed (null until the first one after start unless restored with
//! [`RecordBuilder::set_last_commit_lsn`]); a non-transactional message counts as a commit of its own
//! LSN and, having no commit time, reports the time of the previous event, and the origin of the
//! previous transaction.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use sluice_core::{
    Change, ChangeEvent, Lsn, Op, Origin, Row, SourceEvent, SourcePosition, TableSchema, Timestamp, Value,
};

use crate::config::{BinaryMode, DebeziumConfig};
use crate::connect::{ConnectValue, Field, Schema, SchemaType};
use crate::envelope::{
    self, EnvelopeValue, SourceInfo, TableRecordSchemas, source_schema, transaction_block_schema,
};
use crate::error::DebeziumError;
use crate::heartbeat;
use crate::mapping::ValueSource;
use crate::naming::{self, NameAdjuster};
use crate::transaction::TransactionTracker;

mod direct;

pub use direct::DirectRow;

/// Header carrying the new key on the delete half of a key change.
pub const NEW_KEY_HEADER: &str = "__debezium.newkey";
/// Header carrying the old key on the create half of a key change.
pub const OLD_KEY_HEADER: &str = "__debezium.oldkey";
/// `__debezium.context.connectorLogicalName`
pub const CONTEXT_LOGICAL_NAME_HEADER: &str = "__debezium.context.connectorLogicalName";
/// `__debezium.context.taskId`
pub const CONTEXT_TASK_ID_HEADER: &str = "__debezium.context.taskId";
/// `__debezium.context.connectorName`
pub const CONTEXT_CONNECTOR_NAME_HEADER: &str = "__debezium.context.connectorName";
/// `__debezium.context.runId`
pub const CONTEXT_RUN_ID_HEADER: &str = "__debezium.context.runId";

/// Logical message key schema name.
pub const MESSAGE_KEY_SCHEMA_NAME: &str = "io.debezium.connector.postgresql.MessageKey";
/// Logical message value schema name.
pub const MESSAGE_VALUE_SCHEMA_NAME: &str = "io.debezium.connector.postgresql.MessageValue";
/// Logical message block schema name.
pub const MESSAGE_BLOCK_SCHEMA_NAME: &str = "io.debezium.connector.postgresql.Message";

/// One Kafka Connect record header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Its Connect schema.
    pub schema: Schema,
    /// Its value.
    pub value: ConnectValue,
}

/// One record, as Debezium hands it to Kafka Connect.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Destination topic.
    pub topic: String,
    /// Key schema; `None` for a null key.
    pub key_schema: Option<Arc<Schema>>,
    /// Key; `None` for a null key.
    pub key: Option<ConnectValue>,
    /// Value schema; `None` for a tombstone.
    pub value_schema: Option<Arc<Schema>>,
    /// Value; `None` for a tombstone.
    pub value: Option<ConnectValue>,
    /// Headers, in order. Shared: every data record of a connector carries the same context
    /// headers, so records point at one copy instead of each building its own.
    pub headers: Arc<[Header]>,
    /// The source position the record stands for (for offsets).
    pub position: SourcePosition,
}

/// The values of the `__debezium.context.*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextHeaders {
    /// `connectorLogicalName`: `topic.prefix`.
    pub connector_logical_name: String,
    /// `taskId`: `"0"` for the single PostgreSQL task.
    pub task_id: String,
    /// `connectorName`: the connector plugin name, `"postgresql"`.
    pub connector_name: String,
    /// `runId`: a random UUID per connector start.
    pub run_id: String,
}

impl ContextHeaders {
    /// Debezium's values for a config, with a fresh random run id.
    pub fn for_config(config: &DebeziumConfig) -> Self {
        ContextHeaders {
            connector_logical_name: config.topic_prefix.clone(),
            task_id: "0".into(),
            connector_name: envelope::CONNECTOR_NAME.into(),
            run_id: random_uuid(),
        }
    }

    fn headers(&self) -> Vec<Header> {
        [
            (CONTEXT_LOGICAL_NAME_HEADER, &self.connector_logical_name),
            (CONTEXT_TASK_ID_HEADER, &self.task_id),
            (CONTEXT_CONNECTOR_NAME_HEADER, &self.connector_name),
            (CONTEXT_RUN_ID_HEADER, &self.run_id),
        ]
        .into_iter()
        .map(|(k, v)| Header {
            key: k.to_owned(),
            schema: Schema::primitive(SchemaType::String),
            value: ConnectValue::String(v.clone()),
        })
        .collect()
    }
}

/// A version-4 UUID from the standard library's randomly seeded hasher (not cryptographic; it only
/// has to differ between runs).
fn random_uuid() -> String {
    let state = RandomState::new();
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The schemas of logical decoding message records.
#[derive(Debug, Clone)]
pub struct MessageSchemas {
    /// `io.debezium.connector.postgresql.MessageKey` v1 `{prefix: optional string}`.
    pub key: Arc<Schema>,
    /// `io.debezium.connector.postgresql.MessageValue` v1 `{op, ts_ms, source, transaction, message}`.
    pub value: Arc<Schema>,
}

impl MessageSchemas {
    /// The schemas for a binary handling mode (`content` is bytes, or a string when encoded).
    pub fn new(binary_mode: BinaryMode) -> Self {
        let f = |name: &str, schema: Schema| Field { name: name.into(), schema: Arc::new(schema) };
        let opt_string = || Schema::primitive(SchemaType::String).optional();
        let content = match binary_mode {
            BinaryMode::Bytes => Schema::primitive(SchemaType::Bytes).optional(),
            _ => opt_string(),
        };
        let key = Schema::structure(MESSAGE_KEY_SCHEMA_NAME, vec![f("prefix", opt_string())]).versioned(1);
        let block = Schema::structure(
            MESSAGE_BLOCK_SCHEMA_NAME,
            vec![f("prefix", opt_string()), f("content", content)],
        )
        .versioned(1);
        let value = Schema::structure(
            MESSAGE_VALUE_SCHEMA_NAME,
            vec![
                f("op", Schema::primitive(SchemaType::String)),
                f("ts_ms", Schema::primitive(SchemaType::Int64).optional()),
                Field { name: "source".into(), schema: source_schema() },
                Field { name: "transaction".into(), schema: transaction_block_schema() },
                f("message", block),
            ],
        )
        .versioned(1);
        MessageSchemas { key: Arc::new(key), value: Arc::new(value) }
    }
}

/// Message content per `binary.handling.mode` (hex is lowercase, base64 variants padded).
pub fn message_content(mode: BinaryMode, content: &[u8]) -> ConnectValue {
    use base64::Engine as _;
    match mode {
        BinaryMode::Bytes => ConnectValue::Bytes(content.to_vec()),
        BinaryMode::Base64 => ConnectValue::String(base64::engine::general_purpose::STANDARD.encode(content)),
        BinaryMode::Base64UrlSafe => {
            ConnectValue::String(base64::engine::general_purpose::URL_SAFE.encode(content))
        }
        BinaryMode::Hex => ConnectValue::String(hex::encode(content)),
    }
}

fn epoch_ms(ts: Timestamp) -> Result<i64, DebeziumError> {
    envelope::epoch_parts(ts).map(|(ms, _, _)| ms)
}

/// Turns source events into records; holds the per-connector state Debezium keeps (schema cache,
/// name-adjuster memory, open transaction, last commit LSN, last event time and origin).
#[derive(Debug)]
pub struct RecordBuilder {
    config: DebeziumConfig,
    schema_names: NameAdjuster,
    field_names: NameAdjuster,
    /// The record schemas of each table's latest version seen (older versions are rebuilt if an
    /// event still carries one), so the cache does not grow with schema history.
    tables: HashMap<u32, (u32, Arc<TableRecordSchemas>)>,
    transactions: TransactionTracker,
    last_commit_lsn: Option<Lsn>,
    last_ts: Option<Timestamp>,
    last_origin: Option<Origin>,
    in_transaction: bool,
    last_position: SourcePosition,
    context: ContextHeaders,
    /// `context` as headers, built once.
    context_headers: Arc<[Header]>,
    messages: OnceLock<MessageSchemas>,
    /// When the last heartbeat was due (µs); the timer starts with the first event, as Debezium's
    /// starts with the task.
    last_heartbeat_us: Option<i64>,
    /// The `source` block of the last [`DirectRow`], reused while its inputs stay the same.
    direct_source: direct::SourceCache,
}

impl RecordBuilder {
    /// A builder for a connector's records.
    pub fn new(config: DebeziumConfig) -> Self {
        RecordBuilder {
            schema_names: NameAdjuster::for_schema_names(&config),
            field_names: NameAdjuster::for_field_names(&config),
            context: ContextHeaders::for_config(&config),
            context_headers: Arc::from(Vec::new()),
            config,
            tables: HashMap::new(),
            transactions: TransactionTracker::new(),
            last_commit_lsn: None,
            last_ts: None,
            last_origin: None,
            in_transaction: false,
            last_position: SourcePosition::default(),
            messages: OnceLock::new(),
            last_heartbeat_us: None,
            direct_source: direct::SourceCache::default(),
        }
        .with_cached_context_headers()
    }

    fn with_cached_context_headers(mut self) -> Self {
        self.context_headers = self.context.headers().into();
        self
    }

    /// Replaces the `__debezium.context.*` header values (e.g. a fixed run id in tests).
    pub fn with_context_headers(mut self, context: ContextHeaders) -> Self {
        self.context = context;
        self.with_cached_context_headers()
    }

    /// The `__debezium.context.*` header values.
    pub fn context_headers(&self) -> &ContextHeaders {
        &self.context
    }

    /// The configuration.
    pub fn config(&self) -> &DebeziumConfig {
        &self.config
    }

    /// Restores the last commit LSN from stored offsets (`lsn_commit`, else `lsn_proc`), as Debezium
    /// does on restart; it is the first element of `source.sequence`.
    pub fn set_last_commit_lsn(&mut self, lsn: Option<Lsn>) {
        self.last_commit_lsn = lsn;
    }

    /// Restores the last event time from stored offsets (`ts_usec`); used as `source.ts_*` of a
    /// non-transactional message before any transaction was seen.
    pub fn set_last_source_time(&mut self, ts: Option<Timestamp>) {
        self.last_ts = ts;
    }

    /// The last commit LSN processed.
    pub fn last_commit_lsn(&self) -> Option<Lsn> {
        self.last_commit_lsn
    }

    /// A heartbeat record standing for the position of the last event seen.
    pub fn heartbeat(&self, now: Timestamp) -> Record {
        let mut record = heartbeat::heartbeat_record(&self.config, now);
        record.position = self.last_position.clone();
        record
    }

    /// Appends a heartbeat record when `heartbeat.interval.ms` is set and that long has passed since
    /// the previous one. [`RecordBuilder::on_event`] calls it after every transaction and progress
    /// marker; a pipeline also calls it on a timer so an idle source still beats.
    pub fn heartbeat_due(&mut self, now: Timestamp, out: &mut Vec<Record>) {
        let interval_us =
            i64::try_from(self.config.heartbeat_interval_ms).unwrap_or(i64::MAX).saturating_mul(1000);
        let Timestamp::Micros(now_us) = now else { return };
        if interval_us == 0 || self.in_transaction {
            return;
        }
        match self.last_heartbeat_us {
            None => self.last_heartbeat_us = Some(now_us),
            Some(last) if now_us.saturating_sub(last) >= interval_us => {
                out.push(self.heartbeat(now));
                self.last_heartbeat_us = Some(now_us);
            }
            Some(_) => {}
        }
    }

    /// Forgets the cached table schemas. Call it whenever a new reader starts: relation versions
    /// restart at 1 with every reader, so a cached version could describe an older shape.
    pub fn forget_tables(&mut self) {
        self.tables.clear();
    }

    /// The schemas of a table version (built once and cached by relation id and version).
    pub fn table_schemas(&mut self, table: &TableSchema) -> Result<Arc<TableRecordSchemas>, DebeziumError> {
        if let Some((version, s)) = self.tables.get(&table.relation_id)
            && *version == table.version
        {
            return Ok(s.clone());
        }
        let built = Arc::new(envelope::build_table_schemas(
            &self.config,
            table,
            &mut self.schema_names,
            &mut self.field_names,
        )?);
        self.tables.insert(table.relation_id, (table.version, built.clone()));
        Ok(built)
    }

    /// The logical message schemas.
    pub fn message_schemas(&self) -> &MessageSchemas {
        self.messages.get_or_init(|| MessageSchemas::new(self.config.binary_mode))
    }

    fn skipped(&self, op: Op) -> bool {
        self.config.skipped_operations.iter().any(|s| s == op.code())
    }

    fn tx_metadata(&self) -> bool {
        self.config.provide_transaction_metadata
    }

    /// Appends the records for one event to `out`. `now` is the processing time (envelope `ts_*`,
    /// message `ts_ms`). On error nothing is appended; every error is definite (a configuration,
    /// naming or value problem), so the stream should stop.
    pub fn on_event(
        &mut self,
        event: &SourceEvent,
        now: Timestamp,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        let start = out.len();
        let result = self.dispatch(event, now, out);
        if result.is_err() {
            out.truncate(start);
        } else if matches!(
            event,
            SourceEvent::Commit(_) | SourceEvent::Progress { .. } | SourceEvent::SnapshotCompleted { .. }
        ) {
            self.heartbeat_due(now, out);
        }
        result
    }

    /// The record of `event` ready to be written straight to Avro ([`DirectRow`]) when it is a
    /// snapshot read, or an insert while `provide.transaction.metadata` is off and `c` is not a
    /// skipped operation: the records most of a pipeline's traffic is made of. The builder's state
    /// then moves past the event as [`RecordBuilder::on_event`] would move it. `None` for every
    /// other event, leaving the builder as it was: hand the event to `on_event`.
    pub fn direct_row<'a>(
        &'a mut self,
        event: &'a SourceEvent,
        now: Timestamp,
    ) -> Result<Option<DirectRow<'a>>, DebeziumError> {
        let SourceEvent::Change(e) = event else { return Ok(None) };
        let Change::Row { op, table, after: Some(row), .. } = &e.change else { return Ok(None) };
        let op = *op;
        match op {
            // A read outside the snapshot inside a transaction would open transaction metadata.
            Op::Read if e.source.snapshot.is_some() || !self.tx_metadata() => {}
            Op::Create if !self.tx_metadata() && !self.skipped(Op::Create) => {}
            _ => return Ok(None),
        }
        // As `on_change`, which would also open transaction metadata: off here for inserts, and
        // a snapshot read is never transactional.
        let transactional = self.in_transaction && e.source.snapshot.is_none();
        self.keep_position(e, transactional);
        let schemas = self.table_schemas(table)?;
        let info = self.source_info(e, table)?;
        let headers = self.extended(Vec::new());
        let (config, cache) = (&self.config, &mut self.direct_source);
        let source = cache.body_for(&info, |out| {
            let value = envelope::source_value(config, &info)?;
            crate::avro::encode(&source_schema(), &value, out)
        })?;
        Ok(Some(DirectRow {
            config: &self.config,
            table,
            schemas,
            row,
            op,
            now,
            source,
            headers,
            position: &e.source,
        }))
    }

    fn dispatch(
        &mut self,
        event: &SourceEvent,
        now: Timestamp,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        match event {
            SourceEvent::Begin(b) => {
                self.in_transaction = true;
                self.last_ts = Some(b.commit_ts);
                self.last_origin = None;
                self.last_position = SourcePosition {
                    lsn: self.last_position.lsn,
                    commit_lsn: Some(b.commit_lsn),
                    seq: 0,
                    xid: Some(b.xid),
                    commit_ts: Some(b.commit_ts),
                    origin: None,
                    snapshot: None,
                };
                if self.tx_metadata() {
                    self.transactions.begin(b);
                }
                Ok(())
            }
            SourceEvent::Commit(c) => {
                if self.tx_metadata() {
                    self.transactions.commit(&self.config, c, out)?;
                }
                self.in_transaction = false;
                self.last_commit_lsn = Some(c.end_lsn);
                self.last_ts = Some(c.commit_ts);
                self.last_position = SourcePosition {
                    lsn: c.end_lsn,
                    commit_lsn: Some(c.commit_lsn),
                    seq: c.event_count,
                    xid: Some(c.xid),
                    commit_ts: Some(c.commit_ts),
                    origin: None,
                    snapshot: None,
                };
                Ok(())
            }
            SourceEvent::SnapshotCompleted { consistent_point } => {
                self.last_position = SourcePosition { lsn: *consistent_point, ..SourcePosition::default() };
                Ok(())
            }
            SourceEvent::Progress { lsn } => {
                self.last_position = SourcePosition { lsn: *lsn, ..SourcePosition::default() };
                Ok(())
            }
            SourceEvent::Change(e) => self.on_change(e, now, out),
        }
    }

    fn on_change(
        &mut self,
        e: &ChangeEvent,
        now: Timestamp,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        let transactional = self.in_transaction && e.source.snapshot.is_none();
        if transactional && self.tx_metadata() {
            self.transactions.ensure_begun(&self.config, e.source.lsn, out)?;
        }
        self.keep_position(e, transactional);
        match &e.change {
            Change::Row { op, table, before, after } => {
                self.on_row(e, *op, table, before.as_ref(), after.as_ref(), transactional, now, out)
            }
            Change::Truncate { table, .. } => {
                if self.skipped(Op::Truncate) {
                    return Ok(());
                }
                let schemas = self.table_schemas(table)?;
                let transaction = tx_block(
                    &mut self.transactions,
                    self.config.provide_transaction_metadata,
                    transactional,
                    table,
                    e.source.lsn,
                );
                let value = EnvelopeValue {
                    before: ConnectValue::Null,
                    after: ConnectValue::Null,
                    source: self.source_for_row(e, table)?,
                    transaction,
                    op: Op::Truncate.code(),
                    now,
                }
                .into_value()?;
                out.push(Record {
                    topic: schemas.topic.clone(),
                    key_schema: None,
                    key: None,
                    value_schema: Some(schemas.envelope.clone()),
                    value: Some(value),
                    headers: self.extended(Vec::new()),
                    position: e.source.clone(),
                });
                Ok(())
            }
            Change::Message { prefix, content, transactional: tx_message } => {
                self.on_message(e, prefix, content, *tx_message && transactional, now, out)
            }
        }
    }

    fn extended(&self, mut headers: Vec<Header>) -> Arc<[Header]> {
        if !self.config.extended_headers {
            return headers.into();
        }
        if headers.is_empty() {
            return self.context_headers.clone();
        }
        headers.extend(self.context_headers.iter().cloned());
        headers.into()
    }

    /// Debezium's offset context keeps the last event time (snapshot reads included) and the
    /// origin of the current transaction; the position is what a heartbeat stands for.
    fn keep_position(&mut self, e: &ChangeEvent, transactional: bool) {
        if let Some(ts) = e.source.commit_ts {
            self.last_ts = Some(ts);
        }
        if transactional && e.source.origin.is_some() {
            self.last_origin = e.source.origin.clone();
        }
        self.last_position = e.source.clone();
    }

    fn source_for_row(&self, e: &ChangeEvent, table: &TableSchema) -> Result<ConnectValue, DebeziumError> {
        envelope::source_value(&self.config, &self.source_info(e, table)?)
    }

    /// What a row change's `source` block is made of.
    fn source_info<'e>(
        &self,
        e: &'e ChangeEvent,
        table: &'e TableSchema,
    ) -> Result<SourceInfo<'e>, DebeziumError> {
        let ts = e.source.commit_ts.or(self.last_ts).ok_or_else(|| {
            DebeziumError::SchemaMismatch(format!("a change of {} has no commit or read time", table.id))
        })?;
        Ok(SourceInfo {
            ts,
            snapshot: e.source.snapshot.as_ref(),
            last_commit_lsn: self.last_commit_lsn,
            lsn: Some(e.source.lsn),
            schema: &table.id.schema,
            table: &table.id.name,
            tx_id: e.source.xid,
            origin: e.source.origin.as_ref(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn on_row(
        &mut self,
        e: &ChangeEvent,
        op: Op,
        table: &Arc<TableSchema>,
        before: Option<&Row>,
        after: Option<&Row>,
        transactional: bool,
        now: Timestamp,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        let schemas = self.table_schemas(table)?;
        let config = &self.config;
        let source = self.source_for_row(e, table)?;
        let value_source = if op == Op::Read { ValueSource::Snapshot } else { ValueSource::Stream };
        let row_value = |row: Option<&Row>| -> Result<ConnectValue, DebeziumError> {
            row.map_or(Ok(ConnectValue::Null), |r| {
                envelope::row_value(config, table, &schemas, r, value_source)
            })
        };
        let key_of = |row: Option<&Row>| -> Result<Option<ConnectValue>, DebeziumError> {
            match row {
                Some(r) => envelope::key_value(config, table, &schemas, r, value_source),
                None => Ok(None),
            }
        };
        match op {
            Op::Read | Op::Create => {
                if op == Op::Create && self.skipped(Op::Create) {
                    return Ok(());
                }
                let key = key_of(after)?;
                let after_value = row_value(after)?;
                let transaction = if op == Op::Read {
                    ConnectValue::Null
                } else {
                    tx_block(
                        &mut self.transactions,
                        self.config.provide_transaction_metadata,
                        transactional,
                        table,
                        e.source.lsn,
                    )
                };
                self.push_data(
                    e,
                    &schemas,
                    key,
                    ConnectValue::Null,
                    after_value,
                    source,
                    transaction,
                    op,
                    now,
                    Vec::new(),
                    out,
                )
            }
            Op::Update => {
                let resolved_after = after.map(|a| resolve_unchanged_toast(a, before));
                let after = resolved_after.as_ref();
                let new_key = key_of(after)?;
                let old_key = match (before, &schemas.key) {
                    (Some(b), Some(_)) => key_of(Some(b))?,
                    _ => None,
                };
                let key_changed = old_key.is_some() && old_key != new_key;
                let before_value = row_value(before)?;
                let after_value = row_value(after)?;
                if !key_changed {
                    if self.skipped(Op::Update) {
                        return Ok(());
                    }
                    let transaction = tx_block(
                        &mut self.transactions,
                        self.config.provide_transaction_metadata,
                        transactional,
                        table,
                        e.source.lsn,
                    );
                    return self.push_data(
                        e,
                        &schemas,
                        new_key,
                        before_value,
                        after_value,
                        source,
                        transaction,
                        op,
                        now,
                        Vec::new(),
                        out,
                    );
                }
                let key_schema =
                    schemas.key.as_deref().cloned().unwrap_or_else(|| Schema::primitive(SchemaType::Struct));
                if !self.skipped(Op::Delete) {
                    let header = Header {
                        key: NEW_KEY_HEADER.into(),
                        schema: key_schema.clone(),
                        value: new_key.clone().unwrap_or(ConnectValue::Null),
                    };
                    let transaction = tx_block(
                        &mut self.transactions,
                        self.config.provide_transaction_metadata,
                        transactional,
                        table,
                        e.source.lsn,
                    );
                    self.push_data(
                        e,
                        &schemas,
                        old_key.clone(),
                        before_value,
                        ConnectValue::Null,
                        source.clone(),
                        transaction,
                        Op::Delete,
                        now,
                        vec![header],
                        out,
                    )?;
                }
                if !self.skipped(Op::Create) {
                    let header = Header {
                        key: OLD_KEY_HEADER.into(),
                        schema: key_schema,
                        value: old_key.unwrap_or(ConnectValue::Null),
                    };
                    let transaction = tx_block(
                        &mut self.transactions,
                        self.config.provide_transaction_metadata,
                        transactional,
                        table,
                        e.source.lsn,
                    );
                    self.push_data(
                        e,
                        &schemas,
                        new_key,
                        ConnectValue::Null,
                        after_value,
                        source,
                        transaction,
                        Op::Create,
                        now,
                        vec![header],
                        out,
                    )?;
                }
                Ok(())
            }
            Op::Delete => {
                if self.skipped(Op::Delete) {
                    return Ok(());
                }
                let key = key_of(before)?;
                let before_value = row_value(before)?;
                let transaction = tx_block(
                    &mut self.transactions,
                    self.config.provide_transaction_metadata,
                    transactional,
                    table,
                    e.source.lsn,
                );
                self.push_data(
                    e,
                    &schemas,
                    key,
                    before_value,
                    ConnectValue::Null,
                    source,
                    transaction,
                    op,
                    now,
                    Vec::new(),
                    out,
                )
            }
            Op::Truncate | Op::Message => Err(DebeziumError::SchemaMismatch(format!(
                "a row change of {} carries op '{}'",
                table.id,
                op.code()
            ))),
        }
    }

    /// Pushes a data record (and its tombstone after a delete).
    #[allow(clippy::too_many_arguments)]
    fn push_data(
        &self,
        e: &ChangeEvent,
        schemas: &TableRecordSchemas,
        key: Option<ConnectValue>,
        before: ConnectValue,
        after: ConnectValue,
        source: ConnectValue,
        transaction: ConnectValue,
        op: Op,
        now: Timestamp,
        headers: Vec<Header>,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        let value = EnvelopeValue { before, after, source, transaction, op: op.code(), now }.into_value()?;
        let record = Record {
            topic: schemas.topic.clone(),
            key_schema: schemas.key.clone(),
            key,
            value_schema: Some(schemas.envelope.clone()),
            value: Some(value),
            headers: self.extended(headers),
            position: e.source.clone(),
        };
        let tombstone = (op == Op::Delete && self.config.tombstones_on_delete).then(|| Record {
            value_schema: None,
            value: None,
            ..record.clone()
        });
        out.push(record);
        out.extend(tombstone);
        Ok(())
    }

    fn on_message(
        &mut self,
        e: &ChangeEvent,
        prefix: &str,
        content: &[u8],
        transactional: bool,
        now: Timestamp,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        let lsn = e.source.lsn;
        if !transactional {
            // Debezium commits the offset of a non-transactional message before dispatching it.
            self.last_commit_lsn = Some(lsn);
        }
        let ts = if transactional { e.source.commit_ts.or(self.last_ts) } else { self.last_ts };
        let origin = if transactional {
            e.source.origin.clone().or_else(|| self.last_origin.clone())
        } else {
            self.last_origin.clone()
        };
        let source = envelope::source_value(
            &self.config,
            &SourceInfo {
                ts: ts.unwrap_or(now),
                snapshot: None,
                last_commit_lsn: self.last_commit_lsn,
                lsn: Some(lsn),
                schema: "",
                table: "",
                tx_id: if transactional { e.source.xid } else { None },
                origin: origin.as_ref(),
            },
        )?;
        let transaction = if transactional && self.tx_metadata() {
            self.transactions.message_event(lsn).unwrap_or(ConnectValue::Null)
        } else {
            ConnectValue::Null
        };
        let schemas = self.message_schemas().clone();
        let value = ConnectValue::Struct(vec![
            ConnectValue::String(Op::Message.code().into()),
            ConnectValue::Int64(epoch_ms(now)?),
            source,
            transaction,
            ConnectValue::Struct(vec![
                ConnectValue::String(prefix.to_owned()),
                message_content(self.config.binary_mode, content),
            ]),
        ]);
        out.push(Record {
            topic: naming::message_topic(&self.config),
            key_schema: Some(schemas.key.clone()),
            key: Some(ConnectValue::Struct(vec![ConnectValue::String(prefix.to_owned())])),
            value_schema: Some(schemas.value.clone()),
            value: Some(value),
            headers: Vec::new().into(),
            position: e.source.clone(),
        });
        Ok(())
    }
}

/// The envelope `transaction` block of a counted data event (`Null` unless transaction metadata is
/// on and the event is inside a transaction).
fn tx_block(
    transactions: &mut TransactionTracker,
    enabled: bool,
    transactional: bool,
    table: &TableSchema,
    lsn: Lsn,
) -> ConnectValue {
    if !(transactional && enabled) {
        return ConnectValue::Null;
    }
    let collection = format!("{}.{}", table.id.schema, table.id.name);
    transactions.data_event(&collection, lsn).unwrap_or(ConnectValue::Null)
}

/// The new row of an update with unchanged TOAST values taken from the old row where it has them
/// (REPLICA IDENTITY FULL), as Debezium's PostgreSQL emitter does; others stay unchanged-TOAST
/// (the mapping turns them into the placeholder).
fn resolve_unchanged_toast(after: &Row, before: Option<&Row>) -> Row {
    let Some(before) = before else { return after.clone() };
    Row(after
        .0
        .iter()
        .enumerate()
        .map(|(i, v)| match (v, before.0.get(i)) {
            (Value::UnchangedToast, Some(old)) if !matches!(old, Value::Null | Value::UnchangedToast) => {
                old.clone()
            }
            _ => v.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests;
