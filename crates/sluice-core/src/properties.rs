//! Typed reads from Kafka Connect's flat string property maps.
//!
//! Connector configs arrive as `Map<String, String>`; every layer parses the properties it owns
//! once, at the edge, into typed configs. This module is the one place that knows how: booleans are
//! `true`/`false` (any case), numbers are whole numbers, choices are case-insensitive, and lists of
//! regular expressions follow Debezium (comma-separated, `\,` for a literal comma, each anchored to
//! the whole name and case-insensitive). Every error names the property.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use regex::{Regex, RegexBuilder};

/// A property is missing or has an invalid value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid connector property '{property}': {message}")]
pub struct PropertyError {
    /// The property name.
    pub property: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl PropertyError {
    /// An error about `property`.
    pub fn new(property: impl Into<String>, message: impl Into<String>) -> Self {
        PropertyError { property: property.into(), message: message.into() }
    }
}

/// A compiled Debezium-style list of regular expressions.
#[derive(Debug, Clone)]
pub struct PatternList {
    source: String,
    patterns: Vec<Regex>,
}

impl PatternList {
    /// Compiles a list property; `property` names it in errors.
    pub fn parse(property: &str, text: &str) -> Result<Self, PropertyError> {
        let mut patterns = Vec::new();
        for item in split_unescaped_commas(text) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let re =
                RegexBuilder::new(&format!("^(?:{item})$")).case_insensitive(true).build().map_err(|e| {
                    PropertyError::new(property, format!("'{item}' is not a valid regular expression: {e}"))
                })?;
            patterns.push(re);
        }
        Ok(PatternList { source: text.to_owned(), patterns })
    }

    /// True if any pattern matches the whole of `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(name))
    }

    /// The list as configured.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled patterns.
    pub fn patterns(&self) -> &[Regex] {
        &self.patterns
    }

    /// The compiled patterns, owned.
    pub fn into_patterns(self) -> Vec<Regex> {
        self.patterns
    }
}

/// Splits on commas not preceded by a backslash; `\,` becomes a literal comma.
fn split_unescaped_commas(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                current.push(',');
                chars.next();
            }
            ',' => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
}

/// The known name closest to a misspelt `name` (within a few edits), for "did you mean" hints.
pub fn closest_name<'k>(name: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 5))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Typed, property-naming reads from a flat map. Blank values count as absent.
#[derive(Debug, Clone, Copy)]
pub struct Properties<'a>(pub &'a BTreeMap<String, String>);

impl<'a> Properties<'a> {
    /// The trimmed value, if set and not blank.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// The value, or an error saying it is required.
    pub fn required(&self, key: &str) -> Result<&'a str, PropertyError> {
        self.str(key).ok_or_else(|| PropertyError::new(key, "is required"))
    }

    /// The value or a default, owned.
    pub fn string_or(&self, key: &str, default: &str) -> String {
        self.str(key).unwrap_or(default).to_owned()
    }

    /// `true`/`false` (any case), or the default.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, PropertyError> {
        match self.str(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(PropertyError::new(key, format!("'{v}' is not a boolean: use true or false"))),
        }
    }

    /// A number, or the default; `what` describes it in the error ("a TCP port number").
    pub fn number_or<T: FromStr>(&self, key: &str, default: T, what: &str) -> Result<T, PropertyError> {
        match self.str(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| PropertyError::new(key, format!("'{v}' is not {what}"))),
        }
    }

    /// Milliseconds as a duration, or the default.
    pub fn millis_or(&self, key: &str, default_ms: u64) -> Result<Duration, PropertyError> {
        self.number_or(key, default_ms, "a whole number of milliseconds").map(Duration::from_millis)
    }

    /// A regular-expression list, if set.
    pub fn patterns(&self, key: &str) -> Result<Option<PatternList>, PropertyError> {
        self.str(key).map(|v| PatternList::parse(key, v)).transpose()
    }

    /// One of named options (case-insensitive), or the default.
    pub fn choice<T: Copy>(&self, key: &str, default: T, options: &[(&str, T)]) -> Result<T, PropertyError> {
        let Some(v) = self.str(key) else { return Ok(default) };
        options.iter().find(|(name, _)| name.eq_ignore_ascii_case(v)).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            PropertyError::new(key, format!("'{v}' is not one of: {}", names.join(", ")))
        })
    }

    /// Fails if both of two mutually exclusive properties are set, naming the second.
    pub fn exclusive(&self, a: &str, b: &str) -> Result<(), PropertyError> {
        if self.str(a).is_some() && self.str(b).is_some() {
            return Err(PropertyError::new(
                b,
                format!("cannot be used together with '{a}'; set only one of them"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_anchored_case_insensitive_and_escape_commas() {
        let l = PatternList::parse("p", "public.cust.*, inventory\\.orders, public.t{1\\,3}").unwrap();
        assert!(l.matches("PUBLIC.Customers"));
        assert!(l.matches("inventory.orders"));
        assert!(!l.matches("inventory.orders_old"));
        assert!(l.matches("public.ttt"));
        assert!(!l.matches("public.tttt"));
        let err = PatternList::parse("table.include.list", "public.(").unwrap_err();
        assert_eq!(err.property, "table.include.list");
    }

    #[test]
    fn typed_reads_name_the_property() {
        let map: BTreeMap<String, String> = [("a", "TRUE"), ("b", "x"), ("c", "12"), ("blank", "  ")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let p = Properties(&map);
        assert!(p.bool_or("a", false).unwrap());
        assert_eq!(p.bool_or("b", false).unwrap_err().property, "b");
        assert_eq!(p.number_or("c", 0u32, "n").unwrap(), 12);
        assert_eq!(p.str("blank"), None);
        assert!(p.required("blank").unwrap_err().message.contains("required"));
        assert_eq!(p.choice("b", 1, &[("y", 2)]).unwrap_err().message, "'x' is not one of: y");
        assert!(p.exclusive("a", "b").is_err());
        assert!(p.exclusive("a", "zz").is_ok());
    }
}
