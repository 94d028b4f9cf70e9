//! Running the real Postgres source against a test database and collecting what it emits.
//!
//! Tests play the durable downstream: by default each pulled commit is confirmed at once.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::TestDb;
use sluice_core::{Change, ChangeEvent, Lsn, Row, SourceEvent, TxnBegin, TxnCommit, Value};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::reader::{self, ReaderExit, SourceHandle, StoredOffset};
use tokio_util::sync::CancellationToken;

/// How long a test waits for the next event before failing.
pub const WAIT: Duration = Duration::from_secs(60);

/// A connector config for `db`, superuser over loopback, with `extra` properties on top.
pub fn config(db: &TestDb, slot: &str, extra: &[(&str, &str)]) -> PostgresSourceConfig {
    let mut props: BTreeMap<String, String> = [
        ("name", slot),
        ("connector.class", sluice_postgres::config::POSTGRES_CONNECTOR_CLASS),
        ("plugin.name", "pgoutput"),
        ("database.hostname", "127.0.0.1"),
        ("database.user", "postgres"),
        ("database.dbname", db.name.as_str()),
        ("database.sslmode", "disable"),
        ("topic.prefix", "test"),
        ("slot.name", slot),
        ("publication.name", slot),
        ("status.update.interval.ms", "500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    props.insert("database.port".into(), db.port().to_string());
    for (k, v) in extra {
        props.insert((*k).to_owned(), (*v).to_owned());
    }
    PostgresSourceConfig::from_properties(&props).expect("test config is valid")
}

/// One committed transaction as the source emitted it.
#[derive(Debug, Clone)]
pub struct Txn {
    /// Its Begin.
    pub begin: TxnBegin,
    /// Its changes in order.
    pub changes: Vec<ChangeEvent>,
    /// Its Commit.
    pub commit: TxnCommit,
}

/// A running source whose events the test pulls.
#[derive(Debug)]
pub struct Capture {
    /// The running source.
    pub handle: SourceHandle,
    /// Cancels it.
    pub cancel: CancellationToken,
    /// Confirm each commit as soon as it is pulled (the test is the durable downstream).
    pub auto_confirm: bool,
}

impl Capture {
    /// Starts the source.
    pub fn start(config: PostgresSourceConfig, offset: Option<StoredOffset>) -> Capture {
        crate::init_tracing();
        let cancel = CancellationToken::new();
        let handle = reader::spawn(config, offset, cancel.clone());
        Capture { handle, cancel, auto_confirm: true }
    }

    /// The next event; panics after [`WAIT`] or if the source ended.
    pub async fn next(&mut self) -> SourceEvent {
        match tokio::time::timeout(WAIT, self.handle.events.recv()).await {
            Ok(Some(event)) => {
                if self.auto_confirm {
                    match &event {
                        SourceEvent::Commit(c) => self.handle.acks.confirm(c.end_lsn),
                        SourceEvent::Progress { lsn } => self.handle.acks.confirm(*lsn),
                        _ => {}
                    }
                }
                event
            }
            Ok(None) => {
                let result = (&mut self.handle.task).await;
                panic!("the source ended: {result:?}")
            }
            Err(_) => panic!("no event from the source within {WAIT:?}"),
        }
    }

    /// The next event that is not a `Progress` marker; panics if none comes within [`WAIT`]
    /// (progress markers keep arriving while the server is busy elsewhere, so the deadline is
    /// overall, not per event).
    pub async fn next_significant(&mut self) -> SourceEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("no change, begin or commit from the source within {WAIT:?}"));
            match event {
                SourceEvent::Progress { .. } => continue,
                e => return e,
            }
        }
    }

    /// All snapshot rows up to `SnapshotCompleted`.
    pub async fn snapshot(&mut self) -> (Vec<ChangeEvent>, Lsn) {
        let mut rows = Vec::new();
        loop {
            match self.next_significant().await {
                SourceEvent::Change(c) => rows.push(c),
                SourceEvent::SnapshotCompleted { consistent_point } => return (rows, consistent_point),
                other => panic!("unexpected event during the snapshot: {other:?}"),
            }
        }
    }

    /// The next whole transaction.
    pub async fn txn(&mut self) -> Txn {
        let begin = loop {
            match self.next_significant().await {
                SourceEvent::Begin(b) => break b,
                SourceEvent::SnapshotCompleted { .. } => continue,
                other => panic!("expected a transaction to begin, got {other:?}"),
            }
        };
        let mut changes = Vec::new();
        loop {
            match self.next_significant().await {
                SourceEvent::Change(c) => changes.push(c),
                SourceEvent::Commit(commit) => {
                    assert_eq!(commit.xid, begin.xid, "commit of another transaction");
                    assert_eq!(commit.event_count, changes.len() as u64);
                    return Txn { begin, changes, commit };
                }
                other => panic!("unexpected event inside a transaction: {other:?}"),
            }
        }
    }

    /// Stops the source and returns how it ended.
    pub async fn stop(self) -> ReaderExit {
        self.cancel.cancel();
        let Capture { handle, .. } = self;
        let SourceHandle { events, task, .. } = handle;
        drop(events);
        tokio::time::timeout(WAIT, task)
            .await
            .expect("source stops in time")
            .expect("no panic")
            .expect("clean exit")
    }
}

/// The `after` row of a row change.
pub fn after(e: &ChangeEvent) -> &Row {
    match &e.change {
        Change::Row { after: Some(r), .. } => r,
        other => panic!("expected a row with an after image, got {other:?}"),
    }
}

/// The `before` row of a row change, if any.
pub fn before(e: &ChangeEvent) -> Option<&Row> {
    match &e.change {
        Change::Row { before, .. } => before.as_ref(),
        other => panic!("expected a row change, got {other:?}"),
    }
}

/// A column's value by name.
pub fn col<'a>(e: &'a ChangeEvent, row: &'a Row, name: &str) -> &'a Value {
    let table = e.table().expect("row change has a table");
    let i = table.column_index(name).unwrap_or_else(|| panic!("no column {name} in {}", table.id));
    &row.0[i]
}

/// An `int4` column value.
pub fn int(v: &Value) -> i64 {
    match v {
        Value::Int16(i) => i64::from(*i),
        Value::Int32(i) => i64::from(*i),
        Value::Int64(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// A text column value.
pub fn text(v: &Value) -> &str {
    match v {
        Value::Text(s) => s,
        other => panic!("expected text, got {other:?}"),
    }
}

/// Waits until a replication slot is being streamed from (so writes after this are captured).
///
/// `pg_replication_slots.active` alone is not enough: a slot is also active while
/// CREATE_REPLICATION_SLOT is still waiting for its consistent point, and transactions that commit
/// before that point are, by design, not decoded. So this waits for a walsender that has started
/// replication from the slot.
pub async fn wait_for_slot(db: &TestDb, slot: &str) {
    for _ in 0..600 {
        let row = db
            .client
            .query_opt(
                "SELECT r.state IN ('catchup', 'streaming') FROM pg_replication_slots s \
                 JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1",
                &[&slot],
            )
            .await
            .expect("query pg_replication_slots");
        if row.is_some_and(|r| r.get::<_, bool>(0)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("slot {slot} never became active");
}
