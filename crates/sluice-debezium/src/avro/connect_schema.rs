//! Avro schema → Connect schema, as Confluent's `AvroData.toConnectSchema` derives it with the
//! default `AvroDataConfig` (`connect.meta.data=true`, `enhanced.avro.schema.support=false`,
//! `flatten.singleton.unions=true`, `discard.type.doc.default=false`, `generalized.sum.type.support=false`):
//! what a Kafka Connect sink sees for a schema read back from the registry. It inverts
//! [`super::avro_schema_string`] for every schema Debezium builds.
//!
//! Parsing follows Avro's `Schema.Parser` (names, namespaces, references to records defined
//! earlier, props); conversion follows the converter step by step:
//!
//! * `int` → `int32`, or `int8`/`int16` per `connect.type`, or `Date`/`Time` per `logicalType`;
//!   `long` → `int64` or `Timestamp`; `bytes`/`fixed` → `bytes` or `Decimal` (`scale` parameter,
//!   `connect.decimal.precision` when the precision is not 64; `fixed` adds `connect.fixed.size`);
//!   `enum` → `string` with `io.confluent.connect.avro.Enum*` parameters; `array` → `array`, or a
//!   map when its items are `MapEntry` records; `map` → map with string keys; `record` → struct;
//! * `["null", T]` and `[T, "null"]` → optional `T`; a one-branch union → its branch; any other
//!   union → a struct named `io.confluent.connect.avro.Union` with one optional field per branch;
//! * then `connect.doc`, `connect.version`, `connect.parameters`, props starting with `avro`, the
//!   default, and the name (`connect.name`, else a record's, enum's or fixed's full name; names
//!   starting with `io.confluent.connect.avro.ConnectDefault` are dropped).
//!
//! Defaults come from the record field's `default` when there is one (then, if `connect.default`
//! is absent, the schema gets the parameter `io.confluent.connect.avro.field.default=true`), else
//! from `connect.default`. A default that cannot be converted is ignored, as the converter ignores
//! it (with a warning). Union-typed fields take their default from the branch's `connect.default`
//! only. Converter quirks kept on purpose, because a Java sink sees the same:
//!
//! * inside a `connect.default` value, a position whose Avro type is a union is read as null when
//!   the union starts with `null`, and invalidates the whole default otherwise;
//! * a map encoded as an array of `MapEntry` records never gets a default;
//! * `Date`, `Time`, `Timestamp` and `Decimal` always have version 1 (their builders set it).
//!
//! Deliberate differences: recursive records are rejected (a Connect schema here is a tree);
//! `"NaN"`, `"Infinity"` and `"-Infinity"` in a float `connect.default` are read as those values
//! (Jackson reads 0.0), and a JSON null inside a default is null (Jackson coerces it to 0/false for
//! primitives). Parameters keep the converter's insertion order, so a round trip reproduces
//! parameter order only when the Connect schema had them in that order (Decimal's `scale` first).
//!
//! Any input either converts or fails with an error naming the field path; nothing panics. A named
//! record is expanded at every reference, as the converter does; the total size and depth of the
//! result are bounded, so hostile schemas fail quickly instead of exhausting memory or the stack.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{CONFLUENT_NAMESPACE, DATE, DECIMAL, TIME, TIMESTAMP};
use crate::connect::{ConnectValue, Field, Schema, SchemaType};
use crate::error::DebeziumError;

type Props = Map<String, Value>;

const UNION_NAME: &str = "io.confluent.connect.avro.Union";
const ENUM_PARAM: &str = "io.confluent.connect.avro.Enum";
const ENUM_DOC_PREFIX: &str = "io.confluent.connect.avro.enum.doc.";
const ENUM_DEFAULT_PREFIX: &str = "io.confluent.connect.avro.enum.default.";
const RECORD_DOC_PARAM: &str = "io.confluent.connect.avro.record.doc";
const FIELD_DOC_PREFIX: &str = "io.confluent.connect.avro.field.doc.";
const FIELD_DEFAULT_FLAG: &str = "io.confluent.connect.avro.field.default";
const DEFAULT_NAME_PREFIX: &str = "io.confluent.connect.avro.ConnectDefault";
const DECIMAL_PRECISION_PARAM: &str = "connect.decimal.precision";
const FIXED_SIZE_PARAM: &str = "connect.fixed.size";
const DECIMAL_PRECISION_DEFAULT: i64 = 64;

/// Avro's `SCHEMA_RESERVED`: keys of a schema object that are not props.
const SCHEMA_RESERVED: [&str; 10] =
    ["doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"];
/// Avro's `FIELD_RESERVED`: keys of a field object that are not props.
const FIELD_RESERVED: [&str; 6] = ["default", "doc", "name", "order", "type", "aliases"];

/// Connect schemas built for one input at most; a schema that references its records many times
/// over would otherwise expand without bound.
const MAX_NODES: usize = 100_000;
/// Nesting depth at most, in schemas (Debezium's envelopes nest four deep); keeps the recursion
/// well inside a 2 MiB thread stack.
const MAX_DEPTH: usize = 64;

/// The Connect schema Confluent's `AvroConverter` derives from an Avro schema (the text a registry
/// holds), so that records read back from Kafka can be typed exactly as a Java sink types them.
pub fn connect_schema_from_avro(avro_schema_json: &str) -> Result<Schema, DebeziumError> {
    let mut path = Path::default();
    // The workspace's serde_json has `float_roundtrip`: a default's last digit matters.
    let json: Value = serde_json::from_str(avro_schema_json)
        .map_err(|e| path.error(format!("the schema is not valid JSON: {e}")))?;
    let mut parser = Parser::default();
    let root = parser.parse(&json, None, &mut path, 0)?;
    let mut converter = Converter { named: &parser.named, active: Vec::new(), nodes: 0 };
    converter.schema(&root, false, None, &mut path, 0)
}

/// Where in the schema an error is: the top-level record's full name, then field names.
#[derive(Debug, Default)]
struct Path(Vec<String>);

impl Path {
    fn error(&self, message: impl fmt::Display) -> DebeziumError {
        DebeziumError::SchemaMismatch(format!("Avro schema, at {self}: {message}"))
    }

    fn push(&mut self, segment: &str) {
        self.0.push(segment.to_owned());
    }

    fn pop(&mut self) {
        self.0.pop();
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("the top level") } else { f.write_str(&self.0.join(".")) }
    }
}

/// Avro's primitive types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
}

impl Prim {
    fn from_name(name: &str) -> Option<Prim> {
        Some(match name {
            "null" => Prim::Null,
            "boolean" => Prim::Boolean,
            "int" => Prim::Int,
            "long" => Prim::Long,
            "float" => Prim::Float,
            "double" => Prim::Double,
            "bytes" => Prim::Bytes,
            "string" => Prim::String,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Prim::Null => "null",
            Prim::Boolean => "boolean",
            Prim::Int => "int",
            Prim::Long => "long",
            Prim::Float => "float",
            Prim::Double => "double",
            Prim::Bytes => "bytes",
            Prim::String => "string",
        }
    }
}

/// A parsed Avro schema; named types live in [`Parser::named`] and are referenced by index.
#[derive(Debug)]
enum Avro {
    Primitive(Prim, Props),
    Array(Box<Avro>, Props),
    Map(Box<Avro>, Props),
    Union(Vec<Avro>),
    Named(usize),
}

#[derive(Debug)]
struct Named {
    full_name: String,
    name: String,
    namespace: Option<String>,
    doc: Option<String>,
    props: Props,
    kind: NamedKind,
}

#[derive(Debug)]
enum NamedKind {
    Record(Vec<AvroField>),
    Enum { symbols: Vec<String>, default: Option<String> },
    Fixed(i64),
}

#[derive(Debug)]
struct AvroField {
    name: String,
    schema: Avro,
    doc: Option<String>,
    default: Option<Value>,
    props: Props,
}

/// The type of an Avro schema, named types resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prim(Prim),
    Array,
    Map,
    Union,
    Record,
    Enum,
    Fixed,
}

/// An Avro schema with its named type resolved, borrowing its parts.
#[derive(Debug, Clone, Copy)]
enum Shape<'a> {
    Prim(Prim),
    Array(&'a Avro),
    Map(&'a Avro),
    Union(&'a [Avro]),
    Record(usize, &'a [AvroField]),
    Enum(&'a Named, &'a [String], Option<&'a String>),
    Fixed(&'a Named, i64),
}

impl Shape<'_> {
    fn kind(self) -> Kind {
        match self {
            Shape::Prim(p) => Kind::Prim(p),
            Shape::Array(_) => Kind::Array,
            Shape::Map(_) => Kind::Map,
            Shape::Union(_) => Kind::Union,
            Shape::Record(..) => Kind::Record,
            Shape::Enum(..) => Kind::Enum,
            Shape::Fixed(..) => Kind::Fixed,
        }
    }
}

/// Avro's `Schema.Parser`: named types are global and must be defined before they are referenced
/// (a record's own name is defined before its fields).
#[derive(Debug, Default)]
struct Parser {
    named: Vec<Named>,
    by_name: HashMap<String, usize>,
}

/// Avro's name rule: a letter or `_`, then letters, digits or `_`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn text<'a>(object: &'a Props, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn props_except(object: &Props, reserved: &[&str]) -> Props {
    object
        .iter()
        .filter(|(k, _)| !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A JSON value shown in an error, shortened.
fn shown(value: &Value) -> String {
    let mut s = value.to_string();
    if s.len() > 80 {
        let mut cut = 77;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

impl Parser {
    fn parse(
        &mut self,
        json: &Value,
        space: Option<&str>,
        path: &mut Path,
        depth: usize,
    ) -> Result<Avro, DebeziumError> {
        if depth > MAX_DEPTH {
            return Err(path.error("the schema is nested too deeply"));
        }
        match json {
            Value::String(name) => match Prim::from_name(name) {
                Some(p) => Ok(Avro::Primitive(p, Props::new())),
                None => self.lookup(name, space).map(Avro::Named).ok_or_else(|| {
                    path.error(format!(
                        "\"{name}\" is not a defined name (named types must be defined before use)"
                    ))
                }),
            },
            Value::Array(branches) => {
                let mut parsed = Vec::with_capacity(branches.len());
                let mut seen: Vec<String> = Vec::new();
                for branch in branches {
                    let avro = self.parse(branch, space, path, depth + 1)?;
                    let name = match &avro {
                        Avro::Union(_) => return Err(path.error("a union cannot directly contain a union")),
                        Avro::Primitive(p, _) => p.name().to_owned(),
                        Avro::Array(..) => "array".to_owned(),
                        Avro::Map(..) => "map".to_owned(),
                        Avro::Named(i) => self.named[*i].full_name.clone(),
                    };
                    if seen.contains(&name) {
                        return Err(path.error(format!("duplicate {name} in union")));
                    }
                    seen.push(name);
                    parsed.push(avro);
                }
                Ok(Avro::Union(parsed))
            }
            Value::Object(object) => self.parse_object(object, space, path, depth),
            other => Err(path.error(format!("{} is not a schema", shown(other)))),
        }
    }

    /// `Names.get`: a dotted name is full; a simple one is looked up in the enclosing namespace,
    /// then in the null namespace.
    fn lookup(&self, name: &str, space: Option<&str>) -> Option<usize> {
        if !name.contains('.')
            && let Some(space) = space
            && let Some(&i) = self.by_name.get(&format!("{space}.{name}"))
        {
            return Some(i);
        }
        self.by_name.get(name).copied()
    }

    fn parse_object(
        &mut self,
        object: &Props,
        space: Option<&str>,
        path: &mut Path,
        depth: usize,
    ) -> Result<Avro, DebeziumError> {
        let Some(kind) = text(object, "type") else {
            return Err(path.error(format!("no type in {}", shown(&Value::Object(object.clone())))));
        };
        if let Some(p) = Prim::from_name(kind) {
            return Ok(Avro::Primitive(p, props_except(object, &SCHEMA_RESERVED)));
        }
        match kind {
            "array" => {
                let items = object.get("items").ok_or_else(|| path.error("array has no items type"))?;
                path.push("items");
                let items = self.parse(items, space, path, depth + 1)?;
                path.pop();
                Ok(Avro::Array(Box::new(items), props_except(object, &SCHEMA_RESERVED)))
            }
            "map" => {
                let values = object.get("values").ok_or_else(|| path.error("map has no values type"))?;
                path.push("values");
                let values = self.parse(values, space, path, depth + 1)?;
                path.pop();
                Ok(Avro::Map(Box::new(values), props_except(object, &SCHEMA_RESERVED)))
            }
            "record" | "error" | "enum" | "fixed" => self.parse_named(kind, object, space, path, depth),
            // A named type referenced as {"type": "name"}.
            other => match self.lookup_exact(other, space) {
                Some(i) => Ok(Avro::Named(i)),
                None => Err(path.error(format!("type \"{other}\" is not supported or not defined"))),
            },
        }
    }

    fn lookup_exact(&self, name: &str, space: Option<&str>) -> Option<usize> {
        let full = match space {
            Some(space) if !name.contains('.') => format!("{space}.{name}"),
            _ => name.to_owned(),
        };
        self.by_name.get(&full).copied()
    }

    fn parse_named(
        &mut self,
        kind: &str,
        object: &Props,
        space: Option<&str>,
        path: &mut Path,
        depth: usize,
    ) -> Result<Avro, DebeziumError> {
        let Some(given) = text(object, "name") else {
            return Err(path.error(format!("no name in {kind} schema")));
        };
        // `Name(name, space)`: a dotted name carries its namespace; "" means none.
        let (namespace, name) = match given.rsplit_once('.') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (
                text(object, "namespace").map(str::to_owned).or_else(|| space.map(str::to_owned)),
                given.to_owned(),
            ),
        };
        let namespace = namespace.filter(|ns| !ns.is_empty());
        if !valid_name(&name) || namespace.as_deref().is_some_and(|ns| !ns.split('.').all(valid_name)) {
            return Err(path.error(format!("illegal Avro name \"{given}\"")));
        }
        let full_name = match &namespace {
            Some(ns) => format!("{ns}.{name}"),
            None => name.clone(),
        };
        if self.by_name.contains_key(&full_name) {
            return Err(path.error(format!("can't redefine {full_name}")));
        }
        let root = path.0.is_empty();
        if root {
            path.push(&full_name);
        }
        let doc = text(object, "doc").map(str::to_owned);
        let index = self.named.len();
        let mut named = Named {
            full_name: full_name.clone(),
            name,
            namespace,
            doc,
            props: Props::new(),
            kind: NamedKind::Fixed(0),
        };
        let result = match kind {
            "enum" => {
                named.props = props_except(object, &[&SCHEMA_RESERVED[..], &["default"]].concat());
                let symbols = match object.get("symbols") {
                    Some(Value::Array(symbols)) => symbols,
                    _ => return Err(path.error(format!("enum {full_name} has no symbols"))),
                };
                let mut names: Vec<String> = Vec::with_capacity(symbols.len());
                for symbol in symbols {
                    match symbol.as_str() {
                        Some(s) if valid_name(s) && !names.iter().any(|n| n == s) => names.push(s.to_owned()),
                        _ => {
                            return Err(
                                path.error(format!("invalid or duplicate enum symbol {}", shown(symbol)))
                            );
                        }
                    }
                }
                let default = match object.get("default") {
                    None => None,
                    Some(Value::String(d)) if names.contains(d) => Some(d.clone()),
                    Some(d) => return Err(path.error(format!("enum default {} is not a symbol", shown(d)))),
                };
                named.kind = NamedKind::Enum { symbols: names, default };
                self.define(named);
                Ok(Avro::Named(index))
            }
            "fixed" => {
                named.props = props_except(object, &SCHEMA_RESERVED);
                let size = object.get("size").and_then(Value::as_i64).filter(|s| i32::try_from(*s).is_ok());
                let Some(size) = size else {
                    return Err(path.error(format!("fixed {full_name} has an invalid or no size")));
                };
                named.kind = NamedKind::Fixed(size);
                self.define(named);
                Ok(Avro::Named(index))
            }
            _ => {
                named.props = props_except(object, &SCHEMA_RESERVED);
                named.kind = NamedKind::Record(Vec::new());
                let inner_space = named.namespace.clone();
                self.define(named);
                let Some(Value::Array(fields_json)) = object.get("fields") else {
                    return Err(path.error(format!("record {full_name} has no fields")));
                };
                let mut fields: Vec<AvroField> = Vec::with_capacity(fields_json.len());
                for field in fields_json {
                    let Value::Object(field) = field else {
                        return Err(path.error(format!("field {} is not an object", shown(field))));
                    };
                    let Some(name) = text(field, "name") else {
                        return Err(path.error("a field has no name"));
                    };
                    if !valid_name(name) {
                        return Err(path.error(format!("illegal field name \"{name}\"")));
                    }
                    if fields.iter().any(|f| f.name == name) {
                        return Err(path.error(format!("duplicate field {name}")));
                    }
                    path.push(name);
                    let Some(type_json) = field.get("type") else {
                        return Err(path.error("the field has no type"));
                    };
                    let schema = self.parse(type_json, inner_space.as_deref(), path, depth + 1)?;
                    path.pop();
                    fields.push(AvroField {
                        name: name.to_owned(),
                        schema,
                        doc: text(field, "doc").map(str::to_owned),
                        default: field.get("default").cloned(),
                        props: props_except(field, &FIELD_RESERVED),
                    });
                }
                self.named[index].kind = NamedKind::Record(fields);
                Ok(Avro::Named(index))
            }
        };
        if root {
            path.pop();
        }
        result
    }

    fn define(&mut self, named: Named) {
        self.by_name.insert(named.full_name.clone(), self.named.len());
        self.named.push(named);
    }
}

/// `AvroData.toConnectSchema` over a parsed schema.
struct Converter<'a> {
    named: &'a [Named],
    /// Records being converted (ancestors of the current one): a reference to one is a cycle.
    active: Vec<usize>,
    nodes: usize,
}

/// A Java object as Avro's `JacksonUtils.toObject` makes it of a field default.
#[derive(Debug, Clone, PartialEq)]
enum Obj {
    /// `JsonProperties.NULL_VALUE`
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// A list; `None` items are Java nulls.
    List(Vec<Option<Obj>>),
    Map(Vec<(String, Option<Obj>)>),
}

/// A default the converter would reject: it is ignored (the converter logs a warning).
struct Ignored;

fn set_param(schema: &mut Schema, key: &str, value: String) {
    match schema.parameters.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value,
        None => schema.parameters.push((key.to_owned(), value)),
    }
}

/// Java's `Number.intValue()` of a JSON number.
fn int_value(n: &serde_json::Number) -> i32 {
    if let Some(i) = n.as_i64() {
        i as i32
    } else if let Some(u) = n.as_u64() {
        u as i32
    } else {
        n.as_f64().unwrap_or(0.0) as i32
    }
}

fn long_value(n: &serde_json::Number) -> i64 {
    if let Some(i) = n.as_i64() {
        i
    } else if let Some(u) = n.as_u64() {
        u as i64
    } else {
        n.as_f64().unwrap_or(0.0) as i64
    }
}

/// Bytes of a default's text, one per character, as `String.getBytes(ISO_8859_1)` gives them.
fn latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

/// Whether `value` may be the default of `schema`: no null where a value is required
/// (`ConnectSchema.validateValue`; the types match by construction).
fn fits(schema: &Schema, value: &ConnectValue) -> bool {
    match value {
        ConnectValue::Null => schema.optional,
        ConnectValue::Array(items) => {
            schema.items.as_deref().is_some_and(|s| items.iter().all(|item| fits(s, item)))
        }
        ConnectValue::Map(entries) => match (schema.map_key.as_deref(), schema.map_value.as_deref()) {
            (Some(k), Some(v)) => entries.iter().all(|(a, b)| fits(k, a) && fits(v, b)),
            _ => false,
        },
        ConnectValue::Struct(values) => {
            values.len() == schema.fields.len()
                && schema.fields.iter().zip(values).all(|(f, v)| fits(&f.schema, v))
        }
        _ => true,
    }
}

/// `Decimal.builder(scale)`, `Date.builder()`, …: the logical types' name and version 1.
fn logical(schema_type: SchemaType, name: &str) -> Schema {
    Schema::primitive(schema_type).named(name).versioned(1)
}

impl<'a> Converter<'a> {
    fn shape(&self, avro: &'a Avro) -> Shape<'a> {
        match avro {
            Avro::Primitive(p, _) => Shape::Prim(*p),
            Avro::Array(items, _) => Shape::Array(items),
            Avro::Map(values, _) => Shape::Map(values),
            Avro::Union(branches) => Shape::Union(branches),
            Avro::Named(i) => {
                let named = &self.named[*i];
                match &named.kind {
                    NamedKind::Record(fields) => Shape::Record(*i, fields),
                    NamedKind::Enum { symbols, default } => Shape::Enum(named, symbols, default.as_ref()),
                    NamedKind::Fixed(size) => Shape::Fixed(named, *size),
                }
            }
        }
    }

    fn kind(&self, avro: &'a Avro) -> Kind {
        self.shape(avro).kind()
    }

    fn props(&self, avro: &'a Avro) -> Option<&'a Props> {
        match avro {
            Avro::Primitive(_, p) | Avro::Array(_, p) | Avro::Map(_, p) => Some(p),
            Avro::Union(_) => None,
            Avro::Named(i) => Some(&self.named[*i].props),
        }
    }

    fn fields(&self, avro: &'a Avro) -> Option<&'a [AvroField]> {
        match self.shape(avro) {
            Shape::Record(_, fields) => Some(fields),
            _ => None,
        }
    }

    /// `isMapEntry`: the fields of a record named `io.confluent.connect.avro.MapEntry` or marked
    /// `connect.internal.type: MapEntry`.
    fn map_entry_fields(&self, avro: &'a Avro) -> Option<&'a [AvroField]> {
        let Shape::Record(i, fields) = self.shape(avro) else { return None };
        let named = &self.named[i];
        ((named.namespace.as_deref() == Some(CONFLUENT_NAMESPACE) && named.name == "MapEntry")
            || text(&named.props, "connect.internal.type") == Some("MapEntry"))
        .then_some(fields)
    }

    /// `toConnectSchema(schema, forceOptional, fieldDefaultVal, …)`.
    fn schema(
        &mut self,
        avro: &'a Avro,
        force_optional: bool,
        field_default: Option<&Value>,
        path: &mut Path,
        depth: usize,
    ) -> Result<Schema, DebeziumError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(path.error(format!("the schema expands to more than {MAX_NODES} Connect schemas")));
        }
        if depth > MAX_DEPTH {
            return Err(path.error("the schema is nested too deeply"));
        }
        let empty = Props::new();
        let props = self.props(avro).unwrap_or(&empty);
        let connect_type = text(props, "connect.type");
        let logical_type = text(props, "logicalType");
        let shape = self.shape(avro);

        let mut schema = match shape {
            Shape::Prim(Prim::Boolean) => Schema::primitive(SchemaType::Boolean),
            Shape::Prim(Prim::Bytes) | Shape::Fixed(..) => {
                let mut s = if logical_type.is_some_and(|l| l.eq_ignore_ascii_case("decimal")) {
                    let scale = match props.get("scale") {
                        Some(Value::Number(n)) => int_value(n),
                        _ => 0,
                    };
                    let mut s =
                        logical(SchemaType::Bytes, DECIMAL).with_parameter("scale", scale.to_string());
                    match props.get("precision") {
                        None => {}
                        Some(Value::Number(n)) => {
                            let precision = int_value(n);
                            if i64::from(precision) != DECIMAL_PRECISION_DEFAULT {
                                set_param(&mut s, DECIMAL_PRECISION_PARAM, precision.to_string());
                            }
                        }
                        Some(other) => {
                            return Err(path.error(format!(
                                "decimal precision must be a JSON integer, not {}",
                                shown(other)
                            )));
                        }
                    }
                    s
                } else {
                    Schema::primitive(SchemaType::Bytes)
                };
                if let Shape::Fixed(_, size) = shape {
                    set_param(&mut s, FIXED_SIZE_PARAM, size.to_string());
                }
                s
            }
            Shape::Prim(Prim::Double) => Schema::primitive(SchemaType::Float64),
            Shape::Prim(Prim::Float) => Schema::primitive(SchemaType::Float32),
            Shape::Prim(Prim::Int) => match (connect_type, logical_type) {
                (None, None) => Schema::primitive(SchemaType::Int32),
                (_, Some(l)) if l.eq_ignore_ascii_case("date") => logical(SchemaType::Int32, DATE),
                (_, Some(l)) if l.eq_ignore_ascii_case("time-millis") => logical(SchemaType::Int32, TIME),
                (_, Some(_)) => Schema::primitive(SchemaType::Int32),
                (Some("int8"), None) => Schema::primitive(SchemaType::Int8),
                (Some("int16"), None) => Schema::primitive(SchemaType::Int16),
                (Some(other), None) => {
                    return Err(path.error(format!(
                        "connect.type \"{other}\" is not a Connect type an Avro int can hold (int8 or int16)"
                    )));
                }
            },
            Shape::Prim(Prim::Long) => match logical_type {
                Some(l) if l.eq_ignore_ascii_case("timestamp-millis") => {
                    logical(SchemaType::Int64, TIMESTAMP)
                }
                _ => Schema::primitive(SchemaType::Int64),
            },
            Shape::Prim(Prim::String) => Schema::primitive(SchemaType::String),
            Shape::Prim(Prim::Null) => {
                return Err(path.error("a standalone null schema is not supported (null belongs in a union)"));
            }
            Shape::Array(items) => match self.map_entry_fields(items) {
                Some(fields) => {
                    let key = fields.iter().find(|f| f.name == "key");
                    let value = fields.iter().find(|f| f.name == "value");
                    let (Some(key), Some(value), 2) = (key, value, fields.len()) else {
                        return Err(path.error(
                            "map encoded as an array of MapEntry records whose records do not have \
                             exactly the fields key and value",
                        ));
                    };
                    path.push("key");
                    let key = self.schema(&key.schema, false, None, path, depth + 1)?;
                    path.pop();
                    path.push("value");
                    let value = self.schema(&value.schema, false, None, path, depth + 1)?;
                    path.pop();
                    Schema::map(key, value)
                }
                None => {
                    path.push("items");
                    let items = self.schema(items, false, None, path, depth + 1)?;
                    path.pop();
                    Schema::array(items)
                }
            },
            Shape::Map(values) => {
                path.push("values");
                let values = self.schema(values, false, None, path, depth + 1)?;
                path.pop();
                Schema::map(Schema::primitive(SchemaType::String), values)
            }
            Shape::Record(index, fields) => self.record(index, fields, path, depth)?,
            Shape::Enum(named, symbols, default) => {
                let mut s = Schema::primitive(SchemaType::String);
                if let Some(doc) = &named.doc {
                    set_param(&mut s, &format!("{ENUM_DOC_PREFIX}{}", named.name), doc.clone());
                }
                if let Some(default) = default {
                    set_param(&mut s, &format!("{ENUM_DEFAULT_PREFIX}{}", named.name), default.clone());
                }
                set_param(&mut s, ENUM_PARAM, named.full_name.clone());
                for symbol in symbols {
                    set_param(&mut s, &format!("{ENUM_PARAM}.{symbol}"), symbol.clone());
                }
                s
            }
            Shape::Union(branches) => {
                let is_plain_null = |b: &Avro| matches!(b, Avro::Primitive(Prim::Null, p) if p.is_empty());
                if let [only] = branches {
                    return self.schema(only, false, None, path, depth + 1);
                }
                if branches.len() == 2
                    && branches.iter().any(is_plain_null)
                    && let Some(other) = branches.iter().find(|b| !is_plain_null(b))
                {
                    return self.schema(other, true, None, path, depth + 1);
                }
                let mut s = Schema::primitive(SchemaType::Struct).named(UNION_NAME);
                for branch in branches {
                    let field_name = match self.shape(branch) {
                        Shape::Prim(Prim::Null) => {
                            s.optional = true;
                            continue;
                        }
                        Shape::Record(i, _) => self.named[i].name.clone(),
                        Shape::Enum(named, ..) | Shape::Fixed(named, _) => named.name.clone(),
                        Shape::Prim(p) => p.name().to_owned(),
                        Shape::Array(_) => "array".to_owned(),
                        Shape::Map(_) => "map".to_owned(),
                        Shape::Union(_) => return Err(path.error("a union cannot directly contain a union")),
                    };
                    if s.field(&field_name).is_some() {
                        return Err(path.error(format!(
                            "several union branches map to the Connect union field name {field_name}"
                        )));
                    }
                    path.push(&field_name);
                    let member = self.schema(branch, true, None, path, depth + 1)?;
                    path.pop();
                    s.fields.push(Field { name: field_name, schema: Arc::new(member) });
                }
                s
            }
        };

        // Connect metadata.
        if let Some(doc) = text(props, "connect.doc") {
            schema.doc = Some(doc.to_owned());
        }
        if let Some(version) = props.get("connect.version") {
            let Value::Number(n) = version else {
                return Err(path.error(format!("invalid connect.version {}", shown(version))));
            };
            let version = int_value(n);
            if version >= 0 {
                match schema.version {
                    Some(v) if v != version => {
                        return Err(path.error(format!(
                            "connect.version {version} differs from the version {v} of its logical type"
                        )));
                    }
                    _ => schema.version = Some(version),
                }
            }
        }
        if let Some(parameters) = props.get("connect.parameters") {
            let Value::Object(parameters) = parameters else {
                return Err(path
                    .error(format!("connect.parameters must be a JSON object, not {}", shown(parameters))));
            };
            for (key, value) in parameters {
                let Value::String(value) = value else {
                    return Err(path.error(format!("connect.parameters value of {key} is not a string")));
                };
                set_param(&mut schema, key, value.clone());
            }
        }
        for (key, value) in props {
            if key.starts_with("avro") {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                set_param(&mut schema, key, value);
            }
        }

        // The default: the field's, else connect.default.
        let connect_default = props.get("connect.default");
        let field_object = field_default.and_then(|d| to_object(self, Some(avro), d).ok().flatten());
        let default = match field_object {
            Some(object) => {
                if connect_default.is_none() {
                    set_param(&mut schema, FIELD_DEFAULT_FLAG, "true".to_owned());
                }
                to_connect_data(&schema, Some(&object))
            }
            None => match connect_default {
                Some(json) => self.json_default(&schema, avro, json),
                None => Ok(ConnectValue::Null),
            },
        };
        if let Ok(default) = default
            && !default.is_null()
            && fits(&schema, &default)
        {
            schema.default = Some(default);
        }

        // The name.
        let name = match props.get("connect.name") {
            Some(Value::String(name)) => Some(name.clone()),
            Some(other) => return Err(path.error(format!("invalid connect.name {}", shown(other)))),
            None => match shape {
                Shape::Record(i, _) => Some(self.named[i].full_name.clone()),
                Shape::Enum(named, ..) => Some(named.full_name.clone()),
                Shape::Fixed(named, _) if schema.name.as_deref() != Some(DECIMAL) => {
                    Some(named.full_name.clone())
                }
                _ => None,
            },
        };
        if let Some(name) = name.filter(|n| !n.starts_with(DEFAULT_NAME_PREFIX)) {
            match &schema.name {
                Some(existing) if *existing != name => {
                    return Err(path.error(format!(
                        "connect.name {name} differs from the name {existing} of its logical type"
                    )));
                }
                _ => schema.name = Some(name),
            }
        }
        if force_optional {
            schema.optional = true;
        }
        Ok(schema)
    }

    /// A record as a struct: doc parameters, then each field with its default and docs.
    fn record(
        &mut self,
        index: usize,
        fields: &'a [AvroField],
        path: &mut Path,
        depth: usize,
    ) -> Result<Schema, DebeziumError> {
        let named = &self.named[index];
        if self.active.contains(&index) {
            return Err(path.error(format!(
                "record {} contains itself; recursive schemas cannot be represented as Connect schemas",
                named.full_name
            )));
        }
        let root = path.0.is_empty();
        if root {
            path.push(&named.full_name);
        }
        self.active.push(index);
        let mut schema = Schema::primitive(SchemaType::Struct);
        if let Some(doc) = &named.doc {
            set_param(&mut schema, RECORD_DOC_PARAM, doc.clone());
        }
        for field in fields {
            if let Some(doc) = &field.doc {
                set_param(&mut schema, &format!("{FIELD_DOC_PREFIX}{}", field.name), doc.clone());
            }
            path.push(&field.name);
            let mut field_schema =
                self.schema(&field.schema, false, field.default.as_ref(), path, depth + 1)?;
            // `applyFieldLevelParams`: parameters set on the field itself.
            if let Some(Value::Object(params)) = field.props.get("connect.parameters") {
                for (key, value) in params {
                    let value = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    set_param(&mut field_schema, key, value);
                }
            }
            path.pop();
            schema.fields.push(Field { name: field.name.clone(), schema: Arc::new(field_schema) });
        }
        self.active.pop();
        if root {
            path.pop();
        }
        Ok(schema)
    }

    /// `defaultValueFromAvro` of a `connect.default` JSON value (quirks in the module docs).
    fn json_default(&self, schema: &Schema, avro: &Avro, json: &Value) -> Result<ConnectValue, Ignored> {
        if json.is_null() {
            return Ok(ConnectValue::Null);
        }
        let number = |json: &Value| match json {
            Value::Number(n) => Ok(n.clone()),
            _ => Err(Ignored),
        };
        Ok(match self.kind(avro) {
            Kind::Prim(Prim::Int) => {
                let n = number(json)?;
                match schema.schema_type {
                    SchemaType::Int8 => ConnectValue::Int8(int_value(&n) as i8),
                    SchemaType::Int16 => ConnectValue::Int16(int_value(&n) as i16),
                    SchemaType::Int32 => ConnectValue::Int32(int_value(&n)),
                    _ => ConnectValue::Null,
                }
            }
            Kind::Prim(Prim::Long) => ConnectValue::Int64(long_value(&number(json)?)),
            Kind::Prim(Prim::Float) => ConnectValue::Float32(float_default(json)? as f32),
            Kind::Prim(Prim::Double) => ConnectValue::Float64(float_default(json)?),
            Kind::Prim(Prim::Boolean) => ConnectValue::Boolean(json.as_bool().ok_or(Ignored)?),
            Kind::Prim(Prim::Null) => ConnectValue::Null,
            Kind::Prim(Prim::String) | Kind::Enum => {
                ConnectValue::String(json.as_str().ok_or(Ignored)?.to_owned())
            }
            Kind::Prim(Prim::Bytes) | Kind::Fixed => match json.as_str() {
                Some(s) => ConnectValue::Bytes(latin1(s)),
                None => ConnectValue::Null,
            },
            Kind::Array => {
                let (Value::Array(items), Avro::Array(item_avro, _)) = (json, avro) else {
                    return Err(Ignored);
                };
                if schema.schema_type != SchemaType::Array {
                    return Err(Ignored);
                }
                let item_schema = schema.items.as_deref().ok_or(Ignored)?;
                ConnectValue::Array(
                    items
                        .iter()
                        .map(|item| self.json_default(item_schema, item_avro, item))
                        .collect::<Result<_, _>>()?,
                )
            }
            Kind::Map => {
                let (Value::Object(entries), Avro::Map(value_avro, _)) = (json, avro) else {
                    return Err(Ignored);
                };
                let value_schema = schema.map_value.as_deref().ok_or(Ignored)?;
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    out.push((
                        ConnectValue::String(k.clone()),
                        self.json_default(value_schema, value_avro, v)?,
                    ));
                }
                ConnectValue::Map(out)
            }
            Kind::Record => {
                let Value::Object(object) = json else { return Err(Ignored) };
                if schema.schema_type != SchemaType::Struct {
                    return Err(Ignored);
                }
                let avro_fields = self.fields(avro).ok_or(Ignored)?;
                let mut values = vec![ConnectValue::Null; schema.fields.len()];
                for avro_field in avro_fields {
                    let index =
                        schema.fields.iter().position(|f| f.name == avro_field.name).ok_or(Ignored)?;
                    let field_schema = &schema.fields[index].schema;
                    let value = match object.get(&avro_field.name) {
                        Some(v) => self.json_default(field_schema, &avro_field.schema, v)?,
                        None => ConnectValue::Null,
                    };
                    if value.is_null() && !field_schema.optional {
                        return Err(Ignored);
                    }
                    values[index] = value;
                }
                ConnectValue::Struct(values)
            }
            // Defaults match a union's first branch; the converter reads that branch through
            // `schema.field(…)`, which only works out when the branch is null.
            Kind::Union => match avro {
                Avro::Union(branches)
                    if branches.first().is_some_and(|b| self.kind(b) == Kind::Prim(Prim::Null)) =>
                {
                    ConnectValue::Null
                }
                _ => return Err(Ignored),
            },
        })
    }
}

/// A float or double `connect.default`: a number, or one of Java's names of non-finite values.
fn float_default(json: &Value) -> Result<f64, Ignored> {
    match json {
        Value::Number(n) => n.as_f64().ok_or(Ignored),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(Ignored),
        },
        _ => Err(Ignored),
    }
}

/// `JacksonUtils.toObject(json, schema)`: a field default as the Java object Avro hands out.
/// `Ok(None)` is Java's null (the default is then treated as absent); `Err` an exception, which
/// the converter also treats as no default.
fn to_object(conv: &Converter<'_>, avro: Option<&Avro>, json: &Value) -> Result<Option<Obj>, Ignored> {
    // A union's default matches its first branch.
    let avro = match avro {
        Some(Avro::Union(branches)) => branches.first(),
        other => other,
    };
    let kind = avro.map(|a| conv.kind(a));
    Ok(match json {
        Value::Null => Some(Obj::Null),
        Value::Bool(b) => Some(Obj::Bool(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64().and_then(|i| i32::try_from(i).ok()) {
                match kind {
                    None | Some(Kind::Prim(Prim::Int)) => Some(Obj::Int(i)),
                    Some(Kind::Prim(Prim::Long)) => Some(Obj::Long(i64::from(i))),
                    Some(Kind::Prim(Prim::Float)) => Some(Obj::Float(i as f32)),
                    Some(Kind::Prim(Prim::Double)) => Some(Obj::Double(f64::from(i))),
                    _ => None,
                }
            } else if let Some(l) = n.as_i64() {
                match kind {
                    None | Some(Kind::Prim(Prim::Long | Prim::Int)) => Some(Obj::Long(l)),
                    Some(Kind::Prim(Prim::Float)) => Some(Obj::Float(l as f32)),
                    Some(Kind::Prim(Prim::Double)) => Some(Obj::Double(l as f64)),
                    _ => None,
                }
            } else if n.is_f64() {
                let d = n.as_f64().unwrap_or(0.0);
                match kind {
                    None | Some(Kind::Prim(Prim::Double)) => Some(Obj::Double(d)),
                    Some(Kind::Prim(Prim::Float)) => Some(Obj::Float(d as f32)),
                    _ => None,
                }
            } else {
                None // a BigInteger
            }
        }
        Value::String(s) => match kind {
            // The parser turns a textual float default into a double node (`Double.valueOf`).
            Some(Kind::Prim(Prim::Float)) => float_default(json).ok().map(|d| Obj::Float(d as f32)),
            Some(Kind::Prim(Prim::Double)) => float_default(json).ok().map(Obj::Double),
            None | Some(Kind::Prim(Prim::String) | Kind::Enum) => Some(Obj::Str(s.clone())),
            Some(Kind::Prim(Prim::Bytes) | Kind::Fixed) => Some(Obj::Bytes(latin1(s))),
            _ => None,
        },
        Value::Array(items) => {
            let item_avro = match avro {
                None => None,
                Some(Avro::Array(items, _)) => Some(&**items),
                Some(_) => return Err(Ignored), // "Not an array"
            };
            Some(Obj::List(items.iter().map(|i| to_object(conv, item_avro, i)).collect::<Result<_, _>>()?))
        }
        Value::Object(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let value_avro = match (avro, kind) {
                    (Some(Avro::Map(values, _)), _) => Some(&**values),
                    (Some(record), Some(Kind::Record)) => {
                        let fields = conv.fields(record).ok_or(Ignored)?;
                        Some(&fields.iter().find(|f| f.name == *k).ok_or(Ignored)?.schema)
                    }
                    _ => None,
                };
                out.push((k.clone(), to_object(conv, value_avro, v)?));
            }
            Some(Obj::Map(out))
        }
    })
}

/// `toConnectData(schema, object)` for a field default.
fn to_connect_data(schema: &Schema, object: Option<&Obj>) -> Result<ConnectValue, Ignored> {
    let Some(object) = object else {
        return if schema.optional { Ok(ConnectValue::Null) } else { Err(Ignored) };
    };
    Ok(match (schema.schema_type, object) {
        (_, Obj::Null) => ConnectValue::Null,
        (SchemaType::Int32, Obj::Int(i)) => ConnectValue::Int32(*i),
        (SchemaType::Int8, Obj::Int(i)) => ConnectValue::Int8(*i as i8),
        (SchemaType::Int16, Obj::Int(i)) => ConnectValue::Int16(*i as i16),
        (SchemaType::Int64, Obj::Long(l)) => ConnectValue::Int64(*l),
        (SchemaType::Float32, Obj::Float(f)) => ConnectValue::Float32(*f),
        (SchemaType::Float64, Obj::Double(d)) => ConnectValue::Float64(*d),
        (SchemaType::Boolean, Obj::Bool(b)) => ConnectValue::Boolean(*b),
        (SchemaType::String, Obj::Str(s)) => ConnectValue::String(s.clone()),
        (SchemaType::Bytes, Obj::Bytes(b)) => ConnectValue::Bytes(b.clone()),
        (SchemaType::Array, Obj::List(items)) => {
            let item_schema = schema.items.as_deref().ok_or(Ignored)?;
            ConnectValue::Array(
                items.iter().map(|i| to_connect_data(item_schema, i.as_ref())).collect::<Result<_, _>>()?,
            )
        }
        (SchemaType::Map, Obj::Map(entries)) => {
            let (Some(key), Some(value)) = (schema.map_key.as_deref(), schema.map_value.as_deref()) else {
                return Err(Ignored);
            };
            // Maps with other keys are arrays of records, which a default cannot hold.
            if key.schema_type != SchemaType::String || key.optional {
                return Err(Ignored);
            }
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                out.push((ConnectValue::String(k.clone()), to_connect_data(value, v.as_ref())?));
            }
            ConnectValue::Map(out)
        }
        (SchemaType::Struct, _) if schema.name.as_deref() == Some(UNION_NAME) => {
            // The first branch whose Java class the object is an instance of.
            let branch = schema.fields.iter().position(|f| {
                matches!(
                    (f.schema.schema_type, object),
                    (SchemaType::Int32, Obj::Int(_))
                        | (SchemaType::Int64, Obj::Long(_))
                        | (SchemaType::Float32, Obj::Float(_))
                        | (SchemaType::Float64, Obj::Double(_))
                        | (SchemaType::Boolean, Obj::Bool(_))
                        | (SchemaType::String, Obj::Str(_))
                        | (SchemaType::Array, Obj::List(_))
                        | (SchemaType::Map, Obj::Map(_))
                ) || (f.schema.schema_type == SchemaType::Bytes
                    && f.schema.parameter(FIXED_SIZE_PARAM).is_none()
                    && matches!(object, Obj::Bytes(_)))
            });
            let index = branch.ok_or(Ignored)?;
            let mut values = vec![ConnectValue::Null; schema.fields.len()];
            values[index] = to_connect_data(&schema.fields[index].schema, Some(object))?;
            ConnectValue::Struct(values)
        }
        (SchemaType::Struct, Obj::Map(entries)) => {
            let mut values = Vec::with_capacity(schema.fields.len());
            for field in &schema.fields {
                let value = match entries.iter().find(|(k, _)| *k == field.name) {
                    Some((_, v)) => to_connect_data(&field.schema, v.as_ref())?,
                    // The field schema's own default, which the converter passes through
                    // `toConnectData` again: only plain values survive that.
                    None => match &field.schema.default {
                        None => to_connect_data(&field.schema, None)?,
                        Some(d) if plain(&field.schema) => d.clone(),
                        Some(_) => return Err(Ignored),
                    },
                };
                if value.is_null() && !field.schema.optional {
                    return Err(Ignored);
                }
                values.push(value);
            }
            ConnectValue::Struct(values)
        }
        _ => return Err(Ignored),
    })
}

/// A schema whose Connect default is the same Java object as its Avro form.
fn plain(schema: &Schema) -> bool {
    schema.name.is_none()
        && matches!(
            schema.schema_type,
            SchemaType::Int32
                | SchemaType::Int64
                | SchemaType::Float32
                | SchemaType::Float64
                | SchemaType::Boolean
                | SchemaType::String
                | SchemaType::Bytes
        )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::avro::{
        avro_schema_string, decode, default_of, encode, fixture, is_decimal, map_as_entries, minimal_decimal,
    };

    fn field(name: &str, schema: Schema) -> Field {
        Field { name: name.to_owned(), schema: Arc::new(schema) }
    }

    fn prim(t: SchemaType) -> Schema {
        Schema::primitive(t)
    }

    fn back(schema: &Schema) -> Schema {
        let text = avro_schema_string(schema).unwrap();
        connect_schema_from_avro(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn from(avro: &Value) -> Schema {
        connect_schema_from_avro(&avro.to_string()).unwrap_or_else(|e| panic!("{e}\n{avro}"))
    }

    fn error(avro: &str) -> String {
        match connect_schema_from_avro(avro) {
            Ok(s) => panic!("{avro} converted to {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn debezium_fixtures_round_trip() {
        for schema in [fixture::key_schema(), fixture::source_schema(), fixture::envelope_schema()] {
            assert_eq!(back(&schema), schema);
        }
        // The registry's own text, as the oracle printed it.
        assert_eq!(connect_schema_from_avro(fixture::ORACLE_KEY_AVSC).unwrap(), fixture::key_schema());
        let envelope = connect_schema_from_avro(fixture::ORACLE_ENVELOPE_AVSC).unwrap();
        assert_eq!(envelope, fixture::envelope_schema());
        // The live capture's body decodes under the derived schema.
        let mut body = Vec::new();
        encode(&fixture::envelope_schema(), &fixture::sally_insert(), &mut body).unwrap();
        assert_eq!(decode(&envelope, &body).unwrap(), decode(&fixture::envelope_schema(), &body).unwrap());
    }

    /// The Connect schemas the serializer tests build (`schema.rs`), one per feature.
    fn serializer_test_schemas() -> Vec<Schema> {
        let decimal = prim(SchemaType::Bytes)
            .named(DECIMAL)
            .versioned(1)
            .with_parameter("scale", "3")
            .with_parameter("connect.decimal.precision", "10");
        let money =
            prim(SchemaType::Bytes).named(DECIMAL).versioned(1).with_parameter("scale", "2").optional();
        let unnamed = |fields| Schema { name: None, ..Schema::structure("x", fields) };
        let inner = unnamed(vec![field("a", prim(SchemaType::Int32))]);
        let other = unnamed(vec![field("b", prim(SchemaType::Int32))]);
        let bare = Schema::structure("Bare", vec![]);
        vec![
            prim(SchemaType::Int16),
            prim(SchemaType::Int64),
            prim(SchemaType::Float32).optional(),
            Schema::structure(
                "a.T",
                vec![field("c_int4", prim(SchemaType::Int32).with_default(ConnectValue::Int32(7)))],
            ),
            prim(SchemaType::String).named("io.debezium.data.Json").versioned(1).optional(),
            prim(SchemaType::Int8).with_doc("tiny").with_parameter("avro.x", "y"),
            decimal.clone(),
            money.clone(),
            decimal.clone().with_default(ConnectValue::Bytes(vec![0x01, 0x00])),
            money.with_default(ConnectValue::Bytes(vec![0xff])),
            prim(SchemaType::Int32).named(DATE).versioned(1),
            prim(SchemaType::Int64).named(TIMESTAMP).versioned(1).with_default(ConnectValue::Int64(-5)),
            prim(SchemaType::Int32).named(TIME).versioned(1).optional(),
            Schema::map(prim(SchemaType::String), prim(SchemaType::String).optional()),
            Schema::structure(
                "io.debezium.data.SparseDoubleVector",
                vec![
                    field("dimensions", prim(SchemaType::Int16)),
                    field("vector", Schema::map(prim(SchemaType::Int16), prim(SchemaType::Float64))),
                ],
            )
            .versioned(1),
            Schema::map(prim(SchemaType::String).optional(), prim(SchemaType::Int32)).named("n.Counts"),
            unnamed(vec![field("p", inner.clone()), field("q", other), field("r", inner.optional())]),
            Schema::structure(
                "n.Holder",
                vec![
                    field("x", bare.clone()),
                    field("y", bare),
                    field("z", fixture::source_schema().optional()),
                ],
            ),
            Schema::structure(
                "T",
                vec![field("f", prim(SchemaType::Float32).with_default(ConnectValue::Float32(0.1)))],
            ),
            Schema::structure(
                "T",
                vec![field(
                    "b",
                    prim(SchemaType::Bytes)
                        .optional()
                        .with_default(ConnectValue::Bytes(vec![0x41, 0xe9, 0x01])),
                )],
            ),
            // An optional struct with a default: the field default is dropped, connect.default stays.
            Schema::structure(
                "T",
                vec![field(
                    "i",
                    Schema::structure("I", vec![field("a", prim(SchemaType::Int32))])
                        .optional()
                        .with_default(ConnectValue::Struct(vec![ConnectValue::Int32(1)])),
                )],
            ),
            // Defaults of every primitive, arrays and string-keyed maps, required and optional.
            Schema::structure(
                "d.Defaults",
                vec![
                    field("i8", prim(SchemaType::Int8).with_default(ConnectValue::Int8(-3))),
                    field("i16", prim(SchemaType::Int16).optional().with_default(ConnectValue::Int16(300))),
                    field("i64", prim(SchemaType::Int64).with_default(ConnectValue::Int64(i64::MIN))),
                    field("f64", prim(SchemaType::Float64).with_default(ConnectValue::Float64(-1.5e300))),
                    field(
                        "f32",
                        prim(SchemaType::Float32).optional().with_default(ConnectValue::Float32(f32::MAX)),
                    ),
                    field(
                        "inf",
                        prim(SchemaType::Float32).with_default(ConnectValue::Float32(f32::INFINITY)),
                    ),
                    field("b", prim(SchemaType::Boolean).with_default(ConnectValue::Boolean(true))),
                    field("s", prim(SchemaType::String).with_default(ConnectValue::String("é😀\n".into()))),
                    field(
                        "arr",
                        Schema::array(prim(SchemaType::Int16)).with_default(ConnectValue::Array(vec![
                            ConnectValue::Int16(1),
                            ConnectValue::Int16(2),
                        ])),
                    ),
                    field(
                        "m",
                        Schema::map(prim(SchemaType::String), prim(SchemaType::Int64))
                            .optional()
                            .with_default(ConnectValue::Map(vec![(
                                ConnectValue::String("k".into()),
                                ConnectValue::Int64(9),
                            )])),
                    ),
                    field(
                        "rows",
                        Schema::array(Schema::structure("d.Row", vec![field("n", prim(SchemaType::Int32))]))
                            .with_default(ConnectValue::Array(vec![ConnectValue::Struct(vec![
                                ConnectValue::Int32(4),
                            ])])),
                    ),
                    field(
                        "enum",
                        prim(SchemaType::String)
                            .named("io.debezium.data.Enum")
                            .versioned(1)
                            .with_parameter("allowed", "a,b")
                            .optional()
                            .with_default(ConnectValue::String("a".into())),
                    ),
                ],
            )
            .with_doc("all defaults"),
        ]
    }

    /// Every PostgreSQL type under several handling modes, as `mapping` gives their Connect
    /// schemas (required with a default, and nullable).
    #[test]
    fn column_schemas_of_every_type_round_trip() {
        use std::collections::BTreeMap;

        use sluice_core::{Column, ColumnType, TableId, TypeKind};

        use crate::config::DebeziumConfig;
        use crate::mapping::column_schema;

        let ty =
            |oid: u32, modifier: i32, name: &str, kind: TypeKind| ColumnType::new(oid, modifier, name, kind);
        let int4 = || ty(23, -1, "int4", TypeKind::Int4);
        let numeric_mod = |p: i32, s: i32| ((p << 16) | s) + 4;
        let labels: Arc<[String]> = Arc::from(vec!["happy".to_owned(), "sad".to_owned()]);
        let types: Vec<(ColumnType, Option<&str>)> = vec![
            (ty(16, -1, "bool", TypeKind::Bool), Some("true")),
            (ty(21, -1, "int2", TypeKind::Int2), Some("7")),
            (int4(), Some("42")),
            (ty(20, -1, "int8", TypeKind::Int8), Some("'-9'::bigint")),
            (ty(700, -1, "float4", TypeKind::Float4), Some("1.5")),
            (ty(701, -1, "float8", TypeKind::Float8), Some("'-2.25'::double precision")),
            (ty(1700, numeric_mod(10, 2), "numeric", TypeKind::Numeric), Some("12.50")),
            (ty(1700, -1, "numeric", TypeKind::Numeric), Some("3.14159")),
            (ty(790, -1, "money", TypeKind::Money), None),
            (ty(1042, 3 + 4, "bpchar", TypeKind::Bpchar), Some("'abc'::bpchar")),
            (ty(1043, 20 + 4, "varchar", TypeKind::Varchar), Some("'x'::character varying")),
            (ty(25, -1, "text", TypeKind::Text), Some("'hello'::text")),
            (ty(19, -1, "name", TypeKind::Name), None),
            (ty(18, -1, "char", TypeKind::Char), None),
            (ty(91_001, -1, "citext", TypeKind::Citext), None),
            (ty(17, -1, "bytea", TypeKind::Bytea), Some("'\\x0102'::bytea")),
            (ty(1082, -1, "date", TypeKind::Date), Some("'2020-02-29'::date")),
            (ty(1083, 3, "time", TypeKind::Time), Some("'12:34:56.789'::time without time zone")),
            (ty(1083, -1, "time", TypeKind::Time), None),
            (ty(1266, -1, "timetz", TypeKind::TimeTz), None),
            (
                ty(1114, 3, "timestamp", TypeKind::Timestamp),
                Some("'2020-01-01 00:00:00'::timestamp without time zone"),
            ),
            (ty(1114, -1, "timestamp", TypeKind::Timestamp), None),
            (ty(1184, -1, "timestamptz", TypeKind::TimestampTz), Some("now()")),
            (ty(1186, -1, "interval", TypeKind::Interval), None),
            (ty(2950, -1, "uuid", TypeKind::Uuid), None),
            (ty(114, -1, "json", TypeKind::Json), None),
            (ty(3802, -1, "jsonb", TypeKind::Jsonb), Some("'{}'::jsonb")),
            (ty(4072, -1, "jsonpath", TypeKind::JsonPath), None),
            (ty(142, -1, "xml", TypeKind::Xml), None),
            (ty(869, -1, "inet", TypeKind::Inet), None),
            (ty(650, -1, "cidr", TypeKind::Cidr), None),
            (ty(829, -1, "macaddr", TypeKind::MacAddr), None),
            (ty(774, -1, "macaddr8", TypeKind::MacAddr8), None),
            (ty(1560, 1, "bit", TypeKind::Bit), Some("B'1'::\"bit\"")),
            (ty(1560, 8, "bit", TypeKind::Bit), None),
            (ty(1562, -1, "varbit", TypeKind::VarBit), None),
            (ty(26, -1, "oid", TypeKind::Oid), None),
            (ty(3614, -1, "tsvector", TypeKind::TsVector), None),
            (ty(3615, -1, "tsquery", TypeKind::TsQuery), None),
            (ty(600, -1, "point", TypeKind::Point), None),
            (ty(628, -1, "line", TypeKind::Line), None),
            (ty(601, -1, "lseg", TypeKind::Lseg), None),
            (ty(603, -1, "box", TypeKind::Box), None),
            (ty(602, -1, "path", TypeKind::Path), None),
            (ty(604, -1, "polygon", TypeKind::Polygon), None),
            (ty(718, -1, "circle", TypeKind::Circle), None),
            (ty(91_002, -1, "hstore", TypeKind::Hstore), None),
            (ty(91_003, -1, "ltree", TypeKind::Ltree), None),
            (ty(91_004, -1, "mood", TypeKind::Enum { labels }), Some("'happy'::mood")),
            (ty(3904, -1, "int4range", TypeKind::Range { element: Box::new(int4()) }), None),
            (ty(4451, -1, "int4multirange", TypeKind::MultiRange { element: Box::new(int4()) }), None),
            (ty(1007, -1, "_int4", TypeKind::Array { element: Box::new(int4()) }), None),
            (
                ty(
                    1231,
                    -1,
                    "_numeric",
                    TypeKind::Array {
                        element: Box::new(ty(1700, numeric_mod(5, 1), "numeric", TypeKind::Numeric)),
                    },
                ),
                None,
            ),
            (ty(91_005, -1, "posint", TypeKind::Domain { base: Box::new(int4()) }), Some("1")),
            (ty(91_006, -1, "pair", TypeKind::Composite), None),
        ];
        let configs: &[&[(&str, &str)]] = &[
            &[],
            &[
                ("decimal.handling.mode", "double"),
                ("time.precision.mode", "connect"),
                ("hstore.handling.mode", "map"),
            ],
            &[
                ("decimal.handling.mode", "string"),
                ("binary.handling.mode", "hex"),
                ("interval.handling.mode", "string"),
                ("time.precision.mode", "adaptive_time_microseconds"),
            ],
            &[
                ("column.propagate.source.type", ".*"),
                ("column.mask.with.5.chars", "public.t.c_text_.*"),
                ("column.truncate.to.3.chars", "public.t.c_varchar_.*"),
                ("binary.handling.mode", "base64"),
            ],
        ];
        let table = TableId::new("public", "t");
        let (mut checked, mut defaults) = (0, 0);
        for pairs in configs {
            let mut map: BTreeMap<String, String> = BTreeMap::new();
            map.insert("topic.prefix".into(), "test".into());
            map.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            let config = DebeziumConfig::from_properties(&map).unwrap();
            for (i, (column_type, default)) in types.iter().enumerate() {
                for nullable in [false, true] {
                    let column = Column {
                        name: format!("c_{}_{i}_{nullable}", column_type.name).into(),
                        ty: column_type.clone(),
                        nullable,
                        default: default.map(Arc::from),
                        part_of_identity: false,
                    };
                    // One struct per column: a table may not hold two different schemas of one
                    // name (VariableScaleDecimal with and without a default), for the converter too.
                    if let Some(schema) = column_schema(&table, &column, &config).unwrap() {
                        let value =
                            Schema::structure("test.public.t.Value", vec![field(&column.name, schema)]);
                        assert_eq!(back(&value), expected(&value), "{pairs:?} {column:?}");
                        checked += 1;
                        defaults += usize::from(value.fields[0].schema.default.is_some());
                    }
                }
            }
        }
        assert!(checked > 300 && defaults > 50, "{checked} schemas, {defaults} with defaults");
        for schema in [
            crate::transaction::key_schema(),
            crate::transaction::value_schema(),
            Arc::new(crate::transaction::collection_schema()),
            crate::heartbeat::key_schema(),
            crate::heartbeat::value_schema(),
            crate::envelope::source_schema(),
            crate::envelope::transaction_block_schema(),
        ] {
            assert_eq!(back(&schema), *schema);
        }
    }

    #[test]
    fn serializer_schemas_round_trip() {
        for schema in serializer_test_schemas() {
            assert_eq!(back(&schema), schema, "{}", avro_schema_string(&schema).unwrap());
        }
    }

    use crate::avro::fixture::Gen;

    /// Random Connect schemas of every shape the serializer handles. Defaults go only where the
    /// converter reads them back whole: not on structs, and not over optional or entry-encoded
    /// positions inside (see the module docs; `java_quirks` covers those).
    struct SchemaGen {
        rng: Gen,
        names: u32,
    }

    fn default_safe(schema: &Schema) -> bool {
        let nested = |s: &Schema| !s.optional && default_safe(s);
        match schema.schema_type {
            SchemaType::Array => schema.items.as_deref().is_some_and(nested),
            SchemaType::Map => match (schema.map_key.as_deref(), schema.map_value.as_deref()) {
                (Some(k), Some(v)) => !map_as_entries(k) && nested(v),
                _ => false,
            },
            SchemaType::Struct => schema.fields.iter().all(|f| nested(&f.schema)),
            _ => true,
        }
    }

    impl SchemaGen {
        fn schema(&mut self, depth: u32) -> Schema {
            let kinds = if depth >= 3 { 13 } else { 17 };
            let mut schema = match self.rng.below(kinds) {
                0 => prim(SchemaType::Int8),
                1 => prim(SchemaType::Int16),
                2 => prim(SchemaType::Int32),
                3 => prim(SchemaType::Int64),
                4 => prim(SchemaType::Float32),
                5 => prim(SchemaType::Float64),
                6 => prim(SchemaType::Boolean),
                7 => prim(SchemaType::String).named("io.debezium.data.Json").versioned(1),
                8 => prim(SchemaType::Bytes),
                9 => prim(SchemaType::Bytes)
                    .named(DECIMAL)
                    .versioned(1)
                    .with_parameter("scale", self.rng.below(5).to_string()),
                10 => prim(SchemaType::Int32).named(DATE).versioned(1),
                11 => prim(SchemaType::Int64).named(TIMESTAMP).versioned(1),
                12 => prim(SchemaType::String),
                13 | 14 => Schema::array(self.schema(depth + 1)),
                15 => {
                    let key = match self.rng.below(3) {
                        0 => prim(SchemaType::String),
                        1 => prim(SchemaType::String).optional(),
                        _ => prim(SchemaType::Int16),
                    };
                    Schema::map(key, self.schema(depth + 1))
                }
                _ => {
                    let n = self.rng.below(4);
                    let fields = (0..n).map(|i| field(&format!("f{i}"), self.schema(depth + 1))).collect();
                    self.names += 1;
                    let mut s =
                        Schema::structure(format!("gen.ns{}.S{}", self.names % 3, self.names), fields);
                    if self.rng.chance(20) {
                        s.name = None;
                    }
                    if self.rng.chance(20) {
                        s.version = Some(self.rng.below(3) as i32);
                    }
                    s
                }
            };
            if self.rng.chance(30) {
                schema.optional = true;
            }
            if schema.schema_type != SchemaType::Struct && default_safe(&schema) && self.rng.chance(30) {
                let default = self.value_of(&Schema { optional: false, ..schema.clone() }, 3, true);
                schema.default = Some(default);
            }
            schema
        }

        /// A value; `valid_default` keeps nulls out of required positions (a null there stands
        /// for the position's default in a record, but is invalid in a default).
        fn value(&mut self, schema: &Schema, depth: u32) -> ConnectValue {
            self.value_of(schema, depth, false)
        }

        fn value_of(&mut self, schema: &Schema, depth: u32, valid_default: bool) -> ConnectValue {
            let nullable = schema.optional || (!valid_default && default_of(schema).is_some());
            if nullable && self.rng.chance(25) {
                return ConnectValue::Null;
            }
            let r = self.rng.next();
            match schema.schema_type {
                SchemaType::Int8 => ConnectValue::Int8(r as i8),
                SchemaType::Int16 => ConnectValue::Int16(r as i16),
                SchemaType::Int32 => ConnectValue::Int32(r as i32 >> (r % 31)),
                SchemaType::Int64 => ConnectValue::Int64(r as i64 >> (r % 63)),
                SchemaType::Float32 => match f32::from_bits(r as u32) {
                    v if v.is_nan() => ConnectValue::Float32(1.5),
                    v => ConnectValue::Float32(v),
                },
                SchemaType::Float64 => match f64::from_bits(r) {
                    v if v.is_nan() => ConnectValue::Float64(-2.25),
                    v => ConnectValue::Float64(v),
                },
                SchemaType::Boolean => ConnectValue::Boolean(r & 1 == 1),
                SchemaType::String => {
                    let pool = ["", "a", "é", "\u{1}", "\"", "😀", "line\nbreak"];
                    ConnectValue::String((0..r % 4).map(|i| pool[((r >> (8 * i)) % 7) as usize]).collect())
                }
                SchemaType::Bytes => {
                    let min = u64::from(schema.name.is_some());
                    ConnectValue::Bytes((0..min + r % 6).map(|i| (r >> (8 * i)) as u8).collect())
                }
                SchemaType::Array => {
                    let items = schema.items.as_deref().cloned().unwrap_or_else(|| prim(SchemaType::Int8));
                    let n = if depth > 4 { 0 } else { r % 4 };
                    ConnectValue::Array(
                        (0..n).map(|_| self.value_of(&items, depth + 1, valid_default)).collect(),
                    )
                }
                SchemaType::Map => {
                    let (Some(k), Some(v)) = (schema.map_key.as_deref(), schema.map_value.as_deref()) else {
                        return ConnectValue::Map(vec![]);
                    };
                    let n = if depth > 4 { 0 } else { r % 3 };
                    ConnectValue::Map(
                        (0..n)
                            .map(|_| {
                                (
                                    self.value_of(k, depth + 1, valid_default),
                                    self.value_of(v, depth + 1, valid_default),
                                )
                            })
                            .collect(),
                    )
                }
                SchemaType::Struct => ConnectValue::Struct(
                    schema
                        .fields
                        .iter()
                        .map(|f| self.value_of(&f.schema, depth + 1, valid_default))
                        .collect(),
                ),
            }
        }
    }

    /// A default as the Avro text carries it: decimals minimal, string-keyed map entries unique
    /// (Jackson's `ObjectNode.set`: first position, last value).
    fn as_written(schema: &Schema, value: &ConnectValue) -> ConnectValue {
        match value {
            ConnectValue::Bytes(b) if is_decimal(schema) => ConnectValue::Bytes(minimal_decimal(b).to_vec()),
            ConnectValue::Array(items) => match schema.items.as_deref() {
                Some(s) => ConnectValue::Array(items.iter().map(|i| as_written(s, i)).collect()),
                None => value.clone(),
            },
            ConnectValue::Map(entries) => {
                let (Some(k), Some(v)) = (schema.map_key.as_deref(), schema.map_value.as_deref()) else {
                    return value.clone();
                };
                let mut out: Vec<(ConnectValue, ConnectValue)> = Vec::new();
                for (key, val) in entries {
                    let val = as_written(v, val);
                    match out.iter_mut().find(|(existing, _)| !map_as_entries(k) && existing == key) {
                        Some((_, slot)) => *slot = val,
                        None => out.push((as_written(k, key), val)),
                    }
                }
                ConnectValue::Map(out)
            }
            ConnectValue::Struct(values) => ConnectValue::Struct(
                schema.fields.iter().zip(values).map(|(f, v)| as_written(&f.schema, v)).collect(),
            ),
            _ => value.clone(),
        }
    }

    /// `schema` as the converter reads it back: defaults as written, nothing else changes.
    fn expected(schema: &Schema) -> Schema {
        let mut out = schema.clone();
        out.default = schema.default.as_ref().map(|d| as_written(schema, d));
        out.items = schema.items.as_deref().map(|s| Arc::new(expected(s)));
        out.map_key = schema.map_key.as_deref().map(|s| Arc::new(expected(s)));
        out.map_value = schema.map_value.as_deref().map(|s| Arc::new(expected(s)));
        out.fields = schema.fields.iter().map(|f| field(&f.name, expected(&f.schema))).collect();
        out
    }

    #[test]
    fn generated_schemas_round_trip() {
        let mut generator = SchemaGen { rng: Gen(0x05ee_d0fa_115c_4ea5), names: 0 };
        let mut converted = 0;
        for case in 0..3000 {
            let schema = generator.schema(0);
            let text = match avro_schema_string(&schema) {
                Ok(text) => text,
                // Two different unnamed entry-encoded maps both claim io.confluent.connect.avro.MapEntry.
                Err(e) => {
                    assert!(e.to_string().contains("can't redefine"), "case {case}: {e}");
                    continue;
                }
            };
            let derived =
                connect_schema_from_avro(&text).unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
            assert_eq!(derived, expected(&schema), "case {case}\n{text}");
            // Bodies written under the original decode under the derived schema.
            let value = generator.value(&schema, 0);
            let mut body = Vec::new();
            if encode(&schema, &value, &mut body).is_ok() {
                assert_eq!(
                    decode(&derived, &body).unwrap_or_else(|e| panic!("case {case}: {e}")),
                    decode(&schema, &body).unwrap(),
                    "case {case}"
                );
            }
            converted += 1;
        }
        assert!(converted > 2500, "{converted}");
    }

    #[test]
    fn java_quirks() {
        // A field default without connect.default marks the schema as defaulted by Avro.
        let s = from(&json!({"type":"record","name":"r.R","fields":[
            {"name":"a","type":"int","default":5},
            {"name":"b","type":{"type":"int","connect.default":6},"default":7},
            {"name":"c","type":["null","int"],"default":null},
            {"name":"d","type":"string","default":5}
        ]}));
        let a = &s.field("a").unwrap().schema;
        assert_eq!(a.default, Some(ConnectValue::Int32(5)));
        assert_eq!(a.parameters, vec![(FIELD_DEFAULT_FLAG.to_owned(), "true".to_owned())]);
        // The field default wins over connect.default.
        let b = &s.field("b").unwrap().schema;
        assert_eq!((b.default.clone(), b.parameters.len()), (Some(ConnectValue::Int32(7)), 0));
        let c = &s.field("c").unwrap().schema;
        assert_eq!((c.optional, c.default.clone(), c.parameters.len()), (true, None, 0));
        // A default of the wrong type is no default (Avro's toObject gives null).
        let d = &s.field("d").unwrap().schema;
        assert_eq!((d.default.clone(), d.parameters.len()), (None, 0));
        // ... and such a schema round-trips: the flag keeps connect.default out of the text.
        assert_eq!(back(&s), s);

        // Inside connect.default, a union position starting with null reads as null; one starting
        // with its type invalidates the default.
        let s = from(&json!({"type":"array","items":["null","int"],"connect.default":[1,null]}));
        assert_eq!(s.default, Some(ConnectValue::Array(vec![ConnectValue::Null, ConnectValue::Null])));
        let s = from(&json!({"type":"array","items":["int","null"],"connect.default":[1]}));
        assert_eq!(s.default, None);
        // A field default is read through the union's first branch correctly.
        let s = from(&json!({"type":"record","name":"R","fields":[
            {"name":"a","type":{"type":"array","items":["int","null"]},"default":[1,2]}]}));
        assert_eq!(
            s.fields[0].schema.default,
            Some(ConnectValue::Array(vec![ConnectValue::Int32(1), ConnectValue::Int32(2)]))
        );
        // Maps encoded as entry arrays never get a default.
        let entries = Schema::map(prim(SchemaType::Int16), prim(SchemaType::Int16))
            .with_default(ConnectValue::Map(vec![(ConnectValue::Int16(1), ConnectValue::Int16(2))]));
        assert_eq!(back(&entries), Schema { default: None, ..entries });
        // Logical types have version 1 whether or not the text says so.
        let unversioned = prim(SchemaType::Bytes).named(DECIMAL).with_parameter("scale", "-2");
        assert_eq!(back(&unversioned), unversioned.clone().versioned(1));
        assert!(error(r#"{"type":"int","logicalType":"date","connect.version":2}"#).contains("differs"));
        assert!(error(r#"{"type":"int","logicalType":"date","connect.name":"x.Y"}"#).contains("differs"));
        // A null default is no default.
        assert_eq!(from(&json!({"type":"long","connect.default":null})).default, None);
        // Non-numeric Java names of non-finite floats.
        let s = from(&json!({"type":"double","connect.default":"-Infinity"}));
        assert_eq!(s.default, Some(ConnectValue::Float64(f64::NEG_INFINITY)));
    }

    #[test]
    fn avro_features_beyond_the_serializer() {
        // Plain Avro: names from the records, logical types, unions, enums, fixed, docs.
        let s = from(&json!({"type":"record","name":"Order","namespace":"shop","doc":"an order","fields":[
            {"name":"id","type":"long","doc":"the id"},
            {"name":"when","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"day","type":{"type":"int","logicalType":"date"}},
            {"name":"at","type":{"type":"int","logicalType":"time-millis"}},
            {"name":"other","type":{"type":"int","logicalType":"whatever","connect.type":"int8"}},
            {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
            {"name":"price","type":{"type":"fixed","name":"Price","size":8,"logicalType":"decimal","precision":64}},
            {"name":"hash","type":{"type":"fixed","name":"Hash","size":16}},
            {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","DONE"],"doc":"s","default":"NEW"}},
            {"name":"status2","type":"Status"},
            {"name":"choice","type":["null","int","string","Hash"]},
            {"name":"single","type":["string"]},
            {"name":"late","type":["string","null"],"default":"x"},
            {"name":"tags","type":{"type":"map","values":"string"}},
            {"name":"java","type":{"type":"string","avro.java.string":"String"}}
        ]}));
        assert_eq!(s.name.as_deref(), Some("shop.Order"));
        assert_eq!(
            s.parameters,
            vec![
                (RECORD_DOC_PARAM.to_owned(), "an order".to_owned()),
                (format!("{FIELD_DOC_PREFIX}id"), "the id".to_owned()),
            ]
        );
        let f = |name: &str| s.field(name).unwrap().schema.as_ref().clone();
        assert_eq!(f("when"), prim(SchemaType::Int64).named(TIMESTAMP).versioned(1));
        assert_eq!(f("day"), prim(SchemaType::Int32).named(DATE).versioned(1));
        assert_eq!(f("at"), prim(SchemaType::Int32).named(TIME).versioned(1));
        assert_eq!(f("other"), prim(SchemaType::Int32), "a logical type hides connect.type");
        assert_eq!(
            f("amount"),
            prim(SchemaType::Bytes)
                .named(DECIMAL)
                .versioned(1)
                .with_parameter("scale", "2")
                .with_parameter(DECIMAL_PRECISION_PARAM, "9")
        );
        assert_eq!(
            f("price"),
            prim(SchemaType::Bytes)
                .named(DECIMAL)
                .versioned(1)
                .with_parameter("scale", "0")
                .with_parameter(FIXED_SIZE_PARAM, "8")
        );
        assert_eq!(
            f("hash"),
            prim(SchemaType::Bytes).named("shop.Hash").with_parameter(FIXED_SIZE_PARAM, "16")
        );
        let status = prim(SchemaType::String)
            .named("shop.Status")
            .with_parameter(format!("{ENUM_DOC_PREFIX}Status"), "s")
            .with_parameter(format!("{ENUM_DEFAULT_PREFIX}Status"), "NEW")
            .with_parameter(ENUM_PARAM, "shop.Status")
            .with_parameter(format!("{ENUM_PARAM}.NEW"), "NEW")
            .with_parameter(format!("{ENUM_PARAM}.DONE"), "DONE");
        assert_eq!(f("status"), status);
        assert_eq!(f("status2"), status);
        let choice = f("choice");
        assert_eq!((choice.name.as_deref(), choice.optional), (Some(UNION_NAME), true));
        let names: Vec<&str> = choice.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["int", "string", "Hash"]);
        assert!(choice.fields.iter().all(|f| f.schema.optional));
        assert_eq!(f("single"), prim(SchemaType::String));
        assert_eq!(f("late"), prim(SchemaType::String).optional());
        assert_eq!(f("tags"), Schema::map(prim(SchemaType::String), prim(SchemaType::String)));
        assert_eq!(f("java"), prim(SchemaType::String).with_parameter("avro.java.string", "String"));

        // A general union's default is its first branch's.
        let s = from(&json!({"type":"record","name":"U","fields":[
            {"name":"u","type":["int","string"],"default":3}]}));
        let u = &s.fields[0].schema;
        assert_eq!(u.default, Some(ConnectValue::Struct(vec![ConnectValue::Int32(3), ConnectValue::Null])));
        assert_eq!(u.parameter(FIELD_DEFAULT_FLAG), Some("true"));
        // Struct field defaults from Avro, missing fields taking their own default.
        let s = from(&json!({"type":"record","name":"O","fields":[
            {"name":"i","type":{"type":"record","name":"I","fields":[
                {"name":"a","type":"int","default":1},{"name":"b","type":"string"}]},
             "default":{"b":"x"}}]}));
        assert_eq!(
            s.fields[0].schema.default,
            Some(ConnectValue::Struct(vec![ConnectValue::Int32(1), ConnectValue::String("x".into())]))
        );
        // Namespaces: a short reference resolves in the enclosing namespace, then the null one.
        let s = from(&json!({"type":"record","name":"a.A","fields":[
            {"name":"x","type":{"type":"record","name":"X","fields":[]}},
            {"name":"y","type":"X"},
            {"name":"z","type":{"type":"record","name":"Z","namespace":"","fields":[]}},
            {"name":"w","type":"Z"},
            {"name":"v","type":{"type":"a.X"}}]}));
        let names: Vec<_> = s.fields.iter().map(|f| f.schema.name.clone().unwrap()).collect();
        assert_eq!(names, ["a.X", "a.X", "Z", "Z", "a.X"]);
    }

    #[test]
    fn invalid_schemas_name_the_field() {
        let cases = [
            ("{", "not valid JSON"),
            ("5", "is not a schema"),
            (r#""nope""#, "\"nope\" is not a defined name"),
            (r#""null""#, "standalone null"),
            (r#"{"type":"record","name":"r.R","fields":[{"name":"a","type":"Missing"}]}"#, "at r.R.a:"),
            (
                r#"{"type":"record","name":"r.R","fields":[{"name":"a","type":{"type":"array","items":"x"}}]}"#,
                "at r.R.a.items:",
            ),
            (r#"{"type":"record","name":"r.R","fields":[{"name":"a","type":"R"}]}"#, "contains itself"),
            (
                r#"{"type":"record","name":"r.R","fields":[{"name":"a","type":["null","R"]}]}"#,
                "at r.R.a: record r.R contains itself",
            ),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
                "duplicate field a",
            ),
            (r#"{"type":"record","name":"bad-name","fields":[]}"#, "illegal Avro name"),
            (r#"{"type":"record","name":"R","fields":[{"name":"a b","type":"int"}]}"#, "illegal field name"),
            (r#"{"type":"record","name":"R"}"#, "has no fields"),
            (r#"{"type":"record","name":"R","fields":[{"type":"int"}]}"#, "has no name"),
            (r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#, "at R.a: the field has no type"),
            (r#"["int",["null"]]"#, "cannot directly contain a union"),
            (r#"["int","int"]"#, "duplicate int in union"),
            (r#"{"type":"int","connect.type":"int32"}"#, "int8 or int16"),
            (r#"{"type":"bytes","logicalType":"decimal","precision":"9"}"#, "JSON integer"),
            (r#"{"type":"int","connect.version":"1"}"#, "invalid connect.version"),
            (r#"{"type":"int","connect.name":5}"#, "invalid connect.name"),
            (r#"{"type":"int","connect.parameters":[]}"#, "must be a JSON object"),
            (r#"{"type":"int","connect.parameters":{"a":1}}"#, "is not a string"),
            (r#"{"type":"enum","name":"E","symbols":["A","A"]}"#, "duplicate enum symbol"),
            (r#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#, "is not a symbol"),
            (r#"{"type":"fixed","name":"F"}"#, "invalid or no size"),
            (r#"{"type":"array"}"#, "no items"),
            (r#"{"type":"map"}"#, "no values"),
            (r#"{"type":"widget"}"#, "not supported"),
            (r#"{"items":"int"}"#, "no type"),
            (
                r#"[{"type":"record","name":"A","fields":[]},{"type":"record","name":"A","fields":[]}]"#,
                "can't redefine A",
            ),
            (
                r#"{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"int"}]}}"#,
                "exactly the fields key and value",
            ),
            (
                r#"["null","int","string",{"type":"fixed","name":"n.string","size":1}]"#,
                "union field name string",
            ),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(message.contains(expected), "{text}: {message}");
        }
        assert_eq!(
            connect_schema_from_avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"R2"}]}"#)
                .unwrap_err()
                .class(),
            sluice_core::ErrorClass::Definite
        );
    }

    #[test]
    fn expansion_and_depth_are_bounded() {
        // Each record references the previous one twice: 2^40 nodes if expanded.
        let mut branches = vec![json!({"type":"record","name":"R0","fields":[{"name":"a","type":"int"}]})];
        for i in 1..40 {
            branches.push(json!({"type":"record","name":format!("R{i}"),"fields":[
                {"name":"x","type":format!("R{}", i - 1)},{"name":"y","type":format!("R{}", i - 1)}]}));
        }
        let wide = json!({"type":"record","name":"Top","fields":[{"name":"u","type":branches}]});
        assert!(error(&wide.to_string()).contains("more than"));
        // A long chain of references nests deeper than any real schema.
        let mut branches = vec![json!({"type":"record","name":"C0","fields":[]})];
        for i in 1..100 {
            branches.push(json!({"type":"record","name":format!("C{i}"),"fields":[
                {"name":"x","type":format!("C{}", i - 1)}]}));
        }
        let deep = json!({"type":"record","name":"Top","fields":[{"name":"u","type":branches}]});
        assert!(error(&deep.to_string()).contains("nested too deeply"));
        // JSON nested past serde_json's limit.
        let nested = format!("{}\"int\"{}", "[".repeat(1000), "]".repeat(1000));
        assert!(connect_schema_from_avro(&nested).is_err());
    }

    #[test]
    fn json_doubles_are_read_exactly() {
        let doubles: Value =
            serde_json::from_str("[1.9152748442434296E-28, -0.0, 5e-324, 1.7976931348623157e308]").unwrap();
        let expected = [1.915_274_844_243_429_6e-28, -0.0, 5e-324, f64::MAX];
        for (v, e) in doubles.as_array().unwrap().iter().zip(expected) {
            assert_eq!(v.as_f64().unwrap().to_bits(), e.to_bits());
        }
    }

    /// Replaces the `target`-th node (pre-order) of `value` with `with`; counts nodes down.
    fn replace_node(value: &mut Value, target: &mut usize, with: &Value) -> bool {
        if *target == 0 {
            *value = with.clone();
            return true;
        }
        *target -= 1;
        match value {
            Value::Array(items) => items.iter_mut().any(|i| replace_node(i, target, with)),
            Value::Object(entries) => entries.values_mut().any(|v| replace_node(v, target, with)),
            _ => false,
        }
    }

    fn count_nodes(value: &Value) -> usize {
        1 + match value {
            Value::Array(items) => items.iter().map(count_nodes).sum(),
            Value::Object(entries) => entries.values().map(count_nodes).sum(),
            _ => 0,
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut generator = SchemaGen { rng: Gen(0x0bad_5eed), names: 0 };
        let mut texts = vec![
            fixture::ORACLE_ENVELOPE_AVSC.to_owned(),
            fixture::ORACLE_KEY_AVSC.to_owned(),
            json!({"type":"record","name":"U","fields":[
                {"name":"u","type":["null","int",{"type":"fixed","name":"F","size":2},
                    {"type":"enum","name":"E","symbols":["A"]}],"default":null},
                {"name":"m","type":{"type":"array","items":{"type":"record","name":"MapEntry",
                    "namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"int"},
                    {"name":"value","type":["null","string"]}]}}}]})
            .to_string(),
        ];
        texts.extend(serializer_test_schemas().iter().filter_map(|s| avro_schema_string(s).ok()));
        while texts.len() < 60 {
            if let Ok(text) = avro_schema_string(&generator.schema(0)) {
                texts.push(text);
            }
        }
        let pool: Vec<Value> = [
            json!(null),
            json!(1),
            json!(-1),
            json!(1.5),
            json!(18446744073709551615u64),
            json!("int"),
            json!("long"),
            json!("null"),
            json!("x"),
            json!("Value"),
            json!("io.confluent.connect.avro.MapEntry"),
            json!([]),
            json!({}),
            json!(["null", "int"]),
            json!(["int", "null"]),
            json!({"type":"bytes","logicalType":"decimal","precision":"x","scale":1e300}),
            json!({"type":"int","connect.type":"int8","connect.default":"x"}),
            json!({"type":"array","items":"int","connect.default":{"a":1}}),
            json!({"type":"map","values":["int","null"],"connect.default":{"a":1}}),
            json!({"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","fields":[]}),
            json!({"type":"record","name":"Value","fields":[{"name":"id","type":"int","default":[1]}]}),
            json!({"type":"enum","name":"E2","symbols":[]}),
            json!({"type":"fixed","name":"F2","size":-1}),
            json!({"connect.parameters":{"a":"b"},"type":"string","connect.version":-7}),
        ]
        .into_iter()
        .collect();
        let mut rng = Gen(7);
        let mut runs = 0;
        for text in &texts {
            let chars: Vec<char> = text.chars().collect();
            for _ in 0..20 {
                // Textual damage: truncation, deletion, replacement, insertion.
                let mut damaged = chars.clone();
                let at = rng.below(damaged.len() as u64 + 1) as usize;
                match rng.below(4) {
                    0 => damaged.truncate(at),
                    1 if at < damaged.len() => {
                        damaged.remove(at);
                    }
                    2 if at < damaged.len() => damaged[at] = b"{}[]\",:0a.-"[rng.below(11) as usize] as char,
                    _ => damaged.insert(at, b"{}[]\",:0a.-"[rng.below(11) as usize] as char),
                }
                let damaged: String = damaged.into_iter().collect();
                let _ = connect_schema_from_avro(&damaged);
                runs += 1;
            }
            // Structural damage: a random node replaced by something plausible.
            let json: Value = serde_json::from_str(text).unwrap();
            let nodes = count_nodes(&json);
            for _ in 0..40 {
                let mut damaged = json.clone();
                let mut target = rng.below(nodes as u64) as usize;
                let with = &pool[rng.below(pool.len() as u64) as usize];
                replace_node(&mut damaged, &mut target, with);
                let _ = connect_schema_from_avro(&damaged.to_string());
                runs += 1;
            }
        }
        assert!(runs > 3000, "{runs}");
    }
}
