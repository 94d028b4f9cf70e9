//! The relation cache: table schemas by relation id, following schema changes.
//!
//! pgoutput announces a relation (Relation message) before the first change that uses it on this
//! connection and again whenever its definition changed. Each announcement is turned into a
//! [`TableSchema`] with resolved column types, and with nullability, defaults and keys looked up in
//! the catalog. When the new shape differs from the cached one the schema version goes up; events
//! carry the `Arc<TableSchema>` they were decoded with, so consumers always see matching columns.
//! The snapshot builds schemas for tables it reads through the same code ([`RelationCache::load`]),
//! so a table has the same schema whether its rows came from the snapshot or from the stream.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_core::{Column, ReplicaIdentity, TableId, TableSchema};
use tokio_postgres::Client;

use crate::catalog::{TableMeta, table_meta};
use crate::error::PostgresError;
use crate::pgoutput::Relation;
use crate::types::TypeRegistry;

/// A column as announced, before types and catalog facts are attached.
#[derive(Debug, Clone)]
pub struct AnnouncedColumn {
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type modifier.
    pub type_modifier: i32,
    /// Part of the replica identity key.
    pub is_key: bool,
}

/// Table schemas by relation id, plus the type registry used to resolve their columns.
#[derive(Debug, Default)]
pub struct RelationCache {
    tables: HashMap<u32, Arc<TableSchema>>,
    types: TypeRegistry,
}

impl RelationCache {
    /// An empty cache.
    pub fn new() -> Self {
        RelationCache { tables: HashMap::new(), types: TypeRegistry::new() }
    }

    /// The current schema of a relation, if announced.
    pub fn get(&self, relation_id: u32) -> Option<&Arc<TableSchema>> {
        self.tables.get(&relation_id)
    }

    /// The type registry, for value decoding decisions.
    pub fn types_mut(&mut self) -> &mut TypeRegistry {
        &mut self.types
    }

    /// Applies a Relation message: resolves its columns and returns the (possibly new) schema.
    pub async fn apply(
        &mut self,
        client: &Client,
        rel: &Relation<'_>,
    ) -> Result<Arc<TableSchema>, PostgresError> {
        let columns = rel
            .columns
            .iter()
            .map(|c| AnnouncedColumn {
                name: c.name.to_owned(),
                type_oid: c.type_oid,
                type_modifier: c.type_modifier,
                is_key: c.is_key,
            })
            .collect();
        let id = TableId::new(rel.namespace, rel.name);
        self.install(client, rel.relation_id, id, columns, rel.replica_identity).await
    }

    /// Builds the schema of a table from the catalog alone (for snapshots, which see no Relation
    /// message). `client` should be inside the snapshot's transaction so the catalog matches the data.
    pub async fn load(
        &mut self,
        client: &Client,
        relation_id: u32,
    ) -> Result<Arc<TableSchema>, PostgresError> {
        let ctx = || format!("reading the columns of relation {relation_id}");
        let head = client
            .query_opt(
                "SELECT n.nspname::text, c.relname::text, c.relreplident::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
                &[&relation_id],
            )
            .await
            .map_err(PostgresError::query(ctx()))?
            .ok_or_else(|| PostgresError::Precondition(format!("relation {relation_id} no longer exists")))?;
        let id = TableId::new(head.get::<_, String>(0), head.get::<_, String>(1));
        let identity_code: String = head.get(2);
        let identity = ReplicaIdentity::from_code(identity_code.as_bytes().first().copied().unwrap_or(b'd'))
            .unwrap_or(ReplicaIdentity::Default);
        // Generated columns are not sent by pgoutput, so they are not part of the schema either.
        let rows = client
            .query(
                "SELECT a.attname::text, a.atttypid, a.atttypmod FROM pg_attribute a \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
                 ORDER BY a.attnum",
                &[&relation_id],
            )
            .await
            .map_err(PostgresError::query(ctx()))?;
        let meta = table_meta(client, relation_id).await?.unwrap_or_default();
        let columns = rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let is_key = match identity {
                    ReplicaIdentity::Full => true,
                    ReplicaIdentity::Default => meta.primary_key.contains(&name),
                    ReplicaIdentity::Index => meta.replica_identity_index.contains(&name),
                    ReplicaIdentity::Nothing => false,
                };
                AnnouncedColumn { name, type_oid: r.get(1), type_modifier: r.get(2), is_key }
            })
            .collect();
        self.install_with_meta(client, relation_id, id, columns, identity, meta).await
    }

    async fn install(
        &mut self,
        client: &Client,
        relation_id: u32,
        id: TableId,
        columns: Vec<AnnouncedColumn>,
        identity: ReplicaIdentity,
    ) -> Result<Arc<TableSchema>, PostgresError> {
        let meta = table_meta(client, relation_id).await?.unwrap_or_default();
        self.install_with_meta(client, relation_id, id, columns, identity, meta).await
    }

    async fn install_with_meta(
        &mut self,
        client: &Client,
        relation_id: u32,
        id: TableId,
        announced: Vec<AnnouncedColumn>,
        identity: ReplicaIdentity,
        meta: TableMeta,
    ) -> Result<Arc<TableSchema>, PostgresError> {
        let mut columns = Vec::with_capacity(announced.len());
        for c in &announced {
            let ty = self.types.resolve(client, c.type_oid, c.type_modifier).await?;
            let facts = meta.columns.get(&c.name);
            columns.push(Column {
                name: c.name.as_str().into(),
                ty,
                nullable: facts.is_none_or(|f| f.nullable),
                default: facts.and_then(|f| f.default.as_deref()).map(Into::into),
                part_of_identity: c.is_key,
            });
        }
        let key = key_columns(&columns, &meta, identity);
        let mut schema =
            TableSchema { relation_id, id, version: 1, columns, key, replica_identity: identity };
        if let Some(old) = self.tables.get(&relation_id) {
            if old.same_shape(&schema) {
                return Ok(old.clone());
            }
            schema.version = old.version + 1;
            tracing::info!(table = %schema.id, version = schema.version, "table schema changed");
        }
        let schema = Arc::new(schema);
        self.tables.insert(relation_id, schema.clone());
        Ok(schema)
    }
}

/// The message key: the primary key; without one, the replica identity index. Columns the catalog
/// names but the relation does not carry (a race with DDL) are left out.
fn key_columns(columns: &[Column], meta: &TableMeta, identity: ReplicaIdentity) -> Vec<usize> {
    let position = |name: &String| columns.iter().position(|c| &*c.name == name.as_str());
    let pk: Vec<usize> = meta.primary_key.iter().filter_map(position).collect();
    if !pk.is_empty() {
        return pk;
    }
    if identity == ReplicaIdentity::Index {
        return meta.replica_identity_index.iter().filter_map(position).collect();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use sluice_core::{ColumnType, TypeKind};

    use super::*;
    use crate::catalog::ColumnMeta;

    fn col(name: &str) -> Column {
        Column {
            name: name.into(),
            ty: ColumnType::new(23, -1, "int4", TypeKind::Int4),
            nullable: false,
            default: None,
            part_of_identity: false,
        }
    }

    #[test]
    fn key_prefers_primary_key_then_identity_index() {
        let columns = vec![col("a"), col("b"), col("c")];
        let mut meta = TableMeta::default();
        meta.columns.insert("a".into(), ColumnMeta { nullable: false, default: None });
        meta.replica_identity_index = vec!["c".into()];
        assert_eq!(key_columns(&columns, &meta, ReplicaIdentity::Index), vec![2]);
        assert!(key_columns(&columns, &meta, ReplicaIdentity::Full).is_empty());
        meta.primary_key = vec!["b".into(), "a".into()];
        assert_eq!(key_columns(&columns, &meta, ReplicaIdentity::Index), vec![1, 0]);
        // A key column dropped from the relation is skipped, not invented.
        meta.primary_key = vec!["zz".into(), "a".into()];
        assert_eq!(key_columns(&columns, &meta, ReplicaIdentity::Default), vec![0]);
    }
}
