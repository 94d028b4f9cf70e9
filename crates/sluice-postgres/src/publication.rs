//! Publications, managed per `publication.autocreate.mode`.
//!
//! A publication decides which tables' changes pgoutput sends at all. sluice also filters events
//! by the include/exclude lists, so with `all_tables` the publication may carry more than is
//! captured; `filtered` keeps the publication itself exactly equal to the captured tables.

use std::collections::BTreeSet;

use sluice_core::TableId;
use tokio_postgres::Client;

use crate::catalog::{CapturedTable, qualified, quote_ident};
use crate::config::{AutocreateMode, PublicationConfig};
use crate::error::PostgresError;

/// What [`ensure_publication`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicationAction {
    /// The publication existed and was left as it was.
    Kept,
    /// It was created.
    Created,
    /// Its table list was replaced to match the captured tables.
    Altered,
}

/// Makes sure the publication exists (and, in `filtered` mode, publishes exactly `tables`).
pub async fn ensure_publication(
    client: &Client,
    config: &PublicationConfig,
    tables: &[CapturedTable],
    server_version: u32,
) -> Result<PublicationAction, PostgresError> {
    let name = &config.name;
    let existing = client
        .query_opt("SELECT puballtables FROM pg_publication WHERE pubname = $1", &[name])
        .await
        .map_err(PostgresError::query(format!("looking up publication '{name}'")))?;
    let with = if config.via_partition_root && server_version >= 130_000 {
        " WITH (publish_via_partition_root = true)"
    } else {
        ""
    };
    let table_list = || tables.iter().map(|t| qualified(&t.id)).collect::<Vec<_>>().join(", ");
    let create = |sql: String| async move {
        client.batch_execute(&sql).await.map_err(|e| {
            let hint = if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
                " (creating a publication FOR ALL TABLES needs a superuser: create the publication \
                 yourself, or use publication.autocreate.mode=filtered with a user that owns the tables)"
            } else {
                ""
            };
            PostgresError::query(format!("creating publication '{name}'{hint}"))(e)
        })
    };
    match (existing, config.autocreate) {
        (Some(_), AutocreateMode::AllTables | AutocreateMode::NoTables | AutocreateMode::Disabled) => {
            Ok(PublicationAction::Kept)
        }
        (None, AutocreateMode::Disabled) => Err(PostgresError::Precondition(format!(
            "publication '{name}' does not exist and publication.autocreate.mode is 'disabled': create it \
             (CREATE PUBLICATION {} FOR TABLE ...) or choose another publication.autocreate.mode",
            quote_ident(name)
        ))),
        (None, AutocreateMode::AllTables) => {
            create(format!("CREATE PUBLICATION {} FOR ALL TABLES{with}", quote_ident(name))).await?;
            Ok(PublicationAction::Created)
        }
        (None, AutocreateMode::NoTables) => {
            create(format!("CREATE PUBLICATION {}{with}", quote_ident(name))).await?;
            Ok(PublicationAction::Created)
        }
        (None, AutocreateMode::Filtered) => {
            let sql = if tables.is_empty() {
                format!("CREATE PUBLICATION {}{with}", quote_ident(name))
            } else {
                format!("CREATE PUBLICATION {} FOR TABLE {}{with}", quote_ident(name), table_list())
            };
            create(sql).await?;
            Ok(PublicationAction::Created)
        }
        (Some(row), AutocreateMode::Filtered) => {
            if row.get::<_, bool>(0) {
                return Err(PostgresError::Precondition(format!(
                    "publication '{name}' publishes ALL TABLES, which publication.autocreate.mode=filtered \
                     cannot narrow: drop it, or use publication.autocreate.mode=all_tables"
                )));
            }
            let current = published_tables(client, name).await?;
            let wanted: BTreeSet<TableId> = tables.iter().map(|t| t.id.clone()).collect();
            if current == wanted {
                return Ok(PublicationAction::Kept);
            }
            let sql = if tables.is_empty() {
                // SET TABLE needs at least one table; drop the current ones instead.
                let drop: Vec<String> = current.iter().map(qualified).collect();
                format!("ALTER PUBLICATION {} DROP TABLE {}", quote_ident(name), drop.join(", "))
            } else {
                format!("ALTER PUBLICATION {} SET TABLE {}", quote_ident(name), table_list())
            };
            client
                .batch_execute(&sql)
                .await
                .map_err(PostgresError::query(format!("updating the tables of publication '{name}'")))?;
            Ok(PublicationAction::Altered)
        }
    }
}

/// The tables a publication currently publishes.
pub async fn published_tables(
    client: &Client,
    publication: &str,
) -> Result<BTreeSet<TableId>, PostgresError> {
    let rows = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(PostgresError::query(format!("listing the tables of publication '{publication}'")))?;
    Ok(rows.iter().map(|r| TableId::new(r.get::<_, String>(0), r.get::<_, String>(1))).collect())
}
