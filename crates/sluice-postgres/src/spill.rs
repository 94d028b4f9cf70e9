//! Spill files for streamed in-progress transactions (pgoutput protocol 2+).
//!
//! With `streaming on`, the server sends a transaction larger than `logical_decoding_work_mem` in
//! chunks before it commits, interleaved with other transactions, and may abort it (or some of its
//! subtransactions) later. Events must leave the reader in commit order with each transaction
//! contiguous, and memory must not grow with a transaction, so each chunk's raw pgoutput messages
//! are appended to a file per top-level transaction and replayed through the ordinary decoder when
//! the Stream Commit arrives. Aborted subtransactions are remembered and skipped on replay.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sluice_core::{Lsn, Xid};

use crate::error::PostgresError;

/// One top-level transaction's spilled messages.
#[derive(Debug)]
struct SpillFile {
    path: PathBuf,
    writer: BufWriter<File>,
    aborted_subxacts: HashSet<u32>,
    messages: u64,
    first_lsn: Lsn,
}

/// The spill files of all streamed transactions in progress.
#[derive(Debug)]
pub struct SpillStore {
    dir: tempfile::TempDir,
    files: HashMap<u32, SpillFile>,
}

impl SpillStore {
    /// Creates a private directory for spill files under `parent` (or the system temp dir).
    pub fn new(parent: Option<&Path>) -> Result<Self, PostgresError> {
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("sluice-spill-");
            b
        };
        let dir = match parent {
            Some(p) => {
                std::fs::create_dir_all(p).map_err(PostgresError::Spill)?;
                builder.tempdir_in(p)
            }
            None => builder.tempdir(),
        }
        .map_err(PostgresError::Spill)?;
        Ok(SpillStore { dir, files: HashMap::new() })
    }

    /// Appends one raw pgoutput message of transaction `xid`, with the WAL position it came at.
    pub fn append(&mut self, xid: Xid, wal_start: Lsn, message: &[u8]) -> Result<(), PostgresError> {
        let file = match self.files.get_mut(&xid.0) {
            Some(f) => f,
            None => {
                let path = self.dir.path().join(format!("{}.spill", xid.0));
                let f = File::create(&path).map_err(PostgresError::Spill)?;
                self.files.entry(xid.0).or_insert(SpillFile {
                    path,
                    writer: BufWriter::with_capacity(256 * 1024, f),
                    aborted_subxacts: HashSet::new(),
                    messages: 0,
                    first_lsn: wal_start,
                })
            }
        };
        let len = u32::try_from(message.len())
            .map_err(|_| PostgresError::Protocol("a pgoutput message larger than 4 GiB".into()))?;
        file.writer.write_all(&wal_start.0.to_be_bytes()).map_err(PostgresError::Spill)?;
        file.writer.write_all(&len.to_be_bytes()).map_err(PostgresError::Spill)?;
        file.writer.write_all(message).map_err(PostgresError::Spill)?;
        file.messages += 1;
        Ok(())
    }

    /// Records a Stream Abort: the whole transaction when `subxid == xid`, else one subtransaction.
    pub fn abort(&mut self, xid: Xid, subxid: Xid) {
        if xid == subxid {
            if let Some(f) = self.files.remove(&xid.0) {
                drop(f.writer);
                let _ = std::fs::remove_file(&f.path);
            }
        } else if let Some(f) = self.files.get_mut(&xid.0) {
            f.aborted_subxacts.insert(subxid.0);
        }
    }

    /// Takes a committed transaction's spill for replay; `None` if nothing was spilled for it.
    pub fn take(&mut self, xid: Xid) -> Result<Option<SpillReplay>, PostgresError> {
        let Some(mut f) = self.files.remove(&xid.0) else { return Ok(None) };
        f.writer.flush().map_err(PostgresError::Spill)?;
        drop(f.writer);
        let reader = File::open(&f.path).map_err(PostgresError::Spill)?;
        Ok(Some(SpillReplay {
            path: f.path,
            reader: BufReader::with_capacity(256 * 1024, reader),
            aborted_subxacts: f.aborted_subxacts,
            buf: Vec::new(),
            first_lsn: f.first_lsn,
        }))
    }

    /// Number of transactions currently spilled.
    pub fn open_transactions(&self) -> usize {
        self.files.len()
    }
}

/// Reads a committed transaction's messages back in order; removes the file when dropped.
#[derive(Debug)]
pub struct SpillReplay {
    path: PathBuf,
    reader: BufReader<File>,
    aborted_subxacts: HashSet<u32>,
    buf: Vec<u8>,
    first_lsn: Lsn,
}

impl SpillReplay {
    /// The next message and its WAL position, or `None` at the end. The slice is valid until the
    /// next call.
    pub fn next_message(&mut self) -> Result<Option<(Lsn, &[u8])>, PostgresError> {
        let mut head = [0u8; 12];
        match self.reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(PostgresError::Spill(e)),
        }
        let (lsn, len) = head.split_at(8);
        let lsn = Lsn(u64::from_be_bytes(lsn.try_into().unwrap_or_default()));
        let len = u32::from_be_bytes(len.try_into().unwrap_or_default()) as usize;
        self.buf.resize(len, 0);
        self.reader.read_exact(&mut self.buf).map_err(PostgresError::Spill)?;
        Ok(Some((lsn, &self.buf)))
    }

    /// The WAL position of the first spilled message (the transaction's first record we saw).
    pub fn first_lsn(&self) -> Option<Lsn> {
        (!self.first_lsn.is_invalid()).then_some(self.first_lsn)
    }

    /// True if changes of this (sub)transaction were rolled back and must be skipped.
    pub fn is_aborted(&self, xid: Xid) -> bool {
        self.aborted_subxacts.contains(&xid.0)
    }

    /// The rolled-back subtransactions, to check while messages are borrowed from the replay.
    pub fn aborted_subxacts(&self) -> HashSet<u32> {
        self.aborted_subxacts.clone()
    }
}

impl Drop for SpillReplay {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_messages_replay_in_order_and_files_are_removed() {
        let mut store = SpillStore::new(None).unwrap();
        store.append(Xid(7), Lsn(10), b"first").unwrap();
        store.append(Xid(8), Lsn(11), b"other").unwrap();
        store.append(Xid(7), Lsn(12), b"").unwrap();
        store.abort(Xid(7), Xid(9));
        let mut replay = store.take(Xid(7)).unwrap().unwrap();
        assert!(replay.is_aborted(Xid(9)));
        assert_eq!(
            replay.next_message().unwrap().map(|(l, m)| (l, m.to_vec())),
            Some((Lsn(10), b"first".to_vec()))
        );
        assert_eq!(replay.next_message().unwrap().map(|(l, m)| (l, m.to_vec())), Some((Lsn(12), vec![])));
        assert!(replay.next_message().unwrap().is_none());
        let path = replay.path.clone();
        drop(replay);
        assert!(!path.exists());
        store.abort(Xid(8), Xid(8));
        assert_eq!(store.open_transactions(), 0);
        assert!(store.take(Xid(8)).unwrap().is_none());
    }
}
