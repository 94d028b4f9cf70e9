//! The randomized proof that each Delta table of the direct path equals its PostgreSQL table.
//!
//! [`delta_tables_equal_postgres_under_a_random_workload_and_kill_9`]: three tables (`accounts`,
//! `docs` with single keys, `lines` with a composite key) get a seeded random workload of a few
//! thousand transactions — inserts, updates, deletes, primary-key changes, multi-row statements,
//! multi-table transactions, NULLs, `numeric(p,s)`, unconstrained `numeric`, `timestamptz`,
//! `timestamp`, text over 8 kB stored out of line (updates that leave it alone, so pgoutput sends the
//! unchanged-TOAST marker, and updates that set it), truncates (one of them of two tables at once,
//! some in transactions with changes around them) and schema changes (`ADD COLUMN` nullable, with a
//! default, `NOT NULL` with a default; `DROP COLUMN`). Meanwhile `sluice run` is killed with SIGKILL at
//! 2–4 random points and restarted on the same data directory and slot. The seed comes from
//! `SLUICE_SEED` (random otherwise), is printed, and is part of every failure message.
//!
//! Once a last marker transaction touching every table is in every table (its txn version), sluice
//! is stopped and each table is read by Python `deltalake` and by DuckDB's delta extension
//! (`crates/sluice-delta/tests/read_delta_rows.py`). Asserted, for each reader and table:
//!
//! * both readers return the same rows, keys are unique, and the keys are exactly PostgreSQL's (no
//!   row lost, none doubled); `_op` is `c`, `u` or `r`;
//! * the Delta schema is the metadata columns plus every column the source table had while one of
//!   its rows changed (a column added and dropped with no change in between never reaches the
//!   change stream);
//! * every such column of every row equals PostgreSQL's value (unconstrained `numeric` without
//!   trailing zeros, as Debezium sends it), except where logical decoding cannot tell: a column
//!   added by `ADD COLUMN` is NULL in rows whose last change (`_commit_lsn`) precedes the `ALTER`
//!   (PostgreSQL shows its default there, but sends no change for those rows);
//! * a dropped column stays in the table: NULL in rows whose last change follows the `DROP`, and in
//!   rows last changed before it the value PostgreSQL had at the `DROP` (read in the dropping
//!   transaction), subject to the previous rule.
//!
//! "Before" and "after" a schema change are decided by `pg_current_wal_insert_lsn()` read just
//! before the schema-changing transaction (the workload runs its transactions one at a time).
//! Every statement goes to `workload.sql`, kept with the lake and sluice's log when a run fails.
//!
//! [`across_batches_a_moved_row_keeps_its_toast_value_and_a_dropped_column_reads_null`] is the
//! deterministic form of two defects the random test found across batches: an update after a
//! `DROP COLUMN` must set the dropped column to NULL, not leave its old value (fixed in
//! `table.rs`), and a key change of a row whose TOASTed column is unchanged must give the new key's
//! row the old row's value, which only the table has. The second still fails, and with it the
//! random test whenever a key change meets an unchanged TOAST value across batches, until
//! `table.rs` fills such values from the old key's row (the create half of the key change would
//! carry the old key for that).
//!
//! [`a_widened_column_type_stops_the_connector_and_leaves_the_table_readable`]: `integer` →
//! `bigint` while sluice runs stops the connector (`sluice run` exits with status 1 and names the
//! table, the column and the manual fix on stderr, again after a restart), and the table still reads
//! back, unchanged, as the rows before the change.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Map, Value, json};
use sluice_tests::process::{RunArgs, SluiceProcess, sluice_binary};
use sluice_tests::{TestDb, init_tracing};
use tokio_postgres::{Client, SimpleQueryMessage};

const METADATA: [&str; 4] = ["_op", "_commit_lsn", "_seq", "_source_ts"];

fn reader_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sluice-delta/tests/read_delta_rows.py")
}

/// SplitMix64: small, seedable, good enough to pick operations.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (u128::from(self.next()) % span) as i128) as i64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn text(&mut self, len: usize, alphabet: &[char]) -> String {
        (0..len).map(|_| alphabet[self.below(alphabet.len())]).collect()
    }
}

/// `SLUICE_SEED`, else a random seed.
fn seed() -> Result<u64> {
    match std::env::var("SLUICE_SEED") {
        Ok(s) => s.trim().parse().with_context(|| format!("SLUICE_SEED must be a u64, got '{s}'")),
        Err(_) => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Ok(Rng(t.as_nanos() as u64 ^ u64::from(std::process::id())).next())
        }
    }
}

/// Column types of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SmallInt,
    Int,
    BigInt,
    Bool,
    /// Short text (quotes, backslashes and non-ASCII included).
    Text,
    /// Text stored out of line (`STORAGE EXTERNAL`): often over 8 kB, random so it cannot compress.
    Big,
    Num(u8, u8),
    NumAny,
    TsTz,
    Ts,
}

const WORD: &[char] = &['a', 'b', 'Z', '0', '9', ' ', '\'', '\\', 'é', 'ß', '🚀', '"', ',', '%'];
const NOISE: &[char] = &[
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U',
    'V', 'W', 'X', 'Y', 'Z', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p',
    'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '-',
    '_',
];

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `unscaled × 10^-scale` in plain notation.
fn decimal(unscaled: i128, scale: u32) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

impl Kind {
    fn sql(self) -> String {
        match self {
            Kind::SmallInt => "smallint".into(),
            Kind::Int => "integer".into(),
            Kind::BigInt => "bigint".into(),
            Kind::Bool => "boolean".into(),
            Kind::Text | Kind::Big => "text".into(),
            Kind::Num(p, s) => format!("numeric({p},{s})"),
            Kind::NumAny => "numeric".into(),
            Kind::TsTz => "timestamptz".into(),
            Kind::Ts => "timestamp".into(),
        }
    }

    /// A random non-NULL literal.
    fn literal(self, rng: &mut Rng) -> String {
        match self {
            Kind::SmallInt => rng.range(-32768, 32767).to_string(),
            Kind::Int => rng.range(-1_000_000, 1_000_000).to_string(),
            Kind::BigInt => rng.range(-(1 << 52), 1 << 52).to_string(),
            Kind::Bool => rng.chance(0.5).to_string(),
            Kind::Text => {
                let len = rng.below(24);
                quote(&rng.text(len, WORD))
            }
            Kind::Big => {
                let len = match rng.below(10) {
                    0 => rng.below(40),
                    1 | 2 => 300 + rng.below(1500),
                    _ => 9000 + rng.below(7000),
                };
                quote(&rng.text(len, NOISE))
            }
            Kind::Num(p, s) => {
                let max = 10i128.pow(u32::from(p)) - 1;
                let unscaled = if rng.chance(0.5) {
                    rng.range(-100_000, 100_000).into()
                } else {
                    rng.range(-(max.min(i64::MAX.into()) as i64), max.min(i64::MAX.into()) as i64).into()
                };
                format!("{}::numeric", quote(&decimal(unscaled, s.into())))
            }
            Kind::NumAny => {
                let mut unscaled = i128::from(rng.range(-(1 << 60), 1 << 60));
                if rng.chance(0.2) {
                    unscaled =
                        unscaled * 1_000_000_000_000_000 + i128::from(rng.range(0, 999_999_999_999_999));
                }
                if rng.chance(0.2) {
                    unscaled /= 1 << rng.below(60);
                }
                format!("{}::numeric", quote(&decimal(unscaled, rng.below(12) as u32)))
            }
            // 1950 .. 2040, to the microsecond.
            Kind::TsTz | Kind::Ts => format!(
                "{} 'epoch' + interval '{} microseconds'",
                if self == Kind::TsTz { "timestamptz" } else { "timestamp" },
                rng.range(-631_152_000_000_000, 2_208_988_800_000_000)
            ),
        }
    }

    /// The SQL expression giving `col`'s value in the form `read_delta_rows.py` prints.
    fn canonical(self, col: &str) -> String {
        let c = format!("\"{col}\"");
        match self {
            Kind::SmallInt | Kind::Int | Kind::BigInt => format!("{c}::bigint"),
            Kind::Bool => c,
            Kind::Text | Kind::Big => {
                format!(
                    "CASE WHEN length({c}) > 256 THEN 'md5:' || md5({c}) || ':' || length({c}) ELSE {c} END"
                )
            }
            Kind::Num(..) => format!("{c}::text"),
            // Debezium strips trailing zeros of a variable-scale decimal (`stripTrailingZeros`).
            Kind::NumAny => format!("trim_scale({c})::text"),
            Kind::TsTz | Kind::Ts => format!("(extract(epoch FROM {c}) * 1000000)::bigint"),
        }
    }
}

#[derive(Debug)]
struct Dropped {
    /// `pg_current_wal_insert_lsn()` just before the dropping transaction.
    at: u64,
    /// The column's canonical value per key when it was dropped.
    values: HashMap<String, Value>,
}

#[derive(Debug)]
struct Col {
    name: String,
    kind: Kind,
    key: bool,
    not_null: bool,
    /// For columns added mid-stream: `pg_current_wal_insert_lsn()` just before the `ALTER`.
    added_at: Option<u64>,
    dropped: Option<Dropped>,
    /// A row change of the table happened while the column existed, so the change stream knows
    /// it (a column added and dropped with no change in between never reaches Delta).
    seen: bool,
}

impl Col {
    fn new(name: &str, kind: Kind, key: bool) -> Col {
        Col { name: name.into(), kind, key, not_null: key, added_at: None, dropped: None, seen: false }
    }
}

type Key = Vec<i64>;

#[derive(Debug)]
struct Table {
    name: &'static str,
    cols: Vec<Col>,
    /// Keys of the rows PostgreSQL has.
    live: Vec<Key>,
    live_set: HashSet<Key>,
    /// Keys that existed once (reused now and then).
    dead: Vec<Key>,
    next_id: i64,
    added: usize,
}

impl Table {
    fn new(name: &'static str, cols: Vec<Col>, first_id: i64) -> Table {
        Table {
            name,
            cols,
            live: Vec::new(),
            live_set: HashSet::new(),
            dead: Vec::new(),
            next_id: first_id,
            added: 0,
        }
    }

    fn create_sql(&self) -> String {
        let cols: Vec<String> =
            self.cols.iter().map(|c| format!("\"{}\" {}", c.name, c.kind.sql())).collect();
        let keys: Vec<&str> = self.keys().map(|c| c.name.as_str()).collect();
        let mut sql =
            format!("CREATE TABLE {} ({}, PRIMARY KEY ({}));", self.name, cols.join(", "), keys.join(", "));
        for c in self.cols.iter().filter(|c| c.kind == Kind::Big) {
            sql += &format!("ALTER TABLE {} ALTER COLUMN \"{}\" SET STORAGE EXTERNAL;", self.name, c.name);
        }
        sql
    }

    fn keys(&self) -> impl Iterator<Item = &Col> {
        self.cols.iter().filter(|c| c.key)
    }

    fn current(&self) -> impl Iterator<Item = &Col> {
        self.cols.iter().filter(|c| c.dropped.is_none())
    }

    fn key_where(&self, key: &Key) -> String {
        self.keys().zip(key).map(|(c, v)| format!("\"{}\" = {v}", c.name)).collect::<Vec<_>>().join(" AND ")
    }

    fn add_live(&mut self, key: Key) {
        self.dead.retain(|k| *k != key);
        self.live_set.insert(key.clone());
        self.live.push(key);
    }

    fn remove_live(&mut self, key: &Key) {
        if self.live_set.remove(key) {
            self.live.retain(|k| k != key);
            self.dead.push(key.clone());
        }
    }

    fn truncated(&mut self) {
        for k in std::mem::take(&mut self.live) {
            self.live_set.remove(&k);
            self.dead.push(k);
        }
    }

    /// A key no live row has: a fresh one, or now and then one that existed before.
    fn new_key(&mut self, rng: &mut Rng) -> Key {
        if !self.dead.is_empty() && rng.chance(0.15) {
            return self.dead[rng.below(self.dead.len())].clone();
        }
        if self.keys().count() == 2 {
            loop {
                let key = vec![rng.range(1, 60), rng.range(1, 32000)];
                if !self.live_set.contains(&key) {
                    return key;
                }
            }
        }
        self.next_id += 1;
        vec![self.next_id]
    }

    /// A value for a non-key column: NULL now and then (when allowed).
    fn value(&self, c: &Col, rng: &mut Rng) -> String {
        if !c.not_null && rng.chance(if c.kind == Kind::Big { 0.1 } else { 0.15 }) {
            "NULL".into()
        } else {
            c.kind.literal(rng)
        }
    }

    fn insert(&mut self, rng: &mut Rng) -> String {
        let rows = 1 + rng.below(3);
        self.insert_rows(rng, rows)
    }

    fn insert_rows(&mut self, rng: &mut Rng, rows: usize) -> String {
        self.mark_seen();
        let cols: Vec<usize> = (0..self.cols.len())
            .filter(|&i| {
                let c = &self.cols[i];
                c.dropped.is_none() && (c.key || rng.chance(0.85))
            })
            .collect();
        let mut values = Vec::new();
        for _ in 0..rows {
            let mut key = self.new_key(rng);
            while values.iter().any(|(k, _)| *k == key) {
                key = self.new_key(rng);
            }
            let mut k = key.iter();
            let row: Vec<String> = cols
                .iter()
                .map(|&i| {
                    let c = &self.cols[i];
                    if c.key { k.next().map(i64::to_string).unwrap_or_default() } else { self.value(c, rng) }
                })
                .collect();
            values.push((key, format!("({})", row.join(", "))));
        }
        let names: Vec<String> = cols.iter().map(|&i| format!("\"{}\"", self.cols[i].name)).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.name,
            names.join(", "),
            values.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(", ")
        );
        for (key, _) in values {
            self.add_live(key);
        }
        sql
    }

    /// `SET` assignments for 1–3 non-key columns; the out-of-line column only when `big`.
    fn assignments(&self, rng: &mut Rng, big: bool) -> Vec<String> {
        let candidates: Vec<&Col> =
            self.current().filter(|c| !c.key && (c.kind == Kind::Big) == big).collect();
        let mut out = Vec::new();
        if candidates.is_empty() {
            return out;
        }
        let mut candidates = candidates;
        for _ in 0..if big { 1 } else { 1 + rng.below(3) } {
            if candidates.is_empty() {
                break;
            }
            let c = candidates.swap_remove(rng.below(candidates.len()));
            out.push(format!("\"{}\" = {}", c.name, self.value(c, rng)));
        }
        if big && rng.chance(0.5) {
            out.extend(self.assignments(rng, false));
        }
        out
    }

    fn random_live(&self, rng: &mut Rng) -> Option<Key> {
        (!self.live.is_empty()).then(|| self.live[rng.below(self.live.len())].clone())
    }

    fn mark_seen(&mut self) {
        for c in self.cols.iter_mut().filter(|c| c.dropped.is_none()) {
            c.seen = true;
        }
    }

    /// One random statement (with its effect on the model); each changes at least one row.
    fn statement(&mut self, rng: &mut Rng) -> String {
        self.mark_seen();
        let Some(key) = self.random_live(rng) else { return self.insert(rng) };
        match rng.below(100) {
            0..30 => self.insert(rng),
            30..58 => {
                let set = self.assignments(rng, false);
                format!("UPDATE {} SET {} WHERE {}", self.name, set.join(", "), self.key_where(&key))
            }
            58..66 => {
                let set = self.assignments(rng, true);
                if set.is_empty() {
                    return self.insert(rng);
                }
                format!("UPDATE {} SET {} WHERE {}", self.name, set.join(", "), self.key_where(&key))
            }
            66..78 => {
                self.remove_live(&key);
                format!("DELETE FROM {} WHERE {}", self.name, self.key_where(&key))
            }
            78..88 => {
                // A key change, sometimes with other columns changed too.
                let new = self.new_key(rng);
                let mut set: Vec<String> =
                    self.keys().zip(&new).map(|(c, v)| format!("\"{}\" = {v}", c.name)).collect();
                if rng.chance(0.4) {
                    set.extend(self.assignments(rng, false));
                }
                let sql =
                    format!("UPDATE {} SET {} WHERE {}", self.name, set.join(", "), self.key_where(&key));
                self.remove_live(&key);
                self.add_live(new);
                sql
            }
            88..96 => {
                // Several rows by a range of the first key column.
                let from = key[0];
                let to = from + rng.range(0, if self.keys().count() == 2 { 0 } else { 6 });
                let first = self.keys().next().map(|c| c.name.clone()).unwrap_or_default();
                let set = self.assignments(rng, false);
                format!(
                    "UPDATE {} SET {} WHERE \"{first}\" BETWEEN {from} AND {to}",
                    self.name,
                    set.join(", ")
                )
            }
            _ => {
                let from = key[0];
                let to = from + rng.range(0, 3);
                let first = self.keys().next().map(|c| c.name.clone()).unwrap_or_default();
                for k in self.live.clone() {
                    if (from..=to).contains(&k[0]) {
                        self.remove_live(&k);
                    }
                }
                format!("DELETE FROM {} WHERE \"{first}\" BETWEEN {from} AND {to}", self.name)
            }
        }
    }

    /// `SELECT row_to_json(...)` of the canonical values of `cols` plus the key columns.
    fn select_json(&self, cols: &[(&str, Kind, &str)]) -> String {
        let mut exprs: Vec<String> =
            self.keys().map(|c| format!("{} AS \"{}\"", c.kind.canonical(&c.name), c.name)).collect();
        exprs.extend(
            cols.iter().map(|(name, kind, alias)| format!("{} AS \"{alias}\"", kind.canonical(name))),
        );
        format!("SELECT row_to_json(x)::text FROM (SELECT {} FROM {}) x", exprs.join(", "), self.name)
    }

    fn key_of(&self, row: &Map<String, Value>) -> String {
        self.keys()
            .map(|c| row.get(&c.name).map_or_else(|| "?".into(), Value::to_string))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn tables() -> Vec<Table> {
    use Kind::*;
    vec![
        Table::new(
            "accounts",
            vec![
                Col::new("id", Int, true),
                Col::new("name", Text, false),
                Col::new("balance", Num(12, 2), false),
                Col::new("amount", NumAny, false),
                Col::new("opened", TsTz, false),
                Col::new("active", Bool, false),
                Col::new("notes", Big, false),
            ],
            0,
        ),
        Table::new(
            "lines",
            vec![
                Col::new("order_id", Int, true),
                Col::new("line_no", SmallInt, true),
                Col::new("sku", Text, false),
                Col::new("qty", Int, false),
                Col::new("price", Num(10, 3), false),
                Col::new("shipped", TsTz, false),
                Col::new("local_at", Ts, false),
            ],
            0,
        ),
        Table::new(
            "docs",
            vec![
                Col::new("id", BigInt, true),
                Col::new("title", Text, false),
                Col::new("body", Big, false),
                Col::new("rev", BigInt, false),
                Col::new("edited", TsTz, false),
            ],
            1_000_000_000_000,
        ),
    ]
}

/// Runs SQL (simple protocol) and returns the first column of every row.
async fn query_texts(client: &Client, sql: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for m in client.simple_query(sql).await.with_context(|| format!("SQL failed: {}", clip(sql, 300)))? {
        if let SimpleQueryMessage::Row(r) = m {
            out.push(r.get(0).unwrap_or_default().to_owned());
        }
    }
    Ok(out)
}

fn parse_lsn(s: &str) -> Result<u64> {
    let (hi, lo) = s.split_once('/').with_context(|| format!("not an LSN: {s}"))?;
    Ok((u64::from_str_radix(hi, 16)? << 32) | u64::from_str_radix(lo, 16)?)
}

async fn insert_lsn(client: &Client) -> Result<u64> {
    let lsn = query_texts(client, "SELECT pg_current_wal_insert_lsn()::text").await?;
    parse_lsn(lsn.first().context("no LSN")?)
}

/// The byte index at or below `i` that starts a character.
fn char_start(s: &str, i: usize) -> usize {
    (0..=i.min(s.len())).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n { s.to_owned() } else { format!("{}…", &s[..char_start(s, n)]) }
}

/// Scheduled events of the workload.
#[derive(Debug, Clone)]
enum Event {
    AddColumn { table: usize, default: bool },
    DropColumn { table: usize },
    Truncate { tables: Vec<usize> },
}

#[derive(Debug)]
struct Workload {
    rng: Rng,
    tables: Vec<Table>,
    events: Vec<(usize, Event)>,
    transactions: usize,
    /// Every statement run, for reproducing a failure by hand (kept with the failed run's files).
    log: Option<std::io::BufWriter<std::fs::File>>,
}

impl Workload {
    fn new(seed: u64, transactions: usize) -> Workload {
        let mut rng = Rng(seed);
        let mut events = Vec::new();
        let at = |rng: &mut Rng, lo: f64, hi: f64| {
            (transactions as f64 * lo) as usize + rng.below(((hi - lo) * transactions as f64) as usize)
        };
        for table in 0..3 {
            events.push((at(&mut rng, 0.05, 0.85), Event::AddColumn { table, default: false }));
            events.push((at(&mut rng, 0.05, 0.85), Event::AddColumn { table, default: true }));
            events.push((at(&mut rng, 0.05, 0.85), Event::DropColumn { table }));
        }
        events.push((at(&mut rng, 0.1, 0.8), Event::Truncate { tables: vec![rng.below(3)] }));
        let first = rng.below(3);
        events.push((at(&mut rng, 0.1, 0.8), Event::Truncate { tables: vec![first, (first + 1) % 3] }));
        events.push((at(&mut rng, 0.1, 0.8), Event::Truncate { tables: vec![rng.below(3)] }));
        events.sort_by_key(|(i, _)| *i);
        Workload { rng, tables: tables(), events, transactions, log: None }
    }

    fn record(&mut self, sql: &str) {
        use std::io::Write as _;
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{sql}");
        }
    }

    fn random_table(&mut self) -> usize {
        match self.rng.below(10) {
            0..4 => 0,
            4..8 => 1,
            _ => 2,
        }
    }

    /// 1–5 random statements over random tables.
    fn statements(&mut self) -> Vec<String> {
        let n = 1 + self.rng.below(5);
        (0..n)
            .map(|_| {
                let t = self.random_table();
                self.tables[t].statement(&mut self.rng)
            })
            .collect()
    }

    async fn run(mut self, client: Client, progress: Arc<AtomicUsize>) -> Result<Workload> {
        let mut events = std::mem::take(&mut self.events).into_iter().peekable();
        for i in 0..self.transactions {
            let mut due = Vec::new();
            while let Some((_, e)) = events.next_if(|(at, _)| *at <= i) {
                due.push(e);
            }
            if due.is_empty() {
                let sql = format!("BEGIN;\n{};\nCOMMIT;", self.statements().join(";\n"));
                self.record(&sql);
                client
                    .batch_execute(&sql)
                    .await
                    .with_context(|| format!("transaction {i}: {}", clip(&sql, 2000)))?;
            } else {
                for e in due {
                    self.event(&client, e).await.with_context(|| format!("transaction {i}"))?;
                }
            }
            progress.store(i + 1, Ordering::SeqCst);
            // Paced so that sluice commits many batches while the workload runs.
            if self.rng.chance(0.5) {
                tokio::time::sleep(Duration::from_millis(self.rng.below(15) as u64)).await;
            }
        }
        Ok(self)
    }

    /// A schema change or truncate, in a transaction of its own with random changes after it.
    async fn event(&mut self, client: &Client, event: Event) -> Result<()> {
        let boundary = insert_lsn(client).await?;
        client.batch_execute("BEGIN").await?;
        let mut sql = Vec::new();
        match event {
            Event::AddColumn { table, default } => {
                let t = &mut self.tables[table];
                t.added += 1;
                let kind =
                    [Kind::Int, Kind::Text, Kind::Num(8, 2), Kind::TsTz, Kind::Bool][self.rng.below(5)];
                let name = format!("added_{}", t.added);
                let mut ddl = format!("ALTER TABLE {} ADD COLUMN \"{name}\" {}", t.name, kind.sql());
                let not_null = default && self.rng.chance(0.3);
                if default {
                    ddl += &format!(" DEFAULT {}", kind.literal(&mut self.rng));
                }
                if not_null {
                    ddl += " NOT NULL";
                }
                sql.push(ddl);
                t.cols.push(Col {
                    name,
                    kind,
                    key: false,
                    not_null,
                    added_at: Some(boundary),
                    dropped: None,
                    seen: false,
                });
            }
            Event::DropColumn { table } => {
                let t = &mut self.tables[table];
                // Prefer a column added mid-stream; keep at least two other non-key columns.
                let droppable: Vec<usize> = (0..t.cols.len())
                    .filter(|&i| !t.cols[i].key && t.cols[i].dropped.is_none() && t.cols[i].kind != Kind::Big)
                    .collect();
                if droppable.len() > 2 {
                    let added: Vec<usize> =
                        droppable.iter().copied().filter(|&i| t.cols[i].added_at.is_some()).collect();
                    let i = if !added.is_empty() && self.rng.chance(0.7) {
                        added[self.rng.below(added.len())]
                    } else {
                        droppable[self.rng.below(droppable.len())]
                    };
                    let c = &t.cols[i];
                    let mut values = HashMap::new();
                    for row in query_texts(client, &t.select_json(&[(&c.name, c.kind, "__v")])).await? {
                        let row: Map<String, Value> = serde_json::from_str(&row)?;
                        values.insert(t.key_of(&row), row.get("__v").cloned().unwrap_or(Value::Null));
                    }
                    sql.push(format!("ALTER TABLE {} DROP COLUMN \"{}\"", t.name, c.name));
                    t.cols[i].dropped = Some(Dropped { at: boundary, values });
                }
            }
            Event::Truncate { tables } => {
                if self.rng.chance(0.5) {
                    sql.extend(self.statements());
                }
                let names: Vec<&str> = tables.iter().map(|&t| self.tables[t].name).collect();
                sql.push(format!("TRUNCATE {}", names.join(", ")));
                for t in tables {
                    self.tables[t].truncated();
                }
            }
        }
        if self.rng.chance(0.7) {
            sql.extend(self.statements());
        }
        let sql = format!("{};\nCOMMIT;", sql.join(";\n"));
        self.record(&format!("-- pg_current_wal_insert_lsn() = {boundary:X}\nBEGIN;\n{sql}"));
        if let Err(e) = client.batch_execute(&sql).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e).with_context(|| clip(&sql, 2000));
        }
        Ok(())
    }
}

/// `sluice run` on the direct path for one test.
#[derive(Debug)]
struct Sluice {
    dir: PathBuf,
    name: String,
    process: Option<SluiceProcess>,
}

impl Sluice {
    fn new(db: &TestDb, dir: &Path, name: &str, tables: &[&str], extra: &[(&str, String)]) -> Result<Sluice> {
        let include: Vec<String> = tables.iter().map(|t| format!("public.{t}")).collect();
        let mut config = json!({
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": "127.0.0.1",
            "database.port": db.port().to_string(),
            "database.user": "postgres",
            "database.dbname": db.name,
            "database.sslmode": "disable",
            "topic.prefix": name,
            "slot.name": name,
            "publication.name": name,
            "publication.autocreate.mode": "filtered",
            "table.include.list": include.join(","),
            // Debezium skips truncates unless told otherwise.
            "skipped.operations": "none",
            "status.update.interval.ms": "500",
            "sluice.delta.path": format!("{}/lake/${{table}}", dir.display()),
            "sluice.delta.flush.interval.ms": "300",
        });
        for (k, v) in extra {
            config[*k] = Value::String(v.clone());
        }
        std::fs::write(
            dir.join("connector.json"),
            serde_json::to_vec(&json!({"name": name, "config": config}))?,
        )?;
        Ok(Sluice { dir: dir.to_owned(), name: name.to_owned(), process: None })
    }

    fn args(&self) -> Vec<String> {
        let d = &self.dir;
        RunArgs::new(&d.join("data")).connector(&d.join("connector.json")).build()
    }

    fn start(&mut self) -> Result<()> {
        self.process = Some(SluiceProcess::start(&self.args(), &self.dir.join("sluice.log"))?);
        Ok(())
    }

    fn process(&mut self) -> Result<&mut SluiceProcess> {
        self.process.as_mut().context("sluice was not started")
    }

    fn table(&self, name: &str) -> PathBuf {
        self.dir.join("lake").join(name)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("sluice.log")).unwrap_or_default();
        let start = log.len().saturating_sub(6000);
        log[char_start(&log, start)..].to_owned()
    }

    fn snapshot_completed(&self) -> bool {
        std::fs::read_to_string(self.dir.join("data/positions").join(format!("{}.json", self.name)))
            .is_ok_and(|t| t.contains("\"snapshot_completed\":true"))
    }

    /// Runs `marker` (changes that leave no trace, touching each of `tables`) in a transaction and
    /// waits until every table's txn version is at or after its commit: then each table holds
    /// every earlier transaction.
    async fn catch_up(&mut self, db: &TestDb, marker: &str, tables: &[&str]) -> Result<()> {
        let before = insert_lsn(&db.client).await?;
        db.exec(&format!("BEGIN; {marker} COMMIT;")).await?;
        let paths: Vec<PathBuf> = tables.iter().map(|t| self.table(t)).collect();
        let app = self.name.clone();
        self.wait_for("the tables to catch up", Duration::from_secs(150), |_| {
            paths.iter().all(|p| txn_version(p, &app).is_some_and(|v| v > before as i64))
        })
        .await
    }

    /// Waits until `ready` holds, failing early when sluice exits.
    async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&Self) -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if ready(self) {
                return Ok(());
            }
            if !self.process()?.is_running() {
                bail!("sluice exited while waiting for {what}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("timed out after {timeout:?} waiting for {what}:\n{}", self.log_tail())
    }
}

/// The highest `txn` version of `app_id` in the JSON commits of the table at `path` (the test never
/// runs long enough for a log cleanup, so every commit is still there).
fn txn_version(path: &Path, app_id: &str) -> Option<i64> {
    let entries = std::fs::read_dir(path.join("_delta_log")).ok()?;
    let mut best = None;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        for line in std::fs::read_to_string(&p).unwrap_or_default().lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            if v["txn"]["appId"] == app_id {
                best = best.max(v["txn"]["version"].as_i64());
            }
        }
    }
    best
}

/// What `read_delta_rows.py` saw in one table.
#[derive(Debug)]
struct DeltaRead {
    schema: Map<String, Value>,
    deltalake: Vec<Map<String, Value>>,
    duckdb: Vec<Map<String, Value>>,
}

fn read_delta(paths: &[PathBuf]) -> Result<Vec<DeltaRead>> {
    let out = Command::new("python3").arg(reader_script()).args(paths).output()?;
    if !out.status.success() {
        bail!("read_delta_rows.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let seen: Map<String, Value> = serde_json::from_slice(&out.stdout)?;
    let rows = |v: &Value| -> Vec<Map<String, Value>> {
        v.as_array().map(|a| a.iter().filter_map(|r| r.as_object().cloned()).collect()).unwrap_or_default()
    };
    paths
        .iter()
        .map(|p| {
            let t = seen.get(&p.display().to_string()).context("a table missing from the reader's output")?;
            ensure!(
                !t["duckdb"].is_null(),
                "DuckDB's delta extension is not installed: run scripts/install-delta-readers"
            );
            Ok(DeltaRead {
                schema: t["schema"].as_object().cloned().unwrap_or_default(),
                deltalake: rows(&t["deltalake"]),
                duckdb: rows(&t["duckdb"]),
            })
        })
        .collect()
}

async fn source_rows(client: &Client, t: &Table) -> Result<HashMap<String, Map<String, Value>>> {
    let cols: Vec<(&str, Kind, &str)> =
        t.current().filter(|c| !c.key).map(|c| (c.name.as_str(), c.kind, c.name.as_str())).collect();
    let mut out = HashMap::new();
    for row in query_texts(client, &t.select_json(&cols)).await? {
        let row: Map<String, Value> = serde_json::from_str(&row)?;
        out.insert(t.key_of(&row), row);
    }
    Ok(out)
}

/// Compares one reader's rows of a table with PostgreSQL's (see the module docs); pushes what differs.
fn compare(
    t: &Table,
    reader: &str,
    rows: &[Map<String, Value>],
    source: &HashMap<String, Map<String, Value>>,
    problems: &mut Problems,
) {
    let mut seen = HashSet::new();
    for row in rows {
        let key = t.key_of(row);
        let at = |what: String| format!("{}[{key}] ({reader}): {what}", t.name);
        if !seen.insert(key.clone()) {
            problems.add(format!("{}: key twice", t.name), at("key twice in the Delta table".into()));
            continue;
        }
        let op = row.get("_op").and_then(Value::as_str).unwrap_or("");
        if !matches!(op, "c" | "u" | "r") {
            problems.add(format!("{}: _op {op:?}", t.name), at(format!("_op is {op:?}")));
        }
        let lsn = row.get("_commit_lsn").and_then(Value::as_u64).unwrap_or(0);
        let Some(pg) = source.get(&key) else {
            problems.add(
                format!("{}: row not in PostgreSQL", t.name),
                at(format!("not in PostgreSQL (_op {op}, _commit_lsn {lsn:X})")),
            );
            continue;
        };
        for c in t.cols.iter().filter(|c| !c.key && c.seen) {
            let before_add = c.added_at.is_some_and(|a| lsn < a);
            let expected = match &c.dropped {
                _ if before_add => Value::Null,
                None => pg.get(&c.name).cloned().unwrap_or(Value::Null),
                Some(d) if lsn > d.at => Value::Null,
                Some(d) => d.values.get(&key).cloned().unwrap_or(Value::Null),
            };
            let got = row.get(&c.name).cloned().unwrap_or(Value::Null);
            if got != expected {
                let note = match (&c.dropped, c.added_at) {
                    (Some(d), _) => format!(", dropped at {:X}", d.at),
                    (None, Some(a)) => format!(", added at {a:X}"),
                    _ => String::new(),
                };
                let class = |v: &Value| if v.is_null() { "null" } else { "a value" };
                problems.add(
                    format!("{}.{}: {} where {} is expected", t.name, c.name, class(&got), class(&expected)),
                    at(format!(
                        "column {} is {} but should be {} (_op {op}, _commit_lsn {lsn:X}{note})",
                        c.name,
                        clip(&got.to_string(), 80),
                        clip(&expected.to_string(), 80)
                    )),
                );
            }
        }
    }
    let mut missing: Vec<&String> = source.keys().filter(|k| !seen.contains(*k)).collect();
    missing.sort();
    for key in missing {
        problems.add(
            format!("{}: row missing", t.name),
            format!("{}[{key}] ({reader}): in PostgreSQL but not in the Delta table", t.name),
        );
    }
}

/// Differences found, grouped by kind (table, column, what was wrong).
#[derive(Debug, Default)]
struct Problems {
    groups: Vec<(String, usize)>,
    details: Vec<String>,
}

impl Problems {
    fn add(&mut self, group: String, detail: String) {
        match self.groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, n)) => *n += 1,
            None => self.groups.push((group, 1)),
        }
        self.details.push(detail);
    }

    fn is_empty(&self) -> bool {
        self.details.is_empty()
    }

    fn report(&self, shown: usize) -> String {
        let groups: Vec<String> = self.groups.iter().map(|(g, n)| format!("  {n:5} × {g}")).collect();
        format!(
            "{} differences between Delta and PostgreSQL (both readers counted), by kind:\n{}\nfirst {}:\n{}",
            self.details.len(),
            groups.join("\n"),
            shown.min(self.details.len()),
            self.details.iter().take(shown).cloned().collect::<Vec<_>>().join("\n")
        )
    }
}

async fn check_tables(sluice: &Sluice, client: &Client, tables: &[Table]) -> Result<Problems> {
    let paths: Vec<PathBuf> = tables.iter().map(|t| sluice.table(t.name)).collect();
    let reads = read_delta(&paths)?;
    let mut problems = Problems::default();
    for (t, read) in tables.iter().zip(&reads) {
        let mut want: Vec<String> = t.cols.iter().filter(|c| c.seen).map(|c| c.name.clone()).collect();
        want.extend(METADATA.iter().map(|m| (*m).to_owned()));
        want.sort();
        let mut have: Vec<String> = read.schema.keys().cloned().collect();
        have.sort();
        if have != want {
            problems.add(
                format!("{}: Delta columns", t.name),
                format!("{}: Delta columns {have:?}, expected {want:?}", t.name),
            );
        }
        let key_sorted = |rows: &[Map<String, Value>]| {
            let mut rows = rows.to_vec();
            rows.sort_by_cached_key(|r| t.key_of(r));
            rows
        };
        if key_sorted(&read.deltalake) != key_sorted(&read.duckdb) {
            problems.add(
                format!("{}: the readers disagree", t.name),
                format!("{}: deltalake and DuckDB read different rows", t.name),
            );
        }
        let source = source_rows(client, t).await?;
        eprintln!(
            "table {}: {} rows in PostgreSQL, {} in Delta (version {:?})",
            t.name,
            source.len(),
            read.deltalake.len(),
            table_version(&sluice.table(t.name))
        );
        compare(t, "deltalake", &read.deltalake, &source, &mut problems);
        compare(t, "duckdb", &read.duckdb, &source, &mut problems);
    }
    Ok(problems)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_tables_equal_postgres_under_a_random_workload_and_kill_9() -> Result<()> {
    init_tracing();
    let seed = seed()?;
    eprintln!("random Delta test: SLUICE_SEED={seed}");
    // Built first (it may need a rebuild) so the timings below are the test's own.
    sluice_binary()?;
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("sluice-delta-random-").tempdir()?;
    let result = random_run(seed, dir.path()).await;
    eprintln!("random Delta test: SLUICE_SEED={seed} took {:.1?}", started.elapsed());
    if let Err(e) = result {
        let kept = dir.keep();
        bail!("SLUICE_SEED={seed} failed (lake, log and config kept in {}): {e:#}", kept.display());
    }
    Ok(())
}

async fn random_run(seed: u64, dir: &Path) -> Result<()> {
    let transactions =
        std::env::var("SLUICE_RANDOM_TRANSACTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let db = TestDb::create("delta_random").await?;
    let mut workload = Workload::new(seed, transactions);
    workload.log = Some(std::io::BufWriter::new(std::fs::File::create(dir.join("workload.sql"))?));
    let mut rng = Rng(workload.rng.next());
    let mut setup = Vec::new();
    for t in &mut workload.tables {
        setup.push(t.create_sql());
        for _ in 0..4 {
            setup.push(format!("{};", t.insert_rows(&mut workload.rng, 30)));
        }
    }
    for sql in setup {
        workload.record(&sql);
        db.exec(&sql).await?;
    }
    let names: Vec<&str> = workload.tables.iter().map(|t| t.name).collect();
    let max_records = [200, 1000, 100_000][rng.below(3)];
    eprintln!("{transactions} transactions, sluice.delta.batch.max.records = {max_records}");
    let mut sluice = Sluice::new(
        &db,
        dir,
        "random",
        &names,
        &[("sluice.delta.batch.max.records", max_records.to_string())],
    )?;
    let snapshot = Instant::now();
    sluice.start()?;
    sluice.wait_for("the snapshot", Duration::from_secs(120), Sluice::snapshot_completed).await?;
    let truncates: bool = db
        .client
        .query_one("SELECT pubtruncate FROM pg_publication WHERE pubname = 'random'", &[])
        .await?
        .get(0);
    ensure!(truncates, "the publication does not publish truncates");
    eprintln!("snapshot done after {:.1?}", snapshot.elapsed());

    // The workload, with kill -9 and restarts at random points.
    let progress = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(workload.run(db.connect().await?, progress.clone()));
    let kills = 2 + rng.below(3);
    let mut points: Vec<usize> =
        (0..kills).map(|_| transactions / 10 + rng.below(transactions * 8 / 10)).collect();
    points.sort_unstable();
    let load_started = Instant::now();
    for point in points {
        while progress.load(Ordering::SeqCst) < point && !load.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !sluice.process()?.is_running() {
            bail!("sluice exited on its own:\n{}", sluice.log_tail());
        }
        eprintln!(
            "kill -9 at transaction {} ({:.1?} into the workload)",
            progress.load(Ordering::SeqCst),
            load_started.elapsed()
        );
        sluice.process()?.kill9()?;
        tokio::time::sleep(Duration::from_millis(rng.below(800) as u64)).await;
        sluice.start()?;
    }
    let mut workload = load.await??;
    if let Some(mut log) = workload.log.take() {
        std::io::Write::flush(&mut log)?;
    }
    eprintln!("workload done in {:.1?}", load_started.elapsed());

    let catch_up = Instant::now();
    sluice
        .catch_up(
            &db,
            "INSERT INTO accounts (id) VALUES (-1); DELETE FROM accounts WHERE id = -1;
             INSERT INTO lines (order_id, line_no) VALUES (-1, -1); DELETE FROM lines WHERE order_id = -1;
             INSERT INTO docs (id) VALUES (-1); DELETE FROM docs WHERE id = -1;",
            &names,
        )
        .await?;
    eprintln!("caught up {:.1?} after the workload", catch_up.elapsed());
    sluice.process()?.terminate(Duration::from_secs(30))?;

    let problems = check_tables(&sluice, &db.client, &workload.tables).await?;
    if !problems.is_empty() {
        std::fs::write(dir.join("differences.txt"), problems.details.join("\n"))?;
        bail!(
            "{}\nschema changes: {}\n(all differences in differences.txt, every statement in workload.sql)",
            problems.report(30),
            describe_schema_changes(&workload.tables)
        );
    }
    Ok(())
}

fn describe_schema_changes(tables: &[Table]) -> String {
    let mut out = Vec::new();
    for t in tables {
        for c in &t.cols {
            if let Some(a) = c.added_at {
                out.push(format!("{}.{} {} added at {a:X}", t.name, c.name, c.kind.sql()));
            }
            if let Some(d) = &c.dropped {
                out.push(format!("{}.{} dropped at {:X}", t.name, c.name, d.at));
            }
        }
    }
    out.join("; ")
}

/// Two cases the random test found (see the module docs), each across batches: the snapshot writes
/// the rows, a later batch changes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_batches_a_moved_row_keeps_its_toast_value_and_a_dropped_column_reads_null() -> Result<()> {
    init_tracing();
    let db = TestDb::create("delta_across_batches").await?;
    let body = Rng(7).text(12_000, NOISE);
    db.exec(&format!(
        "CREATE TABLE moved (id int PRIMARY KEY, body text);
         ALTER TABLE moved ALTER COLUMN body SET STORAGE EXTERNAL;
         INSERT INTO moved VALUES (1, '{body}');
         CREATE TABLE shrunk (id int PRIMARY KEY, a int, b int);
         INSERT INTO shrunk VALUES (1, 10, 20), (2, 30, 40);"
    ))
    .await?;
    let dir = tempfile::tempdir()?;
    let mut sluice = Sluice::new(&db, dir.path(), "across", &["moved", "shrunk"], &[])?;
    sluice.start()?;
    sluice.wait_for("the snapshot", Duration::from_secs(120), Sluice::snapshot_completed).await?;
    // The key changes with `body` untouched (pgoutput: unchanged TOAST); `b` goes, then row 1 changes.
    db.exec("UPDATE moved SET id = 2 WHERE id = 1").await?;
    db.exec("ALTER TABLE shrunk DROP COLUMN b; UPDATE shrunk SET a = 11 WHERE id = 1;").await?;
    sluice
        .catch_up(
            &db,
            "INSERT INTO moved VALUES (-1); DELETE FROM moved WHERE id = -1;
             INSERT INTO shrunk VALUES (-1); DELETE FROM shrunk WHERE id = -1;",
            &["moved", "shrunk"],
        )
        .await?;
    sluice.process()?.terminate(Duration::from_secs(30))?;
    let reads = read_delta(&[sluice.table("moved"), sluice.table("shrunk")])?;
    let digest =
        query_texts(&db.client, "SELECT 'md5:' || md5(body) || ':' || length(body) FROM moved").await?;
    let mut failures = Vec::new();
    for (reader, rows) in [("deltalake", &reads[0].deltalake), ("duckdb", &reads[0].duckdb)] {
        let got: Vec<(Value, Value)> = rows.iter().map(|r| (r["id"].clone(), r["body"].clone())).collect();
        if got != [(json!(2), json!(digest[0]))] {
            failures.push(format!("{reader}: the moved row lost its unchanged TOAST value: {got:?}"));
        }
    }
    for (reader, rows) in [("deltalake", &reads[1].deltalake), ("duckdb", &reads[1].duckdb)] {
        let mut got: Vec<(Value, Value, Value)> =
            rows.iter().map(|r| (r["id"].clone(), r["a"].clone(), r["b"].clone())).collect();
        got.sort_by_key(|(id, ..)| id.as_i64());
        if got != [(json!(1), json!(11), Value::Null), (json!(2), json!(30), json!(40))] {
            failures.push(format!(
                "{reader}: the dropped column b must read null in row 1 (written after the drop) and 40 in \
                 row 2: (id, a, b) = {got:?}"
            ));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// A `sluice run` whose exit status and stderr the test reads; killed if still running when dropped.
#[derive(Debug)]
struct Child(std::process::Child);

impl Child {
    fn spawn(sluice: &Sluice, stderr: &Path) -> Result<Child> {
        let child = Command::new(sluice_binary()?)
            .args(sluice.args())
            .env("SLUICE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr)?)
            .spawn()
            .context("starting sluice")?;
        Ok(Child(child))
    }

    fn running(&mut self) -> Result<bool> {
        Ok(self.0.try_wait()?.is_none())
    }

    async fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("sluice did not exit within {timeout:?}")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widened_column_type_stops_the_connector_and_leaves_the_table_readable() -> Result<()> {
    init_tracing();
    let db = TestDb::create("delta_type_change").await?;
    db.exec(
        "CREATE TABLE counters (id int PRIMARY KEY, n integer, label text);
         INSERT INTO counters SELECT g, g * 1000, 'l' || g FROM generate_series(1, 20) g;",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let sluice = Sluice::new(&db, dir.path(), "widen", &["counters"], &[])?;
    let table = sluice.table("counters");
    let log = dir.path().join("stderr.log");
    let mut child = Child::spawn(&sluice, &log)?;
    let start = Instant::now();
    while !sluice.snapshot_completed() {
        ensure!(child.running()?, "sluice exited early:\n{}", std::fs::read_to_string(&log)?);
        ensure!(start.elapsed() < Duration::from_secs(120), "the snapshot did not complete");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Streamed changes reach the table.
    db.exec("UPDATE counters SET n = -n WHERE id % 3 = 0; DELETE FROM counters WHERE id = 7;").await?;
    let marker = insert_lsn(&db.client).await?;
    db.exec("INSERT INTO counters VALUES (21, 2147483647, 'max')").await?;
    let start = Instant::now();
    while txn_version(&table, "widen").is_none_or(|v| v <= marker as i64) {
        ensure!(child.running()?, "sluice exited early:\n{}", std::fs::read_to_string(&log)?);
        ensure!(start.elapsed() < Duration::from_secs(120), "the changes did not reach the table");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before: Vec<(i32, i32, String)> = db
        .client
        .query("SELECT id, n, label FROM counters ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let version_before = table_version(&table);

    // integer → bigint, then a row that needs the wider type.
    db.exec("ALTER TABLE counters ALTER COLUMN n TYPE bigint; INSERT INTO counters VALUES (22, 5000000000, 'wide');")
        .await?;
    for run in ["first", "restarted"] {
        let status = child.wait_exit(Duration::from_secs(120)).await?;
        let stderr = std::fs::read_to_string(&log)?;
        ensure!(status.code() == Some(1), "{run} run: exit status {status}, expected 1:\n{stderr}");
        let error = stderr.lines().skip_while(|l| !l.starts_with("Error:")).collect::<Vec<_>>().join("\n");
        for needle in [
            "connector 'widen'",
            "widen.public.counters",
            "column 'n'",
            "Int32",
            "Int64",
            "Rewrite the table",
        ] {
            ensure!(error.contains(needle), "{run} run: the error does not name {needle:?}:\n{stderr}");
        }
        ensure!(
            error.contains(&table.display().to_string()),
            "{run} run: the error does not name the location:\n{stderr}"
        );
        // Nothing of the new type reached the table; both readers still read the rows before it.
        ensure!(
            table_version(&table) == version_before,
            "{run} run: the table changed after the type change"
        );
        let read = read_delta(std::slice::from_ref(&table))?;
        let read = read.first().context("no read")?;
        ensure!(read.schema["n"] == "integer", "column n is now {}", read.schema["n"]);
        for (reader, rows) in [("deltalake", &read.deltalake), ("duckdb", &read.duckdb)] {
            let mut got: Vec<(i32, i32, String)> = rows
                .iter()
                .map(|r| {
                    (
                        r["id"].as_i64().unwrap_or(-1) as i32,
                        r["n"].as_i64().unwrap_or(-1) as i32,
                        r["label"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            got.sort();
            ensure!(got == before, "{reader} reads {got:?}, expected {before:?}");
        }
        if run == "first" {
            child = Child::spawn(&sluice, &log)?;
        }
    }
    Ok(())
}

/// The newest version in the table's log.
fn table_version(path: &Path) -> Option<u64> {
    std::fs::read_dir(path.join("_delta_log"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
        .max()
}
