//! Domain types shared by every sluice layer.
//!
//! Everything here is pure data: positions in the write-ahead log ([`Lsn`], [`Xid`]), the shape of a
//! captured table ([`TableSchema`], [`ColumnType`]), typed column values ([`Value`], with an explicit
//! [`Value::UnchangedToast`]), and the change events that flow from the Postgres reader to the
//! Debezium encoder and the Delta applier ([`ChangeEvent`], [`SourceEvent`]). The only runtime piece is
//! [`flow`], a channel bounded in bytes, because every stage needs the same backpressure primitive.

pub mod ack;
pub mod error;
pub mod event;
pub mod flow;
pub mod json;
pub mod lsn;
pub mod metrics;
pub mod properties;
pub mod secret;
pub mod table;
pub mod task;
pub mod time;
pub mod value;

pub use ack::Acknowledger;
pub use error::ErrorClass;
pub use event::{
    Change, ChangeEvent, Op, Origin, SnapshotMark, SourceEvent, SourcePosition, TxnBegin, TxnCommit,
};
pub use lsn::{Lsn, Xid};
pub use secret::Secret;
pub use table::{Column, ColumnType, ReplicaIdentity, TableId, TableSchema, TypeKind};
pub use value::{Date, Decimal, Numeric, Row, Timestamp, Value};
