//! Unit tests of the pgoutput decoder: every message built byte by byte and decoded back, every
//! truncation rejected, and random or mutated input never panicking.

use sluice_core::time::PG_EPOCH_MICROS;
use sluice_core::{Lsn, ReplicaIdentity, Timestamp, Xid};

use super::*;

/// Writes messages the way pgoutput does, independently of the decoder, so round trips check
/// the layout rather than the decoder against itself.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn lsn(&mut self, v: Lsn) -> &mut Self {
        self.u64(v.0)
    }
    fn ts(&mut self, v: Timestamp) -> &mut Self {
        let raw = match v {
            Timestamp::Micros(m) => m - PG_EPOCH_MICROS,
            Timestamp::PositiveInfinity => i64::MAX,
            Timestamp::NegativeInfinity => i64::MIN,
        };
        self.0.extend_from_slice(&raw.to_be_bytes());
        self
    }
    fn str(&mut self, v: &str) -> &mut Self {
        self.0.extend_from_slice(v.as_bytes());
        self.u8(0)
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    fn counted(&mut self, v: &[u8]) -> &mut Self {
        self.i32(i32::try_from(v.len()).expect("test data is small"));
        self.bytes(v)
    }
    fn xid_opt(&mut self, v: Option<Xid>) -> &mut Self {
        if let Some(x) = v {
            self.u32(x.0);
        }
        self
    }
    fn tuple(&mut self, t: &TupleData<'_>) -> &mut Self {
        self.u16(u16::try_from(t.columns.len()).expect("test data is small"));
        for c in &t.columns {
            match c {
                TupleColumn::Null => self.u8(b'n'),
                TupleColumn::UnchangedToast => self.u8(b'u'),
                TupleColumn::Text(b) => self.u8(b't').counted(b),
                TupleColumn::Binary(b) => self.u8(b'b').counted(b),
            };
        }
        self
    }
    fn old(&mut self, t: &OldTuple<'_>) -> &mut Self {
        match t {
            OldTuple::Key(t) => self.u8(b'K').tuple(t),
            OldTuple::Full(t) => self.u8(b'O').tuple(t),
        }
    }
}

fn identity_code(r: ReplicaIdentity) -> u8 {
    match r {
        ReplicaIdentity::Default => b'd',
        ReplicaIdentity::Nothing => b'n',
        ReplicaIdentity::Full => b'f',
        ReplicaIdentity::Index => b'i',
    }
}

fn encode(m: &LogicalMessage<'_>) -> Vec<u8> {
    let mut e = Enc::default();
    e.u8(m.message_type().tag());
    match m {
        LogicalMessage::Begin(b) => e.lsn(b.final_lsn).ts(b.commit_ts).u32(b.xid.0),
        LogicalMessage::Commit(c) => e.u8(c.flags).lsn(c.commit_lsn).lsn(c.end_lsn).ts(c.commit_ts),
        LogicalMessage::Origin(o) => e.lsn(o.commit_lsn).str(o.name),
        LogicalMessage::Relation(r) => {
            e.xid_opt(r.xid).u32(r.relation_id).str(r.namespace).str(r.name);
            e.u8(identity_code(r.replica_identity));
            e.u16(u16::try_from(r.columns.len()).expect("test data is small"));
            for c in &r.columns {
                e.u8(u8::from(c.is_key)).str(c.name).u32(c.type_oid).i32(c.type_modifier);
            }
            &mut e
        }
        LogicalMessage::Type(t) => e.xid_opt(t.xid).u32(t.type_oid).str(t.namespace).str(t.name),
        LogicalMessage::Insert(i) => e.xid_opt(i.xid).u32(i.relation_id).u8(b'N').tuple(&i.new),
        LogicalMessage::Update(u) => {
            e.xid_opt(u.xid).u32(u.relation_id);
            if let Some(old) = &u.old {
                e.old(old);
            }
            e.u8(b'N').tuple(&u.new)
        }
        LogicalMessage::Delete(d) => e.xid_opt(d.xid).u32(d.relation_id).old(&d.old),
        LogicalMessage::Truncate(t) => {
            e.xid_opt(t.xid).u32(u32::try_from(t.relation_ids.len()).expect("small"));
            e.u8(u8::from(t.cascade) | (u8::from(t.restart_identity) << 1));
            for id in &t.relation_ids {
                e.u32(*id);
            }
            &mut e
        }
        LogicalMessage::Message(m) => {
            e.xid_opt(m.xid).u8(u8::from(m.transactional)).lsn(m.lsn).str(m.prefix).counted(m.content)
        }
        LogicalMessage::StreamStart { xid, first_segment } => e.u32(xid.0).u8(u8::from(*first_segment)),
        LogicalMessage::StreamStop => &mut e,
        LogicalMessage::StreamCommit { xid, flags, commit_lsn, end_lsn, commit_ts } => {
            e.u32(xid.0).u8(*flags).lsn(*commit_lsn).lsn(*end_lsn).ts(*commit_ts)
        }
        LogicalMessage::StreamAbort { xid, subxid, abort_lsn, abort_ts } => {
            e.u32(xid.0).u32(subxid.0);
            if let Some(l) = abort_lsn {
                e.lsn(*l);
            }
            if let Some(t) = abort_ts {
                e.ts(*t);
            }
            &mut e
        }
        LogicalMessage::BeginPrepare { prepare_lsn, end_lsn, prepare_ts, xid, gid } => {
            e.lsn(*prepare_lsn).lsn(*end_lsn).ts(*prepare_ts).u32(xid.0).str(gid)
        }
        LogicalMessage::Prepare { flags, prepare_lsn, end_lsn, prepare_ts, xid, gid }
        | LogicalMessage::StreamPrepare { flags, prepare_lsn, end_lsn, prepare_ts, xid, gid } => {
            e.u8(*flags).lsn(*prepare_lsn).lsn(*end_lsn).ts(*prepare_ts).u32(xid.0).str(gid)
        }
        LogicalMessage::CommitPrepared { flags, commit_lsn, end_lsn, commit_ts, xid, gid } => {
            e.u8(*flags).lsn(*commit_lsn).lsn(*end_lsn).ts(*commit_ts).u32(xid.0).str(gid)
        }
        LogicalMessage::RollbackPrepared {
            flags,
            prepare_end_lsn,
            rollback_end_lsn,
            prepare_ts,
            rollback_ts,
            xid,
            gid,
        } => e
            .u8(*flags)
            .lsn(*prepare_end_lsn)
            .lsn(*rollback_end_lsn)
            .ts(*prepare_ts)
            .ts(*rollback_ts)
            .u32(xid.0)
            .str(gid),
    };
    e.0
}

const TS: Timestamp = Timestamp::Micros(1_700_000_000_123_456);

fn ctx(protocol_version: u32, in_stream: bool) -> DecodeContext {
    DecodeContext { protocol_version, in_stream }
}

/// Every message the server may send under `ctx`, with the stream xid where `ctx` expects one.
fn samples(ctx: DecodeContext) -> Vec<LogicalMessage<'static>> {
    let xid = ctx.in_stream.then_some(Xid(7_001));
    let row = TupleData {
        columns: vec![
            TupleColumn::Text(b"42"),
            TupleColumn::Null,
            TupleColumn::UnchangedToast,
            TupleColumn::Binary(&[0, 1, 2, 0xff]),
            TupleColumn::Text(b""),
        ],
    };
    let key = TupleData {
        columns: vec![
            TupleColumn::Text(b"41"),
            TupleColumn::Null,
            TupleColumn::Null,
            TupleColumn::Null,
            TupleColumn::Null,
        ],
    };
    let mut out = vec![
        LogicalMessage::Relation(Relation {
            xid,
            relation_id: 16_385,
            namespace: "public",
            name: "orders ünïcode",
            replica_identity: ReplicaIdentity::Default,
            columns: vec![
                RelationColumn { is_key: true, name: "id", type_oid: 23, type_modifier: -1 },
                RelationColumn { is_key: false, name: "note", type_oid: 1043, type_modifier: 54 },
                RelationColumn { is_key: false, name: "", type_oid: 25, type_modifier: -1 },
                RelationColumn { is_key: false, name: "blob", type_oid: 17, type_modifier: -1 },
                RelationColumn { is_key: false, name: "e", type_oid: 99_999, type_modifier: -1 },
            ],
        }),
        LogicalMessage::Relation(Relation {
            xid,
            relation_id: 1,
            namespace: "",
            name: "no_columns",
            replica_identity: ReplicaIdentity::Full,
            columns: vec![],
        }),
        LogicalMessage::Type(TypeMessage { xid, type_oid: 99_999, namespace: "public", name: "mood" }),
        LogicalMessage::Insert(Insert { xid, relation_id: 16_385, new: row.clone() }),
        LogicalMessage::Insert(Insert { xid, relation_id: 2, new: TupleData::default() }),
        LogicalMessage::Update(Update { xid, relation_id: 16_385, old: None, new: row.clone() }),
        LogicalMessage::Update(Update {
            xid,
            relation_id: 16_385,
            old: Some(OldTuple::Key(key.clone())),
            new: row.clone(),
        }),
        LogicalMessage::Update(Update {
            xid,
            relation_id: 16_385,
            old: Some(OldTuple::Full(row.clone())),
            new: row.clone(),
        }),
        LogicalMessage::Delete(Delete { xid, relation_id: 16_385, old: OldTuple::Key(key) }),
        LogicalMessage::Delete(Delete { xid, relation_id: 16_385, old: OldTuple::Full(row) }),
        LogicalMessage::Truncate(Truncate {
            xid,
            cascade: true,
            restart_identity: false,
            relation_ids: vec![16_385, 16_390],
        }),
        LogicalMessage::Truncate(Truncate {
            xid,
            cascade: false,
            restart_identity: true,
            relation_ids: vec![16_385],
        }),
        LogicalMessage::Message(Message {
            xid,
            transactional: true,
            lsn: Lsn(0x16_B374_D848),
            prefix: "sluice",
            content: b"{\"k\":1}\0binary",
        }),
    ];
    if !ctx.in_stream {
        out.extend([
            LogicalMessage::Begin(Begin { final_lsn: Lsn(0x1_0000_0010), commit_ts: TS, xid: Xid(700) }),
            LogicalMessage::Commit(Commit {
                flags: 0,
                commit_lsn: Lsn(0x1_0000_0010),
                end_lsn: Lsn(0x1_0000_0040),
                commit_ts: Timestamp::PositiveInfinity,
            }),
            LogicalMessage::Origin(OriginMessage { commit_lsn: Lsn(99), name: "pg_16400" }),
            LogicalMessage::Message(Message {
                xid,
                transactional: false,
                lsn: Lsn(5),
                prefix: "",
                content: b"",
            }),
        ]);
    }
    if ctx.protocol_version >= 2 {
        out.extend([
            LogicalMessage::StreamStart { xid: Xid(7_000), first_segment: true },
            LogicalMessage::StreamStart { xid: Xid(7_000), first_segment: false },
            LogicalMessage::StreamStop,
            LogicalMessage::StreamCommit {
                xid: Xid(7_000),
                flags: 0,
                commit_lsn: Lsn(0x2_0000_0000),
                end_lsn: Lsn(0x2_0000_0030),
                commit_ts: Timestamp::NegativeInfinity,
            },
            LogicalMessage::StreamAbort {
                xid: Xid(7_000),
                subxid: Xid(7_001),
                abort_lsn: None,
                abort_ts: None,
            },
        ]);
    }
    if ctx.protocol_version >= 3 {
        out.extend([
            LogicalMessage::BeginPrepare {
                prepare_lsn: Lsn(100),
                end_lsn: Lsn(200),
                prepare_ts: TS,
                xid: Xid(800),
                gid: "gid-1",
            },
            LogicalMessage::Prepare {
                flags: 0,
                prepare_lsn: Lsn(100),
                end_lsn: Lsn(200),
                prepare_ts: TS,
                xid: Xid(800),
                gid: "gid-1",
            },
            LogicalMessage::CommitPrepared {
                flags: 0,
                commit_lsn: Lsn(300),
                end_lsn: Lsn(400),
                commit_ts: Timestamp::Micros(PG_EPOCH_MICROS),
                xid: Xid(800),
                gid: "gid-1",
            },
            LogicalMessage::RollbackPrepared {
                flags: 0,
                prepare_end_lsn: Lsn(200),
                rollback_end_lsn: Lsn(500),
                prepare_ts: TS,
                rollback_ts: Timestamp::Micros(-5),
                xid: Xid(800),
                gid: "",
            },
            LogicalMessage::StreamPrepare {
                flags: 0,
                prepare_lsn: Lsn(100),
                end_lsn: Lsn(200),
                prepare_ts: TS,
                xid: Xid(7_000),
                gid: "gid-2",
            },
        ]);
    }
    if ctx.protocol_version >= 4 {
        out.push(LogicalMessage::StreamAbort {
            xid: Xid(7_000),
            subxid: Xid(7_002),
            abort_lsn: Some(Lsn(0x3_0000_0000)),
            abort_ts: Some(TS),
        });
    }
    out
}

/// The contexts the tests run under: every version, in and out of a stream (v1 cannot stream).
fn contexts() -> Vec<DecodeContext> {
    vec![ctx(1, false), ctx(2, false), ctx(2, true), ctx(3, false), ctx(3, true), ctx(4, false), ctx(4, true)]
}

#[test]
fn every_message_round_trips() {
    let mut checked = 0;
    for c in contexts() {
        for m in samples(c) {
            let bytes = encode(&m);
            assert_eq!(decode(&bytes, c).as_ref(), Ok(&m), "{c:?}");
            checked += 1;
        }
    }
    assert!(checked > 100);
    let types: std::collections::HashSet<_> =
        samples(ctx(4, false)).iter().map(LogicalMessage::message_type).collect();
    assert_eq!(types.len(), 19, "every message type has a sample");
}

#[test]
fn literal_bytes_decode_as_documented() {
    // Begin: final LSN 0/16B3748, commit time 2000-01-01 + 1 s, xid 740.
    let begin = [b'B', 0, 0, 0, 0, 0x01, 0x6B, 0x37, 0x48, 0, 0, 0, 0, 0, 0x0F, 0x42, 0x40, 0, 0, 0x02, 0xE4];
    assert_eq!(
        decode(&begin, ctx(1, false)),
        Ok(LogicalMessage::Begin(Begin {
            final_lsn: Lsn(0x016B_3748),
            commit_ts: Timestamp::Micros(PG_EPOCH_MICROS + 1_000_000),
            xid: Xid(740),
        }))
    );
    // Streamed insert into relation 16385 of (1, NULL) by xid 9.
    let insert = [b'I', 0, 0, 0, 9, 0, 0, 0x40, 0x01, b'N', 0, 2, b't', 0, 0, 0, 1, b'1', b'n'];
    assert_eq!(
        decode(&insert, ctx(2, true)),
        Ok(LogicalMessage::Insert(Insert {
            xid: Some(Xid(9)),
            relation_id: 16_385,
            new: TupleData { columns: vec![TupleColumn::Text(b"1"), TupleColumn::Null] },
        }))
    );
    // The same bytes outside a stream read the xid as the relation OID and then fail.
    assert!(decode(&insert, ctx(2, false)).is_err());
}

#[test]
fn every_truncation_is_an_error() {
    for c in contexts() {
        for m in samples(c) {
            let bytes = encode(&m);
            for len in 0..bytes.len() {
                let prefix = bytes.get(..len).expect("len < bytes.len()");
                match decode(prefix, c) {
                    Err(e) => {
                        assert!(e.offset <= len, "{e} beyond {len} bytes");
                        assert!(
                            matches!(e.kind, DecodeErrorKind::Truncated | DecodeErrorKind::Unterminated),
                            "{m:?} cut at {len}: {e}"
                        );
                    }
                    // The one legal prefix: a v4 Stream Abort without the parallel-mode fields.
                    Ok(LogicalMessage::StreamAbort { abort_lsn: None, abort_ts: None, .. })
                        if len == 9 && c.protocol_version >= 4 => {}
                    Ok(other) => panic!("{m:?} cut at {len} decoded as {other:?}"),
                }
            }
        }
    }
}

#[test]
fn trailing_bytes_are_an_error() {
    for c in contexts() {
        for m in samples(c) {
            let mut bytes = encode(&m);
            let len = bytes.len();
            bytes.push(0);
            let err = decode(&bytes, c).expect_err("trailing byte");
            // A v4 Stream Abort without parallel fields reads the extra byte as a truncated LSN.
            if !matches!(err.kind, DecodeErrorKind::Truncated) {
                assert_eq!((err.kind, err.offset), (DecodeErrorKind::TrailingBytes(1), len), "{m:?}");
            }
        }
    }
}

#[test]
fn error_messages_name_message_field_offset_and_column() {
    let m = LogicalMessage::Update(Update {
        xid: None,
        relation_id: 1,
        old: None,
        new: TupleData {
            columns: vec![
                TupleColumn::Null,
                TupleColumn::Null,
                TupleColumn::Text(b"abcdef"),
                TupleColumn::Null,
                TupleColumn::Null,
            ],
        },
    });
    let bytes = encode(&m);
    // tag 1 + relation 4 + marker 1 + count 2 + two NULLs 2 + kind 1 + length 4 = value at 15.
    let err = decode(bytes.get(..17).expect("long enough"), ctx(1, false)).expect_err("truncated");
    assert_eq!(
        err.to_string(),
        "pgoutput Update message: truncated new tuple column value at byte 15 (column 3 of 5)"
    );
    assert_eq!(err.position, Some(ItemPosition { item: "column", index: 3, count: 5 }));
    assert_eq!(err.message, Some(MessageType::Update));

    let err = decode(b"Z", ctx(4, false)).expect_err("unknown tag");
    assert_eq!(err.to_string(), "pgoutput message: unknown message tag 0x5a ('Z') at byte 0");
    let err = decode(b"", ctx(4, false)).expect_err("empty");
    assert_eq!(err.to_string(), "pgoutput message: truncated message tag at byte 0");
}

#[test]
fn newer_messages_need_the_protocol_version() {
    for (m, required) in [
        (LogicalMessage::StreamStop, 2),
        (LogicalMessage::StreamStart { xid: Xid(1), first_segment: true }, 2),
        (
            LogicalMessage::BeginPrepare {
                prepare_lsn: Lsn(1),
                end_lsn: Lsn(2),
                prepare_ts: TS,
                xid: Xid(3),
                gid: "g",
            },
            3,
        ),
    ] {
        let bytes = encode(&m);
        let err = decode(&bytes, ctx(required - 1, false)).expect_err("too new");
        assert_eq!(
            err.kind,
            DecodeErrorKind::ProtocolVersion { required, negotiated: required - 1 },
            "{m:?}"
        );
        assert_eq!(decode(&bytes, ctx(required, false)), Ok(m));
    }
    let abort = [b'A', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4];
    let err = decode(&abort, ctx(3, true)).expect_err("v3 has no abort LSN");
    assert_eq!((err.kind, err.offset), (DecodeErrorKind::TrailingBytes(16), 9));
    assert_eq!(
        decode(&abort, ctx(4, true)),
        Ok(LogicalMessage::StreamAbort {
            xid: Xid(1),
            subxid: Xid(2),
            abort_lsn: Some(Lsn(3)),
            abort_ts: Some(Timestamp::Micros(PG_EPOCH_MICROS + 4)),
        })
    );
}

#[test]
fn malformed_fields_are_reported() {
    let c = ctx(1, false);
    let kind = |bytes: &[u8]| decode(bytes, c).map(|_| ()).map_err(|e| (e.field, e.offset, e.kind));
    // Unknown tuple column kind.
    assert_eq!(
        kind(&[b'I', 0, 0, 0, 1, b'N', 0, 1, b'x']),
        Err(("new tuple column kind", 8, DecodeErrorKind::UnknownCode(b'x')))
    );
    // Unknown tuple markers.
    assert_eq!(
        kind(&[b'I', 0, 0, 0, 1, b'K', 0, 0]),
        Err(("tuple marker", 5, DecodeErrorKind::UnknownCode(b'K')))
    );
    assert_eq!(
        kind(&[b'U', 0, 0, 0, 1, b'K', 0, 0, b'K', 0, 0]),
        Err(("new tuple marker", 8, DecodeErrorKind::UnknownCode(b'K')))
    );
    assert_eq!(
        kind(&[b'D', 0, 0, 0, 1, b'N', 0, 0]).map_err(|e| e.2),
        Err(DecodeErrorKind::UnknownCode(b'N'))
    );
    // Negative value length.
    assert_eq!(
        kind(&[b'I', 0, 0, 0, 1, b'N', 0, 1, b't', 0xff, 0xff, 0xff, 0xff]),
        Err(("new tuple column length", 9, DecodeErrorKind::NegativeLength(-1)))
    );
    // Invalid UTF-8 and a missing NUL.
    assert_eq!(
        kind(&[b'O', 0, 0, 0, 0, 0, 0, 0, 1, 0xc3, 0x28, 0]),
        Err(("origin name", 9, DecodeErrorKind::InvalidUtf8))
    );
    assert_eq!(
        kind(&[b'O', 0, 0, 0, 0, 0, 0, 0, 1, b'a', b'b']),
        Err(("origin name", 9, DecodeErrorKind::Unterminated))
    );
    // Unknown replica identity, message flags and first-segment flag.
    assert_eq!(
        kind(&[b'R', 0, 0, 0, 1, 0, b't', 0, b'x', 0, 0]),
        Err(("replica identity", 8, DecodeErrorKind::UnknownCode(b'x')))
    );
    assert_eq!(
        kind(&[b'M', 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]),
        Err(("flags", 1, DecodeErrorKind::UnknownCode(2)))
    );
    assert_eq!(
        decode(&[b'S', 0, 0, 0, 1, 2], ctx(2, false)).map_err(|e| e.kind),
        Err(DecodeErrorKind::UnknownCode(2))
    );
    // A timestamp that overflows when moved to the Unix epoch.
    let mut begin = vec![b'B', 0, 0, 0, 0, 0, 0, 0, 0];
    begin.extend_from_slice(&(i64::MAX - 1).to_be_bytes());
    begin.extend_from_slice(&[0, 0, 0, 1]);
    assert_eq!(
        kind(&begin),
        Err(("commit timestamp", 9, DecodeErrorKind::TimestampOutOfRange(i64::MAX - 1)))
    );
}

#[test]
fn huge_counts_fail_fast_without_allocating() {
    let c = ctx(1, false);
    // 65535 columns announced, 3 bytes present.
    let tuple = [b'I', 0, 0, 0, 1, b'N', 0xff, 0xff, b'n', b'n', b'n'];
    let err = decode(&tuple, c).expect_err("truncated");
    assert_eq!(err.position, Some(ItemPosition { item: "column", index: 4, count: 65_535 }));
    let relation = [b'R', 0, 0, 0, 1, 0, b't', 0, b'd', 0xff, 0xff, 1, 0, 0];
    let err = decode(&relation, c).expect_err("truncated");
    assert_eq!(err.position, Some(ItemPosition { item: "column", index: 1, count: 65_535 }));
    let truncate = [b'T', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1];
    let err = decode(&truncate, c).expect_err("truncated");
    assert_eq!(err.position, Some(ItemPosition { item: "relation", index: 2, count: u32::MAX }));
    let message = [b'M', 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x7f, 0xff, 0xff, 0xff, 1];
    let err = decode(&message, c).expect_err("truncated");
    assert_eq!((err.field, err.kind), ("content", DecodeErrorKind::Truncated));
}

/// xorshift64*: deterministic, dependency-free pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("fits")).expect("fits")
    }
    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// Decodes under every context; a failure must still render and point inside the input.
fn decode_everywhere(bytes: &[u8]) {
    for version in 1..=4 {
        for in_stream in [false, true] {
            if let Err(e) = decode(bytes, ctx(version, in_stream)) {
                assert!(e.offset <= bytes.len(), "{e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let tags = b"BCORYIUDTMSEcAbPKrp";
    for i in 0..100_000 {
        let len = rng.below(64);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        // Mostly valid tags, so the fuzzing reaches the message bodies.
        if let Some(first) = bytes.first_mut()
            && i % 8 != 0
        {
            *first = tags[rng.below(tags.len())];
        }
        decode_everywhere(&bytes);
    }
}

#[test]
fn mutated_messages_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let seeds: Vec<Vec<u8>> = contexts().into_iter().flat_map(samples).map(|m| encode(&m)).collect();
    for _ in 0..30_000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            match rng.below(3) {
                0 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.byte();
                }
                1 => {
                    let i = rng.below(bytes.len() + 1);
                    bytes.insert(i, rng.byte());
                }
                _ if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes.remove(i);
                }
                _ => {}
            }
        }
        decode_everywhere(&bytes);
    }
}

/// Writes every sample message as a fuzzing seed into `$PGOUTPUT_SEED_DIR`.
///
/// Run with `PGOUTPUT_SEED_DIR=$PWD/fuzz/corpus/pgoutput_decode cargo test -p sluice-postgres --lib
/// pgoutput::tests::write_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to refresh the fuzzing corpus"]
fn write_fuzz_seeds() {
    let dir = std::env::var("PGOUTPUT_SEED_DIR").expect("set PGOUTPUT_SEED_DIR");
    std::fs::create_dir_all(&dir).expect("create seed directory");
    for c in contexts() {
        for (i, m) in samples(c).iter().enumerate() {
            let name = format!(
                "v{}{}-{:02}-{}",
                c.protocol_version,
                if c.in_stream { "-stream" } else { "" },
                i,
                m.message_type().name().replace(' ', "_").to_lowercase()
            );
            std::fs::write(std::path::Path::new(&dir).join(name), encode(m)).expect("write seed");
        }
    }
}
