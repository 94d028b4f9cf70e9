//! A hand-driven PostgreSQL source for tests: sluice-core events for one `customers` table turned
//! into real Debezium records by sluice-debezium's `RecordBuilder` (so key changes, tombstones,
//! truncates and TOAST placeholders have exactly Debezium's shape).
//!
//! `customers (id int4 primary key, name text, bio text, amount numeric(10,2), price numeric,
//! seen timestamptz, born date, at timestamp, tags text[])`; version 2 adds `extra text`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_core::value::{Array, ArrayDim};
use sluice_core::{
    Change, ChangeEvent, Column, ColumnType, Date, Lsn, Numeric, Op, ReplicaIdentity, Row, SnapshotMark,
    SourceEvent, SourcePosition, TableId, TableSchema, Timestamp, TxnBegin, TxnCommit, TypeKind, Value, Xid,
};
use sluice_debezium::DebeziumConfig;
use sluice_debezium::record::{Record, RecordBuilder};

/// Commit time of every transaction: 2026-01-02T03:04:05.123456Z.
pub(crate) const COMMIT_US: i64 = 1_767_323_045_123_456;
/// The snapshot's consistent point.
pub(crate) const SNAPSHOT_LSN: u64 = 0x1000;

/// The topic of the customers table.
pub(crate) const TOPIC: &str = "pg.public.customers";

fn column(name: &str, oid: u32, modifier: i32, ty: &str, kind: TypeKind) -> Column {
    Column {
        name: name.into(),
        ty: ColumnType::new(oid, modifier, ty, kind),
        nullable: name != "id",
        default: None,
        part_of_identity: name == "id",
    }
}

/// The customers table; `version` 2 adds `extra text`.
pub(crate) fn customers(version: u32) -> Arc<TableSchema> {
    let mut columns = vec![
        column("id", 23, -1, "int4", TypeKind::Int4),
        column("name", 25, -1, "text", TypeKind::Text),
        column("bio", 25, -1, "text", TypeKind::Text),
        column("amount", 1700, ((10 << 16) | 2) + 4, "numeric", TypeKind::Numeric),
        column("price", 1700, -1, "numeric", TypeKind::Numeric),
        column("seen", 1184, -1, "timestamptz", TypeKind::TimestampTz),
        column("born", 1082, -1, "date", TypeKind::Date),
        column("at", 1114, -1, "timestamp", TypeKind::Timestamp),
        Column {
            ty: ColumnType::new(
                1009,
                -1,
                "_text",
                TypeKind::Array { element: Box::new(ColumnType::new(25, -1, "text", TypeKind::Text)) },
            ),
            ..column("tags", 1009, -1, "_text", TypeKind::Text)
        },
    ];
    if version > 1 {
        columns.push(column("extra", 25, -1, "text", TypeKind::Text));
    }
    Arc::new(TableSchema {
        relation_id: 16_390,
        id: TableId::new("public", "customers"),
        version,
        columns,
        key: vec![0],
        replica_identity: ReplicaIdentity::Default,
    })
}

/// A full customers row (version 1) with derived values for the other columns.
pub(crate) fn row(id: i32, name: &str, bio: &str) -> Row {
    let tags = Array {
        dims: vec![ArrayDim { len: 2, lower_bound: 1 }],
        elements: vec![Value::Text(format!("t{id}")), Value::Null],
    };
    Row(vec![
        Value::Int32(id),
        Value::Text(name.into()),
        Value::Text(bio.into()),
        Value::Numeric(Numeric::Finite(sluice_core::Decimal::parse(&format!("{id}.25")).unwrap())),
        Value::Numeric(Numeric::Finite(
            sluice_core::Decimal::parse(&format!("12345678901234567890123456789012345678901.{id}")).unwrap(),
        )),
        Value::TimestampTz(Timestamp::Micros(COMMIT_US + i64::from(id))),
        Value::Date(Date::Days(20_000 + id)),
        Value::Timestamp(Timestamp::Micros(1_000_000 * i64::from(id))),
        Value::Array(tags),
    ])
}

/// `row` with `bio` unchanged-TOAST (an UPDATE that did not touch it under REPLICA IDENTITY DEFAULT).
pub(crate) fn toasted(id: i32, name: &str) -> Row {
    let mut r = row(id, name, "");
    r.0[2] = Value::UnchangedToast;
    r
}

/// `row` plus the version-2 `extra` column.
pub(crate) fn row_v2(id: i32, name: &str, bio: &str, extra: &str) -> Row {
    let mut r = row(id, name, bio);
    r.0.push(Value::Text(extra.into()));
    r
}

/// The old-key tuple pgoutput sends under REPLICA IDENTITY DEFAULT.
pub(crate) fn key_only(id: i32, columns: usize) -> Row {
    let mut v = vec![Value::Null; columns];
    v[0] = Value::Int32(id);
    Row(v)
}

/// One change of a transaction.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Insert(Row),
    Update { before: Option<Row>, after: Row },
    Delete(i32),
    Truncate,
}

/// Feeds events through a `RecordBuilder` and hands back the records.
#[derive(Debug)]
pub(crate) struct Source {
    builder: RecordBuilder,
    table: Arc<TableSchema>,
    lsn: u64,
    xid: u32,
}

impl Source {
    /// A source with tombstones on, truncates emitted and `topic.prefix = pg`.
    pub(crate) fn new() -> Self {
        let map: BTreeMap<String, String> =
            [("topic.prefix", "pg"), ("database.dbname", "postgres"), ("skipped.operations", "none")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let config = DebeziumConfig::from_properties(&map).unwrap();
        Source { builder: RecordBuilder::new(config), table: customers(1), lsn: 0x10_000, xid: 700 }
    }

    /// Switches to another version of the table (a schema change).
    pub(crate) fn set_table(&mut self, table: Arc<TableSchema>) {
        self.table = table;
    }

    /// The Debezium configuration.
    pub(crate) fn config(&self) -> &DebeziumConfig {
        self.builder.config()
    }

    fn feed(&mut self, event: SourceEvent, out: &mut Vec<Record>) {
        self.builder.on_event(&event, Timestamp::Micros(COMMIT_US + 1), out).unwrap();
    }

    /// Snapshot reads of `rows` (op `r`).
    pub(crate) fn snapshot(&mut self, rows: Vec<Row>) -> Vec<Record> {
        let mut out = Vec::new();
        let n = rows.len();
        for (i, r) in rows.into_iter().enumerate() {
            let position = SourcePosition {
                lsn: Lsn(SNAPSHOT_LSN),
                commit_lsn: None,
                seq: i as u64,
                xid: None,
                commit_ts: Some(Timestamp::Micros(COMMIT_US)),
                origin: None,
                snapshot: Some(SnapshotMark { first: i == 0, last: i + 1 == n, ..SnapshotMark::default() }),
            };
            let change =
                Change::Row { op: Op::Read, table: self.table.clone(), before: None, after: Some(r) };
            self.feed(SourceEvent::Change(ChangeEvent { change, source: position }), &mut out);
        }
        out
    }

    /// One committed transaction of `steps`; returns its records.
    pub(crate) fn txn(&mut self, steps: Vec<Step>) -> Vec<Record> {
        let mut out = Vec::new();
        self.xid += 1;
        let begin_lsn = self.lsn;
        let commit_lsn = self.lsn + 0x100 * (steps.len() as u64 + 1);
        self.lsn = commit_lsn + 0x100;
        let xid = Xid(self.xid);
        let ts = Timestamp::Micros(COMMIT_US);
        self.feed(
            SourceEvent::Begin(TxnBegin {
                xid,
                lsn: Lsn(begin_lsn),
                commit_lsn: Lsn(commit_lsn),
                commit_ts: ts,
            }),
            &mut out,
        );
        let n = steps.len() as u64;
        for (i, step) in steps.into_iter().enumerate() {
            let columns = self.table.columns.len();
            let change = match step {
                Step::Insert(r) => {
                    Change::Row { op: Op::Create, table: self.table.clone(), before: None, after: Some(r) }
                }
                Step::Update { before, after } => {
                    Change::Row { op: Op::Update, table: self.table.clone(), before, after: Some(after) }
                }
                Step::Delete(id) => Change::Row {
                    op: Op::Delete,
                    table: self.table.clone(),
                    before: Some(key_only(id, columns)),
                    after: None,
                },
                Step::Truncate => {
                    Change::Truncate { table: self.table.clone(), cascade: false, restart_identity: false }
                }
            };
            let source = SourcePosition {
                lsn: Lsn(begin_lsn + 0x100 * (i as u64 + 1)),
                commit_lsn: Some(Lsn(commit_lsn)),
                seq: i as u64,
                xid: Some(xid),
                commit_ts: Some(ts),
                origin: None,
                snapshot: None,
            };
            self.feed(SourceEvent::Change(ChangeEvent { change, source }), &mut out);
        }
        self.feed(
            SourceEvent::Commit(TxnCommit {
                xid,
                commit_lsn: Lsn(commit_lsn),
                end_lsn: Lsn(commit_lsn + 0x10),
                commit_ts: ts,
                event_count: n,
            }),
            &mut out,
        );
        out
    }

    /// The commit LSN the next transaction will get, for a transaction of `steps` steps.
    pub(crate) fn next_commit_lsn(&self, steps: usize) -> i64 {
        (self.lsn + 0x100 * (steps as u64 + 1)) as i64
    }
}
