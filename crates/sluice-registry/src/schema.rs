//! Avro schema model: parsing, validation and the canonical text used for deduplication.
//!
//! The parser follows Avro Java's `Schema.Parser` (the one Confluent Schema Registry runs), so a
//! schema Confluent accepts is accepted here and one it rejects is rejected with a message naming
//! what is wrong: primitive names, records / enums / fixed with names, namespaces and name
//! resolution (including references to earlier named types and recursive records), aliases,
//! arrays, maps, unions, field defaults (validated), and arbitrary extra properties
//! (`logicalType`, `connect.name`, `connect.parameters`, ...), which are kept.
//!
//! The canonical text is the schema JSON re-serialized compactly with its key order preserved. Two
//! registrations with the same canonical text are the same schema and share one global id.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

/// Extra (non-reserved) JSON properties of a schema or field, in their original order.
pub type Properties = Map<String, Value>;

/// Why a schema text is not a valid Avro schema (Confluent answers these with 42201).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SchemaError {
    message: String,
}

impl SchemaError {
    fn new(message: impl Into<String>) -> Self {
        SchemaError { message: message.into() }
    }

    /// The human-readable reason.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A parsed, validated Avro schema with its named types and canonical text.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    root: Schema,
    named: Vec<NamedSchema>,
    canonical: String,
}

/// One schema node: its kind and the extra properties written on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// What the node is.
    pub kind: SchemaKind,
    /// Non-reserved properties (`logicalType`, `connect.*`, ...); empty for unions and bare names.
    pub properties: Properties,
}

/// The shape of a schema node. Named types are stored once in [`AvroSchema`] and referred to by
/// [`NamedRef`], which is what makes recursive records representable.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaKind {
    /// `null`.
    Null,
    /// `boolean`.
    Boolean,
    /// `int` (32-bit).
    Int,
    /// `long` (64-bit).
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `bytes`.
    Bytes,
    /// `string`.
    String,
    /// `array` of `items`.
    Array(Box<Schema>),
    /// `map` with string keys and these `values`.
    Map(Box<Schema>),
    /// A union of branches (never directly nested, no two branches of the same type or name).
    Union(Vec<Schema>),
    /// A record, enum or fixed, defined in or referenced from this schema.
    Named(NamedRef),
}

/// A handle to a named type of one [`AvroSchema`] (see [`AvroSchema::named`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamedRef(usize);

impl NamedRef {
    /// The position of the named type in definition order (unique within one schema).
    pub fn index(self) -> usize {
        self.0
    }
}

/// A fully qualified Avro name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    /// The simple name (last dot-separated part).
    pub name: String,
    /// The namespace, `None` for the null namespace.
    pub namespace: Option<String>,
}

impl Name {
    /// `namespace.name`, or just `name` in the null namespace.
    pub fn full(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

/// A record, enum or fixed type.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSchema {
    /// The type's full name.
    pub name: Name,
    /// Alternative full names (resolved against the type's namespace), used by schema resolution.
    pub aliases: Vec<String>,
    /// The `doc` string, if any.
    pub doc: Option<String>,
    /// Non-reserved properties (`connect.name`, `connect.version`, ...).
    pub properties: Properties,
    /// What kind of named type it is.
    pub kind: NamedKind,
}

/// The kinds of named types.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedKind {
    /// A record (or an `error`, which Avro treats as a record).
    Record {
        /// The fields in order.
        fields: Vec<Field>,
    },
    /// An enum.
    Enum {
        /// The symbols in order.
        symbols: Vec<String>,
        /// The symbol readers use for writer symbols they do not know.
        default: Option<String>,
    },
    /// A fixed-size byte sequence.
    Fixed {
        /// The size in bytes.
        size: u32,
    },
}

/// A record field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field name.
    pub name: String,
    /// Alternative names, used when reading data written with an older field name.
    pub aliases: Vec<String>,
    /// The `doc` string, if any.
    pub doc: Option<String>,
    /// The field's type.
    pub schema: Schema,
    /// The default (validated against the type), used when the writer lacks the field.
    pub default: Option<Value>,
    /// The sort order.
    pub order: FieldOrder,
    /// Non-reserved field properties.
    pub properties: Properties,
}

/// A field's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOrder {
    /// `ascending` (the default).
    Ascending,
    /// `descending`.
    Descending,
    /// `ignore`.
    Ignore,
}

impl AvroSchema {
    /// Parses and validates an Avro schema from its JSON text.
    pub fn parse(text: &str) -> Result<AvroSchema, SchemaError> {
        if text.trim().is_empty() {
            return Err(SchemaError::new("the schema is empty"));
        }
        let json: Value = serde_json::from_str(text)
            .map_err(|e| SchemaError::new(format!("the schema is not valid JSON: {e}")))?;
        Self::from_json(&json)
    }

    /// Parses and validates an Avro schema from already-parsed JSON.
    pub fn from_json(json: &Value) -> Result<AvroSchema, SchemaError> {
        let mut parser = Parser::default();
        let root = parser.parse(json, None, "the schema")?;
        let mut named = Vec::with_capacity(parser.named.len());
        for (i, slot) in parser.named.into_iter().enumerate() {
            match slot {
                Some(n) => named.push(n),
                None => {
                    return Err(SchemaError::new(format!(
                        "named type #{i} was referenced but never defined"
                    )));
                }
            }
        }
        let canonical = serde_json::to_string(json)
            .map_err(|e| SchemaError::new(format!("the schema cannot be serialized: {e}")))?;
        Ok(AvroSchema { root, named, canonical })
    }

    /// The top-level schema node.
    pub fn root(&self) -> &Schema {
        &self.root
    }

    /// The named type behind `r` (always `Some` for refs taken from this schema).
    pub fn named(&self, r: NamedRef) -> Option<&NamedSchema> {
        self.named.get(r.0)
    }

    /// Every named type, in definition order.
    pub fn named_types(&self) -> impl Iterator<Item = (NamedRef, &NamedSchema)> {
        self.named.iter().enumerate().map(|(i, n)| (NamedRef(i), n))
    }

    /// The named type with this full name, if defined.
    pub fn lookup(&self, full_name: &str) -> Option<NamedRef> {
        self.named.iter().position(|n| n.name.full() == full_name).map(NamedRef)
    }

    /// The compact JSON text: what is stored, returned and compared for deduplication.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The Avro type name of a node, as Avro Java spells it in messages (`RECORD`, `INT`, ...).
    pub fn type_name(&self, schema: &Schema) -> &'static str {
        match &schema.kind {
            SchemaKind::Null => "NULL",
            SchemaKind::Boolean => "BOOLEAN",
            SchemaKind::Int => "INT",
            SchemaKind::Long => "LONG",
            SchemaKind::Float => "FLOAT",
            SchemaKind::Double => "DOUBLE",
            SchemaKind::Bytes => "BYTES",
            SchemaKind::String => "STRING",
            SchemaKind::Array(_) => "ARRAY",
            SchemaKind::Map(_) => "MAP",
            SchemaKind::Union(_) => "UNION",
            SchemaKind::Named(r) => match self.named(*r).map(|n| &n.kind) {
                Some(NamedKind::Record { .. }) | None => "RECORD",
                Some(NamedKind::Enum { .. }) => "ENUM",
                Some(NamedKind::Fixed { .. }) => "FIXED",
            },
        }
    }
}

impl Schema {
    fn bare(kind: SchemaKind) -> Schema {
        Schema { kind, properties: Properties::new() }
    }

    /// The `logicalType` property, if any (kept as an attribute; not interpreted).
    pub fn logical_type(&self) -> Option<&str> {
        self.properties.get("logicalType").and_then(Value::as_str)
    }
}

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

fn primitive(name: &str) -> Option<SchemaKind> {
    Some(match name {
        "null" => SchemaKind::Null,
        "boolean" => SchemaKind::Boolean,
        "int" => SchemaKind::Int,
        "long" => SchemaKind::Long,
        "float" => SchemaKind::Float,
        "double" => SchemaKind::Double,
        "bytes" => SchemaKind::Bytes,
        "string" => SchemaKind::String,
        _ => return None,
    })
}

/// Reserved keys of schema objects (everything else is a property); Avro Java's `SCHEMA_RESERVED`.
const SCHEMA_RESERVED: [&str; 10] =
    ["doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"];
/// Reserved keys of fields; Avro Java's `FIELD_RESERVED`.
const FIELD_RESERVED: [&str; 6] = ["default", "doc", "name", "order", "type", "aliases"];

/// Bounds the recursion of default validation (a record default can refer to itself forever).
const MAX_DEFAULT_DEPTH: usize = 256;
/// Bounds the work of validating one default (unions of records nest exponentially).
const MAX_DEFAULT_STEPS: u64 = 1_000_000;

/// Whether `name` is a valid Avro simple name (Avro Java's `validateName`: a letter or `_`, then
/// letters, digits or `_`).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[derive(Default)]
struct Parser {
    /// Named types by definition order; `None` while a record's fields are being parsed.
    named: Vec<Option<NamedSchema>>,
    /// Full name → index into `named`.
    names: HashMap<String, usize>,
    /// Index into `named` → full name.
    full_names: Vec<String>,
    /// Work done validating the current default.
    default_steps: std::cell::Cell<u64>,
}

impl Parser {
    fn parse(&mut self, json: &Value, namespace: Option<&str>, context: &str) -> Result<Schema, SchemaError> {
        match json {
            Value::String(name) => self.resolve(name, namespace, context),
            Value::Object(obj) => self.parse_object(obj, namespace, context),
            Value::Array(branches) => self.parse_union(branches, namespace, context),
            other => Err(SchemaError::new(format!(
                "{context}: {other} is not a schema (expected a type name, a JSON object with \"type\", or a \
                 union array)"
            ))),
        }
    }

    fn resolve(&self, name: &str, namespace: Option<&str>, context: &str) -> Result<Schema, SchemaError> {
        if let Some(kind) = primitive(name) {
            return Ok(Schema::bare(kind));
        }
        match self.lookup(name, namespace) {
            Some(i) => Ok(Schema::bare(SchemaKind::Named(NamedRef(i)))),
            None => Err(SchemaError::new(format!(
                "{context}: \"{name}\" is not a defined name; a type must be a primitive, a name defined \
                 earlier in the schema, or a {{\"type\": ...}} expression"
            ))),
        }
    }

    fn lookup(&self, name: &str, namespace: Option<&str>) -> Option<usize> {
        let full = match namespace {
            Some(ns) if !name.contains('.') => format!("{ns}.{name}"),
            _ => name.to_owned(),
        };
        self.names.get(&full).or_else(|| self.names.get(name)).copied()
    }

    fn parse_object(
        &mut self,
        obj: &Map<String, Value>,
        namespace: Option<&str>,
        context: &str,
    ) -> Result<Schema, SchemaError> {
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => {
                return Err(SchemaError::new(format!(
                    "{context}: \"type\" must be a string in a schema object, found {other}"
                )));
            }
            None => {
                return Err(SchemaError::new(format!(
                    "{context}: no \"type\" in {}",
                    Value::Object(obj.clone())
                )));
            }
        };
        if let Some(kind) = primitive(ty) {
            return Ok(Schema { kind, properties: properties(obj, &SCHEMA_RESERVED) });
        }
        match ty {
            "record" | "error" => self.parse_record(obj, namespace, context),
            "enum" => self.parse_enum(obj, namespace, context),
            "fixed" => self.parse_fixed(obj, namespace, context),
            "array" => {
                let items = obj
                    .get("items")
                    .ok_or_else(|| SchemaError::new(format!("{context}: array has no \"items\" type")))?;
                let items = self.parse(items, namespace, &format!("{context}, array items"))?;
                Ok(Schema {
                    kind: SchemaKind::Array(Box::new(items)),
                    properties: properties(obj, &SCHEMA_RESERVED),
                })
            }
            "map" => {
                let values = obj
                    .get("values")
                    .ok_or_else(|| SchemaError::new(format!("{context}: map has no \"values\" type")))?;
                let values = self.parse(values, namespace, &format!("{context}, map values"))?;
                Ok(Schema {
                    kind: SchemaKind::Map(Box::new(values)),
                    properties: properties(obj, &SCHEMA_RESERVED),
                })
            }
            // Avro Java (1.11, which Confluent runs) also accepts {"type": "<defined name>"}.
            name => match self.lookup(name, namespace) {
                Some(i) => Ok(Schema {
                    kind: SchemaKind::Named(NamedRef(i)),
                    properties: properties(obj, &SCHEMA_RESERVED),
                }),
                None => Err(SchemaError::new(format!(
                    "{context}: type \"{name}\" is neither a primitive type, one of \"record\", \"enum\", \
                     \"fixed\", \"array\", \"map\", \"error\", nor a name defined earlier in the schema"
                ))),
            },
        }
    }

    /// Parses `name` / `namespace` of a named type and reserves its slot, so that the type's own
    /// fields can refer to it (recursive records).
    fn define(
        &mut self,
        obj: &Map<String, Value>,
        namespace: Option<&str>,
        context: &str,
    ) -> Result<(usize, Name, Vec<String>, Option<String>), SchemaError> {
        let raw = match obj.get("name") {
            Some(Value::String(n)) => n.as_str(),
            Some(other) => {
                return Err(SchemaError::new(format!("{context}: \"name\" must be a string, found {other}")));
            }
            None => return Err(SchemaError::new(format!("{context}: a named type has no \"name\""))),
        };
        let explicit_ns = match obj.get("namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(ns)) => Some(ns.as_str()),
            Some(other) => {
                return Err(SchemaError::new(format!(
                    "{context}: \"namespace\" of \"{raw}\" must be a string, found {other}"
                )));
            }
        };
        let name = make_name(raw, explicit_ns.or(namespace), context)?;
        let full = name.full();
        if PRIMITIVES.contains(&full.as_str()) {
            return Err(SchemaError::new(format!(
                "{context}: schemas may not be named after primitives: {full}"
            )));
        }
        if self.names.contains_key(&full) {
            return Err(SchemaError::new(format!("{context}: can't redefine: {full}")));
        }
        let aliases = aliases(obj, context)?
            .into_iter()
            .map(|a| make_name(&a, name.namespace.as_deref(), context).map(|n| n.full()))
            .collect::<Result<Vec<_>, _>>()?;
        let doc = obj.get("doc").and_then(Value::as_str).map(str::to_owned);
        let index = self.named.len();
        self.named.push(None);
        self.names.insert(full.clone(), index);
        self.full_names.push(full);
        Ok((index, name, aliases, doc))
    }

    fn parse_record(
        &mut self,
        obj: &Map<String, Value>,
        namespace: Option<&str>,
        context: &str,
    ) -> Result<Schema, SchemaError> {
        let (index, name, aliases, doc) = self.define(obj, namespace, context)?;
        let full = name.full();
        let Some(Value::Array(raw_fields)) = obj.get("fields") else {
            return Err(SchemaError::new(format!("record {full}: \"fields\" is missing or not an array")));
        };
        let mut fields: Vec<Field> = Vec::with_capacity(raw_fields.len());
        for (pos, raw) in raw_fields.iter().enumerate() {
            let field = self.parse_field(raw, name.namespace.as_deref(), &full, pos)?;
            if fields.iter().any(|f| f.name == field.name) {
                return Err(SchemaError::new(format!("record {full}: duplicate field \"{}\"", field.name)));
            }
            fields.push(field);
        }
        let named = NamedSchema {
            name,
            aliases,
            doc,
            properties: properties(obj, &SCHEMA_RESERVED),
            kind: NamedKind::Record { fields },
        };
        self.fill(index, named)
    }

    fn parse_field(
        &mut self,
        raw: &Value,
        namespace: Option<&str>,
        record: &str,
        pos: usize,
    ) -> Result<Field, SchemaError> {
        let Value::Object(obj) = raw else {
            return Err(SchemaError::new(format!("record {record}: field #{pos} is not a JSON object")));
        };
        let name = match obj.get("name") {
            Some(Value::String(n)) => n.clone(),
            _ => {
                return Err(SchemaError::new(format!(
                    "record {record}: field #{pos} has no \"name\" string"
                )));
            }
        };
        let context = format!("record {record}, field \"{name}\"");
        if !is_valid_name(&name) {
            return Err(SchemaError::new(format!(
                "{context}: invalid name (must start with a letter or '_' and contain only letters, digits \
                 and '_')"
            )));
        }
        let ty = obj.get("type").ok_or_else(|| SchemaError::new(format!("{context}: no \"type\"")))?;
        let schema = self.parse(ty, namespace, &context)?;
        let order = match obj.get("order") {
            None => FieldOrder::Ascending,
            Some(Value::String(o)) => match o.to_ascii_lowercase().as_str() {
                "ascending" => FieldOrder::Ascending,
                "descending" => FieldOrder::Descending,
                "ignore" => FieldOrder::Ignore,
                _ => {
                    return Err(SchemaError::new(format!(
                        "{context}: \"order\" must be \"ascending\", \"descending\" or \"ignore\", found \"{o}\""
                    )));
                }
            },
            Some(other) => {
                return Err(SchemaError::new(format!(
                    "{context}: \"order\" must be a string, found {other}"
                )));
            }
        };
        let default = match obj.get("default") {
            None => None,
            Some(d) => {
                let valid = match (&schema.kind, d) {
                    // Avro Java parses string defaults of float/double fields as numbers ("NaN", "1.5").
                    (SchemaKind::Float | SchemaKind::Double, Value::String(s)) => parse_java_double(s),
                    _ => {
                        self.default_steps.set(0);
                        self.is_valid_default(&schema, d, 0)
                    }
                };
                if !valid {
                    return Err(SchemaError::new(format!(
                        "{context}: invalid default {d} for the field's type {}",
                        serde_json::to_string(ty).unwrap_or_default()
                    )));
                }
                Some(d.clone())
            }
        };
        Ok(Field {
            aliases: aliases(obj, &context)?,
            doc: obj.get("doc").and_then(Value::as_str).map(str::to_owned),
            name,
            schema,
            default,
            order,
            properties: properties(obj, &FIELD_RESERVED),
        })
    }

    fn parse_enum(
        &mut self,
        obj: &Map<String, Value>,
        namespace: Option<&str>,
        context: &str,
    ) -> Result<Schema, SchemaError> {
        let (index, name, aliases, doc) = self.define(obj, namespace, context)?;
        let full = name.full();
        let Some(Value::Array(raw)) = obj.get("symbols") else {
            return Err(SchemaError::new(format!("enum {full}: \"symbols\" is missing or not an array")));
        };
        let mut symbols: Vec<String> = Vec::with_capacity(raw.len());
        for s in raw {
            let Value::String(s) = s else {
                return Err(SchemaError::new(format!("enum {full}: symbol {s} is not a string")));
            };
            if !is_valid_name(s) {
                return Err(SchemaError::new(format!(
                    "enum {full}: invalid symbol \"{s}\" (must start with a letter or '_' and contain only \
                     letters, digits and '_')"
                )));
            }
            if symbols.contains(s) {
                return Err(SchemaError::new(format!("enum {full}: duplicate enum symbol: {s}")));
            }
            symbols.push(s.clone());
        }
        let default = match obj.get("default") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if symbols.contains(d) => Some(d.clone()),
            Some(d) => {
                return Err(SchemaError::new(format!(
                    "enum {full}: the enum default {d} is not in the enum symbol set {symbols:?}"
                )));
            }
        };
        let mut props = properties(obj, &SCHEMA_RESERVED);
        props.shift_remove("default");
        let named =
            NamedSchema { name, aliases, doc, properties: props, kind: NamedKind::Enum { symbols, default } };
        self.fill(index, named)
    }

    fn parse_fixed(
        &mut self,
        obj: &Map<String, Value>,
        namespace: Option<&str>,
        context: &str,
    ) -> Result<Schema, SchemaError> {
        let (index, name, aliases, doc) = self.define(obj, namespace, context)?;
        let size =
            obj.get("size").and_then(Value::as_u64).filter(|s| *s <= i32::MAX as u64).ok_or_else(|| {
                SchemaError::new(format!(
                    "fixed {name}: \"size\" is missing or not a non-negative 32-bit integer"
                ))
            })?;
        let named = NamedSchema {
            name,
            aliases,
            doc,
            properties: properties(obj, &SCHEMA_RESERVED),
            kind: NamedKind::Fixed { size: size as u32 },
        };
        self.fill(index, named)
    }

    fn fill(&mut self, index: usize, named: NamedSchema) -> Result<Schema, SchemaError> {
        match self.named.get_mut(index) {
            Some(slot) => {
                *slot = Some(named);
                Ok(Schema::bare(SchemaKind::Named(NamedRef(index))))
            }
            None => Err(SchemaError::new(format!("internal error: no slot for named type #{index}"))),
        }
    }

    fn parse_union(
        &mut self,
        raw: &[Value],
        namespace: Option<&str>,
        context: &str,
    ) -> Result<Schema, SchemaError> {
        let mut branches: Vec<Schema> = Vec::with_capacity(raw.len());
        let mut keys: Vec<String> = Vec::with_capacity(raw.len());
        for (i, b) in raw.iter().enumerate() {
            let branch = self.parse(b, namespace, &format!("{context}, union branch {i}"))?;
            let key = match &branch.kind {
                SchemaKind::Union(_) => {
                    return Err(SchemaError::new(format!(
                        "{context}: unions may not immediately contain unions"
                    )));
                }
                SchemaKind::Named(r) => self.full_name(*r),
                SchemaKind::Array(_) => "array".to_owned(),
                SchemaKind::Map(_) => "map".to_owned(),
                other => primitive_name(other).to_owned(),
            };
            if keys.contains(&key) {
                return Err(SchemaError::new(format!("{context}: duplicate in union: {key}")));
            }
            keys.push(key);
            branches.push(branch);
        }
        Ok(Schema::bare(SchemaKind::Union(branches)))
    }

    fn full_name(&self, r: NamedRef) -> String {
        self.full_names.get(r.0).cloned().unwrap_or_default()
    }

    /// Avro Java 1.12's `isValidDefault` (a union default may match any branch).
    fn is_valid_default(&self, schema: &Schema, value: &Value, depth: usize) -> bool {
        let steps = self.default_steps.get() + 1;
        self.default_steps.set(steps);
        if depth > MAX_DEFAULT_DEPTH || steps > MAX_DEFAULT_STEPS {
            return false;
        }
        match &schema.kind {
            SchemaKind::String | SchemaKind::Bytes => value.is_string(),
            SchemaKind::Int => value.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
            SchemaKind::Long => value.as_i64().is_some(),
            SchemaKind::Float | SchemaKind::Double => value.is_number(),
            SchemaKind::Boolean => value.is_boolean(),
            SchemaKind::Null => value.is_null(),
            SchemaKind::Array(items) => {
                value.as_array().is_some_and(|a| a.iter().all(|e| self.is_valid_default(items, e, depth + 1)))
            }
            SchemaKind::Map(values) => value
                .as_object()
                .is_some_and(|o| o.values().all(|e| self.is_valid_default(values, e, depth + 1))),
            SchemaKind::Union(branches) => {
                branches.iter().any(|b| self.is_valid_default(b, value, depth + 1))
            }
            SchemaKind::Named(r) => match self.named.get(r.0) {
                // A record still being parsed (recursive default): accept, as its fields are unknown.
                Some(None) => value.is_object(),
                Some(Some(named)) => match &named.kind {
                    NamedKind::Enum { .. } | NamedKind::Fixed { .. } => value.is_string(),
                    NamedKind::Record { fields } => {
                        let Some(obj) = value.as_object() else { return false };
                        fields.iter().all(|f| match obj.get(&f.name).or(f.default.as_ref()) {
                            Some(v) => self.is_valid_default(&f.schema, v, depth + 1),
                            None => false,
                        })
                    }
                },
                None => false,
            },
        }
    }
}

fn primitive_name(kind: &SchemaKind) -> &'static str {
    match kind {
        SchemaKind::Null => "null",
        SchemaKind::Boolean => "boolean",
        SchemaKind::Int => "int",
        SchemaKind::Long => "long",
        SchemaKind::Float => "float",
        SchemaKind::Double => "double",
        SchemaKind::Bytes => "bytes",
        SchemaKind::String => "string",
        SchemaKind::Array(_) => "array",
        SchemaKind::Map(_) => "map",
        SchemaKind::Union(_) => "union",
        SchemaKind::Named(_) => "named",
    }
}

/// Builds a name the way Avro Java's `Name(name, space)` does: a dotted name carries its own
/// namespace; an empty namespace is the null namespace.
fn make_name(raw: &str, namespace: Option<&str>, context: &str) -> Result<Name, SchemaError> {
    let (ns, simple) = match raw.rfind('.') {
        Some(dot) => (Some(&raw[..dot]), &raw[dot + 1..]),
        None => (namespace, raw),
    };
    if !is_valid_name(simple) {
        return Err(SchemaError::new(format!(
            "{context}: invalid name \"{raw}\" (each name must start with a letter or '_' and contain only \
             letters, digits and '_')"
        )));
    }
    let namespace = ns.filter(|n| !n.is_empty()).map(str::to_owned);
    Ok(Name { name: simple.to_owned(), namespace })
}

fn aliases(obj: &Map<String, Value>, context: &str) -> Result<Vec<String>, SchemaError> {
    match obj.get("aliases") {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(SchemaError::new(format!("{context}: alias {other} is not a string"))),
            })
            .collect(),
        Some(other) => {
            Err(SchemaError::new(format!("{context}: \"aliases\" must be an array, found {other}")))
        }
    }
}

fn properties(obj: &Map<String, Value>, reserved: &[&str]) -> Properties {
    obj.iter().filter(|(k, _)| !reserved.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether Java's `Double.parseDouble` accepts `s` (the forms that matter for Avro defaults).
fn parse_java_double(s: &str) -> bool {
    let t = s.trim();
    matches!(t, "NaN" | "Infinity" | "+Infinity" | "-Infinity")
        || (t.parse::<f64>().is_ok()
            && !t.to_ascii_lowercase().contains("inf")
            && !t.eq_ignore_ascii_case("nan"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match AvroSchema::parse(text) {
            Ok(_) => panic!("expected {text} to be rejected"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn primitives_parse_as_names_and_objects() {
        for p in PRIMITIVES {
            let s = AvroSchema::parse(&format!("\"{p}\"")).unwrap();
            assert_eq!(primitive_name(&s.root().kind), p);
            let s = AvroSchema::parse(&format!("{{\"type\":\"{p}\",\"connect.version\":1}}")).unwrap();
            assert_eq!(primitive_name(&s.root().kind), p);
            assert_eq!(s.root().properties.get("connect.version"), Some(&Value::from(1)));
        }
    }

    #[test]
    fn canonical_text_is_compact_and_keeps_key_order_and_properties() {
        let text = r#"{ "type": "record", "name": "R", "fields": [ {"name": "a", "type": {"type": "int", "connect.type": "int16"}} ],
                        "connect.name": "x.R" }"#;
        let s = AvroSchema::parse(text).unwrap();
        assert_eq!(
            s.canonical(),
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"int","connect.type":"int16"}}],"connect.name":"x.R"}"#
        );
        let again = AvroSchema::parse(s.canonical()).unwrap();
        assert_eq!(again.canonical(), s.canonical());
    }

    #[test]
    fn names_and_namespaces_resolve_like_avro_java() {
        let text = r#"{"type":"record","name":"Envelope","namespace":"srv.public.t","fields":[
            {"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"}]}],"default":null},
            {"name":"after","type":["null","Value"],"default":null},
            {"name":"again","type":["null","srv.public.t.Value"],"default":null},
            {"name":"src","type":{"type":"record","name":"Source","namespace":"io.debezium","fields":[
                {"name":"inner","type":{"type":"enum","name":"E","symbols":["A","B"]}}]}},
            {"name":"e","type":"io.debezium.E"},
            {"name":"dotted","type":{"type":"fixed","name":"a.b.F","size":4}},
            {"name":"f","type":"a.b.F"}
        ]}"#;
        let s = AvroSchema::parse(text).unwrap();
        let names: Vec<String> = s.named_types().map(|(_, n)| n.name.full()).collect();
        assert_eq!(
            names,
            ["srv.public.t.Envelope", "srv.public.t.Value", "io.debezium.Source", "io.debezium.E", "a.b.F"]
        );
        assert!(s.lookup("srv.public.t.Value").is_some());
        // An unqualified reference inside another namespace falls back to the null namespace only.
        assert!(
            err(r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"Nope"}]}"#)
                .contains("\"Nope\" is not a defined name")
        );
    }

    #[test]
    fn recursive_records_are_supported() {
        let text = r#"{"type":"record","name":"Node","fields":[
            {"name":"value","type":"long"},
            {"name":"next","type":["null","Node"],"default":null}]}"#;
        let s = AvroSchema::parse(text).unwrap();
        let (r, node) = s.named_types().next().unwrap();
        let NamedKind::Record { fields } = &node.kind else { panic!() };
        let SchemaKind::Union(b) = &fields[1].schema.kind else { panic!() };
        assert_eq!(b[1].kind, SchemaKind::Named(r));
    }

    #[test]
    fn aliases_are_resolved_against_the_namespace() {
        let s = AvroSchema::parse(
            r#"{"type":"record","name":"R","namespace":"n","aliases":["Old","other.Older"],"fields":[
            {"name":"a","type":"int","aliases":["b"]}]}"#,
        )
        .unwrap();
        let (_, r) = s.named_types().next().unwrap();
        assert_eq!(r.aliases, ["n.Old", "other.Older"]);
        let NamedKind::Record { fields } = &r.kind else { panic!() };
        assert_eq!(fields[0].aliases, ["b"]);
    }

    #[test]
    fn logical_types_and_connect_properties_are_kept() {
        let s = AvroSchema::parse(
            r#"{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}"#,
        )
        .unwrap();
        assert_eq!(s.root().logical_type(), Some("decimal"));
        assert_eq!(s.root().properties.len(), 6);
    }

    #[test]
    fn invalid_schemas_are_rejected_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("{", "not valid JSON"),
            ("42", "is not a schema"),
            (r#"{"name":"x"}"#, "no \"type\""),
            (r#""Unknown""#, "not a defined name"),
            (r#"{"type":"foo"}"#, "neither a primitive"),
            (r#"{"type":"record","fields":[]}"#, "has no \"name\""),
            (r#"{"type":"record","name":"R"}"#, "\"fields\" is missing"),
            (r#"{"type":"record","name":"1R","fields":[]}"#, "invalid name"),
            (r#"{"type":"record","name":"int","fields":[]}"#, "named after primitives"),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
                "duplicate field",
            ),
            (r#"{"type":"record","name":"R","fields":[{"name":"a-b","type":"int"}]}"#, "invalid name"),
            (r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#, "no \"type\""),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"up"}]}"#,
                "\"order\"",
            ),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]}"#,
                "redefine",
            ),
            (r#"{"type":"enum","name":"E","symbols":["A","A"]}"#, "duplicate enum symbol"),
            (r#"{"type":"enum","name":"E","symbols":["A","B-"]}"#, "invalid symbol"),
            (r#"{"type":"enum","name":"E","symbols":["A"],"default":"Z"}"#, "enum default"),
            (r#"{"type":"enum","name":"E"}"#, "\"symbols\""),
            (r#"{"type":"fixed","name":"F"}"#, "\"size\""),
            (r#"{"type":"fixed","name":"F","size":-1}"#, "\"size\""),
            (r#"{"type":"array"}"#, "no \"items\""),
            (r#"{"type":"map"}"#, "no \"values\""),
            (r#"["null",["int"]]"#, "unions may not immediately contain unions"),
            (r#"["int","int"]"#, "duplicate in union"),
            (r#"[{"type":"array","items":"int"},{"type":"array","items":"long"}]"#, "duplicate in union"),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","aliases":"b"}]}"#,
                "\"aliases\"",
            ),
        ];
        for (text, needle) in cases {
            let e = err(text);
            assert!(e.contains(needle), "{text}: {e:?} should mention {needle:?}");
        }
    }

    #[test]
    fn defaults_are_validated() {
        let field = |ty: &str, default: &str| {
            AvroSchema::parse(&format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{ty},"default":{default}}}]}}"#
            ))
        };
        assert!(field(r#""int""#, "1").is_ok());
        assert!(field(r#""int""#, "1.5").is_err());
        assert!(field(r#""int""#, "3000000000").is_err());
        assert!(field(r#""long""#, "3000000000").is_ok());
        assert!(field(r#""long""#, "18446744073709551615").is_err());
        assert!(field(r#""double""#, "1").is_ok());
        assert!(field(r#""double""#, r#""NaN""#).is_ok());
        assert!(field(r#""double""#, r#""abc""#).is_err());
        assert!(field(r#""string""#, "null").is_err());
        assert!(field(r#"["null","string"]"#, "null").is_ok());
        // Debezium writes [T, "null"] with a non-null default; any branch may match (Avro 1.12).
        assert!(field(r#"["string","null"]"#, r#""false""#).is_ok());
        assert!(field(r#"["null","string"]"#, r#""x""#).is_ok());
        assert!(field(r#"["null","string"]"#, "1").is_err());
        assert!(field(r#"{"type":"array","items":"int"}"#, "[1,2]").is_ok());
        assert!(field(r#"{"type":"array","items":"int"}"#, r#"["a"]"#).is_err());
        assert!(field(r#"{"type":"map","values":"int"}"#, r#"{"a":1}"#).is_ok());
        assert!(field(r#"{"type":"enum","name":"E","symbols":["A"]}"#, r#""A""#).is_ok());
        assert!(
            field(r#"{"type":"record","name":"S","fields":[{"name":"x","type":"int"}]}"#, r#"{"x":1}"#)
                .is_ok()
        );
        assert!(field(r#"{"type":"record","name":"S","fields":[{"name":"x","type":"int"}]}"#, "{}").is_err());
        assert!(
            field(r#"{"type":"record","name":"S","fields":[{"name":"x","type":"int","default":3}]}"#, "{}")
                .is_ok()
        );
        assert!(field(r#""boolean""#, "true").is_ok());
        assert!(field(r#""null""#, "null").is_ok());
        assert!(field(r#""bytes""#, r#""\u00ff""#).is_ok());
    }

    #[test]
    fn self_referencing_defaults_terminate() {
        let r = AvroSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"R","default":{}}]}"#,
        );
        // Accepted or rejected, but it must not recurse forever.
        let _ = r;
    }

    #[test]
    fn exponential_default_validation_is_bounded() {
        // Each level is a union of two records whose field holds the next level; a default that
        // fails only at the bottom would take 2^depth steps to reject without a budget.
        fn level(d: usize) -> String {
            if d == 0 {
                return r#""int""#.to_owned();
            }
            format!(
                r#"[{{"type":"record","name":"A{d}","fields":[{{"name":"x","type":{}}}]}},{{"type":"record","name":"B{d}","fields":[{{"name":"x","type":{}}}]}}]"#,
                level(d - 1),
                if d == 1 { r#""int""#.to_owned() } else { format!(r#"["A{0}","B{0}"]"#, d - 1) }
            )
        }
        let depth = 28;
        let mut default = r#""not an int""#.to_owned();
        for _ in 0..depth {
            default = format!(r#"{{"x":{default}}}"#);
        }
        let text = format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{},"default":{default}}}]}}"#,
            level(depth)
        );
        let started = std::time::Instant::now();
        assert!(err(&text).contains("invalid default"));
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let deep = format!("{}\"int\"{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(AvroSchema::parse(&deep).is_err());
    }
}
