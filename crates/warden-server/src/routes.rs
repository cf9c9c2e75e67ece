//! Routes under `/v1`, plus `/healthz`, `/metrics` and `/openapi.json`. Each handler
//! parses, calls one engine function and maps the result. Every route is registered
//! through [`OpenApiRouter`] with its `#[utoipa::path]`, so the OpenAPI document is
//! generated from the same code that routes.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use tokio_util::io::{ReaderStream, StreamReader};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_engine::llm_tools::ToolFormat;
use warden_engine::{AuditFilter, Caller, Engine, ExecutionFilter};
use warden_protocol::{
    AnalyzeRequest, AnalyzeResponse, AuditList, BuildTemplate, CellResponse, CreateSession,
    ErrorBody, ErrorCode, ExecuteRequest, ExecutionInfo, ExecutionList, FileEntry, FileList,
    Health, IsolationReport, Language, LimitsInfo, SessionInfo, SessionList, TemplateBuild,
    TemplateInfo, TemplateList,
};

use crate::error::ApiError;
use crate::stream::{run_streamed, StreamEvent};

type AppState = Arc<Engine>;

/// Paths axum spells differently from OpenAPI (the `{*path}` wildcard), documented here
/// and routed by hand in [`router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "warden",
        description = "Run untrusted code in kernel-enforced sandboxes: stateful sessions, \
                       one-shot executions, files and streaming. Every error is \
                       `{\"error\": {\"code\", \"message\"}}` with a stable code \
                       (docs/ERRORS.md)."
    ),
    paths(read_file, write_file, delete_file)
)]
struct ApiDoc;

/// The routes with their OpenAPI document.
fn api(body_limit: usize) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let (router, openapi) = crate::flow_routes::register(router)
        .routes(routes!(execute_once))
        .routes(routes!(analyze))
        .routes(routes!(list_tools))
        .routes(routes!(call_tool))
        .routes(routes!(create_session, list_sessions))
        .routes(routes!(get_session, delete_session))
        .routes(routes!(notebook))
        .routes(routes!(execute))
        .routes(routes!(session_socket))
        .routes(routes!(interrupt))
        .routes(routes!(restart))
        .routes(routes!(list_files))
        .routes(routes!(list_executions))
        .routes(routes!(get_execution))
        .routes(routes!(list_audit))
        .routes(routes!(limits))
        .routes(routes!(doctor))
        .routes(routes!(list_templates))
        .routes(routes!(get_template))
        .routes(routes!(build_template))
        .routes(routes!(get_template_build))
        .split_for_parts();
    // Every /v1 route needs an API key; /healthz and /metrics do not.
    let v1 = router
        .route(
            "/v1/sessions/{id}/files/{*path}",
            get(read_file).put(write_file).delete(delete_file),
        )
        .layer(DefaultBodyLimit::max(body_limit));
    let (open, open_doc) = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .split_for_parts();
    let mut openapi = openapi;
    document_common_replies(&mut openapi);
    openapi.merge(open_doc);
    (v1, open, openapi)
}

/// What the `/v1` layers answer before a handler runs, on every operation that does not
/// list it itself: a key is required ([`authenticate`]: one bearer scheme, and a 401), and
/// a body over the limit is refused (413 PAYLOAD_TOO_LARGE, [`DefaultBodyLimit`]).
fn document_common_replies(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement};
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    const SCHEME: &str = "api_key";
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SCHEME,
        utoipa::openapi::security::SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("wk_...")
                .description(Some(
                    "An API key from `warden keys create` (not needed with `--dev`)",
                ))
                .build(),
        ),
    );
    let error_reply = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    let unauthorized = error_reply("UNAUTHORIZED: no API key, or one the server does not know");
    let too_large = error_reply("PAYLOAD_TOO_LARGE: a body over the server's limit");
    for (path, item) in openapi.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            op.security = Some(vec![SecurityRequirement::new::<_, _, &str>(SCHEME, [])]);
            op.responses
                .responses
                .entry("401".to_string())
                .or_insert_with(|| unauthorized.clone().into());
            if op.request_body.is_some() {
                op.responses
                    .responses
                    .entry("413".to_string())
                    .or_insert_with(|| too_large.clone().into());
            }
        }
    }
}

/// The OpenAPI document of the HTTP API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api(0).2
}

/// The HTTP API over an engine.
pub fn router(engine: Arc<Engine>) -> Router {
    // Room for the code and inline files limits plus JSON escaping and base64; larger
    // JSON bodies get 413 (file uploads stream and are bounded by the workspace).
    let config = engine.config();
    let body_limit = config.max_code_bytes * 2 + config.max_inline_file_bytes * 2 + (64 << 10);
    let (v1, open, doc) = api(body_limit);
    let doc = Arc::new(doc);
    let v1 = v1.route_layer(middleware::from_fn_with_state(engine.clone(), authenticate));
    v1.merge(open)
        .merge(crate::console::router())
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(engine)
}

/// Authenticates a `/v1` request (`Authorization: Bearer KEY`) and hands the caller to
/// the handler.
async fn authenticate(
    State(engine): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let caller = engine.authenticate(header.as_deref()).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}

/// Query parameters, or `400 INVALID_REQUEST`.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))
}

/// A JSON body, or the one error shape: 400 for malformed JSON, 413 for too large.
pub(crate) fn body<T: DeserializeOwned>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match b {
        Ok(Json(v)) => Ok(v),
        Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the request body is too large",
            ))
        }
        Err(e) => Err(ApiError::new(ErrorCode::InvalidRequest, e.body_text())),
    }
}

/// Liveness and counts.
#[utoipa::path(get, path = "/healthz", tag = "server",
    responses((status = 200, body = Health)))]
async fn healthz(State(engine): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        sessions: engine.session_count(),
        pool: engine.pool_len(),
        pools: Language::ALL
            .into_iter()
            .map(|l| (l.as_str().to_string(), engine.pool_len_of(l)))
            .collect(),
    })
}

/// Prometheus metrics (OpenMetrics text): live sessions, pool size, executions by
/// status, duration histograms.
#[utoipa::path(get, path = "/metrics", tag = "server",
    responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(engine): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, warden_engine::metrics::CONTENT_TYPE)],
        engine.metrics_text(),
    )
        .into_response()
}

/// Creates a session: a sandbox with a long-lived interpreter (from the pool when the
/// defaults are asked for).
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = CreateSession,
    responses(
        (status = 201, body = SessionInfo),
        (status = 400, description = "Malformed request or a limit over the server's maximum", body = ErrorBody),
        (status = 403, description = "POLICY_DENIED (a language or limit the policy does not allow) or PACKAGE_NOT_ALLOWED", body = ErrorBody),
        (status = 404, description = "TEMPLATE_NOT_FOUND: no such template", body = ErrorBody),
        (status = 422, description = "PACKAGE_INSTALL_FAILED: an allowed package did not install", body = ErrorBody),
        (status = 429, description = "QUOTA_EXCEEDED: the tenant holds its policy's max_sessions (with Retry-After)", body = ErrorBody),
        (status = 503, description = "UNAVAILABLE (at the session maximum, or shutting down) or SANDBOX_SETUP_FAILED", body = ErrorBody),
    ))]
async fn create_session(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<CreateSession>, JsonRejection>,
) -> Result<Response, ApiError> {
    let info = engine.create_session(&caller, body(b)?).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// Lists live sessions, oldest first.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions",
    responses((status = 200, body = SessionList)))]
async fn list_sessions(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<SessionList> {
    Json(SessionList {
        sessions: engine.list_sessions(&caller),
    })
}

/// A session's state.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionInfo), (status = 404, body = ErrorBody)))]
async fn get_session(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.get_session(&caller, &id)?).into_response())
}

/// The session's cells and their outputs as a Jupyter notebook (nbformat 4.5): save it
/// as an `.ipynb` file.
#[utoipa::path(get, path = "/v1/sessions/{id}/notebook", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "An nbformat 4 notebook", body = Object), (status = 404, body = ErrorBody)))]
async fn notebook(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let nb = engine.notebook(&caller, &id)?;
    let name = format!("attachment; filename=\"{id}.ipynb\"");
    let disposition = axum::http::HeaderValue::from_str(&name)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("attachment"));
    Ok((
        [(axum::http::header::CONTENT_DISPOSITION, disposition)],
        Json(nb),
    )
        .into_response())
}

/// Closes a session: its sandbox, processes and workspace are gone after.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Closed"), (status = 404, body = ErrorBody)))]
async fn delete_session(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.delete_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Interrupts the running cell (Python sees KeyboardInterrupt); state is kept.
#[utoipa::path(post, path = "/v1/sessions/{id}/interrupt", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    responses((status = 202, description = "Interrupt sent"), (status = 404, body = ErrorBody),
        (status = 410, description = "The session is dead", body = ErrorBody)))]
async fn interrupt(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.interrupt(&caller, &id)?;
    Ok(StatusCode::ACCEPTED)
}

/// Replaces the interpreter with a fresh one; variables and workspace are reset.
#[utoipa::path(post, path = "/v1/sessions/{id}/restart", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionInfo), (status = 404, body = ErrorBody),
        (status = 503, description = "UNAVAILABLE (shutting down) or SANDBOX_SETUP_FAILED", body = ErrorBody)))]
async fn restart(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.restart(&caller, &id).await?).into_response())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Directory relative to `/workspace`; empty for `/workspace` itself.
    #[serde(default)]
    path: String,
}

/// Lists a directory of the workspace (name, size, mtime, type); symlinks are listed,
/// never followed.
#[utoipa::path(get, path = "/v1/sessions/{id}/files", tag = "files",
    params(("id" = String, Path, description = "Session id"), ListQuery),
    responses((status = 200, body = FileList), (status = 400, description = "INVALID_PATH: absolute, `..`, empty components, or a directory", body = ErrorBody),
        (status = 403, description = "PATH_FORBIDDEN: a symlink, fifo, socket or device", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND or FILE_NOT_FOUND", body = ErrorBody),
        (status = 410, description = "SESSION_DEAD", body = ErrorBody)))]
async fn list_files(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let entries = engine.list_files(&caller, &id, &q.path)?;
    Ok(Json(FileList {
        path: q.path,
        entries,
    })
    .into_response())
}

/// Downloads a regular file of the workspace, streamed, byte-exact.
#[utoipa::path(get, path = "/v1/sessions/{id}/files/{path}", tag = "files", params(("id" = String, Path, description = "Session id"), ("path" = String, Path, description = "File path relative to /workspace")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400, description = "INVALID_PATH: absolute, `..`, empty components, or a directory", body = ErrorBody),
        (status = 403, description = "PATH_FORBIDDEN: a symlink, fifo, socket or device", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND or FILE_NOT_FOUND", body = ErrorBody),
        (status = 410, description = "SESSION_DEAD", body = ErrorBody)))]
async fn read_file(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let open = engine.read_file(&caller, &id, &path)?;
    let stream = ReaderStream::new(tokio::fs::File::from_std(open.file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, open.entry.size.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// How much of a refused upload is read (and dropped) before the error reply, and for
/// how long at most.
const UPLOAD_DRAIN_BYTES: u64 = 64 << 20;
const UPLOAD_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Uploads a file (the raw request body, streamed; parent directories are made). It
/// replaces the target only once complete; a symlink at the target is replaced, never
/// followed.
#[utoipa::path(put, path = "/v1/sessions/{id}/files/{path}", tag = "files", params(("id" = String, Path, description = "Session id"), ("path" = String, Path, description = "File path relative to /workspace")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileEntry),
        (status = 413, description = "Over the workspace's size limit", body = ErrorBody), (status = 400, description = "INVALID_PATH: absolute, `..`, empty components, or a directory", body = ErrorBody),
        (status = 403, description = "PATH_FORBIDDEN: a symlink, fifo, socket or device", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND or FILE_NOT_FOUND", body = ErrorBody),
        (status = 410, description = "SESSION_DEAD", body = ErrorBody),
        (status = 503, description = "UNAVAILABLE: shutting down", body = ErrorBody)))]
async fn write_file(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut data = StreamReader::new(
        body.into_data_stream()
            .map(|r| r.map_err(std::io::Error::other)),
    );
    let written = engine
        .write_file(&caller, &id, &path, size, &mut data)
        .await;
    if written.is_err() {
        // A client still sending (a chunked upload over the size limit) would otherwise
        // see its connection reset instead of this reply: read and drop the rest of the
        // upload first, within bounds.
        use tokio::io::AsyncReadExt;
        let rest = (&mut data).take(UPLOAD_DRAIN_BYTES);
        let _ = tokio::time::timeout(
            UPLOAD_DRAIN_TIME,
            tokio::io::copy(&mut { rest }, &mut tokio::io::sink()),
        )
        .await;
    }
    Ok((StatusCode::CREATED, Json(written?)).into_response())
}

/// Deletes a file, a symlink (not its target), or a directory with its contents.
#[utoipa::path(delete, path = "/v1/sessions/{id}/files/{path}", tag = "files", params(("id" = String, Path, description = "Session id"), ("path" = String, Path, description = "File path relative to /workspace")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "INVALID_PATH: absolute, `..`, empty components, or a directory", body = ErrorBody),
        (status = 403, description = "PATH_FORBIDDEN: a symlink, fifo, socket or device", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND or FILE_NOT_FOUND", body = ErrorBody),
        (status = 410, description = "SESSION_DEAD", body = ErrorBody)))]
async fn delete_file(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, path)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    engine.delete_file(&caller, &id, &path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One-shot: a fresh sandbox (from the pool) runs the code with the given files in
/// `/workspace` and is discarded; the reply lists the files created or changed.
#[utoipa::path(post, path = "/v1/execute", tag = "execute", request_body = ExecuteRequest,
    responses((status = 200, body = CellResponse),
        (status = 400, body = ErrorBody),
        (status = 403, description = "SECURITY_VIOLATION, POLICY_DENIED or PACKAGE_NOT_ALLOWED", body = ErrorBody),
        (status = 410, description = "The sandbox died (e.g. MEMORY_LIMIT)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "PACKAGE_INSTALL_FAILED: an allowed package did not install", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED or QUOTA_EXCEEDED (with Retry-After)", body = ErrorBody),
        (status = 503, description = "UNAVAILABLE (shutting down) or SANDBOX_SETUP_FAILED", body = ErrorBody)))]
async fn execute_once(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<ExecuteRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
    let reply =
        detached(async move { engine.execute_once(&caller, req, &mut |_| {}).await }).await?;
    Ok(Json(reply).into_response())
}

/// Runs `work` (code that runs) in a task of its own and waits for it: a client that
/// hangs up does not cut the run short, so the session, its record and its account
/// stay consistent (the cell finishes, is recorded, and the session is busy until then).
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, warden_engine::EngineError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(work).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("the run's task failed: {e}"),
        )),
    }
}

/// Analyses code without running it: syntax, findings (`{rule, severity, line, col,
/// message}`), metrics, the risk level, and the `action` the caller's policy would take.
/// A syntax error is reported in the reply (`syntax_error`), not as an error.
#[utoipa::path(post, path = "/v1/analyze", tag = "execute", request_body = AnalyzeRequest,
    responses((status = 200, body = AnalyzeResponse),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn analyze(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<AnalyzeRequest>, JsonRejection>,
) -> Result<Json<AnalyzeResponse>, ApiError> {
    Ok(Json(engine.analyze(&caller, body(b)?).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ToolQuery {
    /// `openai` (default) or `anthropic`.
    format: Option<String>,
    /// `POST /v1/tools/call`: the session the tools act on; without one, code runs
    /// one-shot and the file tools are unavailable.
    session_id: Option<String>,
}

impl ToolQuery {
    fn format(&self) -> Result<ToolFormat, ApiError> {
        Ok(ToolFormat::parse(
            self.format.as_deref().unwrap_or("openai"),
        )?)
    }
}

/// Function-calling tool definitions (`execute_python` and its companions) in OpenAI's or
/// Anthropic's format, ready to pass as the API's `tools`.
#[utoipa::path(get, path = "/v1/tools", tag = "tools", params(ToolQuery),
    responses((status = 200, description = "`{\"format\", \"tools\": [...]}`", body = Object),
        (status = 400, body = ErrorBody)))]
async fn list_tools(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ToolQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let format = q.format()?;
    let templates: Vec<String> = engine.templates().into_iter().map(|t| t.name).collect();
    let egress = caller.policy.egress.as_ref().map(|e| e.allow.as_slice());
    Ok(Json(serde_json::json!({
        "format": format.as_str(),
        "tools": warden_engine::llm_tools::definitions(format, &templates, egress),
    })))
}

/// Runs a tool call exactly as the model emitted it (OpenAI: `{"id", "type": "function",
/// "function": {"name", "arguments"}}`; Anthropic: `{"type": "tool_use", "id", "name",
/// "input"}`) and answers `{"messages": [...]}`: the message(s) to append to the
/// conversation (text plus images). A failing tool is reported in the messages (HTTP 200);
/// a malformed call is `400 INVALID_REQUEST`.
#[utoipa::path(post, path = "/v1/tools/call", tag = "tools", params(ToolQuery),
    request_body(content = Object, description = "The tool call as the model emitted it"),
    responses((status = 200, description = "`{\"messages\": [...]}`", body = Object),
        (status = 400, body = ErrorBody)))]
async fn call_tool(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ToolQuery>, QueryRejection>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let format = q.format()?;
    let call = body(b)?;
    let messages = detached(async move {
        engine
            .call_tool(&caller, format, q.session_id.as_deref(), &call)
            .await
    })
    .await?;
    Ok(Json(serde_json::json!({ "messages": messages })))
}

pub(crate) fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Runs a cell: one JSON result, or with `Accept: text/event-stream` Server-Sent Events as
/// things happen: `stdout` and `stderr` (`{"text": ...}`), then `result` (the JSON
/// result) or `error` (the error shape).
#[utoipa::path(post, path = "/v1/sessions/{id}/execute", tag = "execute", params(("id" = String, Path, description = "Session id")),
    request_body = ExecuteRequest,
    responses(
        (status = 200, content(
            (CellResponse = "application/json"),
            (String = "text/event-stream", example = "event: stdout\ndata: {\"text\":\"hi\\n\"}\n\nevent: result\ndata: {...}\n\n"),
        )),
        (status = 400, body = ErrorBody),
        (status = 403, description = "SECURITY_VIOLATION, POLICY_DENIED or PACKAGE_NOT_ALLOWED", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "SESSION_BUSY: another cell runs", body = ErrorBody),
        (status = 410, description = "SESSION_DEAD", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "PACKAGE_INSTALL_FAILED: an allowed package did not install", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED or QUOTA_EXCEEDED (with Retry-After)", body = ErrorBody),
        (status = 503, description = "UNAVAILABLE: shutting down", body = ErrorBody)))]
async fn execute(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ExecuteRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
    if !wants_events(&headers) {
        let reply =
            detached(async move { engine.execute(&caller, &id, req, &mut |_| {}).await }).await?;
        return Ok(Json(reply).into_response());
    }
    // Refuse what can be refused up front with a status code, before the stream starts.
    let info = engine.get_session(&caller, &id)?;
    if info.state == "busy" {
        return Err(ApiError::new(
            ErrorCode::SessionBusy,
            format!("session {id} is running another cell"),
        ));
    }
    if info.state == "dead" {
        return Err(ApiError::new(
            ErrorCode::SessionDead,
            format!("session {id} is dead"),
        ));
    }
    Ok(Sse::new(event_stream(engine, caller, id, req))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event_stream(
    engine: AppState,
    caller: Caller,
    id: String,
    req: ExecuteRequest,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<StreamEvent>();
    tokio::spawn(run_streamed(engine, caller, id, req, tx));
    UnboundedReceiverStream::new(rx).map(|e| {
        Ok(SseEvent::default()
            .event(e.name())
            .data(e.payload().to_string()))
    })
}

/// A WebSocket carrying the same events as Server-Sent Events. Send
/// `{"type": "execute", "code": ...}` or `{"type": "interrupt"}`; receive
/// `{"type": "stdout"|"stderr", "text"}`, then `{"type": "result", "result"}` or
/// `{"type": "error", "error"}`.
#[utoipa::path(get, path = "/v1/sessions/{id}/ws", tag = "execute", params(("id" = String, Path, description = "Session id")),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "INVALID_REQUEST: not a WebSocket upgrade request", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn session_socket(
    state: State<AppState>,
    caller: Extension<Caller>,
    path: Path<String>,
    upgrade: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Result<Response, ApiError> {
    crate::ws::session_socket(state, caller, path, upgrade).await
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExecutionQuery {
    /// Only this tenant's records. A key that is not an admin key sees only its own
    /// tenant's (another tenant here is 403); an admin key sees every tenant's unless
    /// this is given.
    tenant: Option<String>,
    /// Only this session's cells.
    session_id: Option<String>,
    /// Only this status (`ok`, `error`, `timeout`, `memory_limit`, ...).
    status: Option<String>,
    /// Only records whose code was analysed at this risk level or higher (`none`,
    /// `low`, `medium`, `high`).
    min_risk: Option<warden_protocol::RiskLevel>,
    /// Started at or after (Unix seconds).
    since: Option<f64>,
    /// Started before (Unix seconds).
    until: Option<f64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// Execution records, newest first, a page at a time: the caller's tenant's, or every
/// tenant's for an admin key.
#[utoipa::path(get, path = "/v1/executions", tag = "records", params(ExecutionQuery),
    responses((status = 200, body = ExecutionList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: another tenant's records without an admin key", body = ErrorBody)))]
async fn list_executions(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ExecutionQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let filter = ExecutionFilter {
        tenant: q.tenant,
        session_id: q.session_id,
        status: q.status,
        min_risk: q.min_risk,
        since: q.since,
        until: q.until,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(engine.list_executions(&caller, filter).await?).into_response())
}

/// One execution record: of the caller's tenant, or of any tenant for an admin key.
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "records", params(("id" = String, Path, description = "Execution id")),
    responses((status = 200, body = ExecutionInfo), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_execution(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.get_execution(&caller, &id).await?).into_response())
}

/// The published templates (`warden template build`), by name.
#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, body = TemplateList), (status = 401, body = ErrorBody)))]
async fn list_templates(State(engine): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(TemplateList {
        templates: engine.templates(),
    })
    .into_response())
}

/// Starts building a template on the server (admin keys): pip runs in a sandbox that
/// reaches only the package index; the result is checked and published atomically.
#[utoipa::path(post, path = "/v1/templates", tag = "templates", request_body = BuildTemplate,
    responses((status = 202, body = TemplateBuild), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN (not an admin key) or PACKAGE_NOT_ALLOWED", body = ErrorBody),
        (status = 409, description = "CONFLICT: a build of this name is running", body = ErrorBody),
        (status = 503, description = "UNAVAILABLE: shutting down", body = ErrorBody)))]
async fn build_template(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    req: Result<Json<BuildTemplate>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req)?;
    let build = engine.build_template(&caller, req).await?;
    Ok((StatusCode::ACCEPTED, Json(build)).into_response())
}

/// How the latest build of a template through the API went.
#[utoipa::path(get, path = "/v1/templates/{name}/build", tag = "templates", params(("name" = String, Path, description = "Template name")),
    responses((status = 200, body = TemplateBuild), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_template_build(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.template_build(&name)?).into_response())
}

/// One template.
#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates", params(("name" = String, Path, description = "Template name")),
    responses((status = 200, body = TemplateInfo),
        (status = 400, description = "Not a valid template name", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_template(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.template(&name)?).into_response())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Only this tenant's entries.
    tenant: Option<String>,
    /// Only this action (`auth.failed`, `session.created`, ...).
    action: Option<String>,
    /// At or after (Unix seconds).
    since: Option<f64>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// The audit log, newest first (admin keys only).
#[utoipa::path(get, path = "/v1/audit", tag = "records", params(AuditQuery),
    responses((status = 200, body = AuditList),
        (status = 400, description = "INVALID_REQUEST: a malformed filter or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: not an admin key", body = ErrorBody)))]
async fn list_audit(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let filter = AuditFilter {
        tenant: q.tenant,
        action: q.action,
        since: q.since,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(engine.list_audit(&caller, filter).await?).into_response())
}

/// The limits in force for the caller: the server's flags and the caller's policy.
#[utoipa::path(get, path = "/v1/limits", tag = "server",
    responses((status = 200, body = LimitsInfo), (status = 401, body = ErrorBody)))]
async fn limits(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<LimitsInfo> {
    Json(engine.limits(&caller))
}

/// `warden doctor`'s isolation report for this server's host and data directory (admin
/// keys only). It is made at most once a minute.
#[utoipa::path(get, path = "/v1/doctor", tag = "server",
    responses((status = 200, body = IsolationReport), (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: not an admin key", body = ErrorBody)))]
async fn doctor(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.isolation_report(&caller).await?).into_response())
}
