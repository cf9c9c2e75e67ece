//! `GET /v1/sessions/{id}/ws`: the same events as Server-Sent Events, over a WebSocket,
//! for clients that prefer one long-lived connection.
//!
//! Client → server, JSON text messages: `{"type": "execute", "code": ..., "timeout": ...}`
//! (the fields of an execute request) and `{"type": "interrupt"}`.
//! Server → client: `{"type": "stdout" | "stderr", "text": ...}` as output happens, then
//! `{"type": "result", "result": {...}}` or `{"type": "error", "error": {"code", "message"}}`.

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use serde::Deserialize;
use warden_engine::{Caller, Engine};
use warden_protocol::{ErrorCode, ExecuteRequest};

use crate::error::ApiError;
use crate::stream::{run_streamed, StreamEvent};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Execute(Box<ExecuteRequest>),
    Interrupt,
}

/// Upgrades to a WebSocket on a session that exists (else the usual 404).
pub async fn session_socket(
    State(engine): State<Arc<Engine>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    engine.get_session(&caller, &id)?;
    // Without an upgrade the reply is an error like every other route's (axum's own
    // rejection is plain text).
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("this route speaks WebSocket only: {}", e.body_text()),
        )
    })?;
    Ok(upgrade.on_upgrade(move |socket| serve(engine, caller, id, socket)))
}

fn message(event: &StreamEvent) -> Message {
    let mut body = match event {
        StreamEvent::Result(_) => serde_json::json!({ "result": event.payload() }),
        _ => event.payload(),
    };
    body["type"] = event.name().into();
    Message::Text(body.to_string().into())
}

async fn serve(engine: Arc<Engine>, caller: Caller, id: String, mut socket: WebSocket) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StreamEvent>();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let _ = tx.send(StreamEvent::Error(ApiError::new(
                            ErrorCode::InvalidRequest,
                            "messages are JSON text",
                        )));
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(ClientMessage::Execute(req)) => {
                        // A cell goes on if the socket closes, as an HTTP request would.
                        tokio::spawn(run_streamed(engine.clone(), caller.clone(), id.clone(), *req, tx.clone()));
                    }
                    Ok(ClientMessage::Interrupt) => {
                        if let Err(e) = engine.interrupt(&caller, &id) {
                            let _ = tx.send(StreamEvent::Error(e.into()));
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(StreamEvent::Error(ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!("bad message: {e}"),
                        )));
                    }
                }
            }
            Some(event) = rx.recv() => {
                if socket.send(message(&event)).await.is_err() {
                    break;
                }
            }
        }
    }
}
