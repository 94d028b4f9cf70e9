//! Values for unchanged TOAST columns, as Debezium's `UnchangedToastedReplicationMessageColumn`
//! (a marker chosen by the column's type name) and `UnchangedToastedPlaceholder` (the marker's
//! value) combine with each type's converter. See the module docs of [`super`] for the table.

use sluice_core::Column;

use super::{Outcome, Plan, encode_binary, hstore_value, java};
use crate::DebeziumConfig;
use crate::config::BinaryMode;
use crate::connect::{ConnectValue, SchemaType};

/// The value Debezium produces for an unchanged TOAST column (see the module docs).
pub(super) fn toast_value(plan: &Plan, column: &Column, config: &DebeziumConfig) -> Outcome {
    use ConnectValue as C;
    let bytes = &config.unavailable_value_placeholder;
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (element, _) = match plan {
        Plan::Array { element, element_optional } => (Some(element.as_ref()), element_optional),
        _ => (None, &false),
    };
    match (&*column.ty.name, element) {
        ("_text" | "_varchar" | "_bpchar" | "_json" | "_jsonb", Some(Plan::Text(_))) => {
            Outcome::Value(C::Array(vec![C::String(text)]))
        }
        ("_bytea", Some(Plan::Bytea(mode))) => Outcome::Value(C::Array(vec![encode_binary(*mode, bytes)])),
        ("_int4", Some(Plan::Int32)) | ("_date", Some(Plan::Date(_))) => {
            if element.is_some_and(|e| e.schema_type() == SchemaType::Int32) {
                Outcome::Value(C::Array(bytes.iter().map(|&b| C::Int32(i32::from(b as i8))).collect()))
            } else {
                Outcome::Failed(
                    "the TOAST placeholder is a list of integers, not of this element type".to_owned(),
                )
            }
        }
        ("_int8", Some(Plan::Int64)) => {
            Outcome::Value(C::Array(bytes.iter().map(|&b| C::Int64(i64::from(b as i8))).collect()))
        }
        ("_uuid", Some(Plan::Text(_))) => {
            Outcome::Value(C::Array(vec![C::String(java::name_uuid_from_bytes(bytes))]))
        }
        ("hstore", _) if matches!(plan, Plan::Hstore(_)) => match plan {
            Plan::Hstore(mode) => Outcome::Value(hstore_value(*mode, &[(text.clone(), Some(text))])),
            _ => Outcome::Failed(String::new()),
        },
        _ => match plan {
            Plan::Bytea(BinaryMode::Bytes) | Plan::Unknown(BinaryMode::Bytes, _) => {
                Outcome::Value(C::Bytes(bytes.clone()))
            }
            Plan::Bytea(BinaryMode::Hex) | Plan::Unknown(BinaryMode::Hex, _) => {
                Outcome::Value(C::String(text))
            }
            Plan::Bytea(_) | Plan::Unknown(..) => {
                Outcome::Failed("Debezium emits null for an unchanged TOAST value in base64 modes".to_owned())
            }
            p if p.schema_type() == SchemaType::String => Outcome::Value(C::String(text)),
            _ => Outcome::Failed("Debezium's TOAST placeholder does not fit this column's type".to_owned()),
        },
    }
}
