//! Recognising Debezium's placeholder for unchanged TOAST values.
//!
//! Under `REPLICA IDENTITY DEFAULT` PostgreSQL does not log a TOASTed column an UPDATE left
//! unchanged; Debezium then sends `unavailable.value.placeholder` (default
//! `__debezium_unavailable_value`) in the form the column's type allows (see sluice-debezium's
//! `mapping::toast`): the placeholder text for string-shaped columns, its bytes for `bytes`
//! columns, a one-element list for text/bytea/uuid arrays, the placeholder's bytes as integers for
//! `int4[]`/`int8[]`/`date[]`, `{placeholder: placeholder}` for `hstore` (map or JSON text). Such a
//! value must never overwrite the real one in Delta. A [`ToastMarker`] holds the forms a column can
//! carry and recognises them.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sluice_debezium::connect::{ConnectValue, Schema, SchemaType};
use sluice_debezium::mapping::semantic;

/// The placeholder forms one column can carry; empty when the column's type cannot carry one.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ToastMarker {
    forms: Vec<ConnectValue>,
}

impl ToastMarker {
    /// The forms for a column of `schema`, given the configured placeholder bytes.
    pub(crate) fn for_column(schema: &Schema, placeholder: &[u8]) -> Self {
        use ConnectValue as C;
        let text = String::from_utf8_lossy(placeholder).into_owned();
        let name = schema.name.as_deref();
        let mut forms = Vec::new();
        match schema.schema_type {
            SchemaType::String => {
                forms.push(C::String(text.clone()));
                if name == Some(semantic::JSON) {
                    // hstore in json mode: `{"<placeholder>":"<placeholder>"}`.
                    let quoted = serde_json::Value::String(text.clone()).to_string();
                    forms.push(C::String(format!("{{{quoted}:{quoted}}}")));
                }
            }
            // Plain `bytea` (and unknown types) in bytes mode; Decimal and Bits never carry it.
            SchemaType::Bytes if name.is_none() => forms.push(C::Bytes(placeholder.to_vec())),
            SchemaType::Array => {
                if let Some(items) = schema.items.as_deref() {
                    array_forms(items, placeholder, &text, &mut forms);
                }
            }
            SchemaType::Map => {
                forms.push(C::Map(vec![(C::String(text.clone()), C::String(text))]));
            }
            _ => {}
        }
        ToastMarker { forms }
    }

    /// Whether the column can carry a placeholder at all.
    pub(crate) fn is_possible(&self) -> bool {
        !self.forms.is_empty()
    }

    /// Whether `value` is the placeholder.
    pub(crate) fn matches(&self, value: &ConnectValue) -> bool {
        self.forms.iter().any(|f| same_shape(f, value) && f == value)
    }
}

/// The one-element (or byte-per-element) arrays Debezium sends for an unchanged TOAST array.
fn array_forms(items: &Schema, placeholder: &[u8], text: &str, forms: &mut Vec<ConnectValue>) {
    use ConnectValue as C;
    match items.schema_type {
        SchemaType::String => {
            for element in [
                text.to_owned(),
                hex::encode(placeholder),
                base64::engine::general_purpose::STANDARD.encode(placeholder),
                base64::engine::general_purpose::URL_SAFE.encode(placeholder),
                name_uuid_from_bytes(placeholder),
            ] {
                forms.push(C::Array(vec![C::String(element)]));
            }
        }
        SchemaType::Bytes if items.name.is_none() => {
            forms.push(C::Array(vec![C::Bytes(placeholder.to_vec())]));
        }
        SchemaType::Int32 => {
            forms.push(C::Array(placeholder.iter().map(|&b| C::Int32(i32::from(b as i8))).collect()));
        }
        SchemaType::Int64 => {
            forms.push(C::Array(placeholder.iter().map(|&b| C::Int64(i64::from(b as i8))).collect()));
        }
        _ => {}
    }
}

/// A cheap pre-check before the full comparison.
fn same_shape(a: &ConnectValue, b: &ConnectValue) -> bool {
    use ConnectValue as C;
    match (a, b) {
        (C::String(x), C::String(y)) => x.len() == y.len(),
        (C::Bytes(x), C::Bytes(y)) => x.len() == y.len(),
        (C::Array(x), C::Array(y)) => x.len() == y.len(),
        (C::Map(x), C::Map(y)) => x.len() == y.len(),
        _ => false,
    }
}

/// Java's `UUID.nameUUIDFromBytes` (version 3, MD5), lower-case text.
fn name_uuid_from_bytes(bytes: &[u8]) -> String {
    let mut d: [u8; 16] = Md5::digest(bytes).into();
    d[6] = (d[6] & 0x0f) | 0x30;
    d[8] = (d[8] & 0x3f) | 0x80;
    let h = hex::encode(d);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    const PH: &[u8] = b"__debezium_unavailable_value";

    fn s(v: &str) -> ConnectValue {
        ConnectValue::String(v.into())
    }

    #[test]
    fn strings_and_json_recognise_the_text_and_the_hstore_form() {
        let m = ToastMarker::for_column(&Schema::primitive(SchemaType::String), PH);
        assert!(m.matches(&s("__debezium_unavailable_value")));
        assert!(!m.matches(&s("__debezium_unavailable_valuf")));
        assert!(!m.matches(&ConnectValue::Null));
        let json = ToastMarker::for_column(&semantic::named_string(semantic::JSON), PH);
        assert!(json.matches(&s(r#"{"__debezium_unavailable_value":"__debezium_unavailable_value"}"#)));
    }

    #[test]
    fn bytes_and_arrays_recognise_their_forms() {
        let b = ToastMarker::for_column(&Schema::primitive(SchemaType::Bytes), &[0, 255]);
        assert!(b.matches(&ConnectValue::Bytes(vec![0, 255])));
        assert!(!ToastMarker::for_column(&semantic::decimal(2, Some(5)), PH).is_possible());
        let ints = ToastMarker::for_column(&Schema::array(Schema::primitive(SchemaType::Int32)), &[1, 0xff]);
        assert!(ints.matches(&ConnectValue::Array(vec![ConnectValue::Int32(1), ConnectValue::Int32(-1)])));
        let texts = ToastMarker::for_column(&Schema::array(Schema::primitive(SchemaType::String)), PH);
        assert!(texts.matches(&ConnectValue::Array(vec![s("__debezium_unavailable_value")])));
        assert!(!texts.matches(&ConnectValue::Array(vec![s("__debezium_unavailable_value"), s("x")])));
        let map = ToastMarker::for_column(
            &Schema::map(Schema::primitive(SchemaType::String), Schema::primitive(SchemaType::String)),
            PH,
        );
        assert!(map.matches(&ConnectValue::Map(vec![(
            s("__debezium_unavailable_value"),
            s("__debezium_unavailable_value")
        )])));
        assert!(!ToastMarker::for_column(&Schema::primitive(SchemaType::Int64), PH).is_possible());
    }

    #[test]
    fn name_uuid_matches_java() {
        // UUID.nameUUIDFromBytes("__debezium_unavailable_value".getBytes()) in Java.
        let u = name_uuid_from_bytes(PH);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "3", "version 3");
        assert_eq!(name_uuid_from_bytes(b""), "d41d8cd9-8f00-3204-a980-0998ecf8427e");
    }
}
