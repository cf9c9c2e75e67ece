//! A cell's events as they happen, for the streaming transports (Server-Sent Events and
//! WebSocket): text chunks of stdout and stderr, then one result or one error.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use warden_engine::{Caller, Engine, Event};
use warden_protocol::{CellResponse, ExecuteRequest};

use crate::error::ApiError;
use warden_analysis::utf8::Utf8Chunks;

/// One event of a streamed execution.
#[derive(Debug)]
pub enum StreamEvent {
    Stdout(String),
    Stderr(String),
    Result(Box<CellResponse>),
    Error(ApiError),
}

impl StreamEvent {
    /// The event's name (`stdout`, `stderr`, `result`, `error`).
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Stdout(_) => "stdout",
            StreamEvent::Stderr(_) => "stderr",
            StreamEvent::Result(_) => "result",
            StreamEvent::Error(_) => "error",
        }
    }

    /// The event's JSON payload: `{"text"}` for output, the result, or the error shape.
    pub fn payload(&self) -> serde_json::Value {
        match self {
            StreamEvent::Stdout(t) | StreamEvent::Stderr(t) => serde_json::json!({ "text": t }),
            StreamEvent::Result(r) => serde_json::to_value(r).unwrap_or_default(),
            StreamEvent::Error(e) => serde_json::to_value(e.body()).unwrap_or_default(),
        }
    }
}

/// Runs a cell, sending its events to `tx` as they happen; the last event is the
/// result or the error. Output is split only between whole UTF-8 characters.
pub async fn run_streamed(
    engine: Arc<Engine>,
    caller: Caller,
    id: String,
    req: ExecuteRequest,
    tx: UnboundedSender<StreamEvent>,
) {
    let (mut out, mut err) = (Utf8Chunks::default(), Utf8Chunks::default());
    let events = tx.clone();
    let mut on_event = |e: Event| {
        let event = match e {
            Event::Stdout(b) => StreamEvent::Stdout(out.push(&b)),
            Event::Stderr(b) => StreamEvent::Stderr(err.push(&b)),
        };
        if !matches!(&event, StreamEvent::Stdout(t) | StreamEvent::Stderr(t) if t.is_empty()) {
            let _ = events.send(event);
        }
    };
    let result = engine.execute(&caller, &id, req, &mut on_event).await;
    for rest in [
        StreamEvent::Stdout(out.finish()),
        StreamEvent::Stderr(err.finish()),
    ] {
        if !matches!(&rest, StreamEvent::Stdout(t) | StreamEvent::Stderr(t) if t.is_empty()) {
            let _ = tx.send(rest);
        }
    }
    let _ = tx.send(match result {
        Ok(r) => StreamEvent::Result(Box::new(r)),
        Err(e) => StreamEvent::Error(ApiError::from(e)),
    });
}
