//! Replication slots: find, validate, create, drop.
//!
//! A slot is the server-side cursor of a connector: it holds WAL until the connector confirms it.
//! Two failures must never be papered over: a slot that another process is reading (two readers
//! of one slot lose data silently), and a slot invalidated because its WAL was removed
//! (`wal_status = lost`): resuming from it would skip changes, so it is a named error, never a
//! silent new snapshot.

use std::time::Duration;

use sluice_core::Lsn;
use tokio_postgres::Client;

use crate::catalog::{SlotInfo, slot_info};
use crate::config::SlotConfig;
use crate::error::PostgresError;
use crate::replication::{ReplicationConnection, SlotSnapshot};

/// The slot the connector will stream from.
#[derive(Debug, Clone, PartialEq)]
pub enum PreparedSlot {
    /// Created now; with a snapshot name when one was exported.
    Created {
        /// The LSN from which the slot decodes, consistent with the exported snapshot.
        consistent_point: Lsn,
        /// The exported snapshot, valid until the creating connection runs another command.
        snapshot_name: Option<String>,
    },
    /// Already existed and is usable.
    Existing {
        /// The position the consumer last confirmed.
        confirmed_flush_lsn: Option<Lsn>,
    },
}

/// Checks that an existing slot can be used by this connector.
pub fn validate_slot(slot: &str, info: &SlotInfo, dbname: &str) -> Result<(), PostgresError> {
    if info.slot_type != "logical" {
        return Err(PostgresError::SlotMismatch {
            slot: slot.to_owned(),
            message: format!("it is a {} slot; logical replication needs a logical slot", info.slot_type),
        });
    }
    if info.plugin.as_deref() != Some("pgoutput") {
        return Err(PostgresError::SlotMismatch {
            slot: slot.to_owned(),
            message: format!(
                "it uses the output plugin '{}', but sluice decodes pgoutput: drop the slot or choose another slot.name",
                info.plugin.as_deref().unwrap_or("?")
            ),
        });
    }
    if info.database.as_deref() != Some(dbname) {
        return Err(PostgresError::SlotMismatch {
            slot: slot.to_owned(),
            message: format!(
                "it belongs to database '{}', not '{dbname}': slots are per database, choose another slot.name",
                info.database.as_deref().unwrap_or("?")
            ),
        });
    }
    if info.wal_status.as_deref() == Some("lost") {
        return Err(PostgresError::SlotLost { slot: slot.to_owned() });
    }
    Ok(())
}

/// Finds or creates the slot. An active slot is retried `slot.max.retries` times, `slot.retry.delay.ms`
/// apart, because the previous owner may be shutting down.
pub async fn prepare_slot(
    client: &Client,
    repl: &mut ReplicationConnection,
    config: &SlotConfig,
    dbname: &str,
    export_snapshot: bool,
) -> Result<PreparedSlot, PostgresError> {
    let mut attempt = 0;
    loop {
        match slot_info(client, &config.name).await? {
            Some(info) => {
                validate_slot(&config.name, &info, dbname)?;
                if let Some(pid) = info.active_pid {
                    if attempt < config.max_retries {
                        attempt += 1;
                        tracing::warn!(slot = %config.name, pid, attempt, "replication slot is active elsewhere, retrying");
                        tokio::time::sleep(config.retry_delay).await;
                        continue;
                    }
                    return Err(PostgresError::SlotActive { slot: config.name.clone(), pid });
                }
                return Ok(PreparedSlot::Existing { confirmed_flush_lsn: info.confirmed_flush_lsn });
            }
            None => {
                let mode = if export_snapshot { SlotSnapshot::Export } else { SlotSnapshot::NoExport };
                let created = repl.create_logical_slot(&config.name, "pgoutput", false, mode).await?;
                tracing::info!(slot = %config.name, consistent_point = %created.consistent_point, "created replication slot");
                return Ok(PreparedSlot::Created {
                    consistent_point: created.consistent_point,
                    snapshot_name: created.snapshot_name,
                });
            }
        }
    }
}

/// Drops the slot (for `slot.drop.on.stop`), waiting briefly for its last reader to let go.
pub async fn drop_slot(client: &Client, slot: &str) -> Result<(), PostgresError> {
    for _ in 0..50 {
        match slot_info(client, slot).await? {
            None => return Ok(()),
            Some(info) if info.active_pid.is_some() => tokio::time::sleep(Duration::from_millis(100)).await,
            Some(_) => {
                client
                    .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
                    .await
                    .map_err(PostgresError::query(format!("dropping replication slot '{slot}'")))?;
                tracing::info!(slot, "dropped replication slot");
                return Ok(());
            }
        }
    }
    Err(PostgresError::Precondition(format!(
        "replication slot '{slot}' stayed active; it was not dropped (drop it with pg_drop_replication_slot)"
    )))
}

/// Maps the server's slot errors on START_REPLICATION to sluice's named errors.
pub fn classify_start_error(slot: &str, err: PostgresError) -> PostgresError {
    if let PostgresError::Server { error, .. } = &err {
        if error.code == "55006" {
            let pid = error
                .message
                .rsplit(' ')
                .next()
                .and_then(|p| p.trim_end_matches('.').parse().ok())
                .unwrap_or(0);
            return PostgresError::SlotActive { slot: slot.to_owned(), pid };
        }
        if error.message.contains("can no longer get changes from replication slot")
            || error.message.contains("has been invalidated")
        {
            return PostgresError::SlotLost { slot: slot.to_owned() };
        }
        if error.code == "42501" {
            return PostgresError::NoReplicationPrivilege { user: String::new() };
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> SlotInfo {
        SlotInfo {
            plugin: Some("pgoutput".into()),
            slot_type: "logical".into(),
            database: Some("shop".into()),
            active_pid: None,
            wal_status: Some("reserved".into()),
            confirmed_flush_lsn: None,
            restart_lsn: None,
        }
    }

    #[test]
    fn a_lost_slot_is_a_named_failure() {
        let mut i = info();
        i.wal_status = Some("lost".into());
        let err = validate_slot("s", &i, "shop").unwrap_err();
        assert!(matches!(err, PostgresError::SlotLost { .. }));
        assert!(err.to_string().contains("wal_status = lost"), "{err}");
    }

    #[test]
    fn foreign_slots_are_refused() {
        let mut i = info();
        i.plugin = Some("wal2json".into());
        assert!(validate_slot("s", &i, "shop").is_err());
        let mut i = info();
        i.database = Some("other".into());
        assert!(validate_slot("s", &i, "shop").unwrap_err().to_string().contains("'other'"));
        assert!(validate_slot("s", &info(), "shop").is_ok());
    }
}
