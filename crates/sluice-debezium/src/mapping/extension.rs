//! Extension types Debezium recognises by type name: PostGIS `geometry`/`geography`
//! (`PostgresValueConverter.convertGeometry/convertGeography`, `PostgisGeometry`), pgvector
//! `vector`/`halfvec`/`sparsevec` (`DoubleVector`, `FloatVector`, `SparseDoubleVector`, `Vectors`)
//! and `isbn` (a plain string). sluice resolves them as [`TypeKind::Unknown`] carrying their
//! `typname`, and decodes their values as text (hex EWKB for PostGIS, `[1,2,3]` /
//! `{1:1.5,3:2}/5` for pgvector).
//!
//! [`TypeKind::Unknown`]: sluice_core::TypeKind::Unknown

use std::sync::Arc;

use super::Outcome;
use super::java;
use super::semantic::{self as s, SEMANTIC_VERSION};
use crate::connect::{ConnectValue as C, Field, Schema, SchemaType};

/// An extension type with a Debezium semantic schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extension {
    Geometry,
    Geography,
    DoubleVector,
    FloatVector,
    SparseVector,
    Isbn,
}

impl Extension {
    /// The extension a type name denotes.
    pub(crate) fn from_type_name(name: &str) -> Option<Self> {
        Some(match name {
            "geometry" => Extension::Geometry,
            "geography" => Extension::Geography,
            "vector" => Extension::DoubleVector,
            "halfvec" => Extension::FloatVector,
            "sparsevec" => Extension::SparseVector,
            "isbn" => Extension::Isbn,
            _ => return None,
        })
    }

    /// The schema. `Geometry.builder()` is optional by itself, whatever the column's nullability.
    pub(crate) fn schema(self) -> Schema {
        let field = |name: &str, schema: Schema| Field { name: name.to_owned(), schema: Arc::new(schema) };
        let wkb_srid = || {
            vec![
                field("wkb", Schema::primitive(SchemaType::Bytes)),
                field("srid", Schema::primitive(SchemaType::Int32).optional()),
            ]
        };
        match self {
            Extension::Geometry => Schema::structure(s::GEOMETRY, wkb_srid())
                .versioned(SEMANTIC_VERSION)
                .with_doc(s::GEOMETRY_DOC)
                .optional(),
            Extension::Geography => Schema::structure(s::GEOGRAPHY, wkb_srid())
                .versioned(SEMANTIC_VERSION)
                .with_doc(s::GEOGRAPHY_DOC),
            Extension::DoubleVector => Schema::array(Schema::primitive(SchemaType::Float64))
                .named(s::DOUBLE_VECTOR)
                .versioned(SEMANTIC_VERSION),
            Extension::FloatVector => Schema::array(Schema::primitive(SchemaType::Float32))
                .named(s::FLOAT_VECTOR)
                .versioned(SEMANTIC_VERSION),
            Extension::SparseVector => Schema::structure(
                s::SPARSE_DOUBLE_VECTOR,
                vec![
                    field("dimensions", Schema::primitive(SchemaType::Int16)),
                    field(
                        "vector",
                        Schema::map(
                            Schema::primitive(SchemaType::Int16),
                            Schema::primitive(SchemaType::Float64),
                        ),
                    ),
                ],
            )
            .versioned(SEMANTIC_VERSION)
            .with_doc(s::SPARSE_DOUBLE_VECTOR_DOC),
            Extension::Isbn => Schema::primitive(SchemaType::String),
        }
    }

    /// `convertValue`'s fallback for a NULL in a NOT NULL column.
    pub(crate) fn fallback(self) -> C {
        match self {
            // PostgisGeometry.createEmpty(): an empty GEOMETRYCOLLECTION.
            Extension::Geometry | Extension::Geography => {
                C::Struct(vec![C::Bytes(vec![1, 7, 0, 0, 0, 0, 0, 0, 0]), C::Null])
            }
            Extension::DoubleVector | Extension::FloatVector => C::Array(Vec::new()),
            Extension::SparseVector => C::Struct(vec![C::Int16(0), C::Map(Vec::new())]),
            Extension::Isbn => C::String(String::new()),
        }
    }

    /// Converts the text form of a value.
    pub(crate) fn convert(self, text: &str) -> Outcome {
        match self {
            Extension::Geometry | Extension::Geography => geometry(text),
            Extension::DoubleVector => vector(text, |s| java_parse::<f64>(s).map(C::Float64)),
            Extension::FloatVector => vector(text, |s| java_parse::<f32>(s).map(C::Float32)),
            Extension::SparseVector => sparse_vector(text),
            Extension::Isbn => Outcome::Value(C::String(text.to_owned())),
        }
    }
}

/// `PostgisGeometry.fromHexEwkb`: the EWKB bytes as they are, plus the SRID when its flag is set.
fn geometry(hex_ewkb: &str) -> Outcome {
    let Ok(ewkb) = hex::decode(hex_ewkb.trim()) else {
        return Outcome::Failed("not hex EWKB".to_owned());
    };
    if ewkb.len() < 9 {
        return Outcome::Failed("EWKB too short".to_owned());
    }
    let word = |at: usize| {
        let b = [ewkb[at], ewkb[at + 1], ewkb[at + 2], ewkb[at + 3]];
        if ewkb[0] != 0 { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }
    };
    let srid = if word(1) & 0x2000_0000 != 0 { C::Int32(word(5) as i32) } else { C::Null };
    Outcome::Value(C::Struct(vec![C::Bytes(ewkb), srid]))
}

/// `Double.parseDouble` / `Float.parseFloat` of pgvector's element text.
fn java_parse<T: std::str::FromStr>(s: &str) -> Option<T> {
    let s = s.trim();
    if s.is_empty()
        || s.contains(['i', 'I', 'n', 'N']) && !matches!(s.trim_start_matches(['-', '+']), "NaN" | "Infinity")
    {
        return None;
    }
    s.replace("Infinity", "inf").parse().ok()
}

/// `Vectors.fromVectorString`: `[x,y,z]`; a malformed shape gives null, a malformed number throws.
fn vector(text: &str, element: impl Fn(&str) -> Option<C>) -> Outcome {
    let text = text.trim();
    let Some(body) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return Outcome::Null;
    };
    let mut out = Vec::new();
    for part in body.split(',') {
        match element(part.trim()) {
            Some(v) => out.push(v),
            None => return Outcome::Thrown("not a number in a vector".to_owned()),
        }
    }
    Outcome::Value(C::Array(out))
}

/// `Vectors.fromSparseVectorString`: `{i1:x,i2:y}/dimensions`, the map in `HashMap` order.
fn sparse_vector(text: &str) -> Outcome {
    let thrown = || Outcome::Thrown("malformed sparse vector".to_owned());
    let parts: Vec<&str> = text.trim().split('/').collect();
    if parts.len() != 2 {
        return Outcome::Null;
    }
    let Ok(dimensions) = parts[1].trim().parse::<i16>() else { return thrown() };
    let Some(body) = parts[0].trim().strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return Outcome::Null;
    };
    let body = body.trim();
    let mut entries: Vec<(i16, f64)> = Vec::new();
    if !body.is_empty() {
        for element in body.split(',') {
            let kv: Vec<&str> = element.split(':').collect();
            if kv.len() != 2 {
                return Outcome::Null;
            }
            let (Ok(k), Some(v)) = (kv[0].trim().parse::<i16>(), java_parse::<f64>(kv[1])) else {
                return thrown();
            };
            match entries.iter_mut().find(|(existing, _)| *existing == k) {
                Some(e) => e.1 = v,
                None => entries.push((k, v)),
            }
        }
    }
    let hashes: Vec<i32> = entries.iter().map(|(k, _)| i32::from(*k)).collect();
    let capacity = if body.is_empty() { 16 } else { body.split(',').count() };
    let order = java::hash_order(&hashes, capacity);
    let map = order.into_iter().map(|i| (C::Int16(entries[i].0), C::Float64(entries[i].1))).collect();
    Outcome::Value(C::Struct(vec![C::Int16(dimensions), C::Map(map)]))
}
