//! Routes under `/v1`, plus `/healthz`. Each handler parses, calls one engine function
//! and maps the result.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use tokio_util::io::{ReaderStream, StreamReader};
use warden_engine::Engine;
use warden_protocol::{CreateSession, ErrorCode, ExecuteRequest};

use crate::error::ApiError;
use crate::stream::{run_streamed, StreamEvent};

type AppState = Arc<Engine>;

/// The HTTP API over an engine.
pub fn router(engine: Arc<Engine>) -> Router {
    // Room for the code and inline files limits plus JSON escaping and base64; larger
    // JSON bodies get 413 (file uploads stream and are bounded by the workspace).
    let config = engine.config();
    let body_limit = config.max_code_bytes * 2 + config.max_inline_file_bytes * 2 + (64 << 10);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/execute", post(execute_once))
        .route("/v1/sessions", post(create_session).get(list_sessions))
        .route("/v1/sessions/{id}", get(get_session).delete(delete_session))
        .route("/v1/sessions/{id}/execute", post(execute))
        .route("/v1/sessions/{id}/ws", get(crate::ws::session_socket))
        .route("/v1/sessions/{id}/interrupt", post(interrupt))
        .route("/v1/sessions/{id}/restart", post(restart))
        .route("/v1/sessions/{id}/files", get(list_files))
        .route(
            "/v1/sessions/{id}/files/{*path}",
            get(read_file).put(write_file).delete(delete_file),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(engine)
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

/// A JSON body, or the one error shape: 400 for malformed JSON, 413 for too large.
fn body<T: DeserializeOwned>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
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

async fn healthz(State(engine): State<AppState>) -> Json<serde_json::Value> {
    Json(
        serde_json::json!({"status": "ok", "sessions": engine.session_count(), "pool": engine.pool_len()}),
    )
}

async fn metrics(State(engine): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, warden_engine::metrics::CONTENT_TYPE)],
        engine.metrics_text(),
    )
        .into_response()
}

async fn create_session(
    State(engine): State<AppState>,
    b: Result<Json<CreateSession>, JsonRejection>,
) -> Result<Response, ApiError> {
    let info = engine.create_session(body(b)?).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn list_sessions(State(engine): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"sessions": engine.list_sessions()}))
}

async fn get_session(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.get_session(&id)?).into_response())
}

async fn delete_session(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.delete_session(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn interrupt(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.interrupt(&id)?;
    Ok(StatusCode::ACCEPTED)
}

async fn restart(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(engine.restart(&id).await?).into_response())
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    path: String,
}

/// `GET /v1/sessions/{id}/files?path=DIR`: the entries of a workspace directory.
async fn list_files(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let entries = engine.list_files(&id, &q.path)?;
    Ok(Json(serde_json::json!({"path": q.path, "entries": entries})).into_response())
}

/// `GET /v1/sessions/{id}/files/{path}`: the file's bytes, streamed from the workspace.
async fn read_file(
    State(engine): State<AppState>,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let open = engine.read_file(&id, &path)?;
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

/// `PUT /v1/sessions/{id}/files/{path}`: writes the request body, streamed, to the file.
async fn write_file(
    State(engine): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let data = StreamReader::new(
        body.into_data_stream()
            .map(|r| r.map_err(std::io::Error::other)),
    );
    let entry = engine.write_file(&id, &path, size, data).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// `DELETE /v1/sessions/{id}/files/{path}`: a file, a symlink, or a directory tree.
async fn delete_file(
    State(engine): State<AppState>,
    Path((id, path)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    engine.delete_file(&id, &path)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn execute_once(
    State(engine): State<AppState>,
    b: Result<Json<ExecuteRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
    Ok(Json(engine.execute_once(req, &mut |_| {}).await?).into_response())
}

fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// `POST /v1/sessions/{id}/execute`: one JSON result, or with
/// `Accept: text/event-stream` Server-Sent Events as things happen: `stdout` and `stderr`
/// (`{"text": ...}`), then `result` (the JSON result) or `error` (the error shape).
async fn execute(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ExecuteRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
    if !wants_events(&headers) {
        return Ok(Json(engine.execute(&id, req, &mut |_| {}).await?).into_response());
    }
    // Refuse what can be refused up front with a status code, before the stream starts.
    let info = engine.get_session(&id)?;
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
    Ok(Sse::new(event_stream(engine, id, req))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event_stream(
    engine: AppState,
    id: String,
    req: ExecuteRequest,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<StreamEvent>();
    tokio::spawn(run_streamed(engine, id, req, tx));
    UnboundedReceiverStream::new(rx).map(|e| {
        Ok(SseEvent::default()
            .event(e.name())
            .data(e.payload().to_string()))
    })
}
