//! Connect schema → Avro schema, as Confluent's `AvroData.fromConnectSchema` builds it and Avro's
//! `Schema.toString()` prints it.
//!
//! Building follows the converter step by step, because every step shows in the registered text:
//!
//! * base type: `int8`/`int16` → `int` (plus `connect.type`), `int32` → `int`, `int64` → `long`,
//!   `float32` → `float`, `float64` → `double`, `boolean`, `string`, `bytes` (a `Decimal` first gets
//!   `scale` and `precision` props, precision from `connect.decimal.precision` or 64), `array`,
//!   `map` for non-optional string keys and otherwise an array of `MapEntry` records
//!   (`io.confluent.connect.avro.MapEntry`, or the map's own name with
//!   `connect.internal.type: MapEntry`), `record` for structs (name = last dot segment of the Connect
//!   name, namespace = the rest; unnamed structs become `io.confluent.connect.avro.ConnectDefault`,
//!   `ConnectDefault2`, … in visiting order); an optional struct is `["null", record]`;
//! * props, in this order: `connect.doc`, `connect.version`, `connect.parameters`,
//!   `connect.default`, `connect.name`, `connect.type`, then `logicalType` (`decimal`, `date`,
//!   `time-millis`, `timestamp-millis`), then any parameter whose key starts with `avro`;
//! * optional non-structs become `["null", T]`, or `[T, "null"]` when they have a default;
//! * record fields: `name`, `type`, `doc` (from the struct's
//!   `io.confluent.connect.avro.field.doc.<field>` parameter), `default` (the Connect default,
//!   `null` for optional fields without one; dropped when Avro would reject it, e.g. a struct default
//!   under `["null", record]`). Float32 field defaults print as the widened double, as the converter's
//!   round trip through `JacksonUtils` does.
//!
//! Printing follows Avro: a named record is written in full once and referenced by name after
//! that, by its short name inside its own namespace and by full name elsewhere; `namespace` is
//! written only where it differs from the enclosing one.

use std::rc::Rc;

use serde_json::Value;

use super::{
    CONFLUENT_NAMESPACE, DATE, DECIMAL, Optionality, TIME, TIMESTAMP, default_of, map_as_entries, optionality,
};
use crate::connect::{ConnectValue, Schema, SchemaType};
use crate::error::DebeziumError;
use crate::json::Node;

const CONNECT_DEFAULT_NAME: &str = "ConnectDefault";
const MAP_ENTRY_NAME: &str = "MapEntry";
const UNION_NAME: &str = "io.confluent.connect.avro.Union";
const RECORD_DOC_PARAM: &str = "io.confluent.connect.avro.record.doc";
const FIELD_DOC_PARAM_PREFIX: &str = "io.confluent.connect.avro.field.doc.";
const FIELD_DEFAULT_FLAG_PARAM: &str = "io.confluent.connect.avro.field.default";
const DECIMAL_PRECISION_PARAM: &str = "connect.decimal.precision";
const DECIMAL_PRECISION_DEFAULT: i32 = 64;

/// The Avro schema `AvroConverter` registers for `schema`, as JSON (key order preserved).
pub fn avro_schema(schema: &Schema) -> Result<Value, DebeziumError> {
    Ok(avro_schema_node(schema)?.to_value())
}

fn avro_schema_node(schema: &Schema) -> Result<Node, DebeziumError> {
    let mut ctx = Ctx::default();
    let avro = from_connect(schema, &mut ctx)?;
    let mut names = Vec::new();
    write(&avro, &mut names, None)
}

/// The exact text of Avro's `Schema.toString()` for [`avro_schema`] — the `schema` string the
/// converter POSTs to the registry.
pub fn avro_schema_string(schema: &Schema) -> Result<String, DebeziumError> {
    let mut out = Vec::with_capacity(1024);
    avro_schema_node(schema)?.write_text(&mut out);
    String::from_utf8(out).map_err(|_| DebeziumError::SchemaMismatch("Avro schema text is not UTF-8".into()))
}

type Props = Vec<(String, Node)>;

/// An Avro schema under construction.
#[derive(Debug, Clone, PartialEq)]
enum Avro {
    Primitive(&'static str, Props),
    Array(Box<Avro>, Props),
    Map(Box<Avro>, Props),
    Union(Vec<Avro>),
    Record(Rc<Record>),
}

#[derive(Debug, PartialEq)]
struct Record {
    name: String,
    namespace: Option<String>,
    doc: Option<String>,
    fields: Vec<AvroField>,
    props: Props,
}

impl Record {
    fn full_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, PartialEq)]
struct AvroField {
    name: String,
    schema: Avro,
    doc: Option<String>,
    default: Option<Node>,
}

/// `FromConnectContext`: records already built, by Connect schema and by name, and the counter
/// behind `ConnectDefault` names.
#[derive(Default)]
struct Ctx {
    by_schema: Vec<(Schema, Avro)>,
    by_name: Vec<(String, Schema, Rc<Record>)>,
    default_names: u32,
}

fn err(message: impl Into<String>) -> DebeziumError {
    DebeziumError::SchemaMismatch(format!("Avro schema: {}", message.into()))
}

fn add_prop(props: &mut Props, key: &str, value: Node) -> Result<(), DebeziumError> {
    match props.iter().find(|(k, _)| k == key) {
        Some((_, old)) if *old != value => Err(err(format!("can't overwrite property {key}"))),
        Some(_) => Ok(()),
        None => {
            props.push((key.to_owned(), value));
            Ok(())
        }
    }
}

fn non_optional(schema: &Schema) -> Schema {
    Schema { optional: false, ..schema.clone() }
}

fn from_connect(schema: &Schema, ctx: &mut Ctx) -> Result<Avro, DebeziumError> {
    if schema.name.as_deref() == Some(UNION_NAME) {
        return Err(err(format!("{UNION_NAME} structs are not supported")));
    }
    // Only structs are worth caching: equal schemas give equal Avro anyway, except that a
    // repeated unnamed struct must reuse its `ConnectDefault` name.
    let cacheable = !schema.optional && schema.schema_type == SchemaType::Struct;
    if cacheable && let Some((_, avro)) = ctx.by_schema.iter().find(|(s, _)| s == schema) {
        return Ok(avro.clone());
    }
    let mut props = Props::new();
    let mut connect_type = None;
    let mut record = None;
    let mut base = match schema.schema_type {
        SchemaType::Int8 => {
            connect_type = Some("int8");
            Avro::Primitive("int", Props::new())
        }
        SchemaType::Int16 => {
            connect_type = Some("int16");
            Avro::Primitive("int", Props::new())
        }
        SchemaType::Int32 => Avro::Primitive("int", Props::new()),
        SchemaType::Int64 => Avro::Primitive("long", Props::new()),
        SchemaType::Float32 => Avro::Primitive("float", Props::new()),
        SchemaType::Float64 => Avro::Primitive("double", Props::new()),
        SchemaType::Boolean => Avro::Primitive("boolean", Props::new()),
        SchemaType::String => Avro::Primitive("string", Props::new()),
        SchemaType::Bytes => {
            if is_named(schema, DECIMAL) {
                let scale = int_param(schema, "scale")?
                    .ok_or_else(|| err("a Decimal schema needs a 'scale' parameter"))?;
                add_prop(&mut props, "scale", Node::Int(i64::from(scale)))?;
                let precision =
                    int_param(schema, DECIMAL_PRECISION_PARAM)?.unwrap_or(DECIMAL_PRECISION_DEFAULT);
                add_prop(&mut props, "precision", Node::Int(i64::from(precision)))?;
            }
            Avro::Primitive("bytes", Props::new())
        }
        SchemaType::Array => {
            let items = schema.items.as_deref().ok_or_else(|| err("array schema without items"))?;
            Avro::Array(Box::new(from_connect_with_cycle(items, ctx)?), Props::new())
        }
        SchemaType::Map => {
            let (Some(key), Some(value)) = (schema.map_key.as_deref(), schema.map_value.as_deref()) else {
                return Err(err("map schema without key or value schema"));
            };
            if map_as_entries(key) {
                let (name, namespace, entry_props) = match &schema.name {
                    None => (MAP_ENTRY_NAME.to_owned(), Some(CONFLUENT_NAMESPACE.to_owned()), Props::new()),
                    Some(full) => {
                        let (namespace, name) = split_name(full);
                        let props = vec![("connect.internal.type".to_owned(), text(MAP_ENTRY_NAME))];
                        (name.to_owned(), namespace.map(str::to_owned), props)
                    }
                };
                validate_name(&name)?;
                let fields =
                    vec![record_field("key", key, None, ctx)?, record_field("value", value, None, ctx)?];
                let entry = Record { name, namespace, doc: None, fields, props: entry_props };
                Avro::Array(Box::new(Avro::Record(Rc::new(entry))), Props::new())
            } else {
                Avro::Map(Box::new(from_connect_with_cycle(value, ctx)?), Props::new())
            }
        }
        SchemaType::Struct => {
            if schema.optional {
                let inner = from_connect_with_cycle(&non_optional(schema), ctx)?;
                return Ok(Avro::Union(vec![Avro::Primitive("null", Props::new()), inner]));
            }
            let (namespace, name) = match &schema.name {
                Some(full) => {
                    let (namespace, name) = split_name(full);
                    (namespace.map(str::to_owned), name.to_owned())
                }
                None => {
                    ctx.default_names += 1;
                    let name = match ctx.default_names {
                        1 => CONNECT_DEFAULT_NAME.to_owned(),
                        n => format!("{CONNECT_DEFAULT_NAME}{n}"),
                    };
                    (Some(CONFLUENT_NAMESPACE.to_owned()), name)
                }
            };
            validate_name(&name)?;
            let mut fields: Vec<AvroField> = Vec::with_capacity(schema.fields.len());
            for field in &schema.fields {
                if fields.iter().any(|f| f.name == field.name) {
                    return Err(err(format!("duplicate field {}", field.name)));
                }
                let doc =
                    schema.parameter(&format!("{FIELD_DOC_PARAM_PREFIX}{}", field.name)).map(str::to_owned);
                fields.push(record_field(&field.name, &field.schema, doc, ctx)?);
            }
            let doc = schema.parameter(RECORD_DOC_PARAM).map(str::to_owned);
            record = Some(Record { name, namespace, doc, fields, props: Props::new() });
            Avro::Primitive("null", Props::new()) // replaced below
        }
    };

    // Connect metadata.
    if let Some(doc) = &schema.doc {
        add_prop(&mut props, "connect.doc", text(doc))?;
    }
    if let Some(version) = schema.version {
        add_prop(&mut props, "connect.version", Node::Int(i64::from(version)))?;
    }
    let mut params = Vec::new();
    for (k, v) in schema.parameters.iter().filter(|(k, _)| k != FIELD_DEFAULT_FLAG_PARAM) {
        Node::set(&mut params, k.clone(), text(v));
    }
    if !params.is_empty() {
        add_prop(&mut props, "connect.parameters", Node::Object(params))?;
    }
    if let Some(default) = default_of(schema)
        && schema.parameter(FIELD_DEFAULT_FLAG_PARAM).is_none()
    {
        add_prop(&mut props, "connect.default", default_json(schema, default, false)?)?;
    }
    if let Some(name) = &schema.name {
        add_prop(&mut props, "connect.name", text(name))?;
    }
    if let Some(connect_type) = connect_type {
        add_prop(&mut props, "connect.type", text(connect_type))?;
    }

    // Logical types.
    let base_type = match &base {
        Avro::Primitive(t, _) if record.is_none() => Some(*t),
        _ => None,
    };
    if is_named(schema, DECIMAL) {
        let precision = int_param(schema, DECIMAL_PRECISION_PARAM)?.unwrap_or(DECIMAL_PRECISION_DEFAULT);
        let scale = int_param(schema, "scale")?.unwrap_or(0);
        let legacy = scale < 0 || scale > precision;
        if !legacy {
            if base_type != Some("bytes") {
                return Err(err("logical type decimal must be backed by bytes"));
            }
            if precision <= 0 {
                return Err(err(format!("invalid decimal precision {precision} (must be positive)")));
            }
        }
        add_prop(&mut props, "logicalType", text("decimal"))?;
        if !legacy {
            add_prop(&mut props, "precision", Node::Int(i64::from(precision)))?;
            add_prop(&mut props, "scale", Node::Int(i64::from(scale)))?;
        }
    } else {
        for (name, logical, backing) in
            [(TIME, "time-millis", "int"), (TIMESTAMP, "timestamp-millis", "long"), (DATE, "date", "int")]
        {
            if is_named(schema, name) {
                if base_type != Some(backing) {
                    return Err(err(format!("logical type {logical} must be backed by {backing}")));
                }
                add_prop(&mut props, "logicalType", text(logical))?;
                break;
            }
        }
    }
    for (key, value) in &schema.parameters {
        if key.starts_with("avro") {
            add_prop(&mut props, key, text(value))?;
        }
    }

    if let Some(mut record) = record {
        record.props = props;
        let record = Rc::new(record);
        if let Some(name) = &schema.name {
            ctx.by_name.push((name.clone(), schema.clone(), Rc::clone(&record)));
        }
        base = Avro::Record(record);
    } else {
        match &mut base {
            Avro::Primitive(_, p) | Avro::Array(_, p) | Avro::Map(_, p) => *p = props,
            Avro::Union(_) | Avro::Record(_) => {}
        }
    }
    let avro = make_optional(schema, base);
    if cacheable {
        ctx.by_schema.push((schema.clone(), avro.clone()));
    }
    Ok(avro)
}

/// `fromConnectSchemaWithCycle`: a struct name seen before resolves to the record built for it.
fn from_connect_with_cycle(schema: &Schema, ctx: &mut Ctx) -> Result<Avro, DebeziumError> {
    if let Some(name) = &schema.name
        && let Some((_, seen, record)) = ctx.by_name.iter().find(|(n, _, _)| n == name)
    {
        if *seen != non_optional(schema) {
            return Err(err(format!("two different schemas are both named {name}")));
        }
        if optionality(schema) == Optionality::NullFirst && default_of(schema).is_some() {
            // The converter would give this repeated optional struct `[record, "null"]`, unlike
            // its first occurrence; Debezium never produces struct defaults.
            return Err(err(format!("optional struct {name} with a default is not supported")));
        }
        return Ok(make_optional(schema, Avro::Record(Rc::clone(record))));
    }
    from_connect(schema, ctx)
}

fn make_optional(schema: &Schema, base: Avro) -> Avro {
    let null = || Avro::Primitive("null", Props::new());
    if !schema.optional {
        base
    } else if default_of(schema).is_some() {
        Avro::Union(vec![base, null()])
    } else {
        Avro::Union(vec![null(), base])
    }
}

fn record_field(
    name: &str,
    schema: &Schema,
    doc: Option<String>,
    ctx: &mut Ctx,
) -> Result<AvroField, DebeziumError> {
    validate_name(name)?;
    let default = match default_of(schema) {
        Some(default) => Some(default_json(schema, default, true)?),
        None if schema.optional => Some(Node::Null),
        None => None,
    };
    let avro = from_connect(schema, ctx)?;
    // Avro rejects a default that does not fit the field's schema; the converter then drops it.
    let default = default.filter(|d| valid_default(&avro, d));
    Ok(AvroField { name: name.to_owned(), schema: avro, doc, default })
}

fn is_named(schema: &Schema, name: &str) -> bool {
    schema.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name))
}

fn int_param(schema: &Schema, key: &str) -> Result<Option<i32>, DebeziumError> {
    schema
        .parameter(key)
        .map(|v| v.parse::<i32>().map_err(|_| err(format!("parameter {key}={v:?} is not an integer"))))
        .transpose()
}

/// `splitName`: namespace (none when empty) and the last dot segment.
fn split_name(full: &str) -> (Option<&str>, &str) {
    match full.rsplit_once('.') {
        Some((ns, name)) => ((!ns.is_empty()).then_some(ns), name),
        None => (None, full),
    }
}

/// Avro's name rule: a letter or `_`, then letters, digits or `_`.
fn validate_name(name: &str) -> Result<(), DebeziumError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(err(format!("illegal Avro name {name:?}"))) }
}

/// `defaultValueFromConnect`; `widen_f32` reproduces the float → double widening a field default
/// goes through.
fn default_json(schema: &Schema, value: &ConnectValue, widen_f32: bool) -> Result<Node, DebeziumError> {
    let mismatch =
        || err(format!("a {} default cannot be a {}", schema.schema_type.json_name(), value.kind()));
    Ok(match (schema.schema_type, value) {
        (_, ConnectValue::Null) => Node::Null,
        (SchemaType::Int8, ConnectValue::Int8(v)) => Node::Int(i64::from(*v)),
        (SchemaType::Int16, ConnectValue::Int16(v)) => Node::Int(i64::from(*v)),
        (SchemaType::Int32, ConnectValue::Int32(v)) => Node::Int(i64::from(*v)),
        (SchemaType::Int64, ConnectValue::Int64(v)) => Node::Int(*v),
        (SchemaType::Float32, ConnectValue::Float32(v)) => {
            if widen_f32 {
                Node::Double(f64::from(*v))
            } else {
                Node::Float(*v)
            }
        }
        (SchemaType::Float64, ConnectValue::Float64(v)) => Node::Double(*v),
        (SchemaType::Boolean, ConnectValue::Boolean(v)) => Node::Bool(*v),
        (SchemaType::String, ConnectValue::String(v)) => text(v),
        // Bytes as ISO-8859-1 text: one char per byte.
        (SchemaType::Bytes, ConnectValue::Bytes(v)) => {
            let v = if super::is_decimal(schema) { super::minimal_decimal(v) } else { v };
            Node::Text(v.iter().map(|&b| char::from(b)).collect())
        }
        (SchemaType::Array, ConnectValue::Array(items)) => {
            let item_schema = schema.items.as_deref().ok_or_else(mismatch)?;
            Node::Array(
                items
                    .iter()
                    .map(|item| default_json(item_schema, item, widen_f32))
                    .collect::<Result<_, _>>()?,
            )
        }
        (SchemaType::Map, ConnectValue::Map(entries)) => {
            let (Some(key_schema), Some(value_schema)) =
                (schema.map_key.as_deref(), schema.map_value.as_deref())
            else {
                return Err(mismatch());
            };
            if map_as_entries(key_schema) {
                let mut list = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    list.push(Node::Array(vec![
                        default_json(key_schema, k, widen_f32)?,
                        default_json(value_schema, v, widen_f32)?,
                    ]));
                }
                Node::Array(list)
            } else {
                let mut obj = Vec::new();
                for (k, v) in entries {
                    let ConnectValue::String(k) = k else { return Err(mismatch()) };
                    Node::set(&mut obj, k.clone(), default_json(value_schema, v, widen_f32)?);
                }
                Node::Object(obj)
            }
        }
        (SchemaType::Struct, ConnectValue::Struct(values)) => {
            if values.len() != schema.fields.len() {
                return Err(mismatch());
            }
            let mut obj = Vec::new();
            for (field, v) in schema.fields.iter().zip(values) {
                let v = if v.is_null() { default_of(&field.schema).unwrap_or(v) } else { v };
                Node::set(&mut obj, field.name.clone(), default_json(&field.schema, v, widen_f32)?);
            }
            Node::Object(obj)
        }
        _ => return Err(mismatch()),
    })
}

/// Avro's `isValidDefault`.
fn valid_default(schema: &Avro, value: &Node) -> bool {
    let number = matches!(value, Node::Int(_) | Node::Float(_) | Node::Double(_));
    match (schema, value) {
        (Avro::Primitive("string" | "bytes", _), Node::Text(_)) => true,
        (Avro::Primitive("int" | "long" | "float" | "double", _), _) => number,
        (Avro::Primitive("boolean", _), Node::Bool(_)) => true,
        (Avro::Primitive("null", _), Node::Null) => true,
        (Avro::Array(items, _), Node::Array(values)) => values.iter().all(|v| valid_default(items, v)),
        (Avro::Map(values_schema, _), Node::Object(entries)) => {
            entries.iter().all(|(_, v)| valid_default(values_schema, v))
        }
        (Avro::Union(branches), _) => branches.first().is_some_and(|b| valid_default(b, value)),
        (Avro::Record(record), Node::Object(entries)) => record.fields.iter().all(|f| {
            match entries.iter().find(|(k, _)| *k == f.name).map(|(_, v)| v).or(f.default.as_ref()) {
                Some(v) => valid_default(&f.schema, v),
                None => false,
            }
        }),
        _ => false,
    }
}

fn text(s: &str) -> Node {
    Node::Text(s.to_owned())
}

/// Avro's primitive type names: a record with one of these names is always written in full.
fn is_type_name(name: &str) -> bool {
    matches!(
        name,
        "record"
            | "enum"
            | "array"
            | "map"
            | "union"
            | "fixed"
            | "string"
            | "bytes"
            | "int"
            | "long"
            | "float"
            | "double"
            | "boolean"
            | "null"
    )
}

/// `Schema.toJson`, with `names` the records written so far and `space` the enclosing namespace.
fn write(
    avro: &Avro,
    names: &mut Vec<(String, Rc<Record>)>,
    space: Option<&str>,
) -> Result<Node, DebeziumError> {
    fn with_props(mut obj: Vec<(String, Node)>, props: &Props) -> Node {
        for (k, v) in props {
            if !obj.iter().any(|(key, _)| key == k) {
                obj.push((k.clone(), v.clone()));
            }
        }
        Node::Object(obj)
    }
    Ok(match avro {
        Avro::Primitive(t, props) if props.is_empty() => text(t),
        Avro::Primitive(t, props) => with_props(vec![("type".into(), text(t))], props),
        Avro::Array(items, props) => with_props(
            vec![("type".into(), text("array")), ("items".into(), write(items, names, space)?)],
            props,
        ),
        Avro::Map(values, props) => with_props(
            vec![("type".into(), text("map")), ("values".into(), write(values, names, space)?)],
            props,
        ),
        Avro::Union(branches) => {
            Node::Array(branches.iter().map(|b| write(b, names, space)).collect::<Result<_, _>>()?)
        }
        Avro::Record(record) => {
            let full = record.full_name();
            if let Some((_, seen)) = names.iter().find(|(n, _)| *n == full) {
                if **seen != **record {
                    return Err(err(format!("can't redefine {full}")));
                }
                let short =
                    record.namespace.as_deref() == space && space.is_some() && !is_type_name(&record.name);
                return Ok(Node::Text(if short { record.name.clone() } else { full }));
            }
            names.push((full, Rc::clone(record)));
            let mut obj = Vec::new();
            obj.push(("type".into(), text("record")));
            obj.push(("name".into(), text(&record.name)));
            match (&record.namespace, space) {
                (Some(ns), _) if Some(ns.as_str()) != space => {
                    obj.push(("namespace".into(), text(ns)));
                }
                (None, Some(_)) => {
                    obj.push(("namespace".into(), text("")));
                }
                _ => {}
            }
            if let Some(doc) = &record.doc {
                obj.push(("doc".into(), text(doc)));
            }
            let inner_space = record.namespace.as_deref();
            let mut fields = Vec::with_capacity(record.fields.len());
            for field in &record.fields {
                let mut f = Vec::new();
                f.push(("name".into(), text(&field.name)));
                f.push(("type".into(), write(&field.schema, names, inner_space)?));
                if let Some(doc) = &field.doc {
                    f.push(("doc".into(), text(doc)));
                }
                if let Some(default) = &field.default {
                    f.push(("default".into(), default.clone()));
                }
                fields.push(Node::Object(f));
            }
            obj.push(("fields".into(), Node::Array(fields)));
            with_props(obj, &record.props)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;

    use serde_json::ser::Formatter;

    use super::*;
    use crate::avro::fixture;
    use crate::connect::Field;

    /// Python's `json.dumps` layout, to compare with the reference text as printed.
    struct PythonSeparators;

    impl Formatter for PythonSeparators {
        fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            w.write_all(b": ")
        }
    }

    fn python_text(json: &Value) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonSeparators);
        serde::Serialize::serialize(json, &mut ser).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn field(name: &str, schema: Schema) -> Field {
        Field { name: name.to_owned(), schema: Arc::new(schema) }
    }

    fn text(schema: &Schema) -> String {
        avro_schema_string(schema).unwrap()
    }

    #[test]
    fn envelope_schema_matches_the_registered_one() {
        let json = avro_schema(&fixture::envelope_schema()).unwrap();
        assert_eq!(python_text(&json), fixture::ORACLE_ENVELOPE_AVSC);
        let oracle: Value = serde_json::from_str(fixture::ORACLE_ENVELOPE_AVSC).unwrap();
        assert_eq!(text(&fixture::envelope_schema()), serde_json::to_string(&oracle).unwrap());
    }

    #[test]
    fn key_schema_matches_the_registered_one_byte_for_byte() {
        assert_eq!(text(&fixture::key_schema()), fixture::ORACLE_KEY_AVSC);
    }

    #[test]
    fn primitives_and_props() {
        let i16_schema = Schema::primitive(SchemaType::Int16);
        assert_eq!(text(&i16_schema), r#"{"type":"int","connect.type":"int16"}"#);
        assert_eq!(text(&Schema::primitive(SchemaType::Int64)), r#""long""#);
        assert_eq!(text(&Schema::primitive(SchemaType::Float32).optional()), r#"["null","float"]"#);
        let c_int4 = Schema::primitive(SchemaType::Int32).with_default(ConnectValue::Int32(7));
        let st = Schema::structure("a.T", vec![field("c_int4", c_int4)]);
        assert_eq!(
            text(&st),
            r#"{"type":"record","name":"T","namespace":"a","fields":[{"name":"c_int4","type":{"type":"int","connect.default":7},"default":7}],"connect.name":"a.T"}"#
        );
        let json =
            Schema::primitive(SchemaType::String).named("io.debezium.data.Json").versioned(1).optional();
        assert_eq!(
            text(&json),
            r#"["null",{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}]"#
        );
        let doc = Schema::primitive(SchemaType::Int8).with_doc("tiny").with_parameter("avro.x", "y");
        assert_eq!(
            text(&doc),
            r#"{"type":"int","connect.doc":"tiny","connect.parameters":{"avro.x":"y"},"connect.type":"int8","avro.x":"y"}"#
        );
    }

    #[test]
    fn logical_types() {
        let decimal = Schema::primitive(SchemaType::Bytes)
            .named("org.apache.kafka.connect.data.Decimal")
            .versioned(1)
            .with_parameter("scale", "3")
            .with_parameter("connect.decimal.precision", "10");
        assert_eq!(
            text(&decimal),
            r#"{"type":"bytes","scale":3,"precision":10,"connect.version":1,"connect.parameters":{"scale":"3","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}"#
        );
        let money = Schema::primitive(SchemaType::Bytes)
            .named("org.apache.kafka.connect.data.Decimal")
            .versioned(1)
            .with_parameter("scale", "2")
            .optional();
        assert_eq!(
            text(&money),
            r#"["null",{"type":"bytes","scale":2,"precision":64,"connect.version":1,"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}]"#
        );
        let negative = Schema::primitive(SchemaType::Bytes)
            .named("org.apache.kafka.connect.data.Decimal")
            .with_parameter("scale", "-2");
        assert_eq!(
            text(&negative),
            r#"{"type":"bytes","scale":-2,"precision":64,"connect.parameters":{"scale":"-2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}"#
        );
        let no_scale = Schema::primitive(SchemaType::Bytes).named("org.apache.kafka.connect.data.Decimal");
        assert!(avro_schema(&no_scale).is_err());
        let date =
            Schema::primitive(SchemaType::Int32).named("org.apache.kafka.connect.data.Date").versioned(1);
        assert_eq!(
            text(&date),
            r#"{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}"#
        );
        let ts = Schema::primitive(SchemaType::Int64)
            .named("org.apache.kafka.connect.data.Timestamp")
            .versioned(1);
        assert!(text(&ts).ends_with(r#""logicalType":"timestamp-millis"}"#));
        let time =
            Schema::primitive(SchemaType::Int32).named("org.apache.kafka.connect.data.Time").versioned(1);
        assert!(text(&time).ends_with(r#""logicalType":"time-millis"}"#));
        let bad = Schema::primitive(SchemaType::Int64).named("org.apache.kafka.connect.data.Date");
        assert!(avro_schema(&bad).is_err());
    }

    #[test]
    fn maps_and_unnamed_structs() {
        let hstore = Schema::map(
            Schema::primitive(SchemaType::String),
            Schema::primitive(SchemaType::String).optional(),
        );
        assert_eq!(text(&hstore), r#"{"type":"map","values":["null","string"]}"#);
        let sparse = Schema::structure(
            "io.debezium.data.SparseDoubleVector",
            vec![
                field("dimensions", Schema::primitive(SchemaType::Int16)),
                field(
                    "vector",
                    Schema::map(Schema::primitive(SchemaType::Int16), Schema::primitive(SchemaType::Float64)),
                ),
            ],
        )
        .versioned(1);
        assert_eq!(
            text(&sparse),
            r#"{"type":"record","name":"SparseDoubleVector","namespace":"io.debezium.data","fields":[{"name":"dimensions","type":{"type":"int","connect.type":"int16"}},{"name":"vector","type":{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":{"type":"int","connect.type":"int16"}},{"name":"value","type":"double"}]}}}],"connect.version":1,"connect.name":"io.debezium.data.SparseDoubleVector"}"#
        );
        // Unnamed structs: ConnectDefault, then ConnectDefault2; a repeat reuses its name.
        let inner = Schema {
            name: None,
            ..Schema::structure("x", vec![field("a", Schema::primitive(SchemaType::Int32))])
        };
        let other = Schema {
            name: None,
            ..Schema::structure("x", vec![field("b", Schema::primitive(SchemaType::Int32))])
        };
        let outer = Schema {
            name: None,
            ..Schema::structure(
                "x",
                vec![field("p", inner.clone()), field("q", other), field("r", inner.optional())],
            )
        };
        assert_eq!(
            text(&outer),
            r#"{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[{"name":"p","type":{"type":"record","name":"ConnectDefault2","fields":[{"name":"a","type":"int"}]}},{"name":"q","type":{"type":"record","name":"ConnectDefault3","fields":[{"name":"b","type":"int"}]}},{"name":"r","type":["null","ConnectDefault2"],"default":null}]}"#
        );
        // A record outside the enclosing namespace is referenced by full name; a record without
        // namespace inside one gets "namespace":"".
        let bare = Schema::structure("Bare", vec![]);
        let holder = Schema::structure(
            "n.Holder",
            vec![field("x", bare.clone()), field("y", bare), field("z", fixture::source_schema().optional())],
        );
        let out = text(&holder);
        assert!(out.starts_with(r#"{"type":"record","name":"Holder","namespace":"n","fields":[{"name":"x","type":{"type":"record","name":"Bare","namespace":"","fields":[],"connect.name":"Bare"}},{"name":"y","type":"Bare"}"#), "{out}");
        // Two different schemas under one name cannot be registered.
        let clash = Schema::structure(
            "n.Clash",
            vec![
                field("a", Schema::structure("n.X", vec![])),
                field("b", Schema::structure("n.X", vec![field("f", Schema::primitive(SchemaType::Int32))])),
            ],
        );
        assert!(avro_schema(&clash).is_err());
        assert!(avro_schema(&Schema::structure("n.bad-name", vec![])).is_err());
        assert!(
            avro_schema(&Schema::structure(
                "n.T",
                vec![field("bad-field", Schema::primitive(SchemaType::Int32))]
            ))
            .is_err()
        );
    }

    #[test]
    fn defaults() {
        let f = Schema::primitive(SchemaType::Float32).with_default(ConnectValue::Float32(0.1));
        let st = Schema::structure("T", vec![field("f", f)]);
        assert_eq!(
            text(&st),
            r#"{"type":"record","name":"T","fields":[{"name":"f","type":{"type":"float","connect.default":0.1},"default":0.10000000149011612}],"connect.name":"T"}"#
        );
        let b = Schema::primitive(SchemaType::Bytes)
            .optional()
            .with_default(ConnectValue::Bytes(vec![0x41, 0xe9, 0x01]));
        let st = Schema::structure("T", vec![field("b", b)]);
        assert_eq!(
            text(&st),
            "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"b\",\"type\":[{\"type\":\"bytes\",\"connect.default\":\"A\u{e9}\\u0001\"},\"null\"],\"default\":\"A\u{e9}\\u0001\"}],\"connect.name\":\"T\"}"
        );
        // A struct default cannot sit under ["null", record]: Avro drops the field default.
        let inner = Schema::structure("I", vec![field("a", Schema::primitive(SchemaType::Int32))])
            .optional()
            .with_default(ConnectValue::Struct(vec![ConnectValue::Int32(1)]));
        let st = Schema::structure("T", vec![field("i", inner)]);
        assert_eq!(
            text(&st),
            r#"{"type":"record","name":"T","fields":[{"name":"i","type":["null",{"type":"record","name":"I","fields":[{"name":"a","type":"int"}],"connect.default":{"a":1},"connect.name":"I"}]}],"connect.name":"T"}"#
        );
        let wrong = Schema::primitive(SchemaType::Int32).with_default(ConnectValue::String("x".into()));
        assert!(avro_schema(&Schema::structure("T", vec![field("w", wrong)])).is_err());
    }
}
