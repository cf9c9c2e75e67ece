//! The records the store keeps.

use serde::{Deserialize, Serialize};

/// A tenant: who owns sessions, executions and keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    /// The tenant's policy as JSON, or `None` for the server's default policy.
    pub policy: Option<String>,
    pub created_at: f64,
}

/// An API key. Only a hash of its secret is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The public part of the key (`wk_<id>`), shown in lists and logs.
    pub id: String,
    pub tenant: String,
    /// SHA-256 of the secret part, hex.
    pub secret_hash: String,
    /// An admin key may read the audit log.
    pub admin: bool,
    pub created_at: f64,
    pub revoked_at: Option<f64>,
}

/// One execution: a cell of a session or a one-shot run. The stored record is exactly
/// what the API shows.
pub use warden_protocol::ExecutionInfo as ExecutionRecord;

/// Which execution records to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionFilter {
    /// Only this tenant's records; `None`: every tenant's.
    pub tenant: Option<String>,
    pub session_id: Option<String>,
    pub status: Option<String>,
    /// Only records whose risk level is this one or higher.
    pub min_risk: Option<warden_protocol::RiskLevel>,
    /// `started_at >= since`.
    pub since: Option<f64>,
    /// `started_at < until`.
    pub until: Option<f64>,
    /// From [`Page::next`] of the previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Assigned by the store (ascending); 0 when appending.
    pub seq: i64,
    pub at: f64,
    /// `auth.failed`, `key.created`, `key.revoked`, `session.created`, `session.deleted`,
    /// `session.expired`, `file.written`, `file.deleted`, `policy.denied`, `limit.fired`.
    pub action: String,
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    /// What the action was about: a session id, a file path, a key id.
    pub target: Option<String>,
    /// Details as JSON text.
    pub detail: Option<String>,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub tenant: Option<String>,
    pub action: Option<String>,
    pub since: Option<f64>,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// A session as the store remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    /// The node running it.
    pub node: String,
    pub tenant: String,
    pub language: String,
    pub created_at: f64,
    pub ended_at: Option<f64>,
    pub end_reason: Option<String>,
}

/// A stored workflow definition, one row per version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    pub tenant: String,
    pub id: String,
    /// 1 for the first definition stored under `id`, then one more for each.
    pub version: u64,
    pub name: String,
    /// The definition as JSON text.
    pub definition: String,
    pub created_at: f64,
}

/// A workflow run (a run of a stored workflow or of an inline definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub tenant: String,
    /// The stored workflow run, or `None` for an inline definition.
    pub workflow_id: Option<String>,
    pub workflow_version: Option<u64>,
    pub workflow_name: String,
    /// `running`, `ok` or `error`.
    pub status: String,
    /// The conversation thread whose memory the run used.
    pub thread_id: Option<String>,
    /// The run's input as JSON text.
    pub input: String,
    /// The output as JSON text, once finished.
    pub output: Option<String>,
    /// The final state as JSON text.
    pub state: Option<String>,
    /// The per-node trace as JSON text.
    pub trace: Option<String>,
    /// The error as JSON text, when the run failed.
    pub error: Option<String>,
    pub steps: u64,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    /// The node running it.
    pub node: String,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFilter {
    pub tenant: String,
    pub workflow_id: Option<String>,
    pub status: Option<String>,
    /// From [`Page::next`] of the previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

/// A document of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// Unique within its collection; adding a document with the same id replaces it.
    pub id: String,
    pub text: String,
    /// Metadata as JSON text.
    pub metadata: Option<String>,
    pub created_at: f64,
}

/// A document collection. It exists while it has documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    pub name: String,
    /// How many documents it has.
    pub documents: u64,
    /// The latest write: the greatest `created_at` of its documents (for cache
    /// invalidation).
    pub updated_at: f64,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<String>,
}
