//! Which tables a connector captures, with Debezium's include/exclude list semantics.
//!
//! Each list is a comma-separated set of regular expressions matched against the whole name
//! (anchored, case-insensitive, as Debezium does); a comma inside a regular expression is written
//! `\,`. Schema lists match the schema name, table lists match `schema.table`. Include and exclude
//! lists of the same kind are mutually exclusive. PostgreSQL's own schemas are never captured.

use sluice_core::TableId;
pub use sluice_core::properties::PatternList;

/// The table selection of one connector.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    /// `schema.include.list`
    pub schema_include: Option<PatternList>,
    /// `schema.exclude.list`
    pub schema_exclude: Option<PatternList>,
    /// `table.include.list`
    pub table_include: Option<PatternList>,
    /// `table.exclude.list`
    pub table_exclude: Option<PatternList>,
}

/// Schemas that belong to PostgreSQL itself and are never captured.
fn is_system_schema(schema: &str) -> bool {
    matches!(schema, "pg_catalog" | "information_schema")
        || schema.starts_with("pg_toast")
        || schema.starts_with("pg_temp")
}

impl TableFilter {
    /// True if changes of `table` are captured.
    pub fn includes(&self, table: &TableId) -> bool {
        if is_system_schema(&table.schema) {
            return false;
        }
        let schema_ok = match (&self.schema_include, &self.schema_exclude) {
            (Some(inc), _) => inc.matches(&table.schema),
            (None, Some(exc)) => !exc.matches(&table.schema),
            (None, None) => true,
        };
        if !schema_ok {
            return false;
        }
        let full = table.to_string();
        match (&self.table_include, &self.table_exclude) {
            (Some(inc), _) => inc.matches(&full),
            (None, Some(exc)) => !exc.matches(&full),
            (None, None) => true,
        }
    }

    /// True if no list is set (every non-system table is captured).
    pub fn is_unfiltered(&self) -> bool {
        self.schema_include.is_none()
            && self.schema_exclude.is_none()
            && self.table_include.is_none()
            && self.table_exclude.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Option<PatternList> {
        Some(PatternList::parse("test", text).unwrap())
    }

    #[test]
    fn schema_and_table_lists_combine() {
        let f = TableFilter {
            schema_include: list("public,sales"),
            table_exclude: list("sales\\.secret.*"),
            ..Default::default()
        };
        assert!(f.includes(&TableId::new("public", "a")));
        assert!(f.includes(&TableId::new("sales", "orders")));
        assert!(!f.includes(&TableId::new("sales", "secret_pay")));
        assert!(!f.includes(&TableId::new("other", "a")));
        assert!(!TableFilter::default().includes(&TableId::new("pg_catalog", "pg_class")));
    }
}
