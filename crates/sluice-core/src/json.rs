//! A plain JSON rendering of source events, one object per event.
//!
//! This is sluice's own inspection format (`sluice stream` prints it as JSON lines), not Debezium's
//! envelope: it shows exactly what the reader decoded, with lossless value forms (decimals and
//! 64-bit integers beyond 2^53 as strings, bytes as hex, timestamps as ISO-8601 plus their raw
//! microseconds), and an unchanged TOAST value as `{"unchanged_toast": true}`.

use serde_json::{Map, Value as Json, json};

use crate::event::{Change, ChangeEvent, SourceEvent, SourcePosition};
use crate::table::TableSchema;
use crate::time::{MICROS_PER_DAY, civil_from_days};
use crate::value::{Date, Numeric, Row, Timestamp, Value};

/// Renders one source event.
pub fn event_to_json(event: &SourceEvent) -> Json {
    match event {
        SourceEvent::Begin(b) => json!({
            "type": "begin", "xid": b.xid.0, "lsn": b.lsn.to_string(), "commit_lsn": b.commit_lsn.to_string(),
            "commit_ts": timestamp(&b.commit_ts),
        }),
        SourceEvent::Commit(c) => json!({
            "type": "commit", "xid": c.xid.0, "commit_lsn": c.commit_lsn.to_string(),
            "end_lsn": c.end_lsn.to_string(), "commit_ts": timestamp(&c.commit_ts), "events": c.event_count,
        }),
        SourceEvent::SnapshotCompleted { consistent_point } => {
            json!({"type": "snapshot_completed", "consistent_point": consistent_point.to_string()})
        }
        SourceEvent::Progress { lsn } => json!({"type": "progress", "lsn": lsn.to_string()}),
        SourceEvent::Change(e) => change_to_json(e),
    }
}

fn change_to_json(e: &ChangeEvent) -> Json {
    let mut obj = Map::new();
    obj.insert("type".into(), "change".into());
    obj.insert("op".into(), e.op().code().into());
    match &e.change {
        Change::Row { table, before, after, .. } => {
            table_fields(&mut obj, table);
            obj.insert("before".into(), before.as_ref().map_or(Json::Null, |r| row(table, r)));
            obj.insert("after".into(), after.as_ref().map_or(Json::Null, |r| row(table, r)));
        }
        Change::Truncate { table, cascade, restart_identity } => {
            table_fields(&mut obj, table);
            obj.insert("cascade".into(), (*cascade).into());
            obj.insert("restart_identity".into(), (*restart_identity).into());
        }
        Change::Message { prefix, content, transactional } => {
            obj.insert("prefix".into(), prefix.to_string().into());
            obj.insert("content_hex".into(), hex(content).into());
            obj.insert("content".into(), String::from_utf8_lossy(content).into_owned().into());
            obj.insert("transactional".into(), (*transactional).into());
        }
    }
    obj.insert("source".into(), position(&e.source));
    Json::Object(obj)
}

fn table_fields(obj: &mut Map<String, Json>, table: &TableSchema) {
    obj.insert("schema".into(), table.id.schema.to_string().into());
    obj.insert("table".into(), table.id.name.to_string().into());
    obj.insert("schema_version".into(), table.version.into());
    let key: Vec<Json> = table.key.iter().map(|&i| table.columns[i].name.to_string().into()).collect();
    obj.insert("key".into(), key.into());
}

fn position(p: &SourcePosition) -> Json {
    let mut obj = Map::new();
    obj.insert("lsn".into(), p.lsn.to_string().into());
    obj.insert("commit_lsn".into(), p.commit_lsn.map_or(Json::Null, |l| l.to_string().into()));
    obj.insert("seq".into(), p.seq.into());
    obj.insert("xid".into(), p.xid.map_or(Json::Null, |x| x.0.into()));
    obj.insert("commit_ts".into(), p.commit_ts.as_ref().map_or(Json::Null, timestamp));
    if let Some(o) = &p.origin {
        obj.insert("origin".into(), json!({"name": o.name.to_string(), "lsn": o.lsn.to_string()}));
    }
    if let Some(s) = &p.snapshot {
        obj.insert("snapshot".into(), s.marker().into());
    }
    Json::Object(obj)
}

fn row(table: &TableSchema, r: &Row) -> Json {
    let mut obj = Map::new();
    for (col, v) in table.columns.iter().zip(&r.0) {
        obj.insert(col.name.to_string(), value(v));
    }
    Json::Object(obj)
}

/// Renders one value losslessly.
pub fn value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::UnchangedToast => json!({"unchanged_toast": true}),
        Value::Bool(b) => (*b).into(),
        Value::Int16(i) => (*i).into(),
        Value::Int32(i) => (*i).into(),
        Value::Int64(i) if i.unsigned_abs() < (1 << 53) => (*i).into(),
        Value::Int64(i) => i.to_string().into(),
        Value::Float32(f) => float(f64::from(*f)),
        Value::Float64(f) => float(*f),
        Value::Numeric(Numeric::Finite(d)) => d.as_str().into(),
        Value::Numeric(Numeric::NaN) => "NaN".into(),
        Value::Numeric(Numeric::PositiveInfinity) => "Infinity".into(),
        Value::Numeric(Numeric::NegativeInfinity) => "-Infinity".into(),
        Value::Text(s) => s.clone().into(),
        Value::Bytes(b) => json!({"hex": hex(b)}),
        Value::Bits { len, data } => {
            let bits: String = (0..*len as usize)
                .map(|i| if data.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0) { '1' } else { '0' })
                .collect();
            bits.into()
        }
        Value::Date(d) => date(d).into(),
        Value::Time(us) => time_of_day(*us).into(),
        Value::TimeTz { micros, offset_seconds } => {
            format!("{}{}", time_of_day(*micros), offset(*offset_seconds)).into()
        }
        Value::Timestamp(t) | Value::TimestampTz(t) => timestamp(t),
        Value::Interval { months, days, micros } => json!({"months": months, "days": days, "micros": micros}),
        Value::Uuid(u) => uuid(u).into(),
        Value::Point { x, y } => json!({"x": float(*x), "y": float(*y)}),
        Value::Hstore(pairs) => Json::Object(
            pairs.iter().map(|(k, v)| (k.clone(), v.clone().map_or(Json::Null, Json::from))).collect(),
        ),
        Value::Array(a) => json!({
            "dims": a.dims.iter().map(|d| json!({"len": d.len, "lower": d.lower_bound})).collect::<Vec<_>>(),
            "elements": a.elements.iter().map(value).collect::<Vec<_>>(),
        }),
    }
}

fn float(f: f64) -> Json {
    if f.is_finite() { json!(f) } else { f.to_string().into() }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn uuid(u: &[u8; 16]) -> String {
    let h = hex(u);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn date(d: &Date) -> String {
    match d {
        Date::Days(days) => {
            let (y, m, d) = civil_from_days(i64::from(*days));
            format!("{}-{m:02}-{d:02}", year(y))
        }
        Date::PositiveInfinity => "infinity".into(),
        Date::NegativeInfinity => "-infinity".into(),
    }
}

fn year(y: i64) -> String {
    if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y > 9999 {
        format!("+{y}")
    } else {
        format!("-{:04}", -y)
    }
}

fn time_of_day(us: i64) -> String {
    let (s, frac) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    format!("{:02}:{:02}:{:02}.{frac:06}", s / 3600, (s / 60) % 60, s % 60)
}

fn offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", s / 3600, (s / 60) % 60)
}

/// ISO-8601 with microseconds and `Z` (the value's zone is UTC, or wall clock for `timestamp`).
fn timestamp(t: &Timestamp) -> Json {
    match t {
        Timestamp::Micros(us) => {
            let days = us.div_euclid(MICROS_PER_DAY);
            let (y, m, d) = civil_from_days(days);
            format!("{}-{m:02}-{d:02}T{}Z", year(y), time_of_day(us.rem_euclid(MICROS_PER_DAY))).into()
        }
        Timestamp::PositiveInfinity => "infinity".into(),
        Timestamp::NegativeInfinity => "-infinity".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Decimal;

    #[test]
    fn values_render_losslessly() {
        assert_eq!(value(&Value::Int64(1 << 60)), json!("1152921504606846976"));
        assert_eq!(value(&Value::Numeric(Numeric::Finite(Decimal::parse("1.10").unwrap()))), json!("1.10"));
        assert_eq!(value(&Value::Float64(f64::NAN)), json!("NaN"));
        assert_eq!(
            value(&Value::Timestamp(Timestamp::Micros(1_478_267_490_123_456))),
            json!("2016-11-04T13:51:30.123456Z")
        );
        assert_eq!(value(&Value::Date(Date::Days(17109))), json!("2016-11-04"));
        assert_eq!(value(&Value::Bits { len: 3, data: vec![0b1010_0000] }), json!("101"));
        assert_eq!(value(&Value::UnchangedToast), json!({"unchanged_toast": true}));
        assert_eq!(value(&Value::Uuid([0x12; 16])), json!("12121212-1212-1212-1212-121212121212"));
    }
}
