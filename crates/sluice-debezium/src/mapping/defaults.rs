//! Column defaults → Connect default values, as `PostgresDefaultValueConverter` computes them from
//! the `pg_get_expr` text: a pure parse, no expression evaluation.
//!
//! * Only columns whose type name (`pg_type.typname`) has a mapper get a default: `bit`, `varbit`,
//!   `bool`, `bpchar`, `varchar`, `text`, `numeric`, `float4`, `float8`, `int2`, `int4`, `int8`,
//!   `json`, `jsonb`, `xml`, `uuid`, `date`, `time`, `timestamp`, `timestamptz`, `interval`, and
//!   enums (`'label'::type`). Domains, arrays, `money`, `bytea`, `timetz`, `citext`, network types
//!   and the rest get none.
//! * A default that looks like a function call (`nextval(...)`, `now()`, `gen_random_uuid()`) or is
//!   one of `current_timestamp`, `current_time`, `current_date`, `localtime`, `localtimestamp` becomes
//!   the type's placeholder: `0`/`0.0`, `false`, `""`, `{}` for json, the nil UUID, 1970-01-01,
//!   00:00, a zero interval.
//! * Otherwise the first single-quoted literal (`''` unescaped), or the raw text when unquoted;
//!   `NULL::type` means no default.
//! * The parsed value then goes through the column's own converter; a struct result
//!   (`VariableScaleDecimal`, i.e. unconstrained `numeric` in precise mode) is dropped (KAFKA-12694
//!   workaround), and anything that fails to parse gives no default.
//! * Infinite `date`/`timestamp` defaults are not given a default here (Debezium turns them into
//!   out-of-range `java.time` values whose conversion is not reproduced).

use std::sync::LazyLock;

use regex::Regex;
use sluice_core::time::days_from_civil;
use sluice_core::{Column, Date, Decimal, Numeric, Timestamp, TypeKind, Value};

use super::decimal::BigDec;
use super::{Outcome, Plan};
use crate::DebeziumConfig;
use crate::connect::ConnectValue;

static FUNCTION_DEFAULT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[(]?[A-Za-z0-9_.]+\((?:.+(?:, ?.+)*)?\)").ok());
static LITERAL_DEFAULT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"'([^']*(?:''[^']*)*)'").ok());

const CURRENT_DATE_TIMES: [&str; 5] =
    ["current_timestamp", "current_time", "current_date", "localtime", "localtimestamp"];
const TRIM_TYPES: [&str; 18] = [
    "bit",
    "varbit",
    "bool",
    "numeric",
    "float4",
    "float8",
    "int2",
    "int4",
    "serial",
    "int8",
    "bigserial",
    "smallserial",
    "uuid",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "interval",
];

/// The Connect default of a column, if Debezium derives one.
pub(crate) fn parse_default(column: &Column, plan: &Plan, config: &DebeziumConfig) -> Option<ConnectValue> {
    let text = column.default.as_deref()?;
    let type_name = &*column.ty.name;
    let text = if TRIM_TYPES.contains(&type_name) { text.trim() } else { text };
    let raw = raw_default(column, type_name, text)?;
    match plan.convert(&raw, config) {
        Outcome::Value(ConnectValue::Struct(_)) | Outcome::Value(ConnectValue::Null) => None,
        Outcome::Value(v) => Some(v),
        Outcome::Null | Outcome::Failed(_) | Outcome::Thrown(_) => None,
    }
}

/// `extractDefault(value, placeholder)`: `Some(None)` for `NULL::...`, `None` when unparsable.
fn extract(text: &str, placeholder: &str) -> Option<Option<String>> {
    let function = FUNCTION_DEFAULT.as_ref().is_some_and(|re| re.is_match(text));
    if function || CURRENT_DATE_TIMES.contains(&text.to_lowercase().as_str()) {
        return Some(Some(placeholder.to_owned()));
    }
    if !text.contains('\'') {
        return Some((!text.starts_with("NULL::")).then(|| text.to_owned()));
    }
    let caps = LITERAL_DEFAULT.as_ref()?.captures(text)?;
    Some(Some(caps.get(1)?.as_str().replace("''", "'")))
}

/// The value a mapper parses, as a sluice [`Value`] for the column's converter.
fn raw_default(column: &Column, type_name: &str, text: &str) -> Option<Value> {
    // parseNullDefault: these mappers treat a leading NULL:: as "no default" before anything else.
    let null_checked =
        matches!(type_name, "bool" | "numeric" | "float4" | "float8" | "int2" | "int4" | "int8");
    if null_checked && text.starts_with("NULL::") {
        return None;
    }
    if let TypeKind::Enum { .. } = &column.ty.kind {
        return enum_default(type_name, text).map(Value::Text);
    }
    match type_name {
        "bit" => {
            let s = extract(text, "00")??;
            if s.chars().count() == 1 { Some(Value::Bool(s == "1")) } else { Some(bits_value(&s)) }
        }
        "varbit" => Some(bits_value(&extract(text, "0")??)),
        "bool" => Some(Value::Bool(extract(text, "false")??.eq_ignore_ascii_case("true"))),
        "bpchar" | "varchar" | "text" | "xml" => Some(Value::Text(extract(text, "")??)),
        "json" | "jsonb" => Some(Value::Text(extract(text, "{}")??)),
        "numeric" => {
            let d = BigDec::parse_java(&extract(text, "0.0")??)?;
            let plain = d.to_plain_string();
            Some(Value::Numeric(Numeric::Finite(Decimal::parse(&plain).ok()?)))
        }
        "float4" => Some(Value::Float32(java_float(&extract(text, "0.0")??)?)),
        "float8" => Some(Value::Float64(java_float(&extract(text, "0.0")??)?)),
        "int2" => Some(Value::Int16(extract(text, "0")??.parse().ok()?)),
        "int4" => Some(Value::Int32(extract(text, "0")??.parse().ok()?)),
        "int8" => Some(Value::Int64(extract(text, "0")??.parse().ok()?)),
        "uuid" => Some(Value::Uuid(parse_uuid(&extract(text, "00000000-0000-0000-0000-000000000000")??)?)),
        "date" => {
            let (days, _) = parse_timestamp(&extract(text, "1970-01-01")??)?;
            Some(Value::Date(Date::Days(
                i32::try_from(days.div_euclid(sluice_core::time::MICROS_PER_DAY)).ok()?,
            )))
        }
        "time" => Some(Value::Time(parse_time(&extract(text, "00:00")??)?)),
        "timestamp" => {
            Some(Value::Timestamp(Timestamp::Micros(parse_timestamp(&extract(text, "1970-01-01")??)?.0)))
        }
        "timestamptz" => {
            Some(Value::TimestampTz(Timestamp::Micros(parse_timestamp(&extract(text, "1970-01-01")??)?.0)))
        }
        "interval" => parse_interval(&extract(text, "epoch")??),
        _ => None,
    }
}

/// `extractEnumDefault`: `'label'::type` (optionally schema-qualified / quoted) → `label`.
fn enum_default(type_name: &str, text: &str) -> Option<String> {
    let cast = text.rfind("::")?;
    let suffix = text[cast + 2..].trim();
    let suffix = suffix.rsplit('.').next()?.trim_matches('"');
    if suffix != type_name.trim_matches('"') {
        return None;
    }
    let value = &text[..cast];
    (value.len() >= 2 && value.starts_with('\'') && value.ends_with('\''))
        .then(|| value[1..value.len() - 1].to_owned())
}

fn bits_value(s: &str) -> Value {
    let len = u32::try_from(s.chars().count()).unwrap_or(u32::MAX);
    let mut data = vec![0u8; s.chars().count().div_ceil(8)];
    for (i, c) in s.chars().enumerate() {
        if c == '1' {
            data[i / 8] |= 0x80 >> (i % 8);
        }
    }
    Value::Bits { len, data }
}

/// `Float.parseFloat` / `Double.parseDouble` (trimmed, optional `f`/`d` suffix, `NaN`, `Infinity`).
fn java_float<T: std::str::FromStr>(s: &str) -> Option<T> {
    let s = s.trim();
    let s = s.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(s);
    let unsigned = s.trim_start_matches(['+', '-']);
    let valid = unsigned == "NaN"
        || unsigned == "Infinity"
        || (!unsigned.is_empty()
            && unsigned.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')));
    if !valid {
        return None;
    }
    s.replace("Infinity", "inf").parse().ok()
}

/// `UUID.fromString`: five hex groups.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 5 || s.len() > 36 {
        return None;
    }
    let mut v = Vec::with_capacity(5);
    for p in &parts {
        if p.is_empty() || p.len() > 16 {
            return None;
        }
        v.push(u64::from_str_radix(p, 16).ok()?);
    }
    let most = ((v[0] & 0xffff_ffff) << 32) | ((v[1] & 0xffff) << 16) | (v[2] & 0xffff);
    let least = ((v[3] & 0xffff) << 48) | (v[4] & 0xffff_ffff_ffff);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&most.to_be_bytes());
    out[8..].copy_from_slice(&least.to_be_bytes());
    Some(out)
}

/// `HH:MM[:SS[.fraction]]` → microseconds of the day; `24:00:00` is `LocalTime.MAX`.
fn parse_time(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h: i64 = parts.next()?.trim().parse().ok()?;
    let m: i64 = parts.next()?.trim().parse().ok()?;
    let (sec, frac) = match parts.next() {
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            (whole.trim().parse::<i64>().ok()?, fraction_micros(frac)?)
        }
        None => (0, 0),
    };
    if parts.next().is_some() || !(0..=24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&sec) {
        return None;
    }
    if h == 24 {
        return (m == 0 && sec == 0 && frac == 0).then_some(sluice_core::time::MICROS_PER_DAY - 1);
    }
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + frac)
}

fn fraction_micros(frac: &str) -> Option<i64> {
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(6).collect();
    while digits.len() < 6 {
        digits.push('0');
    }
    digits.parse().ok()
}

/// pgjdbc `TimestampUtils` on `yyyy-mm-dd[ hh:mm[:ss[.f]]][±hh[:mm[:ss]]][ BC]`: microseconds since
/// the epoch in UTC (no offset means UTC) and whether an offset was present.
fn parse_timestamp(s: &str) -> Option<(i64, bool)> {
    let s = s.trim();
    let (s, bc) = match s.strip_suffix(" BC") {
        Some(rest) => (rest.trim(), true),
        None => (s, false),
    };
    let (date, rest) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let mut d = date.splitn(3, '-');
    let mut year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > sluice_core::time::days_in_month(year, month) {
        return None;
    }
    if !(0..=10_000_000).contains(&year) {
        return None;
    }
    if bc {
        year = 1 - year;
    }
    let (time, offset) = match rest.find(['+', '-']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let time_micros = if time.trim().is_empty() { 0 } else { parse_time(time.trim())? };
    let offset_seconds = match offset {
        Some(o) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let mut parts = o[1..].split(':');
            let h: i64 = parts.next()?.parse().ok()?;
            let m: i64 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
            let sec: i64 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
            if !(0..=99).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&sec) {
                return None;
            }
            sign * (h * 3600 + m * 60 + sec)
        }
        None => 0,
    };
    let days = days_from_civil(year, month, day);
    let micros = days
        .checked_mul(sluice_core::time::MICROS_PER_DAY)?
        .checked_add(time_micros)?
        .checked_sub(offset_seconds.checked_mul(1_000_000)?)?;
    Some((micros, offset.is_some()))
}

/// `new PGInterval(text)` for PostgreSQL's `postgres` style (`1 year 2 mons 3 days 04:05:06.78`,
/// optionally `ago`); unknown words (`epoch`) are ignored, as the driver does.
fn parse_interval(s: &str) -> Option<Value> {
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut pending: Option<f64> = None;
    for t in s.split_whitespace() {
        if t.contains(':') {
            let neg = t.starts_with('-');
            let m = parse_time_unbounded(t.trim_start_matches(['-', '+']))?;
            micros = micros.saturating_add(if neg { -m } else { m });
        } else if let Some(n) = pending.take() {
            let unit = t.to_lowercase();
            if unit.starts_with("year") {
                months = months.saturating_add((n as i64).saturating_mul(12));
            } else if unit.starts_with("mon") {
                months = months.saturating_add(n as i64);
            } else if unit.starts_with("day") {
                days = days.saturating_add(n as i64);
            } else if unit.starts_with("hour") {
                micros = micros.saturating_add((n * 3_600_000_000.0) as i64);
            } else if unit.starts_with("min") {
                micros = micros.saturating_add((n * 60_000_000.0) as i64);
            } else if unit.starts_with("sec") {
                micros = micros.saturating_add((n * 1_000_000.0).round() as i64);
            }
        } else if t == "ago" {
            months = months.saturating_neg();
            days = days.saturating_neg();
            micros = micros.saturating_neg();
        } else {
            pending = t.parse::<f64>().ok();
        }
    }
    Some(Value::Interval { months: i32::try_from(months).ok()?, days: i32::try_from(days).ok()?, micros })
}

fn parse_time_unbounded(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let (sec, frac) = match parts.next() {
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            (whole.parse::<i64>().ok()?, fraction_micros(frac)?)
        }
        None => (0, 0),
    };
    h.checked_mul(3_600_000_000)?
        .checked_add(m.checked_mul(60_000_000)?)?
        .checked_add(sec.checked_mul(1_000_000)?)?
        .checked_add(frac)
}
