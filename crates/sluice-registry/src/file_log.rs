//! The embedded registry's default storage: an append-only JSON-lines file.
//!
//! Each line is `{"key":<key json>,"value":<value json or null>}` with the Confluent `_schemas`
//! key and value (see [`crate::state`]). Appends are fsynced before they return. The file is held
//! under an exclusive advisory lock, so one process at a time writes it; several processes that
//! need one registry share a Kafka topic instead.
//!
//! Crash safety: a line is complete only with its trailing newline. A torn last line (a crash in
//! the middle of an append that therefore never returned) is ignored when reading and cut off
//! before the next append. A line that does not parse anywhere else means the file was damaged,
//! and is a definite error naming the file and the line.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::RegistryError;
use crate::log::{LogRecord, SchemaLog};

/// A [`SchemaLog`] in a local file.
#[derive(Debug)]
pub struct FileLog {
    path: PathBuf,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: File,
    /// End of the last complete line read (where the next append goes).
    offset: u64,
    /// 1-based number of the next line to read (for messages).
    next_line: u64,
    /// Records read but not yet returned by `catch_up`.
    pending: Vec<LogRecord>,
    /// Whether a torn tail was reported already.
    torn_reported: bool,
}

impl FileLog {
    /// Opens (creating if needed) and locks the registry file, and reads and validates it.
    pub fn open(path: impl AsRef<Path>) -> Result<FileLog, RegistryError> {
        let path = path.as_ref().to_path_buf();
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(
                |e| definite(format!("cannot open the schema registry file {}: {e}", path.display())),
            )?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(definite(format!(
                    "the schema registry file {} is locked by another process (another sluice using the same \
                     file?); stop it, or give this process its own file",
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(definite(format!(
                    "cannot lock the schema registry file {}: {e}",
                    path.display()
                )));
            }
        }
        if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
            sync_parent_dir(&path);
        }
        let mut inner = Inner {
            path: path.clone(),
            file,
            offset: 0,
            next_line: 1,
            pending: Vec::new(),
            torn_reported: false,
        };
        inner.read_new()?;
        Ok(FileLog { path, inner: Arc::new(Mutex::new(inner)) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Inner) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let inner = Arc::clone(&self.inner);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&inner))).await.map_err(|e| RegistryError::Log {
            message: format!("schema registry file {}: I/O task failed: {e}", path.display()),
            retryable: true,
        })?
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock cannot leave the file half-written in a way reading does not
    // handle, so a poisoned lock is still usable.
    inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes a newly created file's directory entry durable (best effort: not every platform allows
/// opening a directory).
fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn definite(message: String) -> RegistryError {
    RegistryError::Log { message, retryable: false }
}

impl Inner {
    fn io_error(&self, what: &str, e: std::io::Error) -> RegistryError {
        RegistryError::Log {
            message: format!("{what} the schema registry file {}: {e}", self.path.display()),
            retryable: true,
        }
    }

    /// Reads complete lines after `offset` into `pending`.
    fn read_new(&mut self) -> Result<(), RegistryError> {
        let mut buf = Vec::new();
        self.file.seek(SeekFrom::Start(self.offset)).map_err(|e| self.io_error("cannot seek in", e))?;
        (&self.file).read_to_end(&mut buf).map_err(|e| self.io_error("cannot read", e))?;
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = &buf[start..start + nl];
            if !line.iter().all(u8::is_ascii_whitespace) {
                let record = parse_line(line).map_err(|reason| {
                    definite(format!(
                        "the schema registry file {} is corrupt at line {}: {reason}; restore it from a backup \
                         (or remove that line if you know what it held)",
                        self.path.display(),
                        self.next_line
                    ))
                })?;
                self.pending.push(record);
            }
            self.next_line += 1;
            start += nl + 1;
        }
        self.offset += start as u64;
        if start < buf.len() && !self.torn_reported {
            self.torn_reported = true;
            tracing::warn!(
                file = %self.path.display(),
                line = self.next_line,
                bytes = buf.len() - start,
                "ignoring an incomplete last line of the schema registry file (an append interrupted by a \
                 crash); it is removed by the next write"
            );
        }
        Ok(())
    }

    fn append(&mut self, records: &[LogRecord]) -> Result<(), RegistryError> {
        let mut out = Vec::new();
        for r in records {
            out.extend_from_slice(&encode_line(r)?);
        }
        // Pick up anything not read yet, so the torn-tail check below sees the real end.
        self.read_new()?;
        let len = self.file.metadata().map_err(|e| self.io_error("cannot stat", e))?.len();
        if len > self.offset {
            self.file
                .set_len(self.offset)
                .map_err(|e| self.io_error("cannot truncate the torn tail of", e))?;
            self.torn_reported = false;
        }
        self.file.seek(SeekFrom::Start(self.offset)).map_err(|e| self.io_error("cannot seek in", e))?;
        if let Err(e) = self.file.write_all(&out).and_then(|()| self.file.sync_data()) {
            // Take back whatever part was written, so that no record of a failed append is ever
            // read; if even that fails, it is a torn tail that the next append cuts off.
            if self.file.set_len(self.offset).is_err() {
                tracing::warn!(file = %self.path.display(), "cannot remove a partly written append");
            }
            return Err(self.io_error("cannot write to", e));
        }
        Ok(())
    }
}

fn parse_line(line: &[u8]) -> Result<LogRecord, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut obj) = value else {
        return Err("not a JSON object".to_owned());
    };
    let key = obj.remove("key").ok_or("no \"key\"")?;
    if key.is_null() {
        return Err("\"key\" is null".to_owned());
    }
    let value = match obj.remove("value") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.to_string().into_bytes()),
    };
    Ok(LogRecord { key: key.to_string().into_bytes(), value })
}

fn encode_line(record: &LogRecord) -> Result<Vec<u8>, RegistryError> {
    let invalid = |what: &str, e: serde_json::Error| {
        definite(format!("refusing to write a schema registry record whose {what} is not JSON: {e}"))
    };
    let key: Value = serde_json::from_slice(&record.key).map_err(|e| invalid("key", e))?;
    let value: Value = match &record.value {
        Some(v) => serde_json::from_slice(v).map_err(|e| invalid("value", e))?,
        None => Value::Null,
    };
    let mut line = serde_json::json!({"key": key, "value": value}).to_string().into_bytes();
    line.push(b'\n');
    Ok(line)
}

impl SchemaLog for FileLog {
    fn append(&self, records: Vec<LogRecord>) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(self.blocking(move |inner| inner.append(&records)))
    }

    fn catch_up(&self) -> BoxFuture<'_, Result<Vec<LogRecord>, RegistryError>> {
        Box::pin(self.blocking(|inner| {
            inner.read_new()?;
            Ok(std::mem::take(&mut inner.pending))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u32) -> LogRecord {
        LogRecord {
            key: format!(r#"{{"keytype":"SCHEMA","subject":"s","version":{n},"magic":1}}"#).into_bytes(),
            value: Some(format!(r#"{{"id":{n},"schema":"\"int\""}}"#).into_bytes()),
        }
    }

    fn tombstone() -> LogRecord {
        LogRecord {
            key: br#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#.to_vec(),
            value: None,
        }
    }

    #[tokio::test]
    async fn appends_are_read_back_once_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.jsonl");
        let log = FileLog::open(&path).unwrap();
        assert!(log.catch_up().await.unwrap().is_empty());
        log.append(vec![rec(1), rec(2)]).await.unwrap();
        log.append(vec![tombstone()]).await.unwrap();
        assert_eq!(log.catch_up().await.unwrap(), vec![rec(1), rec(2), tombstone()]);
        assert!(log.catch_up().await.unwrap().is_empty());
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.starts_with(r#"{"key":{"keytype":"SCHEMA","subject":"s","version":1,"magic":1},"value":{"#)
        );
        assert!(text.ends_with("\"value\":null}\n"));
        let log = FileLog::open(&path).unwrap();
        assert_eq!(log.catch_up().await.unwrap(), vec![rec(1), rec(2), tombstone()]);
    }

    #[tokio::test]
    async fn a_second_open_of_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.jsonl");
        let _first = FileLog::open(&path).unwrap();
        let err = FileLog::open(&path).unwrap_err();
        assert!(err.to_string().contains("locked by another process"), "{err}");
        assert!(!err.class().is_retryable());
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored_and_cut_off_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.jsonl");
        {
            let log = FileLog::open(&path).unwrap();
            log.append(vec![rec(1)]).await.unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"key":{"keytype":"SCHEMA","subj"#).unwrap();
        drop(f);
        let log = FileLog::open(&path).unwrap();
        assert_eq!(log.catch_up().await.unwrap(), vec![rec(1)]);
        log.append(vec![rec(2)]).await.unwrap();
        assert_eq!(log.catch_up().await.unwrap(), vec![rec(2)]);
        drop(log);
        let log = FileLog::open(&path).unwrap();
        assert_eq!(log.catch_up().await.unwrap(), vec![rec(1), rec(2)]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[tokio::test]
    async fn a_corrupt_line_in_the_middle_is_a_definite_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.jsonl");
        {
            let log = FileLog::open(&path).unwrap();
            log.append(vec![rec(1)]).await.unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage\n").unwrap();
        f.write_all(&encode_line(&rec(2)).unwrap()).unwrap();
        drop(f);
        let err = FileLog::open(&path).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("registry.jsonl") && text.contains("line 2"), "{text}");
        assert!(!err.class().is_retryable());
        for bad in [&b"[1]\n"[..], b"{\"value\":null}\n", b"{\"key\":null}\n"] {
            std::fs::write(&path, bad).unwrap();
            assert!(FileLog::open(&path).is_err());
        }
    }

    #[tokio::test]
    async fn records_that_are_not_json_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path().join("r.jsonl")).unwrap();
        let bad = LogRecord { key: b"{".to_vec(), value: None };
        assert!(log.append(vec![bad]).await.is_err());
        // Pretty-printed JSON is stored on one line.
        let pretty = LogRecord { key: b"{\n \"keytype\": \"NOOP\"\n}".to_vec(), value: None };
        log.append(vec![pretty]).await.unwrap();
        assert_eq!(log.catch_up().await.unwrap()[0].key, br#"{"keytype":"NOOP"}"#.to_vec());
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let err = FileLog::open("/nonexistent-dir/registry.jsonl").unwrap_err();
        assert!(
            err.to_string().contains("cannot open the schema registry file /nonexistent-dir/registry.jsonl")
        );
    }
}
