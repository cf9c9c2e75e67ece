//! Validation before a run: every problem of a definition, each with a stable code and the
//! node (and edge) it is about.
//!
//! The checks, in the order problems are reported: the workflow's own fields; node ids;
//! each node's type and config (typed, limits, expressions and templates parsed); the
//! start and end nodes; edges (ends that exist, labels each node type allows, error
//! routes); the graph (reachability from start, cycles that do not go through a loop's
//! `body` edge, loop bodies that never return); and finally the keys each node reads,
//! which some earlier node or the declared inputs must be able to define.
//!
//! The key check is a "may" analysis along the graph: a read of path `r` at node `n` is
//! fine when `r` overlaps (is a prefix of, or extends) a path that the declared inputs
//! (`inputs.<name>`) or some node from which `n` can be reached writes. It catches typos
//! and keys nothing defines; it does not prove that every path through the graph defines
//! the key first (a missing value reads as `null` at run time).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

use serde::Serialize;

use crate::definition::{labels, Node, NodeConfig, NodeType, Workflow, MAX_EDGES, MAX_NODES};
use crate::path::{is_ident, Segment, StatePath};

/// The stable problem codes.
pub mod codes {
    /// The workflow's own fields: empty name, version 0, bad or repeated input names, too
    /// many nodes or edges.
    pub const BAD_WORKFLOW: &str = "bad_workflow";
    /// A node id that is empty or not `[A-Za-z_][A-Za-z0-9_-]*` (at most 64 characters).
    pub const BAD_NODE_ID: &str = "bad_node_id";
    /// Two nodes share an id (reported on the second).
    pub const DUPLICATE_NODE_ID: &str = "duplicate_node_id";
    /// A node type that does not exist.
    pub const UNKNOWN_TYPE: &str = "unknown_type";
    /// A config that does not fit its type: unknown or missing fields, wrong types,
    /// limits out of range, invalid combinations, written paths with indexes.
    pub const BAD_CONFIG: &str = "bad_config";
    /// An expression or template (or guard edge condition) that does not parse.
    pub const BAD_EXPRESSION: &str = "bad_expression";
    pub const MISSING_START: &str = "missing_start";
    pub const DUPLICATE_START: &str = "duplicate_start";
    pub const MISSING_END: &str = "missing_end";
    pub const DUPLICATE_END: &str = "duplicate_end";
    /// An edge whose target is not a node.
    pub const EDGE_TO_NOWHERE: &str = "edge_to_nowhere";
    /// An edge whose source is not a node.
    pub const EDGE_FROM_NOWHERE: &str = "edge_from_nowhere";
    /// An edge into the start node.
    pub const EDGE_INTO_START: &str = "edge_into_start";
    /// An edge out of the end node.
    pub const EDGE_FROM_END: &str = "edge_from_end";
    /// An edge without the label its source needs (a conditional's edges, a loop's edges).
    pub const MISSING_EDGE_LABEL: &str = "missing_edge_label";
    /// A label the source node type does not use.
    pub const UNEXPECTED_EDGE_LABEL: &str = "unexpected_edge_label";
    /// Two edges from one node with the same label (or both unlabelled).
    pub const DUPLICATE_EDGE_LABEL: &str = "duplicate_edge_label";
    /// A loop without its `body` or its `done` edge.
    pub const MISSING_LOOP_EDGE: &str = "missing_loop_edge";
    /// A node other than `end` with no way on (no unlabelled edge; for a conditional, no
    /// edge at all).
    pub const DEAD_END: &str = "dead_end";
    /// An `error` edge into a node that is not an `error_handler`, or an `error_handler`
    /// reached by an edge that is not an `error` edge.
    pub const BAD_ERROR_EDGE: &str = "bad_error_edge";
    /// A node that cannot be reached from start.
    pub const UNREACHABLE: &str = "unreachable";
    /// A cycle that does not go through a loop node's `body` edge (so nothing bounds it).
    pub const CYCLE_WITHOUT_LOOP: &str = "cycle_without_loop";
    /// A loop whose body never leads back to the loop node.
    pub const OPEN_LOOP_BODY: &str = "open_loop_body";
    /// A read of a state key that neither the inputs nor any earlier node can define.
    pub const UNDEFINED_KEY: &str = "undefined_key";

    /// Every code.
    pub const ALL: [&str; 24] = [
        BAD_WORKFLOW,
        BAD_NODE_ID,
        DUPLICATE_NODE_ID,
        UNKNOWN_TYPE,
        BAD_CONFIG,
        BAD_EXPRESSION,
        MISSING_START,
        DUPLICATE_START,
        MISSING_END,
        DUPLICATE_END,
        EDGE_TO_NOWHERE,
        EDGE_FROM_NOWHERE,
        EDGE_INTO_START,
        EDGE_FROM_END,
        MISSING_EDGE_LABEL,
        UNEXPECTED_EDGE_LABEL,
        DUPLICATE_EDGE_LABEL,
        MISSING_LOOP_EDGE,
        DEAD_END,
        BAD_ERROR_EDGE,
        UNREACHABLE,
        CYCLE_WITHOUT_LOOP,
        OPEN_LOOP_BODY,
        UNDEFINED_KEY,
    ];
}

/// One problem of a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The node the problem is about, when there is one.
    pub node: Option<String>,
    /// The index of the edge (in `edges`) the problem is about, when there is one.
    pub edge: Option<usize>,
    /// A stable code from [`codes`].
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(node) = &self.node {
            write!(f, " [node {node}]")?;
        }
        if let Some(edge) = self.edge {
            write!(f, " [edge {edge}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Checks a definition and returns every problem found.
pub fn validate(workflow: &Workflow) -> Result<(), Vec<Problem>> {
    let problems = Checker::new(workflow).run();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The longest node id.
pub const MAX_NODE_ID_LEN: usize = 64;

fn is_node_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= MAX_NODE_ID_LEN
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

struct Checker<'a> {
    wf: &'a Workflow,
    problems: Vec<Problem>,
    /// First index of each node id.
    index: HashMap<&'a str, usize>,
    /// Typed configs (None when the type is unknown or the config is bad).
    configs: Vec<Option<NodeConfig>>,
    /// Reads per node: (where, path, edge).
    reads: Vec<Vec<(String, StatePath, Option<usize>)>>,
    /// Edges whose ends both exist: (edge index, source node, target node).
    edges: Vec<(usize, usize, usize)>,
    /// The edges the graph checks follow: `edges` without those out of end or into start.
    graph_edges: Vec<(usize, usize, usize)>,
}

impl<'a> Checker<'a> {
    fn new(wf: &'a Workflow) -> Self {
        Checker {
            wf,
            problems: Vec::new(),
            index: HashMap::new(),
            configs: Vec::new(),
            reads: vec![Vec::new(); wf.nodes.len()],
            edges: Vec::new(),
            graph_edges: Vec::new(),
        }
    }

    fn push(
        &mut self,
        node: Option<&str>,
        edge: Option<usize>,
        code: &'static str,
        message: String,
    ) {
        self.problems.push(Problem {
            node: node.map(str::to_string),
            edge,
            code,
            message,
        });
    }

    fn run(mut self) -> Vec<Problem> {
        self.workflow_fields();
        self.node_ids_and_configs();
        self.start_and_end();
        self.edge_ends();
        self.edge_labels();
        self.graph();
        self.undefined_keys();
        self.problems
    }

    fn workflow_fields(&mut self) {
        let wf = self.wf;
        if wf.name.trim().is_empty() {
            self.push(None, None, codes::BAD_WORKFLOW, "`name` is empty".into());
        }
        if wf.version == 0 {
            self.push(
                None,
                None,
                codes::BAD_WORKFLOW,
                "`version` must be 1 or more".into(),
            );
        }
        let mut seen = HashSet::new();
        for input in &wf.inputs {
            if !is_ident(input) {
                self.push(
                    None,
                    None,
                    codes::BAD_WORKFLOW,
                    format!("input name `{input}` is not a name ([A-Za-z_][A-Za-z0-9_]*)"),
                );
            } else if !seen.insert(input) {
                self.push(
                    None,
                    None,
                    codes::BAD_WORKFLOW,
                    format!("input `{input}` is declared twice"),
                );
            }
        }
        if wf.nodes.len() > MAX_NODES {
            self.push(
                None,
                None,
                codes::BAD_WORKFLOW,
                format!("more than {MAX_NODES} nodes"),
            );
        }
        if wf.edges.len() > MAX_EDGES {
            self.push(
                None,
                None,
                codes::BAD_WORKFLOW,
                format!("more than {MAX_EDGES} edges"),
            );
        }
    }

    fn node_ids_and_configs(&mut self) {
        let wf = self.wf;
        for (i, node) in wf.nodes.iter().enumerate() {
            let id = node.id.as_str();
            if !is_node_id(id) {
                self.push(
                    Some(id),
                    None,
                    codes::BAD_NODE_ID,
                    format!(
                        "node id `{id}` must be [A-Za-z_][A-Za-z0-9_-]* and at most {MAX_NODE_ID_LEN} characters"
                    ),
                );
            }
            if self.index.contains_key(id) {
                self.push(
                    Some(id),
                    None,
                    codes::DUPLICATE_NODE_ID,
                    format!("node id `{id}` is used more than once"),
                );
            } else {
                self.index.insert(id, i);
            }
            let config = self.type_node(i, node);
            self.configs.push(config);
        }
    }

    fn type_node(&mut self, i: usize, node: &Node) -> Option<NodeConfig> {
        let id = node.id.as_str();
        let config = match node.typed() {
            Ok(config) => config,
            Err(crate::definition::ConfigError::UnknownType(kind)) => {
                let known: Vec<&str> = NodeType::ALL.iter().map(|t| t.name()).collect();
                self.push(
                    Some(id),
                    None,
                    codes::UNKNOWN_TYPE,
                    format!("unknown node type `{kind}` (known: {})", known.join(", ")),
                );
                return None;
            }
            Err(e) => {
                self.push(
                    Some(id),
                    None,
                    codes::BAD_CONFIG,
                    format!("{} config: {e}", node.kind),
                );
                return None;
            }
        };
        for message in config.problems() {
            self.push(Some(id), None, codes::BAD_CONFIG, message);
        }
        let mut reads = Vec::new();
        for (field, source) in config.sources() {
            match source.parse() {
                Ok(exprs) => {
                    for e in &exprs {
                        reads.extend(
                            e.paths()
                                .into_iter()
                                .map(|p| (field.clone(), p.clone(), None)),
                        );
                    }
                }
                Err(e) => self.push(
                    Some(id),
                    None,
                    codes::BAD_EXPRESSION,
                    format!("`{field}`: {e}"),
                ),
            }
        }
        for (field, path) in config.path_reads() {
            reads.push((field, path.clone(), None));
        }
        self.reads[i].extend(reads);
        Some(config)
    }

    fn kind(&self, i: usize) -> Option<NodeType> {
        self.wf.nodes[i].node_type()
    }

    fn start_and_end(&mut self) {
        for (kind, missing, duplicate) in [
            (
                NodeType::Start,
                codes::MISSING_START,
                codes::DUPLICATE_START,
            ),
            (NodeType::End, codes::MISSING_END, codes::DUPLICATE_END),
        ] {
            let ids: Vec<&str> = self
                .wf
                .nodes
                .iter()
                .filter(|n| n.node_type() == Some(kind))
                .map(|n| n.id.as_str())
                .collect();
            if ids.is_empty() {
                self.push(
                    None,
                    None,
                    missing,
                    format!("the workflow has no `{}` node", kind.name()),
                );
            }
            for id in ids.iter().skip(1) {
                self.push(
                    Some(id),
                    None,
                    duplicate,
                    format!(
                        "a second `{}` node (the first is `{}`)",
                        kind.name(),
                        ids[0]
                    ),
                );
            }
        }
    }

    fn edge_ends(&mut self) {
        let wf = self.wf;
        for (e, edge) in wf.edges.iter().enumerate() {
            let source = self.index.get(edge.source.as_str()).copied();
            let target = self.index.get(edge.target.as_str()).copied();
            if source.is_none() {
                self.push(
                    target.map(|_| edge.target.as_str()),
                    Some(e),
                    codes::EDGE_FROM_NOWHERE,
                    format!("edge {e} leaves `{}`, which is not a node", edge.source),
                );
            }
            if target.is_none() {
                self.push(
                    source.map(|_| edge.source.as_str()),
                    Some(e),
                    codes::EDGE_TO_NOWHERE,
                    format!("edge {e} goes to `{}`, which is not a node", edge.target),
                );
            }
            if let (Some(s), Some(t)) = (source, target) {
                self.edges.push((e, s, t));
                // Edges out of end or into start are refused below and never followed:
                // leave them out of the graph, so they do not also make cycles.
                if self.kind(s) != Some(NodeType::End) && self.kind(t) != Some(NodeType::Start) {
                    self.graph_edges.push((e, s, t));
                }
            }
        }
    }

    fn edge_labels(&mut self) {
        let wf = self.wf;
        // Outgoing edges per known source, in definition order (including edges to nowhere,
        // which still show what the author meant).
        let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); wf.nodes.len()];
        for (e, edge) in wf.edges.iter().enumerate() {
            if let Some(&s) = self.index.get(edge.source.as_str()) {
                outgoing[s].push(e);
            }
        }
        for &(e, _, t) in &self.edges.clone() {
            let edge = &wf.edges[e];
            if self.kind(t) == Some(NodeType::Start) {
                self.push(
                    Some(&edge.target),
                    Some(e),
                    codes::EDGE_INTO_START,
                    format!("edge {e} leads into the start node `{}`", edge.target),
                );
            }
            let is_error = edge.condition.as_deref() == Some(labels::ERROR);
            let into_handler = self.kind(t) == Some(NodeType::ErrorHandler);
            if is_error && !into_handler && self.kind(t).is_some() {
                self.push(
                    Some(&edge.source),
                    Some(e),
                    codes::BAD_ERROR_EDGE,
                    format!("the `error` edge {e} from `{}` must lead to an `error_handler`, not a `{}`", edge.source, wf.nodes[t].kind),
                );
            }
            if !is_error && into_handler {
                self.push(
                    Some(&edge.target),
                    Some(e),
                    codes::BAD_ERROR_EDGE,
                    format!(
                        "error handler `{}` is reached by edge {e}, which is not an `error` edge",
                        edge.target
                    ),
                );
            }
        }
        for (s, node) in wf.nodes.iter().enumerate() {
            if self.index.get(node.id.as_str()) != Some(&s) {
                continue; // a duplicate id: its edges are checked with the first
            }
            let Some(kind) = node.node_type() else {
                continue;
            };
            let out = &outgoing[s];
            let id = node.id.as_str();
            match kind {
                NodeType::End => {
                    for &e in out {
                        self.push(
                            Some(id),
                            Some(e),
                            codes::EDGE_FROM_END,
                            format!("edge {e} leaves the end node"),
                        );
                    }
                }
                NodeType::Conditional => self.conditional_edges(s, out),
                NodeType::Loop => self.loop_edges(s, out),
                _ => {
                    let allowed: &[&str] = if kind == NodeType::Start {
                        &[]
                    } else {
                        &[labels::ERROR]
                    };
                    self.plain_edges(s, out, allowed);
                }
            }
        }
    }

    /// Unlabelled edges plus the `allowed` labels, each at most once; one unlabelled edge
    /// is required.
    fn plain_edges(&mut self, s: usize, out: &[usize], allowed: &[&str]) {
        let id = self.wf.nodes[s].id.as_str();
        let mut seen: HashSet<Option<&str>> = HashSet::new();
        for &e in out {
            let label = self.wf.edges[e].condition.as_deref();
            if let Some(l) = label {
                if !allowed.contains(&l) {
                    let kind = &self.wf.nodes[s].kind;
                    self.push(
                        Some(id),
                        Some(e),
                        codes::UNEXPECTED_EDGE_LABEL,
                        format!(
                            "edge {e} has condition `{l}`, but edges from a `{kind}` node are unlabelled{}",
                            if allowed.is_empty() { "" } else { " or `error`" }
                        ),
                    );
                    continue;
                }
            }
            if !seen.insert(label) {
                self.push(
                    Some(id),
                    Some(e),
                    codes::DUPLICATE_EDGE_LABEL,
                    match label {
                        Some(l) => format!("a second `{l}` edge (edge {e}) from `{id}`"),
                        None => format!("a second unlabelled edge (edge {e}) from `{id}`: the next node must be unambiguous"),
                    },
                );
            }
        }
        if !seen.contains(&None) {
            self.push(
                Some(id),
                None,
                codes::DEAD_END,
                format!("`{id}` has no unlabelled edge to go on to"),
            );
        }
    }

    fn conditional_edges(&mut self, s: usize, out: &[usize]) {
        let id = self.wf.nodes[s].id.as_str();
        let label_mode =
            matches!(&self.configs[s], Some(NodeConfig::Conditional(c)) if c.expression.is_some());
        let mut seen = HashSet::new();
        let mut any = false;
        for &e in out {
            let Some(label) = self.wf.edges[e].condition.as_deref() else {
                self.push(
                    Some(id),
                    Some(e),
                    codes::MISSING_EDGE_LABEL,
                    if label_mode {
                        format!("edge {e} from conditional `{id}` needs a `condition` label")
                    } else {
                        format!("edge {e} from conditional `{id}` needs a `condition` expression (or `default`)")
                    },
                );
                continue;
            };
            if label == labels::ERROR {
                if !seen.insert(label) {
                    self.push(
                        Some(id),
                        Some(e),
                        codes::DUPLICATE_EDGE_LABEL,
                        format!("a second `error` edge (edge {e}) from `{id}`"),
                    );
                }
                continue;
            }
            any = true;
            if !seen.insert(label) {
                self.push(
                    Some(id),
                    Some(e),
                    codes::DUPLICATE_EDGE_LABEL,
                    format!("a second edge labelled `{label}` (edge {e}) from `{id}`"),
                );
                continue;
            }
            if !label_mode && label != labels::DEFAULT {
                match crate::expr::parse(label) {
                    Ok(expr) => {
                        let reads = expr
                            .paths()
                            .into_iter()
                            .map(|p| (format!("edge {e} condition"), p.clone(), Some(e)))
                            .collect::<Vec<_>>();
                        self.reads[s].extend(reads);
                    }
                    Err(err) => self.push(
                        Some(id),
                        Some(e),
                        codes::BAD_EXPRESSION,
                        format!("condition of edge {e}: {err}"),
                    ),
                }
            }
        }
        if !any {
            self.push(
                Some(id),
                None,
                codes::DEAD_END,
                format!("conditional `{id}` has no outgoing edges to choose from"),
            );
        }
    }

    fn loop_edges(&mut self, s: usize, out: &[usize]) {
        let id = self.wf.nodes[s].id.as_str();
        let mut seen = HashSet::new();
        for &e in out {
            match self.wf.edges[e].condition.as_deref() {
                None => self.push(
                    Some(id),
                    Some(e),
                    codes::MISSING_EDGE_LABEL,
                    format!("edge {e} from loop `{id}` needs the label `body`, `done` or `error`"),
                ),
                Some(l @ (labels::BODY | labels::DONE | labels::ERROR)) => {
                    if !seen.insert(l) {
                        self.push(Some(id), Some(e), codes::DUPLICATE_EDGE_LABEL, format!("a second `{l}` edge (edge {e}) from loop `{id}`"));
                    }
                }
                Some(l) => self.push(
                    Some(id),
                    Some(e),
                    codes::UNEXPECTED_EDGE_LABEL,
                    format!("edge {e} from loop `{id}` has label `{l}`; loops use `body`, `done` and `error`"),
                ),
            }
        }
        for needed in [labels::BODY, labels::DONE] {
            if !seen.contains(needed) {
                self.push(
                    Some(id),
                    None,
                    codes::MISSING_LOOP_EDGE,
                    format!("loop `{id}` has no `{needed}` edge"),
                );
            }
        }
    }

    /// Successors over existing edges, optionally leaving out loops' `body` edges.
    fn adjacency(&self, skip_body: bool) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.wf.nodes.len()];
        for &(e, s, t) in &self.graph_edges {
            let is_body = self.kind(s) == Some(NodeType::Loop)
                && self.wf.edges[e].condition.as_deref() == Some(labels::BODY);
            if !(skip_body && is_body) {
                adj[s].push(t);
            }
        }
        adj
    }

    fn graph(&mut self) {
        let adj = self.adjacency(false);
        // From every start node: a second start is reported as a duplicate, not as
        // unreachable along with everything after it.
        let starts: Vec<usize> = (0..self.wf.nodes.len())
            .filter(|&i| self.kind(i) == Some(NodeType::Start))
            .collect();
        if !starts.is_empty() {
            let seen = reach(&adj, &starts);
            for (i, node) in self.wf.nodes.iter().enumerate() {
                if !seen[i] && self.index.get(node.id.as_str()) == Some(&i) {
                    self.push(
                        Some(&node.id),
                        None,
                        codes::UNREACHABLE,
                        format!("`{}` cannot be reached from start", node.id),
                    );
                }
            }
        }
        // Every cycle must pass through a loop's `body` edge: without those edges the graph
        // must be acyclic.
        let without_body = self.adjacency(true);
        for component in cycles(&without_body) {
            let first = *component.iter().min().expect("non-empty");
            let mut members: Vec<&str> = component
                .iter()
                .map(|&i| self.wf.nodes[i].id.as_str())
                .collect();
            members.sort();
            self.push(
                Some(&self.wf.nodes[first].id.clone()),
                None,
                codes::CYCLE_WITHOUT_LOOP,
                format!(
                    "nodes {} form a cycle that does not go through a loop's `body` edge, so nothing bounds it",
                    members.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        for &(e, s, t) in &self.graph_edges.clone() {
            if self.kind(s) == Some(NodeType::Loop)
                && self.wf.edges[e].condition.as_deref() == Some(labels::BODY)
            {
                let back = reach(&adj, &[t]);
                if !back[s] {
                    let id = self.wf.nodes[s].id.clone();
                    self.push(
                        Some(&id),
                        Some(e),
                        codes::OPEN_LOOP_BODY,
                        format!(
                            "the body of loop `{id}` (from `{}`) never leads back to `{id}`",
                            self.wf.nodes[t].id
                        ),
                    );
                }
            }
        }
    }

    fn undefined_keys(&mut self) {
        let n = self.wf.nodes.len();
        let mut writes: Vec<Vec<StatePath>> = vec![Vec::new(); n];
        for (i, config) in self.configs.iter().enumerate() {
            if let Some(c) = config {
                writes[i] = c.writes().into_iter().map(|(_, p)| p.clone()).collect();
            }
        }
        let inputs: Vec<StatePath> = self
            .wf
            .inputs
            .iter()
            .filter(|name| is_ident(name))
            .map(|name| {
                StatePath::from_segments(vec![
                    Segment::Key("inputs".into()),
                    Segment::Key(name.clone()),
                ])
                .expect("an identifier path")
            })
            .collect();
        let mut reverse = vec![Vec::new(); n];
        for &(_, s, t) in &self.graph_edges {
            reverse[t].push(s);
        }
        let mut found = Vec::new();
        for i in 0..n {
            if self.reads[i].is_empty() {
                continue;
            }
            // Nodes from which `i` can be reached (itself only through a cycle).
            let before = reach(&reverse, &reverse[i]);
            if (0..n).any(|j| before[j] && self.configs[j].is_none()) {
                // An earlier node's config could not be typed, so what it writes is
                // unknown: its own problem is reported, not every key it might define.
                continue;
            }
            let defined: Vec<&StatePath> = inputs
                .iter()
                .chain((0..n).filter(|&j| before[j]).flat_map(|j| writes[j].iter()))
                .collect();
            let mut reported = BTreeMap::new();
            for (field, path, edge) in &self.reads[i] {
                if !defined.iter().any(|d| d.overlaps(path)) {
                    reported
                        .entry(path.to_string())
                        .or_insert((field.clone(), *edge));
                }
            }
            for (path, (field, edge)) in reported {
                let hint = if path.starts_with("inputs.") || path == "inputs" {
                    " (declare the input in the workflow's `inputs`)"
                } else {
                    ""
                };
                found.push(Problem {
                    node: Some(self.wf.nodes[i].id.clone()),
                    edge,
                    code: codes::UNDEFINED_KEY,
                    message: format!(
                        "`{field}` reads `{path}`, which no earlier node and no input defines{hint}"
                    ),
                });
            }
        }
        self.problems.extend(found);
    }
}

/// Nodes reachable from `from` (inclusive) along `adj`.
fn reach(adj: &[Vec<usize>], from: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; adj.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for &f in from {
        if !seen[f] {
            seen[f] = true;
            queue.push_back(f);
        }
    }
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if !seen[w] {
                seen[w] = true;
                queue.push_back(w);
            }
        }
    }
    seen
}

/// The strongly connected components that contain a cycle (more than one node, or a node
/// with an edge to itself), found with Tarjan's algorithm without recursion.
fn cycles(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = adj.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next successor position)
        let mut work = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if *pos < adj[v].len() {
                let w = adj[v][*pos];
                *pos += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    loop {
                        let w = stack.pop().expect("on the stack");
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 || adj[v].contains(&v) {
                        out.push(component);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles() {
        // 0 -> 1 -> 2 -> 1, 3 -> 3, 4 alone
        let adj = vec![vec![1], vec![2], vec![1], vec![3], vec![]];
        let mut found: Vec<Vec<usize>> = cycles(&adj)
            .into_iter()
            .map(|mut c| {
                c.sort();
                c
            })
            .collect();
        found.sort();
        assert_eq!(found, vec![vec![1, 2], vec![3]]);
        assert!(cycles(&[vec![1], vec![2], vec![]]).is_empty());
    }

    #[test]
    fn node_ids() {
        for ok in ["a", "fetch_data", "step-2", "_x"] {
            assert!(is_node_id(ok), "{ok}");
        }
        for bad in ["", "2a", "a b", "a.b", &"x".repeat(65)] {
            assert!(!is_node_id(bad), "{bad}");
        }
    }
}
