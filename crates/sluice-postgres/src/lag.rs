//! How far a connector's replication slot is behind the server, for admin endpoints.
//!
//! The slot is the source-side truth about lag: the server keeps WAL from its `restart_lsn` on
//! (disk that grows while the connector is behind or down), and the connector has confirmed
//! everything up to its `confirmed_flush_lsn`. Reading them takes an ordinary connection, opened
//! per request with the connector's own endpoint (TLS, authentication) but short time limits, so
//! an admin request answers within seconds even when the server is unreachable or overloaded.

use std::time::Duration;

use serde::Serializer;
use sluice_core::Lsn;
use tokio_postgres::Client;

use crate::catalog::{SlotInfo, slot_info};
use crate::config::PostgresSourceConfig;
use crate::error::PostgresError;
use crate::replication::connect_sql;

/// Limit for connecting, and separately for each statement (`statement_timeout`).
pub const LAG_TIMEOUT: Duration = Duration::from_secs(5);

/// A replication slot's position against the server's WAL. LSNs serialize as PostgreSQL prints
/// them (`16/B374D848`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlotLag {
    /// `slot.name`.
    pub slot_name: String,
    /// Whether the slot exists (the other slot fields are empty when not).
    pub exists: bool,
    /// Whether a process is streaming from it now.
    pub active: bool,
    /// The oldest WAL the slot holds.
    #[serde(serialize_with = "optional_lsn")]
    pub restart_lsn: Option<Lsn>,
    /// The position up to which the connector confirmed.
    #[serde(serialize_with = "optional_lsn")]
    pub confirmed_flush_lsn: Option<Lsn>,
    /// `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+).
    pub wal_status: Option<String>,
    /// The server's WAL position: `pg_current_wal_lsn()`, or on a standby the last WAL received
    /// (or replayed).
    #[serde(serialize_with = "lsn")]
    pub current_lsn: Lsn,
    /// WAL written since the connector's last confirmation: `current_lsn - confirmed_flush_lsn`.
    pub lag_bytes: Option<u64>,
    /// WAL the server keeps for the slot: `current_lsn - restart_lsn`.
    pub retained_bytes: Option<u64>,
}

impl SlotLag {
    /// The lag of slot `slot_name` (`None`: no such slot) at server position `current_lsn`.
    pub fn new(slot_name: &str, slot: Option<SlotInfo>, current_lsn: Lsn) -> SlotLag {
        let behind = |lsn: Option<Lsn>| {
            lsn.filter(|l| !l.is_invalid() && !current_lsn.is_invalid())
                .map(|l| current_lsn.0.saturating_sub(l.0))
        };
        let (exists, active, restart_lsn, confirmed_flush_lsn, wal_status) = match slot {
            Some(s) => (true, s.active_pid.is_some(), s.restart_lsn, s.confirmed_flush_lsn, s.wal_status),
            None => (false, false, None, None, None),
        };
        SlotLag {
            slot_name: slot_name.to_owned(),
            exists,
            active,
            restart_lsn,
            confirmed_flush_lsn,
            wal_status,
            current_lsn,
            lag_bytes: behind(confirmed_flush_lsn),
            retained_bytes: behind(restart_lsn),
        }
    }
}

/// Reads the lag of the connector's slot (`slot.name`) over a new ordinary connection, which is
/// closed again before returning. Fails with a retryable [`PostgresError::Io`] when the server
/// does not answer within about [`LAG_TIMEOUT`].
pub async fn slot_lag(config: &PostgresSourceConfig) -> Result<SlotLag, PostgresError> {
    let mut endpoint = config.endpoint.clone();
    if endpoint.connect_timeout.is_zero() || endpoint.connect_timeout > LAG_TIMEOUT {
        endpoint.connect_timeout = LAG_TIMEOUT;
    }
    endpoint.options.push(("statement_timeout".into(), LAG_TIMEOUT.as_millis().to_string()));
    let address = endpoint.address();
    let read = async {
        let client = connect_sql(&endpoint).await?;
        read_slot_lag(&client, &config.slot.name).await
    };
    // Connect and every statement are limited already; this bounds the sum (and
    // `database.initial.statements`, which run first).
    tokio::time::timeout(LAG_TIMEOUT * 3, read).await.unwrap_or_else(|_| {
        Err(PostgresError::Io {
            endpoint: address,
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("reading the replication slot's lag took longer than {:?}", LAG_TIMEOUT * 3),
            ),
        })
    })
}

async fn read_slot_lag(client: &Client, slot: &str) -> Result<SlotLag, PostgresError> {
    let info = slot_info(client, slot).await?;
    // After the slot, so that the current position is never behind what the slot confirmed.
    let row = client
        .query_one(
            "SELECT (CASE WHEN pg_is_in_recovery() \
                     THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) \
                     ELSE pg_current_wal_lsn() END)::text",
            &[],
        )
        .await
        .map_err(PostgresError::query("reading the server's WAL position"))?;
    let current = match row.get::<_, Option<String>>(0) {
        Some(text) => text
            .parse()
            .map_err(|_| PostgresError::Protocol(format!("server returned an invalid LSN '{text}'")))?,
        // A standby that has neither received nor replayed WAL yet.
        None => Lsn::INVALID,
    };
    Ok(SlotLag::new(slot, info, current))
}

fn lsn<S: Serializer>(lsn: &Lsn, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(lsn)
}

fn optional_lsn<S: Serializer>(lsn: &Option<Lsn>, serializer: S) -> Result<S::Ok, S::Error> {
    match lsn {
        Some(l) => serializer.collect_str(l),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(restart: u64, confirmed: u64, active: bool) -> SlotInfo {
        SlotInfo {
            plugin: Some("pgoutput".into()),
            slot_type: "logical".into(),
            database: Some("db".into()),
            active_pid: active.then_some(42),
            wal_status: Some("reserved".into()),
            confirmed_flush_lsn: Some(Lsn(confirmed)),
            restart_lsn: Some(Lsn(restart)),
        }
    }

    #[test]
    fn lag_and_retention_are_measured_from_the_current_position() {
        let lag = SlotLag::new("s", Some(slot(0x100, 0x180, true)), Lsn(0x200));
        assert!(lag.exists && lag.active);
        assert_eq!((lag.lag_bytes, lag.retained_bytes), (Some(0x80), Some(0x100)));
        // A position ahead of the server's (a standby lagging its primary) is no lag, not a wrap.
        let ahead = SlotLag::new("s", Some(slot(0x100, 0x300, false)), Lsn(0x200));
        assert_eq!(ahead.lag_bytes, Some(0));
        assert!(!ahead.active);
    }

    #[test]
    fn a_missing_slot_or_position_has_no_lag() {
        let missing = SlotLag::new("s", None, Lsn(0x200));
        assert!(!missing.exists && !missing.active);
        assert_eq!((missing.lag_bytes, missing.retained_bytes, missing.wal_status), (None, None, None));
        let unknown = SlotLag::new("s", Some(slot(0x100, 0x180, false)), Lsn::INVALID);
        assert_eq!((unknown.lag_bytes, unknown.retained_bytes), (None, None));
    }

    #[test]
    fn lsns_serialize_as_postgres_prints_them() {
        let lag = SlotLag::new("s", Some(slot(0x1_0000_0100, 0x1_0000_0180, false)), Lsn(0x1_0000_0200));
        let json = serde_json::to_value(&lag).unwrap();
        assert_eq!(json["restart_lsn"], "1/100");
        assert_eq!(json["confirmed_flush_lsn"], "1/180");
        assert_eq!(json["current_lsn"], "1/200");
        assert_eq!(json["lag_bytes"], 0x80);
        let missing = serde_json::to_value(SlotLag::new("s", None, Lsn(1))).unwrap();
        assert!(missing["confirmed_flush_lsn"].is_null());
    }
}
