//! Column mappers (`ColumnMappers`): `column.truncate.to.N.chars` (`TruncateColumn`),
//! `column.mask.with.N.chars` (`MaskStrings`), `column.propagate.source.type` and
//! `datatype.propagate.source.type` (`PropagateSourceMetadataToSchemaParameter`). Only the first
//! matching rule applies, in that order; key fields get none.

use sluice_core::{Column, ColumnType, TableId, TypeKind};

use super::meta::ColumnMeta;
use super::{Plan, column_id, java, semantic};
use crate::DebeziumConfig;
use crate::config::BinaryMode;
use crate::connect::{ConnectValue, Schema};

/// The first column mapper rule matching a column (`ColumnMappers.mapperFor`).
#[derive(Debug, Clone, Copy)]
pub(super) enum MapperRule {
    Truncate(usize),
    Mask(usize),
    PropagateSourceType,
}

pub(super) fn mapper_rule(table: &TableId, column: &Column, config: &DebeziumConfig) -> Option<MapperRule> {
    // This runs for every value: without any mapper configured (the usual case) it must not
    // format the column's name.
    let by_column = !config.column_truncates.is_empty()
        || !config.column_masks.is_empty()
        || config.propagate_source_type_columns.is_some();
    if !by_column && config.propagate_source_type_datatypes.is_none() {
        return None;
    }
    let id = column_id(table, column);
    if let Some(rule) = config.column_truncates.iter().find(|r| r.columns.iter().any(|re| re.is_match(&id))) {
        return Some(MapperRule::Truncate(rule.value));
    }
    if let Some(rule) = config.column_masks.iter().find(|r| r.columns.iter().any(|re| re.is_match(&id))) {
        return Some(MapperRule::Mask(rule.value));
    }
    if config.propagate_source_type_columns.as_ref().is_some_and(|res| res.iter().any(|re| re.is_match(&id)))
    {
        return Some(MapperRule::PropagateSourceType);
    }
    if let Some(res) = &config.propagate_source_type_datatypes {
        let datatype = format!("{}.{}.{}", table.schema, table.name, column.ty.name);
        if res.iter().any(|re| re.is_match(&datatype)) {
            return Some(MapperRule::PropagateSourceType);
        }
    }
    None
}

/// `MaskStrings.create`: only JDBC character types are masked.
fn is_jdbc_string(ty: &ColumnType) -> bool {
    matches!(
        ty.base().kind,
        TypeKind::Bpchar
            | TypeKind::Char
            | TypeKind::Varchar
            | TypeKind::Text
            | TypeKind::Name
            | TypeKind::Enum { .. }
    )
}

impl MapperRule {
    fn truncation_possible(max: usize, meta: ColumnMeta) -> bool {
        meta.length < 0 || usize::try_from(meta.length).is_ok_and(|l| l > max)
    }

    pub(super) fn alter_schema(self, column: &Column, meta: ColumnMeta, schema: &mut Schema) {
        use semantic as s;
        match self {
            MapperRule::Truncate(n) => {
                if Self::truncation_possible(n, meta) {
                    schema.parameters.push((s::TRUNCATE_LENGTH.to_owned(), n.to_string()));
                }
            }
            MapperRule::Mask(_) => schema.parameters.push((s::MASKED.to_owned(), "true".to_owned())),
            MapperRule::PropagateSourceType => {
                let p = &mut schema.parameters;
                p.push((s::SOURCE_COLUMN_TYPE.to_owned(), column.ty.name.to_uppercase()));
                if meta.length != -1 {
                    p.push((s::SOURCE_COLUMN_LENGTH.to_owned(), meta.length.to_string()));
                }
                p.push((s::SOURCE_COLUMN_SCALE.to_owned(), meta.scale.to_string()));
                p.push((s::SOURCE_COLUMN_NAME.to_owned(), column.name.to_string()));
            }
        }
    }

    pub(super) fn map_value(
        self,
        column: &Column,
        meta: ColumnMeta,
        plan: &Plan,
        value: ConnectValue,
        toast_placeholder: bool,
    ) -> ConnectValue {
        match self {
            MapperRule::Mask(n) if is_jdbc_string(&column.ty) => ConnectValue::String("*".repeat(n)),
            MapperRule::Truncate(n) if Self::truncation_possible(n, meta) => match value {
                ConnectValue::String(s) if s.encode_utf16().count() > n => {
                    ConnectValue::String(java::truncate_utf16(&s, n))
                }
                // Only `convertBinaryToBytes` results are ByteBuffers; bits and placeholders are byte[].
                ConnectValue::Bytes(mut b)
                    if b.len() > n
                        && !toast_placeholder
                        && matches!(
                            plan,
                            Plan::Bytea(BinaryMode::Bytes) | Plan::Unknown(BinaryMode::Bytes, _)
                        ) =>
                {
                    b.truncate(n);
                    ConnectValue::Bytes(b)
                }
                other => other,
            },
            _ => value,
        }
    }
}
