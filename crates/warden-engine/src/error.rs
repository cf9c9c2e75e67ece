//! Errors of the engine, each mapping to one stable wire code.

use warden_jail::JailError;

use crate::files::FileError;
use warden_protocol::ErrorCode;

/// Why a session can no longer run code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    /// The memory limit was reached and the kernel killed the interpreter.
    MemoryLimit,
    /// A cell did not stop within the grace period after its timeout's interrupt.
    Timeout,
    /// The CPU-time limit was reached.
    CpuLimit,
    /// The interpreter exited or was killed from outside.
    Exited,
    /// The session was closed.
    Closed,
}

impl std::fmt::Display for DeathReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeathReason::MemoryLimit => "the memory limit was reached",
            DeathReason::Timeout => "a cell did not stop after its timeout",
            DeathReason::CpuLimit => "the CPU-time limit was reached",
            DeathReason::Exited => "the interpreter exited",
            DeathReason::Closed => "the session was closed",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no session {0}")]
    SessionNotFound(String),
    #[error("session {0} is running another cell")]
    SessionBusy(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("the session is dead: {0}")]
    SessionDead(DeathReason),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PolicyDenied(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("{message}")]
    QuotaExceeded {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("no execution {0}")]
    ExecutionNotFound(String),
    #[error("no template {0} (see GET /v1/templates)")]
    TemplateNotFound(String),
    #[error("{0}")]
    PackageNotAllowed(String),
    #[error("{0}")]
    PackageInstallFailed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("syntax error at line {}, column {}: {}", .0.line, .0.col, .0.message)]
    Syntax(warden_protocol::SyntaxErrorInfo),
    #[error("{message}")]
    SecurityViolation {
        message: String,
        risk: warden_protocol::RiskLevel,
        findings: Vec<warden_protocol::Finding>,
        /// The record of the refusal (status `refused`), once stored.
        execution_id: Option<String>,
    },
    #[error("{message}")]
    WorkflowInvalid {
        message: String,
        problems: Vec<warden_protocol::WorkflowProblem>,
    },
    #[error("no workflow {0}")]
    WorkflowNotFound(String),
    #[error("no run {0}")]
    RunNotFound(String),
    #[error("no document collection {0}")]
    CollectionNotFound(String),
    #[error(transparent)]
    Store(#[from] warden_store::StoreError),
    #[error("the session agent broke the protocol: {0}")]
    Protocol(String),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Jail(#[from] JailError),
    #[error("session I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<crate::templates::TemplateError> for EngineError {
    fn from(e: crate::templates::TemplateError) -> Self {
        use crate::templates::TemplateError;
        match e {
            TemplateError::NotFound(name) => EngineError::TemplateNotFound(name),
            TemplateError::BadName(_) => EngineError::Invalid(e.to_string()),
            TemplateError::Io(m) => EngineError::Io(std::io::Error::other(m)),
        }
    }
}

impl From<crate::packages::PackageError> for EngineError {
    fn from(e: crate::packages::PackageError) -> Self {
        use crate::packages::PackageError;
        match e {
            PackageError::Invalid(m) => EngineError::Invalid(m),
            PackageError::NotAllowed(m) => EngineError::PackageNotAllowed(m),
        }
    }
}

impl EngineError {
    /// A store error on a query the caller shaped (a cursor, a version): what the store
    /// refuses as invalid (a malformed cursor, a number past its columns' range) is the
    /// caller's mistake, a 400; the rest are internal.
    pub(crate) fn from_caller_query(e: warden_store::StoreError) -> EngineError {
        match e {
            warden_store::StoreError::Invalid(m) => EngineError::Invalid(m),
            other => other.into(),
        }
    }

    /// For 429 replies: when to try again.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            EngineError::RateLimited { retry_after, .. }
            | EngineError::QuotaExceeded { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// What the error says besides its message (where a syntax error is, the findings
    /// behind a security violation).
    pub fn context(&self) -> warden_protocol::ErrorContext {
        match self {
            EngineError::Syntax(e) => warden_protocol::ErrorContext {
                line: Some(e.line),
                col: Some(e.col),
                ..Default::default()
            },
            EngineError::SecurityViolation {
                risk,
                findings,
                execution_id,
                ..
            } => warden_protocol::ErrorContext {
                risk: Some(*risk),
                findings: findings.clone(),
                execution_id: execution_id.clone(),
                ..Default::default()
            },
            EngineError::WorkflowInvalid { problems, .. } => warden_protocol::ErrorContext {
                problems: problems.clone(),
                ..Default::default()
            },
            _ => Default::default(),
        }
    }

    /// The stable code for this error on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::SessionNotFound(_) => ErrorCode::SessionNotFound,
            EngineError::SessionBusy(_) => ErrorCode::SessionBusy,
            EngineError::Invalid(_) => ErrorCode::InvalidRequest,
            EngineError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            EngineError::Unavailable(_) => ErrorCode::Unavailable,
            EngineError::SessionDead(_) => ErrorCode::SessionDead,
            EngineError::File(FileError::InvalidPath { .. }) => ErrorCode::InvalidPath,
            EngineError::File(FileError::Forbidden { .. }) => ErrorCode::PathForbidden,
            EngineError::File(FileError::NotFound(_)) => ErrorCode::FileNotFound,
            EngineError::File(FileError::NoSpace { .. }) => ErrorCode::PayloadTooLarge,
            EngineError::File(FileError::Io { .. }) => ErrorCode::Internal,
            EngineError::Jail(JailError::Invalid(_)) => ErrorCode::InvalidRequest,
            EngineError::Jail(JailError::RuntimeNotFound { .. }) => ErrorCode::RuntimeNotFound,
            EngineError::Jail(_) => ErrorCode::SandboxSetupFailed,
            EngineError::Unauthorized(_) => ErrorCode::Unauthorized,
            EngineError::Forbidden(_) => ErrorCode::Forbidden,
            EngineError::PolicyDenied(_) => ErrorCode::PolicyDenied,
            EngineError::RateLimited { .. } => ErrorCode::RateLimited,
            EngineError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            EngineError::ExecutionNotFound(_) => ErrorCode::ExecutionNotFound,
            EngineError::TemplateNotFound(_) => ErrorCode::TemplateNotFound,
            EngineError::PackageNotAllowed(_) => ErrorCode::PackageNotAllowed,
            EngineError::PackageInstallFailed(_) => ErrorCode::PackageInstallFailed,
            EngineError::Conflict(_) => ErrorCode::Conflict,
            EngineError::Syntax(_) => ErrorCode::SyntaxError,
            EngineError::SecurityViolation { .. } => ErrorCode::SecurityViolation,
            EngineError::WorkflowInvalid { .. } => ErrorCode::WorkflowInvalid,
            EngineError::WorkflowNotFound(_) => ErrorCode::WorkflowNotFound,
            EngineError::RunNotFound(_) => ErrorCode::RunNotFound,
            EngineError::CollectionNotFound(_) => ErrorCode::CollectionNotFound,
            EngineError::Store(_) | EngineError::Protocol(_) | EngineError::Io(_) => {
                ErrorCode::Internal
            }
        }
    }
}
