//! The consumer's per-row work alone, in process: Debezium record building and Avro encoding of
//! key and value for rows shaped like the snapshot and streaming tables, with no database,
//! channel or registry. The whole pipeline is too noisy on a shared 2-core machine to tell a 5%
//! change from chance; this loop runs on one thread over the same rows every time, so its CPU per
//! row is what a change to record building or encoding saves. Each shape runs both ways the
//! pipelines take: the general path (records, then the Avro encoder over their value trees) and
//! the direct path (`RecordBuilder::direct_row`, which writes the same bytes without the tree).
//! Used for profiling (`perf record sluice-bench records`), not part of `all`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use sluice_core::{
    Change, ChangeEvent, Column, ColumnType, Decimal, Lsn, Numeric, Op, ReplicaIdentity, Row, SnapshotMark,
    SourceEvent, SourcePosition, TableId, TableSchema, Timestamp, TxnBegin, TypeKind, Value, Xid,
};
use sluice_debezium::config::DebeziumConfig;
use sluice_debezium::record::{Record, RecordBuilder};

/// The command line of `records`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RecordsArgs {
    /// Rows per pass.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Passes over the rows; the fastest is reported.
    #[arg(long, default_value_t = 5)]
    passes: usize,
    /// Only the direct path (for profiling it alone).
    #[arg(long)]
    direct_only: bool,
}

/// The benchmark tables' columns after `id bigint`: the types `streaming::columns` cycles through.
const KINDS: [(&str, u32, i32, TypeKind); 8] = [
    ("int4", 23, -1, TypeKind::Int4),
    ("text", 25, -1, TypeKind::Text),
    ("timestamptz", 1184, -1, TypeKind::TimestampTz),
    ("numeric", 1700, ((12 << 16) | 2) + 4, TypeKind::Numeric),
    ("bool", 16, -1, TypeKind::Bool),
    ("float8", 701, -1, TypeKind::Float8),
    ("int8", 20, -1, TypeKind::Int8),
    ("varchar", 1043, 64 + 4, TypeKind::Varchar),
];

fn table(columns: usize) -> Arc<TableSchema> {
    let mut cols = vec![Column {
        name: "id".into(),
        ty: ColumnType::new(20, -1, "int8", TypeKind::Int8),
        nullable: false,
        default: None,
        part_of_identity: true,
    }];
    for i in 0..columns - 1 {
        let (name, oid, modifier, kind) = &KINDS[i % KINDS.len()];
        cols.push(Column {
            name: format!("c{i}").into(),
            ty: ColumnType::new(*oid, *modifier, *name, kind.clone()),
            nullable: true,
            default: None,
            part_of_identity: false,
        });
    }
    Arc::new(TableSchema {
        relation_id: 16_384,
        id: TableId::new("public", format!("stream{columns}")),
        version: 1,
        columns: cols,
        key: vec![0],
        replica_identity: ReplicaIdentity::Default,
    })
}

/// Row `g`, with the values `streaming::columns` generates for it.
fn row(columns: usize, g: i64) -> Result<Row> {
    let mut values = vec![Value::Int64(g)];
    for i in 0..columns - 1 {
        values.push(match i % KINDS.len() {
            0 => Value::Int32((g % 100_000) as i32),
            1 => Value::Text(format!("customer-{g}")),
            2 => Value::TimestampTz(Timestamp::Micros(1_767_225_600_000_000 + g * 1_000_000)),
            3 => {
                let cents = g % 1_000_000;
                Value::Numeric(Numeric::Finite(Decimal::parse(&format!(
                    "{}.{:02}",
                    cents / 100,
                    cents % 100
                ))?))
            }
            4 => Value::Bool(g % 2 == 0),
            5 => Value::Float64(g as f64 * 0.5),
            6 => Value::Int64(g * 7),
            _ => Value::Text(format!(
                "{:032x}",
                (g as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
            )),
        });
    }
    Ok(Row(values))
}

fn events(columns: usize, rows: usize, op: Op) -> Result<Vec<SourceEvent>> {
    let table = table(columns);
    let consistent = Lsn(0x1_6B37_4D48);
    (0..rows)
        .map(|i| {
            let g = i as i64 + 1;
            let source = match op {
                Op::Read => SourcePosition {
                    lsn: consistent,
                    seq: i as u64,
                    xid: Some(Xid(771)),
                    commit_ts: Some(Timestamp::Micros(1_795_234_936_771_153)),
                    snapshot: Some(SnapshotMark {
                        first: i == 0,
                        last: i + 1 == rows,
                        first_in_table: i == 0,
                        last_in_table: i + 1 == rows,
                    }),
                    ..SourcePosition::default()
                },
                _ => SourcePosition {
                    lsn: Lsn(consistent.0 + 64 * i as u64),
                    commit_lsn: Some(Lsn(consistent.0 + 64 * rows as u64)),
                    seq: i as u64,
                    xid: Some(Xid(772)),
                    commit_ts: Some(Timestamp::Micros(1_795_234_936_771_153)),
                    ..SourcePosition::default()
                },
            };
            Ok(SourceEvent::Change(ChangeEvent {
                change: Change::Row { op, table: table.clone(), before: None, after: Some(row(columns, g)?) },
                source,
            }))
        })
        .collect()
}

/// One pass: every event built into records, every record's key and value Avro-encoded, through
/// the direct path where `direct` and the event allows. Returns the encoded bytes (so nothing is
/// optimized away).
fn pass(config: &DebeziumConfig, events: &[SourceEvent], op: Op, direct: bool) -> Result<usize> {
    let mut builder = RecordBuilder::new(config.clone());
    if op != Op::Read {
        builder.on_event(
            &SourceEvent::Begin(TxnBegin {
                xid: Xid(772),
                lsn: Lsn(0x1_6B37_4D48),
                commit_lsn: Lsn(0x1_6B37_4D48 + 64 * events.len() as u64),
                commit_ts: Timestamp::Micros(1_795_234_936_771_153),
            }),
            Timestamp::now(),
            &mut Vec::new(),
        )?;
    }
    let mut records: Vec<Record> = Vec::new();
    let (mut key, mut value) = (Vec::with_capacity(256), Vec::with_capacity(1024));
    let mut bytes = 0;
    for event in events {
        let now = Timestamp::now();
        if direct && let Some(row) = builder.direct_row(event, now)? {
            key.clear();
            value.clear();
            row.write_key(&mut key)?;
            row.write_value(&mut value)?;
            bytes += key.len() + value.len();
            continue;
        }
        records.clear();
        builder.on_event(event, now, &mut records)?;
        for record in &records {
            key.clear();
            value.clear();
            if let (Some(schema), Some(k)) = (&record.key_schema, &record.key) {
                sluice_debezium::avro::encode(schema, k, &mut key)?;
            }
            if let (Some(schema), Some(v)) = (&record.value_schema, &record.value) {
                sluice_debezium::avro::encode(schema, v, &mut value)?;
            }
            bytes += key.len() + value.len();
        }
    }
    Ok(bytes)
}

/// Runs the four shapes (snapshot reads and streamed inserts, 5 and 20 columns) and prints the
/// fastest pass of each in nanoseconds per row.
pub(crate) fn run(args: &RecordsArgs) -> Result<()> {
    let config = DebeziumConfig::from_properties(
        &[("topic.prefix", "bench"), ("database.dbname", "bench")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
    .context("the benchmark's Debezium config")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<28} {:>14} {:>14} {:>12}", "workload", "general ns/row", "direct ns/row", "bytes/row")?;
    for (label, columns, op) in [
        ("snapshot read, 5 cols", 5, Op::Read),
        ("streamed insert, 5 cols", 5, Op::Create),
        ("snapshot read, 20 cols", 20, Op::Read),
        ("streamed insert, 20 cols", 20, Op::Create),
    ] {
        let events = events(columns, args.rows, op)?;
        let mut best = [f64::INFINITY; 2];
        let mut bytes = [0; 2];
        // Interleaved passes, so both paths see the same machine.
        for _ in 0..args.passes.max(1) {
            for (i, direct) in [false, true].into_iter().enumerate() {
                if args.direct_only && !direct {
                    continue;
                }
                let started = Instant::now();
                bytes[i] = pass(&config, &events, op, direct)?;
                best[i] = best[i].min(started.elapsed().as_secs_f64());
            }
        }
        if !args.direct_only && bytes[0] != bytes[1] {
            anyhow::bail!("{label}: the direct path wrote {} bytes, the general path {}", bytes[1], bytes[0]);
        }
        let ns =
            |s: f64| if s.is_finite() { format!("{:.0}", s * 1e9 / args.rows as f64) } else { "-".into() };
        writeln!(
            out,
            "{label:<28} {:>14} {:>14} {:>12.1}",
            ns(best[0]),
            ns(best[1]),
            bytes[1] as f64 / args.rows as f64
        )?;
    }
    Ok(())
}
