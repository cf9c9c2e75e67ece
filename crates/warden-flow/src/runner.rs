//! The runner core: executes a validated workflow over its state, one node at a time.
//!
//! Everything with a side effect is behind a trait, so the core is pure and synchronous
//! and can be tested with fakes: code nodes call a [`CodeRunner`] (the engine implements
//! it with one sandbox session per run), `http`, `model`, `tool`, `memory` and `retrieval`
//! nodes call [`Services`] (each method defaults to a `NOT_CONFIGURED` error), and time —
//! `delay` nodes, retry backoff, the run's time limit, trace timings — goes through a
//! [`Clock`]. Run events ([`RunEvent`]) are passed to an optional callback, for streaming.
//!
//! See "Runner semantics" in `docs/WORKFLOWS.md` for what is pinned down here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::definition::{
    labels, CodeConfig, CodeLanguage, ConditionalConfig, Edge, HttpMethod, LoopConfig, MemoryOp,
    NodeConfig, NodeType, Role, Workflow,
};
use crate::expr::{self, truthy};
use crate::path::StatePath;
use crate::validate::{validate, Problem};

/// Stable error codes set by the runner itself (code runners and services add their own,
/// e.g. `EXECUTION_ERROR`, `TIMEOUT`).
pub mod error_codes {
    /// The run executed more than [`super::Limits::max_steps`] nodes.
    pub const STEP_LIMIT: &str = "STEP_LIMIT";
    /// The run went past [`super::Limits::max_duration`] (or a wait would).
    pub const TIME_LIMIT: &str = "TIME_LIMIT";
    /// An expression or template failed to evaluate (or parse).
    pub const EXPRESSION_ERROR: &str = "EXPRESSION_ERROR";
    /// A state path could not be read or written.
    pub const PATH_ERROR: &str = "PATH_ERROR";
    /// A conditional found no edge to take.
    pub const NO_BRANCH: &str = "NO_BRANCH";
    /// A loop would start more than `max_iterations` iterations.
    pub const LOOP_LIMIT: &str = "LOOP_LIMIT";
    /// A loop's `over` value is not a list.
    pub const LOOP_NOT_LIST: &str = "LOOP_NOT_LIST";
    /// A value of the wrong kind (a memory thread id that is not a string or integer, a
    /// retrieval query that is not a string).
    pub const BAD_VALUE: &str = "BAD_VALUE";
    /// The host has no implementation of the service a node needs.
    pub const NOT_CONFIGURED: &str = "NOT_CONFIGURED";
}

/// Why a node failed: the payload an `error_handler` receives (with the node's id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeError {
    pub code: String,
    pub message: String,
    pub traceback: Option<String>,
}

impl NodeError {
    pub fn new(code: &str, message: impl Into<String>) -> NodeError {
        NodeError {
            code: code.to_string(),
            message: message.into(),
            traceback: None,
        }
    }
}

/// A failure of the run, or the last failure routed to an `error_handler`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The node that failed (the node about to run, for `STEP_LIMIT` / `TIME_LIMIT`).
    pub node: Option<String>,
    #[serde(flatten)]
    pub error: NodeError,
}

impl Failure {
    /// `{node, code, message, traceback}`, as written by an `error_handler`.
    pub fn to_value(&self) -> Value {
        json!({
            "node": self.node,
            "code": self.error.code,
            "message": self.error.message,
            "traceback": self.error.traceback,
        })
    }
}

/// One attempt of a code node.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeRequest<'a> {
    pub node: &'a str,
    pub language: CodeLanguage,
    pub code: &'a str,
    /// `input_data` (Python) / `input` (JavaScript): the object built by `input_mapping`.
    pub input: &'a Value,
    /// Seconds for this attempt: the node's `timeout`, capped by the run's remaining time.
    pub timeout: Option<f64>,
    pub packages: &'a [String],
    pub template: Option<&'a str>,
    /// Network egress (the node's `network`), narrowed to `egress_allow` when given.
    pub network: bool,
    pub egress_allow: Option<&'a [String]>,
}

/// What a code attempt produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CodeOutcome {
    pub result: Value,
    pub stdout: String,
}

/// Runs code nodes (the engine: one shared sandbox session per run).
pub trait CodeRunner {
    fn run(&mut self, request: &CodeRequest<'_>) -> Result<CodeOutcome, NodeError>;
}

/// A rendered `http` node request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// The body value: a string is sent as is, anything else as JSON.
    pub body: Option<Value>,
    pub timeout: Option<f64>,
}

/// A rendered `model` node request.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub base_url: Option<String>,
    pub model: String,
    pub api_key_env: Option<String>,
    pub messages: Vec<(Role, String)>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

/// A `tool` node call: a stored workflow, or an HTTP tool (rendered).
#[derive(Debug, Clone, PartialEq)]
pub enum ToolTarget {
    Workflow {
        id: String,
        version: Option<u64>,
    },
    Http {
        method: HttpMethod,
        url: String,
        headers: BTreeMap<String, String>,
    },
}

/// The side effects of the non-code nodes. Every method defaults to a `NOT_CONFIGURED`
/// error, so a host implements only what it offers.
pub trait Services {
    /// One request; the result is `{status, headers, body}`.
    fn http(&mut self, request: &HttpRequest) -> Result<Value, NodeError> {
        let _ = request;
        Err(not_configured("http"))
    }
    /// A chat completion; the result is the reply text.
    fn model(&mut self, request: &ModelRequest) -> Result<String, NodeError> {
        let _ = request;
        Err(not_configured("model"))
    }
    /// Calls a tool with the mapped inputs (an object); the result is written as is.
    fn tool(&mut self, target: &ToolTarget, input: &Value) -> Result<Value, NodeError> {
        let _ = (target, input);
        Err(not_configured("tool"))
    }
    /// The list kept for (thread, key); empty if none.
    fn memory_read(&mut self, thread: &str, key: &str) -> Result<Vec<Value>, NodeError> {
        let _ = (thread, key);
        Err(not_configured("memory"))
    }
    /// Appends to the list kept for (thread, key); returns the new list.
    fn memory_append(
        &mut self,
        thread: &str,
        key: &str,
        value: Value,
    ) -> Result<Vec<Value>, NodeError> {
        let _ = (thread, key, value);
        Err(not_configured("memory"))
    }
    /// Ranked search; the result is `[{id, score, text}]`, best first.
    fn retrieve(&mut self, collection: &str, query: &str, top_k: u32) -> Result<Value, NodeError> {
        let _ = (collection, query, top_k);
        Err(not_configured("retrieval"))
    }
}

fn not_configured(what: &str) -> NodeError {
    NodeError::new(
        error_codes::NOT_CONFIGURED,
        format!("`{what}` nodes are not available here"),
    )
}

/// Services that offer nothing: every non-code node fails with `NOT_CONFIGURED`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoServices;

impl Services for NoServices {}

/// Time, for timings, the time limit, `delay` and retry backoff.
pub trait Clock {
    /// Milliseconds since an arbitrary fixed point.
    fn now_ms(&mut self) -> u64;
    fn sleep_ms(&mut self, ms: u64);
}

/// The real clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Bounds of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most node executions (every node counts, `start` and `end` included).
    pub max_steps: u64,
    pub max_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 100_000,
            max_duration: Duration::from_secs(600),
        }
    }
}

/// What a run reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    NodeStarted {
        node: String,
        #[serde(rename = "type")]
        kind: NodeType,
        step: u64,
    },
    /// A code node attempt failed and will be retried after `wait_ms`.
    NodeRetrying {
        node: String,
        attempt: u32,
        wait_ms: u64,
        error: NodeError,
    },
    NodeFinished {
        entry: TraceEntry,
    },
    RunFinished {
        status: RunStatus,
        error: Option<Failure>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    Error,
}

/// One node execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceEntry {
    pub node: String,
    #[serde(rename = "type")]
    pub kind: NodeType,
    pub status: RunStatus,
    /// What the node read: a code node's `input_data`, a conditional's value, a loop's
    /// `{iteration}`, a request… (`null` when nothing).
    pub inputs: Value,
    /// What the node wrote: `{path: value}` (the run's output for `end`).
    pub outputs: Value,
    /// A code node's printed output (of its last attempt).
    pub stdout: Option<String>,
    pub error: Option<NodeError>,
    /// Milliseconds since the run started.
    pub started_ms: u64,
    pub duration_ms: u64,
    /// For a loop node, the iteration it starts (`None` when it finishes); for a node in
    /// a loop's body, the iteration of the innermost running loop it belongs to.
    pub iteration: Option<u64>,
    /// Attempts made (more than 1 only for retried code nodes).
    pub attempts: u32,
    /// The node taken next (`None` at `end` and when the run fails here).
    pub next: Option<String>,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub status: RunStatus,
    /// The final state.
    pub state: Value,
    /// The `end` node's output (`null` when the run failed).
    pub output: Value,
    pub trace: Vec<TraceEntry>,
    pub error: Option<Failure>,
}

/// What the runner needs from its host.
pub struct Host<'a> {
    pub code: &'a mut dyn CodeRunner,
    pub services: &'a mut dyn Services,
    pub clock: &'a mut dyn Clock,
    pub on_event: Option<&'a mut dyn FnMut(&RunEvent)>,
}

/// Validates `workflow`, then runs it with `input` (the state starts as
/// `{"inputs": input}`). An invalid workflow is refused with its problems.
pub fn run(
    workflow: &Workflow,
    input: Value,
    host: Host<'_>,
    limits: Limits,
) -> Result<RunResult, Vec<Problem>> {
    validate(workflow)?;
    let graph = Graph::new(workflow).map_err(|p| vec![p])?;
    Ok(Run {
        graph: &graph,
        host,
        limits,
        state: json!({ "inputs": input }),
        trace: Vec::new(),
        loops: HashMap::new(),
        last_error: None,
        started: 0,
    }
    .execute())
}

// ---------------------------------------------------------------- the graph

struct Graph<'w> {
    ids: Vec<&'w str>,
    configs: Vec<NodeConfig>,
    /// Outgoing edges per node, in the order listed.
    out: Vec<Vec<&'w Edge>>,
    index: HashMap<&'w str, usize>,
    start: usize,
    /// Per loop node: the nodes of its body.
    bodies: HashMap<usize, HashSet<usize>>,
}

impl<'w> Graph<'w> {
    fn new(wf: &'w Workflow) -> Result<Graph<'w>, Problem> {
        let mut configs = Vec::with_capacity(wf.nodes.len());
        for node in &wf.nodes {
            configs.push(node.typed().map_err(|e| Problem {
                node: Some(node.id.clone()),
                edge: None,
                code: crate::validate::codes::BAD_CONFIG,
                message: e.to_string(),
            })?);
        }
        let ids: Vec<&str> = wf.nodes.iter().map(|n| n.id.as_str()).collect();
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut out = vec![Vec::new(); ids.len()];
        let mut inc = vec![Vec::new(); ids.len()];
        for e in &wf.edges {
            let (s, t) = (index[e.source.as_str()], index[e.target.as_str()]);
            out[s].push(e);
            inc[t].push(s);
        }
        let start = configs
            .iter()
            .position(|c| c.node_type() == NodeType::Start)
            .expect("validated: one start");
        let mut bodies = HashMap::new();
        for (l, config) in configs.iter().enumerate() {
            if !matches!(config, NodeConfig::Loop(_)) {
                continue;
            }
            // Forward from the body edge's target, and backward from the loop, never
            // through the loop itself: the body is what lies on both.
            let body_targets = out[l]
                .iter()
                .filter(|e| e.condition.as_deref() == Some(labels::BODY))
                .map(|e| index[e.target.as_str()]);
            let forward = reach(body_targets, l, |n| {
                out[n].iter().map(|e| index[e.target.as_str()]).collect()
            });
            let backward = reach(inc[l].iter().copied(), l, |n| inc[n].clone());
            bodies.insert(l, forward.intersection(&backward).copied().collect());
        }
        Ok(Graph {
            ids,
            configs,
            out,
            index,
            start,
            bodies,
        })
    }

    fn edge(&self, node: usize, label: Option<&str>) -> Option<usize> {
        self.out[node]
            .iter()
            .find(|e| e.condition.as_deref() == label)
            .map(|e| self.index[e.target.as_str()])
    }
}

fn reach(
    from: impl Iterator<Item = usize>,
    avoid: usize,
    next: impl Fn(usize) -> Vec<usize>,
) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut queue: VecDeque<usize> = from.filter(|&n| n != avoid).collect();
    while let Some(n) = queue.pop_front() {
        if seen.insert(n) {
            queue.extend(next(n).into_iter().filter(|&m| m != avoid));
        }
    }
    seen
}

// ---------------------------------------------------------------- the run

struct LoopState {
    /// The next iteration's number.
    next: u64,
    /// The snapshot of `over`.
    items: Option<Vec<Value>>,
}

/// How a node ended.
enum Step {
    Next(usize),
    End(Value),
}

/// A node's own record, filled as it runs.
#[derive(Default)]
struct Record {
    inputs: Value,
    outputs: Map<String, Value>,
    stdout: Option<String>,
    attempts: u32,
    loop_iteration: Option<u64>,
}

/// A failure that ends the run whatever the edges (limits).
struct Fatal(NodeError);

enum Fail {
    Node(NodeError),
    Fatal(Fatal),
}

impl From<NodeError> for Fail {
    fn from(e: NodeError) -> Self {
        Fail::Node(e)
    }
}

struct Run<'g, 'w, 'h> {
    graph: &'g Graph<'w>,
    host: Host<'h>,
    limits: Limits,
    state: Value,
    trace: Vec<TraceEntry>,
    loops: HashMap<usize, LoopState>,
    last_error: Option<Failure>,
    started: u64,
}

fn expr_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::new(error_codes::EXPRESSION_ERROR, e.to_string())
}

fn path_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::new(error_codes::PATH_ERROR, e.to_string())
}

impl Run<'_, '_, '_> {
    fn emit(&mut self, event: RunEvent) {
        if let Some(f) = self.host.on_event.as_mut() {
            f(&event);
        }
    }

    fn elapsed(&mut self) -> u64 {
        self.host.clock.now_ms().saturating_sub(self.started)
    }

    fn max_ms(&self) -> u64 {
        u64::try_from(self.limits.max_duration.as_millis()).unwrap_or(u64::MAX)
    }

    /// Waits `ms`, unless that would go past the time limit.
    fn wait(&mut self, ms: u64) -> Result<(), Fail> {
        if self.elapsed().saturating_add(ms) > self.max_ms() {
            return Err(Fail::Fatal(Fatal(NodeError::new(
                error_codes::TIME_LIMIT,
                format!("waiting {ms} ms would pass the run's time limit"),
            ))));
        }
        self.host.clock.sleep_ms(ms);
        Ok(())
    }

    fn execute(mut self) -> RunResult {
        self.started = self.host.clock.now_ms();
        let mut current = self.graph.start;
        let mut previous: Option<usize> = None;
        let mut steps = 0u64;
        let graph = self.graph;
        let id = |n: usize| graph.ids[n].to_string();
        loop {
            steps += 1;
            let limit = if steps > self.limits.max_steps {
                Some(NodeError::new(
                    error_codes::STEP_LIMIT,
                    format!("the run passed {} steps", self.limits.max_steps),
                ))
            } else if self.elapsed() > self.max_ms() {
                Some(NodeError::new(
                    error_codes::TIME_LIMIT,
                    format!(
                        "the run passed its time limit of {} ms",
                        self.limits.max_duration.as_millis()
                    ),
                ))
            } else {
                None
            };
            if let Some(error) = limit {
                return self.finish(Err(Failure {
                    node: Some(id(current)),
                    error,
                }));
            }
            let kind = self.graph.configs[current].node_type();
            self.emit(RunEvent::NodeStarted {
                node: id(current),
                kind,
                step: steps,
            });
            let started_ms = self.elapsed();
            let mut record = Record {
                attempts: 1,
                ..Record::default()
            };
            let outcome = self.node(current, previous, &mut record);
            let duration_ms = self.elapsed() - started_ms;
            let iteration = record.loop_iteration.or_else(|| self.iteration_of(current));
            let mut entry = TraceEntry {
                node: id(current),
                kind,
                status: RunStatus::Ok,
                inputs: record.inputs,
                outputs: Value::Object(record.outputs),
                stdout: record.stdout,
                error: None,
                started_ms,
                duration_ms,
                iteration,
                attempts: record.attempts,
                next: None,
            };
            let next = match outcome {
                Ok(Step::Next(n)) => Ok(n),
                Ok(Step::End(output)) => {
                    entry.outputs = output.clone();
                    self.record(entry);
                    return self.finish(Ok(output));
                }
                Err(fail) => {
                    self.loops.remove(&current);
                    let (error, fatal) = match fail {
                        Fail::Node(e) => (e, false),
                        Fail::Fatal(Fatal(e)) => (e, true),
                    };
                    entry.status = RunStatus::Error;
                    entry.error = Some(error.clone());
                    let failure = Failure {
                        node: Some(id(current)),
                        error,
                    };
                    match self.graph.edge(current, Some(labels::ERROR)) {
                        Some(handler) if !fatal => {
                            self.last_error = Some(failure);
                            Ok(handler)
                        }
                        _ => Err(failure),
                    }
                }
            };
            match next {
                Ok(n) => {
                    entry.next = Some(id(n));
                    self.record(entry);
                    previous = Some(current);
                    current = n;
                }
                Err(failure) => {
                    self.record(entry);
                    return self.finish(Err(failure));
                }
            }
        }
    }

    fn record(&mut self, entry: TraceEntry) {
        self.emit(RunEvent::NodeFinished {
            entry: entry.clone(),
        });
        self.trace.push(entry);
    }

    fn finish(mut self, end: Result<Value, Failure>) -> RunResult {
        let (status, output, error) = match end {
            Ok(output) => (RunStatus::Ok, output, None),
            Err(f) => (RunStatus::Error, Value::Null, Some(f)),
        };
        self.emit(RunEvent::RunFinished {
            status,
            error: error.clone(),
        });
        RunResult {
            status,
            state: self.state,
            output,
            trace: self.trace,
            error,
        }
    }

    /// The current iteration of the innermost running loop whose body holds `node`.
    fn iteration_of(&self, node: usize) -> Option<u64> {
        self.loops
            .iter()
            .filter(|(l, _)| self.graph.bodies[l].contains(&node))
            // The innermost is the one whose body is smallest.
            .min_by_key(|(l, _)| self.graph.bodies[l].len())
            .map(|(_, s)| s.next.saturating_sub(1))
    }

    fn plain_next(&self, node: usize) -> Step {
        Step::Next(self.graph.edge(node, None).expect("validated: an edge on"))
    }

    fn write(&mut self, record: &mut Record, writes: Vec<(&StatePath, Value)>) -> Result<(), Fail> {
        for (path, value) in writes {
            path.set(&mut self.state, value.clone())
                .map_err(path_error)?;
            record.outputs.insert(path.to_string(), value);
        }
        Ok(())
    }

    fn eval(&self, source: &crate::definition::Expression) -> Result<Value, NodeError> {
        expr::eval_str(&source.0, &self.state).map_err(expr_error)
    }

    fn render(&self, template: &crate::template::Template) -> Result<String, NodeError> {
        template.render(&self.state).map_err(expr_error)
    }

    fn node(
        &mut self,
        n: usize,
        previous: Option<usize>,
        record: &mut Record,
    ) -> Result<Step, Fail> {
        let graph = self.graph;
        match &graph.configs[n] {
            NodeConfig::Start(_) => Ok(self.plain_next(n)),
            NodeConfig::End(c) => {
                if c.output.is_empty() {
                    return Ok(Step::End(self.state.clone()));
                }
                let mut out = Map::new();
                for (key, path) in &c.output {
                    out.insert(key.clone(), path.get(&self.state).map_err(path_error)?);
                }
                Ok(Step::End(Value::Object(out)))
            }
            NodeConfig::Code(c) => {
                self.code(n, c, record)?;
                Ok(self.plain_next(n))
            }
            NodeConfig::Conditional(c) => self.conditional(n, c, record),
            NodeConfig::Loop(c) => self.looping(n, c, previous, record),
            NodeConfig::Variable(c) => {
                let mut writes = Vec::new();
                for (path, source) in &c.set {
                    writes.push((path, self.eval(source)?));
                }
                self.write(record, writes)?;
                Ok(self.plain_next(n))
            }
            NodeConfig::Delay(c) => {
                record.inputs = json!({ "ms": c.ms });
                self.wait(c.ms)?;
                Ok(self.plain_next(n))
            }
            NodeConfig::ErrorHandler(c) => {
                let payload = self
                    .last_error
                    .as_ref()
                    .map_or(Value::Null, Failure::to_value);
                self.write(record, vec![(&c.output, payload)])?;
                Ok(self.plain_next(n))
            }
            NodeConfig::Http(c) => {
                let mut headers = BTreeMap::new();
                for (k, t) in &c.headers {
                    headers.insert(k.clone(), self.render(t)?);
                }
                let body = c.body.as_ref().map(|b| self.eval(b)).transpose()?;
                let request = HttpRequest {
                    method: c.method,
                    url: self.render(&c.url)?,
                    headers,
                    body,
                    timeout: c.timeout,
                };
                record.inputs = json!({
                    "method": request.method,
                    "url": request.url,
                    "headers": request.headers,
                    "body": request.body,
                });
                let value = self.host.services.http(&request)?;
                self.write(record, vec![(&c.output, value)])?;
                Ok(self.plain_next(n))
            }
            NodeConfig::Model(c) => {
                let mut messages = Vec::new();
                for m in &c.messages {
                    messages.push((m.role, self.render(&m.content)?));
                }
                record.inputs = json!({
                    "model": c.model,
                    "messages": messages
                        .iter()
                        .map(|(role, content)| json!({"role": role, "content": content}))
                        .collect::<Vec<_>>(),
                });
                let request = ModelRequest {
                    base_url: c.base_url.clone(),
                    model: c.model.clone(),
                    api_key_env: c.api_key_env.clone(),
                    messages,
                    temperature: c.temperature,
                    max_tokens: c.max_tokens,
                };
                let reply = self.host.services.model(&request)?;
                self.write(record, vec![(&c.output, Value::String(reply))])?;
                Ok(self.plain_next(n))
            }
            NodeConfig::Tool(c) => {
                let input = self.mapped(&c.input_mapping)?;
                let target = match (&c.workflow, &c.http) {
                    (Some(id), _) => ToolTarget::Workflow {
                        id: id.clone(),
                        version: c.version,
                    },
                    (None, Some(h)) => {
                        let mut headers = BTreeMap::new();
                        for (k, t) in &h.headers {
                            headers.insert(k.clone(), self.render(t)?);
                        }
                        ToolTarget::Http {
                            method: h.method,
                            url: self.render(&h.url)?,
                            headers,
                        }
                    }
                    (None, None) => unreachable!("validated: workflow or http"),
                };
                record.inputs = input.clone();
                let value = self.host.services.tool(&target, &input)?;
                self.write(record, vec![(&c.output, value)])?;
                Ok(self.plain_next(n))
            }
            NodeConfig::Memory(c) => {
                let thread = match self.eval(&c.thread)? {
                    Value::String(s) => s,
                    Value::Number(i) if i.is_i64() || i.is_u64() => i.to_string(),
                    other => {
                        return Err(NodeError::new(
                            error_codes::BAD_VALUE,
                            format!(
                                "a memory thread id is a string or an integer, not {}",
                                crate::path::kind_of(&other)
                            ),
                        )
                        .into())
                    }
                };
                let list = match c.op {
                    MemoryOp::Read => {
                        record.inputs = json!({"thread": thread, "key": c.key, "op": "read"});
                        self.host.services.memory_read(&thread, &c.key)?
                    }
                    MemoryOp::Append => {
                        let path = c.value.as_ref().expect("validated: append has value");
                        let value = path.get(&self.state).map_err(path_error)?;
                        record.inputs =
                            json!({"thread": thread, "key": c.key, "op": "append", "value": value});
                        self.host.services.memory_append(&thread, &c.key, value)?
                    }
                };
                if let Some(out) = &c.output {
                    self.write(record, vec![(out, Value::Array(list))])?;
                }
                Ok(self.plain_next(n))
            }
            NodeConfig::Retrieval(c) => {
                let query = match self.eval(&c.query)? {
                    Value::String(s) => s,
                    other => {
                        return Err(NodeError::new(
                            error_codes::BAD_VALUE,
                            format!(
                                "a retrieval query is a string, not {}",
                                crate::path::kind_of(&other)
                            ),
                        )
                        .into())
                    }
                };
                record.inputs =
                    json!({"collection": c.collection, "query": query, "top_k": c.top_k});
                let value = self
                    .host
                    .services
                    .retrieve(&c.collection, &query, c.top_k)?;
                self.write(record, vec![(&c.output, value)])?;
                Ok(self.plain_next(n))
            }
        }
    }

    fn mapped(&self, mapping: &BTreeMap<String, StatePath>) -> Result<Value, NodeError> {
        let mut input = Map::new();
        for (name, path) in mapping {
            input.insert(name.clone(), path.get(&self.state).map_err(path_error)?);
        }
        Ok(Value::Object(input))
    }

    fn code(&mut self, n: usize, c: &CodeConfig, record: &mut Record) -> Result<(), Fail> {
        let input = self.mapped(&c.input_mapping)?;
        record.inputs = input.clone();
        let retries = c.retries.as_ref();
        let max_retries = retries.map_or(0, |r| r.max);
        let mut attempt = 0u32;
        let outcome = loop {
            let remaining = self.max_ms().saturating_sub(self.elapsed()) as f64 / 1000.0;
            let timeout = Some(c.timeout.map_or(remaining, |t| t.min(remaining)));
            let request = CodeRequest {
                node: self.graph.ids[n],
                language: c.language,
                code: &c.code,
                input: &input,
                timeout,
                packages: &c.packages,
                template: c.template.as_deref(),
                network: c.network,
                egress_allow: c.egress.as_ref().map(|e| e.allow.as_slice()),
            };
            match self.host.code.run(&request) {
                Ok(outcome) => break outcome,
                Err(error) if attempt < max_retries => {
                    let r = retries.expect("retries when max_retries > 0");
                    let wait = (r.backoff_ms as f64 * r.factor.powi(attempt as i32)).round();
                    let wait_ms = wait.min(u64::MAX as f64) as u64;
                    attempt += 1;
                    record.attempts = attempt + 1;
                    self.emit(RunEvent::NodeRetrying {
                        node: self.graph.ids[n].to_string(),
                        attempt,
                        wait_ms,
                        error,
                    });
                    self.wait(wait_ms)?;
                }
                Err(error) => return Err(error.into()),
            }
        };
        record.stdout = Some(outcome.stdout.clone());
        let produced = json!({"result": outcome.result, "stdout": outcome.stdout});
        let mut writes = Vec::new();
        for (target, source) in &c.output_mapping {
            writes.push((target, source.get(&produced).map_err(path_error)?));
        }
        self.write(record, writes)
    }

    fn conditional(
        &mut self,
        n: usize,
        c: &ConditionalConfig,
        record: &mut Record,
    ) -> Result<Step, Fail> {
        let graph = self.graph;
        let edges = &graph.out[n];
        let target = |e: &Edge| graph.index[e.target.as_str()];
        let chosen = match &c.expression {
            Some(source) => {
                let value = self.eval(source)?;
                record.inputs = json!({ "value": value });
                let label = match &value {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(i) if i.is_i64() || i.is_u64() => i.to_string(),
                    other => {
                        return Err(NodeError::new(
                            error_codes::NO_BRANCH,
                            format!(
                                "the expression gave {}, not a string, boolean or integer label",
                                crate::path::kind_of(other)
                            ),
                        )
                        .into())
                    }
                };
                edges
                    .iter()
                    .find(|e| {
                        e.condition.as_deref() == Some(label.as_str()) && label != labels::ERROR
                    })
                    .map(|e| target(e))
            }
            None => {
                let mut chosen = None;
                for e in edges {
                    let Some(cond) = e.condition.as_deref() else {
                        continue;
                    };
                    if cond == labels::ERROR || cond == labels::DEFAULT {
                        continue;
                    }
                    if truthy(&expr::eval_str(cond, &self.state).map_err(expr_error)?) {
                        record.inputs = json!({ "guard": cond });
                        chosen = Some(target(e));
                        break;
                    }
                }
                chosen
            }
        };
        match chosen.or_else(|| graph.edge(n, Some(labels::DEFAULT))) {
            Some(t) => Ok(Step::Next(t)),
            None => Err(NodeError::new(
                error_codes::NO_BRANCH,
                "no edge matches and there is no `default` edge",
            )
            .into()),
        }
    }

    fn looping(
        &mut self,
        n: usize,
        c: &LoopConfig,
        previous: Option<usize>,
        record: &mut Record,
    ) -> Result<Step, Fail> {
        let graph = self.graph;
        let from_body = previous.is_some_and(|p| graph.bodies[&n].contains(&p));
        if !(from_body && self.loops.contains_key(&n)) {
            let items = match &c.over {
                Some(path) => match path.get(&self.state).map_err(path_error)? {
                    Value::Array(items) => {
                        if items.len() as u64 > c.max_iterations {
                            return Err(NodeError::new(
                                error_codes::LOOP_LIMIT,
                                format!(
                                    "`{path}` has {} items, more than max_iterations ({})",
                                    items.len(),
                                    c.max_iterations
                                ),
                            )
                            .into());
                        }
                        Some(items)
                    }
                    other => {
                        return Err(NodeError::new(
                            error_codes::LOOP_NOT_LIST,
                            format!("`{path}` is {}, not a list", crate::path::kind_of(&other)),
                        )
                        .into())
                    }
                },
                None => None,
            };
            self.loops.insert(n, LoopState { next: 0, items });
        }
        let state = self.loops.get(&n).expect("inserted");
        let index = state.next;
        record.inputs = json!({ "iteration": index });
        let item = match (&state.items, &c.while_) {
            (Some(items), _) => usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .map(|item| Some(item.clone())),
            (None, Some(cond)) => {
                if truthy(&self.eval(cond)?) {
                    Some(None)
                } else {
                    None
                }
            }
            (None, None) => unreachable!("validated: over or while"),
        };
        let Some(item) = item else {
            self.loops.remove(&n);
            return Ok(Step::Next(
                graph.edge(n, Some(labels::DONE)).expect("validated: done"),
            ));
        };
        if index >= c.max_iterations {
            return Err(NodeError::new(
                error_codes::LOOP_LIMIT,
                format!(
                    "the loop would start iteration {} of at most {}",
                    index + 1,
                    c.max_iterations
                ),
            )
            .into());
        }
        let mut writes = Vec::new();
        if let (Some(path), Some(item)) = (&c.item_var, item) {
            writes.push((path, item));
        }
        if let Some(path) = &c.index_var {
            writes.push((path, json!(index)));
        }
        self.write(record, writes)?;
        record.loop_iteration = Some(index);
        self.loops.get_mut(&n).expect("inserted").next = index + 1;
        Ok(Step::Next(
            graph.edge(n, Some(labels::BODY)).expect("validated: body"),
        ))
    }
}
