//! Execution records, written ahead to a local journal and moved to the database in
//! batches.
//!
//! A record is appended to a journal file in the data directory (one JSON line, one
//! `write`) before the reply that reports it: that is what "recorded" means, and it
//! survives a crash of warden (even `kill -9`), as a committed SQLite WAL transaction
//! does. A background task then inserts whatever has gathered into the database in one
//! transaction. Reads of the records flush first, so a client that has its reply always
//! finds its record.
//!
//! Two journal files take turns: a flush makes the other file the one appended to, and
//! truncates the first once everything it held is committed. Whatever the files hold at
//! start-up (a crash before the move) is inserted again; the insert ignores records it
//! already has, so a crash between commit and truncation duplicates nothing.
//!
//! Without a journal directory (tests of the engine alone) each record is inserted
//! directly before the reply.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use warden_store::{ExecutionRecord, Store, StoreError};

/// The journal files, taking turns.
const FILES: [&str; 2] = ["records-a.jsonl", "records-b.jsonl"];

/// How long the flusher lets records gather after the first one arrives.
const GATHER: Duration = Duration::from_millis(100);

/// Most records one transaction inserts.
const MAX_BATCH: usize = 1000;

/// Records waiting for the database beyond which new executions are refused (the
/// database has been unreachable for a long time).
const MAX_PENDING: usize = 200_000;

/// The wait before retrying a flush the database refused.
const RETRY: Duration = Duration::from_secs(1);

/// Where executions write their records.
pub struct RecordWriter {
    store: Arc<dyn Store>,
    journal: Option<Mutex<Journal>>,
    /// One flush at a time (the background one or a reader's).
    flushing: tokio::sync::Mutex<()>,
    wake: Arc<Notify>,
}

struct Journal {
    dir: PathBuf,
    /// Which of [`FILES`] is appended to.
    active: usize,
    file: File,
    /// Records in the journal not yet taken by a flush, oldest first.
    pending: Vec<ExecutionRecord>,
}

fn journal_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Invalid(format!(
        "cannot {what} the records journal {}: {e}",
        path.display()
    ))
}

fn open_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| journal_err("open", path, e))
}

/// The records a journal file holds; a torn last line (a crash mid-write) and any line
/// that does not parse are skipped with a warning.
fn read_journal(path: &Path) -> Result<Vec<ExecutionRecord>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(journal_err("read", path, e)),
    };
    let mut records = Vec::new();
    for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| journal_err("read", path, e))?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(r) => records.push(r),
            Err(e) => eprintln!("warden: skipping line {} of {}: {e}", n + 1, path.display()),
        }
    }
    Ok(records)
}

/// Ends a line a crash cut short, so that the next record appended to the file starts a
/// line of its own.
fn end_torn_line(path: &Path) -> Result<(), StoreError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match OpenOptions::new().read(true).append(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(journal_err("open", path, e)),
    };
    let mut last = [0u8; 1];
    let torn = file
        .seek(SeekFrom::End(-1))
        .and_then(|_| file.read_exact(&mut last))
        .is_ok_and(|()| last[0] != b'\n');
    if torn {
        file.write_all(b"\n")
            .map_err(|e| journal_err("repair", path, e))?;
    }
    Ok(())
}

impl RecordWriter {
    /// Writes straight to the store, no journal.
    pub fn direct(store: Arc<dyn Store>) -> RecordWriter {
        RecordWriter {
            store,
            journal: None,
            flushing: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Opens (creating) the journal in `dir`; records an earlier run left there are
    /// pending, for the first flush. Call [`RecordWriter::spawn_flusher`] next.
    pub fn open(store: Arc<dyn Store>, dir: &Path) -> Result<RecordWriter, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| journal_err("create", dir, e))?;
        let mut pending = Vec::new();
        for name in FILES {
            let path = dir.join(name);
            pending.extend(read_journal(&path)?);
            end_torn_line(&path)?;
        }
        let file = open_append(&dir.join(FILES[0]))?;
        Ok(RecordWriter {
            store,
            journal: Some(Mutex::new(Journal {
                dir: dir.to_path_buf(),
                active: 0,
                file,
                pending,
            })),
            flushing: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Starts the task that moves journalled records to the database (needs a tokio
    /// runtime). It stops when the writer is dropped.
    pub fn spawn_flusher(self: &Arc<Self>) {
        if self.journal.is_none() {
            return;
        }
        let weak = Arc::downgrade(self);
        let wake = self.wake.clone();
        tokio::spawn(async move {
            loop {
                let Some(writer) = weak.upgrade() else { return };
                if writer.pending() == 0 {
                    // Not keeping the writer alive while waiting (a `write` leaves a
                    // permit when nobody waits, so no record is missed).
                    drop(writer);
                    wake.notified().await;
                    continue;
                }
                tokio::time::sleep(GATHER).await;
                if let Err(e) = writer.flush().await {
                    eprintln!("warden: execution records wait in the journal: {e}");
                    tokio::time::sleep(RETRY).await;
                }
            }
        });
    }

    fn pending(&self) -> usize {
        self.journal
            .as_ref()
            .and_then(|j| j.lock().ok().map(|j| j.pending.len()))
            .unwrap_or(0)
    }

    /// Records one execution; when this returns the record is in the journal (or, with
    /// no journal, in the database).
    pub async fn write(&self, record: ExecutionRecord) -> Result<(), StoreError> {
        let Some(journal) = &self.journal else {
            return self.store.insert_execution(&record).await;
        };
        let mut line = serde_json::to_vec(&record)
            .map_err(|e| StoreError::Invalid(format!("cannot encode a record: {e}")))?;
        line.push(b'\n');
        let mut j = journal
            .lock()
            .map_err(|_| StoreError::Invalid("the records journal is poisoned".into()))?;
        if j.pending.len() >= MAX_PENDING {
            return Err(StoreError::Invalid(format!(
                "{MAX_PENDING} execution records are waiting for the database; refusing \
                 more executions until it takes them"
            )));
        }
        let path = j.dir.join(FILES[j.active]);
        j.file
            .write_all(&line)
            .map_err(|e| journal_err("append to", &path, e))?;
        j.pending.push(record);
        let first = j.pending.len() == 1;
        drop(j);
        if first {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Moves every journalled record into the database; returns once they are
    /// committed (or with the database's error, the records kept for a retry).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let _one = self.flushing.lock().await;
        let poisoned = || StoreError::Invalid("the records journal is poisoned".into());
        // Take the pending records and switch files: everything the file written so
        // far holds is now either committed earlier or in `batch`.
        let (batch, written, dir) = {
            let mut j = journal.lock().map_err(|_| poisoned())?;
            if j.pending.is_empty() {
                return Ok(());
            }
            let next = 1 - j.active;
            j.file = open_append(&j.dir.join(FILES[next]))?;
            let written = std::mem::replace(&mut j.active, next);
            (std::mem::take(&mut j.pending), written, j.dir.clone())
        };
        let mut result = Ok(());
        for chunk in batch.chunks(MAX_BATCH) {
            result = self.store.insert_executions(chunk).await;
            if result.is_err() {
                break;
            }
        }
        if let Err(e) = result {
            // Back to the front of the queue, in order; the files keep them too.
            let mut j = journal.lock().map_err(|_| poisoned())?;
            let newer = std::mem::replace(&mut j.pending, batch);
            j.pending.extend(newer);
            return Err(e);
        }
        let path = dir.join(FILES[written]);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(0))
            .map_err(|e| journal_err("truncate", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32) -> ExecutionRecord {
        ExecutionRecord {
            tier: Default::default(),
            id: format!("exe_{n:04}"),
            tenant: "acme".into(),
            session_id: None,
            kind: "oneshot".into(),
            language: "python".into(),
            code_sha256: format!("{n:064x}"),
            code: Some(format!("print({n})")),
            status: "ok".into(),
            error_code: None,
            exit_code: None,
            wall_ms: 1.5,
            cpu_ms: Some(1.0),
            peak_memory_bytes: Some(1 << 20),
            stdout_bytes: 2,
            stderr_bytes: 0,
            started_at: 1_000.0 + f64::from(n),
            finished_at: 1_000.5 + f64::from(n),
            risk: Default::default(),
            findings: Vec::new(),
            secrets: Default::default(),
            egress: None,
        }
    }

    async fn store(dir: &Path) -> Arc<dyn Store> {
        let url = format!("sqlite://{}/warden.db", dir.display());
        warden_store::open(&url).await.unwrap()
    }

    async fn stored(store: &Arc<dyn Store>) -> Vec<String> {
        let page = store
            .list_executions(&warden_store::ExecutionFilter {
                tenant: Some("acme".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut ids: Vec<String> = page.items.into_iter().map(|e| e.id).collect();
        ids.sort();
        ids
    }

    fn journal_lines(dir: &Path) -> usize {
        FILES
            .iter()
            .map(|f| {
                std::fs::read_to_string(dir.join(f))
                    .map(|t| t.lines().count())
                    .unwrap_or(0)
            })
            .sum()
    }

    #[tokio::test]
    async fn records_are_journalled_before_the_database_and_moved_by_a_flush() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path()).await;
        let journal = tmp.path().join("journal");
        // No flusher task: only explicit flushes move records.
        let w = RecordWriter::open(store.clone(), &journal).unwrap();
        for n in 0..5 {
            w.write(record(n)).await.unwrap();
        }
        assert_eq!(journal_lines(&journal), 5);
        assert!(stored(&store).await.is_empty());
        w.flush().await.unwrap();
        assert_eq!(stored(&store).await.len(), 5);
        // Records written after the switch of files stay until the next flush, which
        // empties the first file.
        w.write(record(5)).await.unwrap();
        w.flush().await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(stored(&store).await.len(), 6);
        assert!(
            journal_lines(&journal) <= 1,
            "committed records are truncated away"
        );
    }

    #[tokio::test]
    async fn a_journal_left_by_a_crash_is_replayed_once_and_a_torn_line_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path()).await;
        let journal = tmp.path().join("journal");
        {
            let w = RecordWriter::open(store.clone(), &journal).unwrap();
            for n in 0..3 {
                w.write(record(n)).await.unwrap();
            }
            // Record 0 also reached the database before the "crash".
            store.insert_execution(&record(0)).await.unwrap();
        }
        // A write cut short by the crash.
        let mut f = OpenOptions::new()
            .append(true)
            .open(journal.join(FILES[0]))
            .unwrap();
        f.write_all(br#"{"id":"exe_9999","ten"#).unwrap();
        let w = Arc::new(RecordWriter::open(store.clone(), &journal).unwrap());
        // A record appended after the torn line is not lost with it, even when the
        // journal has to be replayed once more.
        w.write(record(4)).await.unwrap();
        drop(w);
        let w = Arc::new(RecordWriter::open(store.clone(), &journal).unwrap());
        w.flush().await.unwrap();
        assert_eq!(
            stored(&store).await,
            ["exe_0000", "exe_0001", "exe_0002", "exe_0004"]
        );
        // The background flusher moves new records on its own.
        w.spawn_flusher();
        w.write(record(3)).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while stored(&store).await.len() < 5 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(stored(&store).await.len(), 5);
    }
}
