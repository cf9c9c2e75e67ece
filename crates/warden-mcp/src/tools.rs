//! The tools. Each one finds its caller, calls one engine function and maps the result
//! (see [`crate::render`]).

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
    ResultType, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use warden_engine::egress::EgressPolicy;
use warden_engine::{Caller, Engine, EngineError, Event};
use warden_protocol::{CreateSession, ExecuteRequest, Language, TemplateInfo};

use crate::render;

/// The most of a file `read_file` returns.
pub(crate) const READ_LIMIT: u64 = 1 << 20;

/// The most output a run forwards as progress notifications while it runs, in bytes.
const PROGRESS_LIMIT: usize = 1 << 20;

const INSTRUCTIONS: &str = "warden runs code in isolated Linux sandboxes that have no network \
unless run_code or create_session asks for it with network: true and the tenant's policy allows \
it (then HTTP and HTTPS reach only the policy's allowed hosts, through a proxy the sandbox is \
already configured for; anything else is refused, and a policy without network answers \
POLICY_DENIED). \
Use run_code without a session_id for a one-off snippet (a fresh sandbox, discarded afterwards). \
For work in several steps, call create_session once and pass its session_id to run_code: \
variables, imports and files persist between calls; close_session when done. \
Files live under /workspace (the working directory): write_file, read_file and list_files move \
them in and out of a session. Figures (matplotlib) come back as PNG images. \
A failure is a tool error whose text starts with a stable code such as SESSION_NOT_FOUND, \
POLICY_DENIED or SYNTAX_ERROR; an exception raised by the code is a tool error with its traceback.";

const RUN_CODE: &str = "Run code in a warden sandbox and get its output. Languages: python \
(the default), javascript (Node.js, with top-level await) and bash. Python has its standard \
library, and numpy, pandas, matplotlib and the like when a template provides them (see below) \
or the host's Python has them. Without session_id the code runs once in a fresh sandbox that \
is discarded afterwards; with a session_id from create_session it runs as the session's next \
cell, and its variables, imports and /workspace files persist between calls. Returns stdout, \
stderr and the last expression's value (as in a notebook); an exception is a tool error with \
its traceback. matplotlib figures open at the end of the code come back as PNG images. No \
network unless `network` is true and the tenant's policy allows it (HTTP and HTTPS to its \
allowed hosts only); pip install does not work either way: ask for Python packages with \
`packages` (checked against the server's allowlist) or use a template. Files live under /workspace, the working \
directory.";

const CREATE_SESSION: &str = "Start a session: a sandbox with a long-lived interpreter \
(python, javascript or bash) whose variables, imports and /workspace files persist across \
run_code calls. Returns its session_id. A template gives Python sessions a prepared package \
environment; `packages` adds allowlisted Python packages. Close it with close_session when \
done (idle sessions are closed after a while).";

/// How a tool call finds its caller.
#[derive(Clone)]
enum Auth {
    /// stdio: the process's one client. This `Authorization` value (none: development
    /// mode) is checked at every call, so that a revoked key stops working at once.
    Fixed(Option<String>),
    /// HTTP: the caller `/mcp` authenticated for the request that carries the call.
    PerRequest,
}

/// The MCP server: warden's tools over one engine.
#[derive(Clone)]
pub struct WardenMcp {
    engine: Arc<Engine>,
    auth: Auth,
}

/// A language, as tools take it.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LanguageArg {
    #[default]
    #[serde(alias = "py", alias = "python3", alias = "Python")]
    Python,
    #[serde(alias = "js", alias = "node", alias = "JavaScript")]
    Javascript,
    #[serde(alias = "sh", alias = "shell", alias = "Bash")]
    Bash,
}

impl From<LanguageArg> for Language {
    fn from(l: LanguageArg) -> Language {
        match l {
            LanguageArg::Python => Language::Python,
            LanguageArg::Javascript => Language::Javascript,
            LanguageArg::Bash => Language::Bash,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunCodeArgs {
    /// The code to run.
    pub code: String,
    /// `python` (the default), `javascript` or `bash`. Leave it out with a session_id: the
    /// session has its own language.
    #[serde(default)]
    pub language: Option<LanguageArg>,
    /// A session from create_session: the code runs there and its state persists.
    /// Without one, the code runs once in a fresh sandbox that is then discarded.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Seconds before the code is interrupted (the server's default when absent, 30 unless
    /// configured otherwise).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Python packages to make importable first, e.g. `["tabulate==0.9.0"]`; checked
    /// against the server's allowlist and installed once into a shared cache.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Without a session_id: a template whose packages the fresh sandbox has (with a
    /// session, the template is chosen when it is created).
    #[serde(default)]
    pub template: Option<String>,
    /// Without a session_id: true to let the code make HTTP(S) requests to the hosts the
    /// tenant's policy allows (refused with POLICY_DENIED when it allows none). A session
    /// keeps the network it was created with.
    #[serde(default)]
    pub network: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateSessionArgs {
    /// `python` (the default), `javascript` or `bash`.
    #[serde(default)]
    pub language: LanguageArg,
    /// A template: a prepared, read-only package environment.
    #[serde(default)]
    pub template: Option<String>,
    /// Python packages to make importable, e.g. `["tabulate==0.9.0"]`; checked against
    /// the server's allowlist.
    #[serde(default)]
    pub packages: Vec<String>,
    /// True to let the session's code make HTTP(S) requests to the hosts the tenant's
    /// policy allows (refused with POLICY_DENIED when it allows none).
    #[serde(default)]
    pub network: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionArgs {
    /// The session, from create_session.
    pub session_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListFilesArgs {
    /// The session, from create_session.
    pub session_id: String,
    /// A directory relative to /workspace (default: /workspace itself).
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadFileArgs {
    /// The session, from create_session.
    pub session_id: String,
    /// The file, relative to /workspace (e.g. `out/result.csv`).
    pub path: String,
}

/// How `write_file`'s content is written.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The text as UTF-8.
    #[default]
    #[serde(alias = "utf8", alias = "text")]
    Utf8,
    /// Base64 of any bytes.
    Base64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteFileArgs {
    /// The session, from create_session.
    pub session_id: String,
    /// The file, relative to /workspace; parent directories are made.
    pub path: String,
    /// The file's content.
    pub content: String,
    /// `utf8` (the default: content is the text) or `base64` (content is base64 of the
    /// bytes).
    #[serde(default)]
    pub encoding: Encoding,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InstallPackagesArgs {
    /// The session, from create_session (a Python session).
    pub session_id: String,
    /// Requirements such as `"tabulate==0.9.0"` or `"humanize"`; each must be on the
    /// server's allowlist.
    pub packages: Vec<String>,
}

/// The structured result of `create_session`.
#[derive(Debug, serde::Serialize, JsonSchema)]
pub struct SessionCreated {
    /// Pass it as session_id to the other tools.
    pub session_id: String,
    pub language: String,
    /// Seconds of idleness after which the session is closed.
    pub idle_ttl: f64,
    /// When the session is closed at the latest (Unix seconds).
    pub expires_at: f64,
}

impl WardenMcp {
    /// A server whose every call authenticates `api_key` (`None`: development mode's
    /// caller, which only an engine in development mode accepts).
    pub fn with_key(engine: Arc<Engine>, api_key: Option<&str>) -> WardenMcp {
        WardenMcp {
            engine,
            auth: Auth::Fixed(api_key.map(|k| format!("Bearer {k}"))),
        }
    }

    /// A server for `/mcp`: each call acts for the caller its HTTP request authenticated.
    pub(crate) fn per_request(engine: Arc<Engine>) -> WardenMcp {
        WardenMcp {
            engine,
            auth: Auth::PerRequest,
        }
    }

    async fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, EngineError> {
        match &self.auth {
            Auth::Fixed(authorization) => self.engine.authenticate(authorization.as_deref()).await,
            Auth::PerRequest => ctx
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Caller>())
                .cloned()
                .ok_or_else(|| EngineError::Unauthorized("no authenticated caller".into())),
        }
    }
}

/// A path as the engine takes it: relative to /workspace (models often write the
/// absolute `/workspace/...` their code uses).
fn workspace_path(path: &str) -> &str {
    match path.strip_prefix("/workspace") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => path,
    }
}

#[tool_router]
impl WardenMcp {
    #[tool(
        description = RUN_CODE,
        annotations(title = "Run code", read_only_hint = false, open_world_hint = false)
    )]
    async fn run_code(
        &self,
        Parameters(args): Parameters<RunCodeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let outcome = async {
            let caller = self.caller(&ctx).await?;
            let req = ExecuteRequest {
                isolation: None,
                code: args.code,
                language: args.language.map(Language::from),
                timeout: args.timeout,
                files: Default::default(),
                memory_mb: None,
                disk_mb: None,
                template: args.template,
                network: args.network.filter(|_| args.session_id.is_none()),
                egress: None,
                packages: args.packages,
                input: None,
            };
            // Output is forwarded as it comes, as progress notifications, when the client
            // asked for progress (`_meta.progressToken`); all of it is in the result too.
            let progress = ctx.meta.get_progress_token();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let forwarding = progress.is_some();
            let cancelled = ctx.ct.clone();
            let run = async move {
                // `on_event` owns the sender: when the run ends, so does the forwarding.
                let mut forwarded = 0;
                let mut on_event = move |e: Event| {
                    let (label, bytes) = match &e {
                        Event::Stdout(b) => ("", b),
                        Event::Stderr(b) => ("stderr: ", b),
                    };
                    if forwarding && forwarded < PROGRESS_LIMIT {
                        forwarded += bytes.len();
                        let _ = tx.send(format!("{label}{}", String::from_utf8_lossy(bytes)));
                    }
                };
                match &args.session_id {
                    Some(id) => {
                        let run = self.engine.execute(&caller, id, req, &mut on_event);
                        tokio::pin!(run);
                        tokio::select! {
                            r = &mut run => r,
                            () = cancelled.cancelled() => {
                                // The client gave up on the call: interrupt the cell, as
                                // Ctrl-C would, and let it end.
                                let _ = self.engine.interrupt(&caller, id);
                                run.await
                            }
                        }
                    }
                    None => self.engine.execute_once(&caller, req, &mut on_event).await,
                }
            };
            let forward = async {
                let Some(token) = progress else { return };
                let mut n = 0.0;
                while let Some(text) = rx.recv().await {
                    n += 1.0;
                    let param = ProgressNotificationParam::new(token.clone(), n).with_message(text);
                    if ctx.peer.notify_progress(param).await.is_err() {
                        break;
                    }
                }
            };
            let (result, ()) = tokio::join!(run, forward);
            result
        }
        .await;
        match outcome {
            Ok(cell) => render::cell(&cell),
            Err(e) => render::failure(e),
        }
    }

    #[tool(
        description = CREATE_SESSION,
        output_schema = schema_for_output::<SessionCreated>(),
        annotations(title = "Create a session", read_only_hint = false, open_world_hint = false)
    )]
    async fn create_session(
        &self,
        Parameters(args): Parameters<CreateSessionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let outcome = async {
            let caller = self.caller(&ctx).await?;
            let req = CreateSession {
                language: args.language.into(),
                template: args.template,
                network: args.network,
                egress: None,
                packages: args.packages,
                ..CreateSession::default()
            };
            self.engine.create_session(&caller, req).await
        }
        .await;
        match outcome {
            Ok(info) => render::session_created(SessionCreated {
                session_id: info.id,
                language: info.language.as_str().into(),
                idle_ttl: info.idle_ttl,
                expires_at: info.expires_at,
            }),
            Err(e) => render::failure(e),
        }
    }

    #[tool(
        description = "Close a session: its sandbox, processes, variables and /workspace files are gone.",
        annotations(
            title = "Close a session",
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn close_session(
        &self,
        Parameters(args): Parameters<SessionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let outcome = async {
            let caller = self.caller(&ctx).await?;
            self.engine.delete_session(&caller, &args.session_id).await
        }
        .await;
        match outcome {
            Ok(()) => render::text(format!("closed session {}", args.session_id)),
            Err(e) => render::failure(e),
        }
    }

    #[tool(
        description = "List a directory of a session's /workspace: names, types and sizes (symlinks are listed, never followed).",
        annotations(title = "List files", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_files(
        &self,
        Parameters(args): Parameters<ListFilesArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = workspace_path(args.path.as_deref().unwrap_or("")).to_string();
        let outcome = async {
            let caller = self.caller(&ctx).await?;
            self.engine.list_files(&caller, &args.session_id, &path)
        }
        .await;
        match outcome {
            Ok(entries) => render::listing(&path, &entries),
            Err(e) => render::failure(e),
        }
    }

    #[tool(
        description = "Read a file of a session's /workspace: its text when it is UTF-8, an image for PNG, JPEG, GIF and WebP files, else base64 of its bytes. At most 1 MiB is returned.",
        annotations(title = "Read a file", read_only_hint = true, open_world_hint = false)
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<ReadFileArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = workspace_path(&args.path).to_string();
        let outcome = async {
            let caller = self.caller(&ctx).await?;
            let open = self.engine.read_file(&caller, &args.session_id, &path)?;
            let mut data = Vec::new();
            tokio::fs::File::from_std(open.file)
                .take(READ_LIMIT)
                .read_to_end(&mut data)
                .await?;
            Ok::<_, EngineError>((open.entry.size, data))
        }
        .await;
        match outcome {
            Ok((size, data)) => render::file(&path, size, data),
            Err(e) => render::failure(e),
        }
    }

    #[tool(
        description = "Write a file into a session's /workspace (parent directories are made; an existing file is replaced). Content is text, or base64 with encoding \"base64\".",
        annotations(
            title = "Write a file",
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn write_file(
        &self,
        Parameters(args): Parameters<WriteFileArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = workspace_path(&args.path).to_string();
        let outcome = async {
            let caller = self.caller(&ctx).await?;
            let bytes = match args.encoding {
                Encoding::Utf8 => args.content.into_bytes(),
                Encoding::Base64 => {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(args.content.trim())
                        .map_err(|e| EngineError::Invalid(format!("content is not base64: {e}")))?
                }
            };
            self.engine
                .write_file(
                    &caller,
                    &args.session_id,
                    &path,
                    Some(bytes.len() as u64),
                    bytes.as_slice(),
                )
                .await
        }
        .await;
        match outcome {
            Ok(entry) => render::text(format!(
                "wrote /workspace/{} ({} bytes)",
                entry.path, entry.size
            )),
            Err(e) => render::failure(e),
        }
    }

    #[tool(
        description = "Make Python packages importable in a running Python session, e.g. [\"tabulate==0.9.0\"]: each must be on the server's allowlist; a set is installed once (from the package index, outside the sandbox) and then shared read-only. Variables are kept; modules imported before keep their version.",
        annotations(
            title = "Install packages",
            read_only_hint = false,
            open_world_hint = true
        )
    )]
    async fn install_packages(
        &self,
        Parameters(args): Parameters<InstallPackagesArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let packages = args.packages.clone();
        let outcome = async {
            let caller = self.caller(&ctx).await?;
            if args.packages.is_empty() {
                return Err(EngineError::Invalid("packages is empty".into()));
            }
            // A session takes packages with a cell: an empty one asks for them alone.
            let req = ExecuteRequest {
                isolation: None,
                code: String::new(),
                language: None,
                timeout: None,
                files: Default::default(),
                memory_mb: None,
                disk_mb: None,
                template: None,
                network: None,
                egress: None,
                packages: args.packages,
                input: None,
            };
            self.engine
                .execute(&caller, &args.session_id, req, &mut |_| {})
                .await
        }
        .await;
        match outcome {
            Ok(cell) if cell.error.is_some() => render::cell(&cell),
            Ok(_) => render::text(format!(
                "installed in session {}: {} (import them in run_code)",
                args.session_id,
                packages.join(", ")
            )),
            Err(e) => render::failure(e),
        }
    }
}

impl WardenMcp {
    /// The instructions, with the hosts sandboxes may reach when the caller is known
    /// without a request (stdio without a key: the development tenant, under the default
    /// policy).
    fn instructions(&self) -> String {
        let policy = &self.engine.config().default_policy;
        match (&self.auth, &policy.egress) {
            (Auth::Fixed(None), Some(egress)) => format!(
                "{INSTRUCTIONS} Here, network: true allows HTTP and HTTPS to: {}.",
                egress.allow.join(", ")
            ),
            _ => INSTRUCTIONS.to_string(),
        }
    }
}

#[tool_handler]
impl ServerHandler for WardenMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("warden", env!("CARGO_PKG_VERSION"))
                    .with_title("warden: code in Linux sandboxes"),
            )
            .with_instructions(self.instructions())
    }

    /// Calls the tool. Arguments that do not fit its schema are the model's to fix: rmcp
    /// makes them a tool error, here worded as every other failure (`INVALID_REQUEST: ...`).
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = ToolCallContext::new(self, request, context);
        let mut response = Self::tool_router().call(call).await?;
        if let CallToolResponse::Complete(result) = &mut response {
            render::name_argument_errors(result);
        }
        Ok(response)
    }

    /// The tools, with what this server offers (its templates) in their descriptions.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = Self::tool_router().list_all();
        describe_templates(&mut tools, &self.engine.templates());
        if let Ok(caller) = self.caller(&context).await {
            describe_network(&mut tools, caller.policy.egress.as_ref());
        }
        let cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            // Templates come and go: not to be cached.
            ttl_ms: cache_hints.then_some(0),
            cache_scope: cache_hints.then_some(CacheScope::Public),
        })
    }
}

/// Adds to the descriptions of the tools that start sandboxes whether the caller's policy
/// gives them network, and to which hosts.
fn describe_network(tools: &mut [Tool], egress: Option<&EgressPolicy>) {
    let note = match egress {
        Some(egress) => format!(
            " For this caller, network: true allows HTTP and HTTPS to: {}.",
            egress.allow.join(", ")
        ),
        None => " For this caller, sandboxes have no network (network: true is refused with \
                 POLICY_DENIED)."
            .to_string(),
    };
    append_to_sandbox_tools(tools, &note);
}

/// Appends `note` to the descriptions of `run_code` and `create_session`.
fn append_to_sandbox_tools(tools: &mut [Tool], note: &str) {
    for tool in tools {
        if tool.name == "run_code" || tool.name == "create_session" {
            let description = tool.description.as_deref().unwrap_or_default();
            tool.description = Some(format!("{description}{note}").into());
        }
    }
}

/// Adds the server's templates to the descriptions of the tools that take one.
fn describe_templates(tools: &mut [Tool], templates: &[TemplateInfo]) {
    let note = if templates.is_empty() {
        " This server has no templates.".to_string()
    } else {
        let list: Vec<String> = templates
            .iter()
            .map(|t| {
                let mut packages: Vec<&str> =
                    t.pip.iter().chain(&t.npm).map(String::as_str).collect();
                let more = packages.len().saturating_sub(12);
                packages.truncate(12);
                let more = if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                };
                format!("{} ({}{more})", t.name, packages.join(", "))
            })
            .collect();
        format!(
            " Templates on this server (pass one as `template`): {}.",
            list.join("; ")
        )
    };
    append_to_sandbox_tools(tools, &note);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_are_relative() {
        assert_eq!(workspace_path("/workspace/a/b.txt"), "a/b.txt");
        assert_eq!(workspace_path("/workspace"), "");
        assert_eq!(workspace_path("/workspace/"), "");
        assert_eq!(workspace_path("a.txt"), "a.txt");
        // Not the workspace: left for the engine to refuse.
        assert_eq!(workspace_path("/workspaces/x"), "/workspaces/x");
        assert_eq!(workspace_path("/etc/passwd"), "/etc/passwd");
    }

    #[test]
    fn every_tool_is_listed_with_a_description_and_an_object_schema() {
        let tools = WardenMcp::tool_router().list_all();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "close_session",
                "create_session",
                "install_packages",
                "list_files",
                "read_file",
                "run_code",
                "write_file"
            ]
        );
        for t in &tools {
            assert!(t.description.as_deref().is_some_and(|d| d.len() > 20));
            assert_eq!(
                t.input_schema.get("type").and_then(|v| v.as_str()),
                Some("object"),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn templates_are_named_in_the_descriptions_that_take_them() {
        let mut tools = WardenMcp::tool_router().list_all();
        let template = TemplateInfo {
            name: "python-data".into(),
            pip: vec!["numpy".into(), "pandas".into(), "matplotlib".into()],
            npm: vec![],
            preload: vec![],
            distributions: vec![],
            python: "3.11".into(),
            created_at: 0.0,
            size_bytes: 0,
            build: "b".into(),
        };
        describe_templates(&mut tools, &[template]);
        for t in &tools {
            let d = t.description.as_deref().unwrap_or_default();
            let named = d.contains("python-data (numpy, pandas, matplotlib)");
            assert_eq!(
                named,
                t.name == "run_code" || t.name == "create_session",
                "{}",
                t.name
            );
        }
    }
}
