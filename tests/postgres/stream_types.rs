//! Every supported type through INSERT, UPDATE and DELETE on the replication stream, in text and in
//! binary tuple mode, checked against the same rows read back with an ordinary SELECT (the server's
//! output functions, decoded independently of pgoutput).

use sluice_core::{Op, Row, Value};
use sluice_postgres::replication::connect_sql;
use sluice_postgres::types::TypeRegistry;
use sluice_postgres::value::decode_text;
use sluice_tests::TestDb;

use sluice_tests::capture::{Capture, after, before, config};

/// Columns of the type table: name, SQL type, and three literals (typical, edge, another).
const COLUMNS: &[(&str, &str, [&str; 3])] = &[
    ("c_bool", "boolean", ["true", "false", "true"]),
    ("c_int2", "smallint", ["-32768", "32767", "0"]),
    ("c_int4", "integer", ["-2147483648", "2147483647", "42"]),
    ("c_int8", "bigint", ["-9223372036854775808", "9223372036854775807", "7"]),
    ("c_float4", "real", ["1.5", "'NaN'", "'-Infinity'"]),
    ("c_float8", "double precision", ["3.141592653589793", "'Infinity'", "-0.0"]),
    ("c_numeric", "numeric", ["10.1111", "'NaN'", "'-Infinity'"]),
    (
        "c_numeric_big",
        "numeric",
        ["123456789012345678901234567890.000000000000000000001", "'Infinity'", "-0.5"],
    ),
    ("c_numeric_ps", "numeric(10,3)", ["12.345", "-9999999.999", "1.1"]),
    ("c_money", "money", ["1234.56", "-1.99", "0"]),
    ("c_char", "char(3)", ["'ab'", "'xyz'", "''"]),
    ("c_varchar", "varchar(20)", ["'héllo wörld'", "'tab\tnew\nline'", "'\\'"]),
    ("c_text", "text", ["'plain'", "'emoji 🚀 and quote '''''", "''"]),
    ("c_name", "name", ["'a_name'", "'Z'", "'n'"]),
    ("c_qchar", "\"char\"", ["'q'", "'Z'", "'0'"]),
    ("c_bytea", "bytea", ["'\\x010203'", "'\\x'", "'\\x00ff'"]),
    ("c_date", "date", ["'2016-11-04'", "'4713-01-01 BC'", "'infinity'"]),
    ("c_date_big", "date", ["'21016-11-04'", "'-infinity'", "'1970-01-01'"]),
    ("c_time", "time", ["'13:51:30.123456'", "'24:00:00'", "'00:00:00'"]),
    ("c_time3", "time(3)", ["'13:51:30.123'", "'23:59:59.999'", "'00:00:01'"]),
    ("c_timetz", "timetz", ["'13:51:30.123789+02:00'", "'00:00:00-05:45'", "'23:59:59+14'"]),
    ("c_ts", "timestamp", ["'2016-11-04 13:51:30.123456'", "'infinity'", "'0044-03-15 12:00:00 BC'"]),
    ("c_ts3", "timestamp(3)", ["'2016-11-04 13:51:30.123'", "'-infinity'", "'21016-11-04 13:51:30'"]),
    (
        "c_tstz",
        "timestamptz",
        ["'2016-11-04 13:51:30.123456+02'", "'infinity'", "'1900-01-01 00:00:00-03:30'"],
    ),
    ("c_tstz0", "timestamptz(0)", ["'2016-11-04 13:51:30+00'", "'-infinity'", "'2000-01-01 00:00:00+00'"]),
    ("c_interval", "interval", ["'1 year 2 mons 3 days 04:05:06.78'", "'-1 days +02:03:00'", "'0'"]),
    (
        "c_uuid",
        "uuid",
        [
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
            "'00000000-0000-0000-0000-000000000000'",
            "gen_random_uuid()",
        ],
    ),
    ("c_json", "json", ["'{\"a\": [1, 2]}'", "'\"text\"'", "'null'"]),
    ("c_jsonb", "jsonb", ["'{\"bar\": \"baz\"}'", "'[1, {\"x\": null}]'", "'{}'"]),
    ("c_xml", "xml", ["'<a>b</a>'", "'<x y=\"1\"/>'", "'text'"]),
    ("c_inet", "inet", ["'192.168.2.1/24'", "'::1'", "'10.0.0.1'"]),
    ("c_cidr", "cidr", ["'192.168.2.0/24'", "'2001:db8::/32'", "'10.0.0.0/8'"]),
    ("c_macaddr", "macaddr", ["'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'", "'00:00:00:00:00:00'"]),
    (
        "c_macaddr8",
        "macaddr8",
        ["'08:00:2b:01:02:03:04:05'", "'00:00:00:00:00:00:00:00'", "'08:00:2b:01:02:03'"],
    ),
    ("c_bit", "bit(8)", ["B'10100000'", "B'11111111'", "B'00000001'"]),
    ("c_bit1", "bit(1)", ["B'1'", "B'0'", "B'1'"]),
    ("c_varbit", "varbit(16)", ["B'101'", "B''", "B'1111000011110000'"]),
    ("c_int4_arr", "int4[]", ["'{1,2,3}'", "'{}'", "'{NULL,1,NULL}'"]),
    (
        "c_text_arr",
        "text[]",
        ["'{a,\"b c\",\"NULL\",NULL}'", "'{\"with \\\"quote\\\"\",\"comma,here\"}'", "'{\"\"}'"],
    ),
    ("c_int_2d", "int4[][]", ["'{{1,2},{3,4}}'", "'[0:1]={5,6}'", "'{{NULL}}'"]),
    ("c_num_arr", "numeric(5,2)[]", ["'{1.10,NULL,-2.5}'", "'{}'", "'{999.99}'"]),
    ("c_ts_arr", "timestamptz[]", ["'{\"2020-04-01 11:51:02+00\",infinity}'", "'{}'", "'{NULL}'"]),
    ("c_uuid_arr", "uuid[]", ["'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'", "'{}'", "'{}'"]),
    ("c_enum", "mood", ["'happy'", "'sad'", "'ok'"]),
    ("c_enum_arr", "mood[]", ["'{sad,happy}'", "'{}'", "'{ok}'"]),
    ("c_domain", "posint", ["1", "2147483647", "5"]),
    ("c_int4range", "int4range", ["'[1000,6000)'", "'empty'", "'(,5]'"]),
    ("c_int8range", "int8range", ["'[1,2)'", "'(,)'", "'[-9223372036854775808,0)'"]),
    ("c_numrange", "numrange", ["'[1.5,2.5]'", "'(,3.25)'", "'empty'"]),
    ("c_daterange", "daterange", ["'[2019-03-31,2019-04-02)'", "'[2019-01-01,infinity)'", "'empty'"]),
    (
        "c_tsrange",
        "tsrange",
        ["'[\"2019-03-31 15:30:00\",infinity)'", "'(,\"2000-01-01 00:00:00\")'", "'empty'"],
    ),
    (
        "c_tstzrange",
        "tstzrange",
        [
            "'[\"2017-06-05 11:29:12.549426+00\",)'",
            "'empty'",
            "'(\"2000-01-01 00:00+02\",\"2000-01-02 00:00+02\"]'",
        ],
    ),
    ("c_point", "point", ["'(1,2)'", "'(-1.5,1e10)'", "'(0,0)'"]),
    ("c_line", "line", ["'{1,-1,0}'", "'{0,1,2.5}'", "'[(0,0),(1,1)]'"]),
    ("c_lseg", "lseg", ["'[(0,0),(1,1)]'", "'[(1.5,2),(3,4)]'", "'((0,0),(0,1))'"]),
    ("c_box", "box", ["'(3,4),(1,2)'", "'((0,0),(1,1))'", "'(1,1),(1,1)'"]),
    ("c_path", "path", ["'[(1,2),(3,4)]'", "'((0,0),(1,0),(1,1))'", "'[(0,0)]'"]),
    ("c_polygon", "polygon", ["'((0,0),(1,0),(1,1))'", "'((1,2))'", "'((0,0),(2,0),(2,2),(0,2))'"]),
    ("c_circle", "circle", ["'<(10,20),10>'", "'<(0,0),0.5>'", "'((1,1),2)'"]),
    ("c_oid", "oid", ["4000000000", "0", "16384"]),
    ("c_tsvector", "tsvector", ["'the fat cat sat on a mat'", "''", "'a:1A b:2B'"]),
    ("c_tsquery", "tsquery", ["'fat & rat'", "'!cat'", "'a | b'"]),
    ("c_hstore", "hstore", ["'key=>val'", "'\"k 1\"=>NULL, b=>\"quote\\\"d\"'", "''"]),
    ("c_ltree", "ltree", ["'Top.Science.Astronomy'", "''", "'a'"]),
    ("c_citext", "citext", ["'MiXeD'", "''", "'x'"]),
    ("c_composite", "pair", ["ROW(1, 'a')", "ROW(NULL, 'with \"quote\"')", "ROW(2, NULL)"]),
    ("c_jsonpath", "jsonpath", ["'$.a[*] ? (@ > 1)'", "'$'", "'strict $.x'"]),
    ("c_regclass", "regclass", ["'pg_class'", "'pg_type'", "'pg_proc'"]),
];

const SETUP: &str = "CREATE EXTENSION IF NOT EXISTS hstore; CREATE EXTENSION IF NOT EXISTS ltree; \
     CREATE EXTENSION IF NOT EXISTS citext; CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); \
     CREATE DOMAIN posint AS integer CHECK (VALUE > 0); CREATE TYPE pair AS (a int, b text);";

/// Reads one row's columns as the server prints them and decodes them with the types the stream
/// reported.
async fn expected_row(db: &TestDb, table: &str, id: i32, schema: &sluice_core::TableSchema) -> Row {
    let endpoint = sluice_tests::capture::config(db, "unused", &[]).endpoint;
    let client = connect_sql(&endpoint).await.unwrap();
    let cols: Vec<String> = schema.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let rows = client
        .simple_query(&format!("SELECT {} FROM {table} WHERE id = {id}", cols.join(", ")))
        .await
        .unwrap();
    let row = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .expect("row exists");
    Row(schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match row.get(i) {
            None => Value::Null,
            Some(text) => {
                decode_text(&c.ty, text.as_bytes()).unwrap_or_else(|e| panic!("column {}: {e}", c.name))
            }
        })
        .collect())
}

fn assert_rows_equal(got: &Row, want: &Row, schema: &sluice_core::TableSchema, what: &str) {
    for ((g, w), c) in got.0.iter().zip(&want.0).zip(&schema.columns) {
        let same = match (g, w) {
            (Value::Float32(a), Value::Float32(b)) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            (Value::Float64(a), Value::Float64(b)) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            _ => g == w,
        };
        assert!(same, "{what}: column {} ({}) streamed {g:?}, server says {w:?}", c.name, c.ty.name);
    }
}

async fn every_type_round_trip(name: &str, binary: bool) {
    let db = TestDb::create(name).await.unwrap();
    db.exec(SETUP).await.unwrap();
    // In binary mode keep only types that have a binary decoder, so the connection really uses it.
    let mut columns: Vec<&(&str, &str, [&str; 3])> = COLUMNS.iter().collect();
    if binary {
        db.exec(&format!(
            "CREATE TABLE probe ({})",
            COLUMNS.iter().map(|(n, t, _)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
        ))
        .await
        .unwrap();
        let endpoint = config(&db, "unused", &[]).endpoint;
        let client = connect_sql(&endpoint).await.unwrap();
        let mut relations = sluice_postgres::relation::RelationCache::new();
        let oid: u32 = db.client.query_one("SELECT 'probe'::regclass::oid", &[]).await.unwrap().get(0);
        let schema = relations.load(&client, oid).await.unwrap();
        columns.retain(|(n, _, _)| {
            let c = &schema.columns[schema.column_index(n).unwrap()];
            TypeRegistry::all_types_support_binary(&c.ty)
        });
        assert!(columns.len() > 40, "most types must have binary decoders, only {} do", columns.len());
    }
    let ddl: Vec<String> = columns.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    db.exec(&format!(
        "CREATE TABLE types (id int PRIMARY KEY, {}); ALTER TABLE types REPLICA IDENTITY FULL;",
        ddl.join(", ")
    ))
    .await
    .unwrap();
    let mut extra = vec![("snapshot.mode", "no_data"), ("table.include.list", "public.types")];
    if binary {
        extra.push(("sluice.pgoutput.binary", "true"));
    }
    let mut cap = Capture::start(config(&db, name, &extra), None);
    sluice_tests::capture::wait_for_slot(&db, name).await;

    let names: Vec<&str> = columns.iter().map(|(n, _, _)| *n).collect();
    let literals = |k: usize| columns.iter().map(|(_, _, v)| v[k]).collect::<Vec<_>>().join(", ");
    db.exec(&format!("INSERT INTO types (id, {}) VALUES (1, {})", names.join(", "), literals(0)))
        .await
        .unwrap();
    db.exec(&format!("INSERT INTO types (id, {}) VALUES (2, {})", names.join(", "), literals(1)))
        .await
        .unwrap();
    db.exec("INSERT INTO types (id) VALUES (3)").await.unwrap();

    let mut inserted = Vec::new();
    for id in 1..=3 {
        let t = cap.txn().await;
        let e = &t.changes[0];
        assert_eq!(e.op(), Op::Create);
        let schema = e.table().unwrap().clone();
        let want = expected_row(&db, "types", id, &schema).await;
        assert_rows_equal(after(e), &want, &schema, &format!("insert {id}"));
        inserted.push(want);
    }
    // Update every column of every row to the third set of literals.
    let set: Vec<String> = columns.iter().map(|(n, _, v)| format!("{n} = {}", v[2])).collect();
    db.exec(&format!("UPDATE types SET {}", set.join(", "))).await.unwrap();
    let t = cap.txn().await;
    assert_eq!(t.changes.len(), 3);
    let mut updated = Vec::new();
    for e in &t.changes {
        assert_eq!(e.op(), Op::Update);
        let schema = e.table().unwrap().clone();
        let id = match &after(e).0[0] {
            Value::Int32(i) => *i,
            other => panic!("id {other:?}"),
        };
        assert_rows_equal(
            before(e).expect("FULL old row"),
            &inserted[id as usize - 1],
            &schema,
            "update before",
        );
        let want = expected_row(&db, "types", id, &schema).await;
        assert_rows_equal(after(e), &want, &schema, "update after");
        updated.push((id, want));
    }
    db.exec("DELETE FROM types").await.unwrap();
    let t = cap.txn().await;
    assert_eq!(t.changes.len(), 3);
    for e in &t.changes {
        assert_eq!(e.op(), Op::Delete);
        let schema = e.table().unwrap().clone();
        let old = before(e).expect("FULL old row");
        let id = match &old.0[0] {
            Value::Int32(i) => *i,
            other => panic!("id {other:?}"),
        };
        let want = &updated.iter().find(|(i, _)| *i == id).unwrap().1;
        assert_rows_equal(old, want, &schema, "delete before");
    }
    cap.stop().await;
}

#[tokio::test]
async fn every_type_survives_insert_update_delete_in_text_mode() {
    every_type_round_trip("types_text", false).await;
}

#[tokio::test]
async fn every_binary_capable_type_survives_insert_update_delete_in_binary_mode() {
    every_type_round_trip("types_binary", true).await;
}
