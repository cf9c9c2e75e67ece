//! MCP over Streamable HTTP at `/mcp`, authenticated as `/v1` is: every request carries
//! `Authorization: Bearer KEY` (none needed in development mode), and the caller it
//! names is the one every tool call of that request acts for.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use warden_engine::Engine;
use warden_server::ApiError;

use crate::WardenMcp;

/// What an MCP session's keep-alive adds to the longest call.
const LONGEST_CALL_MARGIN: Duration = Duration::from_secs(60);

/// The `/mcp` route, to merge with [`warden_server::router`]. Cancelling `shutdown` ends
/// the MCP sessions and their open event streams, so that a graceful shutdown of the
/// HTTP server does not wait for clients to hang up.
pub fn http_router(engine: Arc<Engine>, shutdown: CancellationToken) -> Router {
    let config = engine.config();
    // The same room as the REST API's JSON bodies: code, inline files, escaping.
    let body_limit = config.max_code_bytes * 2 + config.max_inline_file_bytes * 2 + (64 << 10);
    let mut http = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown)
        .with_max_request_body_bytes(body_limit);
    if !config.dev_mode {
        // rmcp accepts only loopback `Host` names by default, against DNS rebinding of a
        // local server that has no credentials. With keys, every request is authenticated
        // and the server may be reached under any name. Development mode, which has no
        // keys and listens on loopback only, keeps the check.
        http = http.disable_allowed_hosts();
    }
    // An MCP session (of the older protocol versions) with no traffic is dropped after
    // its keep-alive; a call that is still running must not be: the longest cell or
    // package install, and a minute more.
    let mut sessions = LocalSessionManager::default();
    let longest = config.max_cell_timeout.max(config.package_install_timeout) + LONGEST_CALL_MARGIN;
    sessions.session_config.keep_alive = sessions.session_config.keep_alive.map(|k| k.max(longest));
    let for_sessions = engine.clone();
    let service = StreamableHttpService::new(
        move || Ok(WardenMcp::per_request(for_sessions.clone())),
        Arc::new(sessions),
        http,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(engine, authenticate))
}

/// Authenticates an `/mcp` request and hands the caller to the tools (through the
/// request's extensions, which rmcp passes on); a refusal is the API's usual `401`.
async fn authenticate(
    State(engine): State<Arc<Engine>>,
    mut request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match engine.authenticate(authorization.as_deref()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
