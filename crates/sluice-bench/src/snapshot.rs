//! Initial snapshot of one large table: `COPY ... TO STDOUT (FORMAT binary)` (the limit: the
//! server reading and sending every row), sluice (`snapshot.mode=initial_only`, Avro, null sink)
//! and Debezium (`snapshot.mode=initial`, Avro, null consumer).

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt as _;

use crate::Options;
use crate::consume::{ConsumeArgs, Sink};
use crate::database::{BenchDb, PUBLICATION};
use crate::debezium::{self, DebeziumJob};
use crate::measure::Usage;
use crate::registry::BenchRegistry;
use crate::report::{self, Section, mib, ratio, seconds, thousands};
use crate::streaming::{self, SHAPES};

const TABLE: &str = "snapshot5";

struct Outcome {
    system: String,
    rows: u64,
    busy: Duration,
    usage: Option<Usage>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.rows as f64 / self.busy.as_secs_f64().max(1e-9)
    }
}

pub(crate) async fn run(options: &Options) -> Result<Vec<Section>> {
    let rows = options.scaled(10_000_000);
    let db = BenchDb::start().await?;
    let registry = BenchRegistry::start().await?;
    if options.debezium {
        tokio::task::spawn_blocking(debezium::prepare).await??;
    }
    let shape = SHAPES[0];
    db.psql(&streaming::create_table(shape, TABLE))?;
    tracing::info!(rows, "filling the snapshot table");
    let chunk = 1_000_000;
    let mut from = 1;
    while from <= rows {
        let to = (from + chunk - 1).min(rows);
        db.psql(&streaming::insert_rows(shape, TABLE, from, to))?;
        from = to + 1;
    }
    // Hint bits and statistics set, so no reader pays for the first visit.
    db.psql(&format!("VACUUM ANALYZE {TABLE}"))?;
    db.psql(&format!("CREATE PUBLICATION {PUBLICATION} FOR TABLE {TABLE}"))?;

    let mut outcomes = Vec::new();
    // The limit: the server's binary COPY, read and discarded by a client in this process.
    let client = db.client().await?;
    let started = Instant::now();
    let stream = client.copy_out(&format!("COPY {TABLE} TO STDOUT (FORMAT binary)")).await?;
    futures::pin_mut!(stream);
    let mut bytes = 0usize;
    while let Some(chunk) = stream.next().await {
        bytes += chunk?.len();
    }
    outcomes.push(Outcome {
        system: format!("COPY TO STDOUT (binary, {} MiB) (limit)", mib(bytes as u64)),
        rows,
        busy: started.elapsed(),
        usage: None,
    });

    for (system, threads) in [("sluice (Avro, null sink)", 1), ("sluice, snapshot.max.threads=2", 2)] {
        let args = ConsumeArgs {
            sink: Sink::Null,
            host: db.host().into(),
            port: db.port(),
            user: db.user().into(),
            dbname: db.dbname().into(),
            slot: format!("snap_sluice_{threads}"),
            publication: PUBLICATION.into(),
            tables: format!("public.{TABLE}"),
            snapshot: true,
            expected: rows,
            registry: registry.url().into(),
            bootstrap: None,
            timeout_s: 3600,
            set: vec![format!("snapshot.max.threads={threads}")],
        };
        let o = streaming::run_sluice(system, &args).await?;
        outcomes.push(Outcome { system: system.into(), rows: o.events, busy: o.busy, usage: Some(o.usage) });
        db.drop_slot(&args.slot).await?;
    }

    if options.debezium {
        let job = DebeziumJob {
            db: &db,
            slot: "snap_debezium",
            publication: PUBLICATION,
            tables: &format!("public.{TABLE}"),
            snapshot: true,
            expected_events: rows,
            registry_url: registry.url(),
        };
        let run = debezium::run(&job).await?;
        outcomes.push(Outcome {
            system: "Debezium 3.6.3 (Avro, null sink)".into(),
            rows: run.events,
            busy: run.busy,
            usage: Some(run.measured.usage),
        });
        db.drop_slot("snap_debezium").await?;
    }

    let mut section = Section::new(
        "Snapshot",
        format!(
            "One table `{TABLE}` of {} rows with the 5 columns of the streaming benchmark's `stream5`, \
             filled in transactions of 1,000,000 rows and then `VACUUM ANALYZE`d. Each system reads \
             all of it once: `COPY {TABLE} TO STDOUT (FORMAT binary)` read by a client that discards \
             the bytes (the limit; its CPU is the server's, not measured); sluice with \
             `snapshot.mode=initial_only` into the null sink of the streaming benchmark (Debezium \
             records, Avro through sluice's registry), with the default single snapshot thread and \
             with two; Debezium 3.6.3 with `snapshot.mode=initial` (its default single thread), Avro \
             converter, null consumer, stopped after the last row. Rows/s = rows / busy, busy being \
             from the pipeline's start (connect, slot, snapshot) to the last row.",
            thousands(rows as f64)
        ),
        &["system", "rows", "rows/s", "busy s", "wall s", "CPU s", "peak RSS MiB"],
    );
    for o in &outcomes {
        section.row(vec![
            o.system.clone(),
            thousands(o.rows as f64),
            thousands(o.rate()),
            seconds(o.busy),
            o.usage.map_or("-".into(), |u| seconds(u.wall)),
            o.usage.map_or("-".into(), |u| seconds(u.cpu)),
            o.usage.map_or("-".into(), |u| mib(u.peak_rss)),
        ]);
    }
    let copy = &outcomes[0];
    let sluice = &outcomes[1];
    let mut line = format!(
        "sluice snapshots at {} of COPY's rate (target >= 0.70x)",
        ratio(sluice.rate() / copy.rate())
    );
    line.push_str(&format!("; with two threads {}", ratio(outcomes[2].rate() / copy.rate())));
    if let Some(dbz) = outcomes.iter().find(|o| o.system.starts_with("Debezium")) {
        line.push_str(&format!(
            "; {} Debezium's rate with {} of its peak RSS",
            ratio(sluice.rate() / dbz.rate()),
            ratio(
                sluice.usage.map_or(0, |u| u.peak_rss) as f64
                    / dbz.usage.map_or(1, |u| u.peak_rss.max(1)) as f64
            )
        ));
    }
    section.findings.push(line);
    report::print(&section);
    Ok(vec![section])
}
