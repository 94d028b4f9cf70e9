//! Resolving type OIDs into [`ColumnType`]s.
//!
//! pgoutput's Relation messages carry only a type OID and modifier per column. Built-in types (and
//! their arrays, ranges and multiranges) have fixed OIDs and resolve without a query; anything else
//! (enums, domains, composite types, user ranges, extension types such as hstore) is looked up in
//! the catalog once and cached until [`TypeRegistry::invalidate`] says it may have changed.
//!
//! Names are `pg_type.typname` (`int4`, `_int4`, `varchar`, `my_enum`), the spelling pgoutput's
//! Type messages and JDBC's `TYPE_NAME` use.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sluice_core::{ColumnType, TypeKind};

use crate::error::PostgresError;

/// A built-in type's kind without nested column types, so the table can be a `const`.
#[derive(Clone, Copy)]
enum Base {
    Kind(fn() -> TypeKind),
    /// A range over the built-in subtype with this OID.
    Range(u32),
    /// A multirange over the built-in subtype with this OID.
    MultiRange(u32),
}

/// One built-in type: OID, name, kind, and its array type's OID and name.
struct Builtin {
    oid: u32,
    name: &'static str,
    base: Base,
    array_oid: u32,
    array_name: &'static str,
}

macro_rules! builtins {
    ($($oid:literal $name:literal $base:expr, $array_oid:literal $array_name:literal;)*) => {
        const BUILTINS: &[Builtin] = &[
            $(Builtin {
                oid: $oid, name: $name, base: $base, array_oid: $array_oid, array_name: $array_name
            },)*
        ];
    };
}

use Base::{Kind as K, MultiRange as M, Range as R};

builtins! {
    16 "bool" K(|| TypeKind::Bool), 1000 "_bool";
    17 "bytea" K(|| TypeKind::Bytea), 1001 "_bytea";
    18 "char" K(|| TypeKind::Char), 1002 "_char";
    19 "name" K(|| TypeKind::Name), 1003 "_name";
    20 "int8" K(|| TypeKind::Int8), 1016 "_int8";
    21 "int2" K(|| TypeKind::Int2), 1005 "_int2";
    23 "int4" K(|| TypeKind::Int4), 1007 "_int4";
    24 "regproc" K(|| TypeKind::Oid), 1008 "_regproc";
    25 "text" K(|| TypeKind::Text), 1009 "_text";
    26 "oid" K(|| TypeKind::Oid), 1028 "_oid";
    28 "xid" K(|| TypeKind::Oid), 1011 "_xid";
    29 "cid" K(|| TypeKind::Oid), 1012 "_cid";
    114 "json" K(|| TypeKind::Json), 199 "_json";
    142 "xml" K(|| TypeKind::Xml), 143 "_xml";
    600 "point" K(|| TypeKind::Point), 1017 "_point";
    601 "lseg" K(|| TypeKind::Lseg), 1018 "_lseg";
    602 "path" K(|| TypeKind::Path), 1019 "_path";
    603 "box" K(|| TypeKind::Box), 1020 "_box";
    604 "polygon" K(|| TypeKind::Polygon), 1027 "_polygon";
    628 "line" K(|| TypeKind::Line), 629 "_line";
    650 "cidr" K(|| TypeKind::Cidr), 651 "_cidr";
    700 "float4" K(|| TypeKind::Float4), 1021 "_float4";
    701 "float8" K(|| TypeKind::Float8), 1022 "_float8";
    718 "circle" K(|| TypeKind::Circle), 719 "_circle";
    774 "macaddr8" K(|| TypeKind::MacAddr8), 775 "_macaddr8";
    790 "money" K(|| TypeKind::Money), 791 "_money";
    829 "macaddr" K(|| TypeKind::MacAddr), 1040 "_macaddr";
    869 "inet" K(|| TypeKind::Inet), 1041 "_inet";
    1042 "bpchar" K(|| TypeKind::Bpchar), 1014 "_bpchar";
    1043 "varchar" K(|| TypeKind::Varchar), 1015 "_varchar";
    1082 "date" K(|| TypeKind::Date), 1182 "_date";
    1083 "time" K(|| TypeKind::Time), 1183 "_time";
    1114 "timestamp" K(|| TypeKind::Timestamp), 1115 "_timestamp";
    1184 "timestamptz" K(|| TypeKind::TimestampTz), 1185 "_timestamptz";
    1186 "interval" K(|| TypeKind::Interval), 1187 "_interval";
    1266 "timetz" K(|| TypeKind::TimeTz), 1270 "_timetz";
    1560 "bit" K(|| TypeKind::Bit), 1561 "_bit";
    1562 "varbit" K(|| TypeKind::VarBit), 1563 "_varbit";
    1700 "numeric" K(|| TypeKind::Numeric), 1231 "_numeric";
    2202 "regprocedure" K(|| TypeKind::Oid), 2207 "_regprocedure";
    2203 "regoper" K(|| TypeKind::Oid), 2208 "_regoper";
    2204 "regoperator" K(|| TypeKind::Oid), 2209 "_regoperator";
    2205 "regclass" K(|| TypeKind::Oid), 2210 "_regclass";
    2206 "regtype" K(|| TypeKind::Oid), 2211 "_regtype";
    2950 "uuid" K(|| TypeKind::Uuid), 2951 "_uuid";
    3614 "tsvector" K(|| TypeKind::TsVector), 3643 "_tsvector";
    3615 "tsquery" K(|| TypeKind::TsQuery), 3645 "_tsquery";
    3734 "regconfig" K(|| TypeKind::Oid), 3735 "_regconfig";
    3769 "regdictionary" K(|| TypeKind::Oid), 3770 "_regdictionary";
    3802 "jsonb" K(|| TypeKind::Jsonb), 3807 "_jsonb";
    4072 "jsonpath" K(|| TypeKind::JsonPath), 4073 "_jsonpath";
    4089 "regnamespace" K(|| TypeKind::Oid), 4090 "_regnamespace";
    4096 "regrole" K(|| TypeKind::Oid), 4097 "_regrole";
    4191 "regcollation" K(|| TypeKind::Oid), 4192 "_regcollation";
    3904 "int4range" R(23), 3905 "_int4range";
    3906 "numrange" R(1700), 3907 "_numrange";
    3908 "tsrange" R(1114), 3909 "_tsrange";
    3910 "tstzrange" R(1184), 3911 "_tstzrange";
    3912 "daterange" R(1082), 3913 "_daterange";
    3926 "int8range" R(20), 3927 "_int8range";
    4451 "int4multirange" M(23), 6150 "_int4multirange";
    4532 "nummultirange" M(1700), 6151 "_nummultirange";
    4533 "tsmultirange" M(1114), 6152 "_tsmultirange";
    4534 "tstzmultirange" M(1184), 6153 "_tstzmultirange";
    4535 "datemultirange" M(1082), 6155 "_datemultirange";
    4536 "int8multirange" M(20), 6157 "_int8multirange";
}

/// A built-in scalar, range or multirange type by its own OID.
fn builtin_base(oid: u32) -> Option<(&'static str, TypeKind)> {
    let b = BUILTINS.iter().find(|b| b.oid == oid)?;
    let kind = match b.base {
        Base::Kind(kind) => kind(),
        Base::Range(sub) => TypeKind::Range { element: Box::new(builtin_type(sub)?) },
        Base::MultiRange(sub) => TypeKind::MultiRange { element: Box::new(builtin_type(sub)?) },
    };
    Some((b.name, kind))
}

fn builtin_type(oid: u32) -> Option<ColumnType> {
    builtin(oid).map(|(name, kind)| ColumnType::new(oid, -1, name, kind))
}

/// The name and kind of a built-in type or built-in array type (`1007` is `_int4`, an array of
/// `int4`), or `None` for types that need a catalog lookup. Nested types carry modifier -1.
pub fn builtin(oid: u32) -> Option<(&'static str, TypeKind)> {
    if let Some(found) = builtin_base(oid) {
        return Some(found);
    }
    let b = BUILTINS.iter().find(|b| b.array_oid == oid)?;
    let (name, kind) = builtin_base(b.oid)?;
    Some((b.array_name, TypeKind::Array { element: Box::new(ColumnType::new(b.oid, -1, name, kind)) }))
}

/// Nesting deeper than this (domains over arrays of domains ...) is treated as a catalog cycle.
const MAX_DEPTH: u32 = 32;

/// The catalog facts about one type, fetched in a single query.
const TYPE_QUERY: &str = "\
SELECT t.typname::text, t.typtype::text, t.typcategory::text, t.typelem, t.typbasetype, t.typtypmod,
       COALESCE(r.rngsubtype, mr.rngsubtype) AS subtype,
       CASE WHEN t.typtype = 'e' THEN
           ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                 WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
       END AS labels
FROM pg_catalog.pg_type t
LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_catalog.pg_range mr ON mr.rngmultitypid = t.oid
WHERE t.oid = $1";

/// Caches resolved types by OID. Cached entries carry modifier -1 (a domain's base keeps the
/// domain's `typtypmod`); [`TypeRegistry::resolve`] applies the column's modifier on the way out.
#[derive(Debug, Default)]
pub struct TypeRegistry {
    cache: HashMap<u32, ColumnType>,
}

type Resolving<'a> = Pin<Box<dyn Future<Output = Result<ColumnType, PostgresError>> + Send + 'a>>;

impl TypeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        TypeRegistry::default()
    }

    /// The column type for a type OID and a column's modifier (`atttypmod`, or pgoutput's).
    ///
    /// Built-in types need no query. Other types take one catalog query each (plus one per
    /// non-built-in type they are made of) and are cached. A type that no longer exists resolves to
    /// [`TypeKind::Unknown`] named by its OID, so values still decode as text.
    pub async fn resolve(
        &mut self,
        client: &tokio_postgres::Client,
        oid: u32,
        modifier: i32,
    ) -> Result<ColumnType, PostgresError> {
        let shape = self.shape(client, oid, 0).await?;
        Ok(with_modifier(shape, modifier))
    }

    fn shape<'a>(&'a mut self, client: &'a tokio_postgres::Client, oid: u32, depth: u32) -> Resolving<'a> {
        Box::pin(async move {
            if let Some(ty) = builtin_type(oid) {
                return Ok(ty);
            }
            if let Some(ty) = self.cache.get(&oid) {
                return Ok(ty.clone());
            }
            if depth > MAX_DEPTH {
                return Err(PostgresError::Precondition(format!(
                    "type {oid} nests more than {MAX_DEPTH} levels deep in the catalog"
                )));
            }
            let ty = self.lookup(client, oid, depth).await?;
            self.cache.insert(oid, ty.clone());
            Ok(ty)
        })
    }

    async fn lookup(
        &mut self,
        client: &tokio_postgres::Client,
        oid: u32,
        depth: u32,
    ) -> Result<ColumnType, PostgresError> {
        let context = || format!("looking up type {oid}");
        let Some(row) =
            client.query_opt(TYPE_QUERY, &[&oid]).await.map_err(PostgresError::query(context()))?
        else {
            tracing::warn!(oid, "type not found in the catalog; its values are kept as text");
            return Ok(ColumnType::new(oid, -1, oid.to_string(), TypeKind::Unknown));
        };
        let err = || PostgresError::query(context());
        let name: String = row.try_get(0).map_err(err())?;
        let typtype: String = row.try_get(1).map_err(err())?;
        let category: String = row.try_get(2).map_err(err())?;
        let element: u32 = row.try_get(3).map_err(err())?;
        let base: u32 = row.try_get(4).map_err(err())?;
        let base_modifier: i32 = row.try_get(5).map_err(err())?;
        let subtype: Option<u32> = row.try_get(6).map_err(err())?;
        let labels: Option<Vec<String>> = row.try_get(7).map_err(err())?;

        let kind = match typtype.as_str() {
            "d" => {
                let base = self.shape(client, base, depth + 1).await?;
                TypeKind::Domain { base: Box::new(with_modifier(base, base_modifier)) }
            }
            "e" => TypeKind::Enum { labels: Arc::from(labels.unwrap_or_default()) },
            "r" | "m" => {
                let Some(subtype) = subtype else {
                    return Err(PostgresError::Precondition(format!(
                        "range type {oid} has no pg_range entry"
                    )));
                };
                let element = Box::new(self.shape(client, subtype, depth + 1).await?);
                if typtype == "r" { TypeKind::Range { element } } else { TypeKind::MultiRange { element } }
            }
            "c" => TypeKind::Composite,
            "b" if category == "A" && element != 0 => {
                TypeKind::Array { element: Box::new(self.shape(client, element, depth + 1).await?) }
            }
            "b" => match name.as_str() {
                "hstore" => TypeKind::Hstore,
                "ltree" => TypeKind::Ltree,
                "citext" => TypeKind::Citext,
                _ => TypeKind::Unknown,
            },
            _ => TypeKind::Unknown,
        };
        Ok(ColumnType::new(oid, -1, name, kind))
    }

    /// Forgets a type, and every cached type built from it, so the next [`TypeRegistry::resolve`]
    /// reads the catalog again (after a pgoutput Type message or a relation change).
    pub fn invalidate(&mut self, oid: u32) {
        self.cache.retain(|&cached, ty| cached != oid && !mentions(ty, oid));
    }

    /// Whether [`crate::value::decode_binary`] decodes this type, and every type inside it, to the
    /// same value as the text form. Binary mode may only be requested from pgoutput when this holds
    /// for every column.
    pub fn all_types_support_binary(ty: &ColumnType) -> bool {
        crate::value::binary_supported(ty)
    }
}

/// Applies a column's modifier: to the type itself and, for arrays, to the element (`numeric(10,2)[]`
/// columns carry the element's modifier).
fn with_modifier(mut ty: ColumnType, modifier: i32) -> ColumnType {
    ty.modifier = modifier;
    if let TypeKind::Array { element } = &mut ty.kind {
        element.modifier = modifier;
    }
    ty
}

/// Whether `ty` is, or is built from, the type `oid`.
fn mentions(ty: &ColumnType, oid: u32) -> bool {
    ty.oid == oid
        || match &ty.kind {
            TypeKind::Array { element } | TypeKind::Range { element } | TypeKind::MultiRange { element } => {
                mentions(element, oid)
            }
            TypeKind::Domain { base } => mentions(base, oid),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_and_array_oid_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for b in BUILTINS {
            assert!(seen.insert(b.oid), "duplicate {}", b.oid);
            assert!(seen.insert(b.array_oid), "duplicate {}", b.array_oid);
            assert_eq!(b.array_name, format!("_{}", b.name));
        }
    }

    #[test]
    fn arrays_ranges_and_multiranges_nest_their_element_types() {
        let (name, kind) = builtin(1007).unwrap();
        assert_eq!(name, "_int4");
        assert_eq!(
            kind,
            TypeKind::Array { element: Box::new(ColumnType::new(23, -1, "int4", TypeKind::Int4)) }
        );
        let (_, kind) = builtin(3910).unwrap();
        let TypeKind::Range { element } = kind else { panic!("not a range") };
        assert_eq!(element.kind, TypeKind::TimestampTz);
        let (_, kind) = builtin(4536).unwrap();
        let TypeKind::MultiRange { element } = kind else { panic!("not a multirange") };
        assert_eq!(element.kind, TypeKind::Int8);
        let (name, kind) = builtin(3913).unwrap();
        assert_eq!(name, "_daterange");
        let TypeKind::Array { element } = kind else { panic!("not an array") };
        assert!(matches!(element.kind, TypeKind::Range { .. }));
        assert_eq!(builtin(12345), None);
    }

    #[test]
    fn modifiers_apply_to_array_elements_but_not_domain_bases() {
        let (name, kind) = builtin(1231).unwrap();
        let t = with_modifier(ColumnType::new(1231, -1, name, kind), (10 << 16 | 2) + 4);
        let TypeKind::Array { element } = &t.kind else { panic!("not an array") };
        assert_eq!(element.numeric_precision_scale(), Some((10, 2)));
        let base = ColumnType::new(1043, 14, "varchar", TypeKind::Varchar);
        let d = with_modifier(ColumnType::new(9, -1, "d", TypeKind::Domain { base: Box::new(base) }), -1);
        assert_eq!(d.length(), Some(10));
    }

    #[test]
    fn invalidation_drops_dependent_types() {
        let mut r = TypeRegistry::new();
        let e =
            ColumnType::new(90_000, -1, "mood", TypeKind::Enum { labels: Arc::from(vec!["a".to_string()]) });
        let arr = ColumnType::new(90_001, -1, "_mood", TypeKind::Array { element: Box::new(e.clone()) });
        let other = ColumnType::new(90_002, -1, "other", TypeKind::Composite);
        r.cache.insert(90_000, e);
        r.cache.insert(90_001, arr);
        r.cache.insert(90_002, other);
        r.invalidate(90_000);
        assert_eq!(r.cache.keys().copied().collect::<Vec<_>>(), vec![90_002]);
    }

    #[test]
    fn binary_support_follows_element_types() {
        let ty = |oid| builtin_type(oid).unwrap();
        assert!(TypeRegistry::all_types_support_binary(&ty(1007)));
        assert!(TypeRegistry::all_types_support_binary(&ty(3910)));
        assert!(TypeRegistry::all_types_support_binary(&ty(26)));
        assert!(!TypeRegistry::all_types_support_binary(&ty(2205)));
        assert!(!TypeRegistry::all_types_support_binary(&ty(2210)));
        let composite = ColumnType::new(90_000, -1, "pair", TypeKind::Composite);
        assert!(!TypeRegistry::all_types_support_binary(&composite));
        let arr = ColumnType::new(90_001, -1, "_pair", TypeKind::Array { element: Box::new(composite) });
        assert!(!TypeRegistry::all_types_support_binary(&arr));
        let domain = ColumnType::new(90_002, -1, "d", TypeKind::Domain { base: Box::new(ty(23)) });
        assert!(TypeRegistry::all_types_support_binary(&domain));
    }
}
