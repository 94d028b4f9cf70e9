//! The shape of a captured table: identity, columns, column types, keys.
//!
//! A [`TableSchema`] is immutable; when the source table changes (a new pgoutput Relation message,
//! an `ALTER TABLE` seen through a refreshed catalog lookup), the reader builds a new one with a
//! higher [`TableSchema::version`]. Events hold an `Arc` to the schema they were decoded with, so a
//! consumer always sees the columns that match the values.

use std::fmt;
use std::sync::Arc;

/// A fully qualified table name, `schema.table`, as PostgreSQL spells it (case preserved).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TableId {
    /// The PostgreSQL schema (namespace), e.g. `public`.
    pub schema: Arc<str>,
    /// The table name.
    pub name: Arc<str>,
}

impl TableId {
    /// Builds a table id from its two parts.
    pub fn new(schema: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        TableId { schema: schema.into(), name: name.into() }
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// What PostgreSQL writes to the WAL about the old row of an UPDATE or DELETE.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplicaIdentity {
    /// The primary key columns (`d`).
    Default,
    /// Nothing (`n`): updates and deletes carry no old row.
    Nothing,
    /// All columns (`f`).
    Full,
    /// The columns of a chosen unique index (`i`).
    Index,
}

impl ReplicaIdentity {
    /// Parses pgoutput's / `pg_class.relreplident`'s one-letter code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            b'd' => Some(ReplicaIdentity::Default),
            b'n' => Some(ReplicaIdentity::Nothing),
            b'f' => Some(ReplicaIdentity::Full),
            b'i' => Some(ReplicaIdentity::Index),
            _ => None,
        }
    }
}

/// The semantic kind of a column type: what a value means, independent of how it travelled.
///
/// Built-in types are recognised by OID; user and extension types (enums, domains, ranges, arrays,
/// hstore, ltree, citext, ...) are resolved from the catalog by the Postgres layer.
#[derive(Clone, PartialEq, Debug)]
pub enum TypeKind {
    /// `boolean`
    Bool,
    /// `smallint`
    Int2,
    /// `integer`
    Int4,
    /// `bigint`
    Int8,
    /// `real`
    Float4,
    /// `double precision`
    Float8,
    /// `numeric(p,s)` / `decimal`; precision and scale come from the type modifier.
    Numeric,
    /// `money` (locale-formatted in text form).
    Money,
    /// `character(n)` / `bpchar`
    Bpchar,
    /// `character varying(n)`
    Varchar,
    /// `text`
    Text,
    /// `name`
    Name,
    /// `"char"` (the single-byte internal type)
    Char,
    /// `citext` (extension)
    Citext,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `time(p)` without time zone
    Time,
    /// `time(p) with time zone`
    TimeTz,
    /// `timestamp(p)` without time zone
    Timestamp,
    /// `timestamp(p) with time zone`
    TimestampTz,
    /// `interval`
    Interval,
    /// `uuid`
    Uuid,
    /// `json`
    Json,
    /// `jsonb`
    Jsonb,
    /// `jsonpath`
    JsonPath,
    /// `xml`
    Xml,
    /// `inet`
    Inet,
    /// `cidr`
    Cidr,
    /// `macaddr`
    MacAddr,
    /// `macaddr8`
    MacAddr8,
    /// `bit(n)`
    Bit,
    /// `bit varying(n)`
    VarBit,
    /// `oid`, `xid`, `cid`, `regclass`, `regtype`, ... (unsigned 32-bit object ids)
    Oid,
    /// `tsvector`
    TsVector,
    /// `tsquery`
    TsQuery,
    /// `point`
    Point,
    /// `line`
    Line,
    /// `lseg`
    Lseg,
    /// `box`
    Box,
    /// `path`
    Path,
    /// `polygon`
    Polygon,
    /// `circle`
    Circle,
    /// `hstore` (extension)
    Hstore,
    /// `ltree` (extension)
    Ltree,
    /// A user-defined enum with its labels in sort order.
    Enum {
        /// Labels ordered by `enumsortorder`.
        labels: Arc<[String]>,
    },
    /// A range over an element type (`int4range`, `tstzrange`, user ranges).
    Range {
        /// The subtype of the range.
        element: Box<ColumnType>,
    },
    /// A multirange (PostgreSQL 14+).
    MultiRange {
        /// The subtype of the ranges.
        element: Box<ColumnType>,
    },
    /// An array of an element type (any number of dimensions).
    Array {
        /// The element type.
        element: Box<ColumnType>,
    },
    /// A domain over a base type; values are decoded as the base type.
    Domain {
        /// The underlying type (itself fully resolved).
        base: Box<ColumnType>,
    },
    /// A composite (row) type, kept in its text form.
    Composite,
    /// Anything else (other extension types, pseudo types): kept in its text form.
    Unknown,
}

/// A column's type: its OID, modifier, name and resolved meaning.
#[derive(Clone, PartialEq, Debug)]
pub struct ColumnType {
    /// The type OID (`pg_type.oid`).
    pub oid: u32,
    /// The type modifier (`atttypmod`): length, precision/scale, or -1 for none.
    pub modifier: i32,
    /// The type name as `pg_type.typname` spells it (what pgoutput and JDBC report), e.g. `int4`,
    /// `_int4` for an array, `bpchar`, `my_enum`.
    pub name: Arc<str>,
    /// What the type means.
    pub kind: TypeKind,
}

impl ColumnType {
    /// Builds a column type.
    pub fn new(oid: u32, modifier: i32, name: impl Into<Arc<str>>, kind: TypeKind) -> Self {
        ColumnType { oid, modifier, name: name.into(), kind }
    }

    /// The type with domains peeled off: what the value is actually encoded as.
    pub fn base(&self) -> &ColumnType {
        match &self.kind {
            TypeKind::Domain { base } => base.base(),
            _ => self,
        }
    }

    /// `numeric(p,s)`'s precision and scale, if the modifier carries them.
    pub fn numeric_precision_scale(&self) -> Option<(u32, u32)> {
        let m = self.base().modifier;
        if m < 4 {
            return None;
        }
        let m = (m - 4) as u32;
        Some(((m >> 16) & 0xFFFF, m & 0x7FF))
    }

    /// The declared length of `char(n)`, `varchar(n)`, `bit(n)`, `varbit(n)`, if any.
    pub fn length(&self) -> Option<u32> {
        let b = self.base();
        match b.kind {
            TypeKind::Bpchar | TypeKind::Varchar if b.modifier >= 4 => Some((b.modifier - 4) as u32),
            TypeKind::Bit | TypeKind::VarBit if b.modifier >= 0 => Some(b.modifier as u32),
            _ => None,
        }
    }

    /// Fractional-second digits of `time(p)`, `timetz(p)`, `timestamp(p)`, `timestamptz(p)`,
    /// `interval(p)`; `None` when unconstrained (which means 6).
    pub fn time_precision(&self) -> Option<u32> {
        let b = self.base();
        match b.kind {
            TypeKind::Time | TypeKind::TimeTz | TypeKind::Timestamp | TypeKind::TimestampTz
                if b.modifier >= 0 =>
            {
                Some(b.modifier as u32)
            }
            TypeKind::Interval if b.modifier >= 0 => {
                let p = (b.modifier & 0xFFFF) as u32;
                (p != 0xFFFF).then_some(p)
            }
            _ => None,
        }
    }
}

/// One column of a captured table.
#[derive(Clone, PartialEq, Debug)]
pub struct Column {
    /// Column name, case preserved.
    pub name: Arc<str>,
    /// Its type.
    pub ty: ColumnType,
    /// Whether the column may hold NULL (`NOT NULL` makes this false). Unknown columns are nullable.
    pub nullable: bool,
    /// The column default as PostgreSQL prints it (`pg_get_expr`), if any.
    pub default: Option<Arc<str>>,
    /// Whether pgoutput marks the column as part of the replica identity key.
    pub part_of_identity: bool,
}

/// An immutable description of a captured table at one point in its history.
#[derive(Clone, PartialEq, Debug)]
pub struct TableSchema {
    /// The table's OID in the source database (pgoutput's relation id).
    pub relation_id: u32,
    /// Its qualified name.
    pub id: TableId,
    /// Grows by one each time the reader sees a different shape for this relation.
    pub version: u32,
    /// Columns in table order, as pgoutput sends them (generated and dropped columns excluded).
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the primary key (or the replica-identity index when there is no
    /// primary key), in key order. Empty when the table has neither.
    pub key: Vec<usize>,
    /// The table's replica identity.
    pub replica_identity: ReplicaIdentity,
}

impl TableSchema {
    /// Finds a column index by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| &*c.name == name)
    }

    /// True if two schemas describe the same columns with the same types and keys (the version and
    /// relation id aside).
    pub fn same_shape(&self, other: &TableSchema) -> bool {
        self.id == other.id
            && self.columns == other.columns
            && self.key == other.key
            && self.replica_identity == other.replica_identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_modifier_decodes_precision_and_scale() {
        // numeric(10,3): ((10 << 16) | 3) + 4
        let t = ColumnType::new(1700, ((10 << 16) | 3) + 4, "numeric", TypeKind::Numeric);
        assert_eq!(t.numeric_precision_scale(), Some((10, 3)));
        let t = ColumnType::new(1700, -1, "numeric", TypeKind::Numeric);
        assert_eq!(t.numeric_precision_scale(), None);
    }

    #[test]
    fn domains_resolve_to_their_base() {
        let base = ColumnType::new(1043, 14, "varchar", TypeKind::Varchar);
        let d = ColumnType::new(90000, -1, "short_text", TypeKind::Domain { base: Box::new(base) });
        assert_eq!(d.length(), Some(10));
        assert_eq!(d.base().kind, TypeKind::Varchar);
    }

    #[test]
    fn time_precision_reads_modifier() {
        let t = ColumnType::new(1114, 3, "timestamp", TypeKind::Timestamp);
        assert_eq!(t.time_precision(), Some(3));
        let t = ColumnType::new(1114, -1, "timestamp", TypeKind::Timestamp);
        assert_eq!(t.time_precision(), None);
    }
}
