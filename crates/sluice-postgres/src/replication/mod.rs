//! The streaming replication protocol client, and the TLS setup shared with ordinary connections.
//!
//! The released tokio-postgres cannot enter CopyBoth mode, so [`ReplicationConnection`] speaks
//! the frontend/backend protocol itself on tokio, using `postgres-protocol` for message encoding
//! and parsing and for the md5 and SCRAM computations. [`connect_sql`] opens ordinary
//! tokio-postgres sessions with the same [`Endpoint`], TLS policy ([`SslMode`], libpq's
//! semantics, over rustls) and [`SESSION_SETTINGS`].
//!
//! ```text
//! ReplicationConnection::connect ─► simple_query / identify_system / create_logical_slot / drop_slot
//!        │ start_logical_replication (consumes the connection)
//!        ▼
//! ReplicationStream::next_frame ─► ReplicationFrame::{XLogData, Keepalive}
//!                  send_status_update ◄── positions durably processed downstream
//!                  finish
//! ```

mod auth;
mod connection;
mod endpoint;
mod sql;
mod stream;
mod tls;
mod wire;

pub use connection::{CreatedSlot, IdentifySystem, ReplicationConnection, SlotSnapshot};
pub use endpoint::{Endpoint, ParseSslModeError, SESSION_SETTINGS, SslMode, split_initial_statements};
pub use sql::connect_sql;
pub use stream::{ReplicationFrame, ReplicationStream};
pub use tls::{RustlsConnect, RustlsConnector, RustlsStream};
