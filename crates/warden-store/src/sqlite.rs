//! The embedded backend: one SQLite file in the data directory, in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;

/// A store in a SQLite file.
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// A second connection for execution records, written on the caller's own thread:
    /// sqlx runs each connection on a worker thread, and the two thread hops of a query
    /// cost more than the insert itself (a record is written before every reply).
    records: std::sync::Mutex<rusqlite::Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) `sqlite://PATH` and runs the migrations.
    ///
    /// WAL with `synchronous = NORMAL`: a committed write survives a crash of warden
    /// (even `kill -9`); only an operating-system crash or power loss can lose the last
    /// transactions.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let open_err = |source| StoreError::Open {
            url: url.to_string(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // No ping before each use: a local file does not drop connections, and the
        // ping is one more hop to the connection's worker thread on every query.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        let records = rusqlite::Connection::open(path)
            .and_then(|c| {
                c.busy_timeout(Duration::from_secs(10))?;
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "NORMAL")?;
                Ok(c)
            })
            .map_err(|e| StoreError::Invalid(format!("cannot open {path}: {e}")))?;
        Ok(SqliteStore {
            pool,
            records: std::sync::Mutex::new(records),
        })
    }

    /// Inserts records in one transaction on the calling thread (an insert and a WAL
    /// write take tens of microseconds; the lock is held only that long). A single
    /// record is its own transaction (SQLite's autocommit), which saves parsing and
    /// running `BEGIN` and `COMMIT`.
    async fn write_executions(&self, records: &[crate::ExecutionRecord]) -> Result<(), StoreError> {
        let mut conn = self
            .records
            .lock()
            .map_err(|_| StoreError::Invalid("the records connection is poisoned".into()))?;
        let insert_all = |conn: &rusqlite::Connection| -> rusqlite::Result<()> {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO executions (id, tenant, session_id, kind, language, code_sha256, \
                 code, status, error_code, exit_code, wall_ms, cpu_ms, peak_memory_bytes, \
                 stdout_bytes, stderr_bytes, started_at, finished_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )?;
            for e in records {
                stmt.execute(rusqlite::params![
                    e.id,
                    e.tenant,
                    e.session_id,
                    e.kind,
                    e.language,
                    e.code_sha256,
                    e.code,
                    e.status,
                    e.error_code,
                    e.exit_code,
                    e.wall_ms,
                    e.cpu_ms,
                    e.peak_memory_bytes,
                    e.stdout_bytes,
                    e.stderr_bytes,
                    e.started_at,
                    e.finished_at,
                ])?;
            }
            Ok(())
        };
        let written = if records.len() == 1 {
            insert_all(&conn)
        } else {
            conn.transaction().and_then(|tx| {
                insert_all(&tx)?;
                tx.commit()
            })
        };
        written.map_err(|e| StoreError::Invalid(format!("cannot store execution records: {e}")))
    }

    fn writes_directly(&self) -> bool {
        true
    }
}

crate::sql::impl_store!(SqliteStore, "sqlite");
