//! The Delta Lake side of sluice: Debezium change records applied to Delta tables.
//!
//! ```text
//! Debezium records ─► batch: per table, collapsed to the last change per key by (commit LSN, seq);
//!                            truncates, key changes, unchanged-TOAST placeholders resolved
//!                  ─► mapping: Connect schema → Delta-compatible Arrow schema (+ metadata columns)
//!                  ─► table: one Delta commit per batch (append, MERGE, or overwrite after a
//!                            truncate), carrying txn(appId, version) for exactly-once replays
//! ```
//!
//! Pure except for [`table`], which reads and writes Delta tables through delta-rs.

pub mod batch;
mod column;
pub mod destination;
pub mod direct;
pub mod error;
pub mod maintenance;
pub mod mapping;
pub mod query;
mod rewrite;
pub mod sink;
pub mod table;
mod toast;

pub use batch::{ChangeBatch, ChangeCollapser, ChangePosition, CollapseOptions, TableChanges, collapse};
pub use error::DeltaError;
pub use maintenance::{Due, MaintenanceConfig, MaintenanceReport, MaintenanceSchedule, maintain};
pub use mapping::TableMapping;
pub use table::{AppTxn, Applied, ApplyPath, TableWriter};
