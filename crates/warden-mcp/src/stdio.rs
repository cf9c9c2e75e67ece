//! MCP over a pair of byte streams: the process's stdin and stdout for `warden mcp`.

use std::sync::Arc;

use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use warden_engine::Engine;

use crate::{McpError, WardenMcp};

/// Serves one MCP client over `input` and `output` (newline-delimited JSON-RPC) until it
/// closes its end or `shutdown` is cancelled. Every tool call authenticates `api_key`
/// (`None`: no key, which only an engine in development mode accepts), so a key revoked
/// meanwhile stops working at once.
pub async fn serve_stdio<R, W>(
    engine: Arc<Engine>,
    api_key: Option<&str>,
    input: R,
    output: W,
    shutdown: CancellationToken,
) -> Result<(), McpError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let running = match WardenMcp::with_key(engine, api_key)
        .serve_with_ct((input, output), shutdown.clone())
        .await
    {
        Ok(running) => running,
        // Stopped (a signal) before the client said anything: not a failure.
        Err(_) if shutdown.is_cancelled() => return Ok(()),
        Err(e) => return Err(McpError::Start(e.to_string())),
    };
    running
        .waiting()
        .await
        .map_err(|e| McpError::Serve(e.to_string()))?;
    Ok(())
}
