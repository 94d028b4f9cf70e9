//! Position files: the direct path's (and `sluice stream`'s) source position between runs.
//!
//! PostgreSQL's slot remembers the confirmed LSN; the file adds what the slot cannot know: whether
//! the initial snapshot completed. Written atomically (temporary file, fsync, rename), so a crash
//! leaves the old or the new position, never a torn one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_core::Lsn;
use sluice_postgres::reader::StoredOffset;

use crate::error::ConnectError;

#[derive(Debug, Serialize, Deserialize)]
struct PositionJson {
    lsn: String,
    snapshot_completed: bool,
}

/// One position file.
#[derive(Debug, Clone)]
pub struct PositionFile {
    path: PathBuf,
}

impl PositionFile {
    /// A position file at `path` (its directory is created on the first write).
    pub fn new(path: &Path) -> Self {
        PositionFile { path: path.to_owned() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored position, if any.
    pub fn load(&self) -> Result<Option<StoredOffset>, ConnectError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ConnectError::Store(format!("reading {}: {e}", self.path.display()))),
        };
        let bad = |why: String| ConnectError::Store(format!("position file {}: {why}", self.path.display()));
        let file: PositionJson = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let lsn: Lsn = file.lsn.parse().map_err(|e| bad(format!("{e}")))?;
        Ok(Some(StoredOffset { lsn, snapshot_completed: file.snapshot_completed }))
    }

    /// Replaces the stored position, durably.
    pub fn save(&self, offset: StoredOffset) -> Result<(), ConnectError> {
        use std::io::Write as _;
        let io = |e: std::io::Error| ConnectError::Store(format!("writing {}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec(&PositionJson {
            lsn: offset.lsn.to_string(),
            snapshot_completed: offset.snapshot_completed,
        })
        .map_err(|e| ConnectError::Internal(e.to_string()))?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&body).and_then(|()| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }

    /// Deletes the stored position (the next start begins from the slot, with a snapshot if the
    /// connector's `snapshot.mode` asks for one).
    pub fn remove(&self) -> Result<(), ConnectError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ConnectError::Store(format!("removing {}: {e}", self.path.display()))),
        }
    }
}

impl sluice_delta::direct::PositionStore for PositionFile {
    fn load(&self) -> Result<Option<StoredOffset>, sluice_delta::DeltaError> {
        PositionFile::load(self).map_err(|e| sluice_delta::DeltaError::Position(e.to_string()))
    }

    fn save(&self, offset: StoredOffset) -> Result<(), sluice_delta::DeltaError> {
        PositionFile::save(self, offset).map_err(|e| sluice_delta::DeltaError::Position(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionFile::new(&dir.path().join("sub/offsets.json"));
        assert!(store.load().unwrap().is_none());
        let o = StoredOffset { lsn: Lsn(0x16_B374_D848), snapshot_completed: true };
        store.save(o).unwrap();
        assert_eq!(store.load().unwrap(), Some(o));
        store.remove().unwrap();
        store.remove().unwrap();
        assert!(store.load().unwrap().is_none());
    }
}
