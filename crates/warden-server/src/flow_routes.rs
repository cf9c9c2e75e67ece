//! Workflow routes: stored, versioned definitions; runs (waited for, started in the
//! background, or streamed as Server-Sent Events) with their trace; document collections
//! for `retrieval` nodes.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_engine::workflows::RunEventStream;
use warden_engine::RunFilter;
use warden_engine::{Caller, Engine};
use warden_protocol::{
    AddDocuments, CollectionInfo, CollectionList, ErrorBody, RunInfo, RunList, SaveWorkflow,
    SearchResults, StartRun, WorkflowInfo, WorkflowList,
};

use crate::error::ApiError;
use crate::routes::{body, query, wants_events};

type AppState = Arc<Engine>;

/// Registers the workflow routes.
pub(crate) fn register(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(save_workflow, list_workflows))
        .routes(routes!(get_workflow))
        .routes(routes!(run_stored))
        .routes(routes!(run_inline, list_runs))
        .routes(routes!(get_run))
        .routes(routes!(run_events))
        .routes(routes!(list_collections))
        .routes(routes!(add_documents))
        .routes(routes!(delete_collection))
        .routes(routes!(search_collection))
}

/// Stores a workflow definition (JSON object, or YAML/JSON text) as the next version of
/// its id. It is validated first: `400 WORKFLOW_INVALID` lists every problem with its
/// node.
#[utoipa::path(post, path = "/v1/workflows", tag = "workflows", request_body = SaveWorkflow,
    responses((status = 201, body = WorkflowInfo),
        (status = 400, description = "WORKFLOW_INVALID (with `problems`) or INVALID_REQUEST", body = ErrorBody)))]
async fn save_workflow(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<SaveWorkflow>, JsonRejection>,
) -> Result<Response, ApiError> {
    let info = engine.save_workflow(&caller, body(b)?).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// The latest version of each stored workflow, by id.
#[utoipa::path(get, path = "/v1/workflows", tag = "workflows",
    responses((status = 200, body = WorkflowList)))]
async fn list_workflows(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<WorkflowList>, ApiError> {
    Ok(Json(engine.list_workflows(&caller).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// A stored version; the latest when absent.
    version: Option<u64>,
}

/// A stored workflow with its definition.
#[utoipa::path(get, path = "/v1/workflows/{id}", tag = "workflows",
    params(("id" = String, Path, description = "Workflow id"), VersionQuery),
    responses(
        (status = 200, body = WorkflowInfo),
        (status = 400, description = "A version that is not a whole number from 0 to 2^63-1", body = ErrorBody),
        (status = 404, description = "WORKFLOW_NOT_FOUND", body = ErrorBody)))]
async fn get_workflow(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Json<WorkflowInfo>, ApiError> {
    let q = query(q)?;
    Ok(Json(engine.get_workflow(&caller, &id, q.version).await?))
}

/// Runs a stored workflow (the latest version unless `version` is given). Answers when
/// the run has finished (`200`, status `ok` or `error`), at once with `"wait": false`
/// (`202`, status `running`), or with `Accept: text/event-stream` as Server-Sent Events:
/// `run_started`, then `node_started`, `node_retrying`, `node_finished` as they happen,
/// then `run_finished` with the stored run.
#[utoipa::path(post, path = "/v1/workflows/{id}/runs", tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")), request_body = StartRun,
    responses(
        (status = 200, content((RunInfo = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "Started (`\"wait\": false`)", body = RunInfo),
        (status = 400, body = ErrorBody),
        (status = 404, description = "WORKFLOW_NOT_FOUND", body = ErrorBody)))]
async fn run_stored(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<StartRun>, JsonRejection>,
) -> Result<Response, ApiError> {
    start(engine, caller, Some(id), headers, body(b)?).await
}

/// Runs an inline `definition` (not stored); otherwise as `POST /v1/workflows/{id}/runs`.
#[utoipa::path(post, path = "/v1/runs", tag = "workflows", request_body = StartRun,
    responses(
        (status = 200, content((RunInfo = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "Started (`\"wait\": false`)", body = RunInfo),
        (status = 400, description = "WORKFLOW_INVALID (with `problems`) or INVALID_REQUEST", body = ErrorBody)))]
async fn run_inline(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    b: Result<Json<StartRun>, JsonRejection>,
) -> Result<Response, ApiError> {
    start(engine, caller, None, headers, body(b)?).await
}

async fn start(
    engine: AppState,
    caller: Caller,
    workflow_id: Option<String>,
    headers: HeaderMap,
    request: StartRun,
) -> Result<Response, ApiError> {
    let wait = request.wait.unwrap_or(true);
    let prepared = engine
        .prepare_run(&caller, workflow_id.as_deref(), request)
        .await?;
    if wants_events(&headers) {
        let events = engine.watch_prepared(&prepared);
        tokio::spawn(async move { engine.execute_run(&caller, prepared).await });
        return Ok(sse(events));
    }
    let started = prepared.info();
    // The run goes on in its own task: it finishes (and is stored) even if the client
    // goes away.
    let task = tokio::spawn(async move { engine.execute_run(&caller, prepared).await });
    if !wait {
        return Ok((StatusCode::ACCEPTED, Json(started)).into_response());
    }
    let info = task
        .await
        .map_err(|_| ApiError::new(warden_protocol::ErrorCode::Internal, "internal error"))?;
    Ok(Json(info).into_response())
}

/// A run's events as Server-Sent Events, each `event: NAME` with its JSON payload.
fn sse(events: RunEventStream) -> Response {
    let stream = UnboundedReceiverStream::new(events).map(|(name, payload)| {
        Ok::<_, Infallible>(SseEvent::default().event(name).data(payload.to_string()))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A run's events as Server-Sent Events: for a run in progress, those so far and then the
/// rest as they happen (as `POST .../runs` streams them); for a finished run, a replay
/// from its record: `run_started`, `node_finished` per trace entry, `run_finished`.
#[utoipa::path(get, path = "/v1/runs/{id}/events", tag = "workflows",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, content_type = "text/event-stream", body = String),
        (status = 404, description = "RUN_NOT_FOUND", body = ErrorBody)))]
async fn run_events(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(sse(engine.watch_run(&caller, &id).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RunQuery {
    /// Only runs of this stored workflow.
    workflow_id: Option<String>,
    /// Only this status: `running`, `ok` or `error`.
    status: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// The caller's runs, newest first (without state and trace).
#[utoipa::path(get, path = "/v1/runs", tag = "workflows", params(RunQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody)))]
async fn list_runs(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<RunQuery>, QueryRejection>,
) -> Result<Json<RunList>, ApiError> {
    let q = query(q)?;
    let filter = RunFilter {
        tenant: caller.tenant.clone(),
        workflow_id: q.workflow_id,
        status: q.status,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(0),
    };
    Ok(Json(engine.list_runs(&caller, filter).await?))
}

/// A run with its final state and per-node trace.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "workflows",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunInfo), (status = 404, description = "RUN_NOT_FOUND", body = ErrorBody)))]
async fn get_run(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RunInfo>, ApiError> {
    Ok(Json(engine.get_run(&caller, &id).await?))
}

/// The caller's document collections.
#[utoipa::path(get, path = "/v1/collections", tag = "collections",
    responses((status = 200, body = CollectionList)))]
async fn list_collections(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<CollectionList>, ApiError> {
    Ok(Json(engine.list_collections(&caller).await?))
}

/// Adds documents to a collection (created by its first); a document with a stored id
/// replaces it. `retrieval` nodes search the collection by name.
#[utoipa::path(post, path = "/v1/collections/{name}/documents", tag = "collections",
    params(("name" = String, Path, description = "Collection name")), request_body = AddDocuments,
    responses((status = 200, body = CollectionInfo), (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
async fn add_documents(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    b: Result<Json<AddDocuments>, JsonRejection>,
) -> Result<Json<CollectionInfo>, ApiError> {
    Ok(Json(engine.add_documents(&caller, &name, body(b)?).await?))
}

/// Deletes a collection and its documents.
#[utoipa::path(delete, path = "/v1/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "Collection name")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "COLLECTION_NOT_FOUND", body = ErrorBody)))]
async fn delete_collection(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.delete_collection(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Free text; punctuation and query syntax are plain words.
    q: String,
    /// Most results (default 5, at most 1000).
    top_k: Option<usize>,
}

/// Ranked keyword search (BM25), as a `retrieval` node does it.
#[utoipa::path(get, path = "/v1/collections/{name}/search", tag = "collections",
    params(("name" = String, Path, description = "Collection name"), SearchQuery),
    responses((status = 200, body = SearchResults),
        (status = 400, description = "INVALID_REQUEST: no query, or a malformed parameter", body = ErrorBody),
        (status = 404, description = "COLLECTION_NOT_FOUND", body = ErrorBody)))]
async fn search_collection(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let q = query(q)?;
    Ok(Json(
        engine
            .search_collection(&caller, &name, &q.q, q.top_k.unwrap_or(5))
            .await?,
    ))
}
