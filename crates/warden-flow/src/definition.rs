//! Workflow definitions: the serde types of `{name, version, inputs, nodes, edges}` and of
//! each node type's config, loaded from JSON or YAML.
//!
//! Nodes are read in two steps. A [`Node`] keeps its `type` as a string and its `config` as
//! raw JSON, so that a workflow with an unknown type or a bad config still loads and
//! validation can name every such node; [`Node::typed`] then turns the config into the
//! [`NodeConfig`] of its type, refusing unknown fields. See `docs/WORKFLOWS.md` for the
//! format, and [`crate::path`] and [`crate::expr`] for paths and expressions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::expr::{self, Expr, ParseError};
use crate::path::StatePath;
use crate::template::Template;

/// Most iterations a loop may declare.
pub const MAX_LOOP_ITERATIONS: u64 = 10_000;
/// Longest `delay`, in milliseconds.
pub const MAX_DELAY_MS: u64 = 300_000;
/// Longest node timeout, in seconds.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;
/// Most retries of a code node.
pub const MAX_RETRIES: u32 = 10;
/// Longest first wait between retries, in milliseconds.
pub const MAX_BACKOFF_MS: u64 = 60_000;
/// Largest factor by which the wait between retries grows.
pub const MAX_BACKOFF_FACTOR: f64 = 10.0;
/// Most results a `retrieval` node may ask for.
pub const MAX_TOP_K: u32 = 100;
/// Most nodes in a workflow.
pub const MAX_NODES: usize = 1000;
/// Most edges in a workflow.
pub const MAX_EDGES: usize = 5000;

/// A workflow definition, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub name: String,
    /// A positive version number; the store keeps versions of a workflow side by side.
    #[serde(default = "one")]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The names of the run's inputs: each is readable as `inputs.<name>`. Reading an
    /// `inputs.*` key not declared here is an `undefined_key` problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// The format version of a file written by `warden flow compile --target warden`
    /// ([`crate::compile::warden_file`]); absent in hand-written definitions. Loading
    /// refuses a version other than [`WARDEN_FORMAT`]. It has no effect on a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warden_flow: Option<u64>,
}

/// The `warden_flow` format version this build writes and reads.
pub const WARDEN_FORMAT: u64 = 1;

fn one() -> u64 {
    1
}

/// A node as written: its config is typed later ([`Node::typed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The type's config; absent means `{}`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
}

/// An edge. `condition` is a label: `error` (the source failed), `body` / `done` (loops),
/// a conditional's label or `default`, or — from a conditional without `expression` — an
/// expression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// The reserved edge labels.
pub mod labels {
    /// Taken when the source node fails; leads to an `error_handler`.
    pub const ERROR: &str = "error";
    /// A loop's edge into its body.
    pub const BODY: &str = "body";
    /// A loop's edge out when it has finished.
    pub const DONE: &str = "done";
    /// A conditional's edge when no other matches.
    pub const DEFAULT: &str = "default";
}

/// Why a definition could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid workflow JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid workflow YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("{path}: a workflow file ends in .json, .yaml or .yml")]
    UnknownExtension { path: PathBuf },
    #[error("unsupported `warden_flow` format version {0} (this build reads {WARDEN_FORMAT})")]
    UnsupportedFormat(u64),
}

impl Workflow {
    /// Loads a definition from JSON text.
    pub fn from_json(text: &str) -> Result<Workflow, DefinitionError> {
        serde_json::from_str::<Workflow>(text)?.checked_format()
    }

    /// Loads a definition from YAML text. The YAML is read as JSON data first, so both
    /// forms accept exactly the same documents.
    pub fn from_yaml(text: &str) -> Result<Workflow, DefinitionError> {
        let value: Value = serde_yaml_ng::from_str(text)?;
        serde_json::from_value::<Workflow>(value)?.checked_format()
    }

    fn checked_format(self) -> Result<Workflow, DefinitionError> {
        match self.warden_flow {
            Some(v) if v != WARDEN_FORMAT => Err(DefinitionError::UnsupportedFormat(v)),
            _ => Ok(self),
        }
    }

    /// Loads a definition from a `.json`, `.yaml` or `.yml` file.
    pub fn from_path(path: &Path) -> Result<Workflow, DefinitionError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let read = || {
            std::fs::read_to_string(path).map_err(|source| DefinitionError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        match ext.as_deref() {
            Some("json") => Workflow::from_json(&read()?),
            Some("yaml" | "yml") => Workflow::from_yaml(&read()?),
            _ => Err(DefinitionError::UnknownExtension {
                path: path.to_path_buf(),
            }),
        }
    }

    /// The node with this id (the first, if ids repeat).
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// The node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    Start,
    End,
    Code,
    Conditional,
    Loop,
    Variable,
    Delay,
    ErrorHandler,
    Http,
    Model,
    Tool,
    Memory,
    Retrieval,
}

impl NodeType {
    pub const ALL: [NodeType; 13] = [
        NodeType::Start,
        NodeType::End,
        NodeType::Code,
        NodeType::Conditional,
        NodeType::Loop,
        NodeType::Variable,
        NodeType::Delay,
        NodeType::ErrorHandler,
        NodeType::Http,
        NodeType::Model,
        NodeType::Tool,
        NodeType::Memory,
        NodeType::Retrieval,
    ];

    /// The name used in definitions (`error_handler`).
    pub fn name(self) -> &'static str {
        match self {
            NodeType::Start => "start",
            NodeType::End => "end",
            NodeType::Code => "code",
            NodeType::Conditional => "conditional",
            NodeType::Loop => "loop",
            NodeType::Variable => "variable",
            NodeType::Delay => "delay",
            NodeType::ErrorHandler => "error_handler",
            NodeType::Http => "http",
            NodeType::Model => "model",
            NodeType::Tool => "tool",
            NodeType::Memory => "memory",
            NodeType::Retrieval => "retrieval",
        }
    }

    pub fn from_name(name: &str) -> Option<NodeType> {
        NodeType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// An expression's source text (see [`crate::expr`]). Parsed by [`Expression::parse`] and
/// by validation, so that a bad expression is a `bad_expression` problem with its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression(pub String);

impl Expression {
    pub fn parse(&self) -> Result<Expr, ParseError> {
        expr::parse(&self.0)
    }
}

impl Serialize for Expression {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Expression {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Expression)
    }
}

/// A node's typed config.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeConfig {
    Start(StartConfig),
    End(EndConfig),
    Code(CodeConfig),
    Conditional(ConditionalConfig),
    Loop(LoopConfig),
    Variable(VariableConfig),
    Delay(DelayConfig),
    ErrorHandler(ErrorHandlerConfig),
    Http(HttpConfig),
    Model(ModelConfig),
    Tool(ToolConfig),
    Memory(MemoryConfig),
    Retrieval(RetrievalConfig),
}

/// Why a node's config could not be typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown node type `{0}`")]
    UnknownType(String),
    #[error("{0}")]
    Invalid(String),
}

impl Node {
    /// The node's type, if it is a known one.
    pub fn node_type(&self) -> Option<NodeType> {
        NodeType::from_name(&self.kind)
    }

    /// Types the config by the node's type. Unknown fields and missing required fields
    /// are refused here; limits and combinations are checked by [`NodeConfig::problems`].
    pub fn typed(&self) -> Result<NodeConfig, ConfigError> {
        let kind = self
            .node_type()
            .ok_or_else(|| ConfigError::UnknownType(self.kind.clone()))?;
        let config = match &self.config {
            Value::Null => Value::Object(Default::default()),
            other => other.clone(),
        };
        fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ConfigError> {
            serde_json::from_value(v).map_err(|e| ConfigError::Invalid(e.to_string()))
        }
        Ok(match kind {
            NodeType::Start => NodeConfig::Start(typed(config)?),
            NodeType::End => NodeConfig::End(typed(config)?),
            NodeType::Code => NodeConfig::Code(typed(config)?),
            NodeType::Conditional => NodeConfig::Conditional(typed(config)?),
            NodeType::Loop => NodeConfig::Loop(typed(config)?),
            NodeType::Variable => NodeConfig::Variable(typed(config)?),
            NodeType::Delay => NodeConfig::Delay(typed(config)?),
            NodeType::ErrorHandler => NodeConfig::ErrorHandler(typed(config)?),
            NodeType::Http => NodeConfig::Http(typed(config)?),
            NodeType::Model => NodeConfig::Model(typed(config)?),
            NodeType::Tool => NodeConfig::Tool(typed(config)?),
            NodeType::Memory => NodeConfig::Memory(typed(config)?),
            NodeType::Retrieval => NodeConfig::Retrieval(typed(config)?),
        })
    }
}

/// `start`: no config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartConfig {}

/// `end`: what the run returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndConfig {
    /// Output key → state path. The run's output is this object; without `output`, the
    /// run's output is the whole final state.
    #[serde(default)]
    pub output: BTreeMap<String, StatePath>,
}

/// The languages of code nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeLanguage {
    Python,
    Javascript,
}

/// `code`: user code run in the run's sandbox session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeConfig {
    pub language: CodeLanguage,
    pub code: String,
    /// Input name → state path. The code sees `input_data[name]` (Python) or
    /// `input[name]` (JavaScript).
    #[serde(default)]
    pub input_mapping: BTreeMap<String, StatePath>,
    /// State path (written) → result path (read), rooted at `result` (the value the code
    /// set or returned) or `stdout` (its printed output): `{"stats.mean": "result.mean"}`.
    #[serde(default)]
    pub output_mapping: BTreeMap<StatePath, StatePath>,
    /// Wall-clock limit for one attempt, in seconds (the session's default otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Packages installed on demand (subject to the tenant's allowlist).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// A prebuilt template to run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// Network egress through warden's proxy, as the tenant's policy `egress` allows
    /// (docs/NETWORK.md); refused under a policy without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub network: bool,
    /// With `network`, a narrower allowlist than the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<CodeEgress>,
}

/// A code node's `egress`: `{"allow": ["api.example.org"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeEgress {
    pub allow: Vec<String>,
}

/// Retries of a failed code node: up to `max` more attempts, waiting `backoff_ms` before
/// the first retry and multiplying the wait by `factor` each time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    pub max: u32,
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default = "default_factor")]
    pub factor: f64,
}

fn default_backoff_ms() -> u64 {
    1000
}

fn default_factor() -> f64 {
    2.0
}

/// The roots a code node's `output_mapping` may read from.
pub const RESULT_ROOTS: [&str; 2] = ["result", "stdout"];

/// `conditional`: chooses one outgoing edge.
///
/// With `expression` (label mode), the value picks the edge whose `condition` label equals
/// it (a string as is, `true`/`false` for booleans, decimal for integers; any other
/// value fails the node), else the `default` edge. Without it (guard mode), each outgoing edge's `condition` is an
/// expression; the first truthy one, in the order the edges are listed, is taken, else
/// the `default` edge. Nothing taken is an error of the node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<Expression>,
}

/// `loop`: repeats its body — the nodes between its `body` edge and the edge back into it.
///
/// Exactly one of `over` (a state path to a list, snapshotted when the loop starts) and
/// `while` (an expression tested before each iteration). Each iteration writes the item to
/// `item_var` (over only) and the 0-based iteration number to `index_var`, then follows
/// `body`; when the list is exhausted or the test is false, `done` is followed. Starting
/// iteration `max_iterations + 1` fails the node instead (an `over` list longer than
/// `max_iterations` fails it before the first iteration). Arriving from the body starts
/// the next iteration; arriving otherwise starts the loop afresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<StatePath>,
    #[serde(default, rename = "while", skip_serializing_if = "Option::is_none")]
    pub while_: Option<Expression>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_var: Option<StatePath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_var: Option<StatePath>,
    pub max_iterations: u64,
}

/// `variable`: state path → expression. All expressions are evaluated against the state
/// as it was before the node, then all are written (a simultaneous assignment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableConfig {
    pub set: BTreeMap<StatePath, Expression>,
}

/// `delay`: waits `ms` milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayConfig {
    pub ms: u64,
}

/// `error_handler`: reached by `error` edges. Writes `{node, code, message, traceback}`
/// of the failure to `output` (default `error`), then goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorHandlerConfig {
    #[serde(default = "default_error_path")]
    pub output: StatePath,
}

fn default_error_path() -> StatePath {
    StatePath::parse("error").expect("a valid path")
}

impl Default for ErrorHandlerConfig {
    fn default() -> Self {
        ErrorHandlerConfig {
            output: default_error_path(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

fn default_get() -> HttpMethod {
    HttpMethod::Get
}

fn default_post() -> HttpMethod {
    HttpMethod::Post
}

/// `http`: one request. Refused by the runner unless the tenant's policy allows network.
/// Writes `{status, headers, body}` to `output` (body parsed as JSON when the response
/// says it is JSON, else text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_get")]
    pub method: HttpMethod,
    pub url: Template,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Template>,
    /// The request body: a string value is sent as is, anything else as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Expression>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    pub output: StatePath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    pub content: Template,
}

/// `model`: a chat completion against an OpenAI-compatible endpoint. Writes the reply's
/// text to `output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The endpoint; the operator's configured one when absent. The runner may restrict
    /// both this and `api_key_env` to what the operator allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub model: String,
    /// The environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    pub output: StatePath,
}

/// An HTTP tool: the mapped inputs are sent as a JSON object body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTool {
    #[serde(default = "default_post")]
    pub method: HttpMethod,
    pub url: Template,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Template>,
}

/// `tool`: calls another stored workflow (its inputs are the mapped values; its output is
/// written to `output`) or an HTTP tool. Exactly one of `workflow` and `http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// A version of `workflow`; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTool>,
    /// Input name → state path.
    #[serde(default)]
    pub input_mapping: BTreeMap<String, StatePath>,
    pub output: StatePath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryOp {
    Read,
    Append,
}

/// `memory`: a list per (tenant, thread id, `key`) kept across runs. `read` writes the
/// list (empty if none) to `output`; `append` adds the value at `value` and, if `output`
/// is given, writes the new list there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// An expression giving the thread id (a string or an integer).
    pub thread: Expression,
    pub op: MemoryOp,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<StatePath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<StatePath>,
}

fn default_top_k() -> u32 {
    5
}

/// `retrieval`: ranked keyword search over an uploaded collection. Writes a list of
/// `{id, score, text}`, best first, to `output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalConfig {
    pub collection: String,
    /// An expression giving the query string.
    pub query: Expression,
    #[serde(default = "default_top_k")]
    pub top_k: u32,
    pub output: StatePath,
}

/// Where a node reads an expression or template from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Expression(&'a Expression),
    Template(&'a Template),
}

impl Source<'_> {
    /// The parsed expressions of this source (one, or a template's placeholders).
    pub fn parse(&self) -> Result<Vec<Expr>, ParseError> {
        match self {
            Source::Expression(e) => e.parse().map(|e| vec![e]),
            Source::Template(t) => Ok(t
                .parse()?
                .into_iter()
                .filter_map(|p| match p {
                    crate::template::Part::Expr(e) => Some(e),
                    crate::template::Part::Text(_) => None,
                })
                .collect()),
        }
    }
}

fn headers<'a>(prefix: &str, h: &'a BTreeMap<String, Template>) -> Vec<(String, Source<'a>)> {
    h.iter()
        .map(|(k, t)| (format!("{prefix}.{k}"), Source::Template(t)))
        .collect()
}

fn mapping<'a>(prefix: &str, m: &'a BTreeMap<String, StatePath>) -> Vec<(String, &'a StatePath)> {
    m.iter()
        .map(|(k, p)| (format!("{prefix}.{k}"), p))
        .collect()
}

impl NodeConfig {
    pub fn node_type(&self) -> NodeType {
        match self {
            NodeConfig::Start(_) => NodeType::Start,
            NodeConfig::End(_) => NodeType::End,
            NodeConfig::Code(_) => NodeType::Code,
            NodeConfig::Conditional(_) => NodeType::Conditional,
            NodeConfig::Loop(_) => NodeType::Loop,
            NodeConfig::Variable(_) => NodeType::Variable,
            NodeConfig::Delay(_) => NodeType::Delay,
            NodeConfig::ErrorHandler(_) => NodeType::ErrorHandler,
            NodeConfig::Http(_) => NodeType::Http,
            NodeConfig::Model(_) => NodeType::Model,
            NodeConfig::Tool(_) => NodeType::Tool,
            NodeConfig::Memory(_) => NodeType::Memory,
            NodeConfig::Retrieval(_) => NodeType::Retrieval,
        }
    }

    /// The expressions and templates in the config, with the field each is in.
    pub fn sources(&self) -> Vec<(String, Source<'_>)> {
        match self {
            NodeConfig::Conditional(c) => c
                .expression
                .iter()
                .map(|e| ("expression".to_string(), Source::Expression(e)))
                .collect(),
            NodeConfig::Loop(c) => c
                .while_
                .iter()
                .map(|e| ("while".to_string(), Source::Expression(e)))
                .collect(),
            NodeConfig::Variable(c) => c
                .set
                .iter()
                .map(|(p, e)| (format!("set.{p}"), Source::Expression(e)))
                .collect(),
            NodeConfig::Http(c) => {
                let mut out = vec![("url".to_string(), Source::Template(&c.url))];
                out.extend(headers("headers", &c.headers));
                out.extend(
                    c.body
                        .iter()
                        .map(|e| ("body".to_string(), Source::Expression(e))),
                );
                out
            }
            NodeConfig::Model(c) => c
                .messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    (
                        format!("messages[{i}].content"),
                        Source::Template(&m.content),
                    )
                })
                .collect(),
            NodeConfig::Tool(c) => match &c.http {
                Some(h) => {
                    let mut out = vec![("http.url".to_string(), Source::Template(&h.url))];
                    out.extend(headers("http.headers", &h.headers));
                    out
                }
                None => Vec::new(),
            },
            NodeConfig::Memory(c) => vec![("thread".to_string(), Source::Expression(&c.thread))],
            NodeConfig::Retrieval(c) => vec![("query".to_string(), Source::Expression(&c.query))],
            NodeConfig::Start(_)
            | NodeConfig::End(_)
            | NodeConfig::Code(_)
            | NodeConfig::Delay(_)
            | NodeConfig::ErrorHandler(_) => Vec::new(),
        }
    }

    /// The state paths the config reads directly (not through expressions).
    pub fn path_reads(&self) -> Vec<(String, &StatePath)> {
        match self {
            NodeConfig::End(c) => mapping("output", &c.output),
            NodeConfig::Code(c) => mapping("input_mapping", &c.input_mapping),
            NodeConfig::Loop(c) => c.over.iter().map(|p| ("over".to_string(), p)).collect(),
            NodeConfig::Tool(c) => mapping("input_mapping", &c.input_mapping),
            NodeConfig::Memory(c) => c.value.iter().map(|p| ("value".to_string(), p)).collect(),
            _ => Vec::new(),
        }
    }

    /// The state paths the node writes.
    pub fn writes(&self) -> Vec<(String, &StatePath)> {
        fn field<'a>(name: &str, p: &'a Option<StatePath>) -> Vec<(String, &'a StatePath)> {
            p.iter().map(|p| (name.to_string(), p)).collect()
        }
        match self {
            NodeConfig::Code(c) => c
                .output_mapping
                .keys()
                .map(|p| (format!("output_mapping.{p}"), p))
                .collect(),
            NodeConfig::Variable(c) => c.set.keys().map(|p| (format!("set.{p}"), p)).collect(),
            NodeConfig::Loop(c) => {
                let mut out = field("item_var", &c.item_var);
                out.extend(field("index_var", &c.index_var));
                out
            }
            NodeConfig::ErrorHandler(c) => vec![("output".to_string(), &c.output)],
            NodeConfig::Http(c) => vec![("output".to_string(), &c.output)],
            NodeConfig::Model(c) => vec![("output".to_string(), &c.output)],
            NodeConfig::Tool(c) => vec![("output".to_string(), &c.output)],
            NodeConfig::Memory(c) => field("output", &c.output),
            NodeConfig::Retrieval(c) => vec![("output".to_string(), &c.output)],
            NodeConfig::Start(_)
            | NodeConfig::End(_)
            | NodeConfig::Conditional(_)
            | NodeConfig::Delay(_) => Vec::new(),
        }
    }

    /// Limits and combinations the types alone do not enforce: each message is one
    /// `bad_config` problem.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut timeout = |t: Option<f64>| {
            if let Some(t) = t {
                if !(t > 0.0 && t <= MAX_TIMEOUT_SECS) {
                    out.push(format!(
                        "`timeout` must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"
                    ));
                }
            }
        };
        match self {
            NodeConfig::Code(c) => {
                timeout(c.timeout);
                if c.code.trim().is_empty() {
                    out.push("`code` is empty".into());
                }
                for (name, path) in &c.output_mapping {
                    if !RESULT_ROOTS.contains(&path.root()) {
                        out.push(format!(
                            "`output_mapping.{name}` reads `{path}`: it must start with `result` or `stdout`"
                        ));
                    }
                }
                if c.input_mapping.keys().any(|k| k.is_empty()) {
                    out.push("an `input_mapping` name is empty".into());
                }
                if c.packages.iter().any(|p| p.trim().is_empty()) {
                    out.push("a package name is empty".into());
                }
                if let Some(r) = &c.retries {
                    if r.max == 0 || r.max > MAX_RETRIES {
                        out.push(format!("`retries.max` must be 1 to {MAX_RETRIES}"));
                    }
                    if r.backoff_ms > MAX_BACKOFF_MS {
                        out.push(format!(
                            "`retries.backoff_ms` must be at most {MAX_BACKOFF_MS}"
                        ));
                    }
                    if !(1.0..=MAX_BACKOFF_FACTOR).contains(&r.factor) {
                        out.push(format!(
                            "`retries.factor` must be 1 to {MAX_BACKOFF_FACTOR}"
                        ));
                    }
                }
            }
            NodeConfig::Loop(c) => {
                match (&c.over, &c.while_) {
                    (Some(_), Some(_)) => out.push("a loop has `over` or `while`, not both".into()),
                    (None, None) => {
                        out.push("a loop needs `over` (a list) or `while` (an expression)".into())
                    }
                    (None, Some(_)) if c.item_var.is_some() => {
                        out.push("`item_var` is only for loops `over` a list".into())
                    }
                    (Some(_), None) if c.item_var.is_none() => {
                        out.push("a loop `over` a list needs `item_var`".into())
                    }
                    _ => {}
                }
                if c.max_iterations == 0 || c.max_iterations > MAX_LOOP_ITERATIONS {
                    out.push(format!(
                        "`max_iterations` must be 1 to {MAX_LOOP_ITERATIONS}"
                    ));
                }
            }
            NodeConfig::Variable(c) => {
                if c.set.is_empty() {
                    out.push("`set` is empty".into());
                }
            }
            NodeConfig::Delay(c) => {
                if c.ms == 0 || c.ms > MAX_DELAY_MS {
                    out.push(format!("`ms` must be 1 to {MAX_DELAY_MS}"));
                }
            }
            NodeConfig::Http(c) => timeout(c.timeout),
            NodeConfig::Model(c) => {
                if c.model.trim().is_empty() {
                    out.push("`model` is empty".into());
                }
                if c.messages.is_empty() {
                    out.push("`messages` is empty".into());
                }
                if let Some(env) = &c.api_key_env {
                    if !crate::path::is_ident(env) {
                        out.push(format!("`api_key_env` `{env}` is not a variable name"));
                    }
                }
                if let Some(t) = c.temperature {
                    if !(0.0..=2.0).contains(&t) {
                        out.push("`temperature` must be 0 to 2".into());
                    }
                }
                if c.max_tokens == Some(0) {
                    out.push("`max_tokens` must be positive".into());
                }
            }
            NodeConfig::Tool(c) => match (&c.workflow, &c.http) {
                (Some(_), Some(_)) => out.push("a tool is a `workflow` or `http`, not both".into()),
                (None, None) => out.push("a tool needs `workflow` (an id) or `http`".into()),
                (Some(w), None) if w.trim().is_empty() => out.push("`workflow` is empty".into()),
                (None, Some(_)) if c.version.is_some() => {
                    out.push("`version` is only for `workflow` tools".into())
                }
                _ => {}
            },
            NodeConfig::Memory(c) => {
                if c.key.trim().is_empty() {
                    out.push("`key` is empty".into());
                }
                match c.op {
                    MemoryOp::Read if c.output.is_none() => {
                        out.push("`read` needs `output`".into())
                    }
                    MemoryOp::Read if c.value.is_some() => {
                        out.push("`read` takes no `value`".into())
                    }
                    MemoryOp::Append if c.value.is_none() => {
                        out.push("`append` needs `value`".into())
                    }
                    _ => {}
                }
            }
            NodeConfig::Retrieval(c) => {
                if c.collection.trim().is_empty() {
                    out.push("`collection` is empty".into());
                }
                if c.top_k == 0 || c.top_k > MAX_TOP_K {
                    out.push(format!("`top_k` must be 1 to {MAX_TOP_K}"));
                }
            }
            NodeConfig::Start(_)
            | NodeConfig::End(_)
            | NodeConfig::Conditional(_)
            | NodeConfig::ErrorHandler(_) => {}
        }
        for (field, path) in self.writes() {
            if !path.is_writable() {
                out.push(format!(
                    "`{field}` writes `{path}`: written paths are dotted keys, without `[n]`"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(kind: &str, config: Value) -> Node {
        Node {
            id: "n".into(),
            kind: kind.into(),
            config,
        }
    }

    #[test]
    fn types_configs_and_refuses_unknown_fields() {
        let n = node(
            "code",
            json!({"language": "python", "code": "result = 1", "output_mapping": {"a.b": "result"}}),
        );
        let NodeConfig::Code(c) = n.typed().unwrap() else {
            panic!()
        };
        assert_eq!(c.language, CodeLanguage::Python);
        assert_eq!(c.output_mapping.len(), 1);
        let e = node(
            "code",
            json!({"language": "python", "code": "", "colour": 1}),
        )
        .typed()
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
        let e = node("code", json!({"language": "bash", "code": "x"}))
            .typed()
            .unwrap_err();
        assert!(e.to_string().contains("bash"), "{e}");
        assert!(matches!(
            node("nope", json!({})).typed(),
            Err(ConfigError::UnknownType(_))
        ));
        assert!(matches!(
            node("start", Value::Null).typed(),
            Ok(NodeConfig::Start(_))
        ));
        assert!(matches!(
            node("error_handler", Value::Null).typed(),
            Ok(NodeConfig::ErrorHandler(ErrorHandlerConfig { .. }))
        ));
    }

    #[test]
    fn every_type_has_a_name() {
        for t in NodeType::ALL {
            assert_eq!(NodeType::from_name(t.name()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.name()));
        }
    }

    #[test]
    fn config_problems() {
        let p = node(
            "loop",
            json!({"over": "xs", "while": "true", "max_iterations": 0}),
        )
        .typed()
        .unwrap()
        .problems();
        assert_eq!(p.len(), 2, "{p:?}");
        let p = node("variable", json!({"set": {"a[0]": "1"}}))
            .typed()
            .unwrap()
            .problems();
        assert!(p[0].contains("without `[n]`"), "{p:?}");
    }
}
