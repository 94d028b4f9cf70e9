//! Fuzzes the PostgreSQL value decoders: arbitrary bytes in text and in binary form, under every
//! type kind (including arrays, ranges and domains over them). Decoding may fail; it must not panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::{ColumnType, TypeKind};
use sluice_postgres::value::{decode_binary, decode_text};

fn kinds() -> Vec<TypeKind> {
    use TypeKind::*;
    vec![
        Bool, Int2, Int4, Int8, Float4, Float8, Numeric, Money, Bpchar, Varchar, Text, Name, Char, Citext, Bytea,
        Date, Time, TimeTz, Timestamp, TimestampTz, Interval, Uuid, Json, Jsonb, JsonPath, Xml, Inet, Cidr,
        MacAddr, MacAddr8, Bit, VarBit, Oid, TsVector, TsQuery, Point, Line, Lseg, Box, Path, Polygon, Circle,
        Hstore, Ltree, Composite, Unknown,
        Enum { labels: vec!["a".to_owned(), "b".to_owned()].into() },
    ]
}

fn ty(selector: u8) -> ColumnType {
    let kinds = kinds();
    let base = kinds[usize::from(selector) % kinds.len()].clone();
    let scalar = ColumnType::new(0, -1, "fuzz", base);
    match selector / 64 {
        0 => scalar,
        1 => ColumnType::new(0, -1, "_fuzz", TypeKind::Array { element: Box::new(scalar) }),
        2 => ColumnType::new(0, -1, "fuzzrange", TypeKind::Range { element: Box::new(scalar) }),
        _ => ColumnType::new(0, -1, "fuzzmulti", TypeKind::MultiRange { element: Box::new(scalar) }),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Some((&form, bytes)) = rest.split_first() else { return };
    let ty = ty(selector);
    if form & 1 == 0 {
        let _ = decode_text(&ty, bytes);
    } else {
        let _ = decode_binary(&ty, bytes);
    }
});
