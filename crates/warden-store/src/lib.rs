//! warden's persistence behind one trait, [`Store`]: tenants and their policies, API keys
//! (hashed), execution records, the append-only audit log, session records (so that a
//! restart can mark the sessions of a crashed run as ended), and what workflows keep:
//! versioned definitions, runs, the memory of conversation threads, and document
//! collections.
//!
//! Two backends share the schema: SQLite (embedded, the default; WAL) and PostgreSQL (for
//! several nodes). [`open`] picks one from a URL. Migrations run at start-up.

mod model;
mod pg;
mod sql;
mod sqlite;

use std::sync::Arc;

pub use model::*;
pub use pg::PgStore;
pub use sqlite::SqliteStore;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL {0:?} (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    #[error("{0}")]
    Invalid(String),
}

/// The persistence operations warden needs. Every write is durable when it returns (a
/// record is written before the reply that reports it).
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Which backend this is: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // --- tenants and keys ---
    /// Creates the tenant if it does not exist; sets its policy when `policy` is given.
    async fn upsert_tenant(&self, name: &str, policy: Option<&str>) -> Result<Tenant, StoreError>;
    async fn get_tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// A key by its public id (the part of the key before the secret).
    async fn get_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;
    /// A key with its tenant's policy, in one query (the lookup of every request).
    async fn get_key_and_policy(
        &self,
        id: &str,
    ) -> Result<Option<(ApiKey, Option<String>)>, StoreError>;
    /// Every key (of one tenant when given), newest first.
    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKey>, StoreError>;
    /// Marks a key revoked; false when there is no such key or it was already revoked.
    async fn revoke_key(&self, id: &str, at: f64) -> Result<bool, StoreError>;

    // --- execution records ---
    async fn insert_execution(&self, record: &ExecutionRecord) -> Result<(), StoreError>;
    /// Inserts several records in one transaction: all or none. A record whose id is
    /// already stored is skipped (so a batch can be written again after a crash).
    async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError>;
    /// One record by id; with a tenant, only if it is that tenant's.
    async fn get_execution(
        &self,
        tenant: Option<&str>,
        id: &str,
    ) -> Result<Option<ExecutionRecord>, StoreError>;
    /// Records matching the filter, newest first, at most `filter.limit`; `next` is the
    /// cursor of the following page.
    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Page<ExecutionRecord>, StoreError>;
    /// CPU seconds the tenant's executions used since `since` (unix seconds).
    async fn cpu_seconds_since(&self, tenant: &str, since: f64) -> Result<f64, StoreError>;

    // --- audit log (append-only) ---
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Page<AuditEvent>, StoreError>;

    // --- sessions ---
    async fn session_started(&self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session_ended(&self, id: &str, reason: &str, at: f64) -> Result<(), StoreError>;
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Marks every session of `node` still live as ended (at that node's start-up, after
    /// a crash); returns their ids.
    async fn end_live_sessions(
        &self,
        node: &str,
        reason: &str,
        at: f64,
    ) -> Result<Vec<String>, StoreError>;

    // --- workflows ---
    /// Stores `definition` as the next version of the tenant's workflow `id` (1 for a new
    /// id, else the latest plus one) and returns the stored record. Concurrent inserts of
    /// the same id get distinct versions.
    async fn insert_workflow(
        &self,
        tenant: &str,
        id: &str,
        name: &str,
        definition: &str,
        at: f64,
    ) -> Result<WorkflowRecord, StoreError>;
    /// One version of a workflow, or its latest when `version` is `None`.
    async fn get_workflow(
        &self,
        tenant: &str,
        id: &str,
        version: Option<u64>,
    ) -> Result<Option<WorkflowRecord>, StoreError>;
    /// The latest version of each of the tenant's workflows, ordered by id.
    async fn list_workflows(&self, tenant: &str) -> Result<Vec<WorkflowRecord>, StoreError>;

    // --- workflow runs ---
    /// Inserts the run, or replaces every field of the stored run with that id (a run is
    /// written when it starts, `running`, and again when it finishes). A run id of
    /// another tenant is refused.
    async fn upsert_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    async fn get_run(&self, tenant: &str, id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// Runs matching the filter, newest (first written) first, at most `filter.limit`;
    /// `next` is the cursor of the following page.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Page<RunRecord>, StoreError>;
    /// Marks every run of `node` still `running` as failed with `error` (JSON text), at
    /// that node's start-up after a crash; returns their ids.
    async fn interrupt_runs(
        &self,
        node: &str,
        error: &str,
        at: f64,
    ) -> Result<Vec<String>, StoreError>;

    // --- memory of conversation threads ---
    /// The JSON texts appended to (tenant, thread, key), in append order; empty if none.
    async fn memory_read(
        &self,
        tenant: &str,
        thread: &str,
        key: &str,
    ) -> Result<Vec<String>, StoreError>;
    /// Appends a JSON text to (tenant, thread, key) and returns the whole list after the
    /// append, in one transaction.
    async fn memory_append(
        &self,
        tenant: &str,
        thread: &str,
        key: &str,
        value: &str,
        at: f64,
    ) -> Result<Vec<String>, StoreError>;

    // --- document collections ---
    /// Adds the documents to the collection, replacing those with the same ids, all in one
    /// transaction; returns how many documents the collection has after.
    async fn add_documents(
        &self,
        tenant: &str,
        collection: &str,
        docs: &[DocumentRecord],
    ) -> Result<u64, StoreError>;
    /// Every document of the collection, ordered by id.
    async fn list_documents(
        &self,
        tenant: &str,
        collection: &str,
    ) -> Result<Vec<DocumentRecord>, StoreError>;
    /// A collection, or `None` when it has no documents.
    async fn get_collection(
        &self,
        tenant: &str,
        collection: &str,
    ) -> Result<Option<CollectionInfo>, StoreError>;
    /// The tenant's collections, ordered by name.
    async fn list_collections(&self, tenant: &str) -> Result<Vec<CollectionInfo>, StoreError>;
    /// Deletes every document of the collection; returns how many there were.
    async fn delete_collection(&self, tenant: &str, collection: &str) -> Result<u64, StoreError>;
}

/// The current time as unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Opens a store from a URL: `sqlite://PATH` (created if missing) or `postgres://...`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}
