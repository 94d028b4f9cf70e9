//! Avro schema compatibility: the Avro specification's schema-resolution rules, applied the way
//! Avro Java's `SchemaCompatibility` (and so Confluent Schema Registry) applies them, and the seven
//! Confluent compatibility levels built on top.
//!
//! [`can_read`] answers "can data written with `writer` be read with `reader`?" and lists every
//! reason it cannot, each with its location in the reader schema (a JSON pointer, as Avro Java
//! reports it) and the dotted field path. [`check`] applies a [`CompatibilityLevel`] to a new
//! schema and the subject's earlier versions and renders the reasons in Confluent's message format.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::schema::{AvroSchema, Field, NamedKind, NamedRef, NamedSchema, Schema, SchemaKind};

/// A subject's compatibility rule (Confluent's `compatibilityLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompatibilityLevel {
    /// No checks.
    None,
    /// The new schema can read data written with the latest version.
    Backward,
    /// The new schema can read data written with every version.
    BackwardTransitive,
    /// The latest version can read data written with the new schema.
    Forward,
    /// Every version can read data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every version.
    FullTransitive,
}

impl CompatibilityLevel {
    /// Confluent's default when neither the subject nor the registry sets a level.
    pub const DEFAULT: CompatibilityLevel = CompatibilityLevel::Backward;

    /// Parses a level name, case-insensitively as Confluent does (`backward`, `FULL_TRANSITIVE`).
    pub fn parse(name: &str) -> Option<CompatibilityLevel> {
        Some(match name.to_ascii_uppercase().as_str() {
            "NONE" => CompatibilityLevel::None,
            "BACKWARD" => CompatibilityLevel::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityLevel::BackwardTransitive,
            "FORWARD" => CompatibilityLevel::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityLevel::ForwardTransitive,
            "FULL" => CompatibilityLevel::Full,
            "FULL_TRANSITIVE" => CompatibilityLevel::FullTransitive,
            _ => return None,
        })
    }

    /// The upper-case name, as stored and returned by the REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether every earlier version is checked, not just the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of incompatibility, named as Avro Java's `SchemaIncompatibilityType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncompatibilityKind {
    /// A named type's name differs and no reader alias matches.
    NameMismatch,
    /// Fixed types of different sizes.
    FixedSizeMismatch,
    /// The writer enum has symbols the reader lacks, and the reader has no enum default.
    MissingEnumSymbols,
    /// A reader field is absent from the writer and has no default.
    ReaderFieldMissingDefaultValue,
    /// The types cannot be resolved (and no promotion applies).
    TypeMismatch,
    /// A writer type (or union branch) matches no branch of the reader union.
    MissingUnionBranch,
    /// The pair could not be checked (ambiguous field aliases, absurd nesting); treated as
    /// incompatible, as Confluent treats an exception during the check.
    Unchecked,
}

impl IncompatibilityKind {
    /// Avro Java's name for the kind (`READER_FIELD_MISSING_DEFAULT_VALUE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IncompatibilityKind::NameMismatch => "NAME_MISMATCH",
            IncompatibilityKind::FixedSizeMismatch => "FIXED_SIZE_MISMATCH",
            IncompatibilityKind::MissingEnumSymbols => "MISSING_ENUM_SYMBOLS",
            IncompatibilityKind::ReaderFieldMissingDefaultValue => "READER_FIELD_MISSING_DEFAULT_VALUE",
            IncompatibilityKind::TypeMismatch => "TYPE_MISMATCH",
            IncompatibilityKind::MissingUnionBranch => "MISSING_UNION_BRANCH",
            IncompatibilityKind::Unchecked => "UNCHECKED",
        }
    }
}

/// One reason a reader cannot read a writer's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Incompatibility {
    /// What is wrong.
    pub kind: IncompatibilityKind,
    /// JSON pointer into the reader schema (`/fields/1/type/1/fields/4`), as Avro Java reports it.
    pub location: String,
    /// Dotted reader field names leading to the problem (`after.email`); empty at the top level.
    pub field_path: String,
    /// Avro Java's detail (`additionalInfo`): the field name, the missing symbols, the types.
    pub detail: String,
}

impl Incompatibility {
    /// The message in Confluent's format, with `reader` / `writer` naming the two schemas
    /// (`"new"` / `"old"`), plus the dotted field path where there is one.
    pub fn confluent_message(&self, reader: &str, writer: &str) -> String {
        let path = &self.location;
        let field = if self.field_path.is_empty() {
            String::new()
        } else {
            format!(" (field '{}')", self.field_path)
        };
        let detail = &self.detail;
        let description = match self.kind {
            IncompatibilityKind::FixedSizeMismatch => format!(
                "The size of FIXED type field at path '{path}'{field} in the {reader} schema does not match \
                 with the {writer} schema"
            ),
            IncompatibilityKind::TypeMismatch => format!(
                "The type (path '{path}'){field} of a field in the {reader} schema does not match with the \
                 {writer} schema"
            ),
            IncompatibilityKind::NameMismatch => {
                format!("The name of the schema has changed (path '{path}'){field}")
            }
            IncompatibilityKind::MissingEnumSymbols => format!(
                "The {reader} schema is missing enum symbols '{detail}' at path '{path}'{field} in the \
                 {writer} schema"
            ),
            IncompatibilityKind::MissingUnionBranch => format!(
                "The {reader} schema is missing a type inside a union field at path '{path}'{field} in the \
                 {writer} schema"
            ),
            IncompatibilityKind::ReaderFieldMissingDefaultValue => format!(
                "The field '{detail}' at path '{path}'{field} in the {reader} schema has no default value \
                 and is missing in the {writer} schema"
            ),
            IncompatibilityKind::Unchecked => {
                return format!("Unexpected exception during compatibility check: {detail}");
            }
        };
        format!(
            "{{errorType:'{}', description:'{description}', additionalInfo:'{detail}'}}",
            self.kind.as_str()
        )
    }
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.field_path.is_empty() {
            format!("at {}", self.location)
        } else {
            format!("at field '{}' ({})", self.field_path, self.location)
        };
        match self.kind {
            IncompatibilityKind::ReaderFieldMissingDefaultValue => {
                write!(
                    f,
                    "reader field '{}' {at} is missing in the writer schema and has no default",
                    self.detail
                )
            }
            IncompatibilityKind::MissingEnumSymbols => {
                write!(f, "reader enum {at} lacks writer symbols {} and has no enum default", self.detail)
            }
            IncompatibilityKind::NameMismatch => write!(f, "named type {at} was renamed ({})", self.detail),
            IncompatibilityKind::FixedSizeMismatch => {
                write!(f, "fixed type {at} changed size ({})", self.detail)
            }
            IncompatibilityKind::TypeMismatch => write!(f, "type {at} changed ({})", self.detail),
            IncompatibilityKind::MissingUnionBranch => write!(f, "union {at}: {}", self.detail),
            IncompatibilityKind::Unchecked => write!(f, "{at}: {}", self.detail),
        }
    }
}

/// Lists why data written with `writer` cannot be read with `reader` (empty: it can).
pub fn can_read(reader: &AvroSchema, writer: &AvroSchema) -> Vec<Incompatibility> {
    let mut checker = Checker {
        reader,
        writer,
        memo: HashMap::new(),
        location: Vec::new(),
        fields: Vec::new(),
        steps: 0,
        exhausted: false,
    };
    let mut found = checker.check(reader.root(), writer.root());
    if checker.exhausted && !found.iter().any(|i| i.kind == IncompatibilityKind::Unchecked) {
        // The budget ran out inside a branch whose result was not kept: still incompatible.
        found.push(Incompatibility {
            kind: IncompatibilityKind::Unchecked,
            location: "/".to_owned(),
            field_path: String::new(),
            detail: format!("the schemas are too complex to compare (more than {MAX_STEPS} type pairs)"),
        });
    }
    let mut seen = BTreeSet::new();
    found
        .into_iter()
        .filter(|i| seen.insert((i.kind.as_str(), i.location.clone(), i.detail.clone())))
        .collect()
}

/// An earlier version of a subject, as compatibility checks see it.
#[derive(Debug, Clone, Copy)]
pub enum Previous<'a> {
    /// An Avro version.
    Avro {
        /// Its version number, named in messages.
        version: Option<u32>,
        /// The parsed schema.
        schema: &'a AvroSchema,
    },
    /// A version that cannot take part (another schema type, or unparsable); always incompatible.
    Unusable {
        /// The message to report.
        reason: &'a str,
    },
}

/// Confluent's message when a previous version is of another schema type.
pub const DIFFERENT_SCHEMA_TYPE: &str = "Incompatible because of different schema type";

/// Applies `level` to `new` against `previous` (oldest first, deleted versions excluded) and
/// returns Confluent-style messages; empty means compatible. Non-transitive levels look at the
/// latest version only; transitive ones stop at the newest incompatible version.
pub fn check(level: CompatibilityLevel, new: &AvroSchema, previous: &[Previous<'_>]) -> Vec<String> {
    if level == CompatibilityLevel::None {
        return Vec::new();
    }
    let take = if level.is_transitive() { previous.len() } else { 1 };
    for p in previous.iter().rev().take(take) {
        let messages = match *p {
            Previous::Unusable { reason } => vec![reason.to_owned()],
            Previous::Avro { version, schema: old } => match level {
                CompatibilityLevel::Backward | CompatibilityLevel::BackwardTransitive => {
                    render(can_read(new, old), "new", "old", Some((version, old)))
                }
                CompatibilityLevel::Forward | CompatibilityLevel::ForwardTransitive => {
                    render(can_read(old, new), "old", "new", Some((version, old)))
                }
                CompatibilityLevel::Full | CompatibilityLevel::FullTransitive => {
                    let mut m = render(can_read(old, new), "old", "new", None);
                    m.extend(render(can_read(new, old), "new", "old", Some((version, old))));
                    m
                }
                CompatibilityLevel::None => Vec::new(),
            },
        };
        if !messages.is_empty() {
            return messages;
        }
    }
    Vec::new()
}

/// Confluent truncates the old schema in messages to this many characters.
const MAX_SCHEMA_IN_MESSAGE: usize = 10 * 1024;

fn render(
    found: Vec<Incompatibility>,
    reader: &str,
    writer: &str,
    old: Option<(Option<u32>, &AvroSchema)>,
) -> Vec<String> {
    if found.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = found.iter().map(|i| i.confluent_message(reader, writer)).collect();
    if let Some((version, schema)) = old {
        if let Some(v) = version {
            out.push(format!("{{oldSchemaVersion: {v}}}"));
        }
        let text = schema.canonical();
        if text.chars().count() <= MAX_SCHEMA_IN_MESSAGE {
            out.push(format!("{{oldSchema: '{text}'}}"));
        } else {
            let cut: String = text.chars().take(MAX_SCHEMA_IN_MESSAGE).collect();
            out.push(format!("{{oldSchema: <truncated> '{cut}...'}}"));
        }
    }
    out
}

/// Deeper than this, a pair is reported as unchecked instead of risking the stack.
const MAX_DEPTH: usize = 400;
/// More type pairs than this (hostile unions of many records), and the check gives up: unchecked.
const MAX_STEPS: usize = 200_000;
/// At most this many reasons are kept per pair of named types.
const MAX_REPORTED: usize = 100;

enum Memo {
    InProgress,
    Done(Vec<Incompatibility>),
}

/// Avro Java's `ReaderWriterCompatibilityChecker`: memoized per pair of named types, so recursive
/// types terminate (a pair under evaluation counts as compatible until proven otherwise).
struct Checker<'a> {
    reader: &'a AvroSchema,
    writer: &'a AvroSchema,
    memo: HashMap<(NamedRef, NamedRef), Memo>,
    /// JSON pointer tokens of the current position.
    location: Vec<String>,
    /// Reader field names of the current position.
    fields: Vec<String>,
    /// Type pairs visited so far, and whether the budget ran out.
    steps: usize,
    exhausted: bool,
}

/// A node's type with named types resolved.
#[derive(Clone, Copy)]
enum Shape<'a> {
    Primitive(&'a SchemaKind),
    Array(&'a Schema),
    Map(&'a Schema),
    Union(&'a [Schema]),
    Record(&'a NamedSchema, &'a [Field]),
    Enum(&'a NamedSchema, &'a [String], Option<&'a str>),
    Fixed(&'a NamedSchema, u32),
    Dangling,
}

fn shape<'a>(schema: &'a AvroSchema, node: &'a Schema) -> Shape<'a> {
    match &node.kind {
        SchemaKind::Array(items) => Shape::Array(items),
        SchemaKind::Map(values) => Shape::Map(values),
        SchemaKind::Union(branches) => Shape::Union(branches),
        SchemaKind::Named(r) => match schema.named(*r) {
            Some(n) => match &n.kind {
                NamedKind::Record { fields } => Shape::Record(n, fields),
                NamedKind::Enum { symbols, default } => Shape::Enum(n, symbols, default.as_deref()),
                NamedKind::Fixed { size } => Shape::Fixed(n, *size),
            },
            None => Shape::Dangling,
        },
        other => Shape::Primitive(other),
    }
}

impl<'a> Checker<'a> {
    fn incompatibility(&self, kind: IncompatibilityKind, detail: String) -> Incompatibility {
        let location = if self.location.is_empty() {
            "/".to_owned()
        } else {
            let escaped: Vec<String> =
                self.location.iter().map(|t| t.replace('~', "~0").replace('/', "~1")).collect();
            format!("/{}", escaped.join("/"))
        };
        Incompatibility { kind, location, field_path: self.fields.join("."), detail }
    }

    fn at<T>(&mut self, token: impl Into<String>, f: impl FnOnce(&mut Self) -> T) -> T {
        self.location.push(token.into());
        let out = f(self);
        self.location.pop();
        out
    }

    fn check(&mut self, reader: &'a Schema, writer: &'a Schema) -> Vec<Incompatibility> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            if self.exhausted {
                return Vec::new();
            }
            self.exhausted = true;
            return vec![self.incompatibility(
                IncompatibilityKind::Unchecked,
                format!("the schemas are too complex to compare (more than {MAX_STEPS} type pairs)"),
            )];
        }
        if self.location.len() > MAX_DEPTH {
            return vec![self.incompatibility(
                IncompatibilityKind::Unchecked,
                format!("the schemas nest more than {MAX_DEPTH} levels deep"),
            )];
        }
        let (SchemaKind::Named(r), SchemaKind::Named(w)) = (&reader.kind, &writer.kind) else {
            return self.calculate(reader, writer);
        };
        let key = (*r, *w);
        match self.memo.get(&key) {
            Some(Memo::InProgress) => return Vec::new(),
            // Already reported where first found; repeat one reason, enough to stay incompatible.
            Some(Memo::Done(found)) => return found.iter().take(1).cloned().collect(),
            None => {}
        }
        self.memo.insert(key, Memo::InProgress);
        let mut found = self.calculate(reader, writer);
        found.truncate(MAX_REPORTED);
        self.memo.insert(key, Memo::Done(found.clone()));
        found
    }

    fn type_mismatch(&self, reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
        vec![self.incompatibility(
            IncompatibilityKind::TypeMismatch,
            format!(
                "reader type: {} not compatible with writer type: {}",
                self.reader.type_name(reader),
                self.writer.type_name(writer)
            ),
        )]
    }

    fn calculate(&mut self, reader: &'a Schema, writer: &'a Schema) -> Vec<Incompatibility> {
        let r = shape(self.reader, reader);
        let w = shape(self.writer, writer);
        match (r, w) {
            (Shape::Dangling, _) | (_, Shape::Dangling) => vec![self.incompatibility(
                IncompatibilityKind::Unchecked,
                "a named type reference does not resolve".to_owned(),
            )],
            // Same types.
            (Shape::Primitive(a), Shape::Primitive(b)) if a == b => Vec::new(),
            (Shape::Array(ri), Shape::Array(wi)) => self.at("items", |c| c.check(ri, wi)),
            (Shape::Map(rv), Shape::Map(wv)) => self.at("values", |c| c.check(rv, wv)),
            (Shape::Fixed(rn, rs), Shape::Fixed(wn, ws)) => {
                let mut out = self.check_names(rn, wn);
                if rs != ws {
                    out.extend(self.at("size", |c| {
                        vec![c.incompatibility(
                            IncompatibilityKind::FixedSizeMismatch,
                            format!("expected: {ws}, found: {rs}"),
                        )]
                    }));
                }
                out
            }
            (Shape::Enum(rn, rsyms, rdefault), Shape::Enum(wn, wsyms, _)) => {
                let mut out = self.check_names(rn, wn);
                let missing: BTreeSet<&String> = wsyms.iter().filter(|s| !rsyms.contains(s)).collect();
                if !missing.is_empty() && rdefault.is_none() {
                    let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                    out.extend(self.at("symbols", |c| {
                        vec![c.incompatibility(
                            IncompatibilityKind::MissingEnumSymbols,
                            format!("[{}]", list.join(", ")),
                        )]
                    }));
                }
                out
            }
            (Shape::Record(rn, rfields), Shape::Record(wn, wfields)) => {
                let mut out = self.check_names(rn, wn);
                out.extend(self.at("fields", |c| c.check_fields(rfields, wfields)));
                out
            }
            (Shape::Union(_), Shape::Union(wbranches)) => {
                // Every writer branch must be readable by the reader union.
                let mut out = Vec::new();
                for (i, wb) in wbranches.iter().enumerate() {
                    out.extend(self.at(i.to_string(), |c| c.check(reader, wb)));
                }
                out
            }
            // Different types: a writer union is readable if every branch is.
            (_, Shape::Union(wbranches)) => {
                let mut out = Vec::new();
                for (i, wb) in wbranches.iter().enumerate() {
                    out.extend(self.at(i.to_string(), |c| c.check(reader, wb)));
                }
                out
            }
            // A reader union reads a writer type if one of its branches does.
            (Shape::Union(rbranches), _) => self.find_branch(rbranches, writer),
            // Promotions.
            (Shape::Primitive(SchemaKind::Long), Shape::Primitive(SchemaKind::Int))
            | (Shape::Primitive(SchemaKind::Float), Shape::Primitive(SchemaKind::Int | SchemaKind::Long))
            | (
                Shape::Primitive(SchemaKind::Double),
                Shape::Primitive(SchemaKind::Int | SchemaKind::Long | SchemaKind::Float),
            )
            | (Shape::Primitive(SchemaKind::Bytes), Shape::Primitive(SchemaKind::String))
            | (Shape::Primitive(SchemaKind::String), Shape::Primitive(SchemaKind::Bytes)) => Vec::new(),
            _ => self.type_mismatch(reader, writer),
        }
    }

    fn check_names(&mut self, reader: &NamedSchema, writer: &NamedSchema) -> Vec<Incompatibility> {
        // Avro Java compares unqualified names, then the reader's (full-name) aliases.
        let writer_full = writer.name.full();
        if reader.name.name == writer.name.name || reader.aliases.contains(&writer_full) {
            return Vec::new();
        }
        self.at("name", |c| {
            vec![c.incompatibility(IncompatibilityKind::NameMismatch, format!("expected: {writer_full}"))]
        })
    }

    fn check_fields(&mut self, reader: &'a [Field], writer: &'a [Field]) -> Vec<Incompatibility> {
        let mut out = Vec::new();
        for (pos, rf) in reader.iter().enumerate() {
            self.fields.push(rf.name.clone());
            let found = self.at(pos.to_string(), |c| {
                let mut matches: Vec<&'a Field> = writer.iter().filter(|w| w.name == rf.name).collect();
                for alias in &rf.aliases {
                    matches.extend(writer.iter().filter(|w| &w.name == alias));
                }
                match matches.as_slice() {
                    [] if rf.default.is_some() => Vec::new(),
                    [] => vec![c.incompatibility(
                        IncompatibilityKind::ReaderFieldMissingDefaultValue,
                        rf.name.clone(),
                    )],
                    [wf] => c.at("type", |c| c.check(&rf.schema, &wf.schema)),
                    several => {
                        let names: Vec<&str> = several.iter().map(|w| w.name.as_str()).collect();
                        vec![c.incompatibility(
                            IncompatibilityKind::Unchecked,
                            format!(
                                "reader field '{}' matches several writer fields through its aliases: {}",
                                rf.name,
                                names.join(", ")
                            ),
                        )]
                    }
                }
            });
            self.fields.pop();
            out.extend(found);
        }
        out
    }

    fn find_branch(&mut self, branches: &'a [Schema], writer: &'a Schema) -> Vec<Incompatibility> {
        let mut candidate: Option<Vec<Incompatibility>> = None;
        // The branch of the writer's own type (and name) first: it usually matches, and if it does
        // not, why it does not is the explanation users need ("after" is a union, the record in
        // it changed).
        let (likely, others): (Vec<&'a Schema>, Vec<&'a Schema>) =
            branches.iter().partition(|b| self.same_type(b, writer));
        for (i, branch) in likely.into_iter().chain(others).enumerate() {
            let found = self.check(branch, writer);
            if found.is_empty() {
                return Vec::new();
            }
            if i == 0 && self.same_type(branch, writer) {
                candidate = Some(found);
            }
        }
        let mut out = vec![self.incompatibility(
            IncompatibilityKind::MissingUnionBranch,
            format!("reader union lacking writer type: {}", self.writer.type_name(writer)),
        )];
        out.extend(candidate.unwrap_or_default());
        out
    }

    fn same_type(&self, reader: &Schema, writer: &Schema) -> bool {
        match (shape(self.reader, reader), shape(self.writer, writer)) {
            (Shape::Record(r, _), Shape::Record(w, _))
            | (Shape::Enum(r, _, _), Shape::Enum(w, _, _))
            | (Shape::Fixed(r, _), Shape::Fixed(w, _)) => r.name.name == w.name.name,
            (Shape::Array(_), Shape::Array(_)) | (Shape::Map(_), Shape::Map(_)) => true,
            (Shape::Primitive(a), Shape::Primitive(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AvroSchema {
        AvroSchema::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn record(fields: &str) -> AvroSchema {
        s(&format!(r#"{{"type":"record","name":"myrecord","fields":[{fields}]}}"#))
    }

    fn ok(reader: &AvroSchema, writer: &AvroSchema) -> bool {
        can_read(reader, writer).is_empty()
    }

    fn kinds(reader: &AvroSchema, writer: &AvroSchema) -> Vec<IncompatibilityKind> {
        can_read(reader, writer).into_iter().map(|i| i.kind).collect()
    }

    fn prev(schemas: &[&AvroSchema]) -> Vec<Previous<'static>> {
        // Leak for 'static convenience in tests only.
        schemas
            .iter()
            .enumerate()
            .map(|(i, s)| Previous::Avro {
                version: Some(i as u32 + 1),
                schema: Box::leak(Box::new((*s).clone())),
            })
            .collect()
    }

    #[test]
    fn primitives_read_themselves_and_promote() {
        let all = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];
        let promotions = [
            ("long", "int"),
            ("float", "int"),
            ("float", "long"),
            ("double", "int"),
            ("double", "long"),
            ("double", "float"),
            ("bytes", "string"),
            ("string", "bytes"),
        ];
        for r in all {
            for w in all {
                let reader = s(&format!("\"{r}\""));
                let writer = s(&format!("\"{w}\""));
                let expected = r == w || promotions.contains(&(r, w));
                assert_eq!(ok(&reader, &writer), expected, "reader {r} writer {w}");
                if !expected {
                    assert_eq!(kinds(&reader, &writer), [IncompatibilityKind::TypeMismatch]);
                }
            }
        }
    }

    #[test]
    fn record_fields_need_a_writer_field_or_a_default() {
        let one = record(r#"{"name":"f1","type":"string"}"#);
        let with_default =
            record(r#"{"name":"f1","type":"string"},{"name":"f2","type":"string","default":"foo"}"#);
        let without_default = record(r#"{"name":"f1","type":"string"},{"name":"f2","type":"string"}"#);
        assert!(ok(&with_default, &one), "a reader field with a default may be absent in the writer");
        assert!(ok(&one, &with_default), "writer fields absent in the reader are skipped");
        assert!(ok(&one, &without_default));
        let found = can_read(&without_default, &one);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, IncompatibilityKind::ReaderFieldMissingDefaultValue);
        assert_eq!(found[0].location, "/fields/1");
        assert_eq!(found[0].field_path, "f2");
        assert_eq!(found[0].detail, "f2");
        assert_eq!(
            found[0].confluent_message("new", "old"),
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'f2' at path '/fields/1' \
             (field 'f2') in the new schema has no default value and is missing in the old schema', \
             additionalInfo:'f2'}"
        );
    }

    #[test]
    fn field_aliases_match_writer_fields() {
        let old = record(r#"{"name":"f1","type":"string"}"#);
        let renamed = record(r#"{"name":"f1_new","type":"string","aliases":["f1"]}"#);
        assert!(ok(&renamed, &old));
        // Without the alias the renamed field is missing (no default).
        let plain = record(r#"{"name":"f1_new","type":"string"}"#);
        assert!(!ok(&plain, &old));
        // The writer's aliases do not count: only the reader's.
        assert!(!ok(&old, &renamed));
        // An alias matching a second writer field is ambiguous.
        let two = record(r#"{"name":"a","type":"string"},{"name":"b","type":"string"}"#);
        let ambiguous = record(r#"{"name":"a","type":"string","aliases":["b"]}"#);
        assert_eq!(kinds(&ambiguous, &two), [IncompatibilityKind::Unchecked]);
    }

    #[test]
    fn field_types_are_checked_recursively_with_paths() {
        let old = s(
            r#"{"type":"record","name":"R","fields":[{"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"long"}]}}]}"#,
        );
        let new = s(
            r#"{"type":"record","name":"R","fields":[{"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"int"}]}}]}"#,
        );
        assert!(ok(&old, &new), "long reads int");
        let found = can_read(&new, &old);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, IncompatibilityKind::TypeMismatch);
        assert_eq!(found[0].location, "/fields/0/type/fields/0/type");
        assert_eq!(found[0].field_path, "inner.x");
        assert_eq!(found[0].detail, "reader type: INT not compatible with writer type: LONG");
    }

    #[test]
    fn enums_need_every_writer_symbol_unless_the_reader_has_a_default() {
        let ab = s(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#);
        let abc = s(r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#);
        let ab_default = s(r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#);
        assert!(ok(&abc, &ab));
        let found = can_read(&ab, &abc);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, IncompatibilityKind::MissingEnumSymbols);
        assert_eq!(found[0].detail, "[C]");
        assert_eq!(found[0].location, "/symbols");
        assert!(ok(&ab_default, &abc));
    }

    #[test]
    fn named_types_match_by_unqualified_name_or_reader_alias() {
        let a = s(r#"{"type":"record","name":"a.R","fields":[]}"#);
        let b = s(r#"{"type":"record","name":"b.R","fields":[]}"#);
        assert!(ok(&a, &b), "namespaces are ignored, as in Avro Java");
        let other = s(r#"{"type":"record","name":"a.Other","fields":[]}"#);
        assert_eq!(kinds(&other, &a), [IncompatibilityKind::NameMismatch]);
        let aliased = s(r#"{"type":"record","name":"a.Other","aliases":["a.R"],"fields":[]}"#);
        assert!(ok(&aliased, &a));
        assert!(!ok(&a, &aliased), "only the reader's aliases count");
        // An unqualified alias resolves in the reader's namespace.
        let aliased_short = s(r#"{"type":"record","name":"a.Other","aliases":["R"],"fields":[]}"#);
        assert!(ok(&aliased_short, &a));
        assert!(!ok(&aliased_short, &b), "alias a.R does not match b.R");
        let e1 = s(r#"{"type":"enum","name":"E1","symbols":["A"]}"#);
        let e2 = s(r#"{"type":"enum","name":"E2","symbols":["A"]}"#);
        assert_eq!(kinds(&e1, &e2), [IncompatibilityKind::NameMismatch]);
    }

    #[test]
    fn fixed_needs_the_same_name_and_size() {
        let f4 = s(r#"{"type":"fixed","name":"F","size":4}"#);
        let f8 = s(r#"{"type":"fixed","name":"F","size":8}"#);
        let g4 = s(r#"{"type":"fixed","name":"G","size":4}"#);
        assert!(ok(&f4, &f4.clone()));
        let found = can_read(&f4, &f8);
        assert_eq!(found[0].kind, IncompatibilityKind::FixedSizeMismatch);
        assert_eq!(found[0].detail, "expected: 8, found: 4");
        assert_eq!(found[0].location, "/size");
        assert_eq!(kinds(&f4, &g4), [IncompatibilityKind::NameMismatch]);
        assert_eq!(kinds(&f4, &s(r#""bytes""#)), [IncompatibilityKind::TypeMismatch]);
    }

    #[test]
    fn arrays_and_maps_check_their_element_types() {
        let ai = s(r#"{"type":"array","items":"int"}"#);
        let al = s(r#"{"type":"array","items":"long"}"#);
        assert!(ok(&al, &ai));
        let found = can_read(&ai, &al);
        assert_eq!(found[0].location, "/items");
        let mi = s(r#"{"type":"map","values":"int"}"#);
        let ml = s(r#"{"type":"map","values":"long"}"#);
        assert!(ok(&ml, &mi));
        assert_eq!(can_read(&mi, &ml)[0].location, "/values");
        assert_eq!(kinds(&ai, &mi), [IncompatibilityKind::TypeMismatch]);
        assert_eq!(kinds(&mi, &ai), [IncompatibilityKind::TypeMismatch]);
    }

    #[test]
    fn unions_follow_the_resolution_rules() {
        let string = s(r#""string""#);
        let null_string = s(r#"["null","string"]"#);
        let null_string_int = s(r#"["null","string","int"]"#);
        let int_only = s(r#"["int"]"#);
        // Non-union writer, union reader: some branch must read it.
        assert!(ok(&null_string, &string));
        assert_eq!(kinds(&int_only, &string), [IncompatibilityKind::MissingUnionBranch]);
        // Union writer, non-union reader: every branch must be readable.
        assert_eq!(kinds(&string, &null_string), [IncompatibilityKind::TypeMismatch]);
        assert!(ok(&s(r#""long""#), &s(r#"["int","long"]"#)));
        // Union writer, union reader: every writer branch readable by some reader branch.
        assert!(ok(&null_string_int, &null_string));
        let found = can_read(&null_string, &null_string_int);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, IncompatibilityKind::MissingUnionBranch);
        assert_eq!(found[0].location, "/2");
        assert_eq!(found[0].detail, "reader union lacking writer type: INT");
        // Promotions apply through unions.
        assert!(ok(&s(r#"["null","long"]"#), &s(r#"["null","int"]"#)));
    }

    #[test]
    fn recursive_types_terminate() {
        let list = |extra: &str| {
            s(&format!(
                r#"{{"type":"record","name":"Node","fields":[{{"name":"v","type":"long"}},{{"name":"next","type":["null","Node"],"default":null}}{extra}]}}"#
            ))
        };
        let a = list("");
        let b = list(r#",{"name":"w","type":"int","default":0}"#);
        let c = list(r#",{"name":"w","type":"int"}"#);
        assert!(ok(&a, &a.clone()));
        assert!(ok(&b, &a));
        assert!(ok(&a, &b));
        assert!(!ok(&c, &a));
    }

    #[test]
    fn debezium_adding_a_nullable_column_is_backward_compatible() {
        let envelope = |value_fields: &str| {
            s(&format!(
                r#"{{"type":"record","name":"Envelope","namespace":"srv.public.customers","fields":[
                {{"name":"before","type":["null",{{"type":"record","name":"Value","fields":[{value_fields}],"connect.name":"srv.public.customers.Value"}}],"default":null}},
                {{"name":"after","type":["null","Value"],"default":null}},
                {{"name":"op","type":"string"}}],"connect.version":2,"connect.name":"srv.public.customers.Envelope"}}"#
            ))
        };
        let v1 = envelope(
            r#"{"name":"id","type":{"type":"int","connect.default":0},"default":0},{"name":"email","type":"string"}"#,
        );
        let nullable = envelope(
            r#"{"name":"id","type":{"type":"int","connect.default":0},"default":0},{"name":"email","type":"string"},{"name":"phone","type":["null","string"],"default":null}"#,
        );
        let required = envelope(
            r#"{"name":"id","type":{"type":"int","connect.default":0},"default":0},{"name":"email","type":"string"},{"name":"phone","type":"string"}"#,
        );
        assert!(check(CompatibilityLevel::Backward, &nullable, &prev(&[&v1])).is_empty());
        assert!(check(CompatibilityLevel::Full, &nullable, &prev(&[&v1])).is_empty());
        let messages = check(CompatibilityLevel::Backward, &required, &prev(&[&v1]));
        assert!(!messages.is_empty());
        assert!(
            messages.iter().any(|m| m.contains("READER_FIELD_MISSING_DEFAULT_VALUE")
                && m.contains("'phone'")
                && m.contains("before.phone")),
            "{messages:#?}"
        );
        assert!(messages.iter().any(|m| m.contains("MISSING_UNION_BRANCH")), "{messages:#?}");
        assert!(messages.contains(&"{oldSchemaVersion: 1}".to_owned()));
        assert!(messages.iter().any(|m| m.starts_with("{oldSchema: '{\"type\":\"record\"")));
        // Dropping a required column is forward-incompatible (old readers need it) but backward-fine.
        assert!(check(CompatibilityLevel::Backward, &v1, &prev(&[&required])).is_empty());
        assert!(!check(CompatibilityLevel::Forward, &v1, &prev(&[&required])).is_empty());
    }

    // Confluent's AvroCompatibilityTest, level by level.
    fn confluent_schemas() -> [AvroSchema; 6] {
        [
            record(r#"{"type":"string","name":"f1"}"#),
            record(r#"{"type":"string","name":"f1"},{"type":"string","name":"f2","default":"foo"}"#),
            record(r#"{"type":"string","name":"f1"},{"type":"string","name":"f2"}"#),
            record(r#"{"type":"string","name":"f1_new","aliases":["f1"]}"#),
            record(r#"{"type":["null","string"],"name":"f1","doc":"doc of f1"}"#),
            record(r#"{"type":["null","string","int"],"name":"f1","doc":"doc of f1"}"#),
        ]
    }

    #[test]
    fn confluent_backward() {
        let [s1, s2, s3, s4, s6, s7] = confluent_schemas();
        let l = CompatibilityLevel::Backward;
        assert!(check(l, &s2, &prev(&[&s1])).is_empty());
        assert!(!check(l, &s3, &prev(&[&s1])).is_empty());
        assert!(check(l, &s4, &prev(&[&s1])).is_empty());
        assert!(check(l, &s6, &prev(&[&s1])).is_empty());
        assert!(!check(l, &s1, &prev(&[&s6])).is_empty());
        assert!(check(l, &s7, &prev(&[&s6])).is_empty());
        assert!(!check(l, &s6, &prev(&[&s7])).is_empty());
        // Only the latest is checked.
        assert!(check(l, &s3, &prev(&[&s1, &s2])).is_empty());
    }

    #[test]
    fn confluent_backward_transitive() {
        let [s1, s2, s3, ..] = confluent_schemas();
        let s8 = record(
            r#"{"type":"string","name":"f1"},{"type":"string","name":"f2","default":"foo"},{"type":"string","name":"f3","default":"bar"}"#,
        );
        let l = CompatibilityLevel::BackwardTransitive;
        assert!(check(l, &s8, &prev(&[&s1, &s2])).is_empty());
        assert!(check(l, &s3, &prev(&[&s2])).is_empty());
        assert!(!check(l, &s3, &prev(&[&s1, &s2])).is_empty());
    }

    #[test]
    fn confluent_forward_and_forward_transitive() {
        let [s1, s2, s3, ..] = confluent_schemas();
        let l = CompatibilityLevel::Forward;
        assert!(check(l, &s2, &prev(&[&s1])).is_empty());
        assert!(check(l, &s3, &prev(&[&s1])).is_empty());
        assert!(check(l, &s3, &prev(&[&s2])).is_empty());
        assert!(check(l, &s2, &prev(&[&s3])).is_empty());
        assert!(check(l, &s1, &prev(&[&s3, &s2])).is_empty());
        assert!(!check(l, &s1, &prev(&[&s3])).is_empty());
        let s8 = record(
            r#"{"type":"string","name":"f1"},{"type":"string","name":"f2","default":"foo"},{"type":"string","name":"f3","default":"bar"}"#,
        );
        let l = CompatibilityLevel::ForwardTransitive;
        assert!(check(l, &s1, &prev(&[&s8, &s2])).is_empty());
        assert!(check(l, &s2, &prev(&[&s3])).is_empty());
        assert!(check(l, &s1, &prev(&[&s2])).is_empty());
        assert!(!check(l, &s1, &prev(&[&s3, &s2])).is_empty());
    }

    #[test]
    fn confluent_full_and_full_transitive() {
        let [s1, s2, s3, ..] = confluent_schemas();
        let l = CompatibilityLevel::Full;
        assert!(check(l, &s2, &prev(&[&s1])).is_empty());
        assert!(check(l, &s3, &prev(&[&s1, &s2])).is_empty());
        assert!(check(l, &s1, &prev(&[&s3, &s2])).is_empty());
        assert!(!check(l, &s3, &prev(&[&s1])).is_empty());
        assert!(!check(l, &s1, &prev(&[&s3])).is_empty());
        let l = CompatibilityLevel::FullTransitive;
        assert!(check(l, &s2, &prev(&[&s3])).is_empty());
        assert!(check(l, &s1, &prev(&[&s2])).is_empty());
        assert!(!check(l, &s3, &prev(&[&s1, &s2])).is_empty());
        assert!(!check(l, &s1, &prev(&[&s3, &s2])).is_empty());
    }

    #[test]
    fn none_accepts_anything_and_unusable_versions_fail() {
        let a = s(r#""int""#);
        let b = s(r#""string""#);
        assert!(check(CompatibilityLevel::None, &a, &prev(&[&b])).is_empty());
        assert!(!check(CompatibilityLevel::Backward, &a, &prev(&[&b])).is_empty());
        let previous = [Previous::Unusable { reason: DIFFERENT_SCHEMA_TYPE }];
        assert_eq!(check(CompatibilityLevel::Backward, &a, &previous), [DIFFERENT_SCHEMA_TYPE]);
        assert!(check(CompatibilityLevel::Backward, &a, &[]).is_empty());
    }

    #[test]
    fn full_reports_both_directions_in_confluent_order() {
        let old = record(r#"{"name":"f1","type":"string"}"#);
        let new = record(r#"{"name":"f2","type":"string"}"#);
        let m = check(CompatibilityLevel::Full, &new, &prev(&[&old]));
        assert_eq!(m.len(), 4, "{m:#?}");
        assert!(m[0].contains("in the old schema has no default value and is missing in the new schema"));
        assert!(m[1].contains("in the new schema has no default value and is missing in the old schema"));
        assert_eq!(m[2], "{oldSchemaVersion: 1}");
    }

    #[test]
    fn levels_parse_case_insensitively() {
        for l in [
            CompatibilityLevel::None,
            CompatibilityLevel::Backward,
            CompatibilityLevel::BackwardTransitive,
            CompatibilityLevel::Forward,
            CompatibilityLevel::ForwardTransitive,
            CompatibilityLevel::Full,
            CompatibilityLevel::FullTransitive,
        ] {
            assert_eq!(CompatibilityLevel::parse(l.as_str()), Some(l));
            assert_eq!(CompatibilityLevel::parse(&l.as_str().to_lowercase()), Some(l));
        }
        assert_eq!(CompatibilityLevel::parse("sideways"), None);
    }

    #[test]
    fn hostile_unions_of_many_records_are_bounded() {
        // Every reader record against every writer record, each pair descending into fields.
        let union = |prefix: &str, n: usize| {
            let branches: Vec<String> = (0..n)
                .map(|i| {
                    let field =
                        if i == 0 { r#""int""#.to_owned() } else { format!(r#""{prefix}{}""#, i - 1) };
                    format!(
                        r#"{{"type":"record","name":"{prefix}{i}","fields":[{{"name":"f","type":{field}}}]}}"#
                    )
                })
                .collect();
            s(&format!("[{}]", branches.join(",")))
        };
        let reader = union("A", 500);
        let writer = union("B", 500);
        let started = std::time::Instant::now();
        let found = can_read(&reader, &writer);
        assert!(found.iter().any(|i| i.kind == IncompatibilityKind::Unchecked), "{:?}", &found[..3]);
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        // Deep chains are cut off too.
        let deep = union("C", 600);
        let top = |u: &AvroSchema| {
            let SchemaKind::Union(b) = &u.root().kind else { panic!() };
            b.len()
        };
        assert_eq!(top(&deep), 600);
        assert!(can_read(&deep, &deep.clone()).is_empty());
    }

    #[test]
    fn human_messages_name_the_field() {
        let old = record(r#"{"name":"f1","type":"string"}"#);
        let new = record(r#"{"name":"f1","type":"string"},{"name":"f2","type":"int"}"#);
        let text = can_read(&new, &old)[0].to_string();
        assert_eq!(
            text,
            "reader field 'f2' at field 'f2' (/fields/1) is missing in the writer schema and has no default"
        );
    }
}
