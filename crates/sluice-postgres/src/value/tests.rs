//! Dispatch-level tests: every kind decodes through the public entry points, and no input, however
//! mangled, makes a decoder panic or echo the datum in its error.

use std::sync::Arc;

use sluice_core::value::{Array, ArrayDim};
use sluice_core::{ColumnType, Date, Decimal, Numeric, Timestamp, TypeKind, Value};

use super::*;

fn ty(oid: u32, name: &str, kind: TypeKind) -> ColumnType {
    ColumnType::new(oid, -1, name, kind)
}

fn boxed(t: ColumnType) -> Box<ColumnType> {
    Box::new(t)
}

/// A column type with sample text and binary datums.
type Sample = (ColumnType, Vec<&'static [u8]>, Vec<Vec<u8>>);

/// One column type per kind (and a few nestings).
fn samples() -> Vec<Sample> {
    let int4 = ty(23, "int4", TypeKind::Int4);
    let text = ty(25, "text", TypeKind::Text);
    let date = ty(1082, "date", TypeKind::Date);
    let tstz = ty(1184, "timestamptz", TypeKind::TimestampTz);
    let be = |v: &[&[u8]]| v.concat();
    vec![
        (ty(16, "bool", TypeKind::Bool), vec![b"t", b"f"], vec![vec![1], vec![0]]),
        (ty(21, "int2", TypeKind::Int2), vec![b"-32768"], vec![vec![0x80, 0]]),
        (int4.clone(), vec![b"42"], vec![42i32.to_be_bytes().to_vec()]),
        (ty(20, "int8", TypeKind::Int8), vec![b"-1"], vec![(-1i64).to_be_bytes().to_vec()]),
        (ty(26, "oid", TypeKind::Oid), vec![b"4000000000"], vec![4_000_000_000u32.to_be_bytes().to_vec()]),
        (ty(2205, "regclass", TypeKind::Oid), vec![b"pg_class"], vec![1259u32.to_be_bytes().to_vec()]),
        (ty(700, "float4", TypeKind::Float4), vec![b"1.5", b"NaN"], vec![1.5f32.to_be_bytes().to_vec()]),
        (ty(701, "float8", TypeKind::Float8), vec![b"-Infinity"], vec![2.5f64.to_be_bytes().to_vec()]),
        (
            ty(1700, "numeric", TypeKind::Numeric),
            vec![b"12.340", b"NaN"],
            vec![be(&[
                &2i16.to_be_bytes(),
                &0i16.to_be_bytes(),
                &[0, 0],
                &3u16.to_be_bytes(),
                &12u16.to_be_bytes(),
                &3400u16.to_be_bytes(),
            ])],
        ),
        (ty(790, "money", TypeKind::Money), vec![b"-$1,234.56"], vec![(-123_456i64).to_be_bytes().to_vec()]),
        (ty(1042, "bpchar", TypeKind::Bpchar), vec![b"ab "], vec![b"ab ".to_vec()]),
        (ty(1043, "varchar", TypeKind::Varchar), vec![b"x"], vec![b"x".to_vec()]),
        (text.clone(), vec!["caf\u{e9}".as_bytes()], vec!["caf\u{e9}".as_bytes().to_vec()]),
        (ty(19, "name", TypeKind::Name), vec![b"n"], vec![b"n".to_vec()]),
        (ty(18, "char", TypeKind::Char), vec![b"c", b"\\351"], vec![vec![b'c'], vec![0xe9]]),
        (ty(90_001, "citext", TypeKind::Citext), vec![b"Ab"], vec![b"Ab".to_vec()]),
        (ty(17, "bytea", TypeKind::Bytea), vec![b"\\x00ff"], vec![vec![0, 0xff]]),
        (date.clone(), vec![b"2016-11-04", b"0044-03-15 BC"], vec![(-10_957i32).to_be_bytes().to_vec()]),
        (ty(1083, "time", TypeKind::Time), vec![b"24:00:00"], vec![0i64.to_be_bytes().to_vec()]),
        (
            ty(1266, "timetz", TypeKind::TimeTz),
            vec![b"13:51:30.123789+02"],
            vec![be(&[&0i64.to_be_bytes(), &(-7200i32).to_be_bytes()])],
        ),
        (
            ty(1114, "timestamp", TypeKind::Timestamp),
            vec![b"2016-11-04 13:51:30.123456"],
            vec![0i64.to_be_bytes().to_vec()],
        ),
        (tstz.clone(), vec![b"2016-11-04 13:51:30+02", b"infinity"], vec![i64::MAX.to_be_bytes().to_vec()]),
        (
            ty(1186, "interval", TypeKind::Interval),
            vec![b"1 year 2 mons 3 days 04:05:06.78"],
            vec![be(&[&1i64.to_be_bytes(), &2i32.to_be_bytes(), &3i32.to_be_bytes()])],
        ),
        (ty(2950, "uuid", TypeKind::Uuid), vec![b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], vec![vec![7; 16]]),
        (ty(114, "json", TypeKind::Json), vec![b"{\"a\": 1}"], vec![b"{\"a\": 1}".to_vec()]),
        (ty(3802, "jsonb", TypeKind::Jsonb), vec![b"{\"a\": 1}"], vec![b"\x01{\"a\": 1}".to_vec()]),
        (ty(4072, "jsonpath", TypeKind::JsonPath), vec![b"$.a"], vec![b"\x01$.\"a\"".to_vec()]),
        (ty(142, "xml", TypeKind::Xml), vec![b"<a/>"], vec![b"<a/>".to_vec()]),
        (ty(869, "inet", TypeKind::Inet), vec![b"::1"], vec![vec![2, 24, 0, 4, 192, 168, 2, 0]]),
        (ty(650, "cidr", TypeKind::Cidr), vec![b"10.0.0.0/8"], vec![vec![2, 8, 1, 4, 10, 0, 0, 0]]),
        (ty(829, "macaddr", TypeKind::MacAddr), vec![b"08:00:2b:01:02:03"], vec![vec![8, 0, 0x2b, 1, 2, 3]]),
        (ty(774, "macaddr8", TypeKind::MacAddr8), vec![b"08:00:2b:ff:fe:01:02:03"], vec![vec![8; 8]]),
        (ty(1560, "bit", TypeKind::Bit), vec![b"10100000"], vec![be(&[&8i32.to_be_bytes(), &[0xa0]])]),
        (ty(1562, "varbit", TypeKind::VarBit), vec![b"101"], vec![be(&[&3i32.to_be_bytes(), &[0xa0]])]),
        (
            ty(3614, "tsvector", TypeKind::TsVector),
            vec![b"'a' 'cat':1A"],
            vec![be(&[&1i32.to_be_bytes(), b"cat\0", &1u16.to_be_bytes(), &(3u16 << 14 | 1).to_be_bytes()])],
        ),
        (
            ty(3615, "tsquery", TypeKind::TsQuery),
            vec![b"'a' & 'b'"],
            vec![be(&[&3i32.to_be_bytes(), &[2, 2], &[1, 0, 0], b"b\0", &[1, 0, 0], b"a\0"])],
        ),
        (
            ty(600, "point", TypeKind::Point),
            vec![b"(1,2)"],
            vec![be(&[&1f64.to_be_bytes(), &2f64.to_be_bytes()])],
        ),
        (
            ty(628, "line", TypeKind::Line),
            vec![b"{1,-1,0}"],
            vec![[1f64, -1.0, 0.0].iter().flat_map(|f| f.to_be_bytes()).collect()],
        ),
        (
            ty(601, "lseg", TypeKind::Lseg),
            vec![b"[(1,2),(3,4)]"],
            vec![[1f64, 2.0, 3.0, 4.0].iter().flat_map(|f| f.to_be_bytes()).collect()],
        ),
        (
            ty(603, "box", TypeKind::Box),
            vec![b"(3,4),(1,2)"],
            vec![[3f64, 4.0, 1.0, 2.0].iter().flat_map(|f| f.to_be_bytes()).collect()],
        ),
        (
            ty(602, "path", TypeKind::Path),
            vec![b"[(1,2),(3,4)]"],
            vec![be(&[&[1], &1i32.to_be_bytes(), &1f64.to_be_bytes(), &2f64.to_be_bytes()])],
        ),
        (
            ty(604, "polygon", TypeKind::Polygon),
            vec![b"((1,2))"],
            vec![be(&[&1i32.to_be_bytes(), &1f64.to_be_bytes(), &2f64.to_be_bytes()])],
        ),
        (
            ty(718, "circle", TypeKind::Circle),
            vec![b"<(10,20),10>"],
            vec![[10f64, 20.0, 10.0].iter().flat_map(|f| f.to_be_bytes()).collect()],
        ),
        (
            ty(90_002, "hstore", TypeKind::Hstore),
            vec![b"\"a\"=>\"1\", \"b\"=>NULL"],
            vec![be(&[&1i32.to_be_bytes(), &1i32.to_be_bytes(), b"a", &(-1i32).to_be_bytes()])],
        ),
        (ty(90_003, "ltree", TypeKind::Ltree), vec![b"a.b"], vec![b"\x01a.b".to_vec()]),
        (
            ty(
                90_004,
                "mood",
                TypeKind::Enum { labels: Arc::from(vec!["sad".to_string(), "ok".to_string()]) },
            ),
            vec![b"ok"],
            vec![b"ok".to_vec()],
        ),
        (
            ty(3904, "int4range", TypeKind::Range { element: boxed(int4.clone()) }),
            vec![b"[1,10)"],
            vec![be(&[
                &[2],
                &4i32.to_be_bytes(),
                &1i32.to_be_bytes(),
                &4i32.to_be_bytes(),
                &10i32.to_be_bytes(),
            ])],
        ),
        (
            ty(3910, "tstzrange", TypeKind::Range { element: boxed(tstz.clone()) }),
            vec![b"[\"2019-03-31 15:30:00+00\",infinity)"],
            vec![be(&[&[2 | 0x10], &8i32.to_be_bytes(), &0i64.to_be_bytes()])],
        ),
        (
            ty(4535, "datemultirange", TypeKind::MultiRange { element: boxed(date.clone()) }),
            vec![b"{[2020-01-01,2020-02-01)}"],
            vec![be(&[
                &1i32.to_be_bytes(),
                &9i32.to_be_bytes(),
                &[2 | 0x10],
                &4i32.to_be_bytes(),
                &0i32.to_be_bytes(),
            ])],
        ),
        (
            ty(1007, "_int4", TypeKind::Array { element: boxed(int4.clone()) }),
            vec![b"{1,2,NULL}", b"[0:1][1:2]={{1,2},{3,4}}"],
            vec![be(&[
                &1i32.to_be_bytes(),
                &1i32.to_be_bytes(),
                &23u32.to_be_bytes(),
                &2i32.to_be_bytes(),
                &1i32.to_be_bytes(),
                &4i32.to_be_bytes(),
                &1i32.to_be_bytes(),
                &(-1i32).to_be_bytes(),
            ])],
        ),
        (
            ty(1009, "_text", TypeKind::Array { element: boxed(text.clone()) }),
            vec![b"{\"a b\",NULL,\"NULL\",\"x\\\"y\"}"],
            vec![be(&[
                &1i32.to_be_bytes(),
                &0i32.to_be_bytes(),
                &25u32.to_be_bytes(),
                &1i32.to_be_bytes(),
                &1i32.to_be_bytes(),
                &1i32.to_be_bytes(),
                b"z",
            ])],
        ),
        (
            ty(90_005, "posint", TypeKind::Domain { base: boxed(int4.clone()) }),
            vec![b"7"],
            vec![7i32.to_be_bytes().to_vec()],
        ),
        (ty(90_006, "pair", TypeKind::Composite), vec![b"(1,x)"], vec![vec![0, 0, 0, 0]]),
        (ty(90_007, "whatever", TypeKind::Unknown), vec![b"?"], vec![vec![1]]),
    ]
}

/// A number per kind; the match has no wildcard, so a new kind must be added here (and to
/// [`samples`], which the test below checks).
fn kind_number(kind: &TypeKind) -> usize {
    use TypeKind::*;
    match kind {
        Bool => 0,
        Int2 => 1,
        Int4 => 2,
        Int8 => 3,
        Float4 => 4,
        Float8 => 5,
        Numeric => 6,
        Money => 7,
        Bpchar => 8,
        Varchar => 9,
        Text => 10,
        Name => 11,
        Char => 12,
        Citext => 13,
        Bytea => 14,
        Date => 15,
        Time => 16,
        TimeTz => 17,
        Timestamp => 18,
        TimestampTz => 19,
        Interval => 20,
        Uuid => 21,
        Json => 22,
        Jsonb => 23,
        JsonPath => 24,
        Xml => 25,
        Inet => 26,
        Cidr => 27,
        MacAddr => 28,
        MacAddr8 => 29,
        Bit => 30,
        VarBit => 31,
        Oid => 32,
        TsVector => 33,
        TsQuery => 34,
        Point => 35,
        Line => 36,
        Lseg => 37,
        Box => 38,
        Path => 39,
        Polygon => 40,
        Circle => 41,
        Hstore => 42,
        Ltree => 43,
        Enum { .. } => 44,
        Range { .. } => 45,
        MultiRange { .. } => 46,
        Array { .. } => 47,
        Domain { .. } => 48,
        Composite => 49,
        Unknown => 50,
    }
}

#[test]
fn samples_cover_every_kind() {
    let covered: std::collections::BTreeSet<usize> =
        samples().iter().map(|(t, ..)| kind_number(&t.kind)).collect();
    assert_eq!(covered, (0..=50).collect());
}

#[test]
fn every_sample_decodes() {
    for (t, texts, binaries) in samples() {
        for s in texts {
            if let Err(e) = decode_text(&t, s) {
                panic!("{}: text sample failed: {e}", t.name);
            }
        }
        let supported = crate::types::TypeRegistry::all_types_support_binary(&t);
        for b in binaries {
            let r = decode_binary(&t, &b);
            assert_eq!(r.is_ok(), supported, "{}: {r:?}", t.name);
        }
    }
}

#[test]
fn dispatch_produces_the_documented_representations() {
    let samples = samples();
    let find = |name: &str| samples.iter().find(|(t, ..)| &*t.name == name).map(|(t, ..)| t.clone()).unwrap();
    assert_eq!(decode_text(&find("oid"), b"4000000000"), Ok(Value::Int64(4_000_000_000)));
    assert_eq!(decode_text(&find("regclass"), b"pg_class"), Ok(Value::Text("pg_class".into())));
    assert_eq!(decode_text(&find("bit"), b"1"), Ok(Value::Bits { len: 1, data: vec![0x80] }));
    assert_eq!(decode_text(&find("posint"), b"7"), Ok(Value::Int32(7)));
    assert_eq!(decode_binary(&find("posint"), &7i32.to_be_bytes()), Ok(Value::Int32(7)));
    assert_eq!(decode_binary(&find("jsonb"), b"\x01{}"), Ok(Value::Text("{}".into())));
    assert_eq!(
        decode_binary(&find("timestamptz"), &0i64.to_be_bytes()),
        Ok(Value::TimestampTz(Timestamp::Micros(sluice_core::time::PG_EPOCH_MICROS)))
    );
    assert_eq!(
        decode_text(&find("tstzrange"), b"[\"2019-03-31 15:30:00+00\",infinity)"),
        Ok(Value::Text("[\"2019-03-31 15:30:00+00\",infinity)".into()))
    );
    assert_eq!(
        decode_binary(
            &find("tstzrange"),
            &[&[2u8 | 0x10][..], &8i32.to_be_bytes(), &0i64.to_be_bytes()].concat()
        ),
        Ok(Value::Text("[\"2000-01-01 00:00:00+00\",)".into()))
    );
    assert_eq!(
        decode_text(&find("_int4"), b"[0:1][1:2]={{1,2},{3,4}}"),
        Ok(Value::Array(Array {
            dims: vec![ArrayDim { len: 2, lower_bound: 0 }, ArrayDim { len: 2, lower_bound: 1 }],
            elements: (1..=4).map(Value::Int32).collect(),
        }))
    );
    assert_eq!(
        decode_text(&find("numeric"), b"12.340"),
        Ok(Value::Numeric(Numeric::Finite(Decimal::parse("12.340").unwrap())))
    );
    assert_eq!(decode_text(&find("date"), b"-infinity"), Ok(Value::Date(Date::NegativeInfinity)));
}

#[test]
fn unsupported_binary_forms_say_so() {
    for name in ["pair", "whatever", "regclass"] {
        let t = samples().into_iter().find(|(t, ..)| &*t.name == name).unwrap().0;
        let e = decode_binary(&t, &[0, 0, 0, 0]).unwrap_err();
        assert!(matches!(e.kind(), ValueErrorKind::Unsupported(_)), "{name}: {e}");
        assert_eq!(e.format(), Format::Binary);
        assert_eq!(e.type_name(), name);
    }
}

/// A small deterministic generator (xorshift64*), so failures replay exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that matter to the text grammars, so random text reaches deep into the parsers.
const SYNTAX: &[u8] = b"0123456789-+.:,;{}[]()<>=\"\\ eEtfxXNULLinfinityBC$/\x00\xff\xc3\xa9";

fn mangle(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    match rng.below(5) {
        0 => v.truncate(rng.below(v.len() + 1)),
        1 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] = rng.next() as u8;
        }
        2 => {
            let i = rng.below(v.len() + 1);
            v.insert(i, SYNTAX[rng.below(SYNTAX.len())]);
        }
        3 if !v.is_empty() => {
            let i = rng.below(v.len());
            v.remove(i);
        }
        _ => {
            let n = rng.below(4);
            v.extend((0..n).map(|_| rng.next() as u8));
        }
    }
    v
}

#[test]
fn random_and_mangled_input_never_panics() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for (t, texts, binaries) in samples() {
        let mut seeds: Vec<Vec<u8>> = texts.iter().map(|s| s.to_vec()).collect();
        seeds.extend(binaries);
        for _ in 0..3000 {
            let input: Vec<u8> = match rng.below(3) {
                0 => (0..rng.below(48)).map(|_| rng.next() as u8).collect(),
                1 => (0..rng.below(48)).map(|_| SYNTAX[rng.below(SYNTAX.len())]).collect(),
                _ => {
                    let seed = &seeds[rng.below(seeds.len())];
                    let mut v = mangle(&mut rng, seed);
                    for _ in 0..rng.below(3) {
                        v = mangle(&mut rng, &v);
                    }
                    v
                }
            };
            let _ = decode_text(&t, &input);
            let _ = decode_binary(&t, &input);
        }
    }
}

#[test]
fn errors_never_echo_the_datum() {
    let secret = b"s3cr3t-VALUE";
    for (t, texts, binaries) in samples() {
        let mut inputs: Vec<Vec<u8>> = vec![secret.to_vec()];
        for s in texts.iter().map(|s| s.to_vec()).chain(binaries) {
            inputs.push([&s[..], secret].concat());
            inputs.push([&secret[..], &s[..]].concat());
        }
        for input in inputs {
            for r in [decode_text(&t, &input), decode_binary(&t, &input)] {
                if let Err(e) = r {
                    let msg = e.to_string();
                    assert!(!msg.contains("s3cr3t") && !msg.contains("VALUE"), "{}: {msg}", t.name);
                }
            }
        }
    }
}
