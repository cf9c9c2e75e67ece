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
    pub tenant: String,
    pub session_id: Option<String>,
    pub status: Option<String>,
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

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<String>,
}
