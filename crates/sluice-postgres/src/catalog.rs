//! Catalog lookups over an ordinary connection: server readiness, table metadata, slots.
//!
//! pgoutput's Relation message names the columns and their types but not keys, nullability or
//! defaults, so those come from the catalog, looked up when a relation is (re)announced. The
//! catalog describes the table *now*, which may be ahead of the WAL being decoded; callers match
//! columns by name and treat what they cannot match as unknown.

use std::collections::HashMap;

use sluice_core::{Lsn, TableId};
use tokio_postgres::Client;

use crate::error::PostgresError;
use crate::filter::TableFilter;

/// What sluice needs to know about the server before replicating.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `server_version_num`, e.g. 150018.
    pub version_num: u32,
    /// `wal_level`.
    pub wal_level: String,
    /// Whether the connected user may replicate (REPLICATION attribute or superuser).
    pub can_replicate: bool,
    /// Whether the connected user is a superuser.
    pub is_superuser: bool,
    /// The connected user.
    pub user: String,
}

/// Reads the server facts that decide whether replication can work at all.
pub async fn server_info(client: &Client) -> Result<ServerInfo, PostgresError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int4, current_setting('wal_level'), \
                    r.rolreplication, r.rolsuper, current_user::text \
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(PostgresError::query("reading server settings"))?;
    Ok(ServerInfo {
        version_num: row.get::<_, i32>(0) as u32,
        wal_level: row.get(1),
        can_replicate: row.get::<_, bool>(2) || row.get::<_, bool>(3),
        is_superuser: row.get(3),
        user: row.get(4),
    })
}

/// Fails with a named, actionable error unless the server and user can do logical replication.
pub fn check_replication_ready(info: &ServerInfo) -> Result<(), PostgresError> {
    if info.wal_level != "logical" {
        return Err(PostgresError::WalLevel { actual: info.wal_level.clone() });
    }
    if !info.can_replicate {
        return Err(PostgresError::NoReplicationPrivilege { user: info.user.clone() });
    }
    if info.version_num < 100_000 {
        return Err(PostgresError::Precondition(format!(
            "PostgreSQL {} is too old: pgoutput logical replication needs PostgreSQL 10 or later",
            info.version_num / 10_000
        )));
    }
    Ok(())
}

/// Catalog facts about one column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMeta {
    /// `NOT NULL` absent.
    pub nullable: bool,
    /// `pg_get_expr` of the default, if any.
    pub default: Option<String>,
}

/// Catalog facts about one table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableMeta {
    /// Per column name.
    pub columns: HashMap<String, ColumnMeta>,
    /// Primary key column names in key order (empty if none).
    pub primary_key: Vec<String>,
    /// Columns of the replica identity index, when `REPLICA IDENTITY USING INDEX`.
    pub replica_identity_index: Vec<String>,
}

/// Looks up nullability, defaults and keys of a table by OID. `None` if the table no longer exists.
pub async fn table_meta(client: &Client, relation_id: u32) -> Result<Option<TableMeta>, PostgresError> {
    let context = || format!("reading the catalog entry of relation {relation_id}");
    let cols = client
        .query(
            "SELECT a.attname::text, NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&relation_id],
        )
        .await
        .map_err(PostgresError::query(context()))?;
    if cols.is_empty() {
        return Ok(None);
    }
    let columns = cols
        .iter()
        .map(|r| (r.get::<_, String>(0), ColumnMeta { nullable: r.get(1), default: r.get(2) }))
        .collect();
    let keys = client
        .query(
            "SELECT i.indisprimary, i.indisreplident, a.attname::text \
             FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1 AND (i.indisprimary OR i.indisreplident) \
             ORDER BY i.indisprimary DESC, k.pos",
            &[&relation_id],
        )
        .await
        .map_err(PostgresError::query(context()))?;
    let mut meta = TableMeta { columns, ..Default::default() };
    for r in &keys {
        let name: String = r.get(2);
        if r.get::<_, bool>(0) {
            meta.primary_key.push(name.clone());
        }
        if r.get::<_, bool>(1) {
            meta.replica_identity_index.push(name);
        }
    }
    Ok(Some(meta))
}

/// A table that the connector captures.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedTable {
    /// Its OID.
    pub oid: u32,
    /// Its name.
    pub id: TableId,
    /// Heap pages (`pg_relation_size / block_size`), to plan snapshot chunks.
    pub pages: u64,
}

/// Lists ordinary tables (partitions included, partitioned parents excluded) that pass the filter,
/// in name order.
pub async fn captured_tables(
    client: &Client,
    filter: &TableFilter,
) -> Result<Vec<CapturedTable>, PostgresError> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, \
                    (pg_relation_size(c.oid) / current_setting('block_size')::int8)::int8 \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
             ORDER BY n.nspname, c.relname",
            &[],
        )
        .await
        .map_err(PostgresError::query("listing tables"))?;
    Ok(rows
        .iter()
        .map(|r| CapturedTable {
            oid: r.get(0),
            id: TableId::new(r.get::<_, String>(1), r.get::<_, String>(2)),
            pages: r.get::<_, i64>(3).max(0) as u64,
        })
        .filter(|t| filter.includes(&t.id))
        .collect())
}

/// The state of a replication slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotInfo {
    /// Output plugin (`pgoutput`).
    pub plugin: Option<String>,
    /// `logical` or `physical`.
    pub slot_type: String,
    /// Database the slot belongs to.
    pub database: Option<String>,
    /// Whether a process is streaming from it now.
    pub active_pid: Option<i32>,
    /// `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+).
    pub wal_status: Option<String>,
    /// The position up to which the consumer confirmed.
    pub confirmed_flush_lsn: Option<Lsn>,
    /// The oldest WAL the slot holds.
    pub restart_lsn: Option<Lsn>,
}

/// Reads a slot's state; `None` if no such slot exists.
pub async fn slot_info(client: &Client, slot: &str) -> Result<Option<SlotInfo>, PostgresError> {
    let has_wal_status = server_version(client).await? >= 130_000;
    let sql = if has_wal_status {
        "SELECT plugin::text, slot_type, database::text, active_pid, wal_status, \
                confirmed_flush_lsn::text, restart_lsn::text \
         FROM pg_replication_slots WHERE slot_name = $1"
    } else {
        "SELECT plugin::text, slot_type, database::text, active_pid, NULL::text, \
                confirmed_flush_lsn::text, restart_lsn::text \
         FROM pg_replication_slots WHERE slot_name = $1"
    };
    let row = client
        .query_opt(sql, &[&slot])
        .await
        .map_err(PostgresError::query(format!("reading replication slot '{slot}'")))?;
    let parse = |v: Option<String>| v.and_then(|s| s.parse::<Lsn>().ok());
    Ok(row.map(|r| SlotInfo {
        plugin: r.get(0),
        slot_type: r.get(1),
        database: r.get(2),
        active_pid: r.get(3),
        wal_status: r.get(4),
        confirmed_flush_lsn: parse(r.get(5)),
        restart_lsn: parse(r.get(6)),
    }))
}

async fn server_version(client: &Client) -> Result<u32, PostgresError> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .await
        .map_err(PostgresError::query("reading server_version_num"))?;
    Ok(row.get::<_, i32>(0) as u32)
}

/// The server's current WAL insert position.
pub async fn current_wal_lsn(client: &Client) -> Result<Lsn, PostgresError> {
    let row = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .map_err(PostgresError::query("reading pg_current_wal_lsn()"))?;
    let text: String = row.get(0);
    text.parse().map_err(|_| PostgresError::Protocol(format!("server returned an invalid LSN '{text}'")))
}

/// Quotes an SQL identifier (doubling embedded quotes).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal (doubling embedded quotes).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `"schema"."table"`.
pub fn qualified(table: &TableId) -> String {
    format!("{}.{}", quote_ident(&table.schema), quote_ident(&table.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(qualified(&TableId::new("Quoted\" . Schema", "t")), "\"Quoted\"\" . Schema\".\"t\"");
    }

    #[test]
    fn readiness_errors_are_named() {
        let mut info = ServerInfo {
            version_num: 150_000,
            wal_level: "replica".into(),
            can_replicate: true,
            is_superuser: false,
            user: "app".into(),
        };
        assert!(matches!(check_replication_ready(&info), Err(PostgresError::WalLevel { .. })));
        info.wal_level = "logical".into();
        info.can_replicate = false;
        let err = check_replication_ready(&info).unwrap_err();
        assert!(err.to_string().contains("ALTER ROLE app WITH REPLICATION"), "{err}");
        info.can_replicate = true;
        assert!(check_replication_ready(&info).is_ok());
    }
}
