//! Transaction metadata (`provide.transaction.metadata=true`): BEGIN/END records on the
//! transaction topic and the envelope's `transaction` block.
//!
//! Debezium 3.6 behaviour reproduced here:
//! * ids are `<xid>:<lsn>` where the LSN is that of the event at hand (PostgreSQL-specific), so the
//!   id differs for every event of one transaction: BEGIN uses the BEGIN message's LSN, each change
//!   its own LSN, END the LSN of the COMMIT message (the commit record's end).
//! * BEGIN is emitted for every transaction, END at its commit, even when every change was skipped
//!   (`event_count` 0, `data_collections` empty).
//! * only emitted (not skipped) changes and transactional logical messages count; `total_order` and
//!   `data_collection_order` are 1-based.
//! * END's `data_collections` iterates a `java.util.HashMap`, so its order is the map's bucket
//!   order, reproduced by [`java_hash_map_order`], not first-seen order.
//! * a transactional logical message counts under a collection named after its (unique) Java object
//!   identity, `io.debezium.connector.postgresql.LogicalDecodingMessageMonitor$LogicalDecodingMessageId@<hex>`,
//!   one entry per message; the hex part is an identity hash in Debezium, a generated one here.
//!
//! Like Debezium, the BEGIN record is emitted lazily, just before the transaction's first change,
//! with that change's LSN in its id; a transaction without changes uses the LSN of its first WAL
//! record (`TxnBegin::lsn`), which is what Debezium's offset holds at that point.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use sluice_core::{Lsn, SourcePosition, Timestamp, TxnBegin, TxnCommit, Xid};

use crate::config::DebeziumConfig;
use crate::connect::{ConnectValue, Field, Schema, SchemaType};
use crate::envelope::epoch_parts;
use crate::error::DebeziumError;
use crate::naming;
use crate::record::Record;

/// Key schema name of the transaction topic.
pub const KEY_SCHEMA_NAME: &str = "io.debezium.connector.common.TransactionMetadataKey";
/// Value schema name of the transaction topic.
pub const VALUE_SCHEMA_NAME: &str = "io.debezium.connector.common.TransactionMetadataValue";
/// Element schema name of `data_collections`.
pub const COLLECTION_SCHEMA_NAME: &str = "event.collection";
/// Prefix of the collection name Debezium gives a logical decoding message.
pub const MESSAGE_COLLECTION_PREFIX: &str =
    "io.debezium.connector.postgresql.LogicalDecodingMessageMonitor$LogicalDecodingMessageId@";

fn field(name: &str, schema: Schema) -> Field {
    Field { name: name.to_owned(), schema: Arc::new(schema) }
}

/// `io.debezium.connector.common.TransactionMetadataKey` v1 `{id: string}`. (All names here are
/// valid Avro names, so every adjustment mode leaves them unchanged.)
pub fn key_schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(
                Schema::structure(KEY_SCHEMA_NAME, vec![field("id", Schema::primitive(SchemaType::String))])
                    .versioned(1),
            )
        })
        .clone()
}

/// `event.collection` v1: optional struct `{data_collection: string, event_count: int64}`.
pub fn collection_schema() -> Schema {
    Schema::structure(
        COLLECTION_SCHEMA_NAME,
        vec![
            field("data_collection", Schema::primitive(SchemaType::String)),
            field("event_count", Schema::primitive(SchemaType::Int64)),
        ],
    )
    .versioned(1)
    .optional()
}

/// `io.debezium.connector.common.TransactionMetadataValue` v1: `status`, `id`, `event_count`
/// (optional), `data_collections` (optional array of `event.collection`), `ts_ms`.
pub fn value_schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(
                Schema::structure(
                    VALUE_SCHEMA_NAME,
                    vec![
                        field("status", Schema::primitive(SchemaType::String)),
                        field("id", Schema::primitive(SchemaType::String)),
                        field("event_count", Schema::primitive(SchemaType::Int64).optional()),
                        field("data_collections", Schema::array(collection_schema()).optional()),
                        field("ts_ms", Schema::primitive(SchemaType::Int64)),
                    ],
                )
                .versioned(1),
            )
        })
        .clone()
}

/// Debezium's PostgreSQL transaction id for an event at `lsn`.
pub fn transaction_id(xid: Xid, lsn: Lsn) -> String {
    format!("{}:{}", xid.0, lsn.as_u64() as i64)
}

/// The table capacity of a `java.util.HashMap` (default capacity 16, load factor 0.75) that
/// started at `capacity` and received `entries` distinct keys.
pub fn java_hash_map_capacity(capacity: usize, entries: usize) -> usize {
    let mut capacity = capacity.max(16);
    while entries * 4 > capacity * 3 {
        capacity *= 2;
    }
    capacity
}

/// The iteration order of a `java.util.HashMap<String, _>` whose table has `capacity` buckets (a
/// power of two, see [`java_hash_map_capacity`]) after inserting `keys` (distinct) in order:
/// indexes into `keys`.
///
/// Buckets are visited in index order; within a bucket, entries keep insertion order (resizes
/// preserve it). Treeified buckets (8+ colliding keys) are not modelled.
pub fn java_hash_map_order(keys: &[String], capacity: usize) -> Vec<usize> {
    let capacity = java_hash_map_capacity(capacity, keys.len());
    let bucket = |k: &String| {
        let h = crate::java::string_hash(k) as u32;
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (bucket(&keys[i]), i));
    order
}

/// The open transaction.
#[derive(Debug, Clone)]
struct Open {
    xid: Xid,
    /// The transaction's first WAL record: the BEGIN id when no change precedes the commit.
    first_lsn: Lsn,
    commit_lsn: Lsn,
    commit_ts: Timestamp,
    begun: bool,
    total: u64,
    /// Per data collection counts, in first-seen order.
    collections: Vec<(String, u64)>,
    /// Position of each collection in `collections` (transactions with many logical messages have
    /// as many collections).
    index: HashMap<String, usize>,
}

/// Tracks the transaction in progress and produces the transaction topic records.
#[derive(Debug, Clone)]
pub struct TransactionTracker {
    open: Option<Open>,
    message_counter: u64,
    /// Debezium keeps one per-collection `HashMap` for the whole run and `clear()`s it between
    /// transactions, which keeps its grown table; END's order depends on that capacity.
    hash_capacity: usize,
}

impl Default for TransactionTracker {
    fn default() -> Self {
        TransactionTracker { open: None, message_counter: 0, hash_capacity: 16 }
    }
}

impl TransactionTracker {
    /// A tracker with no open transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// A transaction began; its BEGIN record waits for the first change (see the module docs).
    pub fn begin(&mut self, begin: &TxnBegin) {
        self.open = Some(Open {
            xid: begin.xid,
            first_lsn: begin.lsn,
            commit_lsn: begin.commit_lsn,
            commit_ts: begin.commit_ts,
            begun: false,
            total: 0,
            collections: Vec::new(),
            index: HashMap::new(),
        });
    }

    /// The xid of the open transaction.
    pub fn current_xid(&self) -> Option<Xid> {
        self.open.as_ref().map(|o| o.xid)
    }

    /// Emits the BEGIN record if it has not been emitted yet, with `lsn` in its id.
    pub fn ensure_begun(
        &mut self,
        config: &DebeziumConfig,
        lsn: Lsn,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        let Some(open) = self.open.as_mut() else { return Ok(()) };
        if open.begun {
            return Ok(());
        }
        open.begun = true;
        let id = transaction_id(open.xid, lsn);
        let (ts_ms, _, _) = epoch_parts(open.commit_ts)?;
        let position = SourcePosition {
            lsn,
            commit_lsn: Some(open.commit_lsn),
            seq: 0,
            xid: Some(open.xid),
            commit_ts: Some(open.commit_ts),
            origin: None,
            snapshot: None,
        };
        out.push(metadata_record(
            config,
            id,
            ConnectValue::String("BEGIN".into()),
            ConnectValue::Null,
            ConnectValue::Null,
            ts_ms,
            position,
        ));
        Ok(())
    }

    /// Counts one emitted event of `collection` and returns its envelope `transaction` block, or
    /// `None` outside a transaction.
    pub fn data_event(&mut self, collection: &str, lsn: Lsn) -> Option<ConnectValue> {
        let open = self.open.as_mut()?;
        open.total += 1;
        let order = match open.index.get(collection) {
            Some(&i) => {
                open.collections[i].1 += 1;
                open.collections[i].1
            }
            None => {
                open.index.insert(collection.to_owned(), open.collections.len());
                open.collections.push((collection.to_owned(), 1));
                1
            }
        };
        Some(crate::envelope::transaction_block_value(transaction_id(open.xid, lsn), open.total, order))
    }

    /// Counts a transactional logical message (its own data collection) and returns its block.
    pub fn message_event(&mut self, lsn: Lsn) -> Option<ConnectValue> {
        self.open.as_ref()?;
        self.message_counter += 1;
        let name = format!("{MESSAGE_COLLECTION_PREFIX}{:x}", pseudo_identity_hash(self.message_counter));
        self.data_event(&name, lsn)
    }

    /// The transaction committed: emits BEGIN (if still pending) and END.
    pub fn commit(
        &mut self,
        config: &DebeziumConfig,
        commit: &TxnCommit,
        out: &mut Vec<Record>,
    ) -> Result<(), DebeziumError> {
        if let Some(first_lsn) = self.open.as_ref().filter(|o| !o.begun).map(|o| o.first_lsn) {
            self.ensure_begun(config, first_lsn, out)?;
        }
        let Some(open) = self.open.take() else { return Ok(()) };
        let (ts_ms, _, _) = epoch_parts(commit.commit_ts)?;
        let names: Vec<String> = open.collections.iter().map(|(c, _)| c.clone()).collect();
        self.hash_capacity = java_hash_map_capacity(self.hash_capacity, names.len());
        let collections = java_hash_map_order(&names, self.hash_capacity)
            .into_iter()
            .map(|i| {
                let (name, count) = &open.collections[i];
                ConnectValue::Struct(vec![
                    ConnectValue::String(name.clone()),
                    ConnectValue::Int64(*count as i64),
                ])
            })
            .collect();
        let position = SourcePosition {
            lsn: commit.end_lsn,
            commit_lsn: Some(commit.commit_lsn),
            seq: commit.event_count,
            xid: Some(commit.xid),
            commit_ts: Some(commit.commit_ts),
            origin: None,
            snapshot: None,
        };
        out.push(metadata_record(
            config,
            transaction_id(open.xid, commit.end_lsn),
            ConnectValue::String("END".into()),
            ConnectValue::Int64(open.total as i64),
            ConnectValue::Array(collections),
            ts_ms,
            position,
        ));
        Ok(())
    }
}

/// A stand-in for a JVM identity hash: 31 bits, well spread.
fn pseudo_identity_hash(n: u64) -> u32 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) as u32) & 0x7FFF_FFFF
}

fn metadata_record(
    config: &DebeziumConfig,
    id: String,
    status: ConnectValue,
    event_count: ConnectValue,
    data_collections: ConnectValue,
    ts_ms: i64,
    position: SourcePosition,
) -> Record {
    Record {
        topic: naming::transaction_topic(config),
        key_schema: Some(key_schema()),
        key: Some(ConnectValue::Struct(vec![ConnectValue::String(id.clone())])),
        value_schema: Some(value_schema()),
        value: Some(ConnectValue::Struct(vec![
            status,
            ConnectValue::String(id),
            event_count,
            data_collections,
            ConnectValue::Int64(ts_ms),
        ])),
        headers: Vec::new().into(),
        position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(crate::java::string_hash(""), 0);
        assert_eq!(crate::java::string_hash("a"), 97);
        assert_eq!(crate::java::string_hash("hello"), 99_162_322);
        assert_eq!(
            crate::java::string_hash("public.customers"),
            crate::java::string_hash("public.customers")
        );
    }

    #[test]
    fn live_oracle_collection_order() {
        // The live END record lists public.customers before public.types_demo.
        let keys = vec!["public.customers".to_owned(), "public.types_demo".to_owned()];
        let order = java_hash_map_order(&keys, 16);
        let reversed = java_hash_map_order(&[keys[1].clone(), keys[0].clone()], 16);
        assert_eq!(order, vec![0, 1]);
        assert_eq!(reversed, vec![1, 0], "order is by bucket, not by insertion");
    }

    #[test]
    fn fourteen_tables_end_in_the_order_debezium_3_6_3_printed() {
        // Captured from the Debezium 3.6.3 oracle: one transaction inserting into public.t1..t14.
        let keys: Vec<String> = (1..=14).map(|i| format!("public.t{i}")).collect();
        let capacity = java_hash_map_capacity(16, keys.len());
        assert_eq!(capacity, 32);
        let order: Vec<&str> =
            java_hash_map_order(&keys, capacity).into_iter().map(|i| keys[i].as_str()).collect();
        assert_eq!(
            order,
            [
                "public.t14",
                "public.t12",
                "public.t13",
                "public.t8",
                "public.t7",
                "public.t9",
                "public.t4",
                "public.t3",
                "public.t6",
                "public.t5",
                "public.t10",
                "public.t11",
                "public.t2",
                "public.t1"
            ]
        );
    }

    #[test]
    fn grown_table_is_kept_for_later_transactions() {
        // Oracle: after the 14-table transaction, a transaction touching public.t7 then
        // public.customers listed customers first (a fresh 16-bucket map would list t7 first).
        let config =
            DebeziumConfig::from_properties(&[("topic.prefix".to_owned(), "oracle".to_owned())].into())
                .unwrap();
        let ts = Timestamp::Micros(1_000_000);
        let mut tracker = TransactionTracker::new();
        let mut out = Vec::new();
        let txn = |tracker: &mut TransactionTracker, xid: u32, tables: &[String], out: &mut Vec<Record>| {
            tracker.begin(&TxnBegin { xid: Xid(xid), lsn: Lsn(5), commit_lsn: Lsn(10), commit_ts: ts });
            for t in tables {
                tracker.ensure_begun(&config, Lsn(5), out).unwrap();
                tracker.data_event(t, Lsn(5));
            }
            let commit = TxnCommit {
                xid: Xid(xid),
                commit_lsn: Lsn(10),
                end_lsn: Lsn(20),
                commit_ts: ts,
                event_count: 0,
            };
            tracker.commit(&config, &commit, out).unwrap();
        };
        let second = ["public.t7".to_owned(), "public.customers".to_owned()];
        let names = |out: &[Record]| -> Vec<ConnectValue> {
            let Some(ConnectValue::Struct(v)) = &out.last().unwrap().value else { return vec![] };
            let ConnectValue::Array(items) = &v[3] else { return vec![] };
            items
                .iter()
                .map(|i| match i {
                    ConnectValue::Struct(f) => f[0].clone(),
                    other => other.clone(),
                })
                .collect()
        };
        let mut fresh = TransactionTracker::new();
        let mut fresh_out = Vec::new();
        txn(&mut fresh, 1, &second, &mut fresh_out);
        assert_eq!(names(&fresh_out)[0], ConnectValue::String("public.t7".into()));

        let fourteen: Vec<String> = (1..=14).map(|i| format!("public.t{i}")).collect();
        txn(&mut tracker, 1, &fourteen, &mut out);
        txn(&mut tracker, 2, &second, &mut out);
        assert_eq!(names(&out)[0], ConnectValue::String("public.customers".into()));
    }

    #[test]
    fn hash_map_capacity_grows_past_the_load_factor_and_is_kept() {
        assert_eq!(java_hash_map_capacity(16, 12), 16);
        assert_eq!(java_hash_map_capacity(16, 13), 32);
        assert_eq!(java_hash_map_capacity(32, 1), 32, "clear() keeps the table");
        // Same-bucket keys keep insertion order: "Aa" and "BB" have equal Java hashes.
        assert_eq!(crate::java::string_hash("Aa"), crate::java::string_hash("BB"));
        assert_eq!(java_hash_map_order(&["BB".to_owned(), "Aa".to_owned()], 16), vec![0, 1]);
    }

    #[test]
    fn schemas_have_debeziums_shape() {
        let v = value_schema();
        let names: Vec<&str> = v.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["status", "id", "event_count", "data_collections", "ts_ms"]);
        assert_eq!(v.version, Some(1));
        assert!(!v.optional);
        assert!(v.fields[2].schema.optional && v.fields[3].schema.optional && !v.fields[4].schema.optional);
        let item = v.fields[3].schema.items.as_ref().unwrap();
        assert_eq!(item.name.as_deref(), Some("event.collection"));
        assert!(item.optional);
        assert_eq!(key_schema().name.as_deref(), Some(KEY_SCHEMA_NAME));
    }
}
