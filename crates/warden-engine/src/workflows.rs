//! Workflows as a service: stored, versioned definitions per tenant; runs of them (or of
//! an inline definition) with their trace persisted and their events streamed; and the
//! engine's [`Services`] for the nodes that are not code — `http` (under the tenant's
//! network policy), `model` (the operator's OpenAI-compatible endpoint), `tool` (a stored
//! workflow, or an HTTP tool), `memory` (lists kept per thread in the store) and
//! `retrieval` (BM25 over a document collection, indexed with tantivy).
//!
//! A run executes on a blocking thread (the runner is synchronous); its code nodes run
//! in sandbox sessions through [`SessionCodeRunner`], its services call back into the
//! async engine with the runtime's handle.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use warden_flow::definition::{HttpMethod, Role};
use warden_flow::runner::{HttpRequest, ModelRequest, ToolTarget};
use warden_flow::{
    Host, Limits, NodeError, RunEvent, RunResult, RunStatus, Services, SystemClock, Workflow,
};
use warden_protocol::{
    AddDocuments, CollectionInfo, CollectionList, RunInfo, RunList, SaveWorkflow, SearchHit,
    SearchResults, StartRun, WorkflowInfo, WorkflowList, WorkflowProblem,
};
use warden_search::{Document, SearchIndex};
use warden_store::{DocumentRecord, RunFilter, RunRecord, WorkflowRecord};

use crate::flows::{engine_error, SessionCodeRunner};
use crate::manager::Engine;
use crate::tenancy::Caller;
use crate::EngineError;

/// The environment variable naming the operator's model endpoint (also read by compiled
/// programs).
pub const MODEL_BASE_URL_ENV: &str = "WARDEN_FLOW_MODEL_BASE_URL";
/// The default environment variable holding the model endpoint's API key.
pub const MODEL_API_KEY_ENV: &str = "WARDEN_FLOW_MODEL_API_KEY";

/// The largest HTTP response body an `http` or `tool` node reads.
const HTTP_BODY_LIMIT: usize = 10 << 20;
/// The largest value a `memory` node appends.
const MEMORY_VALUE_LIMIT: usize = 1 << 20;
/// How deep `tool` nodes may call stored workflows that call stored workflows.
const MAX_TOOL_DEPTH: u32 = 4;
/// Most documents in one upload, and the longest document.
const MAX_DOCUMENTS_PER_REQUEST: usize = 10_000;
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// How the operator configures workflow runs.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// Most node executions of one run.
    pub max_steps: u64,
    /// Longest run.
    pub max_duration: Duration,
    pub model: ModelEndpoint,
    /// Whether definitions are trusted (the local `warden flow run`): a `model` node may
    /// then name its own `base_url` and `api_key_env`. A server keeps to the operator's.
    pub trust_definitions: bool,
}

impl Default for FlowSettings {
    fn default() -> Self {
        FlowSettings {
            max_steps: 10_000,
            max_duration: Duration::from_secs(600),
            model: ModelEndpoint::default(),
            trust_definitions: false,
        }
    }
}

/// The OpenAI-compatible endpoint `model` nodes call.
#[derive(Debug, Clone)]
pub struct ModelEndpoint {
    /// E.g. `https://api.openai.com/v1` (`/chat/completions` is appended). None: `model`
    /// nodes fail with `NOT_CONFIGURED`.
    pub base_url: Option<String>,
    /// The environment variable of warden's process holding the key (sent as a bearer
    /// token when set).
    pub api_key_env: String,
    /// The model used by nodes whose `model` is `"default"`.
    pub default_model: Option<String>,
    /// Longest wait for a completion.
    pub timeout: Duration,
}

impl Default for ModelEndpoint {
    fn default() -> Self {
        ModelEndpoint {
            base_url: None,
            api_key_env: MODEL_API_KEY_ENV.into(),
            default_model: None,
            timeout: Duration::from_secs(120),
        }
    }
}

/// The engine's workflow state: an HTTP client and the search indexes of collections.
pub(crate) struct FlowState {
    /// For the operator's own endpoints (the model endpoint) and trusted definitions.
    http: reqwest::Client,
    /// For `http` nodes and HTTP tools: names resolved and checked as the egress proxy
    /// does (docs/NETWORK.md), redirects to blocked addresses refused.
    checked: reqwest::Client,
    indexes: Mutex<HashMap<(String, String), CachedIndex>>,
    /// The runs in progress on this node, by id.
    live: Mutex<HashMap<String, LiveRun>>,
}

/// A run in progress: its events so far, and who is listening.
#[derive(Default)]
struct LiveRun {
    events: Vec<(&'static str, Value)>,
    listeners: Vec<RunEvents>,
}

impl FlowState {
    /// Sends an event of a live run to its listeners and keeps it for later ones; the
    /// `last` event ends the run's life here.
    fn publish(&self, run: &str, name: &'static str, payload: Value, last: bool) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = live.get_mut(run) {
            r.listeners
                .retain(|tx| tx.send((name, payload.clone())).is_ok());
            if last {
                live.remove(run);
            } else {
                r.events.push((name, payload));
            }
        }
    }

    /// The events of a live run so far, then the rest as they happen; `None` when the
    /// run is not in progress here.
    fn watch(&self, run: &str) -> Option<RunEventStream> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let r = live.get_mut(run)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for event in &r.events {
            let _ = tx.send(event.clone());
        }
        r.listeners.push(tx);
        Some(rx)
    }
}

struct CachedIndex {
    documents: u64,
    updated_at: f64,
    index: Arc<SearchIndex>,
    last_used: std::time::Instant,
}

/// Search indexes kept in memory at most; the least recently used goes first.
const MAX_CACHED_INDEXES: usize = 64;

impl FlowState {
    pub(crate) fn new(resolver: Arc<crate::egress::Resolver>) -> Self {
        let checked_redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("too many redirects");
            }
            match blocked_literal(attempt.url()) {
                Some(why) => attempt.error(why),
                None => attempt.follow(),
            }
        });
        FlowState {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::limited(5))
                .build()
                .unwrap_or_default(),
            checked: reqwest::Client::builder()
                .redirect(checked_redirects)
                .dns_resolver(Arc::new(CheckedResolver(resolver)))
                .no_proxy()
                .build()
                .unwrap_or_default(),
            indexes: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
        }
    }
}

/// Resolves names for `http` nodes as the egress proxy does: every address checked.
struct CheckedResolver(Arc<crate::egress::Resolver>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = Arc::clone(&self.0);
        let host = crate::egress::Host::parse(name.as_str());
        Box::pin(async move {
            match resolver.resolve(&host, 0).await {
                Ok(target) => {
                    let addrs: reqwest::dns::Addrs = Box::new(target.addresses.into_iter());
                    Ok(addrs)
                }
                Err(why) => Err(why.into()),
            }
        })
    }
}

/// Why a URL naming a raw address may not be requested (a name is checked when it is
/// resolved).
fn blocked_literal(url: &reqwest::Url) -> Option<String> {
    let crate::egress::Host::Ip(ip) = crate::egress::Host::parse(url.host_str()?) else {
        return None;
    };
    crate::egress::blocked_address(ip).map(|why| format!("{ip} is {why}"))
}

/// Ids of workflows and names of collections: letters, digits, `_`, `-`, `.`; 1 to 64.
fn check_name(what: &str, name: &str) -> Result<(), EngineError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!(
            "invalid {what} {name:?}: use 1 to 64 letters, digits, `_`, `-` or `.`"
        )))
    }
}

/// The largest definition accepted, as JSON (or YAML) text.
const MAX_DEFINITION_BYTES: usize = 4 << 20;

/// Parses and validates a definition given as a JSON object or as YAML/JSON text.
pub fn parse_definition(value: &Value) -> Result<Workflow, EngineError> {
    let size = match value {
        Value::String(text) => text.len(),
        other => other.to_string().len(),
    };
    if size > MAX_DEFINITION_BYTES {
        return Err(EngineError::TooLarge {
            what: "the workflow definition",
            size,
            limit: MAX_DEFINITION_BYTES,
        });
    }
    let parsed = match value {
        Value::String(text) => Workflow::from_yaml(text),
        Value::Object(_) => Workflow::from_json(&value.to_string()),
        _ => {
            return Err(EngineError::Invalid(
                "`definition` must be a JSON object, or a string of YAML or JSON".into(),
            ))
        }
    };
    let workflow = parsed.map_err(|e| EngineError::WorkflowInvalid {
        message: format!("the definition does not load: {e}"),
        problems: vec![WorkflowProblem {
            node: None,
            edge: None,
            code: warden_flow::codes::BAD_WORKFLOW.into(),
            message: e.to_string(),
        }],
    })?;
    warden_flow::validate(&workflow).map_err(|problems| EngineError::WorkflowInvalid {
        message: format!(
            "the workflow has {} problem(s); the first: {}",
            problems.len(),
            problems[0]
        ),
        problems: problems
            .into_iter()
            .map(|p| WorkflowProblem {
                node: p.node,
                edge: p.edge,
                code: p.code.into(),
                message: p.message,
            })
            .collect(),
    })?;
    Ok(workflow)
}

fn workflow_info(record: WorkflowRecord, with_definition: bool) -> WorkflowInfo {
    WorkflowInfo {
        definition: with_definition
            .then(|| serde_json::from_str(&record.definition).unwrap_or(Value::Null)),
        id: record.id,
        version: record.version,
        name: record.name,
        created_at: record.created_at,
    }
}

/// A stored JSON text back as a value (`null` if it no longer parses).
fn json_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn parse_json(text: &Option<String>) -> Option<Value> {
    text.as_deref().map(json_value)
}

fn run_info(record: RunRecord, full: bool) -> RunInfo {
    RunInfo {
        input: json_value(&record.input),
        output: parse_json(&record.output).unwrap_or(Value::Null),
        state: if full {
            parse_json(&record.state)
        } else {
            None
        },
        trace: if full {
            parse_json(&record.trace)
        } else {
            None
        },
        error: parse_json(&record.error),
        id: record.id,
        workflow_id: record.workflow_id,
        workflow_version: record.workflow_version,
        workflow_name: record.workflow_name,
        status: record.status,
        thread_id: record.thread_id,
        steps: record.steps,
        started_at: record.started_at,
        finished_at: record.finished_at,
    }
}

fn new_run_id() -> String {
    let mut bytes = [0u8; 12];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).ok();
    format!("run_{}", hex::encode(bytes))
}

/// A run ready to start: its definition resolved and validated, its record written.
pub struct PreparedRun {
    workflow: Workflow,
    record: RunRecord,
    limits: Limits,
}

impl PreparedRun {
    /// The run as it is now (status `running`).
    pub fn info(&self) -> RunInfo {
        run_info(self.record.clone(), true)
    }
}

/// What a run sends as it goes, for streaming, as `(name, payload)`: `run_started` (the
/// run), the runner's events (`node_started`, `node_retrying`, `node_finished`), then
/// `run_finished` with the whole [`RunInfo`] once it is stored.
pub type RunEvents = UnboundedSender<(&'static str, Value)>;
/// The receiving end of [`RunEvents`].
pub type RunEventStream = tokio::sync::mpsc::UnboundedReceiver<(&'static str, Value)>;

impl Engine {
    // ------------------------------------------------------------ definitions

    /// Stores a definition as the next version of its id (validated first).
    pub async fn save_workflow(
        &self,
        caller: &Caller,
        request: SaveWorkflow,
    ) -> Result<WorkflowInfo, EngineError> {
        let workflow = parse_definition(&request.definition)?;
        let id = request.id.unwrap_or_else(|| workflow.name.clone());
        check_name("workflow id", &id)?;
        let definition = serde_json::to_string(&workflow)
            .map_err(|e| EngineError::Invalid(format!("cannot store the definition: {e}")))?;
        let record = self
            .store
            .insert_workflow(
                &caller.tenant,
                &id,
                &workflow.name,
                &definition,
                warden_store::now(),
            )
            .await?;
        self.audit(
            "workflow.saved",
            Some(caller),
            Some(&id),
            json!({"version": record.version, "name": record.name}),
        )
        .await;
        Ok(workflow_info(record, false))
    }

    /// A stored workflow (the latest version when `version` is `None`), with its
    /// definition.
    pub async fn get_workflow(
        &self,
        caller: &Caller,
        id: &str,
        version: Option<u64>,
    ) -> Result<WorkflowInfo, EngineError> {
        let record = self.workflow_record(&caller.tenant, id, version).await?;
        Ok(workflow_info(record, true))
    }

    async fn workflow_record(
        &self,
        tenant: &str,
        id: &str,
        version: Option<u64>,
    ) -> Result<WorkflowRecord, EngineError> {
        self.store
            .get_workflow(tenant, id, version)
            .await
            .map_err(EngineError::from_caller_query)?
            .ok_or_else(|| {
                EngineError::WorkflowNotFound(match version {
                    Some(v) => format!("{id} version {v}"),
                    None => id.to_string(),
                })
            })
    }

    /// The latest version of each of the caller's workflows.
    pub async fn list_workflows(&self, caller: &Caller) -> Result<WorkflowList, EngineError> {
        let records = self.store.list_workflows(&caller.tenant).await?;
        Ok(WorkflowList {
            workflows: records
                .into_iter()
                .map(|r| workflow_info(r, false))
                .collect(),
        })
    }

    // ------------------------------------------------------------ runs

    /// Resolves and validates the definition of a run (stored when `workflow_id` is
    /// given, else `request.definition`), and records the run as `running`.
    pub async fn prepare_run(
        &self,
        caller: &Caller,
        workflow_id: Option<&str>,
        request: StartRun,
    ) -> Result<PreparedRun, EngineError> {
        let (workflow, stored) = match (workflow_id, &request.definition) {
            (Some(_), Some(_)) => {
                return Err(EngineError::Invalid(
                    "give either a stored workflow or a `definition`, not both".into(),
                ))
            }
            (None, None) => {
                return Err(EngineError::Invalid(
                    "`definition` is required (or run a stored workflow: \
                     POST /v1/workflows/{id}/runs)"
                        .into(),
                ))
            }
            (Some(id), None) => {
                let record = self
                    .workflow_record(&caller.tenant, id, request.version)
                    .await?;
                let definition: Value = serde_json::from_str(&record.definition)
                    .map_err(|e| EngineError::Invalid(format!("stored definition: {e}")))?;
                (
                    parse_definition(&definition)?,
                    Some((record.id, record.version)),
                )
            }
            (None, Some(definition)) => {
                if request.version.is_some() {
                    return Err(EngineError::Invalid(
                        "`version` applies to stored workflows only".into(),
                    ));
                }
                (parse_definition(definition)?, None)
            }
        };
        let settings = &self.config().flows;
        let max_steps = match request.max_steps {
            Some(0) => return Err(EngineError::Invalid("`max_steps` must be positive".into())),
            Some(n) => n.min(settings.max_steps),
            None => settings.max_steps,
        };
        let max_duration = match request.timeout {
            None => settings.max_duration,
            Some(t) => Duration::try_from_secs_f64(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    EngineError::Invalid("`timeout` must be a positive number of seconds".into())
                })?
                .min(settings.max_duration),
        };
        if let Some(thread) = &request.thread_id {
            if thread.is_empty() || thread.len() > 256 {
                return Err(EngineError::Invalid(
                    "`thread_id` must be 1 to 256 characters".into(),
                ));
            }
        }
        let record = RunRecord {
            id: new_run_id(),
            tenant: caller.tenant.clone(),
            workflow_id: stored.as_ref().map(|s| s.0.clone()),
            workflow_version: stored.map(|s| s.1),
            workflow_name: workflow.name.clone(),
            status: "running".into(),
            thread_id: request.thread_id,
            input: request.input.to_string(),
            output: None,
            state: None,
            trace: None,
            error: None,
            steps: 0,
            started_at: warden_store::now(),
            finished_at: None,
            node: self.config().node.clone(),
        };
        self.store.upsert_run(&record).await?;
        let prepared = PreparedRun {
            workflow,
            record,
            limits: Limits {
                max_steps,
                max_duration,
            },
        };
        let started = serde_json::to_value(prepared.info()).unwrap_or(Value::Null);
        self.flows
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                prepared.record.id.clone(),
                LiveRun {
                    events: vec![("run_started", started)],
                    listeners: Vec::new(),
                },
            );
        Ok(prepared)
    }

    /// Executes a prepared run to its end on a blocking thread, stores the result and
    /// returns it. Its events go to those watching it ([`Engine::watch_run`]) as they
    /// happen. Runs to completion even when nobody listens any more.
    pub async fn execute_run(self: &Arc<Self>, caller: &Caller, prepared: PreparedRun) -> RunInfo {
        let PreparedRun {
            workflow,
            mut record,
            limits,
        } = prepared;
        let input = json_value(&record.input);
        let engine = self.clone();
        let run_caller = caller.clone();
        let handle = tokio::runtime::Handle::current();
        let (events, run_id) = (self.clone(), record.id.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            let on_event = |event: &RunEvent| {
                let name = match event {
                    RunEvent::NodeStarted { .. } => "node_started",
                    RunEvent::NodeRetrying { .. } => "node_retrying",
                    RunEvent::NodeFinished { .. } => "node_finished",
                    // Sent with the stored run instead.
                    RunEvent::RunFinished { .. } => return,
                };
                let mut payload = serde_json::to_value(event).unwrap_or(Value::Null);
                if let Some(map) = payload.as_object_mut() {
                    map.remove("event");
                }
                events.flows.publish(&run_id, name, payload, false);
            };
            run_blocking(
                engine, run_caller, handle, &workflow, input, limits, on_event,
            )
        })
        .await;
        record.finished_at = Some(warden_store::now());
        match outcome {
            Ok(Ok(result)) => finish_record(&mut record, &result),
            Ok(Err(problems)) => {
                // Validated in prepare_run: not expected.
                record.status = "error".into();
                record.error = Some(
                    json!({"node": null, "code": "WORKFLOW_INVALID",
                           "message": problems.first().map(|p| p.to_string())})
                    .to_string(),
                );
            }
            Err(e) => {
                eprintln!("warden: workflow run {} panicked: {e}", record.id);
                record.status = "error".into();
                record.error = Some(
                    json!({"node": null, "code": "INTERNAL", "message": "internal error"})
                        .to_string(),
                );
            }
        }
        let took = record.finished_at.unwrap_or(record.started_at) - record.started_at;
        self.metrics.workflow_run(
            if record.status == "ok" { "ok" } else { "error" },
            Duration::try_from_secs_f64(took).unwrap_or_default(),
        );
        if let Err(e) = self.store.upsert_run(&record).await {
            eprintln!("warden: cannot store workflow run {}: {e}", record.id);
        }
        self.audit(
            "workflow.run",
            Some(caller),
            Some(&record.id),
            json!({"workflow": record.workflow_id, "version": record.workflow_version,
                   "status": record.status, "steps": record.steps}),
        )
        .await;
        let info = run_info(record, true);
        self.flows.publish(
            &info.id,
            "run_finished",
            serde_json::to_value(&info).unwrap_or(Value::Null),
            true,
        );
        info
    }

    /// The events of a run of the caller's: for a run in progress here, those so far and
    /// then the rest as they happen; for a finished run, a replay from its record
    /// (`run_started`, `node_finished` per trace entry, `run_finished`); for a run in
    /// progress on another node, that replay once it has finished.
    pub async fn watch_run(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
    ) -> Result<RunEventStream, EngineError> {
        let record = self
            .store
            .get_run(&caller.tenant, id)
            .await?
            .ok_or_else(|| EngineError::RunNotFound(id.to_string()))?;
        if let Some(rx) = self.flows.watch(id) {
            return Ok(rx);
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (engine, tenant) = (self.clone(), caller.tenant.clone());
        tokio::spawn(async move {
            let mut record = record;
            // Bounded by the longest run, and a margin.
            let deadline = std::time::Instant::now()
                + engine.config().flows.max_duration
                + Duration::from_secs(60);
            while record.status == "running" && std::time::Instant::now() < deadline {
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                match engine.store.get_run(&tenant, &record.id).await {
                    Ok(Some(r)) => record = r,
                    _ => return,
                }
            }
            for event in replay(record) {
                let _ = tx.send(event);
            }
        });
        Ok(rx)
    }

    /// The events of a run just prepared (none are missed: it has not started).
    pub fn watch_prepared(&self, prepared: &PreparedRun) -> RunEventStream {
        self.flows.watch(&prepared.record.id).unwrap_or_else(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            for event in replay(prepared.record.clone()) {
                let _ = tx.send(event);
            }
            rx
        })
    }

    /// A run of the caller's, with its state and trace.
    pub async fn get_run(&self, caller: &Caller, id: &str) -> Result<RunInfo, EngineError> {
        let record = self
            .store
            .get_run(&caller.tenant, id)
            .await?
            .ok_or_else(|| EngineError::RunNotFound(id.to_string()))?;
        Ok(run_info(record, true))
    }

    /// The caller's runs, newest first, without state and trace.
    pub async fn list_runs(
        &self,
        caller: &Caller,
        mut filter: RunFilter,
    ) -> Result<RunList, EngineError> {
        filter.tenant = caller.tenant.clone();
        let page = self
            .store
            .list_runs(&filter)
            .await
            .map_err(EngineError::from_caller_query)?;
        Ok(RunList {
            runs: page.items.into_iter().map(|r| run_info(r, false)).collect(),
            next_cursor: page.next,
        })
    }

    // ------------------------------------------------------------ collections

    /// Adds documents to a collection (created by its first document); a document with
    /// the id of a stored one replaces it.
    pub async fn add_documents(
        &self,
        caller: &Caller,
        collection: &str,
        request: AddDocuments,
    ) -> Result<CollectionInfo, EngineError> {
        check_name("collection name", collection)?;
        if request.documents.is_empty() {
            return Err(EngineError::Invalid("`documents` is empty".into()));
        }
        if request.documents.len() > MAX_DOCUMENTS_PER_REQUEST {
            return Err(EngineError::Invalid(format!(
                "at most {MAX_DOCUMENTS_PER_REQUEST} documents per request"
            )));
        }
        let existing = self
            .store
            .get_collection(&caller.tenant, collection)
            .await?
            .map_or(0, |c| c.documents);
        let at = warden_store::now();
        let mut docs = Vec::with_capacity(request.documents.len());
        for (i, d) in request.documents.into_iter().enumerate() {
            if d.text.len() > MAX_DOCUMENT_BYTES {
                return Err(EngineError::TooLarge {
                    what: "a document",
                    size: d.text.len(),
                    limit: MAX_DOCUMENT_BYTES,
                });
            }
            if d.metadata
                .as_ref()
                .is_some_and(|m| !m.is_object() && !m.is_null())
            {
                return Err(EngineError::Invalid(format!(
                    "documents[{i}].metadata must be a JSON object or null"
                )));
            }
            let id = match d.id {
                Some(id) if id.is_empty() || id.len() > 256 => {
                    return Err(EngineError::Invalid(
                        "a document id must be 1 to 256 characters".into(),
                    ))
                }
                Some(id) => id,
                None => format!("doc-{}", existing + i as u64 + 1),
            };
            docs.push(DocumentRecord {
                id,
                text: d.text,
                metadata: d.metadata.map(|m| m.to_string()),
                created_at: at,
            });
        }
        let added = docs.len();
        self.store
            .add_documents(&caller.tenant, collection, &docs)
            .await?;
        self.audit(
            "collection.updated",
            Some(caller),
            Some(collection),
            json!({"documents": added}),
        )
        .await;
        self.store
            .get_collection(&caller.tenant, collection)
            .await?
            .map(collection_info)
            .ok_or_else(|| EngineError::CollectionNotFound(collection.to_string()))
    }

    pub async fn list_collections(&self, caller: &Caller) -> Result<CollectionList, EngineError> {
        let list = self.store.list_collections(&caller.tenant).await?;
        Ok(CollectionList {
            collections: list.into_iter().map(collection_info).collect(),
        })
    }

    pub async fn delete_collection(
        &self,
        caller: &Caller,
        collection: &str,
    ) -> Result<(), EngineError> {
        let removed = self
            .store
            .delete_collection(&caller.tenant, collection)
            .await?;
        if removed == 0 {
            return Err(EngineError::CollectionNotFound(collection.to_string()));
        }
        self.flows
            .indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(caller.tenant.clone(), collection.to_string()));
        self.audit(
            "collection.deleted",
            Some(caller),
            Some(collection),
            json!({"documents": removed}),
        )
        .await;
        Ok(())
    }

    /// Ranked keyword search (BM25) over a collection, best first.
    pub async fn search_collection(
        &self,
        caller: &Caller,
        collection: &str,
        query: &str,
        top_k: usize,
    ) -> Result<SearchResults, EngineError> {
        let info = self
            .store
            .get_collection(&caller.tenant, collection)
            .await?
            .ok_or_else(|| EngineError::CollectionNotFound(collection.to_string()))?;
        let key = (caller.tenant.clone(), collection.to_string());
        let cached = {
            let mut indexes = self.flows.indexes.lock().unwrap_or_else(|e| e.into_inner());
            indexes
                .get_mut(&key)
                .filter(|c| c.documents == info.documents && c.updated_at == info.updated_at)
                .map(|c| {
                    c.last_used = std::time::Instant::now();
                    c.index.clone()
                })
        };
        let index = match cached {
            Some(index) => index,
            None => {
                let records = self
                    .store
                    .list_documents(&caller.tenant, collection)
                    .await?;
                let docs: Vec<Document> = records
                    .into_iter()
                    .map(|r| Document {
                        metadata: parse_json(&r.metadata),
                        id: r.id,
                        text: r.text,
                    })
                    .collect();
                let index = tokio::task::spawn_blocking(move || SearchIndex::build(&docs))
                    .await
                    .map_err(internal)?
                    .map_err(internal)?;
                let index = Arc::new(index);
                let mut indexes = self.flows.indexes.lock().unwrap_or_else(|e| e.into_inner());
                if indexes.len() >= MAX_CACHED_INDEXES && !indexes.contains_key(&key) {
                    let oldest = indexes
                        .iter()
                        .min_by_key(|(_, c)| c.last_used)
                        .map(|(k, _)| k.clone());
                    if let Some(oldest) = oldest {
                        indexes.remove(&oldest);
                    }
                }
                indexes.insert(
                    key,
                    CachedIndex {
                        documents: info.documents,
                        updated_at: info.updated_at,
                        index: index.clone(),
                        last_used: std::time::Instant::now(),
                    },
                );
                index
            }
        };
        let hits = index.search(query, top_k.min(1000)).map_err(internal)?;
        Ok(SearchResults {
            results: hits
                .into_iter()
                .map(|h| SearchHit {
                    id: h.id,
                    score: h.score,
                    text: h.text,
                    metadata: h.metadata,
                })
                .collect(),
        })
    }
}

/// Runs `workflow` to its end with the engine's code runner (sandbox sessions, closed
/// before this returns) and services, as `caller`. Blocks: call it on a blocking thread
/// with a handle of the engine's runtime.
pub fn run_blocking(
    engine: Arc<Engine>,
    caller: Caller,
    runtime: tokio::runtime::Handle,
    workflow: &Workflow,
    input: Value,
    limits: Limits,
    mut on_event: impl FnMut(&RunEvent),
) -> Result<RunResult, Vec<warden_flow::Problem>> {
    let mut code = SessionCodeRunner::new(engine.clone(), caller.clone(), runtime.clone());
    let mut services = EngineServices::new(engine, caller, runtime, limits, 0);
    let mut clock = SystemClock::default();
    warden_flow::run(
        workflow,
        input,
        Host {
            code: &mut code,
            services: &mut services,
            clock: &mut clock,
            on_event: Some(&mut on_event),
        },
        limits,
    )
}

/// An unexpected failure (a search index that cannot be built, a task that panicked):
/// `INTERNAL`, its text in the server's log.
fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Io(std::io::Error::other(e.to_string()))
}

/// A stored run's events, as far as its record tells them.
fn replay(record: RunRecord) -> Vec<(&'static str, Value)> {
    let info = run_info(record, true);
    let mut started = info.clone();
    (started.state, started.trace, started.error) = (None, None, None);
    (started.output, started.finished_at, started.steps) = (Value::Null, None, 0);
    started.status = "running".into();
    let mut events = vec![(
        "run_started",
        serde_json::to_value(&started).unwrap_or(Value::Null),
    )];
    if let Some(Value::Array(entries)) = &info.trace {
        events.extend(
            entries
                .iter()
                .map(|entry| ("node_finished", json!({ "entry": entry }))),
        );
    }
    if info.status != "running" {
        events.push((
            "run_finished",
            serde_json::to_value(&info).unwrap_or(Value::Null),
        ));
    }
    events
}

fn collection_info(c: warden_store::CollectionInfo) -> CollectionInfo {
    CollectionInfo {
        name: c.name,
        documents: c.documents,
        updated_at: c.updated_at,
    }
}

/// Writes a finished run's result into its record.
fn finish_record(record: &mut RunRecord, result: &RunResult) {
    record.status = match result.status {
        RunStatus::Ok => "ok",
        RunStatus::Error => "error",
    }
    .into();
    record.steps = result.trace.len() as u64;
    record.output = Some(result.output.to_string());
    record.state = Some(result.state.to_string());
    record.trace = Some(serde_json::to_string(&result.trace).unwrap_or_else(|_| "[]".into()));
    record.error = result.error.as_ref().map(|f| f.to_value().to_string());
}

/// A score as JSON: four decimals, so that traces and states read (and compare) well.
fn rounded(score: f32) -> Value {
    json!((f64::from(score) * 10_000.0).round() / 10_000.0)
}

// ---------------------------------------------------------------- services

/// The engine's services for one run (and, nested, for the stored workflows its `tool`
/// nodes call). Blocking: used on the run's blocking thread.
pub struct EngineServices {
    engine: Arc<Engine>,
    caller: Caller,
    runtime: tokio::runtime::Handle,
    limits: Limits,
    /// When the run's time is up (a stored workflow called as a tool gets what is left).
    deadline: std::time::Instant,
    depth: u32,
    /// Runs the code nodes of stored workflows called as tools (created when needed).
    nested_code: Option<SessionCodeRunner>,
}

impl EngineServices {
    pub fn new(
        engine: Arc<Engine>,
        caller: Caller,
        runtime: tokio::runtime::Handle,
        limits: Limits,
        depth: u32,
    ) -> Self {
        EngineServices {
            engine,
            caller,
            runtime,
            limits,
            deadline: std::time::Instant::now() + limits.max_duration,
            depth,
            nested_code: None,
        }
    }

    fn network_allowed(&self, what: &str) -> Result<(), NodeError> {
        if self.caller.policy.network == Some(true) || self.caller.policy.egress.is_some() {
            Ok(())
        } else {
            Err(NodeError::new(
                "POLICY_DENIED",
                format!(
                    "`{what}` nodes reach the network, which this tenant's policy does not \
                     allow (policy `\"network\": true` or `egress`)"
                ),
            ))
        }
    }

    fn send(
        &self,
        method: HttpMethod,
        url: &str,
        headers: &BTreeMap<String, String>,
        body: Option<&Value>,
        timeout: Option<f64>,
        checked: bool,
    ) -> Result<Value, NodeError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| NodeError::new("HTTP_ERROR", format!("invalid URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(NodeError::new(
                "HTTP_ERROR",
                format!("only http and https URLs are allowed, not {url:?}"),
            ));
        }
        // A definition's own URLs go by the tenant's egress rules (a local, trusted
        // definition and the operator's endpoints do not).
        let checked = checked && !self.engine.config().flows.trust_definitions;
        if checked {
            let refused = |why: String| {
                NodeError::new("POLICY_DENIED", format!("egress refused {url}: {why}"))
            };
            if let Some(why) = blocked_literal(&parsed) {
                return Err(refused(why));
            }
            if let Some(policy) = &self.caller.policy.egress {
                let rules = policy.rules(None).map_err(refused)?;
                let host = parsed.host_str().unwrap_or_default();
                let port = parsed.port_or_known_default().unwrap_or(0);
                rules
                    .check_host(&crate::egress::Host::parse(host), port)
                    .map_err(refused)?;
            }
        }
        let timeout = Duration::try_from_secs_f64(timeout.unwrap_or(30.0))
            .unwrap_or(Duration::from_secs(30))
            .clamp(Duration::from_millis(1), Duration::from_secs(300));
        let method = match method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
            HttpMethod::Head => reqwest::Method::HEAD,
        };
        let client = if checked {
            &self.engine.flows.checked
        } else {
            &self.engine.flows.http
        };
        let mut request = client.request(method, parsed).timeout(timeout);
        let has_type = headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"));
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        match body {
            None => {}
            Some(Value::String(s)) => request = request.body(s.clone()),
            Some(other) => {
                if !has_type {
                    request = request.header("content-type", "application/json");
                }
                request = request.body(other.to_string());
            }
        }
        self.runtime.block_on(async move {
            let http_error = |e: reqwest::Error| NodeError::new("HTTP_ERROR", error_chain(&e));
            let mut response = request.send().await.map_err(http_error)?;
            let status = response.status().as_u16();
            let mut names: BTreeMap<String, String> = BTreeMap::new();
            for (name, value) in response.headers() {
                names
                    .entry(name.as_str().to_ascii_lowercase())
                    .or_insert_with(|| String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
            let mut raw = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(http_error)? {
                if raw.len() + chunk.len() > HTTP_BODY_LIMIT {
                    return Err(NodeError::new(
                        "HTTP_ERROR",
                        format!("the response is over {HTTP_BODY_LIMIT} bytes"),
                    ));
                }
                raw.extend_from_slice(&chunk);
            }
            let text = String::from_utf8_lossy(&raw).into_owned();
            let is_json = names
                .get("content-type")
                .is_some_and(|t| t.contains("json"));
            let body = if is_json {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            } else {
                Value::String(text)
            };
            Ok(json!({"status": status, "headers": names, "body": body}))
        })
    }

    fn run_stored(
        &mut self,
        id: &str,
        version: Option<u64>,
        input: &Value,
    ) -> Result<Value, NodeError> {
        if self.depth >= MAX_TOOL_DEPTH {
            return Err(NodeError::new(
                "TOOL_DEPTH",
                format!("workflows call workflows more than {MAX_TOOL_DEPTH} deep"),
            ));
        }
        let record = self
            .runtime
            .block_on(
                self.engine
                    .workflow_record(&self.caller.tenant, id, version),
            )
            .map_err(engine_error)?;
        let definition: Value = serde_json::from_str(&record.definition)
            .map_err(|e| NodeError::new("WORKFLOW_INVALID", e.to_string()))?;
        let workflow = parse_definition(&definition).map_err(engine_error)?;
        let limits = Limits {
            max_steps: self.limits.max_steps,
            max_duration: self
                .deadline
                .saturating_duration_since(std::time::Instant::now()),
        };
        let mut services = EngineServices::new(
            self.engine.clone(),
            self.caller.clone(),
            self.runtime.clone(),
            limits,
            self.depth + 1,
        );
        let code = self.nested_code.get_or_insert_with(|| {
            SessionCodeRunner::new(
                self.engine.clone(),
                self.caller.clone(),
                self.runtime.clone(),
            )
        });
        let mut clock = SystemClock::default();
        let result = warden_flow::run(
            &workflow,
            input.clone(),
            Host {
                code,
                services: &mut services,
                clock: &mut clock,
                on_event: None,
            },
            limits,
        )
        .map_err(|p| NodeError::new("WORKFLOW_INVALID", p[0].to_string()))?;
        match (result.status, result.error) {
            (RunStatus::Ok, _) => Ok(result.output),
            (RunStatus::Error, failure) => {
                let failure = failure.map(|f| (f.node, f.error));
                let (node, error) = failure.unwrap_or((None, NodeError::new("ERROR", "failed")));
                Err(NodeError {
                    code: error.code,
                    message: format!(
                        "workflow {id} failed at node {}: {}",
                        node.as_deref().unwrap_or("?"),
                        error.message
                    ),
                    traceback: error.traceback,
                })
            }
        }
    }
}

/// An error with its causes: `error sending request for url (...): client error
/// (Connect): tcp connect error: Connection refused (os error 111)`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

impl Services for EngineServices {
    fn http(&mut self, request: &HttpRequest) -> Result<Value, NodeError> {
        self.network_allowed("http")?;
        self.send(
            request.method,
            &request.url,
            &request.headers,
            request.body.as_ref(),
            request.timeout,
            true,
        )
    }

    fn model(&mut self, request: &ModelRequest) -> Result<String, NodeError> {
        let settings = &self.engine.config().flows;
        let endpoint = &settings.model;
        let trim = |u: &str| u.trim_end_matches('/').to_string();
        let base_url = match (&request.base_url, &endpoint.base_url) {
            (Some(own), _) if settings.trust_definitions => own.clone(),
            (Some(own), Some(configured)) if trim(own) == trim(configured) => configured.clone(),
            (Some(_), _) => {
                return Err(NodeError::new(
                    "POLICY_DENIED",
                    "this server sends `model` requests to the operator's endpoint only: \
                     remove `base_url` from the node",
                ))
            }
            (None, Some(configured)) => configured.clone(),
            (None, None) => {
                return Err(NodeError::new(
                    "NOT_CONFIGURED",
                    format!(
                        "no model endpoint is configured (the operator sets \
                         --model-base-url or {MODEL_BASE_URL_ENV})"
                    ),
                ))
            }
        };
        // A server reads only the operator's key variable; a trusted (local) definition
        // may name its own.
        let key_env = match &request.api_key_env {
            Some(own) if settings.trust_definitions => own.clone(),
            _ => endpoint.api_key_env.clone(),
        };
        let model = match (request.model.as_str(), &endpoint.default_model) {
            ("default", Some(m)) => m.clone(),
            ("default", None) => {
                return Err(NodeError::new(
                    "NOT_CONFIGURED",
                    "the node asks for the `default` model and the operator set none \
                     (--model-name)",
                ))
            }
            (m, _) => m.to_string(),
        };
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|(role, content)| {
                let role = match role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                json!({"role": role, "content": content})
            })
            .collect();
        let mut payload = json!({"model": model, "messages": messages});
        if let Some(t) = request.temperature {
            payload["temperature"] = json!(t);
        }
        if let Some(m) = request.max_tokens {
            payload["max_tokens"] = json!(m);
        }
        let mut headers = BTreeMap::new();
        if let Some(key) = std::env::var(&key_env).ok().filter(|k| !k.is_empty()) {
            headers.insert("authorization".to_string(), format!("Bearer {key}"));
        }
        let url = format!("{}/chat/completions", trim(&base_url));
        let model_error = |m: String| NodeError::new("MODEL_ERROR", m);
        let reply = self
            .send(
                HttpMethod::Post,
                &url,
                &headers,
                Some(&payload),
                Some(endpoint.timeout.as_secs_f64()),
                false,
            )
            .map_err(|e| model_error(e.message))?;
        let status = reply["status"].as_u64().unwrap_or(0);
        if !(200..300).contains(&status) {
            let body = match &reply["body"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let excerpt: String = body.chars().take(300).collect();
            return Err(model_error(format!(
                "the model endpoint answered {status}: {excerpt}"
            )));
        }
        let body = match &reply["body"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            other => other.clone(),
        };
        body["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| model_error("the reply has no choices[0].message.content string".into()))
    }

    fn tool(&mut self, target: &ToolTarget, input: &Value) -> Result<Value, NodeError> {
        match target {
            ToolTarget::Workflow { id, version } => self.run_stored(id, *version, input),
            ToolTarget::Http {
                method,
                url,
                headers,
            } => {
                self.network_allowed("tool")?;
                let reply = self.send(*method, url, headers, Some(input), None, true)?;
                let status = reply["status"].as_u64().unwrap_or(0);
                if !(200..300).contains(&status) {
                    return Err(NodeError::new(
                        "HTTP_ERROR",
                        format!("the tool at {url} answered {status}"),
                    ));
                }
                Ok(reply["body"].clone())
            }
        }
    }

    fn memory_read(&mut self, thread: &str, key: &str) -> Result<Vec<Value>, NodeError> {
        let items = self
            .runtime
            .block_on(
                self.engine
                    .store
                    .memory_read(&self.caller.tenant, thread, key),
            )
            .map_err(|e| engine_error(e.into()))?;
        Ok(items.iter().map(|t| json_value(t)).collect())
    }

    fn memory_append(
        &mut self,
        thread: &str,
        key: &str,
        value: Value,
    ) -> Result<Vec<Value>, NodeError> {
        let text = value.to_string();
        if text.len() > MEMORY_VALUE_LIMIT {
            return Err(NodeError::new(
                "BAD_VALUE",
                format!("a memory value is at most {MEMORY_VALUE_LIMIT} bytes of JSON"),
            ));
        }
        let items = self
            .runtime
            .block_on(self.engine.store.memory_append(
                &self.caller.tenant,
                thread,
                key,
                &text,
                warden_store::now(),
            ))
            .map_err(|e| engine_error(e.into()))?;
        Ok(items.iter().map(|t| json_value(t)).collect())
    }

    fn retrieve(&mut self, collection: &str, query: &str, top_k: u32) -> Result<Value, NodeError> {
        let results = self
            .runtime
            .block_on(self.engine.search_collection(
                &self.caller,
                collection,
                query,
                top_k as usize,
            ))
            .map_err(engine_error)?;
        Ok(Value::Array(
            results
                .results
                .into_iter()
                .map(|h| {
                    let mut hit = json!({"id": h.id, "score": rounded(h.score), "text": h.text});
                    if let Some(m) = h.metadata {
                        hit["metadata"] = m;
                    }
                    hit
                })
                .collect(),
        ))
    }
}
