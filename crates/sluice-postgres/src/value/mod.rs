//! Decoding PostgreSQL datums, in text or binary form, into typed [`Value`]s.
//!
//! pgoutput sends each column either as the type's text output or, when the subscription asks for
//! `binary`, as its send/recv form; snapshots read text or binary through ordinary queries.
//! [`decode_text`] and [`decode_binary`] turn either form into the *same* [`Value`], so nothing
//! downstream needs to know how a datum travelled. Types without a structured [`Value`] (inet,
//! ranges, geometric types other than `point`, tsvector, ...) become [`Value::Text`] holding exactly
//! what the server's output function prints; their binary forms are rendered to that same text.
//!
//! # Session settings the text decoders assume
//!
//! Text output depends on settings; the connection code sets these and the decoders rely on them:
//! `DateStyle=ISO`, `IntervalStyle=postgres`, `TimeZone=UTC`, `extra_float_digits=3`,
//! `bytea_output=hex` (the legacy escape format is accepted too), `lc_monetary=C` and
//! `client_encoding=UTF8`. `timestamptz` text is converted to UTC using the offset it prints, so
//! another `TimeZone` still decodes correctly, but binary-rendered range bounds are always printed
//! as `+00`, which only matches the server's text under `TimeZone=UTC`.
//!
//! # Binary gaps
//!
//! A few binary forms cannot be turned into what the text form shows, so [`decode_binary`] rejects
//! them with [`ValueErrorKind::Unsupported`]: composite types (rendering their text needs each
//! field's type, which a [`ColumnType`] does not carry), unknown types (no known layout), and the
//! `reg*` types (`regclass`, `regtype`, ...: the binary form is an OID, the text form a name).
//! Binary mode must therefore only be requested when
//! [`crate::types::TypeRegistry::all_types_support_binary`] holds for every column. Binary
//! `tsquery` values nested more than 1000 operators deep are rejected rather than risk the stack.
//! `money` in binary is an `int8` count of cents, decoded assuming two fraction digits (the
//! `lc_monetary=C` convention). Timestamps after about 294247 AD, which PostgreSQL allows but which
//! do not fit an `i64` of microseconds since 1970, are an out-of-range error in both forms.
//!
//! Decoders never panic on malformed input, and errors never quote the datum (values may be
//! private): they name the type and what is malformed.

mod array;
mod cursor;
mod datetime;
mod geometry;
mod hstore;
mod network;
mod numeric;
mod output;
mod range;
mod scalar;
mod textsearch;

use std::fmt;
use std::sync::Arc;

use sluice_core::{ColumnType, TypeKind, Value};

/// Which wire form a datum was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The type's text output (`typoutput`).
    Text,
    /// The type's binary send form (`typsend`).
    Binary,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Binary => "binary",
        })
    }
}

/// What is wrong with a datum. Never carries the datum's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueErrorKind {
    /// The datum does not follow the type's syntax or layout.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The datum is well formed but its value does not fit the representation.
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    /// A fixed-size binary datum has the wrong size.
    #[error("expected {expected} bytes, got {actual}")]
    Length {
        /// Bytes the type's binary form has.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// A binary datum ends before its layout does.
    #[error("the datum ends early")]
    Truncated,
    /// A binary datum has bytes after its layout ends.
    #[error("{0} unexpected bytes after the end of the datum")]
    TrailingBytes(usize),
    /// Text that should be UTF-8 (client_encoding=UTF8) is not.
    #[error("not valid UTF-8")]
    InvalidUtf8,
    /// This form of this type cannot be decoded.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
}

/// A datum that could not be decoded: its format, its type's name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {format} value of type {type_name}: {kind}")]
pub struct ValueError {
    format: Format,
    type_name: Arc<str>,
    kind: ValueErrorKind,
}

impl ValueError {
    /// Builds an error for a datum of `ty` in `format`.
    pub fn new(format: Format, ty: &ColumnType, kind: ValueErrorKind) -> Self {
        ValueError { format, type_name: ty.name.clone(), kind }
    }

    /// The datum's wire form.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The name of the type whose datum was malformed (an element's type for array elements).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// What is wrong.
    pub fn kind(&self) -> &ValueErrorKind {
        &self.kind
    }
}

/// Decodes a datum in its text output form (see the module docs for the session settings assumed).
pub fn decode_text(ty: &ColumnType, text: &[u8]) -> Result<Value, ValueError> {
    let ty = ty.base();
    let wrap = |r: Result<Value, ValueErrorKind>| r.map_err(|k| ValueError::new(Format::Text, ty, k));
    match &ty.kind {
        TypeKind::Bool => wrap(scalar::bool_text(text)),
        TypeKind::Int2 => wrap(scalar::int_text(text).and_then(scalar::to_i16).map(Value::Int16)),
        TypeKind::Int4 => wrap(scalar::int_text(text).and_then(scalar::to_i32).map(Value::Int32)),
        TypeKind::Int8 => wrap(scalar::int_text(text).map(Value::Int64)),
        TypeKind::Oid if scalar::is_reg_type(ty.oid) => wrap(scalar::text_text(text)),
        TypeKind::Oid => wrap(scalar::oid_text(text)),
        TypeKind::Float4 => wrap(scalar::float4_text(text)),
        TypeKind::Float8 => wrap(scalar::float8_text(text)),
        TypeKind::Numeric => wrap(numeric::numeric_text(text)),
        TypeKind::Money => wrap(numeric::money_text(text)),
        TypeKind::Bytea => wrap(scalar::bytea_text(text)),
        TypeKind::Date => wrap(datetime::date_text(text)),
        TypeKind::Time => wrap(datetime::time_text(text)),
        TypeKind::TimeTz => wrap(datetime::timetz_text(text)),
        TypeKind::Timestamp => wrap(datetime::timestamp_text(text)),
        TypeKind::TimestampTz => wrap(datetime::timestamptz_text(text)),
        TypeKind::Interval => wrap(datetime::interval_text(text)),
        TypeKind::Uuid => wrap(scalar::uuid_text(text)),
        TypeKind::Bit | TypeKind::VarBit => wrap(scalar::bits_text(text)),
        TypeKind::Point => wrap(geometry::point_text(text)),
        TypeKind::Hstore => wrap(hstore::hstore_text(text)),
        TypeKind::Array { element } => array::array_text(ty, element, text),
        TypeKind::Bpchar
        | TypeKind::Varchar
        | TypeKind::Text
        | TypeKind::Name
        | TypeKind::Char
        | TypeKind::Citext
        | TypeKind::Json
        | TypeKind::Jsonb
        | TypeKind::JsonPath
        | TypeKind::Xml
        | TypeKind::Inet
        | TypeKind::Cidr
        | TypeKind::MacAddr
        | TypeKind::MacAddr8
        | TypeKind::TsVector
        | TypeKind::TsQuery
        | TypeKind::Line
        | TypeKind::Lseg
        | TypeKind::Box
        | TypeKind::Path
        | TypeKind::Polygon
        | TypeKind::Circle
        | TypeKind::Ltree
        | TypeKind::Enum { .. }
        | TypeKind::Range { .. }
        | TypeKind::MultiRange { .. }
        | TypeKind::Composite
        | TypeKind::Unknown
        // `base()` already peeled domains; a domain here would be a cycle, kept as text.
        | TypeKind::Domain { .. } => wrap(scalar::text_text(text)),
    }
}

/// Decodes a datum in its binary send form (see the module docs for the types this rejects).
pub fn decode_binary(ty: &ColumnType, bytes: &[u8]) -> Result<Value, ValueError> {
    let ty = ty.base();
    let wrap = |r: Result<Value, ValueErrorKind>| r.map_err(|k| ValueError::new(Format::Binary, ty, k));
    match &ty.kind {
        TypeKind::Bool => wrap(scalar::bool_binary(bytes)),
        TypeKind::Int2 => wrap(cursor::exact::<2>(bytes).map(|b| Value::Int16(i16::from_be_bytes(b)))),
        TypeKind::Int4 => wrap(cursor::exact::<4>(bytes).map(|b| Value::Int32(i32::from_be_bytes(b)))),
        TypeKind::Int8 => wrap(cursor::exact::<8>(bytes).map(|b| Value::Int64(i64::from_be_bytes(b)))),
        TypeKind::Oid if scalar::is_reg_type(ty.oid) => wrap(Err(ValueErrorKind::Unsupported(
            "the binary form carries an OID, not the name the text form shows",
        ))),
        TypeKind::Oid => wrap(scalar::oid_binary(bytes)),
        TypeKind::Float4 => wrap(cursor::exact::<4>(bytes).map(|b| Value::Float32(f32::from_be_bytes(b)))),
        TypeKind::Float8 => wrap(cursor::exact::<8>(bytes).map(|b| Value::Float64(f64::from_be_bytes(b)))),
        TypeKind::Numeric => wrap(numeric::numeric_binary(bytes)),
        TypeKind::Money => wrap(numeric::money_binary(bytes)),
        TypeKind::Bytea => Ok(Value::Bytes(bytes.to_vec())),
        TypeKind::Char => wrap(scalar::char_binary(bytes)),
        TypeKind::Bpchar
        | TypeKind::Varchar
        | TypeKind::Text
        | TypeKind::Name
        | TypeKind::Citext
        | TypeKind::Json
        | TypeKind::Xml
        | TypeKind::Enum { .. } => wrap(scalar::text_text(bytes)),
        TypeKind::Jsonb | TypeKind::JsonPath | TypeKind::Ltree => wrap(scalar::versioned_text(bytes)),
        TypeKind::Date => wrap(datetime::date_binary(bytes)),
        TypeKind::Time => wrap(datetime::time_binary(bytes)),
        TypeKind::TimeTz => wrap(datetime::timetz_binary(bytes)),
        TypeKind::Timestamp => wrap(datetime::timestamp_binary(bytes).map(Value::Timestamp)),
        TypeKind::TimestampTz => wrap(datetime::timestamp_binary(bytes).map(Value::TimestampTz)),
        TypeKind::Interval => wrap(datetime::interval_binary(bytes)),
        TypeKind::Uuid => wrap(cursor::exact::<16>(bytes).map(Value::Uuid)),
        TypeKind::Inet | TypeKind::Cidr => {
            wrap(network::inet_binary(bytes, matches!(ty.kind, TypeKind::Cidr)).map(Value::Text))
        }
        TypeKind::MacAddr => wrap(network::macaddr_binary::<6>(bytes).map(Value::Text)),
        TypeKind::MacAddr8 => wrap(network::macaddr_binary::<8>(bytes).map(Value::Text)),
        TypeKind::Bit | TypeKind::VarBit => wrap(scalar::bits_binary(bytes)),
        TypeKind::TsVector => wrap(textsearch::tsvector_binary(bytes).map(Value::Text)),
        TypeKind::TsQuery => wrap(textsearch::tsquery_binary(bytes).map(Value::Text)),
        TypeKind::Point => wrap(geometry::point_binary(bytes)),
        TypeKind::Line
        | TypeKind::Lseg
        | TypeKind::Box
        | TypeKind::Path
        | TypeKind::Polygon
        | TypeKind::Circle => wrap(geometry::geometry_binary(&ty.kind, bytes).map(Value::Text)),
        TypeKind::Hstore => wrap(hstore::hstore_binary(bytes)),
        TypeKind::Array { element } => array::array_binary(ty, element, bytes),
        TypeKind::Range { element } => range::range_binary(ty, element, bytes).map(Value::Text),
        TypeKind::MultiRange { element } => range::multirange_binary(ty, element, bytes).map(Value::Text),
        TypeKind::Composite => {
            wrap(Err(ValueErrorKind::Unsupported("composite values are only decoded from their text form")))
        }
        TypeKind::Unknown | TypeKind::Domain { .. } => {
            wrap(Err(ValueErrorKind::Unsupported("the binary layout of this type is not known")))
        }
    }
}

/// Whether [`decode_binary`] decodes this type (and every type inside it) to the same value as
/// [`decode_text`].
pub(crate) fn binary_supported(ty: &ColumnType) -> bool {
    let ty = ty.base();
    match &ty.kind {
        TypeKind::Composite | TypeKind::Unknown | TypeKind::Domain { .. } => false,
        TypeKind::Oid => !scalar::is_reg_type(ty.oid),
        TypeKind::Array { element } | TypeKind::Range { element } | TypeKind::MultiRange { element } => {
            binary_supported(element)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests;
