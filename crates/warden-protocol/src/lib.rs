//! Wire types shared by every warden transport (CLI `--json`, REST, MCP, SDKs).
//!
//! Everything here is plain data with serde derives; no behaviour lives here.
//! Error codes are defined once, in [`ErrorCode`], and never change meaning.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A language warden can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Python,
    Javascript,
    Bash,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Python, Language::Javascript, Language::Bash];

    /// The name used on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Bash => "bash",
        }
    }

    /// Parses a language name or a common alias (`py`, `js`, `node`, `sh`).
    pub fn parse(name: &str) -> Option<Language> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "python3" | "py" => Some(Language::Python),
            "javascript" | "js" | "node" | "nodejs" => Some(Language::Javascript),
            "bash" | "sh" | "shell" => Some(Language::Bash),
            _ => None,
        }
    }

    /// Chooses a language from a file name's extension.
    pub fn from_extension(path: &str) -> Option<Language> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "py" => Some(Language::Python),
            "js" | "mjs" | "cjs" => Some(Language::Javascript),
            "sh" | "bash" => Some(Language::Bash),
            _ => None,
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stable, upper-case error codes. Documented in docs/ERRORS.md; a code's meaning never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The program exited with a non-zero status.
    ExecutionError,
    /// The wall-clock timeout fired.
    Timeout,
    /// The sandbox's memory limit was reached and the kernel killed a process.
    MemoryLimit,
    /// The CPU-time limit was reached.
    CpuLimit,
    /// The program was killed by a signal not caused by a warden limit.
    Killed,
    /// The sandbox could not be set up; nothing ran.
    SandboxSetupFailed,
    /// The interpreter for the requested language is not installed.
    RuntimeNotFound,
    /// The request was malformed or asked for something unsupported.
    InvalidRequest,
    /// The session's sandbox has ended (a limit, a timeout that would not stop, or the
    /// interpreter died); create a new session.
    SessionDead,
    /// No session with this id (or not yours).
    SessionNotFound,
    /// The session is running another cell.
    SessionBusy,
    /// The request body (or the code in it) is larger than the server accepts.
    PayloadTooLarge,
    /// The server is shutting down or cannot start more sandboxes now.
    Unavailable,
    /// No such route.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// A file path is malformed: absolute, `..`, empty components, or a directory where
    /// a file is needed.
    InvalidPath,
    /// A file path names or passes through a symlink, fifo, socket or device: never
    /// followed or read.
    PathForbidden,
    /// No such file in the workspace.
    FileNotFound,
    /// No valid API key: missing, malformed, unknown or revoked.
    Unauthorized,
    /// The key is valid but may not do this (e.g. the audit log needs an admin key).
    Forbidden,
    /// The request asks for more than the tenant's policy allows (a language, a limit).
    PolicyDenied,
    /// Too many executions in a short time; retry after the `Retry-After` seconds.
    RateLimited,
    /// A quota is used up (concurrent sessions, CPU seconds per day); retry after the
    /// `Retry-After` seconds.
    QuotaExceeded,
    /// No execution record with this id (or not yours).
    ExecutionNotFound,
    /// No template with this name.
    TemplateNotFound,
    /// A requested package is not on the allowlist, or a pinned version is outside the
    /// versions it allows.
    PackageNotAllowed,
    /// The package installer failed; the message carries its own words.
    PackageInstallFailed,
    /// The request conflicts with work in progress (e.g. a template build of that name).
    Conflict,
    /// The code does not parse; `line` and `col` say where. Nothing ran.
    SyntaxError,
    /// The policy denies code of this risk level; `risk` and `findings` say why. Nothing
    /// ran.
    SecurityViolation,
    /// The workflow definition is malformed or invalid; `problems` lists every problem
    /// with its node. Nothing ran.
    WorkflowInvalid,
    /// No stored workflow with this id (or version), or not yours.
    WorkflowNotFound,
    /// No workflow run with this id (or not yours).
    RunNotFound,
    /// No document collection with this name (or not yours).
    CollectionNotFound,
    /// The execution reached its policy's `egress.max_bytes` or `egress.max_connections`:
    /// the proxy closed or refused its connections from then on (docs/NETWORK.md).
    EgressLimit,
    /// An internal error; details are in the server log, not the reply.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `"MEMORY_LIMIT"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ExecutionError => "EXECUTION_ERROR",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::MemoryLimit => "MEMORY_LIMIT",
            ErrorCode::CpuLimit => "CPU_LIMIT",
            ErrorCode::Killed => "KILLED",
            ErrorCode::SandboxSetupFailed => "SANDBOX_SETUP_FAILED",
            ErrorCode::RuntimeNotFound => "RUNTIME_NOT_FOUND",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::SessionDead => "SESSION_DEAD",
            ErrorCode::SessionNotFound => "SESSION_NOT_FOUND",
            ErrorCode::SessionBusy => "SESSION_BUSY",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::InvalidPath => "INVALID_PATH",
            ErrorCode::PathForbidden => "PATH_FORBIDDEN",
            ErrorCode::FileNotFound => "FILE_NOT_FOUND",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::PolicyDenied => "POLICY_DENIED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::ExecutionNotFound => "EXECUTION_NOT_FOUND",
            ErrorCode::TemplateNotFound => "TEMPLATE_NOT_FOUND",
            ErrorCode::PackageNotAllowed => "PACKAGE_NOT_ALLOWED",
            ErrorCode::PackageInstallFailed => "PACKAGE_INSTALL_FAILED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::SyntaxError => "SYNTAX_ERROR",
            ErrorCode::SecurityViolation => "SECURITY_VIOLATION",
            ErrorCode::WorkflowInvalid => "WORKFLOW_INVALID",
            ErrorCode::WorkflowNotFound => "WORKFLOW_NOT_FOUND",
            ErrorCode::RunNotFound => "RUN_NOT_FOUND",
            ErrorCode::CollectionNotFound => "COLLECTION_NOT_FOUND",
            ErrorCode::EgressLimit => "EGRESS_LIMIT",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Exit status 0.
    Success,
    /// A non-zero exit status.
    Error,
    /// The wall-clock timeout fired and the sandbox was killed.
    Timeout,
    /// The memory limit was hit.
    MemoryLimit,
    /// Killed by a signal (including the CPU-time limit).
    Killed,
}

/// The result of one sandboxed run, as printed by `warden run --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunResult {
    pub status: RunStatus,
    pub error_code: Option<ErrorCode>,
    /// The exit status when the program exited normally.
    pub exit_code: Option<i32>,
    /// The signal number when the program was killed by a signal.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub duration_ms: f64,
    pub cpu_time_ms: f64,
    pub peak_memory_bytes: Option<u64>,
    /// The run's network, with `--allow-host` (docs/NETWORK.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressReport>,
}

/// `POST /v1/sessions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    #[serde(default = "default_language")]
    pub language: Language,
    /// Idle time in seconds after which the session is closed.
    pub idle_ttl: Option<f64>,
    /// Seconds after which the session is closed even if busy (default and maximum:
    /// the server's `--max-lifetime`).
    pub max_lifetime: Option<f64>,
    /// Memory limit in MiB for the session's whole life.
    pub memory_mb: Option<u64>,
    /// Size of `/workspace` in MiB.
    pub disk_mb: Option<u64>,
    /// A template (`GET /v1/templates`): its packages are importable, its preload
    /// modules already imported (Python only).
    pub template: Option<String>,
    /// Python packages to make importable, e.g. `["tabulate==0.9.0"]`: checked against
    /// the tenant's allowlist, installed once into a shared read-only cache.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Network egress through warden's proxy, as the tenant's policy `egress` allows
    /// (docs/NETWORK.md). Default: no network.
    #[serde(default)]
    pub network: Option<bool>,
    /// The isolation tier to run on: at least the one the tenant's policy gives, never
    /// a weaker one (`403 POLICY_DENIED`). Default: the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Tier>,
    /// With `network`, a narrower allowlist than the policy's (never a wider one).
    #[serde(default)]
    pub egress: Option<EgressRequest>,
    /// An `.ipynb` notebook (nbformat 4, as JSON): its code cells are replayed into the
    /// new session, in order, stopping at the first that fails; the reply's `cells`
    /// carries each result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub notebook: Option<serde_json::Value>,
}

/// The network a session or one-shot run asks for, within its policy's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRequest {
    /// Host patterns (`api.github.com`, `*.wikipedia.org`, `pypi.org:443`,
    /// `203.0.113.0/24`), each covered by an entry of the policy's `egress.allow`.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
}

/// One connection (or refused request) a sandbox made through warden's egress proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EgressConnection {
    /// The host as the program asked for it (a name or an address).
    pub host: String,
    pub port: u16,
    /// `allowed` or `denied`.
    pub decision: String,
    /// Why it was denied (or, for an allowed one, why it ended early).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The checked address the proxy connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Bytes received from the remote end (to the sandbox).
    pub bytes_in: u64,
    /// Bytes sent to the remote end (from the sandbox).
    pub bytes_out: u64,
}

/// What a sandbox's network did during one execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EgressReport {
    /// The allowlist in force (the policy's or the request's narrower one).
    pub allow: Vec<String>,
    /// Connections and refusals in order; at most the first 100.
    pub connections: Vec<EgressConnection>,
    pub allowed: u64,
    pub denied: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `EGRESS_LIMIT` when `max_bytes` or `max_connections` fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// Which limit fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

fn default_language() -> Language {
    Language::Python
}

/// A template: a read-only environment (Python packages) layered over the base runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateInfo {
    pub name: String,
    /// The pip requirements it was built from.
    pub pip: Vec<String>,
    /// The npm packages it was built from (for JavaScript sessions).
    #[serde(default)]
    pub npm: Vec<String>,
    /// Modules imported in every pooled sandbox of the template before it is handed out.
    pub preload: Vec<String>,
    /// Every distribution installed, as `[name, version]`.
    pub distributions: Vec<(String, String)>,
    /// The interpreter it was built for, e.g. `3.11`.
    pub python: String,
    pub created_at: f64,
    pub size_bytes: u64,
    /// The build's directory name (a new build of the same name gets a new one).
    pub build: String,
}

/// `POST /v1/templates` (admin keys): build a template on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildTemplate {
    pub name: String,
    /// pip requirements.
    #[serde(default)]
    pub pip: Vec<String>,
    /// npm packages (registry names, optionally `@version`), for JavaScript sessions.
    #[serde(default)]
    pub npm: Vec<String>,
    /// Modules imported in every pooled sandbox of the template.
    #[serde(default)]
    pub preload: Vec<String>,
    /// Start from a shipped recipe (`python-data`); `pip` and `preload` add to it.
    pub recipe: Option<String>,
}

/// A template build started on the server, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateBuild {
    pub name: String,
    /// `building`, `ready` or `failed`.
    pub state: String,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    /// Why it failed (the installer's own words).
    pub error: Option<String>,
    /// The template, once ready.
    pub template: Option<TemplateInfo>,
}

/// `GET /v1/templates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<TemplateInfo>,
}

/// A session as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub language: Language,
    /// `idle`, `busy` or `dead`.
    pub state: String,
    pub created_at: f64,
    pub last_used_at: f64,
    pub idle_ttl: f64,
    /// When the session's maximum lifetime ends (Unix seconds).
    pub expires_at: f64,
    pub execution_count: u64,
    /// With network: the allowlist its sandbox's egress proxy applies (docs/NETWORK.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<String>>,
    /// The template its sandbox carries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The isolation tier its sandbox runs on.
    #[serde(default)]
    pub tier: Tier,
    /// The memory its sandbox uses now, in bytes (its cgroup's count, page cache
    /// included); absent while a cell runs or where the kernel does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// A session created from a notebook: the reply of each code cell replayed, in
    /// order, up to and including the first that failed (docs/API.md#notebooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<Vec<CellResponse>>,
}

/// `POST /v1/sessions/{id}/execute` and `POST /v1/execute`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub code: String,
    /// Only for one-shot `POST /v1/execute`; a session has its own language.
    #[serde(default)]
    pub language: Option<Language>,
    /// Seconds before the cell is interrupted.
    pub timeout: Option<f64>,
    /// Files placed in `/workspace` before the code runs: path → content.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, FileContent>,
    /// Only for one-shot: memory limit in MiB of the fresh sandbox.
    pub memory_mb: Option<u64>,
    /// Only for one-shot: size of `/workspace` in MiB.
    pub disk_mb: Option<u64>,
    /// Only for one-shot: a template (see [`CreateSession::template`]).
    pub template: Option<String>,
    /// Python packages (see [`CreateSession::packages`]); on a session's cell only the
    /// session's own set is accepted.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Only for one-shot: network egress (see [`CreateSession::network`]).
    #[serde(default)]
    pub network: Option<bool>,
    /// The isolation tier to run on: at least the one the tenant's policy gives, never
    /// a weaker one (`403 POLICY_DENIED`). Default: the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Tier>,
    /// Only for one-shot: a narrower allowlist (see [`CreateSession::egress`]).
    #[serde(default)]
    pub egress: Option<EgressRequest>,
    /// JSON handed to the code: Python sees it as `input_data`, JavaScript as `input`
    /// (not for bash). With it, a session's cell reply carries `result` as a one-shot
    /// run's always does. Any JSON value (the schema says object, the common case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Value>,
}

/// The content of a file sent inline: a UTF-8 string, or `{"content": "...",
/// "encoding": "base64"}` for any bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FileContent {
    Text(String),
    Encoded {
        content: String,
        /// `utf-8` (the default) or `base64`.
        #[serde(default)]
        encoding: Option<String>,
    },
}

/// A file a one-shot execution created or changed in `/workspace`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileChange {
    /// Path relative to `/workspace`.
    pub path: String,
    pub size: u64,
    /// The content, when the file is small enough to be sent inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `utf-8` or `base64`, with `content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

/// An exception raised by a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CellErrorInfo {
    pub name: String,
    pub value: String,
    pub traceback: Vec<String>,
}

/// The result of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CellResponse {
    /// `ok` or `error`.
    pub status: String,
    pub execution_count: u64,
    /// The final expression's value as a MIME bundle (`text/plain`, `text/html`, ...).
    pub value: Option<std::collections::BTreeMap<String, String>>,
    pub error: Option<CellErrorInfo>,
    /// Rich outputs (figures as base64 `image/png`, `display(...)` calls).
    pub outputs: Vec<std::collections::BTreeMap<String, String>>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// The cell's timeout fired and the cell was interrupted.
    pub timed_out: bool,
    pub duration_ms: f64,
    /// One-shot only: files created or changed in `/workspace`, sorted by path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileChange>>,
    /// The id of this execution's record (`GET /v1/executions/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// The risk level static analysis gave the code (absent for bash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskLevel>,
    /// What static analysis found in the code (docs/ANALYSIS.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Secrets found in the output, counted by kind (docs/REDACTION.md).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub secrets: std::collections::BTreeMap<String, u64>,
    /// The execution's network, when its sandbox has egress (docs/NETWORK.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressReport>,
    /// The JSON value of the variable `result` the code assigned (`null` if none): on
    /// every Python or JavaScript one-shot run, and on a cell that was given `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The stable code of what made the run fail, when it did: `EXECUTION_ERROR` (the
    /// code raised, or exited non-zero), `TIMEOUT`, `MEMORY_LIMIT`, `CPU_LIMIT`,
    /// `KILLED`, `EGRESS_LIMIT` (docs/ERRORS.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The isolation tier that ran the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
}

/// The stored record of one execution (`GET /v1/executions/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionInfo {
    pub id: String,
    pub tenant: String,
    /// The session, for a cell; `null` for a one-shot run.
    pub session_id: Option<String>,
    /// `cell` or `oneshot`.
    pub kind: String,
    pub language: String,
    /// SHA-256 of the code, hex.
    pub code_sha256: String,
    /// The code, unless the server keeps hashes only (`--record-code hash`).
    pub code: Option<String>,
    /// `ok`, `error` (the code raised or exited non-zero), `timeout`, or the lower-case
    /// error code of a run whose sandbox died (`memory_limit`, `cpu_limit`, ...).
    pub status: String,
    /// The stable code of what ended the run, when not `ok`.
    pub error_code: Option<String>,
    pub exit_code: Option<i64>,
    pub wall_ms: f64,
    pub cpu_ms: Option<f64>,
    pub peak_memory_bytes: Option<i64>,
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    /// Unix seconds.
    pub started_at: f64,
    pub finished_at: f64,
    /// The risk level static analysis gave the code (docs/ANALYSIS.md).
    #[serde(default)]
    pub risk: RiskLevel,
    /// What static analysis found in the code.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Secrets found in the outputs, counted by kind (docs/REDACTION.md).
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, u64>,
    /// The execution's network connections, when its sandbox had egress.
    #[serde(default)]
    pub egress: Option<EgressReport>,
    /// The isolation tier that ran the code (`namespaces` for records from before
    /// tiers existed).
    #[serde(default)]
    pub tier: Tier,
}

/// `GET /v1/executions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionList {
    /// Newest first.
    pub executions: Vec<ExecutionInfo>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Ascending order of appending.
    pub seq: i64,
    /// Unix seconds.
    pub at: f64,
    pub action: String,
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub target: Option<String>,
    /// Details, as a JSON object.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// What a workspace entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    /// A fifo, socket or device: listed, never read.
    Other,
}

/// One entry of a workspace listing, or a file just written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileEntry {
    /// Path relative to `/workspace`.
    pub path: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FileKind,
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: f64,
}

/// `GET /v1/sessions/{id}/files?path=DIR`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileList {
    /// The directory listed, relative to `/workspace` (empty for `/workspace`).
    pub path: String,
    /// Sorted by name; at most 10,000.
    pub entries: Vec<FileEntry>,
}

/// `GET /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    /// Live sessions.
    pub sessions: usize,
    /// Pre-started sessions waiting in the pool, all languages together.
    pub pool: usize,
    /// The same, per language (`python`, `javascript`, `bash`).
    #[serde(default)]
    pub pools: std::collections::BTreeMap<String, usize>,
}

/// The isolation that runs a sandbox (docs/SECURITY.md#isolation-tiers): `namespaces`
/// (the host kernel's namespaces, seccomp, landlock and cgroups; the default) or `gvisor`
/// (gVisor's user-space kernel, `runsc`, on top of namespaces of its own: stronger,
/// slower). Ordered weakest first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Namespaces,
    Gvisor,
}

impl Tier {
    pub const ALL: [Tier; 2] = [Tier::Namespaces, Tier::Gvisor];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Namespaces => "namespaces",
            Tier::Gvisor => "gvisor",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check of `warden doctor`'s isolation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IsolationCheck {
    /// What was checked (`user namespaces`, `seccomp`, `landlock`, `cgroup v2`, ...).
    pub name: String,
    pub ok: bool,
    /// Whether sandboxes cannot start without it (a missing optional one is a warning).
    pub required: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it failed.
    pub hint: Option<String>,
}

/// `GET /v1/doctor`: what `warden doctor --json` prints, for this server's host and data
/// directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IsolationReport {
    /// Every required check passed: sandboxes get full isolation.
    pub full_isolation: bool,
    pub checks: Vec<IsolationCheck>,
    /// When the checks ran (Unix seconds); the report is kept for a minute.
    pub checked_at: f64,
}

/// The server's limits (its flags), which bound what any request or policy may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerLimits {
    /// Live sessions on this server (`--max-sessions`).
    pub max_sessions: usize,
    /// Largest code of one execution, bytes (`--max-code-bytes`).
    pub max_code_bytes: usize,
    /// Total decoded bytes of the `files` sent inline with one execute request.
    pub max_inline_file_bytes: usize,
    /// Changed files up to this size come back inline from a one-shot run.
    pub inline_result_file_bytes: u64,
    /// A cell's or one-shot run's timeout when the request gives none, seconds.
    pub default_timeout_seconds: f64,
    /// The longest timeout a request may ask for, seconds.
    pub max_timeout_seconds: f64,
    /// The most memory a request may ask for, MiB.
    pub max_memory_mb: u64,
    /// The largest workspace a request may ask for, MiB.
    pub max_disk_mb: u64,
    /// Bytes of stdout and of stderr kept per cell (the rest is cut, and said so).
    pub cell_output_bytes: usize,
    /// An idle session ends after this when it asks for no other, seconds (`--idle-ttl`).
    pub default_idle_ttl_seconds: f64,
    /// The longest idle time a session may ask for, seconds.
    pub max_idle_ttl_seconds: f64,
    /// How long a session may live at most, busy or not, seconds (`--max-lifetime`).
    pub max_lifetime_seconds: f64,
    /// Pre-started sessions kept ready per language (`--pool-size`, ...).
    pub pools: std::collections::BTreeMap<String, usize>,
    /// Pre-started sessions kept ready per template (`--template-pool`).
    pub template_pools: std::collections::BTreeMap<String, usize>,
    /// The most steps one workflow run may take.
    pub workflow_max_steps: u64,
    /// The longest one workflow run may take, seconds.
    pub workflow_max_seconds: f64,
}

/// `GET /v1/limits`: the limits in force for the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LimitsInfo {
    /// The caller's tenant.
    pub tenant: String,
    /// Whether the caller's key is an admin key (development mode: always).
    pub admin: bool,
    /// Development mode: no API keys.
    pub dev_mode: bool,
    pub server: ServerLimits,
    /// The caller's policy as stored (its tenant's, or the server's default policy),
    /// in the format of docs/POLICIES.md: the fields it sets (risk actions it leaves
    /// out filled in), and no others: an absent one takes the server's limit.
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
}

/// How serious one analysis finding is. The risk level of a piece of code is the highest
/// severity among its findings (docs/ANALYSIS.md).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing (e.g. code size), never raises the risk level.
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// The risk level of a piece of code, derived from its findings.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 4] = [
        RiskLevel::None,
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::None => "none",
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    /// The level a finding of this severity raises the code to.
    pub fn of(severity: Severity) -> RiskLevel {
        match severity {
            Severity::Info => RiskLevel::None,
            Severity::Low => RiskLevel::Low,
            Severity::Medium => RiskLevel::Medium,
            Severity::High => RiskLevel::High,
        }
    }
}

/// One thing static analysis noticed. Lines and columns count from 1; columns in characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// A stable rule name such as `import.subprocess` or `dunder.attribute` (docs/ANALYSIS.md).
    pub rule: String,
    pub severity: Severity,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// Where the parser stopped. Lines and columns count from 1; columns in characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyntaxErrorInfo {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// Size and shape of the analysed code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeMetrics {
    pub lines: u32,
    pub bytes: u64,
    /// Statements, at every depth.
    pub statements: u32,
    /// Deepest nesting of blocks (functions, classes, loops, conditionals, `with`, `try`).
    pub max_nesting: u32,
    /// Deepest nesting of expressions (calls, operators, literals).
    pub max_expression_depth: u32,
}

/// `POST /v1/analyze`, and what is kept in execution records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalysisReport {
    pub language: Language,
    pub risk: RiskLevel,
    pub findings: Vec<Finding>,
    pub metrics: CodeMetrics,
    /// The code does not parse; findings are empty then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syntax_error: Option<SyntaxErrorInfo>,
}

/// What a policy does with code of a risk level (docs/ANALYSIS.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RiskAction {
    /// Run it as any other code.
    #[default]
    Allow,
    /// Run it with stricter limits (the policy's `restricted_timeout` and
    /// `restricted_memory_mb`).
    Restrict,
    /// Refuse it: `403 SECURITY_VIOLATION` with the findings.
    Deny,
}

impl RiskAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskAction::Allow => "allow",
            RiskAction::Restrict => "restrict",
            RiskAction::Deny => "deny",
        }
    }
}

/// `POST /v1/analyze`: code to analyse without running it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    pub code: String,
    /// Default `python`.
    #[serde(default)]
    pub language: Option<Language>,
}

/// The reply of `POST /v1/analyze`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalyzeResponse {
    #[serde(flatten)]
    pub report: AnalysisReport,
    /// What the caller's policy would do with this code; absent when it does not parse
    /// (an execution would get `SYNTAX_ERROR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RiskAction>,
}

/// The one error shape on the wire: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    #[serde(flatten)]
    pub context: ErrorContext,
}

/// What some errors say besides their message; absent fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorContext {
    /// `SYNTAX_ERROR`: the line where the parser stopped (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `SYNTAX_ERROR`: the column, in characters (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub col: Option<u32>,
    /// `SECURITY_VIOLATION`: the code's risk level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskLevel>,
    /// `SECURITY_VIOLATION`: the findings that made it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// `SECURITY_VIOLATION` of an execution: the id of its record (status `refused`:
    /// nothing ran), for `GET /v1/executions/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// `WORKFLOW_INVALID`: every problem of the definition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<WorkflowProblem>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::with_context(code, message, ErrorContext::default())
    }

    pub fn with_context(
        code: ErrorCode,
        message: impl Into<String>,
        context: ErrorContext,
    ) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
                context,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_their_stable_names() {
        for code in [
            ErrorCode::ExecutionError,
            ErrorCode::Timeout,
            ErrorCode::MemoryLimit,
            ErrorCode::CpuLimit,
            ErrorCode::Killed,
            ErrorCode::SandboxSetupFailed,
            ErrorCode::RuntimeNotFound,
            ErrorCode::InvalidRequest,
            ErrorCode::SessionDead,
            ErrorCode::SessionNotFound,
            ErrorCode::SessionBusy,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Unavailable,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::InvalidPath,
            ErrorCode::PathForbidden,
            ErrorCode::FileNotFound,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::PolicyDenied,
            ErrorCode::RateLimited,
            ErrorCode::QuotaExceeded,
            ErrorCode::ExecutionNotFound,
            ErrorCode::TemplateNotFound,
            ErrorCode::PackageNotAllowed,
            ErrorCode::PackageInstallFailed,
            ErrorCode::Conflict,
            ErrorCode::SyntaxError,
            ErrorCode::SecurityViolation,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn statuses_are_snake_case() {
        assert_eq!(
            serde_json::to_string(&RunStatus::MemoryLimit).unwrap(),
            "\"memory_limit\""
        );
    }

    #[test]
    fn languages_parse_from_names_and_extensions() {
        assert_eq!(Language::parse("PY"), Some(Language::Python));
        assert_eq!(Language::parse("node"), Some(Language::Javascript));
        assert_eq!(Language::parse("ruby"), None);
        assert_eq!(
            Language::from_extension("a/b.mjs"),
            Some(Language::Javascript)
        );
        assert_eq!(Language::from_extension("x.sh"), Some(Language::Bash));
        assert_eq!(Language::from_extension("noext"), None);
    }
}

// ---------------------------------------------------------------- workflows

/// One problem of a workflow definition (docs/WORKFLOWS.md lists the codes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowProblem {
    /// The node the problem is about, when there is one.
    pub node: Option<String>,
    /// The index of the edge (in `edges`) the problem is about, when there is one.
    pub edge: Option<usize>,
    /// A stable code such as `unknown_type`, `unreachable`, `undefined_key`.
    pub code: String,
    pub message: String,
}

/// `POST /v1/workflows`: stores a definition as the next version of its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveWorkflow {
    /// The workflow's id (letters, digits, `_`, `-`, `.`; at most 64). Default: the
    /// definition's `name`.
    #[serde(default)]
    pub id: Option<String>,
    /// The definition: a JSON object, or a string holding YAML or JSON.
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

/// A stored workflow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowInfo {
    pub id: String,
    /// 1 for the first definition stored under this id, then 2, 3, …
    pub version: u64,
    pub name: String,
    /// Unix seconds.
    pub created_at: f64,
    /// The definition as stored (normalized JSON); omitted in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<serde_json::Value>,
}

/// `GET /v1/workflows`: the latest version of each workflow, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowInfo>,
}

/// `POST /v1/workflows/{id}/runs` and `POST /v1/runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The run's input: the state starts as `{"inputs": input}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// A stored version (`/v1/workflows/{id}/runs` only); the latest when absent.
    #[serde(default)]
    pub version: Option<u64>,
    /// An inline definition (`POST /v1/runs` only): a JSON object, or YAML/JSON text.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<serde_json::Value>,
    /// Recorded with the run (memory nodes name their thread with an expression, often
    /// `inputs.thread_id`).
    #[serde(default)]
    pub thread_id: Option<String>,
    /// `false`: answer `202` at once with the run (status `running`); poll
    /// `GET /v1/runs/{id}`. Default `true`: answer when the run has finished.
    #[serde(default)]
    pub wait: Option<bool>,
    /// Most node executions (lowers the server's maximum).
    #[serde(default)]
    pub max_steps: Option<u64>,
    /// Seconds the whole run may take (lowers the server's maximum).
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// A workflow run: its status, final state, output and per-node trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunInfo {
    pub id: String,
    /// The stored workflow run (`null` for an inline definition).
    pub workflow_id: Option<String>,
    pub workflow_version: Option<u64>,
    pub workflow_name: String,
    /// `running`, `ok` or `error`.
    pub status: String,
    pub thread_id: Option<String>,
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// The `end` node's output (`null` until finished, and when the run failed).
    #[schema(value_type = Object)]
    pub output: serde_json::Value,
    /// The final state (omitted in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub state: Option<serde_json::Value>,
    /// One entry per node execution: node, type, status, inputs, outputs, stdout, error,
    /// started_ms, duration_ms, iteration, attempts, next (omitted in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub trace: Option<serde_json::Value>,
    /// Why the run failed: `{node, code, message, traceback}`.
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
    /// Node executions.
    pub steps: u64,
    /// Unix seconds.
    pub started_at: f64,
    pub finished_at: Option<f64>,
}

/// `GET /v1/runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    /// Newest first, without state and trace.
    pub runs: Vec<RunInfo>,
    pub next_cursor: Option<String>,
}

/// A document to index, for `retrieval` nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    /// Default: the document's position in the collection (`doc-N`). A document with the
    /// id of a stored one replaces it.
    #[serde(default)]
    pub id: Option<String>,
    pub text: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /v1/collections/{name}/documents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDocuments {
    pub documents: Vec<DocumentInput>,
}

/// A document collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CollectionInfo {
    pub name: String,
    pub documents: u64,
    /// Unix seconds of the latest write.
    pub updated_at: f64,
}

/// `GET /v1/collections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CollectionList {
    pub collections: Vec<CollectionInfo>,
}

/// One ranked document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub id: String,
    /// BM25 score; higher is better.
    pub score: f32,
    pub text: String,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `GET /v1/collections/{name}/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// Best first.
    pub results: Vec<SearchHit>,
}
