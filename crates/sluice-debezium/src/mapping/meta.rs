//! The column length and scale Debezium derives for a PostgreSQL column.
//!
//! Debezium's pgoutput decoder (`pgoutput.ColumnMetaData`) asks the JDBC driver's
//! `TypeInfoCache.getPrecision/getScale` for the column's type and modifier, or, when the column has
//! no modifier, `PostgresType.getDefaultLength/getDefaultScale` (which consults a domain's base type
//! with the domain's own modifier). Those two numbers drive Decimal precision and scale, Bits length,
//! temporal precision (adaptive modes, ZonedTimestamp fraction width), `column.truncate.to.N.chars`
//! applicability and the `__debezium.source.column.length/scale` parameters. The driver formulas are
//! re-derived here from its documented behaviour: precision of numeric is its declared precision,
//! of character types their declared length, of temporal types their display size, and "unknown"
//! (`Integer.MAX_VALUE`) for everything without a natural length.

use sluice_core::{ColumnType, TypeKind};

/// What pgjdbc reports for a type without a natural length (`unknownLength` default).
pub(crate) const UNKNOWN_LENGTH: i32 = i32::MAX;
/// Display size pgjdbc reports for unconstrained `numeric`; Debezium treats it as "variable scale".
pub(crate) const VARIABLE_SCALE_DECIMAL_LENGTH: i32 = 131_089;

mod oid {
    pub(super) const BOOL: u32 = 16;
    pub(super) const CHAR: u32 = 18;
    pub(super) const INT8: u32 = 20;
    pub(super) const INT2: u32 = 21;
    pub(super) const INT4: u32 = 23;
    pub(super) const OID: u32 = 26;
    pub(super) const FLOAT4: u32 = 700;
    pub(super) const FLOAT8: u32 = 701;
    pub(super) const BPCHAR: u32 = 1042;
    pub(super) const VARCHAR: u32 = 1043;
    pub(super) const DATE: u32 = 1082;
    pub(super) const TIME: u32 = 1083;
    pub(super) const TIMESTAMP: u32 = 1114;
    pub(super) const TIMESTAMPTZ: u32 = 1184;
    pub(super) const INTERVAL: u32 = 1186;
    pub(super) const TIMETZ: u32 = 1266;
    pub(super) const BIT: u32 = 1560;
    pub(super) const VARBIT: u32 = 1562;
    pub(super) const NUMERIC: u32 = 1700;
}

/// Length and scale of a column as Debezium's `Column.length()` / `Column.scale()` report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnMeta {
    /// `Column.length()`.
    pub(crate) length: i32,
    /// `Column.scale()` (always present for pgoutput columns).
    pub(crate) scale: i32,
}

impl ColumnMeta {
    /// Debezium's `getTimePrecision(column)` for PostgreSQL: the scale.
    pub(crate) fn time_precision(&self) -> i32 {
        self.scale
    }

    /// `PostgresValueConverter.isVariableScaleDecimal`.
    pub(crate) fn is_variable_scale_decimal(&self) -> bool {
        (self.length == 0 || self.length == VARIABLE_SCALE_DECIMAL_LENGTH) && self.scale == 0
    }
}

/// The length and scale Debezium derives for a column of type `ty`.
pub(crate) fn column_meta(ty: &ColumnType) -> ColumnMeta {
    if ty.modifier != -1 {
        let o = info_oid(ty);
        ColumnMeta { length: precision(o, ty.modifier), scale: scale(o, ty.modifier) }
    } else {
        ColumnMeta { length: default_length(ty, 0), scale: default_scale(ty, 0) }
    }
}

/// The OID pgjdbc's formulas see: arrays of built-in types are looked at as their element type
/// (`convertArrayToBaseOid`); user-defined arrays stay unknown.
fn info_oid(ty: &ColumnType) -> u32 {
    match &ty.kind {
        TypeKind::Array { element } if element.oid < 10_000 => element.oid,
        _ => ty.oid,
    }
}

fn default_length(ty: &ColumnType, depth: u32) -> i32 {
    if let TypeKind::Domain { base } = &ty.kind
        && depth < 32
    {
        {
            if base.modifier == -1 {
                return default_length(base, depth + 1);
            }
            let o = info_oid(base);
            let mut size = precision(o, base.modifier);
            if size == 0 {
                size = display_size(o, base.modifier);
            }
            if size != 0 && size != UNKNOWN_LENGTH {
                return size;
            }
        }
    }
    let o = info_oid(ty);
    let size = precision(o, -1);
    if size == 0 { display_size(o, -1) } else { size }
}

fn default_scale(ty: &ColumnType, depth: u32) -> i32 {
    if let TypeKind::Domain { base } = &ty.kind
        && depth < 32
    {
        {
            if base.modifier == -1 {
                return default_scale(base, depth + 1);
            }
            return scale(info_oid(base), base.modifier);
        }
    }
    scale(info_oid(ty), -1)
}

/// `TypeInfoCache.getPrecision`.
fn precision(o: u32, typmod: i32) -> i32 {
    match o {
        oid::INT2 => 5,
        oid::OID | oid::INT4 => 10,
        oid::INT8 => 19,
        oid::FLOAT4 => 8,
        oid::FLOAT8 => 17,
        oid::NUMERIC if typmod == -1 => 0,
        oid::NUMERIC => (typmod.wrapping_sub(4) >> 16) & 0xFFFF,
        oid::CHAR | oid::BOOL => 1,
        oid::BPCHAR | oid::VARCHAR if typmod == -1 => UNKNOWN_LENGTH,
        oid::BPCHAR | oid::VARCHAR => typmod.wrapping_sub(4),
        oid::DATE | oid::TIME | oid::TIMETZ | oid::INTERVAL | oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            display_size(o, typmod)
        }
        oid::BIT => typmod,
        oid::VARBIT if typmod == -1 => UNKNOWN_LENGTH,
        oid::VARBIT => typmod,
        _ => UNKNOWN_LENGTH,
    }
}

/// `TypeInfoCache.getScale`.
fn scale(o: u32, typmod: i32) -> i32 {
    match o {
        oid::FLOAT4 => 8,
        oid::FLOAT8 => 17,
        oid::NUMERIC if typmod == -1 => 0,
        oid::NUMERIC => typmod.wrapping_sub(4) & 0xFFFF,
        oid::TIME | oid::TIMETZ | oid::TIMESTAMP | oid::TIMESTAMPTZ if typmod == -1 => 6,
        oid::TIME | oid::TIMETZ | oid::TIMESTAMP | oid::TIMESTAMPTZ => typmod,
        oid::INTERVAL if typmod == -1 => 6,
        oid::INTERVAL => typmod & 0xFFFF,
        _ => 0,
    }
}

/// `TypeInfoCache.getDisplaySize`.
fn display_size(o: u32, typmod: i32) -> i32 {
    match o {
        oid::INT2 => 6,
        oid::INT4 => 11,
        oid::OID => 10,
        oid::INT8 => 20,
        oid::FLOAT4 => 15,
        oid::FLOAT8 => 25,
        oid::CHAR | oid::BOOL => 1,
        oid::DATE => 13,
        oid::TIME | oid::TIMETZ | oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            let seconds = match typmod {
                -1 => 7,
                0 => 0,
                1 => 3,
                n => n.saturating_add(1),
            };
            let base: i32 = match o {
                oid::TIME => 8,
                oid::TIMETZ => 8 + 6,
                oid::TIMESTAMP => 13 + 1 + 8,
                _ => 13 + 1 + 8 + 6,
            };
            base.saturating_add(seconds)
        }
        oid::INTERVAL => 49,
        oid::VARCHAR | oid::BPCHAR if typmod == -1 => UNKNOWN_LENGTH,
        oid::VARCHAR | oid::BPCHAR => typmod.wrapping_sub(4),
        oid::NUMERIC if typmod == -1 => VARIABLE_SCALE_DECIMAL_LENGTH,
        oid::NUMERIC => {
            let p = (typmod.wrapping_sub(4) >> 16) & 0xFFFF;
            let s = typmod.wrapping_sub(4) & 0xFFFF;
            1 + p + i32::from(s != 0)
        }
        oid::BIT => typmod,
        oid::VARBIT if typmod == -1 => UNKNOWN_LENGTH,
        oid::VARBIT => typmod,
        _ => UNKNOWN_LENGTH,
    }
}
