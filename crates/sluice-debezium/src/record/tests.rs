//! Record-building tests on hand-made events. Expected values come from the live Debezium 3.6.3
//! oracle quoted in the reference (`PostgreSQL_server.public.customers`) where one exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_core::{
    Change, ChangeEvent, Column, ColumnType, Lsn, Op, Origin, ReplicaIdentity, Row, SnapshotMark,
    SourceEvent, SourcePosition, TableId, TableSchema, Timestamp, TxnBegin, TxnCommit, TypeKind, Value, Xid,
};

use super::*;
use crate::connect::SchemaType;

const NOW: Timestamp = Timestamp::Micros(1_795_234_936_818_890);
const COMMIT_TS: Timestamp = Timestamp::Micros(1_795_234_936_771_153);

fn config(pairs: &[(&str, &str)]) -> DebeziumConfig {
    let mut map: BTreeMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    map.entry("topic.prefix".into()).or_insert_with(|| "PostgreSQL_server".into());
    map.entry("database.dbname".into()).or_insert_with(|| "postgres".into());
    DebeziumConfig::from_properties(&map).unwrap()
}

fn builder(pairs: &[(&str, &str)]) -> RecordBuilder {
    let config = config(pairs);
    let mut context = ContextHeaders::for_config(&config);
    context.run_id = "00000000-0000-4000-8000-000000000000".into();
    RecordBuilder::new(config).with_context_headers(context)
}

fn column(name: &str, kind: TypeKind, nullable: bool, default: Option<&str>) -> Column {
    let (oid, ty) = match kind {
        TypeKind::Int4 => (23, "int4"),
        _ => (25, "text"),
    };
    Column {
        name: name.into(),
        ty: ColumnType::new(oid, -1, ty, kind),
        nullable,
        default: default.map(Into::into),
        part_of_identity: name == "id",
    }
}

/// `customers (id serial primary key, first_name text not null, email text not null, note text)`.
fn customers(version: u32) -> Arc<TableSchema> {
    let mut columns = vec![
        column("id", TypeKind::Int4, false, Some("nextval('customers_id_seq'::regclass)")),
        column("first_name", TypeKind::Text, false, None),
        column("email", TypeKind::Text, false, None),
        column("note", TypeKind::Text, true, None),
    ];
    if version > 1 {
        columns.push(column("extra", TypeKind::Text, true, None));
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

fn other_table() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        relation_id: 16_400,
        id: TableId::new("public", "types_demo"),
        version: 1,
        columns: vec![column("id", TypeKind::Int4, false, None), column("note", TypeKind::Text, true, None)],
        key: vec![0],
        replica_identity: ReplicaIdentity::Default,
    })
}

fn keyless_table() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        relation_id: 16_500,
        id: TableId::new("public", "log"),
        version: 1,
        columns: vec![column("msg", TypeKind::Text, true, None)],
        key: vec![],
        replica_identity: ReplicaIdentity::Full,
    })
}

fn row(id: i32, first: &str, email: &str, note: Option<&str>) -> Row {
    Row(vec![
        Value::Int32(id),
        Value::Text(first.into()),
        Value::Text(email.into()),
        note.map_or(Value::Null, |n| Value::Text(n.into())),
    ])
}

/// The old-key tuple pgoutput sends under REPLICA IDENTITY DEFAULT.
fn key_only(id: i32) -> Row {
    Row(vec![Value::Int32(id), Value::Null, Value::Null, Value::Null])
}

fn pos(lsn: u64, xid: u32, seq: u64) -> SourcePosition {
    SourcePosition {
        lsn: Lsn(lsn),
        commit_lsn: Some(Lsn(lsn + 1000)),
        seq,
        xid: Some(Xid(xid)),
        commit_ts: Some(COMMIT_TS),
        origin: None,
        snapshot: None,
    }
}

fn row_event(
    table: &Arc<TableSchema>,
    op: Op,
    before: Option<Row>,
    after: Option<Row>,
    source: SourcePosition,
) -> SourceEvent {
    SourceEvent::Change(ChangeEvent {
        change: Change::Row { op, table: table.clone(), before, after },
        source,
    })
}

fn begin(xid: u32, commit_lsn: u64) -> SourceEvent {
    SourceEvent::Begin(TxnBegin {
        xid: Xid(xid),
        lsn: Lsn(commit_lsn - 8),
        commit_lsn: Lsn(commit_lsn),
        commit_ts: COMMIT_TS,
    })
}

fn commit(xid: u32, commit_lsn: u64, end_lsn: u64, count: u64) -> SourceEvent {
    SourceEvent::Commit(TxnCommit {
        xid: Xid(xid),
        commit_lsn: Lsn(commit_lsn),
        end_lsn: Lsn(end_lsn),
        commit_ts: COMMIT_TS,
        event_count: count,
    })
}

fn run(b: &mut RecordBuilder, events: &[SourceEvent]) -> Vec<Record> {
    let mut out = Vec::new();
    for e in events {
        b.on_event(e, NOW, &mut out).unwrap();
    }
    out
}

fn fields(s: &Schema) -> Vec<&str> {
    s.fields.iter().map(|f| f.name.as_str()).collect()
}

fn st(v: &ConnectValue) -> &[ConnectValue] {
    match v {
        ConnectValue::Struct(f) => f,
        other => panic!("not a struct: {other:?}"),
    }
}

/// A field of a struct value by name.
fn get<'a>(schema: &Schema, value: &'a ConnectValue, name: &str) -> &'a ConnectValue {
    let i = schema.fields.iter().position(|f| f.name == name).unwrap_or_else(|| panic!("no field {name}"));
    &st(value)[i]
}

fn envelope_field<'a>(r: &'a Record, name: &str) -> &'a ConnectValue {
    get(r.value_schema.as_ref().unwrap(), r.value.as_ref().unwrap(), name)
}

fn source_field<'a>(r: &'a Record, name: &str) -> &'a ConnectValue {
    get(&source_schema(), envelope_field(r, "source"), name)
}

fn op(r: &Record) -> &str {
    match envelope_field(r, "op") {
        ConnectValue::String(s) => s,
        other => panic!("op {other:?}"),
    }
}

fn s(v: &str) -> ConnectValue {
    ConnectValue::String(v.into())
}

fn key(id: i32) -> Option<ConnectValue> {
    Some(ConnectValue::Struct(vec![ConnectValue::Int32(id)]))
}

fn header_keys(r: &Record) -> Vec<&str> {
    r.headers.iter().map(|h| h.key.as_str()).collect()
}

const CONTEXT_KEYS: [&str; 4] = [
    "__debezium.context.connectorLogicalName",
    "__debezium.context.taskId",
    "__debezium.context.connectorName",
    "__debezium.context.runId",
];

#[test]
fn envelope_key_and_value_schemas_match_the_live_oracle() {
    let mut b = builder(&[]);
    let schemas = b.table_schemas(&customers(1)).unwrap();
    assert_eq!(schemas.topic, "PostgreSQL_server.public.customers");

    let key = schemas.key.as_ref().unwrap();
    assert_eq!(key.name.as_deref(), Some("PostgreSQL_server.public.customers.Key"));
    assert_eq!((key.version, key.optional), (None, false));
    assert_eq!(fields(key), ["id"]);
    assert_eq!(key.fields[0].schema.schema_type, SchemaType::Int32);
    assert_eq!(key.fields[0].schema.default, Some(ConnectValue::Int32(0)));

    let value = &schemas.value;
    assert_eq!(value.name.as_deref(), Some("PostgreSQL_server.public.customers.Value"));
    assert_eq!((value.version, value.optional), (None, true));
    assert_eq!(fields(value), ["id", "first_name", "email", "note"]);
    assert!(!value.fields[1].schema.optional && value.fields[3].schema.optional);

    let env = &schemas.envelope;
    assert_eq!(env.name.as_deref(), Some("PostgreSQL_server.public.customers.Envelope"));
    assert_eq!((env.version, env.optional), (Some(2), false));
    assert_eq!(fields(env), ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]);
    assert!(Arc::ptr_eq(&env.fields[0].schema, value) && Arc::ptr_eq(&env.fields[1].schema, value));
    let tx = &env.fields[3].schema;
    assert_eq!((tx.name.as_deref(), tx.version, tx.optional), (Some("event.block"), Some(1), true));
    assert_eq!(fields(tx), ["id", "total_order", "data_collection_order"]);
    assert!(tx.fields.iter().all(|f| !f.schema.optional));
    assert!(!env.fields[4].schema.optional, "op is required");
    assert!(env.fields[5..].iter().all(|f| f.schema.optional && f.schema.schema_type == SchemaType::Int64));
}

#[test]
fn source_schema_has_sixteen_fields_in_order() {
    let src = source_schema();
    assert_eq!(src.name.as_deref(), Some("io.debezium.connector.postgresql.Source"));
    assert_eq!((src.version, src.optional), (Some(1), false));
    assert_eq!(
        fields(&src),
        [
            "version",
            "connector",
            "name",
            "ts_ms",
            "snapshot",
            "db",
            "sequence",
            "ts_us",
            "ts_ns",
            "schema",
            "table",
            "txId",
            "lsn",
            "xmin",
            "origin",
            "origin_lsn"
        ]
    );
    let expected: [(SchemaType, bool); 16] = [
        (SchemaType::String, false),
        (SchemaType::String, false),
        (SchemaType::String, false),
        (SchemaType::Int64, false),
        (SchemaType::String, true),
        (SchemaType::String, false),
        (SchemaType::String, true),
        (SchemaType::Int64, true),
        (SchemaType::Int64, true),
        (SchemaType::String, false),
        (SchemaType::String, false),
        (SchemaType::Int64, true),
        (SchemaType::Int64, true),
        (SchemaType::Int64, true),
        (SchemaType::String, true),
        (SchemaType::Int64, true),
    ];
    for (f, (ty, optional)) in src.fields.iter().zip(expected) {
        assert_eq!((f.schema.schema_type, f.schema.optional), (ty, optional), "{}", f.name);
    }
    let snap = &src.fields[4].schema;
    assert_eq!((snap.name.as_deref(), snap.version), (Some("io.debezium.data.Enum"), Some(1)));
    assert_eq!(
        snap.parameters,
        vec![(
            "allowed".to_owned(),
            "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental".to_owned()
        )]
    );
    assert_eq!(snap.default, Some(s("false")));
}

#[test]
fn insert_matches_the_live_oracle_record() {
    let mut b = builder(&[]);
    let t = customers(1);
    let out = run(
        &mut b,
        &[
            begin(784, 24_374_200),
            row_event(
                &t,
                Op::Create,
                None,
                Some(row(2, "Sally", "sally.thomas@acme.com", None)),
                pos(24_374_112, 784, 0),
            ),
            commit(784, 24_374_200, 24_374_320, 1),
        ],
    );
    assert_eq!(out.len(), 1, "no transaction records by default");
    let r = &out[0];
    assert_eq!(r.topic, "PostgreSQL_server.public.customers");
    assert_eq!(r.key, key(2));
    assert_eq!(op(r), "c");
    assert_eq!(envelope_field(r, "before"), &ConnectValue::Null);
    assert_eq!(
        envelope_field(r, "after"),
        &ConnectValue::Struct(vec![
            ConnectValue::Int32(2),
            s("Sally"),
            s("sally.thomas@acme.com"),
            ConnectValue::Null
        ])
    );
    assert_eq!(envelope_field(r, "transaction"), &ConnectValue::Null);
    assert_eq!(envelope_field(r, "ts_ms"), &ConnectValue::Int64(1_795_234_936_818));
    assert_eq!(envelope_field(r, "ts_us"), &ConnectValue::Int64(1_795_234_936_818_890));
    assert_eq!(envelope_field(r, "ts_ns"), &ConnectValue::Int64(1_795_234_936_818_890_000));
    let source = st(envelope_field(r, "source")).to_vec();
    assert_eq!(
        source,
        vec![
            s("3.6.3.Final"),
            s("postgresql"),
            s("PostgreSQL_server"),
            ConnectValue::Int64(1_795_234_936_771),
            s("false"),
            s("postgres"),
            s("[null,\"24374112\"]"),
            ConnectValue::Int64(1_795_234_936_771_153),
            ConnectValue::Int64(1_795_234_936_771_153_000),
            s("public"),
            s("customers"),
            ConnectValue::Int64(784),
            ConnectValue::Int64(24_374_112),
            ConnectValue::Null,
            ConnectValue::Null,
            ConnectValue::Null,
        ]
    );
    assert_eq!(header_keys(r), CONTEXT_KEYS);
    let values: Vec<&ConnectValue> = r.headers.iter().map(|h| &h.value).collect();
    assert_eq!(
        values,
        [&s("PostgreSQL_server"), &s("0"), &s("postgresql"), &s("00000000-0000-4000-8000-000000000000")]
    );
    assert!(r.headers.iter().all(|h| h.schema == Schema::primitive(SchemaType::String)));
    assert_eq!(r.position, pos(24_374_112, 784, 0));
}

#[test]
fn sequence_starts_with_the_previous_commit_end() {
    let mut b = builder(&[]);
    let t = customers(1);
    let out = run(
        &mut b,
        &[
            begin(784, 24_374_200),
            row_event(&t, Op::Create, None, Some(row(2, "a", "b", None)), pos(24_374_112, 784, 0)),
            commit(784, 24_374_200, 24_445_976, 1),
            begin(795, 24_451_300),
            row_event(&t, Op::Create, None, Some(row(3, "a", "b", None)), pos(24_451_192, 795, 0)),
            commit(795, 24_451_300, 24_451_400, 1),
        ],
    );
    assert_eq!(source_field(&out[1], "sequence"), &s("[\"24445976\",\"24451192\"]"));
    assert_eq!(b.last_commit_lsn(), Some(Lsn(24_451_400)));

    let mut restored = builder(&[]);
    restored.set_last_commit_lsn(Some(Lsn(7)));
    let out =
        run(&mut restored, &[row_event(&t, Op::Create, None, Some(row(4, "a", "b", None)), pos(9, 1, 0))]);
    assert_eq!(source_field(&out[0], "sequence"), &s("[\"7\",\"9\"]"));
}

#[test]
fn delete_fills_not_null_columns_and_is_followed_by_a_tombstone() {
    let mut b = builder(&[]);
    let t = customers(1);
    let out = run(&mut b, &[row_event(&t, Op::Delete, Some(key_only(2)), None, pos(100, 9, 0))]);
    assert_eq!(out.len(), 2);
    let (d, tomb) = (&out[0], &out[1]);
    assert_eq!(op(d), "d");
    assert_eq!(d.key, key(2));
    // Live oracle: "before":{"id":2,"first_name":"","last_name":"","email":""}; nullable stays null.
    assert_eq!(
        envelope_field(d, "before"),
        &ConnectValue::Struct(vec![ConnectValue::Int32(2), s(""), s(""), ConnectValue::Null])
    );
    assert_eq!(envelope_field(d, "after"), &ConnectValue::Null);
    assert_eq!((&tomb.topic, &tomb.key, &tomb.key_schema), (&d.topic, &d.key, &d.key_schema));
    assert_eq!((tomb.value.as_ref(), tomb.value_schema.as_ref()), (None, None));
    assert_eq!(tomb.headers, d.headers);
    assert_eq!(tomb.position, d.position);

    let mut b = builder(&[("tombstones.on.delete", "false")]);
    let out = run(&mut b, &[row_event(&t, Op::Delete, Some(key_only(2)), None, pos(100, 9, 0))]);
    assert_eq!(out.len(), 1);
}

#[test]
fn updates_carry_the_old_row_only_when_the_wal_has_it() {
    let mut b = builder(&[]);
    let t = customers(1);
    let out = run(
        &mut b,
        &[
            row_event(&t, Op::Update, None, Some(row(1, "x", "y", None)), pos(100, 9, 0)),
            row_event(
                &t,
                Op::Update,
                Some(row(1, "old", "y", Some("n"))),
                Some(row(1, "x", "y", None)),
                pos(101, 9, 1),
            ),
        ],
    );
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| op(r) == "u" && r.key == key(1)));
    assert_eq!(envelope_field(&out[0], "before"), &ConnectValue::Null);
    assert_eq!(
        envelope_field(&out[1], "before"),
        &ConnectValue::Struct(vec![ConnectValue::Int32(1), s("old"), s("y"), s("n")])
    );
}

#[test]
fn unchanged_toast_is_taken_from_the_old_row_when_present() {
    let mut b = builder(&[]);
    let t = customers(1);
    let mut after = row(1, "x", "y", None);
    after.0[3] = Value::UnchangedToast;
    let out = run(
        &mut b,
        &[
            row_event(
                &t,
                Op::Update,
                Some(row(1, "x", "y", Some("big"))),
                Some(after.clone()),
                pos(100, 9, 0),
            ),
            row_event(&t, Op::Update, None, Some(after), pos(101, 9, 1)),
        ],
    );
    assert_eq!(st(envelope_field(&out[0], "after"))[3], s("big"));
    assert_eq!(st(envelope_field(&out[1], "after"))[3], s("__debezium_unavailable_value"));
}

#[test]
fn primary_key_change_is_delete_tombstone_create_with_key_headers() {
    let mut b = builder(&[]);
    let t = customers(1);
    let out = run(
        &mut b,
        &[row_event(&t, Op::Update, Some(key_only(10)), Some(row(11, "a", "b", None)), pos(500, 42, 0))],
    );
    assert_eq!(out.len(), 3);
    let (d, tomb, c) = (&out[0], &out[1], &out[2]);
    let key_schema = b.table_schemas(&t).unwrap().key.clone().unwrap();

    assert_eq!((op(d), &d.key), ("d", &key(10)));
    assert_eq!(header_keys(d)[0], "__debezium.newkey");
    assert_eq!(&header_keys(d)[1..], CONTEXT_KEYS);
    assert_eq!(d.headers[0].value, key(11).unwrap());
    assert_eq!(d.headers[0].schema, *key_schema);
    assert_eq!(
        envelope_field(d, "before"),
        &ConnectValue::Struct(vec![ConnectValue::Int32(10), s(""), s(""), ConnectValue::Null])
    );

    assert!(tomb.value.is_none());
    assert_eq!((&tomb.key, &tomb.headers), (&key(10), &d.headers));

    assert_eq!((op(c), &c.key), ("c", &key(11)));
    assert_eq!(header_keys(c)[0], "__debezium.oldkey");
    assert_eq!(c.headers[0].value, key(10).unwrap());
    assert_eq!(envelope_field(c, "before"), &ConnectValue::Null);
    assert_eq!(
        envelope_field(c, "after"),
        &ConnectValue::Struct(vec![ConnectValue::Int32(11), s("a"), s("b"), ConnectValue::Null])
    );
    assert_eq!(source_field(d, "lsn"), source_field(c, "lsn"));
}

#[test]
fn skipped_operations_drop_each_half_of_a_key_change() {
    let t = customers(1);
    let pk_change =
        row_event(&t, Op::Update, Some(key_only(10)), Some(row(11, "a", "b", None)), pos(500, 42, 0));
    let mut b = builder(&[("skipped.operations", "d")]);
    let out = run(&mut b, std::slice::from_ref(&pk_change));
    assert_eq!(out.iter().map(op).collect::<Vec<_>>(), ["c"], "no delete, hence no tombstone");

    let mut b = builder(&[("skipped.operations", "c,u")]);
    let out = run(
        &mut b,
        &[
            pk_change,
            row_event(&t, Op::Create, None, Some(row(1, "a", "b", None)), pos(501, 42, 1)),
            row_event(&t, Op::Update, None, Some(row(1, "a", "b", None)), pos(502, 42, 2)),
        ],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(op(&out[0]), "d");
    assert!(out[1].value.is_none());
}

#[test]
fn truncate_is_skipped_by_default_and_keyless_otherwise() {
    let t = customers(1);
    let truncate = SourceEvent::Change(ChangeEvent {
        change: Change::Truncate { table: t.clone(), cascade: false, restart_identity: false },
        source: pos(700, 50, 0),
    });
    let mut b = builder(&[]);
    assert!(run(&mut b, std::slice::from_ref(&truncate)).is_empty());

    let mut b = builder(&[("skipped.operations", "none")]);
    let out = run(&mut b, &[truncate]);
    assert_eq!(out.len(), 1);
    let r = &out[0];
    assert_eq!(op(r), "t");
    assert_eq!((r.key.as_ref(), r.key_schema.as_ref()), (None, None));
    assert_eq!(r.topic, "PostgreSQL_server.public.customers");
    assert_eq!(envelope_field(r, "before"), &ConnectValue::Null);
    assert_eq!(envelope_field(r, "after"), &ConnectValue::Null);
    assert_eq!(source_field(r, "table"), &s("customers"));
    assert_eq!(header_keys(r), CONTEXT_KEYS);
}

#[test]
fn snapshot_reads_carry_markers() {
    let t = customers(1);
    let marks = [
        (SnapshotMark { first: true, first_in_table: true, ..Default::default() }, "first"),
        (SnapshotMark::default(), "true"),
        (SnapshotMark { first_in_table: true, ..Default::default() }, "first_in_data_collection"),
        (SnapshotMark { last_in_table: true, ..Default::default() }, "last_in_data_collection"),
        (
            SnapshotMark { first_in_table: true, last_in_table: true, ..Default::default() },
            "last_in_data_collection",
        ),
        (SnapshotMark { first: true, last: true, first_in_table: true, last_in_table: true }, "last"),
    ];
    let mut b = builder(&[("provide.transaction.metadata", "true")]);
    for (i, (mark, expected)) in marks.into_iter().enumerate() {
        let source = SourcePosition {
            lsn: Lsn(24_373_592),
            commit_lsn: None,
            seq: i as u64,
            xid: Some(Xid(783)),
            commit_ts: Some(COMMIT_TS),
            origin: None,
            snapshot: Some(mark),
        };
        let out = run(&mut b, &[row_event(&t, Op::Read, None, Some(row(1, "a", "b", None)), source)]);
        assert_eq!(out.len(), 1, "no transaction records for snapshot reads");
        let r = &out[0];
        assert_eq!(op(r), "r");
        assert_eq!(source_field(r, "snapshot"), &s(expected));
        assert_eq!(source_field(r, "txId"), &ConnectValue::Int64(783));
        assert_eq!(source_field(r, "sequence"), &s("[null,\"24373592\"]"));
        assert_eq!(envelope_field(r, "transaction"), &ConnectValue::Null);
        assert_eq!(header_keys(r), CONTEXT_KEYS);
    }
}

#[test]
fn transaction_metadata_matches_the_live_oracle() {
    let mut b = builder(&[("provide.transaction.metadata", "true")]);
    let (t, u) = (customers(1), other_table());
    let out = run(
        &mut b,
        &[
            begin(748, 23_811_700),
            row_event(&t, Op::Create, None, Some(row(1, "a", "b", None)), pos(23_811_480, 748, 0)),
            row_event(
                &u,
                Op::Create,
                None,
                Some(Row(vec![Value::Int32(1), Value::Null])),
                pos(23_811_624, 748, 1),
            ),
            commit(748, 23_811_700, 23_811_816, 2),
        ],
    );
    assert_eq!(out.len(), 4);
    let (begin_r, first, second, end_r) = (&out[0], &out[1], &out[2], &out[3]);

    let tx_value_schema = crate::transaction::value_schema();
    assert_eq!(begin_r.topic, "PostgreSQL_server.transaction");
    assert_eq!(begin_r.key, Some(ConnectValue::Struct(vec![s("748:23811480")])));
    assert_eq!(
        begin_r.value,
        Some(ConnectValue::Struct(vec![
            s("BEGIN"),
            s("748:23811480"),
            ConnectValue::Null,
            ConnectValue::Null,
            ConnectValue::Int64(1_795_234_936_771),
        ]))
    );
    assert_eq!(begin_r.value_schema.as_deref(), Some(&*tx_value_schema));
    assert!(begin_r.headers.is_empty());

    assert_eq!(
        envelope_field(first, "transaction"),
        &ConnectValue::Struct(vec![s("748:23811480"), ConnectValue::Int64(1), ConnectValue::Int64(1)])
    );
    assert_eq!(
        envelope_field(second, "transaction"),
        &ConnectValue::Struct(vec![s("748:23811624"), ConnectValue::Int64(2), ConnectValue::Int64(1)])
    );

    // Live: {"status":"END","id":"748:23811816","event_count":2,"data_collections":[customers 1, types_demo 1]}
    assert_eq!(end_r.key, Some(ConnectValue::Struct(vec![s("748:23811816")])));
    let collection = |name: &str, n: i64| ConnectValue::Struct(vec![s(name), ConnectValue::Int64(n)]);
    assert_eq!(
        end_r.value,
        Some(ConnectValue::Struct(vec![
            s("END"),
            s("748:23811816"),
            ConnectValue::Int64(2),
            ConnectValue::Array(vec![collection("public.customers", 1), collection("public.types_demo", 1)]),
            ConnectValue::Int64(1_795_234_936_771),
        ]))
    );
    assert_eq!(end_r.position.lsn, Lsn(23_811_816));
}

#[test]
fn transaction_counts_only_emitted_events_and_empty_transactions_still_get_begin_and_end() {
    let mut b = builder(&[("provide.transaction.metadata", "true"), ("skipped.operations", "u")]);
    let t = customers(1);
    let out = run(
        &mut b,
        &[
            begin(900, 5000),
            row_event(&t, Op::Update, None, Some(row(1, "a", "b", None)), pos(4000, 900, 0)),
            row_event(&t, Op::Update, Some(key_only(1)), Some(row(2, "a", "b", None)), pos(4100, 900, 1)),
            commit(900, 5000, 5100, 2),
            begin(901, 6000),
            commit(901, 6000, 6100, 0),
        ],
    );
    let kinds: Vec<String> = out
        .iter()
        .map(|r| {
            if r.topic.ends_with(".transaction") {
                format!("{:?}", st(r.value.as_ref().unwrap())[0])
            } else if r.value.is_none() {
                "tombstone".into()
            } else {
                op(r).to_owned()
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "String(\"BEGIN\")",
            "d",
            "tombstone",
            "c",
            "String(\"END\")",
            "String(\"BEGIN\")",
            "String(\"END\")"
        ]
    );
    // BEGIN uses the first change's LSN even when that change was skipped.
    assert_eq!(out[0].key, Some(ConnectValue::Struct(vec![s("900:4000")])));
    assert_eq!(st(envelope_field(&out[1], "transaction"))[1], ConnectValue::Int64(1));
    assert_eq!(st(envelope_field(&out[3], "transaction"))[1], ConnectValue::Int64(2));
    assert_eq!(st(envelope_field(&out[3], "transaction"))[2], ConnectValue::Int64(2));
    assert_eq!(st(out[4].value.as_ref().unwrap())[2], ConnectValue::Int64(2));
    let empty_end = st(out[6].value.as_ref().unwrap());
    assert_eq!((&empty_end[2], &empty_end[3]), (&ConnectValue::Int64(0), &ConnectValue::Array(vec![])));
    // An empty transaction's BEGIN carries its first WAL record's LSN (the helper uses commit - 8).
    assert_eq!(out[5].key, Some(ConnectValue::Struct(vec![s("901:5992")])));
}

fn message(prefix: &str, content: &[u8], transactional: bool, source: SourcePosition) -> SourceEvent {
    SourceEvent::Change(ChangeEvent {
        change: Change::Message { prefix: prefix.into(), content: content.to_vec().into(), transactional },
        source,
    })
}

#[test]
fn transactional_message_matches_the_live_oracle() {
    let mut b = builder(&[("binary.handling.mode", "base64")]);
    let out = run(
        &mut b,
        &[
            begin(795, 24_446_000),
            message("foo", b"bar", true, pos(24_445_864, 795, 0)),
            commit(795, 24_446_000, 24_446_100, 1),
        ],
    );
    assert_eq!(out.len(), 1);
    let r = &out[0];
    assert_eq!(r.topic, "PostgreSQL_server.message");
    let ks = r.key_schema.as_ref().unwrap();
    assert_eq!(
        (ks.name.as_deref(), ks.version),
        (Some("io.debezium.connector.postgresql.MessageKey"), Some(1))
    );
    assert!(ks.fields[0].schema.optional);
    assert_eq!(r.key, Some(ConnectValue::Struct(vec![s("foo")])));
    let vs = r.value_schema.as_ref().unwrap();
    assert_eq!(
        (vs.name.as_deref(), vs.version),
        (Some("io.debezium.connector.postgresql.MessageValue"), Some(1))
    );
    assert_eq!(fields(vs), ["op", "ts_ms", "source", "transaction", "message"]);
    let block = &vs.fields[4].schema;
    assert_eq!(block.name.as_deref(), Some("io.debezium.connector.postgresql.Message"));
    assert_eq!(fields(block), ["prefix", "content"]);
    assert_eq!(block.fields[1].schema.schema_type, SchemaType::String, "base64 content is a string");
    let v = r.value.as_ref().unwrap();
    assert_eq!(get(vs, v, "op"), &s("m"));
    assert_eq!(get(vs, v, "ts_ms"), &ConnectValue::Int64(1_795_234_936_818));
    assert_eq!(get(vs, v, "transaction"), &ConnectValue::Null);
    assert_eq!(get(vs, v, "message"), &ConnectValue::Struct(vec![s("foo"), s("YmFy")]));
    let src = get(vs, v, "source");
    assert_eq!(get(&source_schema(), src, "schema"), &s(""));
    assert_eq!(get(&source_schema(), src, "table"), &s(""));
    assert_eq!(get(&source_schema(), src, "txId"), &ConnectValue::Int64(795));
    assert_eq!(get(&source_schema(), src, "lsn"), &ConnectValue::Int64(24_445_864));
    assert!(r.headers.is_empty());

    let mut b = builder(&[]);
    assert_eq!(b.message_schemas().value.fields[4].schema.fields[1].schema.schema_type, SchemaType::Bytes);
    let out = run(
        &mut b,
        &[message("p", &[0xde, 0xad], false, SourcePosition { lsn: Lsn(5), ..Default::default() })],
    );
    assert_eq!(st(envelope_field(&out[0], "message"))[1], ConnectValue::Bytes(vec![0xde, 0xad]));
    assert_eq!(message_content(BinaryMode::Hex, &[0xde, 0xad]), s("dead"));
    assert_eq!(message_content(BinaryMode::Base64UrlSafe, &[0xfb, 0xff]), s("-_8="));
}

#[test]
fn non_transactional_message_counts_as_its_own_commit() {
    let mut b = builder(&[]);
    let t = customers(1);
    let out = run(
        &mut b,
        &[
            begin(10, 1000),
            row_event(&t, Op::Create, None, Some(row(1, "a", "b", None)), pos(900, 10, 0)),
            commit(10, 1000, 1100, 1),
            message("hb", b"x", false, SourcePosition { lsn: Lsn(1200), ..Default::default() }),
            begin(11, 1400),
            row_event(&t, Op::Create, None, Some(row(2, "a", "b", None)), pos(1300, 11, 0)),
            commit(11, 1400, 1500, 1),
        ],
    );
    assert_eq!(out.len(), 3);
    let m = &out[1];
    assert_eq!(source_field(m, "txId"), &ConnectValue::Null);
    assert_eq!(source_field(m, "sequence"), &s("[\"1200\",\"1200\"]"));
    // No commit time of its own: the previous event's time is reported.
    assert_eq!(source_field(m, "ts_us"), &ConnectValue::Int64(1_795_234_936_771_153));
    assert_eq!(source_field(&out[2], "sequence"), &s("[\"1200\",\"1300\"]"));
}

#[test]
fn transactional_messages_count_in_transaction_metadata() {
    let mut b = builder(&[("provide.transaction.metadata", "true")]);
    let out = run(&mut b, &[begin(7, 100), message("a", b"1", true, pos(50, 7, 0)), commit(7, 100, 110, 1)]);
    assert_eq!(out.len(), 3);
    assert_eq!(st(envelope_field(&out[1], "transaction"))[..2], [s("7:50"), ConnectValue::Int64(1)]);
    let end = st(out[2].value.as_ref().unwrap());
    let ConnectValue::Array(collections) = &end[3] else { panic!("{end:?}") };
    let ConnectValue::String(name) = &st(&collections[0])[0] else { panic!() };
    assert!(name.starts_with(crate::transaction::MESSAGE_COLLECTION_PREFIX), "{name}");
}

#[test]
fn extended_headers_can_be_disabled() {
    let mut b = builder(&[("extended.headers.enabled", "false")]);
    let t = customers(1);
    let out = run(
        &mut b,
        &[
            row_event(&t, Op::Create, None, Some(row(1, "a", "b", None)), pos(1, 1, 0)),
            row_event(&t, Op::Update, Some(key_only(1)), Some(row(2, "a", "b", None)), pos(2, 1, 1)),
        ],
    );
    assert!(out[0].headers.is_empty());
    assert_eq!(header_keys(&out[1]), ["__debezium.newkey"]);
    assert_eq!(header_keys(&out[3]), ["__debezium.oldkey"]);
}

#[test]
fn keyless_tables_have_null_keys_and_tombstones() {
    let mut b = builder(&[]);
    let t = keyless_table();
    let r = Row(vec![Value::Text("x".into())]);
    let out = run(
        &mut b,
        &[
            row_event(
                &t,
                Op::Update,
                Some(r.clone()),
                Some(Row(vec![Value::Text("y".into())])),
                pos(1, 1, 0),
            ),
            row_event(&t, Op::Delete, Some(r), None, pos(2, 1, 1)),
        ],
    );
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|r| r.key.is_none() && r.key_schema.is_none()));
    assert_eq!(op(&out[0]), "u", "no key, no key change");
    assert!(out[2].value.is_none());
}

#[test]
fn a_new_table_version_gets_new_schemas() {
    let mut b = builder(&[]);
    let (v1, v2) = (customers(1), customers(2));
    let s1 = b.table_schemas(&v1).unwrap();
    assert!(Arc::ptr_eq(&s1, &b.table_schemas(&v1).unwrap()), "cached");
    let s2 = b.table_schemas(&v2).unwrap();
    assert_eq!(fields(&s2.value), ["id", "first_name", "email", "note", "extra"]);
    assert_eq!(fields(&s1.value), ["id", "first_name", "email", "note"]);
    let mut after = row(1, "a", "b", None);
    after.0.push(Value::Text("e".into()));
    let out = run(&mut b, &[row_event(&v2, Op::Create, None, Some(after), pos(1, 1, 0))]);
    assert!(Arc::ptr_eq(out[0].value_schema.as_ref().unwrap(), &s2.envelope));
    assert_eq!(st(envelope_field(&out[0], "after")).len(), 5);
}

#[test]
fn message_key_columns_override_the_primary_key() {
    let mut b = builder(&[("message.key.columns", "public.customers:email,first_name")]);
    let schemas = b.table_schemas(&customers(1)).unwrap();
    assert_eq!(fields(schemas.key.as_ref().unwrap()), ["email", "first_name"]);
    let mut b = builder(&[("message.key.columns", "other.t:x")]);
    assert_eq!(fields(b.table_schemas(&customers(1)).unwrap().key.as_ref().unwrap()), ["id"]);
}

#[test]
fn avro_schema_name_adjustment_keeps_the_topic() {
    let mut b = builder(&[("topic.prefix", "my-server"), ("schema.name.adjustment.mode", "avro")]);
    let schemas = b.table_schemas(&customers(1)).unwrap();
    assert_eq!(schemas.topic, "my-server.public.customers");
    assert_eq!(schemas.value.name.as_deref(), Some("my_server.public.customers.Value"));
    assert_eq!(schemas.key.as_ref().unwrap().name.as_deref(), Some("my_server.public.customers.Key"));
    assert_eq!(schemas.envelope.name.as_deref(), Some("my_server.public.customers.Envelope"));
}

#[test]
fn field_name_collisions_are_errors() {
    let mut b = builder(&[("field.name.adjustment.mode", "avro")]);
    let mut t = (*keyless_table()).clone();
    t.columns = vec![column("a-b", TypeKind::Text, true, None), column("a$b", TypeKind::Text, true, None)];
    let err = b.table_schemas(&t).unwrap_err();
    assert!(matches!(err, DebeziumError::NameConflict(_)), "{err}");
}

#[test]
fn heartbeat_stands_for_the_last_position() {
    let mut b = builder(&[]);
    let t = customers(1);
    run(
        &mut b,
        &[
            begin(1, 50),
            row_event(&t, Op::Create, None, Some(row(1, "a", "b", None)), pos(40, 1, 0)),
            commit(1, 50, 60, 1),
        ],
    );
    let hb = b.heartbeat(NOW);
    assert_eq!(hb.topic, "__debezium-heartbeat.PostgreSQL_server");
    assert_eq!(hb.position.lsn, Lsn(60));
    run(&mut b, &[SourceEvent::Progress { lsn: Lsn(99) }]);
    assert_eq!(b.heartbeat(NOW).position.lsn, Lsn(99));
}

#[test]
fn origin_is_reported() {
    let mut b = builder(&[]);
    let t = customers(1);
    let mut p = pos(40, 1, 0);
    p.origin = Some(Origin { name: "node_a".into(), lsn: Lsn(77) });
    let out = run(&mut b, &[begin(1, 50), row_event(&t, Op::Create, None, Some(row(1, "a", "b", None)), p)]);
    assert_eq!(source_field(&out[0], "origin"), &s("node_a"));
    assert_eq!(source_field(&out[0], "origin_lsn"), &ConnectValue::Int64(77));
}

#[test]
fn run_ids_look_like_uuids() {
    let id = random_uuid();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert_ne!(id, random_uuid());
}

#[test]
fn avro_adjusted_names_match_the_oracle() {
    // Oracle (Debezium 3.6.3): topic.prefix=ora-2, schema/field adjustment avro, table
    // "my-schema"."Tab$le" ("id-x" int primary key, "a.b" text).
    let mut b = builder(&[
        ("topic.prefix", "ora-2"),
        ("schema.name.adjustment.mode", "avro"),
        ("field.name.adjustment.mode", "avro"),
    ]);
    let t = TableSchema {
        relation_id: 1,
        id: TableId::new("my-schema", "Tab$le"),
        version: 1,
        columns: vec![column("id-x", TypeKind::Int4, false, None), column("a.b", TypeKind::Text, true, None)],
        key: vec![0],
        replica_identity: ReplicaIdentity::Default,
    };
    let schemas = b.table_schemas(&t).unwrap();
    assert_eq!(schemas.topic, "ora-2.my-schema.Tab_le");
    assert_eq!(schemas.key.as_ref().unwrap().name.as_deref(), Some("ora_2.my_schema.Tab_le.Key"));
    assert_eq!(schemas.envelope.name.as_deref(), Some("ora_2.my_schema.Tab_le.Envelope"));
    assert_eq!(fields(schemas.key.as_ref().unwrap()), ["id_x"]);
    assert_eq!(fields(&schemas.value), ["id_x", "a_b"]);

    // Transaction metadata names the collection by the raw table id.
    let mut b = builder(&[("topic.prefix", "ora-2"), ("provide.transaction.metadata", "true")]);
    let t = Arc::new(t);
    let out = run(
        &mut b,
        &[
            begin(780, 22_840_200),
            row_event(
                &t,
                Op::Delete,
                Some(Row(vec![Value::Int32(2), Value::Null])),
                None,
                pos(22_840_120, 780, 0),
            ),
            commit(780, 22_840_200, 22_840_232, 1),
        ],
    );
    let end = st(out.last().unwrap().value.as_ref().unwrap());
    assert_eq!(end[1], s("780:22840232"));
    assert_eq!(
        end[3],
        ConnectValue::Array(vec![ConnectValue::Struct(vec![s("my-schema.Tab$le"), ConnectValue::Int64(1)])])
    );
    assert_eq!(out[0].key, Some(ConnectValue::Struct(vec![s("780:22840120")])));
}

#[test]
fn heartbeats_follow_the_interval_and_never_split_a_transaction() {
    let mut b = builder(&[("heartbeat.interval.ms", "1000")]);
    let at = |ms: i64| Timestamp::Micros(1_700_000_000_000_000 + ms * 1000);
    let mut out = Vec::new();
    let progress = SourceEvent::Progress { lsn: Lsn(100) };
    // The timer starts with the first event; nothing is due before the interval.
    b.on_event(&progress, at(0), &mut out).unwrap();
    b.on_event(&progress, at(900), &mut out).unwrap();
    assert!(out.is_empty());
    // Due while a transaction is open: deferred to its commit.
    b.on_event(&begin(7, 500), at(1_100), &mut out).unwrap();
    b.heartbeat_due(at(1_200), &mut out);
    assert!(out.is_empty(), "no heartbeat inside a transaction");
    b.on_event(&commit(7, 500, 508, 0), at(1_300), &mut out).unwrap();
    let beats: Vec<&Record> =
        out.iter().filter(|r| r.topic == "__debezium-heartbeat.PostgreSQL_server").collect();
    assert_eq!(beats.len(), 1, "{out:?}");
    assert_eq!(st(beats[0].value.as_ref().unwrap())[0], ConnectValue::Int64(1_700_000_000_000 + 1_300));
    out.clear();
    b.heartbeat_due(at(2_000), &mut out);
    assert!(out.is_empty());
    b.heartbeat_due(at(2_300), &mut out);
    assert_eq!(out.len(), 1);
    // Off by default.
    let mut off = builder(&[]);
    let mut none = Vec::new();
    off.heartbeat_due(at(0), &mut none);
    off.heartbeat_due(at(1_000_000), &mut none);
    assert!(none.is_empty());
}

#[test]
fn forgotten_table_schemas_are_rebuilt_for_a_new_reader() {
    // A new reader numbers relation versions from 1 again: after DDL between two readers, version
    // 1 may describe another shape, so the cache is cleared when a reader starts.
    let mut b = RecordBuilder::new(config(&[]));
    let v1 = customers(1);
    let s1 = b.table_schemas(&v1).unwrap();
    let mut changed = (*customers(1)).clone();
    changed.columns.pop();
    b.forget_tables();
    let s2 = b.table_schemas(&changed).unwrap();
    assert!(!Arc::ptr_eq(&s1, &s2));
    assert_ne!(s1.value, s2.value);
}

/// A table of many mapped types, for the direct path's byte-for-byte check.
fn wide_table() -> Arc<TableSchema> {
    let c = |name: &str, oid: u32, modifier: i32, ty: &str, kind: TypeKind, nullable: bool| Column {
        name: name.into(),
        ty: ColumnType::new(oid, modifier, ty, kind),
        nullable,
        default: None,
        part_of_identity: name == "id" || name == "k2",
    };
    Arc::new(TableSchema {
        relation_id: 16_600,
        id: TableId::new("public", "wide"),
        version: 1,
        columns: vec![
            c("id", 20, -1, "int8", TypeKind::Int8, false),
            c("k2", 25, -1, "text", TypeKind::Text, false),
            c("b", 16, -1, "bool", TypeKind::Bool, true),
            c("i2", 21, -1, "int2", TypeKind::Int2, true),
            c("i4", 23, -1, "int4", TypeKind::Int4, false),
            c("f4", 700, -1, "float4", TypeKind::Float4, true),
            c("f8", 701, -1, "float8", TypeKind::Float8, true),
            c("n", 1700, (12 << 16 | 2) + 4, "numeric", TypeKind::Numeric, true),
            c("nv", 1700, -1, "numeric", TypeKind::Numeric, true),
            c("vc", 1043, 68, "varchar", TypeKind::Varchar, true),
            c("by", 17, -1, "bytea", TypeKind::Bytea, true),
            c("d", 1082, -1, "date", TypeKind::Date, true),
            c("t", 1083, -1, "time", TypeKind::Time, true),
            c("ts", 1114, -1, "timestamp", TypeKind::Timestamp, true),
            c("tz", 1184, -1, "timestamptz", TypeKind::TimestampTz, true),
            c("iv", 1186, -1, "interval", TypeKind::Interval, true),
            c("u", 2950, -1, "uuid", TypeKind::Uuid, true),
            c("j", 3802, -1, "jsonb", TypeKind::Jsonb, true),
            c("p", 600, -1, "point", TypeKind::Point, true),
        ],
        key: vec![0, 1],
        replica_identity: ReplicaIdentity::Default,
    })
}

fn wide_row(i: i64, nulls: bool) -> Row {
    use sluice_core::{Date, Decimal, Numeric};
    let maybe = |v: Value| if nulls { Value::Null } else { v };
    Row(vec![
        Value::Int64(i * 7919 - 3),
        Value::Text(format!("k{i}é")),
        maybe(Value::Bool(i % 2 == 0)),
        maybe(Value::Int16(-(i as i16))),
        Value::Int32(i as i32 * 31),
        maybe(Value::Float32(i as f32 / 3.0)),
        maybe(Value::Float64(-(i as f64) * 1.5e-7)),
        maybe(Value::Numeric(Numeric::Finite(
            Decimal::parse(&format!("{}.{:02}", i * 13 - 50, i % 100)).unwrap(),
        ))),
        maybe(Value::Numeric(if i % 3 == 0 {
            Numeric::NaN
        } else {
            Numeric::Finite(Decimal::parse(&format!("-{i}.000{i}")).unwrap())
        })),
        maybe(Value::Text("x".repeat(i as usize % 70))),
        maybe(Value::Bytes((0..(i % 9) as u8).collect())),
        maybe(Value::Date(Date::Days(17_109 + i as i32))),
        maybe(Value::Time(i * 1_000_003)),
        maybe(Value::Timestamp(Timestamp::Micros(1_600_000_000_000_000 + i * 999_999))),
        maybe(Value::TimestampTz(if i == 4 {
            Timestamp::PositiveInfinity
        } else {
            Timestamp::Micros(-86_400_000_000 + i * 1_234_567)
        })),
        maybe(Value::Interval { months: i as i32, days: -3, micros: i * 17 }),
        maybe(Value::Uuid([i as u8; 16])),
        maybe(Value::Text(format!("{{\"a\": {i}}}"))),
        maybe(Value::Point { x: i as f64, y: -0.5 }),
    ])
}

/// A direct row's key and value bytes equal the general path's, and after every event both
/// builders are in the same state; a renamed table after `forget_tables` gets its own `source`.
#[test]
fn direct_rows_write_the_general_paths_bytes() {
    let wide = wide_table();
    let c = customers(1);
    let keyless = keyless_table();
    let snap = |seq: u64, mark: SnapshotMark| SourcePosition {
        lsn: Lsn(0x2000),
        commit_lsn: None,
        seq,
        xid: Some(Xid(900)),
        commit_ts: Some(COMMIT_TS),
        origin: None,
        snapshot: Some(mark),
    };
    let mark = |first, last, first_in_table, last_in_table| SnapshotMark {
        first,
        last,
        first_in_table,
        last_in_table,
    };
    let mut events = Vec::new();
    for i in 0..6 {
        let m = mark(i == 0, false, i == 0, i == 5);
        events.push(row_event(&wide, Op::Read, None, Some(wide_row(i, i == 2)), snap(i as u64, m)));
    }
    events.push(row_event(
        &keyless,
        Op::Read,
        None,
        Some(Row(vec![Value::Text("l".into())])),
        snap(6, mark(false, false, true, false)),
    ));
    events.push(row_event(
        &c,
        Op::Read,
        None,
        Some(row(1, "a", "b", None)),
        snap(7, mark(false, true, true, true)),
    ));
    events.push(SourceEvent::SnapshotCompleted { consistent_point: Lsn(0x2000) });
    for t in 0..3u32 {
        let base = 0x3000 + u64::from(t) * 0x100;
        events.push(begin(1000 + t, base + 0x50));
        for i in 0..3 {
            let mut p = pos(base + i, 1000 + t, i);
            if t == 2 {
                p.origin = Some(Origin { name: "o1".into(), lsn: Lsn(77) });
            }
            events.push(row_event(&wide, Op::Create, None, Some(wide_row(10 + i as i64, i == 1)), p.clone()));
            events.push(row_event(&c, Op::Update, None, Some(row(2, "u", "v", Some("w"))), p));
        }
        events.push(commit(1000 + t, base + 0x50, base + 0x60, 6));
    }
    let configs: &[&[(&str, &str)]] = &[
        &[],
        &[
            ("decimal.handling.mode", "string"),
            ("time.precision.mode", "connect"),
            ("binary.handling.mode", "base64"),
        ],
        &[
            ("decimal.handling.mode", "double"),
            ("interval.handling.mode", "string"),
            ("extended.headers.enabled", "false"),
        ],
        &[("provide.transaction.metadata", "true")],
        &[("skipped.operations", "c"), ("column.mask.with.5.chars", "public.wide.vc")],
    ];
    // The same table under another name, same relation id and version (a new reader after a
    // rename): its reads must not reuse the old name's `source` block.
    let renamed = Arc::new(TableSchema { id: TableId::new("public", "renamed"), ..(*wide).clone() });
    let after_rename = row_event(
        &renamed,
        Op::Read,
        None,
        Some(wide_row(1, false)),
        snap(1, mark(false, false, false, false)),
    );
    let reread =
        row_event(&wide, Op::Read, None, Some(wide_row(1, false)), snap(1, mark(false, false, false, false)));
    for pairs in configs {
        let (mut general, mut direct) = (builder(pairs), builder(pairs));
        let (mut directs, mut fallbacks) = (0, 0);
        for event in &events {
            if check_direct_event(&mut general, &mut direct, event, pairs) {
                directs += 1;
            } else {
                fallbacks += 1;
            }
        }
        assert!(directs >= 8, "{pairs:?}: the snapshot reads at least go direct ({directs})");
        assert!(fallbacks >= 9, "{pairs:?}: updates and transaction markers do not ({fallbacks})");
        assert!(check_direct_event(&mut general, &mut direct, &reread, pairs));
        general.forget_tables();
        direct.forget_tables();
        assert!(check_direct_event(&mut general, &mut direct, &after_rename, pairs));
    }
}

/// Feeds one event to both builders, the direct one through `direct_row` where it offers a row,
/// and checks that they write the same bytes and end in the same state. Returns whether the event
/// went direct.
fn check_direct_event(
    general: &mut RecordBuilder,
    direct: &mut RecordBuilder,
    event: &SourceEvent,
    pairs: &[(&str, &str)],
) -> bool {
    let mut expected = Vec::new();
    general.on_event(event, NOW, &mut expected).unwrap();
    let went_direct = match direct.direct_row(event, NOW).unwrap() {
        None => {
            let mut got = Vec::new();
            direct.on_event(event, NOW, &mut got).unwrap();
            assert_eq!(got, expected, "{pairs:?}");
            false
        }
        Some(row) => {
            assert_eq!(expected.len(), 1, "{pairs:?}: one record per direct row");
            let r = &expected[0];
            assert_eq!(row.topic(), r.topic);
            assert_eq!(row.key_schema(), r.key_schema.as_ref());
            assert_eq!(Some(row.value_schema()), r.value_schema.as_ref());
            assert_eq!(&**row.headers(), &*r.headers);
            assert_eq!(row.position(), &r.position);
            let mut key = vec![9];
            let has_key = row.write_key(&mut key).unwrap();
            let mut want_key = vec![9];
            if let (Some(s), Some(k)) = (&r.key_schema, &r.key) {
                crate::avro::encode(s, k, &mut want_key).unwrap();
            }
            assert_eq!(has_key, r.key.is_some());
            assert_eq!(key, want_key, "{pairs:?}: key of {event:?}");
            let mut value = vec![7];
            row.write_value(&mut value).unwrap();
            let mut want_value = vec![7];
            crate::avro::encode(r.value_schema.as_ref().unwrap(), r.value.as_ref().unwrap(), &mut want_value)
                .unwrap();
            assert_eq!(value, want_value, "{pairs:?}: value of {event:?}");
            true
        }
    };
    let state = |b: &RecordBuilder| {
        (b.last_ts, b.last_origin.clone(), b.last_position.clone(), b.last_commit_lsn, b.in_transaction)
    };
    assert_eq!(state(general), state(direct), "{pairs:?}: state after {event:?}");
    went_direct
}
