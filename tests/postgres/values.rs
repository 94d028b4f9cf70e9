//! Value decoding checked against what a real server sends, in text and binary form.
//!
//! Each test puts literals of one family of types into a real table, reads every column back as
//! text (simple query protocol) and as binary (extended protocol), resolves the column's type from
//! its `pg_attribute` OID and modifier with [`TypeRegistry`], and checks that both forms decode to
//! the same [`Value`] and that it is the hand-written expected one.

use std::error::Error;

use sluice_core::time::{MICROS_PER_DAY, days_from_civil};
use sluice_core::value::{Array, ArrayDim};
use sluice_core::{ColumnType, Date, Decimal, Numeric, Timestamp, TypeKind, Value};
use sluice_postgres::types::{TypeRegistry, builtin};
use sluice_postgres::value::{ValueErrorKind, decode_binary, decode_text};
use sluice_tests::TestDb;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::{FromSql, Type};

/// A column's binary wire bytes, whatever its type.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The session settings the text decoders document.
const SESSION: &str = "SET DateStyle = ISO; SET IntervalStyle = postgres; SET TimeZone = 'UTC';
     SET extra_float_digits = 3; SET bytea_output = hex; SET lc_monetary = 'C'; SET client_encoding = UTF8;";

/// One column: its declared type, the SQL expression inserted, and the value it must decode to.
type Case = (&'static str, &'static str, Value);

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

fn dec(s: &str) -> Value {
    Value::Numeric(Numeric::Finite(Decimal::parse(s).unwrap()))
}

fn days(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d)
}

fn date(y: i64, m: u32, d: u32) -> Value {
    Value::Date(Date::Days(days(y, m, d) as i32))
}

fn micros(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64, us: i64) -> Timestamp {
    Timestamp::Micros(days(y, mo, d) * MICROS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1_000_000 + us)
}

fn arr(dims: &[(u32, i32)], elements: Vec<Value>) -> Value {
    Value::Array(Array {
        dims: dims.iter().map(|&(len, lower_bound)| ArrayDim { len, lower_bound }).collect(),
        elements,
    })
}

fn list(dims: &[(u32, i32)], elements: impl IntoIterator<Item = Value>) -> Value {
    arr(dims, elements.into_iter().collect())
}

fn bits(len: u32, data: &[u8]) -> Value {
    Value::Bits { len, data: data.to_vec() }
}

/// Debug text compares NaN equal to NaN, unlike `PartialEq`.
fn same(a: &Value, b: &Value) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

async fn database(name: &str) -> TestDb {
    let db = TestDb::create(name).await.unwrap();
    db.exec(SESSION).await.unwrap();
    db
}

/// The first row of a query in text form (simple query protocol).
async fn text_row(client: &tokio_postgres::Client, sql: &str) -> Vec<Option<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .unwrap()
}

/// Stores every case in one row of a new table, reads it back in both forms and checks every
/// column, reporting all mismatches at once.
async fn check(db: &TestDb, table: &str, cases: &[Case]) {
    let columns: Vec<String> = cases.iter().enumerate().map(|(i, (ty, ..))| format!("c{i} {ty}")).collect();
    let literals: Vec<&str> = cases.iter().map(|(_, lit, _)| *lit).collect();
    db.exec(&format!(
        "CREATE TABLE {table} ({}); INSERT INTO {table} VALUES ({});",
        columns.join(", "),
        literals.join(", ")
    ))
    .await
    .unwrap();
    let select = format!("SELECT * FROM {table}");

    let texts = text_row(&db.client, &select).await;
    let row = db.client.query_one(&select, &[]).await.unwrap();
    let attrs = db
        .client
        .query(
            "SELECT atttypid, atttypmod FROM pg_attribute
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .await
        .unwrap();

    let mut registry = TypeRegistry::new();
    let mut failures = Vec::new();
    for (i, (declared, literal, expected)) in cases.iter().enumerate() {
        let ty = registry.resolve(&db.client, attrs[i].get(0), attrs[i].get(1)).await.unwrap();
        let what = format!("column c{i} {declared} = {literal}");
        let from_text = match &texts[i] {
            None => Ok(Value::Null),
            Some(s) => decode_text(&ty, s.as_bytes()),
        };
        let from_text = match from_text {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{what}: text {:?} failed: {e}", texts[i]));
                continue;
            }
        };
        if !same(&from_text, expected) {
            failures
                .push(format!("{what}: text {:?} decoded to {from_text:?}, expected {expected:?}", texts[i]));
        }
        let raw: Option<Raw> = row.get(i);
        let from_binary = match raw {
            None => Ok(Value::Null),
            Some(Raw(bytes)) => decode_binary(&ty, &bytes),
        };
        match (TypeRegistry::all_types_support_binary(&ty), from_binary) {
            (true, Ok(v)) if same(&v, &from_text) => {}
            (true, Ok(v)) => failures.push(format!("{what}: binary decoded to {v:?}, text to {from_text:?}")),
            (true, Err(e)) => failures.push(format!("{what}: binary failed: {e}")),
            (false, Err(e)) if matches!(e.kind(), ValueErrorKind::Unsupported(_)) => {}
            (false, other) => failures.push(format!("{what}: binary marked unsupported but gave {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} columns failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn numbers_keep_scale_specials_and_extremes_in_both_forms() {
    let db = database("values_numbers").await;
    let cases: Vec<Case> = vec![
        ("bool", "true", Value::Bool(true)),
        ("bool", "false", Value::Bool(false)),
        ("int2", "-32768", Value::Int16(i16::MIN)),
        ("int4", "2147483647", Value::Int32(i32::MAX)),
        ("int8", "-9223372036854775808", Value::Int64(i64::MIN)),
        ("int4", "NULL", Value::Null),
        ("oid", "4000000000", Value::Int64(4_000_000_000)),
        ("xid", "'123'", Value::Int64(123)),
        ("cid", "'5'", Value::Int64(5)),
        ("float4", "1.5e-5", Value::Float32(1.5e-5)),
        ("float4", "3.4028235e38", Value::Float32(3.4028235e38)),
        ("float4", "'NaN'", Value::Float32(f32::NAN)),
        ("float4", "'-Infinity'", Value::Float32(f32::NEG_INFINITY)),
        ("float8", "0.1", Value::Float64(0.1)),
        ("float8", "1e100", Value::Float64(1e100)),
        ("float8", "'-0'", Value::Float64(-0.0)),
        ("float8", "'Infinity'", Value::Float64(f64::INFINITY)),
        ("float8", "'NaN'", Value::Float64(f64::NAN)),
        ("numeric(10,3)", "12.345", dec("12.345")),
        ("numeric(3,2)", "1.1", dec("1.10")),
        ("numeric(5)", "12345", dec("12345")),
        ("numeric", "10.1111", dec("10.1111")),
        ("numeric", "0", dec("0")),
        ("numeric", "'0.000'", dec("0.000")),
        ("numeric", "100000000", dec("100000000")),
        ("numeric", "'1e-20'", dec("0.00000000000000000001")),
        ("numeric", "'-0.000123456789012345678901234567890'", dec("-0.000123456789012345678901234567890")),
        (
            "numeric",
            "'123456789012345678901234567890.123456789'",
            dec("123456789012345678901234567890.123456789"),
        ),
        ("numeric", "'NaN'", Value::Numeric(Numeric::NaN)),
        ("numeric", "'Infinity'", Value::Numeric(Numeric::PositiveInfinity)),
        ("numeric", "'-Infinity'", Value::Numeric(Numeric::NegativeInfinity)),
        ("money", "'$1,234.56'", dec("1234.56")),
        ("money", "-1234.56", dec("-1234.56")),
        ("money", "'(5)'", dec("-5.00")),
        ("money", "0.5", dec("0.50")),
        ("money", "'-92233720368547758.08'", dec("-92233720368547758.08")),
    ];
    check(&db, "numbers", &cases).await;
}

#[tokio::test]
async fn strings_bytes_uuids_and_json_decode_to_text_bytes_and_uuid() {
    let db = database("values_strings").await;
    let cases: Vec<Case> = vec![
        ("char(3)", "'ab'", t("ab ")),
        ("bpchar", "'x'", t("x")),
        ("varchar(10)", "'héllo'", t("héllo")),
        ("varchar", "''", t("")),
        ("text", "'it''s \"quoted\" \\ 日本'", t("it's \"quoted\" \\ 日本")),
        ("text", "E'line\\nbreak\\ttab'", t("line\nbreak\ttab")),
        ("name", "'pg_class'", t("pg_class")),
        ("\"char\"", "'a'", t("a")),
        ("\"char\"", "'é'", t("\\303")),
        ("\"char\"", "''", t("")),
        ("bytea", "'\\x0102ff'", Value::Bytes(vec![1, 2, 0xff])),
        ("bytea", "'\\001\\\\abc'::bytea", Value::Bytes(b"\x01\\abc".to_vec())),
        ("bytea", "''", Value::Bytes(vec![])),
        (
            "uuid",
            "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
            Value::Uuid([
                0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
                0x11,
            ]),
        ),
        ("json", "'{\"a\": [1, 2],  \"b\":null}'", t("{\"a\": [1, 2],  \"b\":null}")),
        ("jsonb", "'{\"bar\": \"baz\", \"a\": 1}'", t("{\"a\": 1, \"bar\": \"baz\"}")),
        ("jsonb", "'\"日本\"'", t("\"日本\"")),
        ("jsonpath", "'$.a[*] ? (@ > 1)'", t("$.\"a\"[*]?(@ > 1)")),
        ("xml", "'<a x=\"1\">b</a>'", t("<a x=\"1\">b</a>")),
        ("regclass", "'pg_class'", t("pg_class")),
        ("regtype", "'int4'", t("integer")),
        ("regproc", "'now'", t("now")),
    ];
    check(&db, "strings", &cases).await;

    // The legacy escape output is decoded too.
    db.exec("SET bytea_output = escape").await.unwrap();
    let text = text_row(&db.client, "SELECT '\\x00015c41ff0a'::bytea").await.remove(0).unwrap();
    let ty = TypeRegistry::new().resolve(&db.client, 17, -1).await.unwrap();
    assert_eq!(decode_text(&ty, text.as_bytes()), Ok(Value::Bytes(vec![0, 1, b'\\', b'A', 0xff, b'\n'])));
}

#[tokio::test]
async fn dates_times_and_intervals_cover_bc_big_years_infinities_and_offsets() {
    let db = database("values_datetime").await;
    let tz = Value::TimestampTz;
    let ts = Value::Timestamp;
    let iv = |months, days, micros| Value::Interval { months, days, micros };
    let cases: Vec<Case> = vec![
        ("date", "'2016-11-04'", date(2016, 11, 4)),
        ("date", "'0044-03-15 BC'", date(-43, 3, 15)),
        ("date", "'4713-11-24 BC'", date(-4712, 11, 24)),
        ("date", "'21016-11-04'", date(21016, 11, 4)),
        ("date", "'5874897-12-31'", date(5_874_897, 12, 31)),
        ("date", "'infinity'", Value::Date(Date::PositiveInfinity)),
        ("date", "'-infinity'", Value::Date(Date::NegativeInfinity)),
        ("time", "'13:51:30.123456'", Value::Time(49_890_123_456)),
        ("time(3)", "'13:51:30.123456'", Value::Time(49_890_123_000)),
        ("time", "'24:00:00'", Value::Time(MICROS_PER_DAY)),
        ("timetz", "'13:51:30.123789+02'", Value::TimeTz { micros: 49_890_123_789, offset_seconds: 7200 }),
        ("timetz", "'01:00:00-03:30'", Value::TimeTz { micros: 3_600_000_000, offset_seconds: -12_600 }),
        ("timetz", "'01:00:00+05:45:10'", Value::TimeTz { micros: 3_600_000_000, offset_seconds: 20_710 }),
        ("timetz(0)", "'24:00:00+00'", Value::TimeTz { micros: MICROS_PER_DAY, offset_seconds: 0 }),
        ("timestamp", "'2016-11-04 13:51:30.123456'", ts(micros(2016, 11, 4, 13, 51, 30, 123_456))),
        ("timestamp(3)", "'2016-11-04 13:51:30.123456'", ts(micros(2016, 11, 4, 13, 51, 30, 123_000))),
        ("timestamp", "'0044-03-15 12:00:00 BC'", ts(micros(-43, 3, 15, 12, 0, 0, 0))),
        ("timestamp", "'21016-11-04 13:51:30'", ts(micros(21016, 11, 4, 13, 51, 30, 0))),
        ("timestamp", "'1969-12-31 23:59:59.999999'", ts(Timestamp::Micros(-1))),
        ("timestamp", "'294246-12-31 23:59:59'", ts(micros(294_246, 12, 31, 23, 59, 59, 0))),
        ("timestamp", "'infinity'", ts(Timestamp::PositiveInfinity)),
        ("timestamp", "'-infinity'", ts(Timestamp::NegativeInfinity)),
        ("timestamptz", "'2016-11-04 13:51:30.123456+02'", tz(micros(2016, 11, 4, 11, 51, 30, 123_456))),
        ("timestamptz(0)", "'2016-11-04 13:51:30.6+00'", tz(micros(2016, 11, 4, 13, 51, 31, 0))),
        ("timestamptz", "'21016-11-04 13:51:30+07'", tz(micros(21016, 11, 4, 6, 51, 30, 0))),
        ("timestamptz", "'4713-11-24 00:00:00+00 BC'", tz(micros(-4712, 11, 24, 0, 0, 0, 0))),
        ("timestamptz", "'-infinity'", tz(Timestamp::NegativeInfinity)),
        ("interval", "'1 year 2 mons 3 days 04:05:06.78'", iv(14, 3, 14_706_780_000)),
        ("interval", "'-1 days 2 hours'", iv(0, -1, 7_200_000_000)),
        ("interval", "'1 day -2 hours'", iv(0, 1, -7_200_000_000)),
        ("interval", "'-1 year 2 mons'", iv(-10, 0, 0)),
        ("interval", "'1 mon -1 day 1 hour'", iv(1, -1, 3_600_000_000)),
        ("interval", "'0'", iv(0, 0, 0)),
        ("interval", "'1000000 hours'", iv(0, 0, 3_600_000_000_000_000)),
        ("interval", "'-178956970 years -8 mons'", iv(i32::MIN, 0, 0)),
        ("interval", "interval '-2562047788 hours' - interval '54.775808 seconds'", iv(0, 0, i64::MIN)),
        ("interval(0)", "'1.6 seconds'", iv(0, 0, 2_000_000)),
    ];
    check(&db, "datetimes", &cases).await;

    // PostgreSQL allows timestamps up to 294276 AD, beyond i64 microseconds since 1970: an error in
    // both forms, never a wrapped value.
    let sql = "SELECT '294276-12-31 23:59:59'::timestamp";
    let ty = TypeRegistry::new().resolve(&db.client, 1114, -1).await.unwrap();
    let text = text_row(&db.client, sql).await.remove(0).unwrap();
    let Raw(binary) = db.client.query_one(sql, &[]).await.unwrap().get(0);
    for e in [decode_text(&ty, text.as_bytes()).unwrap_err(), decode_binary(&ty, &binary).unwrap_err()] {
        assert_eq!(e.kind(), &ValueErrorKind::OutOfRange("timestamp"));
    }
}

#[tokio::test]
async fn network_bit_string_and_text_search_binary_forms_render_the_server_text() {
    let db = database("values_network").await;
    let cases: Vec<Case> = vec![
        ("inet", "'192.168.2.0/24'", t("192.168.2.0/24")),
        ("inet", "'1.2.3.4'", t("1.2.3.4")),
        ("inet", "'::1'", t("::1")),
        ("inet", "'::ffff:1.2.3.4'", t("::ffff:1.2.3.4")),
        ("inet", "'::1.2.3.4'", t("::1.2.3.4")),
        ("inet", "'1:0:0:2:0:0:0:3/64'", t("1:0:0:2::3/64")),
        ("inet", "'fe80::1:0:0:1'", t("fe80::1:0:0:1")),
        ("cidr", "'10/8'", t("10.0.0.0/8")),
        ("cidr", "'1.2.3.4/32'", t("1.2.3.4/32")),
        ("cidr", "'::/0'", t("::/0")),
        ("cidr", "'2001:db8::/32'", t("2001:db8::/32")),
        ("cidr", "'::1/128'", t("::1/128")),
        ("macaddr", "'08:00:2B:01:02:03'", t("08:00:2b:01:02:03")),
        ("macaddr8", "'08-00-2b-01-02-03'", t("08:00:2b:ff:fe:01:02:03")),
        ("bit(8)", "B'10100000'", bits(8, &[0xa0])),
        ("bit(1)", "B'1'", bits(1, &[0x80])),
        ("bit(12)", "B'111100001111'", bits(12, &[0xf0, 0xf0])),
        ("varbit(16)", "B'101'", bits(3, &[0xa0])),
        ("varbit", "B''", bits(0, &[])),
        ("tsvector", "'a fat cat sat on a mat'", t("'a' 'cat' 'fat' 'mat' 'on' 'sat'")),
        ("tsvector", "to_tsvector('english', 'The quick brown foxes')", t("'brown':3 'fox':4 'quick':2")),
        ("tsvector", "'a:1A,2B b:3C d:4D'", t("'a':1A,2B 'b':3C 'd':4")),
        ("tsvector", "$$'it''s' 'back\\\\slash'$$", t("'back\\\\slash' 'it''s'")),
        ("tsvector", "''", t("")),
        ("tsquery", "'fat & (rat | cat)'", t("'fat' & ( 'rat' | 'cat' )")),
        ("tsquery", "'!a <-> b:*AB'", t("!'a' <-> 'b':*AB")),
        ("tsquery", "'a <2> (b | c)'", t("'a' <2> ( 'b' | 'c' )")),
        ("tsquery", "'(a <-> b) <-> c'", t("'a' <-> 'b' <-> 'c'")),
        ("tsquery", "'a <-> (b <-> c)'", t("'a' <-> ( 'b' <-> 'c' )")),
        ("tsquery", "'!(a & b)'", t("!( 'a' & 'b' )")),
        ("tsquery", "'a & b | c & !d'", t("'a' & 'b' | 'c' & !'d'")),
        ("tsquery", "'(a | b) & c:D'", t("( 'a' | 'b' ) & 'c':D")),
        ("tsquery", "$$'it''s'$$", t("'it''s'")),
        ("tsquery", "''", t("")),
    ];
    check(&db, "network", &cases).await;
}

#[tokio::test]
async fn geometric_types_give_points_and_server_text() {
    let db = database("values_geometry").await;
    let cases: Vec<Case> = vec![
        ("point", "'(1,2)'", Value::Point { x: 1.0, y: 2.0 }),
        ("point", "'(1.5e-5, -Infinity)'", Value::Point { x: 1.5e-5, y: f64::NEG_INFINITY }),
        ("point", "'(NaN, 0.1)'", Value::Point { x: f64::NAN, y: 0.1 }),
        ("line", "'{1,-1,0}'", t("{1,-1,0}")),
        ("lseg", "'[(1,2),(3,4.5)]'", t("[(1,2),(3,4.5)]")),
        ("box", "'(1,2),(3,4)'", t("(3,4),(1,2)")),
        ("path", "'[(1,2),(3,4)]'", t("[(1,2),(3,4)]")),
        ("path", "'((1,2),(3,4),(5,6))'", t("((1,2),(3,4),(5,6))")),
        ("polygon", "'((1,2),(3,4),(5,0))'", t("((1,2),(3,4),(5,0))")),
        ("circle", "'<(10,20),10>'", t("<(10,20),10>")),
        ("circle", "'((0.1,0.2),0.30000000000000004)'", t("<(0.1,0.2),0.30000000000000004>")),
        ("box", "'(1e20,-1e-7),(0,0)'", t("(1e+20,0),(0,-1e-07)")),
    ];
    check(&db, "geometry", &cases).await;
}

#[tokio::test]
async fn extension_types_hstore_ltree_and_citext_decode_after_create_extension() {
    let db = database("values_extensions").await;
    db.exec("CREATE EXTENSION hstore; CREATE EXTENSION ltree; CREATE EXTENSION citext;").await.unwrap();
    let pairs = |v: &[(&str, Option<&str>)]| {
        Value::Hstore(v.iter().map(|(k, v)| (k.to_string(), v.map(str::to_string))).collect())
    };
    let cases: Vec<Case> = vec![
        ("hstore", "'\"a\"=>\"1\", \"b\"=>NULL'", pairs(&[("a", Some("1")), ("b", None)])),
        (
            "hstore",
            r#"E'k=>"x\\"y", "back\\\\slash"=>"", n=>"NULL"'"#,
            pairs(&[("k", Some("x\"y")), ("n", Some("NULL")), ("back\\slash", Some(""))]),
        ),
        ("hstore", "''", pairs(&[])),
        ("hstore", "'\"日本\"=>\"語\"'", pairs(&[("日本", Some("語"))])),
        ("ltree", "'Top.Science.Astronomy'", t("Top.Science.Astronomy")),
        ("ltree", "''", t("")),
        ("citext", "'MiXeD Case'", t("MiXeD Case")),
        (
            "hstore[]",
            "ARRAY['a=>1'::hstore, NULL]",
            list(&[(2, 1)], [pairs(&[("a", Some("1"))]), Value::Null]),
        ),
        ("ltree[]", "'{a.b,c}'", list(&[(2, 1)], [t("a.b"), t("c")])),
        ("citext[]", "'{\"A b\",C}'", list(&[(2, 1)], [t("A b"), t("C")])),
    ];
    check(&db, "extensions", &cases).await;
}

#[tokio::test]
async fn enums_domains_composites_and_reg_types_resolve_from_the_catalog() {
    let db = database("values_user_types").await;
    db.exec(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN posint AS int CHECK (VALUE > 0);
         CREATE DOMAIN code AS varchar(5);
         CREATE DOMAIN price AS numeric(6,2);
         CREATE DOMAIN posints AS posint[];
         CREATE TYPE pair AS (a int, b text);",
    )
    .await
    .unwrap();
    let cases: Vec<Case> = vec![
        ("mood", "'happy'", t("happy")),
        ("mood[]", "'{sad,NULL,ok}'", list(&[(3, 1)], [t("sad"), Value::Null, t("ok")])),
        ("posint", "7", Value::Int32(7)),
        ("code", "'ab'", t("ab")),
        ("price", "1.5", dec("1.50")),
        ("posint[]", "'{1,2}'", list(&[(2, 1)], [Value::Int32(1), Value::Int32(2)])),
        ("posints", "'{3}'", list(&[(1, 1)], [Value::Int32(3)])),
        ("pair", "ROW(1, 'x y')", t("(1,\"x y\")")),
        ("pair[]", "ARRAY[ROW(1, 'a')::pair]", list(&[(1, 1)], [t("(1,a)")])),
        ("regclass", "'pg_type'", t("pg_type")),
        ("regtype[]", "'{int4,text}'", list(&[(2, 1)], [t("integer"), t("text")])),
    ];
    check(&db, "user_types", &cases).await;
}

#[tokio::test]
async fn ranges_and_multiranges_of_every_builtin_and_user_subtype_render_canonical_text() {
    let db = database("values_ranges").await;
    db.exec(
        "CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
         CREATE TYPE textrange AS RANGE (subtype = text, collation = \"C\");
         CREATE TYPE timerange AS RANGE (subtype = time);",
    )
    .await
    .unwrap();
    let cases: Vec<Case> = vec![
        ("int4range", "'[1,10)'", t("[1,10)")),
        ("int4range", "'(,5]'", t("(,6)")),
        ("int4range", "'empty'", t("empty")),
        ("int4range", "'(,)'", t("(,)")),
        ("int8range", "'[-9223372036854775808,0]'", t("[-9223372036854775808,1)")),
        ("numrange", "'[1.5,2.50)'", t("[1.5,2.50)")),
        ("numrange", "'(,Infinity]'", t("(,Infinity]")),
        ("tsrange", "'[2019-03-31 15:30,infinity)'", t("[\"2019-03-31 15:30:00\",infinity)")),
        (
            "tsrange",
            "'[0044-03-15 12:00 BC,2019-01-01)'",
            t("[\"0044-03-15 12:00:00 BC\",\"2019-01-01 00:00:00\")"),
        ),
        ("tstzrange", "'[2017-06-05 11:29:12.549426+00,)'", t("[\"2017-06-05 11:29:12.549426+00\",)")),
        ("tstzrange", "'(-infinity,2017-06-05 13:00+02]'", t("(-infinity,\"2017-06-05 11:00:00+00\"]")),
        ("daterange", "'[2020-01-01,2020-02-01)'", t("[2020-01-01,2020-02-01)")),
        ("daterange", "'[0001-01-01 BC,infinity]'", t("[\"0001-01-01 BC\",infinity]")),
        ("int4multirange", "'{[1,3), [5,7)}'", t("{[1,3),[5,7)}")),
        ("int4multirange", "'{}'", t("{}")),
        ("int8multirange", "'{(,0]}'", t("{(,1)}")),
        ("nummultirange", "'{[1.1,2.2], (3,)}'", t("{[1.1,2.2],(3,)}")),
        ("datemultirange", "'{[2020-01-01,2020-01-05)}'", t("{[2020-01-01,2020-01-05)}")),
        (
            "tsmultirange",
            "'{[2020-01-01 10:00,2020-01-01 11:00)}'",
            t("{[\"2020-01-01 10:00:00\",\"2020-01-01 11:00:00\")}"),
        ),
        ("tstzmultirange", "'{[2020-01-01 10:00+00,)}'", t("{[\"2020-01-01 10:00:00+00\",)}")),
        ("floatrange", "'[1.5,1e20)'", t("[1.5,1e+20)")),
        ("textrange", "textrange('a \"b', 'z\\y')", t("[\"a \"\"b\",\"z\\\\y\")")),
        ("textrange", "textrange('', 'plain')", t("[\"\",plain)")),
        ("timerange", "'[10:00,24:00]'", t("[10:00:00,24:00:00]")),
        ("floatmultirange", "'{[1,2), [3.25,4]}'", t("{[1,2),[3.25,4]}")),
        ("int4range[]", "'{\"[1,2)\",empty,NULL}'", list(&[(3, 1)], [t("[1,2)"), t("empty"), Value::Null])),
    ];
    check(&db, "ranges", &cases).await;
}

#[tokio::test]
async fn arrays_keep_nulls_bounds_nesting_and_quoted_elements() {
    let db = database("values_arrays").await;
    let i4 = Value::Int32;
    let cases: Vec<Case> = vec![
        ("int4[]", "'{1,2,NULL}'", list(&[(3, 1)], [i4(1), i4(2), Value::Null])),
        ("int4[]", "'{}'", arr(&[], vec![])),
        ("int4[][]", "'{{1,2},{3,4}}'", list(&[(2, 1), (2, 1)], (1..=4).map(i4))),
        ("int4[]", "'[0:1]={1,2}'", list(&[(2, 0)], [i4(1), i4(2)])),
        ("int4[]", "'[-2:-1][3:4]={{1,2},{3,4}}'", list(&[(2, -2), (2, 3)], (1..=4).map(i4))),
        ("int4[]", "'{{{1},{2}},{{3},{4}}}'", list(&[(2, 1), (2, 1), (1, 1)], (1..=4).map(i4))),
        ("int4[]", "'{NULL,NULL}'", list(&[(2, 1)], [Value::Null, Value::Null])),
        (
            "text[]",
            r#"E'{"a b","NULL",NULL,"x\\"y\\\\z","",plain,"{}","日本",",;"}'"#,
            list(
                &[(9, 1)],
                [
                    t("a b"),
                    t("NULL"),
                    Value::Null,
                    t("x\"y\\z"),
                    t(""),
                    t("plain"),
                    t("{}"),
                    t("日本"),
                    t(",;"),
                ],
            ),
        ),
        ("varchar(3)[]", "'{ab,NULL}'", list(&[(2, 1)], [t("ab"), Value::Null])),
        ("char(2)[]", "'{a,b}'", list(&[(2, 1)], [t("a "), t("b ")])),
        ("name[]", "'{x,y}'", list(&[(2, 1)], [t("x"), t("y")])),
        ("\"char\"[]", "'{a,\"\"}'", list(&[(2, 1)], [t("a"), t("")])),
        ("bool[]", "'{t,f}'", list(&[(2, 1)], [Value::Bool(true), Value::Bool(false)])),
        ("int2[]", "'{-1}'", list(&[(1, 1)], [Value::Int16(-1)])),
        ("int8[]", "'{9223372036854775807}'", list(&[(1, 1)], [Value::Int64(i64::MAX)])),
        ("oid[]", "'{4000000000}'", list(&[(1, 1)], [Value::Int64(4_000_000_000)])),
        ("float4[]", "'{1.5,NaN}'", list(&[(2, 1)], [Value::Float32(1.5), Value::Float32(f32::NAN)])),
        (
            "float8[]",
            "'{-Infinity,0.1}'",
            list(&[(2, 1)], [Value::Float64(f64::NEG_INFINITY), Value::Float64(0.1)]),
        ),
        (
            "numeric(5,2)[]",
            "'{1.5,NULL,NaN}'",
            list(&[(3, 1)], [dec("1.50"), Value::Null, Value::Numeric(Numeric::NaN)]),
        ),
        ("money[]", "'{1.5}'", list(&[(1, 1)], [dec("1.50")])),
        ("bytea[]", "'{\"\\\\x00ff\",NULL}'", list(&[(2, 1)], [Value::Bytes(vec![0, 0xff]), Value::Null])),
        (
            "uuid[]",
            "'{00000000-0000-0000-0000-000000000001}'",
            list(&[(1, 1)], [Value::Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])]),
        ),
        ("json[]", "ARRAY['{\"a\": 1}'::json]", list(&[(1, 1)], [t("{\"a\": 1}")])),
        ("jsonb[]", "ARRAY['[1, \"x\"]'::jsonb, NULL]", list(&[(2, 1)], [t("[1, \"x\"]"), Value::Null])),
        ("xml[]", "ARRAY['<a/>'::xml]", list(&[(1, 1)], [t("<a/>")])),
        (
            "date[]",
            "'{2016-11-04,infinity,\"0044-03-15 BC\"}'",
            list(&[(3, 1)], [date(2016, 11, 4), Value::Date(Date::PositiveInfinity), date(-43, 3, 15)]),
        ),
        ("time[]", "'{13:51:30.5}'", list(&[(1, 1)], [Value::Time(49_890_500_000)])),
        (
            "timetz[]",
            "'{01:00:00-03:30}'",
            list(&[(1, 1)], [Value::TimeTz { micros: 3_600_000_000, offset_seconds: -12_600 }]),
        ),
        (
            "timestamp[]",
            "'{\"2016-11-04 13:51:30\"}'",
            list(&[(1, 1)], [Value::Timestamp(micros(2016, 11, 4, 13, 51, 30, 0))]),
        ),
        (
            "timestamptz[]",
            "'{\"2020-04-01 13:51:02+02\",-infinity}'",
            list(
                &[(2, 1)],
                [
                    Value::TimestampTz(micros(2020, 4, 1, 11, 51, 2, 0)),
                    Value::TimestampTz(Timestamp::NegativeInfinity),
                ],
            ),
        ),
        (
            "interval[]",
            "'{\"1 day -02:00:00\"}'",
            list(&[(1, 1)], [Value::Interval { months: 0, days: 1, micros: -7_200_000_000 }]),
        ),
        ("inet[]", "'{::1,10.0.0.1/8}'", list(&[(2, 1)], [t("::1"), t("10.0.0.1/8")])),
        ("cidr[]", "'{10/8}'", list(&[(1, 1)], [t("10.0.0.0/8")])),
        ("macaddr[]", "'{08:00:2b:01:02:03}'", list(&[(1, 1)], [t("08:00:2b:01:02:03")])),
        ("macaddr8[]", "'{08:00:2b:ff:fe:01:02:03}'", list(&[(1, 1)], [t("08:00:2b:ff:fe:01:02:03")])),
        ("bit(2)[]", "'{10,01}'", list(&[(2, 1)], [bits(2, &[0x80]), bits(2, &[0x40])])),
        ("varbit[]", "'{1,\"\"}'", list(&[(2, 1)], [bits(1, &[0x80]), bits(0, &[])])),
        ("tsvector[]", "ARRAY['a b'::tsvector]", list(&[(1, 1)], [t("'a' 'b'")])),
        ("tsquery[]", "ARRAY['a & b'::tsquery]", list(&[(1, 1)], [t("'a' & 'b'")])),
        ("point[]", "'{\"(1,2)\",NULL}'", list(&[(2, 1)], [Value::Point { x: 1.0, y: 2.0 }, Value::Null])),
        ("box[]", "'{(1,2),(3,4);(5,6),(7,8)}'", list(&[(2, 1)], [t("(3,4),(1,2)"), t("(7,8),(5,6)")])),
        ("circle[]", "ARRAY['<(1,2),3>'::circle]", list(&[(1, 1)], [t("<(1,2),3>")])),
        ("lseg[]", "ARRAY['[(1,2),(3,4)]'::lseg]", list(&[(1, 1)], [t("[(1,2),(3,4)]")])),
        ("path[]", "ARRAY['[(1,2),(3,4)]'::path]", list(&[(1, 1)], [t("[(1,2),(3,4)]")])),
        ("polygon[]", "ARRAY['((1,2),(3,4))'::polygon]", list(&[(1, 1)], [t("((1,2),(3,4))")])),
        ("line[]", "ARRAY['{1,2,3}'::line]", list(&[(1, 1)], [t("{1,2,3}")])),
        ("jsonpath[]", "ARRAY['$.a'::jsonpath]", list(&[(1, 1)], [t("$.\"a\"")])),
        (
            "tstzrange[]",
            "ARRAY[tstzrange('2020-01-01 00:00+00', NULL)]",
            list(&[(1, 1)], [t("[\"2020-01-01 00:00:00+00\",)")]),
        ),
        ("int4multirange[]", "ARRAY['{[1,2)}'::int4multirange]", list(&[(1, 1)], [t("{[1,2)}")])),
    ];
    check(&db, "arrays", &cases).await;
}

#[tokio::test]
async fn builtin_table_matches_the_server_catalog() {
    let db = database("values_builtin_catalog").await;
    let oids: Vec<u32> = (0..20_000).filter(|&oid| builtin(oid).is_some()).collect();
    assert!(oids.len() >= 130, "only {} built-in OIDs", oids.len());
    let rows = db
        .client
        .query(
            "SELECT t.oid, t.typname::text, t.typelem, r.rngsubtype, mr.rngsubtype, t.typcategory::text
             FROM pg_type t
             LEFT JOIN pg_range r ON r.rngtypid = t.oid
             LEFT JOIN pg_range mr ON mr.rngmultitypid = t.oid
             WHERE t.oid = ANY($1)",
            &[&oids],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), oids.len(), "some built-in OIDs do not exist on the server");
    for row in rows {
        let oid: u32 = row.get(0);
        let typname: String = row.get(1);
        let typelem: u32 = row.get(2);
        let range_sub: Option<u32> = row.get(3);
        let multirange_sub: Option<u32> = row.get(4);
        let category: String = row.get(5);
        let (name, kind) = builtin(oid).unwrap();
        assert_eq!(name, typname, "name of {oid}");
        match kind {
            TypeKind::Array { element } => assert_eq!(element.oid, typelem, "element of {typname}"),
            TypeKind::Range { element } => assert_eq!(Some(element.oid), range_sub, "subtype of {typname}"),
            TypeKind::MultiRange { element } => {
                assert_eq!(Some(element.oid), multirange_sub, "subtype of {typname}")
            }
            _ => assert_ne!(category, "A", "{typname} is an array"),
        }
    }
    for name in [
        "bool",
        "bytea",
        "char",
        "name",
        "int8",
        "int2",
        "int4",
        "regproc",
        "text",
        "oid",
        "xid",
        "cid",
        "json",
        "xml",
        "point",
        "lseg",
        "path",
        "box",
        "polygon",
        "line",
        "cidr",
        "float4",
        "float8",
        "circle",
        "macaddr8",
        "money",
        "macaddr",
        "inet",
        "bpchar",
        "varchar",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "interval",
        "timetz",
        "bit",
        "varbit",
        "numeric",
        "regprocedure",
        "regoper",
        "regclass",
        "regtype",
        "uuid",
        "tsvector",
        "tsquery",
        "jsonb",
        "jsonpath",
        "int4range",
        "numrange",
        "tsrange",
        "tstzrange",
        "daterange",
        "int8range",
        "int4multirange",
        "nummultirange",
        "tsmultirange",
        "tstzmultirange",
        "datemultirange",
        "int8multirange",
    ] {
        let row = db
            .client
            .query_one("SELECT oid, typarray FROM pg_type WHERE typname = $1 AND typnamespace = 11", &[&name])
            .await
            .unwrap();
        let (oid, array): (u32, u32) = (row.get(0), row.get(1));
        assert_eq!(builtin(oid).map(|(n, _)| n), Some(name), "{name}");
        assert_eq!(builtin(array).map(|(n, _)| n.to_string()), Some(format!("_{name}")), "{name}[]");
    }
}

#[tokio::test]
async fn builtins_resolve_without_a_query() {
    let db = database("values_builtin_no_query").await;
    let closed = db.connect().await.unwrap();
    closed.batch_execute("SELECT pg_terminate_backend(pg_backend_pid())").await.ok();
    assert!(closed.simple_query("SELECT 1").await.is_err(), "the connection should be gone");
    let mut registry = TypeRegistry::new();
    let t = registry.resolve(&closed, 1231, (10 << 16 | 2) + 4).await.unwrap();
    let TypeKind::Array { element } = &t.kind else { panic!("not an array: {t:?}") };
    assert_eq!(element.numeric_precision_scale(), Some((10, 2)));
    assert_eq!(t.name.as_ref(), "_numeric");
    let r = registry.resolve(&closed, 3910, -1).await.unwrap();
    assert!(matches!(&r.kind, TypeKind::Range { element } if element.kind == TypeKind::TimestampTz));
    assert!(registry.resolve(&closed, 999_999, -1).await.is_err(), "a catalog type needs the connection");
}

#[tokio::test]
async fn registry_resolves_user_types_and_refreshes_them_after_invalidate() {
    let db = database("values_registry").await;
    db.exec(
        "CREATE EXTENSION hstore;
         CREATE TYPE mood AS ENUM ('sad', 'ok');
         CREATE DOMAIN code AS varchar(5);
         CREATE DOMAIN codes AS code[];
         CREATE TYPE pair AS (a int, b text);
         CREATE TYPE floatrange AS RANGE (subtype = float8);",
    )
    .await
    .unwrap();
    let oid = |name: &'static str| {
        let client = &db.client;
        async move {
            let row = client.query_one("SELECT $1::text::regtype::oid", &[&name]).await.unwrap();
            row.get::<_, u32>(0)
        }
    };
    let mut registry = TypeRegistry::new();

    let mood = registry.resolve(&db.client, oid("mood").await, -1).await.unwrap();
    let labels = |t: &ColumnType| match &t.kind {
        TypeKind::Enum { labels } => labels.to_vec(),
        other => panic!("not an enum: {other:?}"),
    };
    assert_eq!(labels(&mood), ["sad", "ok"]);
    assert_eq!(mood.name.as_ref(), "mood");
    let mood_array = registry.resolve(&db.client, oid("mood[]").await, -1).await.unwrap();
    assert!(matches!(&mood_array.kind, TypeKind::Array { element } if labels(element) == ["sad", "ok"]));

    db.exec("ALTER TYPE mood ADD VALUE 'happy'; ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';").await.unwrap();
    let cached = registry.resolve(&db.client, mood.oid, -1).await.unwrap();
    assert_eq!(labels(&cached), ["sad", "ok"], "cached until invalidated");
    registry.invalidate(mood.oid);
    let fresh = registry.resolve(&db.client, mood.oid, -1).await.unwrap();
    assert_eq!(labels(&fresh), ["sad", "meh", "ok", "happy"], "labels follow enumsortorder");
    let fresh_array = registry.resolve(&db.client, mood_array.oid, -1).await.unwrap();
    assert!(matches!(&fresh_array.kind, TypeKind::Array { element } if labels(element).len() == 4));

    let code = registry.resolve(&db.client, oid("code").await, -1).await.unwrap();
    assert_eq!(code.length(), Some(5), "the domain's typtypmod becomes the base modifier");
    assert_eq!(code.base().kind, TypeKind::Varchar);
    let codes = registry.resolve(&db.client, oid("codes").await, -1).await.unwrap();
    let TypeKind::Domain { base } = &codes.kind else { panic!("not a domain: {codes:?}") };
    assert!(matches!(&base.kind, TypeKind::Array { element } if element.length() == Some(5)));

    let hstore = registry.resolve(&db.client, oid("hstore").await, -1).await.unwrap();
    assert_eq!(hstore.kind, TypeKind::Hstore);
    let pair = registry.resolve(&db.client, oid("pair").await, -1).await.unwrap();
    assert_eq!(pair.kind, TypeKind::Composite);
    let range = registry.resolve(&db.client, oid("floatrange").await, -1).await.unwrap();
    assert!(matches!(&range.kind, TypeKind::Range { element } if element.kind == TypeKind::Float8));
    let multi = registry.resolve(&db.client, oid("floatmultirange").await, -1).await.unwrap();
    assert!(matches!(&multi.kind, TypeKind::MultiRange { element } if element.kind == TypeKind::Float8));
    let pg_lsn = registry.resolve(&db.client, oid("pg_lsn").await, -1).await.unwrap();
    assert_eq!(pg_lsn.kind, TypeKind::Unknown);
    let gone = registry.resolve(&db.client, 999_999, -1).await.unwrap();
    assert_eq!(gone.kind, TypeKind::Unknown, "a dropped type still decodes as text");
}
