//! warden's MCP transport: the engine's operations as Model Context Protocol tools, for
//! agents and MCP clients (Claude Desktop, IDEs, agent frameworks).
//!
//! Like the REST handlers, each tool parses its arguments, calls one engine function and
//! maps the result; nothing here decides anything the engine does not. Failures are tool
//! results with `isError: true` whose text starts with the stable error code
//! (`SESSION_NOT_FOUND: no session ses_...`), so that the model sees them. Served over
//! stdio ([`serve_stdio`], `warden mcp`) and over Streamable HTTP ([`http_router`], `/mcp`
//! on `warden serve`). Built on the official Rust SDK, `rmcp`.

mod http;
mod render;
mod stdio;
mod tools;

pub use http::http_router;
pub use stdio::serve_stdio;
pub use tokio_util::sync::CancellationToken;
pub use tools::WardenMcp;

/// Why the MCP server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The client and the server did not get through the protocol's start (the
    /// `initialize` handshake or its modern equivalent).
    #[error("the MCP connection did not start: {0}")]
    Start(String),
    /// The task serving the connection failed.
    #[error("the MCP connection failed: {0}")]
    Serve(String),
}
