//! The stdout pipeline's offset file: the last confirmed LSN and whether the snapshot finished.
//!
//! Written atomically (temporary file, fsync, rename) so a crash leaves either the old or the new
//! offset, never a torn one. PostgreSQL's slot also remembers the confirmed position; the file adds
//! what the slot cannot know: whether the initial snapshot completed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sluice_core::Lsn;
use sluice_postgres::reader::StoredOffset;

#[derive(Debug, Serialize, Deserialize)]
struct OffsetFile {
    lsn: String,
    snapshot_completed: bool,
}

/// Reads and writes one offset file.
#[derive(Debug)]
pub(crate) struct OffsetStore {
    path: PathBuf,
}

impl OffsetStore {
    /// An offset store at `path` (its directory is created on first write).
    pub(crate) fn new(path: &Path) -> Self {
        OffsetStore { path: path.to_owned() }
    }

    /// The stored offset, if any.
    pub(crate) fn load(&self) -> Result<Option<StoredOffset>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let file: OffsetFile =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", self.path.display()))?;
        let lsn: Lsn = file.lsn.parse().with_context(|| format!("offset file {}", self.path.display()))?;
        Ok(Some(StoredOffset { lsn, snapshot_completed: file.snapshot_completed }))
    }

    /// Replaces the stored offset.
    pub(crate) fn save(&self, offset: StoredOffset) -> Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec(&OffsetFile {
            lsn: offset.lsn.to_string(),
            snapshot_completed: offset.snapshot_completed,
        })?;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path).with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(())
    }
}

/// The direct Delta pipeline keeps its source position in the same kind of file.
impl sluice_delta::direct::PositionStore for OffsetStore {
    fn load(&self) -> Result<Option<StoredOffset>, sluice_delta::DeltaError> {
        OffsetStore::load(self).map_err(|e| sluice_delta::DeltaError::Position(format!("{e:#}")))
    }

    fn save(&self, offset: StoredOffset) -> Result<(), sluice_delta::DeltaError> {
        OffsetStore::save(self, offset).map_err(|e| sluice_delta::DeltaError::Position(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = OffsetStore::new(&dir.path().join("sub/offsets.json"));
        assert!(store.load().unwrap().is_none());
        let o = StoredOffset { lsn: Lsn(0x16_B374_D848), snapshot_completed: true };
        store.save(o).unwrap();
        assert_eq!(store.load().unwrap(), Some(o));
    }
}
