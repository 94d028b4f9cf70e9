//! Unit tests of the mapping against the reference vectors (docs/debezium-postgres-reference.md §3:
//! live-oracle values and Debezium's own `AbstractRecordsProducerTest` expectations).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use sluice_core::value::{Array, ArrayDim};
use sluice_core::{Column, ColumnType, Date, Decimal, Numeric, TableId, Timestamp, TypeKind, Value};

use super::semantic;
use super::*;
use crate::connect::{ConnectValue as C, Schema, SchemaType};

fn config(pairs: &[(&str, &str)]) -> DebeziumConfig {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    map.insert("topic.prefix".into(), "test".into());
    for (k, v) in pairs {
        map.insert((*k).into(), (*v).into());
    }
    DebeziumConfig::from_properties(&map).unwrap()
}

fn table() -> TableId {
    TableId::new("public", "t")
}

/// A value column's Connect value in table [`table`], through a converter built for it.
fn column_value(
    column: &Column,
    schema: &Schema,
    value: &Value,
    source: ValueSource,
    config: &DebeziumConfig,
) -> Result<ConnectValue, DebeziumError> {
    ColumnConverter::new(&table(), column, config, true)?.convert(
        &table(),
        column,
        schema,
        value,
        source,
        config,
    )
}

fn ty(oid: u32, modifier: i32, name: &str, kind: TypeKind) -> ColumnType {
    ColumnType::new(oid, modifier, name, kind)
}

fn column(name: &str, ty: ColumnType, nullable: bool, default: Option<&str>) -> Column {
    Column { name: name.into(), ty, nullable, default: default.map(Arc::from), part_of_identity: false }
}

fn nullable(ty: ColumnType) -> Column {
    column("c", ty, true, None)
}

fn required(ty: ColumnType) -> Column {
    column("c", ty, false, None)
}

fn schema_of(c: &Column, cfg: &DebeziumConfig) -> Schema {
    column_schema(&table(), c, cfg).unwrap().expect("column has a schema")
}

fn value_of(c: &Column, v: Value, cfg: &DebeziumConfig) -> C {
    let s = schema_of(c, cfg);
    column_value(c, &s, &v, ValueSource::Stream, cfg).unwrap()
}

fn numeric_mod(p: i32, s: i32) -> i32 {
    ((p << 16) | s) + 4
}

fn dec(s: &str) -> Value {
    Value::Numeric(Numeric::Finite(Decimal::parse(s).unwrap()))
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn bits(s: &str) -> Value {
    let mut data = vec![0u8; s.len().div_ceil(8)];
    for (i, c) in s.chars().enumerate() {
        if c == '1' {
            data[i / 8] |= 0x80 >> (i % 8);
        }
    }
    Value::Bits { len: s.len() as u32, data }
}

fn int4() -> ColumnType {
    ty(23, -1, "int4", TypeKind::Int4)
}
fn text_ty() -> ColumnType {
    ty(25, -1, "text", TypeKind::Text)
}
fn varchar(n: i32) -> ColumnType {
    ty(1043, n + 4, "varchar", TypeKind::Varchar)
}
fn numeric(p: i32, s: i32) -> ColumnType {
    ty(1700, numeric_mod(p, s), "numeric", TypeKind::Numeric)
}
fn numeric_unconstrained() -> ColumnType {
    ty(1700, -1, "numeric", TypeKind::Numeric)
}
fn time(p: i32) -> ColumnType {
    ty(1083, p, "time", TypeKind::Time)
}
fn timestamp(p: i32) -> ColumnType {
    ty(1114, p, "timestamp", TypeKind::Timestamp)
}
fn timestamptz(p: i32) -> ColumnType {
    ty(1184, p, "timestamptz", TypeKind::TimestampTz)
}
fn mood() -> ColumnType {
    let labels: Arc<[String]> = vec!["sad".to_string(), "ok".to_string(), "happy".to_string()].into();
    ty(90_000, -1, "mood", TypeKind::Enum { labels })
}
fn array_of(oid: u32, name: &str, element: ColumnType, modifier: i32) -> ColumnType {
    let mut element = element;
    element.modifier = modifier;
    ty(oid, modifier, name, TypeKind::Array { element: Box::new(element) })
}
fn one_dim(elements: Vec<Value>) -> Value {
    Value::Array(Array { dims: vec![ArrayDim { len: elements.len() as u32, lower_bound: 1 }], elements })
}
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn date_is_days_since_epoch_per_mode() {
    let c = nullable(ty(1082, -1, "date", TypeKind::Date));
    let cfg = config(&[]);
    let s = schema_of(&c, &cfg);
    assert_eq!(
        (s.schema_type, s.name.as_deref(), s.version),
        (SchemaType::Int32, Some(semantic::DATE), Some(1))
    );
    assert!(s.optional);
    assert_eq!(value_of(&c, Value::Date(Date::Days(17109)), &cfg), C::Int32(17109));
    let iso = config(&[("time.precision.mode", "isostring")]);
    assert_eq!(schema_of(&c, &iso).name.as_deref(), Some(semantic::ISO_DATE));
    assert_eq!(value_of(&c, Value::Date(Date::Days(17109)), &iso), C::String("2016-11-04Z".into()));
    let connect = config(&[("time.precision.mode", "connect")]);
    assert_eq!(schema_of(&c, &connect).name.as_deref(), Some(semantic::CONNECT_DATE));
    assert_eq!(value_of(&c, Value::Date(Date::Days(17109)), &connect), C::Int32(17109));
    // PostgresValueConverter.POSITIVE/NEGATIVE_INFINITY_LOCAL_DATE.
    assert_eq!(value_of(&c, Value::Date(Date::PositiveInfinity), &cfg), C::Int32(-2_147_472_692));
    assert_eq!(value_of(&c, Value::Date(Date::NegativeInfinity), &cfg), C::Int32(-2_147_472_691));
    assert_eq!(value_of(&c, Value::Date(Date::PositiveInfinity), &iso), C::String("-5877611-06-21Z".into()));
}

#[test]
fn time_follows_precision_mode() {
    let cfg = config(&[]);
    let t6 = nullable(time(-1));
    assert_eq!(schema_of(&t6, &cfg).name.as_deref(), Some(semantic::MICRO_TIME));
    assert_eq!(value_of(&t6, Value::Time(49_890_123_456), &cfg), C::Int64(49_890_123_456));
    assert_eq!(value_of(&t6, Value::Time(86_400_000_000), &cfg), C::Int64(86_400_000_000));
    let t3 = nullable(time(3));
    let s = schema_of(&t3, &cfg);
    assert_eq!((s.schema_type, s.name.as_deref()), (SchemaType::Int32, Some(semantic::TIME)));
    assert_eq!(value_of(&t3, Value::Time(49_890_123_000), &cfg), C::Int32(49_890_123));

    let atm = config(&[("time.precision.mode", "adaptive_time_microseconds")]);
    assert_eq!(schema_of(&t3, &atm).name.as_deref(), Some(semantic::MICRO_TIME));
    let nanos = config(&[("time.precision.mode", "nanoseconds")]);
    assert_eq!(schema_of(&t6, &nanos).name.as_deref(), Some(semantic::NANO_TIME));
    assert_eq!(value_of(&t6, Value::Time(1), &nanos), C::Int64(1000));
    let micros = config(&[("time.precision.mode", "microseconds")]);
    assert_eq!(value_of(&t3, Value::Time(49_890_123_000), &micros), C::Int64(49_890_123_000));
    let connect = config(&[("time.precision.mode", "connect")]);
    let s = schema_of(&t6, &connect);
    assert_eq!((s.schema_type, s.name.as_deref()), (SchemaType::Int32, Some(semantic::CONNECT_TIME)));
    assert_eq!(value_of(&t6, Value::Time(49_890_123_456), &connect), C::Int32(49_890_123));
    let iso = config(&[("time.precision.mode", "isostring")]);
    assert_eq!(value_of(&t6, Value::Time(49_890_123_456), &iso), C::String("13:51:30.123456Z".into()));
    assert_eq!(value_of(&t6, Value::Time(86_400_000_000), &iso), C::String("00:00:00Z".into()));
}

#[test]
fn timestamps_and_their_infinities() {
    let cfg = config(&[]);
    let ts = nullable(timestamp(-1));
    assert_eq!(schema_of(&ts, &cfg).name.as_deref(), Some(semantic::MICRO_TIMESTAMP));
    let v = Value::Timestamp(Timestamp::Micros(1_478_267_490_123_456));
    assert_eq!(value_of(&ts, v.clone(), &cfg), C::Int64(1_478_267_490_123_456));
    let pinf = Value::Timestamp(Timestamp::PositiveInfinity);
    let ninf = Value::Timestamp(Timestamp::NegativeInfinity);
    assert_eq!(value_of(&ts, pinf.clone(), &cfg), C::Int64(9_223_372_036_825_200_000));
    assert_eq!(value_of(&ts, ninf.clone(), &cfg), C::Int64(-9_223_372_036_832_400_000));

    let ms = nullable(timestamp(3));
    assert_eq!(schema_of(&ms, &cfg).name.as_deref(), Some(semantic::TIMESTAMP));
    assert_eq!(value_of(&ms, v.clone(), &cfg), C::Int64(1_478_267_490_123));
    // 1936-10-25T22:10:12.608 (negative epoch) in milliseconds.
    assert_eq!(
        value_of(&ms, Value::Timestamp(Timestamp::Micros(-1_046_310_587_392_000)), &cfg),
        C::Int64(-1_046_310_587_392)
    );

    let nanos = config(&[("time.precision.mode", "nanoseconds")]);
    assert_eq!(schema_of(&ts, &nanos).name.as_deref(), Some(semantic::NANO_TIMESTAMP));
    assert_eq!(value_of(&ts, v.clone(), &nanos), C::Int64(1_478_267_490_123_456_000));
    assert_eq!(value_of(&ts, pinf.clone(), &nanos), C::Int64(i64::MAX));
    assert_eq!(value_of(&ts, ninf, &nanos), C::Int64(i64::MIN));
    // Outside 1677..2262 nanoseconds overflow: null when optional, an error when required.
    let far = Value::Timestamp(Timestamp::Micros(32_503_680_000_000_000));
    assert_eq!(value_of(&ts, far.clone(), &nanos), C::Null);
    let req = required(timestamp(-1));
    let s = schema_of(&req, &nanos);
    assert!(column_value(&req, &s, &far, ValueSource::Stream, &nanos).is_err());

    let iso = config(&[("time.precision.mode", "isostring")]);
    assert_eq!(value_of(&ts, v.clone(), &iso), C::String("2016-11-04T13:51:30.123456Z".into()));
    assert_eq!(value_of(&ts, pinf, &iso), C::String("+294247-01-10T04:00:25.2Z".into()));
    let connect = config(&[("time.precision.mode", "connect")]);
    assert_eq!(schema_of(&ts, &connect).name.as_deref(), Some(semantic::CONNECT_TIMESTAMP));
    assert_eq!(value_of(&ts, v, &connect), C::Int64(1_478_267_490_123));
}

#[test]
fn timestamptz_is_utc_iso_with_column_precision() {
    let cfg = config(&[]);
    let tz = nullable(timestamptz(-1));
    let s = schema_of(&tz, &cfg);
    assert_eq!((s.schema_type, s.name.as_deref()), (SchemaType::String, Some(semantic::ZONED_TIMESTAMP)));
    // '2016-11-04T13:51:30.123456+02:00'
    let v = Value::TimestampTz(Timestamp::Micros(1_478_260_290_123_456));
    assert_eq!(value_of(&tz, v.clone(), &cfg), C::String("2016-11-04T11:51:30.123456Z".into()));
    let tz0 = nullable(timestamptz(0));
    assert_eq!(
        value_of(&tz0, Value::TimestampTz(Timestamp::Micros(1_478_260_290_000_000)), &cfg),
        C::String("2016-11-04T11:51:30Z".into())
    );
    // '21016-11-04T13:51:30.000000+07:00'
    let large = days_micros(21016, 11, 4) + (6 * 3600 + 51 * 60 + 30) * 1_000_000;
    assert_eq!(
        value_of(&tz, Value::TimestampTz(Timestamp::Micros(large)), &cfg),
        C::String("+21016-11-04T06:51:30.000000Z".into())
    );
    // '4714-12-31T23:59:59.999999Z BC'
    let bc = days_micros(-4713, 12, 31) + 86_399_999_999;
    assert_eq!(
        value_of(&tz, Value::TimestampTz(Timestamp::Micros(bc)), &cfg),
        C::String("-4713-12-31T23:59:59.999999Z".into())
    );
    assert_eq!(
        value_of(&tz, Value::TimestampTz(Timestamp::PositiveInfinity), &cfg),
        C::String("infinity".into())
    );
    assert_eq!(
        value_of(&tz, Value::TimestampTz(Timestamp::NegativeInfinity), &cfg),
        C::String("-infinity".into())
    );
}

fn days_micros(y: i64, m: u32, d: u32) -> i64 {
    sluice_core::time::days_from_civil(y, m, d) * 86_400_000_000
}

#[test]
fn timetz_is_shifted_to_utc() {
    let cfg = config(&[]);
    let c = nullable(ty(1266, -1, "timetz", TypeKind::TimeTz));
    assert_eq!(schema_of(&c, &cfg).name.as_deref(), Some(semantic::ZONED_TIME));
    let v = Value::TimeTz { micros: 49_890_123_789, offset_seconds: 7200 };
    assert_eq!(value_of(&c, v, &cfg), C::String("11:51:30.123789Z".into()));
    let v = Value::TimeTz { micros: 49_890_123_000, offset_seconds: 7200 };
    assert_eq!(value_of(&c, v, &cfg), C::String("11:51:30.123Z".into()));
    let v = Value::TimeTz { micros: 3_600_000_000, offset_seconds: 7200 };
    assert_eq!(value_of(&c, v, &cfg), C::String("23:00:00Z".into()));
}

#[test]
fn interval_numeric_and_string() {
    let c = nullable(ty(1186, -1, "interval", TypeKind::Interval));
    let v = Value::Interval { months: 14, days: 3, micros: ((4 * 60 + 5) * 60 + 6) * 1_000_000 + 780_000 };
    let cfg = config(&[]);
    assert_eq!(schema_of(&c, &cfg).name.as_deref(), Some(semantic::MICRO_DURATION));
    assert_eq!(value_of(&c, v.clone(), &cfg), C::Int64(37_091_106_780_000));
    let string = config(&[("interval.handling.mode", "string")]);
    assert_eq!(schema_of(&c, &string).name.as_deref(), Some(semantic::INTERVAL));
    assert_eq!(value_of(&c, v, &string), C::String("P1Y2M3DT4H5M6.78S".into()));
}

#[test]
fn fixed_numeric_is_connect_decimal() {
    let cfg = config(&[]);
    let c = nullable(numeric(10, 3));
    let s = schema_of(&c, &cfg);
    assert_eq!(s.name.as_deref(), Some(semantic::CONNECT_DECIMAL));
    assert_eq!(s.version, Some(1));
    assert_eq!(
        s.parameters,
        vec![
            ("scale".to_string(), "3".to_string()),
            ("connect.decimal.precision".to_string(), "10".to_string())
        ]
    );
    let v = value_of(&c, dec("12.345"), &cfg);
    assert_eq!(v, C::Bytes(vec![0x30, 0x39]));
    let C::Bytes(b) = v else { unreachable!() };
    assert_eq!(b64(&b), "MDk=");
    // decimal(3,2): 1.1 is rescaled to 1.10.
    let d = nullable(numeric(3, 2));
    assert_eq!(value_of(&d, dec("1.1"), &cfg), C::Bytes(vec![110]));
    let string = config(&[("decimal.handling.mode", "string")]);
    assert_eq!(value_of(&d, dec("1.1"), &string), C::String("1.10".into()));
    assert_eq!(schema_of(&d, &string).schema_type, SchemaType::String);
    let double = config(&[("decimal.handling.mode", "double")]);
    assert_eq!(value_of(&d, dec("1.1"), &double), C::Float64(1.1));
    assert!(schema_of(&d, &double).parameters.is_empty());
    // Precise NaN: conversion fails, Debezium leaves the optional field null.
    assert_eq!(value_of(&c, Value::Numeric(Numeric::NaN), &cfg), C::Null);
}

#[test]
fn unconstrained_numeric_is_variable_scale_decimal() {
    let cfg = config(&[]);
    let c = nullable(numeric_unconstrained());
    let s = schema_of(&c, &cfg);
    assert_eq!(s.name.as_deref(), Some(semantic::VARIABLE_SCALE_DECIMAL));
    assert_eq!(s.doc.as_deref(), Some("Variable scaled decimal"));
    assert_eq!(s.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["scale", "value"]);
    let v = value_of(&c, dec("10.11110"), &cfg);
    let C::Struct(fields) = v else { panic!("not a struct") };
    assert_eq!(fields[0], C::Int32(4));
    let C::Bytes(b) = &fields[1] else { panic!("not bytes") };
    assert_eq!(b64(b), "AYr3");
    assert_eq!(value_of(&c, dec("100"), &cfg), C::Struct(vec![C::Int32(0), C::Bytes(vec![100])]));
    assert_eq!(value_of(&c, Value::Numeric(Numeric::NaN), &cfg), C::Null);
    assert_eq!(value_of(&c, Value::Numeric(Numeric::PositiveInfinity), &cfg), C::Null);

    let string = config(&[("decimal.handling.mode", "string")]);
    assert_eq!(value_of(&c, dec("22.2222"), &string), C::String("22.2222".into()));
    assert_eq!(value_of(&c, Value::Numeric(Numeric::NaN), &string), C::String("NAN".into()));
    assert_eq!(
        value_of(&c, Value::Numeric(Numeric::PositiveInfinity), &string),
        C::String("POSITIVE_INFINITY".into())
    );
    assert_eq!(
        value_of(&c, Value::Numeric(Numeric::NegativeInfinity), &string),
        C::String("NEGATIVE_INFINITY".into())
    );
    let double = config(&[("decimal.handling.mode", "double")]);
    let C::Float64(nan) = value_of(&c, Value::Numeric(Numeric::NaN), &double) else { panic!() };
    assert!(nan.is_nan());
    assert_eq!(
        value_of(&c, Value::Numeric(Numeric::NegativeInfinity), &double),
        C::Float64(f64::NEG_INFINITY)
    );
}

#[test]
fn money_uses_fraction_digits_without_precision() {
    let c = nullable(ty(790, -1, "money", TypeKind::Money));
    let cfg = config(&[]);
    let s = schema_of(&c, &cfg);
    assert_eq!(s.parameters, vec![("scale".to_string(), "2".to_string())]);
    assert_eq!(value_of(&c, dec("1234.11"), &cfg), C::Bytes(123_411i32.to_be_bytes()[1..].to_vec()));
    assert_eq!(value_of(&c, dec("-1234.11"), &cfg), C::Bytes((-123_411i32).to_be_bytes()[1..].to_vec()));
    let three = config(&[("money.fraction.digits", "3")]);
    assert_eq!(schema_of(&c, &three).parameter("scale"), Some("3"));
    assert_eq!(value_of(&c, dec("1.25"), &three), C::Bytes(1250i16.to_be_bytes().to_vec()));
    let double = config(&[("decimal.handling.mode", "double")]);
    assert_eq!(value_of(&c, dec("1234.11"), &double), C::Float64(1234.11));
    let string = config(&[("decimal.handling.mode", "string")]);
    assert_eq!(value_of(&c, dec("1234.11"), &string), C::String("1234.11".into()));
}

#[test]
fn bits_are_little_endian_numbers() {
    let cfg = config(&[]);
    let b8 = nullable(ty(1560, 8, "bit", TypeKind::Bit));
    let s = schema_of(&b8, &cfg);
    assert_eq!(s.name.as_deref(), Some(semantic::BITS));
    assert_eq!(s.parameter("length"), Some("8"));
    assert_eq!(value_of(&b8, bits("10100000"), &cfg), C::Bytes(vec![0xA0]));
    let b2 = nullable(ty(1560, 2, "bit", TypeKind::Bit));
    assert_eq!(value_of(&b2, bits("11"), &cfg), C::Bytes(vec![3]));
    assert_eq!(value_of(&b2, bits("00"), &cfg), C::Bytes(vec![]));
    let b7 = nullable(ty(1560, 7, "bit", TypeKind::Bit));
    assert_eq!(value_of(&b7, bits("1000000"), &cfg), C::Bytes(vec![64]));
    let b24 = nullable(ty(1560, 24, "bit", TypeKind::Bit));
    assert_eq!(value_of(&b24, bits("000000110000001000000001"), &cfg), C::Bytes(vec![1, 2, 3]));
    let b64_col = nullable(ty(1560, 64, "bit", TypeKind::Bit));
    let mut long = "1".to_string();
    long.push_str(&"0".repeat(63));
    assert_eq!(value_of(&b64_col, bits(&long), &cfg), C::Bytes(vec![0, 0, 0, 0, 0, 0, 0, 0x80]));
    let vb16 = nullable(ty(1562, 16, "varbit", TypeKind::VarBit));
    assert_eq!(value_of(&vb16, bits("101"), &cfg), C::Bytes(vec![5]));
    let vb = nullable(ty(1562, -1, "varbit", TypeKind::VarBit));
    assert_eq!(schema_of(&vb, &cfg).parameter("length"), Some("2147483647"));
    assert_eq!(
        value_of(&vb, bits("111011010001000110000001000000001"), &cfg),
        C::Bytes(vec![1, 2, 35, 0xDA, 1])
    );
    let b1 = nullable(ty(1560, 1, "bit", TypeKind::Bit));
    assert_eq!(schema_of(&b1, &cfg).schema_type, SchemaType::Boolean);
    assert_eq!(value_of(&b1, bits("1"), &cfg), C::Boolean(true));
    assert_eq!(value_of(&b1, bits("0"), &cfg), C::Boolean(false));
    assert_eq!(value_of(&b1, Value::Bool(true), &cfg), C::Boolean(true));
    let vb1 = nullable(ty(1562, 1, "varbit", TypeKind::VarBit));
    assert_eq!(schema_of(&vb1, &cfg).schema_type, SchemaType::Boolean);
}

#[test]
fn strings_and_semantic_strings() {
    let cfg = config(&[]);
    let bp = nullable(ty(1042, 3 + 4, "bpchar", TypeKind::Bpchar));
    assert_eq!(schema_of(&bp, &cfg), Schema::primitive(SchemaType::String).optional());
    assert_eq!(value_of(&bp, text("ab "), &cfg), C::String("ab ".into()));
    let cases: Vec<(ColumnType, Option<&str>, Value, &str)> = vec![
        (ty(114, -1, "json", TypeKind::Json), Some(semantic::JSON), text("{\"a\":1}"), "{\"a\":1}"),
        (
            ty(3802, -1, "jsonb", TypeKind::Jsonb),
            Some(semantic::JSON),
            text("{\"bar\": \"baz\"}"),
            "{\"bar\": \"baz\"}",
        ),
        (ty(142, -1, "xml", TypeKind::Xml), Some(semantic::XML), text("<a/>"), "<a/>"),
        (
            ty(2950, -1, "uuid", TypeKind::Uuid),
            Some(semantic::UUID),
            Value::Uuid([
                0xA0, 0xEE, 0xBC, 0x99, 0x9C, 0x0B, 0x4E, 0xF8, 0xBB, 0x6D, 0x6B, 0xB9, 0xBD, 0x38, 0x0A,
                0x11,
            ]),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
        (ty(91_000, -1, "ltree", TypeKind::Ltree), Some(semantic::LTREE), text("a.b"), "a.b"),
        (
            ty(3614, -1, "tsvector", TypeKind::TsVector),
            Some(semantic::TSVECTOR),
            text("'a' 'cat'"),
            "'a' 'cat'",
        ),
        (ty(869, -1, "inet", TypeKind::Inet), None, text("192.168.2.0/24"), "192.168.2.0/24"),
        (ty(829, -1, "macaddr", TypeKind::MacAddr), None, text("08:00:2b:01:02:03"), "08:00:2b:01:02:03"),
        (
            ty(3904, -1, "int4range", TypeKind::Range { element: Box::new(int4()) }),
            None,
            text("[1000,6000)"),
            "[1000,6000)",
        ),
        (ty(91_001, -1, "citext", TypeKind::Citext), None, text("Abc"), "Abc"),
    ];
    for (t, name, v, expected) in cases {
        let c = nullable(t);
        let s = schema_of(&c, &cfg);
        assert_eq!(s.schema_type, SchemaType::String);
        assert_eq!(s.name.as_deref(), name);
        assert_eq!(value_of(&c, v, &cfg), C::String(expected.into()));
    }
    let e = nullable(mood());
    let s = schema_of(&e, &cfg);
    assert_eq!(s.name.as_deref(), Some(semantic::ENUM));
    assert_eq!(s.parameter("allowed"), Some("sad,ok,happy"));
    assert_eq!(value_of(&e, text("ok"), &cfg), C::String("ok".into()));
}

#[test]
fn name_values_need_include_unknown_datatypes() {
    let c = nullable(ty(19, -1, "name", TypeKind::Name));
    let cfg = config(&[]);
    assert_eq!(schema_of(&c, &cfg).schema_type, SchemaType::String);
    assert_eq!(value_of(&c, text("pg_class"), &cfg), C::Null);
    let unknown = config(&[("include.unknown.datatypes", "true")]);
    assert_eq!(value_of(&c, text("pg_class"), &unknown), C::String("pg_class".into()));
    // Debezium's snapshot reads name columns through JDBC, as strings.
    let s = schema_of(&c, &cfg);
    assert_eq!(
        column_value(&c, &s, &text("pg_class"), ValueSource::Snapshot, &cfg).unwrap(),
        C::String("pg_class".into())
    );
    assert_eq!(
        value_of(&required(ty(19, -1, "name", TypeKind::Name)), text("x"), &cfg),
        C::String(String::new())
    );
}

#[test]
fn integers_floats_bool_and_oid() {
    let cfg = config(&[]);
    let cases: Vec<(ColumnType, SchemaType, Value, C)> = vec![
        (ty(16, -1, "bool", TypeKind::Bool), SchemaType::Boolean, Value::Bool(true), C::Boolean(true)),
        (ty(21, -1, "int2", TypeKind::Int2), SchemaType::Int16, Value::Int16(-3), C::Int16(-3)),
        (int4(), SchemaType::Int32, Value::Int32(7), C::Int32(7)),
        (ty(20, -1, "int8", TypeKind::Int8), SchemaType::Int64, Value::Int64(1 << 40), C::Int64(1 << 40)),
        (
            ty(26, -1, "oid", TypeKind::Oid),
            SchemaType::Int64,
            Value::Int64(4_000_000_000),
            C::Int64(4_000_000_000),
        ),
        (ty(700, -1, "float4", TypeKind::Float4), SchemaType::Float32, Value::Float32(1.5), C::Float32(1.5)),
        (
            ty(701, -1, "float8", TypeKind::Float8),
            SchemaType::Float64,
            Value::Float64(f64::INFINITY),
            C::Float64(f64::INFINITY),
        ),
    ];
    for (t, st, v, expected) in cases {
        let c = nullable(t);
        let s = schema_of(&c, &cfg);
        assert_eq!((s.schema_type, s.name.clone()), (st, None));
        assert_eq!(value_of(&c, v, &cfg), expected);
    }
    // Other object-id types are unknown to Debezium.
    assert_eq!(column_schema(&table(), &nullable(ty(28, -1, "xid", TypeKind::Oid)), &cfg).unwrap(), None);
    // A domain maps as its base type.
    let posint = ty(92_000, -1, "posint", TypeKind::Domain { base: Box::new(int4()) });
    assert_eq!(schema_of(&nullable(posint), &cfg).schema_type, SchemaType::Int32);
}

#[test]
fn bytea_per_binary_mode() {
    let c = nullable(ty(17, -1, "bytea", TypeKind::Bytea));
    let v = Value::Bytes(vec![1, 2, 3]);
    let bytes = config(&[]);
    assert_eq!(schema_of(&c, &bytes).schema_type, SchemaType::Bytes);
    assert_eq!(value_of(&c, v.clone(), &bytes), C::Bytes(vec![1, 2, 3]));
    for (mode, expected) in [("base64", "AQID"), ("base64-url-safe", "AQID"), ("hex", "010203")] {
        let cfg = config(&[("binary.handling.mode", mode)]);
        assert_eq!(schema_of(&c, &cfg).schema_type, SchemaType::String);
        assert_eq!(value_of(&c, v.clone(), &cfg), C::String(expected.into()));
    }
    let url = config(&[("binary.handling.mode", "base64-url-safe")]);
    assert_eq!(value_of(&c, Value::Bytes(vec![0xFB, 0xFF]), &url), C::String("-_8=".into()));
}

#[test]
fn point_struct_with_wkb() {
    let cfg = config(&[]);
    let c = nullable(ty(600, -1, "point", TypeKind::Point));
    let s = schema_of(&c, &cfg);
    assert_eq!(s.name.as_deref(), Some(semantic::POINT));
    assert_eq!(s.doc.as_deref(), Some("Geometry (POINT)"));
    assert_eq!(
        s.fields.iter().map(|f| (f.name.as_str(), f.schema.optional)).collect::<Vec<_>>(),
        vec![("x", false), ("y", false), ("wkb", true), ("srid", true)]
    );
    let v = value_of(&c, Value::Point { x: 1.0, y: 2.0 }, &cfg);
    let C::Struct(f) = v else { panic!("not a struct") };
    assert_eq!((&f[0], &f[1], &f[3]), (&C::Float64(1.0), &C::Float64(2.0), &C::Null));
    let C::Bytes(wkb) = &f[2] else { panic!("no wkb") };
    assert_eq!(b64(wkb), "AQEAAAAAAAAAAADwPwAAAAAAAABA");
}

#[test]
fn hstore_json_and_map() {
    let c = nullable(ty(91_002, -1, "hstore", TypeKind::Hstore));
    let v = Value::Hstore(vec![("key1".into(), Some("val1".into())), ("key2".into(), None)]);
    let cfg = config(&[]);
    assert_eq!(schema_of(&c, &cfg).name.as_deref(), Some(semantic::JSON));
    assert_eq!(value_of(&c, v.clone(), &cfg), C::String(r#"{"key1":"val1","key2":null}"#.into()));
    let map = config(&[("hstore.handling.mode", "map")]);
    let s = schema_of(&c, &map);
    assert_eq!(s.schema_type, SchemaType::Map);
    assert!(s.map_value.as_ref().unwrap().optional && !s.map_key.as_ref().unwrap().optional);
    assert_eq!(
        value_of(&c, v, &map),
        C::Map(vec![
            (C::String("key1".into()), C::String("val1".into())),
            (C::String("key2".into()), C::Null)
        ])
    );
    // HashMap order: "b" hashes to bucket 2, "a" to bucket 1.
    let v = Value::Hstore(vec![("b".into(), Some("2".into())), ("a".into(), Some("1\"x".into()))]);
    assert_eq!(value_of(&c, v, &cfg), C::String(r#"{"a":"1\"x","b":"2"}"#.into()));
}

#[test]
fn unknown_types_are_omitted_unless_included() {
    let circle = nullable(ty(718, -1, "circle", TypeKind::Circle));
    assert_eq!(column_schema(&table(), &circle, &config(&[])).unwrap(), None);
    let v = text("<(10,20),10>");
    let cases = [
        ("bytes", C::Bytes(b"<(10.0,20.0),10.0>".to_vec())),
        ("base64", C::String("PCgxMC4wLDIwLjApLDEwLjA+".into())),
        ("base64-url-safe", C::String("PCgxMC4wLDIwLjApLDEwLjA-".into())),
        ("hex", C::String("3c2831302e302c32302e30292c31302e303e".into())),
    ];
    for (mode, expected) in cases {
        let cfg = config(&[("include.unknown.datatypes", "true"), ("binary.handling.mode", mode)]);
        assert_eq!(value_of(&circle, v.clone(), &cfg), expected, "{mode}");
    }
    let cfg = config(&[("include.unknown.datatypes", "true")]);
    let boxed = nullable(ty(603, -1, "box", TypeKind::Box));
    assert_eq!(value_of(&boxed, text("(1,1),(0,0)"), &cfg), C::Bytes(b"(1.0,1.0),(0.0,0.0)".to_vec()));
    let composite = nullable(ty(93_000, -1, "pair", TypeKind::Composite));
    assert_eq!(column_schema(&table(), &composite, &config(&[])).unwrap(), None);
    assert_eq!(value_of(&composite, text("(1,x)"), &cfg), C::Bytes(b"(1,x)".to_vec()));
}

#[test]
fn arrays_and_their_element_schemas() {
    let cfg = config(&[]);
    let ints = nullable(array_of(1007, "_int4", int4(), -1));
    let s = schema_of(&ints, &cfg);
    assert_eq!(s.schema_type, SchemaType::Array);
    assert!(s.items.as_ref().unwrap().optional);
    assert_eq!(
        value_of(&ints, one_dim(vec![Value::Int32(1), Value::Null, Value::Int32(3)]), &cfg),
        C::Array(vec![C::Int32(1), C::Null, C::Int32(3)])
    );
    assert_eq!(value_of(&ints, Value::Array(Array::default()), &cfg), C::Array(vec![]));
    let nums = nullable(array_of(1231, "_numeric", numeric(10, 2), numeric_mod(10, 2)));
    let items = schema_of(&nums, &cfg).items.unwrap();
    assert_eq!(items.parameter("scale"), Some("2"));
    assert_eq!(items.parameter("connect.decimal.precision"), Some("10"));
    assert_eq!(value_of(&nums, one_dim(vec![dec("1.5")]), &cfg), C::Array(vec![C::Bytes(vec![0, 150])]));
    let tstz = nullable(array_of(1185, "_timestamptz", timestamptz(-1), -1));
    assert_eq!(
        value_of(&tstz, one_dim(vec![Value::TimestampTz(Timestamp::Micros(1_585_741_862_000_000))]), &cfg),
        C::Array(vec![C::String("2020-04-01T11:51:02.000000Z".into())])
    );
    for (oid, name, element) in [
        (791, "_money", ty(790, -1, "money", TypeKind::Money)),
        (1187, "_interval", ty(1186, -1, "interval", TypeKind::Interval)),
        (1017, "_point", ty(600, -1, "point", TypeKind::Point)),
    ] {
        let c = nullable(array_of(oid, name, element, -1));
        let unknown = config(&[("include.unknown.datatypes", "true")]);
        assert_eq!(column_schema(&table(), &c, &unknown).unwrap(), None, "{name}");
    }
    let enums = nullable(array_of(90_001, "_mood", mood(), -1));
    let items = schema_of(&enums, &cfg).items.unwrap();
    assert!(!items.optional, "enum[] elements come from the generic path");
    assert_eq!(items.parameter("allowed"), Some("sad,ok,happy"));
    // Two dimensions: one null per row, as Debezium's element converter cannot read the rows.
    let two = Value::Array(Array {
        dims: vec![ArrayDim { len: 2, lower_bound: 1 }, ArrayDim { len: 2, lower_bound: 1 }],
        elements: vec![Value::Int32(1), Value::Int32(2), Value::Int32(3), Value::Int32(4)],
    });
    assert_eq!(value_of(&ints, two, &cfg), C::Array(vec![C::Null, C::Null]));
}

#[test]
fn defaults_are_parsed_from_the_expression() {
    let cfg = config(&[]);
    let d = |t: ColumnType, nullable: bool, expr: &str| {
        column_schema(&table(), &column("c", t, nullable, Some(expr)), &cfg).unwrap().unwrap().default
    };
    assert_eq!(d(int4(), false, "7"), Some(C::Int32(7)));
    assert_eq!(d(int4(), false, "'-1'::integer"), Some(C::Int32(-1)));
    assert_eq!(d(int4(), false, "nextval('t_id_seq'::regclass)"), Some(C::Int32(0)));
    assert_eq!(
        d(ty(20, -1, "int8", TypeKind::Int8), true, "'9223372036854775807'::bigint"),
        Some(C::Int64(i64::MAX))
    );
    assert_eq!(d(text_ty(), true, "'abc'::text"), Some(C::String("abc".into())));
    assert_eq!(d(text_ty(), true, "'a''b'::text"), Some(C::String("a'b".into())));
    assert_eq!(d(text_ty(), true, "NULL::text"), None);
    assert_eq!(d(varchar(10), true, "'x'::character varying"), Some(C::String("x".into())));
    assert_eq!(d(ty(701, -1, "float8", TypeKind::Float8), true, "1.5"), Some(C::Float64(1.5)));
    assert_eq!(d(ty(16, -1, "bool", TypeKind::Bool), true, "true"), Some(C::Boolean(true)));
    assert_eq!(d(numeric(5, 2), true, "1.5"), Some(C::Bytes(vec![0, 150])));
    assert_eq!(d(numeric_unconstrained(), true, "1.5"), None, "VariableScaleDecimal structs are dropped");
    assert_eq!(
        d(ty(2950, -1, "uuid", TypeKind::Uuid), true, "gen_random_uuid()"),
        Some(C::String("00000000-0000-0000-0000-000000000000".into()))
    );
    assert_eq!(d(timestamptz(-1), true, "now()"), Some(C::String("1970-01-01T00:00:00.000000Z".into())));
    assert_eq!(
        d(timestamptz(-1), true, "CURRENT_TIMESTAMP"),
        Some(C::String("1970-01-01T00:00:00.000000Z".into()))
    );
    assert_eq!(
        d(timestamptz(-1), true, "'2016-11-04 13:51:30.123456+02'::timestamp with time zone"),
        Some(C::String("2016-11-04T11:51:30.123456Z".into()))
    );
    assert_eq!(
        d(timestamp(-1), true, "'2016-11-04 13:51:30.123456'::timestamp without time zone"),
        Some(C::Int64(1_478_267_490_123_456))
    );
    assert_eq!(d(ty(1082, -1, "date", TypeKind::Date), true, "'2016-11-04'::date"), Some(C::Int32(17109)));
    assert_eq!(d(ty(1082, -1, "date", TypeKind::Date), true, "CURRENT_DATE"), Some(C::Int32(0)));
    assert_eq!(d(time(-1), true, "'13:51:30'::time without time zone"), Some(C::Int64(49_890_000_000)));
    assert_eq!(
        d(ty(1186, -1, "interval", TypeKind::Interval), true, "'1 day'::interval"),
        Some(C::Int64(86_400_000_000))
    );
    assert_eq!(d(ty(1186, -1, "interval", TypeKind::Interval), true, "now()"), Some(C::Int64(0)));
    assert_eq!(d(mood(), true, "'ok'::mood"), Some(C::String("ok".into())));
    assert_eq!(d(ty(114, -1, "jsonb", TypeKind::Jsonb), true, "'{}'::jsonb"), Some(C::String("{}".into())));
    assert_eq!(d(ty(1560, 3, "bit", TypeKind::Bit), true, "B'101'::\"bit\""), Some(C::Bytes(vec![5])));
    assert_eq!(d(ty(1560, 1, "bit", TypeKind::Bit), true, "B'1'::\"bit\""), Some(C::Boolean(true)));
    // No mapper: money, domains, arrays.
    assert_eq!(d(ty(790, -1, "money", TypeKind::Money), true, "'$1.00'::money"), None);
    let posint = ty(92_000, -1, "posint", TypeKind::Domain { base: Box::new(int4()) });
    assert_eq!(d(posint, true, "1"), None);
    // Not a number: no default rather than an error.
    assert_eq!(d(int4(), true, "(1 + 2)"), None);
}

#[test]
fn not_null_columns_fall_back_in_before_images() {
    let cfg = config(&[]);
    let check = |c: Column, expected: C| {
        let s = schema_of(&c, &cfg);
        assert_eq!(
            column_value(&c, &s, &Value::Null, ValueSource::Stream, &cfg).unwrap(),
            expected,
            "{}",
            c.ty.name
        );
    };
    check(required(text_ty()), C::String(String::new()));
    check(required(int4()), C::Int32(0));
    check(column("c", int4(), false, Some("7")), C::Int32(7));
    check(nullable(int4()), C::Null);
    check(required(numeric(10, 2)), C::Bytes(vec![0]));
    check(required(numeric_unconstrained()), C::Struct(vec![C::Int32(0), C::Bytes(vec![0])]));
    check(required(timestamptz(-1)), C::String("1970-01-01T00:00:00Z".into()));
    check(required(ty(1266, -1, "timetz", TypeKind::TimeTz)), C::String("00:00:00Z".into()));
    check(required(ty(17, -1, "bytea", TypeKind::Bytea)), C::Bytes(vec![]));
    check(required(ty(16, -1, "bool", TypeKind::Bool)), C::Boolean(false));
    check(required(array_of(1007, "_int4", int4(), -1)), C::Array(vec![]));
    check(required(ty(91_002, -1, "hstore", TypeKind::Hstore)), C::String("{}".into()));
    let string = config(&[("decimal.handling.mode", "string")]);
    let c = required(numeric(10, 2));
    let s = schema_of(&c, &string);
    assert_eq!(
        column_value(&c, &s, &Value::Null, ValueSource::Stream, &string).unwrap(),
        C::String("0.00".into())
    );
    let iso = config(&[("interval.handling.mode", "string")]);
    let c = required(ty(1186, -1, "interval", TypeKind::Interval));
    let s = schema_of(&c, &iso);
    assert_eq!(
        column_value(&c, &s, &Value::Null, ValueSource::Stream, &iso).unwrap(),
        C::String("P0Y0M0DT0H0M0S".into())
    );
}

#[test]
fn unchanged_toast_placeholders() {
    let cfg = config(&[]);
    let ph = "__debezium_unavailable_value";
    let toast = |c: &Column, cfg: &DebeziumConfig| {
        let s = schema_of(c, cfg);
        column_value(c, &s, &Value::UnchangedToast, ValueSource::Stream, cfg)
    };
    assert_eq!(toast(&nullable(text_ty()), &cfg).unwrap(), C::String(ph.into()));
    assert_eq!(toast(&nullable(ty(3802, -1, "jsonb", TypeKind::Jsonb)), &cfg).unwrap(), C::String(ph.into()));
    assert_eq!(
        toast(&nullable(ty(17, -1, "bytea", TypeKind::Bytea)), &cfg).unwrap(),
        C::Bytes(ph.as_bytes().to_vec())
    );
    let hex = config(&[("binary.handling.mode", "hex")]);
    assert_eq!(toast(&nullable(ty(17, -1, "bytea", TypeKind::Bytea)), &hex).unwrap(), C::String(ph.into()));
    let base64 = config(&[("binary.handling.mode", "base64")]);
    assert_eq!(toast(&nullable(ty(17, -1, "bytea", TypeKind::Bytea)), &base64).unwrap(), C::Null);
    assert_eq!(
        toast(&nullable(array_of(1009, "_text", text_ty(), -1)), &cfg).unwrap(),
        C::Array(vec![C::String(ph.into())])
    );
    let ints = toast(&nullable(array_of(1007, "_int4", int4(), -1)), &cfg).unwrap();
    assert_eq!(ints, C::Array(ph.bytes().map(|b| C::Int32(i32::from(b))).collect()));
    assert_eq!(
        toast(&nullable(ty(91_002, -1, "hstore", TypeKind::Hstore)), &cfg).unwrap(),
        C::String(format!("{{\"{ph}\":\"{ph}\"}}"))
    );
    let uuids =
        toast(&nullable(array_of(2951, "_uuid", ty(2950, -1, "uuid", TypeKind::Uuid), -1)), &cfg).unwrap();
    assert_eq!(uuids, C::Array(vec![C::String(java::name_uuid_from_bytes(ph.as_bytes()))]));
    // numeric in precise mode cannot hold the placeholder: null when optional, error when required.
    assert_eq!(toast(&nullable(numeric(10, 2)), &cfg).unwrap(), C::Null);
    assert!(toast(&required(numeric(10, 2)), &cfg).is_err());
    let string = config(&[("decimal.handling.mode", "string")]);
    assert_eq!(toast(&nullable(numeric(10, 2)), &string).unwrap(), C::String(ph.into()));
    let custom = config(&[("unavailable.value.placeholder", "hex:00ff")]);
    assert_eq!(
        toast(&nullable(ty(17, -1, "bytea", TypeKind::Bytea)), &custom).unwrap(),
        C::Bytes(vec![0, 0xFF])
    );
    assert_eq!(
        toast(&nullable(array_of(1016, "_int8", ty(20, -1, "int8", TypeKind::Int8), -1)), &custom).unwrap(),
        C::Array(vec![C::Int64(0), C::Int64(-1)])
    );
}

#[test]
fn column_mappers_mask_truncate_and_propagate() {
    let cfg = config(&[
        ("column.mask.with.5.chars", "public.t.secret,public.t.n"),
        ("column.truncate.to.3.chars", "public.t.note,public.t.short,public.t.data"),
        ("column.propagate.source.type", "public.t.vc,public.t.d,public.t.m,public.t.e,public.t.dom"),
    ]);
    let secret = column("secret", varchar(20), true, None);
    let s = schema_of(&secret, &cfg);
    assert_eq!(s.parameter("masked"), Some("true"));
    assert_eq!(
        column_value(&secret, &s, &text("hunter2"), ValueSource::Stream, &cfg).unwrap(),
        C::String("*****".into())
    );
    assert_eq!(
        column_value(&secret, &s, &Value::Null, ValueSource::Stream, &cfg).unwrap(),
        C::String("*****".into())
    );
    // Non-string columns keep their value but still get the parameter.
    let n = column("n", int4(), true, None);
    let s = schema_of(&n, &cfg);
    assert_eq!(s.parameter("masked"), Some("true"));
    assert_eq!(column_value(&n, &s, &Value::Int32(4), ValueSource::Stream, &cfg).unwrap(), C::Int32(4));

    let note = column("note", text_ty(), true, None);
    let s = schema_of(&note, &cfg);
    assert_eq!(s.parameter("truncateLength"), Some("3"));
    assert_eq!(
        column_value(&note, &s, &text("abcdef"), ValueSource::Stream, &cfg).unwrap(),
        C::String("abc".into())
    );
    let short = column("short", varchar(2), true, None);
    assert_eq!(schema_of(&short, &cfg).parameter("truncateLength"), None);
    let data = column("data", ty(17, -1, "bytea", TypeKind::Bytea), true, None);
    let s = schema_of(&data, &cfg);
    assert_eq!(
        column_value(&data, &s, &Value::Bytes(vec![1, 2, 3, 4]), ValueSource::Stream, &cfg).unwrap(),
        C::Bytes(vec![1, 2, 3])
    );

    let params = |c: Column, cfg: &DebeziumConfig| schema_of(&c, cfg).parameters;
    let p = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
    };
    assert_eq!(
        params(column("vc", varchar(2), true, None), &cfg),
        p(&[
            (semantic::SOURCE_COLUMN_TYPE, "VARCHAR"),
            (semantic::SOURCE_COLUMN_LENGTH, "2"),
            (semantic::SOURCE_COLUMN_SCALE, "0"),
            (semantic::SOURCE_COLUMN_NAME, "vc"),
        ])
    );
    let double =
        config(&[("decimal.handling.mode", "double"), ("column.propagate.source.type", "public.t.*")]);
    assert_eq!(
        params(column("d", numeric(3, 2), true, None), &double),
        p(&[
            (semantic::SOURCE_COLUMN_TYPE, "NUMERIC"),
            (semantic::SOURCE_COLUMN_LENGTH, "3"),
            (semantic::SOURCE_COLUMN_SCALE, "2"),
            (semantic::SOURCE_COLUMN_NAME, "d"),
        ])
    );
    assert_eq!(
        params(column("m", ty(790, -1, "money", TypeKind::Money), true, None), &double),
        p(&[
            (semantic::SOURCE_COLUMN_TYPE, "MONEY"),
            (semantic::SOURCE_COLUMN_LENGTH, "2147483647"),
            (semantic::SOURCE_COLUMN_SCALE, "0"),
            (semantic::SOURCE_COLUMN_NAME, "m"),
        ])
    );
    let float83 = ty(92_001, -1, "float83", TypeKind::Domain { base: Box::new(numeric(8, 3)) });
    assert_eq!(
        params(column("dom", float83, true, None), &double),
        p(&[
            (semantic::SOURCE_COLUMN_TYPE, "FLOAT83"),
            (semantic::SOURCE_COLUMN_LENGTH, "8"),
            (semantic::SOURCE_COLUMN_SCALE, "3"),
            (semantic::SOURCE_COLUMN_NAME, "dom"),
        ])
    );
    assert_eq!(
        params(column("e", mood(), true, None), &cfg),
        p(&[
            (semantic::ENUM_ALLOWED, "sad,ok,happy"),
            (semantic::SOURCE_COLUMN_TYPE, "MOOD"),
            (semantic::SOURCE_COLUMN_LENGTH, "2147483647"),
            (semantic::SOURCE_COLUMN_SCALE, "0"),
            (semantic::SOURCE_COLUMN_NAME, "e"),
        ])
    );
    let by_type = config(&[("datatype.propagate.source.type", ".+\\.int4")]);
    assert_eq!(
        schema_of(&column("x", int4(), true, None), &by_type).parameter(semantic::SOURCE_COLUMN_LENGTH),
        Some("10")
    );
    assert_eq!(
        schema_of(&column("y", text_ty(), true, None), &by_type).parameter(semantic::SOURCE_COLUMN_TYPE),
        None
    );
}

#[test]
fn column_selection_uses_fully_qualified_names() {
    let c = column("secret", text_ty(), true, None);
    assert!(column_selected(&table(), &c, &config(&[])));
    assert!(!column_selected(&table(), &c, &config(&[("column.exclude.list", "public.t.secret")])));
    assert!(column_selected(&table(), &c, &config(&[("column.include.list", "public\\.t\\.s.*")])));
    assert!(!column_selected(&table(), &c, &config(&[("column.include.list", "public.t.other")])));
}

#[test]
fn mismatched_values_never_panic() {
    let cfg = config(&[("include.unknown.datatypes", "true")]);
    let types = vec![
        int4(),
        text_ty(),
        numeric(10, 2),
        numeric_unconstrained(),
        time(3),
        timestamp(-1),
        timestamptz(3),
        ty(1560, 12, "bit", TypeKind::Bit),
        ty(600, -1, "point", TypeKind::Point),
        ty(718, -1, "circle", TypeKind::Circle),
        array_of(1007, "_int4", int4(), -1),
    ];
    let values = vec![
        Value::Int64(1),
        text("((("),
        Value::Bits { len: 100, data: vec![0xFF] },
        Value::Time(i64::MAX),
        Value::Timestamp(Timestamp::Micros(i64::MIN)),
        Value::TimestampTz(Timestamp::Micros(i64::MAX)),
        Value::Interval { months: i32::MIN, days: i32::MAX, micros: i64::MIN },
        Value::Float64(f64::NAN),
    ];
    for t in types {
        for nullable_flag in [true, false] {
            let c = column("c", t.clone(), nullable_flag, Some("garbage("));
            let s = schema_of(&c, &cfg);
            for v in &values {
                let _ = column_value(&c, &s, v, ValueSource::Stream, &cfg);
            }
        }
    }
    let interval = nullable(ty(1186, -1, "interval", TypeKind::Interval));
    let _ = value_of(&interval, Value::Interval { months: i32::MIN, days: i32::MIN, micros: i64::MIN }, &cfg);
}

/// A small deterministic generator for the no-panic sweep.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
    fn i64(&mut self) -> i64 {
        match self.next() % 4 {
            0 => *self.pick(&[i64::MIN, i64::MAX, 0, -1, 1]),
            _ => self.next() as i64 - (1 << 52),
        }
    }
    fn text(&mut self) -> String {
        let alphabet = [
            '(', ')', ',', '1', '-', '.', 'e', ':', '\'', ' ', 'N', 'a', '0', '9', 'é', '😀', '"', '<', '[',
            ']', '{', '}', '/', 'F',
        ];
        (0..self.next() % 12).map(|_| *self.pick(&alphabet)).collect()
    }
}

#[test]
fn no_input_panics_across_types_and_modes() {
    let mut rng = Lcg(7);
    let modes: Vec<DebeziumConfig> = vec![
        config(&[]),
        config(&[
            ("decimal.handling.mode", "string"),
            ("time.precision.mode", "isostring"),
            ("binary.handling.mode", "hex"),
            ("interval.handling.mode", "string"),
            ("hstore.handling.mode", "map"),
            ("include.unknown.datatypes", "true"),
            ("column.truncate.to.2.chars", "public.t.c"),
        ]),
        config(&[
            ("decimal.handling.mode", "double"),
            ("time.precision.mode", "nanoseconds"),
            ("binary.handling.mode", "base64-url-safe"),
            ("include.unknown.datatypes", "true"),
            ("column.mask.with.3.chars", "public.t.c"),
        ]),
        config(&[("time.precision.mode", "connect"), ("column.propagate.source.type", ".*")]),
    ];
    let types = vec![
        ty(16, -1, "bool", TypeKind::Bool),
        ty(1560, 9, "bit", TypeKind::Bit),
        ty(1562, -1, "varbit", TypeKind::VarBit),
        ty(21, -1, "int2", TypeKind::Int2),
        int4(),
        ty(26, -1, "oid", TypeKind::Oid),
        ty(28, -1, "xid", TypeKind::Oid),
        numeric(5, 2),
        numeric(1000, 999),
        numeric_unconstrained(),
        ty(790, -1, "money", TypeKind::Money),
        varchar(3),
        ty(19, -1, "name", TypeKind::Name),
        ty(17, -1, "bytea", TypeKind::Bytea),
        ty(1082, -1, "date", TypeKind::Date),
        time(0),
        time(-1),
        timestamp(2),
        timestamptz(-1),
        ty(1266, 3, "timetz", TypeKind::TimeTz),
        ty(1186, -1, "interval", TypeKind::Interval),
        ty(600, -1, "point", TypeKind::Point),
        ty(628, -1, "line", TypeKind::Line),
        ty(604, -1, "polygon", TypeKind::Polygon),
        ty(91_002, -1, "hstore", TypeKind::Hstore),
        mood(),
        array_of(1231, "_numeric", numeric_unconstrained(), -1),
        array_of(1561, "_bit", ty(1560, 4, "bit", TypeKind::Bit), 4),
        array_of(1115, "_timestamp", timestamp(-1), -1),
        ty(92_001, 7, "dom", TypeKind::Domain { base: Box::new(numeric(8, 3)) }),
        ty(95_000, -1, "geometry", TypeKind::Unknown),
        ty(96_000, -1, "vector", TypeKind::Unknown),
        ty(96_002, -1, "sparsevec", TypeKind::Unknown),
    ];
    for round in 0..4000 {
        let cfg = &modes[round % modes.len()];
        let t = rng.pick(&types).clone();
        let default = rng.text();
        let c = column("c", t, rng.next().is_multiple_of(2), Some(&default));
        let Some(s) = column_schema(&table(), &c, cfg).unwrap() else { continue };
        let digits: String =
            (0..rng.next() % 40).map(|_| char::from(b'0' + (rng.next() % 10) as u8)).collect();
        let decimal = Decimal::parse(&format!("{}.{}", rng.next() % 1000, digits)).unwrap();
        let scalar = vec![
            Value::Null,
            Value::UnchangedToast,
            Value::Bool(true),
            Value::Int16(-1),
            Value::Int32(i32::MIN),
            Value::Int64(rng.i64()),
            Value::Float64(f64::from_bits(rng.next())),
            Value::Numeric(Numeric::Finite(decimal)),
            Value::Numeric(Numeric::NegativeInfinity),
            Value::Text(rng.text()),
            Value::Bytes(vec![0xFF; (rng.next() % 5) as usize]),
            Value::Bits { len: (rng.next() % 80) as u32, data: vec![0xA5; (rng.next() % 4) as usize] },
            Value::Date(Date::Days(rng.i64() as i32)),
            Value::Time(rng.i64()),
            Value::TimeTz { micros: rng.i64(), offset_seconds: rng.i64() as i32 },
            Value::Timestamp(Timestamp::Micros(rng.i64())),
            Value::TimestampTz(Timestamp::Micros(rng.i64())),
            Value::Interval { months: rng.i64() as i32, days: rng.i64() as i32, micros: rng.i64() },
            Value::Uuid([7; 16]),
            Value::Point { x: f64::from_bits(rng.next()), y: -0.0 },
            Value::Hstore(vec![(rng.text(), None), (rng.text(), Some(rng.text()))]),
        ];
        let v = rng.pick(&scalar).clone();
        let v = if rng.next().is_multiple_of(3) {
            let n = (rng.next() % 4) as u32;
            let dims = (0..(rng.next() % 3)).map(|_| ArrayDim { len: n, lower_bound: 1 }).collect();
            Value::Array(Array { dims, elements: vec![v; n as usize] })
        } else {
            v
        };
        let _ = column_value(&c, &s, &v, ValueSource::Stream, cfg);
    }
}

#[test]
fn key_fields_skip_column_mappers() {
    let cfg =
        config(&[("column.mask.with.4.chars", "public.t.id"), ("column.truncate.to.1.chars", "public.t.k")]);
    let id = column("id", varchar(10), false, Some("'x'::character varying"));
    let s = key_column_schema(&table(), &id, &cfg).unwrap().unwrap();
    assert!(s.parameters.is_empty());
    assert_eq!(s.default, Some(C::String("x".into())));
    assert_eq!(
        ColumnConverter::new(&table(), &id, &cfg, false)
            .unwrap()
            .convert(&table(), &id, &s, &text("abc"), ValueSource::Stream, &cfg)
            .unwrap(),
        C::String("abc".into())
    );
    let vs = column_schema(&table(), &id, &cfg).unwrap().unwrap();
    assert_eq!(
        column_value(&id, &vs, &text("abc"), ValueSource::Stream, &cfg).unwrap(),
        C::String("****".into())
    );
}

#[test]
fn array_elements_fail_alone_or_fail_the_column() {
    let cfg = config(&[]);
    let nums = nullable(array_of(1231, "_numeric", numeric_unconstrained(), -1));
    // A NaN element makes VariableScaleDecimal.fromLogical throw: the whole column is null.
    assert_eq!(value_of(&nums, one_dim(vec![dec("1"), Value::Numeric(Numeric::NaN)]), &cfg), C::Null);
    let string = config(&[("decimal.handling.mode", "string")]);
    assert_eq!(value_of(&nums, one_dim(vec![dec("1.50"), Value::Numeric(Numeric::NaN)]), &string), C::Null);
    assert_eq!(
        value_of(&nums, one_dim(vec![dec("1.50")]), &string),
        C::Array(vec![C::String("1.50".into())])
    );
    let dates = nullable(array_of(1182, "_date", ty(1082, -1, "date", TypeKind::Date), -1));
    assert_eq!(
        value_of(
            &dates,
            one_dim(vec![Value::Date(Date::PositiveInfinity), Value::Date(Date::NegativeInfinity)]),
            &cfg
        ),
        C::Array(vec![C::Int32(-622_191_234), C::Int32(-625_821_272)])
    );
    // time[] elements arrive as java.sql.Time: milliseconds only.
    let times = nullable(array_of(1183, "_time", time(-1), -1));
    assert_eq!(
        value_of(&times, one_dim(vec![Value::Time(49_890_123_456), Value::Time(86_400_000_000)]), &cfg),
        C::Array(vec![C::Int64(49_890_123_000), C::Int64(0)])
    );
}

#[test]
fn postgis_pgvector_and_isbn_by_type_name() {
    let cfg = config(&[]);
    let geometry = required(ty(95_000, -1, "geometry", TypeKind::Unknown));
    let s = schema_of(&geometry, &cfg);
    assert_eq!((s.name.as_deref(), s.doc.as_deref()), (Some(semantic::GEOMETRY), Some("Geometry")));
    assert!(s.optional, "Geometry.builder() is optional even for NOT NULL columns");
    assert_eq!(s.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["wkb", "srid"]);
    let hex = "0101000020730C00001C7C613255DE6540787AA52C435C42C0";
    assert_eq!(
        value_of(&geometry, text(hex), &cfg),
        C::Struct(vec![C::Bytes(hex::decode(hex).unwrap()), C::Int32(3187)])
    );
    let geography = nullable(ty(95_001, -1, "geography", TypeKind::Unknown));
    assert_eq!(schema_of(&geography, &cfg).name.as_deref(), Some(semantic::GEOGRAPHY));
    let point_no_srid = "0101000000000000000000F03F0000000000000040";
    assert_eq!(
        value_of(&geography, text(point_no_srid), &cfg),
        C::Struct(vec![C::Bytes(hex::decode(point_no_srid).unwrap()), C::Null])
    );
    let geoms = nullable(array_of(95_002, "_geometry", ty(95_000, -1, "geometry", TypeKind::Unknown), -1));
    assert!(schema_of(&geoms, &cfg).items.unwrap().optional);

    let vector = nullable(ty(96_000, -1, "vector", TypeKind::Unknown));
    let s = schema_of(&vector, &cfg);
    assert_eq!((s.schema_type, s.name.as_deref()), (SchemaType::Array, Some(semantic::DOUBLE_VECTOR)));
    assert!(!s.items.as_ref().unwrap().optional);
    assert_eq!(
        value_of(&vector, text("[1,2.5,-3]"), &cfg),
        C::Array(vec![C::Float64(1.0), C::Float64(2.5), C::Float64(-3.0)])
    );
    let halfvec = nullable(ty(96_001, -1, "halfvec", TypeKind::Unknown));
    assert_eq!(schema_of(&halfvec, &cfg).name.as_deref(), Some(semantic::FLOAT_VECTOR));
    assert_eq!(value_of(&halfvec, text("[0.5]"), &cfg), C::Array(vec![C::Float32(0.5)]));
    let sparse = nullable(ty(96_002, -1, "sparsevec", TypeKind::Unknown));
    let s = schema_of(&sparse, &cfg);
    assert_eq!(
        (s.name.as_deref(), s.doc.as_deref()),
        (Some(semantic::SPARSE_DOUBLE_VECTOR), Some("Sparse double vector"))
    );
    assert_eq!(
        value_of(&sparse, text("{3:2,1:1.5}/5"), &cfg),
        C::Struct(vec![
            C::Int16(5),
            C::Map(vec![(C::Int16(1), C::Float64(1.5)), (C::Int16(3), C::Float64(2.0))])
        ])
    );
    let isbn = nullable(ty(97_000, -1, "isbn", TypeKind::Unknown));
    assert_eq!(value_of(&isbn, text("0-393-04002-X"), &cfg), C::String("0-393-04002-X".into()));
    // Other unknown extension types stay omitted.
    assert_eq!(
        column_schema(&table(), &nullable(ty(98_000, -1, "cube", TypeKind::Unknown)), &cfg).unwrap(),
        None
    );
}

#[test]
fn a_null_element_in_an_array_with_required_elements_nulls_the_column() {
    let cfg = config(&[]);
    let arr = nullable(ty(90001, -1, "_mood", TypeKind::Array { element: Box::new(mood()) }));
    let dims = vec![ArrayDim { len: 2, lower_bound: 1 }];
    let with_null = Value::Array(Array { dims: dims.clone(), elements: vec![text("ok"), Value::Null] });
    assert_eq!(value_of(&arr, with_null, &cfg), C::Null, "not an array holding a null the schema forbids");
    let fine = Value::Array(Array { dims, elements: vec![text("ok"), text("sad")] });
    assert_eq!(value_of(&arr, fine, &cfg), C::Array(vec![C::String("ok".into()), C::String("sad".into())]));
}
