//! Downstream acknowledgements of source positions.
//!
//! The source may tell PostgreSQL that WAL is flushed only once everything up to that position is
//! durable downstream (delivered to Kafka with acks=all, or committed to Delta). The stage that
//! makes events durable calls [`Acknowledger::confirm`]; the reader reads
//! [`Acknowledger::confirmed`] when it sends standby status updates. Positions only move forward.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::lsn::Lsn;

/// A shared, monotonic "durable up to here" position.
#[derive(Debug, Clone, Default)]
pub struct Acknowledger {
    confirmed: Arc<AtomicU64>,
}

impl Acknowledger {
    /// Nothing confirmed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything before `lsn` (a commit's end LSN, or a `Progress` position) is durable.
    /// Lower positions than one already confirmed are ignored.
    pub fn confirm(&self, lsn: Lsn) {
        self.confirmed.fetch_max(lsn.0, Ordering::AcqRel);
    }

    /// The highest confirmed position (`0/0` if none).
    pub fn confirmed(&self) -> Lsn {
        Lsn(self.confirmed.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations_only_move_forward() {
        let a = Acknowledger::new();
        let b = a.clone();
        a.confirm(Lsn(100));
        b.confirm(Lsn(50));
        assert_eq!(a.confirmed(), Lsn(100));
        b.confirm(Lsn(150));
        assert_eq!(a.confirmed(), Lsn(150));
    }
}
