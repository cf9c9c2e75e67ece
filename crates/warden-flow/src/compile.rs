//! The compiler: a workflow as one standalone Python 3 program (standard library only)
//! with the semantics of [`crate::runner`].
//!
//! The program has one function per node (`node_<id>`, the id sanitized), the graph's
//! edges and loop bodies as data, and a fixed runtime (`compile_runtime.py`, embedded):
//! state paths, the expression helpers (`_add`, `_div`, `_eq`, `_fn_str`, …, each
//! mirroring [`crate::expr`] exactly, never Python's own coercions) and the run loop.
//! Expressions are translated to Python expressions over those helpers. It exposes
//! `execute_workflow(input) -> state`, `run_workflow(input) -> {status, output, state,
//! error}`, `lambda_handler(event, context)` and a `__main__` entry that reads the input
//! JSON from its first argument (or `@FILE`) or from stdin and prints what
//! `warden flow run` prints (without the trace).
//!
//! Output is deterministic: the same definition gives byte-identical text (maps are
//! written in their sorted order, nodes and edges in the order listed; no timestamps).
//!
//! Python code nodes run with `exec` in one namespace shared by the run (like the one
//! session the engine uses): `input_data` bound, `result = None` before each node, the
//! result passed through JSON (`default=str`); their `timeout` (capped by the run's
//! remaining time) fires through `SIGALRM` as `TIMEOUT` when the program runs on the main
//! thread, and is skipped elsewhere. JavaScript nodes run with `node` in a
//! subprocess, wrapped as the engine wraps them. `http` and `model` nodes use urllib;
//! `memory` nodes a JSON file (`WARDEN_FLOW_MEMORY`), `retrieval` nodes collection files
//! (`WARDEN_FLOW_COLLECTIONS`) with a Python port of warden-search's ranking, HTTP `tool`s
//! urllib, and workflow `tool`s the stored workflows compiled in with
//! [`compile_python_with`] (see docs/WORKFLOWS.md, "Compiling to Python").
//!
//! Two more targets build on it: [`bundle`] (the program with a `requirements.txt`, a
//! Dockerfile and a README) and [`warden_file`] (the validated definition as normalized
//! JSON with a `warden_flow` format marker, which `warden flow run` runs sandboxed).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Write;

use serde_json::Value;

use crate::definition::{
    labels, CodeConfig, CodeLanguage, MemoryOp, NodeConfig, Workflow, WARDEN_FORMAT,
};
use crate::expr::{format_float, BinaryOp, Expr, Func, UnaryOp};
use crate::path::{Segment, StatePath};
use crate::template::{Part, Template};
use crate::validate::{codes, validate, Problem};

/// The runtime every compiled program carries.
const RUNTIME: &str = include_str!("compile_runtime.py");

/// Compiles a workflow to a standalone Python 3 program. The workflow is validated first;
/// an invalid one is refused with its problems. Its `tool` nodes that call stored
/// workflows fail with `NOT_CONFIGURED` (see [`compile_python_with`]).
pub fn compile_python(workflow: &Workflow) -> Result<String, Vec<Problem>> {
    compile_python_with(workflow, &BTreeMap::new())
}

/// The typed configs of a validated workflow's nodes.
fn typed_configs(workflow: &Workflow) -> Result<Vec<NodeConfig>, Vec<Problem>> {
    validate(workflow)?;
    let mut configs = Vec::with_capacity(workflow.nodes.len());
    for node in &workflow.nodes {
        configs.push(node.typed().map_err(|e| {
            vec![Problem {
                node: Some(node.id.clone()),
                edge: None,
                code: codes::BAD_CONFIG,
                message: e.to_string(),
            }]
        })?);
    }
    Ok(configs)
}

/// [`compile_python`] with the stored workflows its `tool` nodes call (by id, as
/// [`tool_workflows`] finds them) compiled into the same program, each with its own node
/// table, run as the engine runs them (a nested run with the mapped inputs; the depth
/// limit at run time). Tool nodes calling an id not in `tools` fail with
/// `NOT_CONFIGURED`. A tool workflow with problems refuses the compile (its problems'
/// messages name it).
pub fn compile_python_with(
    workflow: &Workflow,
    tools: &BTreeMap<String, Workflow>,
) -> Result<String, Vec<Problem>> {
    let configs = typed_configs(workflow)?;
    let mut tool_configs = Vec::with_capacity(tools.len());
    for (id, tool) in tools {
        tool_configs.push(typed_configs(tool).map_err(|problems| {
            problems
                .into_iter()
                .map(|mut p| {
                    p.message = format!("tool workflow {id}: {}", p.message);
                    p
                })
                .collect::<Vec<_>>()
        })?);
    }
    let mut seen = HashSet::new();
    let names = function_names(workflow, "node_", &mut seen);

    let mut out = String::new();
    out.push_str("#!/usr/bin/env python3\n");
    let mut doc = format!(
        "Workflow `{}` (version {}), compiled by `warden flow compile --target python`.\n",
        workflow.name, workflow.version
    );
    if let Some(d) = &workflow.description {
        doc.push('\n');
        doc.push_str(d);
        doc.push('\n');
    }
    doc.push_str(
        "\nUsage: python3 THIS.py [INPUT_JSON | @FILE]  (or the input JSON on stdin).\n\
         Prints {status, output, state, error} as `warden flow run` does.\n\
         From Python: execute_workflow(input) -> final state; lambda_handler(event, context).\n",
    );
    let _ = writeln!(out, "{}\n", py_docstring(&doc));
    out.push_str(RUNTIME);

    out.push_str(
        "\n\n# ---------------------------------------------------------------- the graph\n\n",
    );
    let _ = writeln!(out, "WORKFLOW_NAME = {}", py_str(&workflow.name));
    graph(&mut out, workflow, &configs, &names, "");

    let mut tool_graphs = Vec::new();
    let mut bases = HashSet::new();
    for ((id, tool), configs) in tools.iter().zip(&tool_configs) {
        let slug: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let mut base = format!("tool_{slug}");
        let mut k = 2;
        while !bases.insert(base.clone()) {
            base = format!("tool_{slug}_{k}");
            k += 1;
        }
        let names = function_names(tool, &format!("{base}_node_"), &mut seen);
        let prefix = format!("{}_", base.to_ascii_uppercase());
        let _ = writeln!(
            out,
            "\n\n# ---------------------------------------------------------------- tool workflow {}\n\
             # Called by `tool` nodes as `{}` (name {}, version {}).\n",
            py_str(id),
            id.replace('\n', " "),
            py_str(&tool.name),
            tool.version
        );
        graph(&mut out, tool, configs, &names, &prefix);
        tool_graphs.push((id, tool, prefix));
    }

    out.push_str(
        "\n\n# ---------------------------------------------------------------- entry points\n\n",
    );
    out.push_str("MAIN = Graph(WORKFLOW_NAME, START, EDGES, LOOP_BODIES, NODES)\n\n");
    out.push_str(
        "# The stored workflows `tool` nodes call, by id (`warden flow compile --workflows DIR`).\n\
         TOOL_WORKFLOWS = {\n",
    );
    for (id, tool, prefix) in &tool_graphs {
        let _ = writeln!(
            out,
            "    {}: Graph({}, {prefix}START, {prefix}EDGES, {prefix}LOOP_BODIES, {prefix}NODES),",
            py_str(id),
            py_str(&tool.name)
        );
    }
    out.push_str("}\n");
    let retrieval = configs
        .iter()
        .chain(tool_configs.iter().flatten())
        .any(|c| matches!(c, NodeConfig::Retrieval(_)));
    out.push_str(
        "\n# Rust's `char::is_alphanumeric` beyond ASCII, as sorted [first, last] code point\n\
         # pairs: where retrieval splits words (empty without `retrieval` nodes).\nALNUM_RANGES = (",
    );
    if retrieval {
        alnum_ranges(&mut out);
    }
    out.push_str(")\n");
    out.push_str("\n\nif __name__ == \"__main__\":\n    sys.exit(main(sys.argv))\n");
    Ok(out)
}

/// The stored workflows a workflow's `tool` nodes call, found as `DIR/<id>.json`,
/// `.yaml` or `.yml` (in that order) and followed recursively (each id once, so cycles
/// end; the depth limit applies when the program runs). Returns them by id, with a
/// warning for each id that cannot be compiled in (no `dir`, no file, or an id that is
/// not a valid workflow id): its tool nodes fail with `NOT_CONFIGURED`. A file that does
/// not load or has problems is an error.
pub fn tool_workflows(
    workflow: &Workflow,
    dir: Option<&std::path::Path>,
) -> Result<(BTreeMap<String, Workflow>, Vec<String>), String> {
    let mut found = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut missing = HashSet::new();
    let mut queue: VecDeque<String> = called_workflows(workflow).into();
    while let Some(id) = queue.pop_front() {
        if found.contains_key(&id) || missing.contains(&id) {
            continue;
        }
        let valid = !id.is_empty()
            && id.len() <= 64
            && id != "."
            && id != ".."
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        let file = dir.filter(|_| valid).and_then(|d| {
            ["json", "yaml", "yml"]
                .iter()
                .map(|ext| d.join(format!("{id}.{ext}")))
                .find(|p| p.is_file())
        });
        let Some(file) = file else {
            warnings.push(match dir {
                None => format!(
                    "`tool` nodes call the stored workflow {id:?}: without --workflows DIR \
                     they fail with NOT_CONFIGURED"
                ),
                Some(d) => format!(
                    "no workflow {id:?} in {} (looked for {id}.json, .yaml, .yml): its \
                     `tool` nodes fail with NOT_CONFIGURED",
                    d.display()
                ),
            });
            missing.insert(id);
            continue;
        };
        let tool = Workflow::from_path(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        if let Err(problems) = validate(&tool) {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Err(format!("{}: {}", file.display(), list.join("; ")));
        }
        queue.extend(called_workflows(&tool));
        found.insert(id, tool);
    }
    Ok((found, warnings))
}

/// The ids of the stored workflows a workflow's `tool` nodes call, in node order.
fn called_workflows(workflow: &Workflow) -> Vec<String> {
    workflow
        .nodes
        .iter()
        .filter_map(|n| match n.typed() {
            Ok(NodeConfig::Tool(c)) => c.workflow,
            _ => None,
        })
        .collect()
}

/// One workflow's tables and node functions: `{prefix}START`, `{prefix}EDGES`,
/// `{prefix}LOOP_BODIES`, the functions, then `{prefix}NODES`.
fn graph(
    out: &mut String,
    workflow: &Workflow,
    configs: &[NodeConfig],
    names: &[String],
    prefix: &str,
) {
    let bodies = loop_bodies(workflow, configs);
    let start = configs
        .iter()
        .position(|c| matches!(c, NodeConfig::Start(_)))
        .expect("validated: one start");
    let _ = writeln!(
        out,
        "{prefix}START = {}\n",
        py_str(&workflow.nodes[start].id)
    );
    let _ = writeln!(
        out,
        "# Outgoing edges per node, in the order listed: (condition, target).\n{prefix}EDGES = {{"
    );
    for node in &workflow.nodes {
        let edges: Vec<String> = workflow
            .edges
            .iter()
            .filter(|e| e.source == node.id)
            .map(|e| {
                format!(
                    "({}, {})",
                    e.condition.as_deref().map_or("None".into(), py_str),
                    py_str(&e.target)
                )
            })
            .collect();
        let _ = writeln!(out, "    {}: [{}],", py_str(&node.id), edges.join(", "));
    }
    let _ = writeln!(
        out,
        "}}\n\n# Per loop node: the nodes of its body.\n{prefix}LOOP_BODIES = {{"
    );
    for (i, node) in workflow.nodes.iter().enumerate() {
        if let Some(body) = bodies.get(&i) {
            let members: Vec<String> = workflow
                .nodes
                .iter()
                .enumerate()
                .filter(|(j, _)| body.contains(j))
                .map(|(_, n)| py_str(&n.id))
                .collect();
            let set = if members.is_empty() {
                "set()".to_string()
            } else {
                format!("{{{}}}", members.join(", "))
            };
            let _ = writeln!(out, "    {}: {set},", py_str(&node.id));
        }
    }
    out.push_str("}\n");

    out.push_str(
        "\n\n# ---------------------------------------------------------------- the nodes\n",
    );
    for (i, node) in workflow.nodes.iter().enumerate() {
        let next = || {
            workflow
                .edges
                .iter()
                .find(|e| e.source == node.id && e.condition.is_none())
                .map(|e| py_str(&e.target))
                .unwrap_or_else(|| "None".into())
        };
        out.push('\n');
        node_function(out, &names[i], &node.id, &configs[i], next, workflow);
    }
    let _ = writeln!(out, "\n{prefix}NODES = {{");
    for (i, node) in workflow.nodes.iter().enumerate() {
        let _ = writeln!(out, "    {}: {},", py_str(&node.id), names[i]);
    }
    out.push_str("}\n");
}

/// Rust's `char::is_alphanumeric` beyond ASCII as `first, last,` pairs of code points,
/// eight pairs a line: the table the runtime splits retrieval text with, so it splits
/// as tantivy (built with the same Rust) does.
fn alnum_ranges(out: &mut String) {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for cp in 0x80..=0x10FFFFu32 {
        let Some(c) = char::from_u32(cp) else {
            continue;
        };
        if !c.is_alphanumeric() {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == cp => last.1 = cp,
            _ => ranges.push((cp, cp)),
        }
    }
    for chunk in ranges.chunks(8) {
        out.push_str("\n   ");
        for (a, b) in chunk {
            let _ = write!(out, " {a:#x}, {b:#x},");
        }
    }
    out.push('\n');
}

/// `<prefix><id>` (`node_<id>` for the workflow compiled), with characters other than
/// `[A-Za-z0-9_]` as `_` and a suffix on clashes with any name in `seen`.
fn function_names(workflow: &Workflow, prefix: &str, seen: &mut HashSet<String>) -> Vec<String> {
    workflow
        .nodes
        .iter()
        .map(|n| {
            let base: String =
                n.id.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
            let base = format!("{prefix}{base}");
            let mut name = base.clone();
            let mut k = 2;
            while !seen.insert(name.clone()) {
                name = format!("{base}_{k}");
                k += 1;
            }
            name
        })
        .collect()
}

/// The bodies of loops, as the runner computes them: what lies both forward from the
/// body edge's target and backward from the loop, never through the loop itself.
fn loop_bodies(workflow: &Workflow, configs: &[NodeConfig]) -> HashMap<usize, HashSet<usize>> {
    let index: HashMap<&str, usize> = workflow
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let n = workflow.nodes.len();
    let mut out_edges = vec![Vec::new(); n];
    let mut inc = vec![Vec::new(); n];
    for e in &workflow.edges {
        let (s, t) = (index[e.source.as_str()], index[e.target.as_str()]);
        out_edges[s].push((e.condition.as_deref(), t));
        inc[t].push(s);
    }
    let reach = |from: Vec<usize>, avoid: usize, next: &dyn Fn(usize) -> Vec<usize>| {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<usize> = from.into_iter().filter(|&m| m != avoid).collect();
        while let Some(m) = queue.pop_front() {
            if seen.insert(m) {
                queue.extend(next(m).into_iter().filter(|&k| k != avoid));
            }
        }
        seen
    };
    let mut bodies = HashMap::new();
    for (l, config) in configs.iter().enumerate() {
        if !matches!(config, NodeConfig::Loop(_)) {
            continue;
        }
        let targets = out_edges[l]
            .iter()
            .filter(|(c, _)| *c == Some(labels::BODY))
            .map(|(_, t)| *t)
            .collect();
        let forward = reach(targets, l, &|m| {
            out_edges[m].iter().map(|(_, t)| *t).collect()
        });
        let backward = reach(inc[l].clone(), l, &|m| inc[m].clone());
        bodies.insert(l, forward.intersection(&backward).copied().collect());
    }
    bodies
}

fn node_function(
    out: &mut String,
    name: &str,
    id: &str,
    config: &NodeConfig,
    next: impl Fn() -> String,
    workflow: &Workflow,
) {
    let kind = config.node_type().name();
    if let NodeConfig::Code(c) = config {
        let _ = writeln!(out, "\n{name}_code = (");
        for line in c.code.split_inclusive('\n') {
            let _ = writeln!(out, "    {}", py_str(line));
        }
        if c.code.is_empty() {
            out.push_str("    \"\"\n");
        }
        out.push_str(")\n\n");
    }
    let _ = writeln!(out, "\ndef {name}(run, previous):");
    let _ = writeln!(out, "    # `{kind}` node {}", py_str(id));
    let uses_state = !config.sources().is_empty()
        || matches!(config, NodeConfig::Conditional(c) if c.expression.is_none());
    if uses_state {
        out.push_str("    s = run.state\n");
    }
    let ret_next = |out: &mut String| {
        let _ = writeln!(out, "    return \"next\", {}", next());
    };
    match config {
        NodeConfig::Start(_) => ret_next(out),
        NodeConfig::End(c) => {
            if c.output.is_empty() {
                out.push_str("    return \"end\", run.end(None)\n");
            } else {
                out.push_str("    return \"end\", run.end([\n");
                for (key, path) in &c.output {
                    let _ = writeln!(out, "        ({}, {}),", py_str(key), py_segments(path));
                }
                out.push_str("    ])\n");
            }
        }
        NodeConfig::Code(c) => {
            let language = match c.language {
                CodeLanguage::Python => "python",
                CodeLanguage::Javascript => "javascript",
            };
            let _ = writeln!(out, "    run.code(");
            let _ = writeln!(out, "        {},", py_str(id));
            let _ = writeln!(out, "        {},", py_str(language));
            let _ = writeln!(out, "        {name}_code,");
            out.push_str("        input_mapping=[\n");
            for (k, p) in &c.input_mapping {
                let _ = writeln!(out, "            ({}, {}),", py_str(k), py_segments(p));
            }
            out.push_str("        ],\n        output_mapping=[\n");
            for (target, source) in &c.output_mapping {
                let _ = writeln!(
                    out,
                    "            ({}, {}),",
                    py_segments(target),
                    py_segments(source)
                );
            }
            out.push_str("        ],\n");
            if let Some(t) = c.timeout {
                let _ = writeln!(out, "        timeout={},", format_float(t));
            }
            if let Some(r) = &c.retries {
                let _ = writeln!(
                    out,
                    "        retries=({}, {}, {}),",
                    r.max,
                    r.backoff_ms,
                    format_float(r.factor)
                );
            }
            out.push_str("    )\n");
            ret_next(out);
        }
        NodeConfig::Conditional(c) => match &c.expression {
            Some(e) => {
                let _ = writeln!(out, "    value = run.expr(lambda: {})", expression(&e.0));
                let _ = writeln!(
                    out,
                    "    return \"next\", run.by_label({}, value)",
                    py_str(id)
                );
            }
            None => {
                for e in workflow.edges.iter().filter(|e| e.source == id) {
                    let Some(cond) = e.condition.as_deref() else {
                        continue;
                    };
                    if cond == labels::ERROR || cond == labels::DEFAULT {
                        continue;
                    }
                    let _ = writeln!(out, "    # {}", cond.replace('\n', " "));
                    let _ = writeln!(out, "    if _t(run.expr(lambda: {})):", expression(cond));
                    let _ = writeln!(out, "        return \"next\", {}", py_str(&e.target));
                }
                let _ = writeln!(out, "    return \"next\", run.default({})", py_str(id));
            }
        },
        NodeConfig::Loop(c) => {
            let _ = writeln!(out, "    return \"next\", run.loop(");
            let _ = writeln!(out, "        {},", py_str(id));
            out.push_str("        previous,\n");
            let _ = writeln!(out, "        max_iterations={},", c.max_iterations);
            if let Some(p) = &c.over {
                let _ = writeln!(out, "        over={},", py_segments(p));
            }
            if let Some(w) = &c.while_ {
                let _ = writeln!(out, "        while_=lambda: {},", expression(&w.0));
            }
            if let Some(p) = &c.item_var {
                let _ = writeln!(out, "        item_var={},", py_segments(p));
            }
            if let Some(p) = &c.index_var {
                let _ = writeln!(out, "        index_var={},", py_segments(p));
            }
            out.push_str("    )\n");
        }
        NodeConfig::Variable(c) => {
            out.push_str("    values = [\n");
            for (path, e) in &c.set {
                let _ = writeln!(
                    out,
                    "        ({}, run.expr(lambda: {})),",
                    py_segments(path),
                    expression(&e.0)
                );
            }
            out.push_str("    ]\n    run.write(values)\n");
            ret_next(out);
        }
        NodeConfig::Delay(c) => {
            let _ = writeln!(out, "    run.wait({})", c.ms);
            ret_next(out);
        }
        NodeConfig::ErrorHandler(c) => {
            let _ = writeln!(
                out,
                "    run.write([({}, run.last_error)])",
                py_segments(&c.output)
            );
            ret_next(out);
        }
        NodeConfig::Http(c) => {
            out.push_str("    headers = {}\n");
            for (k, t) in &c.headers {
                let _ = writeln!(
                    out,
                    "    headers[{}] = run.expr(lambda: {})",
                    py_str(k),
                    template(t)
                );
            }
            match &c.body {
                Some(b) => {
                    let _ = writeln!(out, "    body = run.expr(lambda: {})", expression(&b.0));
                }
                None => out.push_str("    body = None\n"),
            }
            let _ = writeln!(out, "    url = run.expr(lambda: {})", template(&c.url));
            let _ = writeln!(
                out,
                "    value = http_request({}, url, headers, body, {})",
                py_value(&serde_json::to_value(c.method).unwrap_or(Value::Null)),
                c.timeout.map_or("None".into(), format_float)
            );
            let _ = writeln!(out, "    run.write([({}, value)])", py_segments(&c.output));
            ret_next(out);
        }
        NodeConfig::Model(c) => {
            out.push_str("    messages = [\n");
            for m in &c.messages {
                let role = serde_json::to_value(m.role).unwrap_or(Value::Null);
                let _ = writeln!(
                    out,
                    "        {{\"role\": {}, \"content\": run.expr(lambda: {})}},",
                    py_value(&role),
                    template(&m.content)
                );
            }
            out.push_str("    ]\n");
            let _ = writeln!(
                out,
                "    reply = model_request({}, {}, {}, messages, {}, {})",
                c.base_url.as_deref().map_or("None".into(), py_str),
                py_str(&c.model),
                c.api_key_env.as_deref().map_or("None".into(), py_str),
                c.temperature.map_or("None".into(), format_float),
                c.max_tokens.map_or("None".into(), |t| t.to_string())
            );
            let _ = writeln!(out, "    run.write([({}, reply)])", py_segments(&c.output));
            ret_next(out);
        }
        NodeConfig::Tool(c) => {
            out.push_str("    tool_input = run.mapped([\n");
            for (k, p) in &c.input_mapping {
                let _ = writeln!(out, "        ({}, {}),", py_str(k), py_segments(p));
            }
            out.push_str("    ])\n");
            match (&c.workflow, &c.http) {
                (Some(id), _) => {
                    if let Some(v) = c.version {
                        let _ = writeln!(
                            out,
                            "    # `version` {v}: the workflow compiled in is run, whatever its version."
                        );
                    }
                    let _ = writeln!(
                        out,
                        "    value = run.tool_workflow({}, tool_input)",
                        py_str(id)
                    );
                }
                (None, Some(h)) => {
                    out.push_str("    headers = {}\n");
                    for (k, t) in &h.headers {
                        let _ = writeln!(
                            out,
                            "    headers[{}] = run.expr(lambda: {})",
                            py_str(k),
                            template(t)
                        );
                    }
                    let _ = writeln!(out, "    url = run.expr(lambda: {})", template(&h.url));
                    let _ = writeln!(
                        out,
                        "    value = tool_http({}, url, headers, tool_input)",
                        py_value(&serde_json::to_value(h.method).unwrap_or(Value::Null))
                    );
                }
                (None, None) => out.push_str("    value = not_configured(\"tool\")\n"),
            }
            let _ = writeln!(out, "    run.write([({}, value)])", py_segments(&c.output));
            ret_next(out);
        }
        NodeConfig::Memory(c) => {
            let _ = writeln!(
                out,
                "    thread = memory_thread(run.expr(lambda: {}))",
                expression(&c.thread.0)
            );
            match &c.value {
                Some(p) if c.op == MemoryOp::Append => {
                    let _ = writeln!(out, "    value = run.get({})", py_segments(p));
                    let _ = writeln!(
                        out,
                        "    items = memory_append(thread, {}, value)",
                        py_str(&c.key)
                    );
                }
                _ => {
                    let _ = writeln!(out, "    items = memory_read(thread, {})", py_str(&c.key));
                }
            }
            if let Some(p) = &c.output {
                let _ = writeln!(out, "    run.write([({}, items)])", py_segments(p));
            }
            ret_next(out);
        }
        NodeConfig::Retrieval(c) => {
            let _ = writeln!(
                out,
                "    query = run.expr(lambda: {})",
                expression(&c.query.0)
            );
            out.push_str(
                "    if not isinstance(query, str):\n        \
                 raise NodeError(\"BAD_VALUE\", \"a retrieval query is a string, not %s\" % kind_of(query))\n",
            );
            let _ = writeln!(
                out,
                "    hits = retrieve({}, query, {})",
                py_str(&c.collection),
                c.top_k
            );
            let _ = writeln!(out, "    run.write([({}, hits)])", py_segments(&c.output));
            ret_next(out);
        }
    }
}

/// An expression's source as Python (validated, so it parses).
fn expression(src: &str) -> String {
    match crate::expr::parse(src) {
        Ok(e) => py_expr(&e),
        // Unreachable after validation; fail the node the way the runner would.
        Err(e) => format!(
            "(_ for _ in ()).throw(ExprError({}))",
            py_str(&e.to_string())
        ),
    }
}

fn template(t: &Template) -> String {
    match t.parse() {
        Ok(parts) => {
            let parts: Vec<String> = parts
                .iter()
                .map(|p| match p {
                    Part::Text(text) => py_str(text),
                    Part::Expr(e) => format!("({},)", py_expr(e)),
                })
                .collect();
            format!("render([{}])", parts.join(", "))
        }
        Err(e) => format!(
            "(_ for _ in ()).throw(ExprError({}))",
            py_str(&e.to_string())
        ),
    }
}

/// An expression as Python over the runtime's helpers, reading the state as `s`.
pub fn py_expr(e: &Expr) -> String {
    match e {
        Expr::Literal(v) => py_value(v),
        Expr::List(items) => format!(
            "[{}]",
            items.iter().map(py_expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Path(p) => format!("_p(s, {})", py_segments(p)),
        Expr::Unary {
            op: UnaryOp::Not,
            operand,
        } => format!("(not _t({}))", py_expr(operand)),
        Expr::Unary {
            op: UnaryOp::Neg,
            operand,
        } => format!("_neg({})", py_expr(operand)),
        Expr::Binary { op, left, right } => {
            let (l, r) = (py_expr(left), py_expr(right));
            let f = match op {
                BinaryOp::And => return format!("(_t({l}) and _t({r}))"),
                BinaryOp::Or => return format!("(_t({l}) or _t({r}))"),
                BinaryOp::Eq => "_eq",
                BinaryOp::Ne => "_ne",
                BinaryOp::Lt => "_lt",
                BinaryOp::Le => "_le",
                BinaryOp::Gt => "_gt",
                BinaryOp::Ge => "_ge",
                BinaryOp::In => "_in",
                BinaryOp::NotIn => "_not_in",
                BinaryOp::Add => "_add",
                BinaryOp::Sub => "_sub",
                BinaryOp::Mul => "_mul",
                BinaryOp::Div => "_div",
                BinaryOp::Rem => "_mod",
            };
            format!("{f}({l}, {r})")
        }
        Expr::IfElse {
            cond,
            then,
            otherwise,
        } => format!(
            "({} if _t({}) else {})",
            py_expr(then),
            py_expr(cond),
            py_expr(otherwise)
        ),
        Expr::Call { func, args } => {
            let name = match func {
                Func::Len => "len",
                Func::Lower => "lower",
                Func::Upper => "upper",
                Func::Contains => "contains",
                Func::StartsWith => "startswith",
                Func::EndsWith => "endswith",
                Func::Int => "int",
                Func::Float => "float",
                Func::Str => "str",
                Func::Keys => "keys",
            };
            format!(
                "_fn_{name}({})",
                args.iter().map(py_expr).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// A path's segments as a Python tuple: `("inputs", "items", 0)`.
fn py_segments(p: &StatePath) -> String {
    let items: Vec<String> = p
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Key(k) => py_str(k),
            Segment::Index(i) => i.to_string(),
        })
        .collect();
    if items.len() == 1 {
        format!("({},)", items[0])
    } else {
        format!("({})", items.join(", "))
    }
}

/// A JSON value as a Python literal.
fn py_value(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if n.is_f64() => format_float(n.as_f64().unwrap_or(0.0)),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let map: BTreeMap<&String, &Value> = map.iter().collect();
            format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// A Python string literal, ASCII only.
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// A docstring: the text in `"""…"""`, with backslashes and triple quotes escaped.
fn py_docstring(text: &str) -> String {
    let body = text
        .trim_end()
        .replace('\\', "\\\\")
        .replace("\"\"\"", "\\\"\\\"\\\"");
    format!("\"\"\"{body}\n\"\"\"")
}

/// The code nodes' configs, in the order listed (the workflow is validated).
fn code_configs(workflow: &Workflow) -> Vec<CodeConfig> {
    workflow
        .nodes
        .iter()
        .filter_map(|n| match n.typed() {
            Ok(NodeConfig::Code(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// The packages of the code nodes in `language`, sorted and deduplicated. A package that
/// could be read as an option or a second line (`-…`, whitespace, control characters) is
/// refused, so it cannot smuggle options into `pip` or `npm`.
fn packages_of(
    workflow: &Workflow,
    language: CodeLanguage,
) -> Result<std::collections::BTreeSet<String>, Vec<Problem>> {
    let mut out = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for node in &workflow.nodes {
        let Ok(NodeConfig::Code(c)) = node.typed() else {
            continue;
        };
        if c.language != language {
            continue;
        }
        for p in &c.packages {
            let p = p.trim();
            if p.starts_with('-') || p.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                problems.push(Problem {
                    node: Some(node.id.clone()),
                    edge: None,
                    code: codes::BAD_CONFIG,
                    message: format!("package {p:?} cannot be written to a bundle"),
                });
            } else {
                out.insert(p.to_string());
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The files of `--target bundle`, as (relative path, text), sorted by path:
/// `Dockerfile`, `README.md`, `requirements.txt` (the Python code nodes' packages, sorted
/// and deduplicated; empty when none) and `workflow.py` ([`compile_python`]).
/// Deterministic: the same definition gives byte-identical files.
pub fn bundle(workflow: &Workflow) -> Result<Vec<(String, String)>, Vec<Problem>> {
    let program = compile_python(workflow)?;
    let python = packages_of(workflow, CodeLanguage::Python)?;
    let js = packages_of(workflow, CodeLanguage::Javascript)?;
    let codes = code_configs(workflow);
    let has_js = codes.iter().any(|c| c.language == CodeLanguage::Javascript);

    let mut requirements = String::new();
    for p in &python {
        requirements.push_str(p);
        requirements.push('\n');
    }

    let mut docker = String::new();
    let _ = writeln!(
        docker,
        "# Workflow {} (version {}), compiled by `warden flow compile --target bundle`.",
        py_str(&workflow.name),
        workflow.version
    );
    docker.push_str("FROM python:3.11-slim\n");
    if has_js {
        let apt = if js.is_empty() {
            "nodejs"
        } else {
            "nodejs npm"
        };
        let _ = writeln!(
            docker,
            "# JavaScript code nodes run with `node`.\n\
             RUN apt-get update \\\n    && apt-get install -y --no-install-recommends {apt} \\\n    && rm -rf /var/lib/apt/lists/*"
        );
    }
    docker.push_str(
        "WORKDIR /app\nCOPY requirements.txt /app/requirements.txt\n\
         RUN pip install --no-cache-dir -r /app/requirements.txt\n",
    );
    if !js.is_empty() {
        let mut args: Vec<String> = ["npm", "install", "--prefix", "/app", "--no-save"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(js.iter().cloned());
        let _ = writeln!(
            docker,
            "RUN {}\nENV NODE_PATH=/app/node_modules",
            serde_json::to_string(&args).expect("strings serialize")
        );
    }
    docker.push_str(
        "COPY workflow.py /app/workflow.py\nENTRYPOINT [\"python3\", \"/app/workflow.py\"]\n",
    );

    let mut readme = String::new();
    let _ = writeln!(readme, "# {}\n", workflow.name.replace('\n', " "));
    let _ = writeln!(
        readme,
        "Workflow `{}` (version {}), compiled by `warden flow compile --target bundle`.",
        workflow.name.replace(['\n', '`'], " "),
        workflow.version
    );
    if let Some(d) = &workflow.description {
        let _ = writeln!(readme, "\n{}", d.trim_end());
    }
    readme.push_str(
        "\n\
`workflow.py` is a standalone Python 3 program (standard library only) that runs the\n\
workflow's graph with the semantics of `warden flow run` and prints\n\
`{\"status\", \"output\", \"state\", \"error\"}` as JSON (exit 0, or 1 when the run failed).\n\
`requirements.txt` lists the packages the Python code nodes import.\n\
\n\
> **Warning:** code nodes run unsandboxed, in the program's own process (Python with\n\
> `exec`, JavaScript with `node`). Run it only where the workflow's code is trusted,\n\
> or inside a sandbox (`warden run workflow.py`), or compile with `--target warden`\n\
> and run it with `warden flow run`.\n\
\n\
## Run it\n\
\n\
```sh\n\
pip install -r requirements.txt\n\
python3 workflow.py '{\"x\": 1}'         # the input as an argument\n\
python3 workflow.py @input.json         # or from a file\n\
echo '{\"x\": 1}' | python3 workflow.py  # or on stdin\n\
```\n\
\n\
From Python: `import workflow; workflow.execute_workflow({\"x\": 1})` returns the final\n\
state, `workflow.run_workflow(...)` the whole result.\n\
\n\
## With Docker\n\
\n\
```sh\n\
docker build -t workflow .\n\
docker run --rm workflow '{\"x\": 1}'\n\
echo '{\"x\": 1}' | docker run --rm -i workflow\n\
```\n\
\n\
## As an AWS Lambda function\n\
\n\
Use the handler `workflow.lambda_handler` (Python 3.11 runtime): it runs the workflow\n\
with the event as its input and returns the whole result.\n\
\n\
```sh\n\
pip install -r requirements.txt -t package/\n\
cp workflow.py package/ && (cd package && zip -r ../workflow.zip .)\n\
```\n",
    );
    if has_js {
        readme.push_str(
            "\nThis workflow has JavaScript code nodes: they need `node` on the `PATH` \
             (installed in the Docker image; on Lambda, add it with a layer).\n",
        );
    }
    if !js.is_empty() {
        let list: Vec<String> = js.iter().map(|p| format!("`{p}`")).collect();
        let _ = writeln!(
            readme,
            "Their npm packages ({}) are installed in the image under `/app/node_modules` \
             (`NODE_PATH`).",
            list.join(", ")
        );
    }
    if workflow
        .nodes
        .iter()
        .any(|n| n.kind == "model" || n.kind == "http")
    {
        readme.push_str(
            "\n`model` nodes read `WARDEN_FLOW_MODEL_BASE_URL` and `WARDEN_FLOW_MODEL_API_KEY` \
             (unless their config names others); `http` and `model` nodes need network access.\n",
        );
    }

    Ok(vec![
        ("Dockerfile".into(), docker),
        ("README.md".into(), readme),
        ("requirements.txt".into(), requirements),
        ("workflow.py".into(), program),
    ])
}

/// The file of `--target warden`: the validated definition as JSON with its keys sorted
/// (two-space indent, a final newline) and `"warden_flow": 1` at the top level, so
/// [`Workflow::from_json`] reads it back as an equal definition (with `warden_flow` set)
/// and `warden flow run` runs it sandboxed. Deterministic. Suggested extension:
/// `.warden.json`.
pub fn warden_file(workflow: &Workflow) -> Result<String, Vec<Problem>> {
    validate(workflow)?;
    let mut marked = workflow.clone();
    marked.warden_flow = Some(WARDEN_FORMAT);
    // `serde_json::Value` objects keep their keys sorted (no `preserve_order`).
    let value = serde_json::to_value(&marked).expect("a workflow serializes");
    let mut out = serde_json::to_string_pretty(&value).expect("a value serializes");
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(src: &str) -> String {
        py_expr(&crate::expr::parse(src).unwrap())
    }

    #[test]
    fn expressions_translate_to_the_helpers() {
        assert_eq!(tr("7 / 2"), "_div(7, 2)");
        assert_eq!(tr("-7 % 3"), "_mod(_neg(7), 3)");
        assert_eq!(tr("'a' + 1"), "_add(\"a\", 1)");
        assert_eq!(
            tr("a and not b"),
            "(_t(_p(s, (\"a\",))) and _t((not _t(_p(s, (\"b\",))))))"
        );
        assert_eq!(tr("1e16 + 0.1"), "_add(1e+16, 0.1)");
        assert_eq!(
            tr("x.y[2] if c else str(1.0)"),
            "(_p(s, (\"x\", \"y\", 2)) if _t(_p(s, (\"c\",))) else _fn_str(1.0))"
        );
        assert_eq!(tr("'é\\n\"'"), "\"\\xe9\\n\\\"\"");
        assert_eq!(
            tr("x not in [1, null, true]"),
            "_not_in(_p(s, (\"x\",)), [1, None, True])"
        );
    }

    #[test]
    fn names_are_sanitized_and_unique() {
        let wf = Workflow::from_yaml(
            "name: n\nnodes:\n  - {id: start, type: start}\n  - {id: a-b, type: delay, config: {ms: 1}}\n  - {id: a_b, type: delay, config: {ms: 1}}\n  - {id: end, type: end}\nedges:\n  - {source: start, target: a-b}\n  - {source: a-b, target: a_b}\n  - {source: a_b, target: end}\n",
        )
        .unwrap();
        assert_eq!(
            function_names(&wf, "node_", &mut HashSet::new()),
            ["node_start", "node_a_b", "node_a_b_2", "node_end"]
        );
        let py = compile_python(&wf).unwrap();
        assert!(py.contains("\ndef node_a_b_2(run, previous):"), "{py}");
        assert_eq!(py, compile_python(&wf).unwrap());
    }

    #[test]
    fn invalid_workflows_are_refused() {
        let wf = Workflow::from_yaml("name: n\nnodes:\n  - {id: start, type: start}\n").unwrap();
        assert!(compile_python(&wf).is_err());
    }

    const JS_AND_PY: &str = r#"
name: mixed
description: Two languages.
inputs: [x]
nodes:
  - {id: start, type: start}
  - {id: py, type: code, config: {language: python, code: "result = 1", packages: [requests, numpy, requests]}}
  - {id: py2, type: code, config: {language: python, code: "result = 2", packages: [attrs]}}
  - {id: js, type: code, config: {language: javascript, code: "return 1", packages: [lodash]}}
  - {id: end, type: end}
edges:
  - {source: start, target: py}
  - {source: py, target: py2}
  - {source: py2, target: js}
  - {source: js, target: end}
"#;

    fn files(wf: &Workflow) -> BTreeMap<String, String> {
        bundle(wf).unwrap().into_iter().collect()
    }

    #[test]
    fn bundles_list_packages_and_install_node_only_when_needed() {
        let wf = Workflow::from_yaml(JS_AND_PY).unwrap();
        let f = files(&wf);
        assert_eq!(
            f.keys().collect::<Vec<_>>(),
            ["Dockerfile", "README.md", "requirements.txt", "workflow.py"]
        );
        assert_eq!(f["requirements.txt"], "attrs\nnumpy\nrequests\n");
        assert_eq!(f["workflow.py"], compile_python(&wf).unwrap());
        let docker = &f["Dockerfile"];
        assert!(docker.contains("FROM python:3.11-slim\n"), "{docker}");
        assert!(docker.contains("apt-get install -y --no-install-recommends nodejs npm"));
        assert!(docker.contains(r#"RUN ["npm","install","--prefix","/app","--no-save","lodash"]"#));
        assert!(docker.contains("pip install --no-cache-dir -r /app/requirements.txt"));
        assert!(docker.ends_with("ENTRYPOINT [\"python3\", \"/app/workflow.py\"]\n"));
        let readme = &f["README.md"];
        for needle in [
            "python3 workflow.py '{\"x\": 1}'",
            "docker run",
            "workflow.lambda_handler",
            "unsandboxed",
            "Two languages.",
        ] {
            assert!(readme.contains(needle), "{needle}: {readme}");
        }
        // Same definition, same bytes.
        assert_eq!(bundle(&wf).unwrap(), bundle(&wf).unwrap());

        // Python only, no packages: an empty requirements file, no node.
        let py_only = Workflow::from_yaml(
            "name: p\nnodes:\n  - {id: start, type: start}\n  - {id: c, type: code, config: {language: python, code: 'result = 1'}}\n  - {id: end, type: end}\nedges:\n  - {source: start, target: c}\n  - {source: c, target: end}\n",
        )
        .unwrap();
        let f = files(&py_only);
        assert_eq!(f["requirements.txt"], "");
        assert!(!f["Dockerfile"].contains("nodejs"), "{}", f["Dockerfile"]);
        assert!(!f["Dockerfile"].contains("npm"));
        assert!(!f["README.md"].contains("JavaScript code nodes"));
    }

    #[test]
    fn bundles_refuse_packages_that_look_like_options() {
        let wf =
            Workflow::from_yaml(&JS_AND_PY.replace("[attrs]", "['--index-url=http://x']")).unwrap();
        let problems = bundle(&wf).unwrap_err();
        assert_eq!(problems[0].node.as_deref(), Some("py2"));
        let wf = Workflow::from_yaml("name: n\nnodes:\n  - {id: start, type: start}\n").unwrap();
        assert!(bundle(&wf).is_err());
    }

    #[test]
    fn warden_files_round_trip_to_an_equal_workflow() {
        let wf = Workflow::from_yaml(JS_AND_PY).unwrap();
        let text = warden_file(&wf).unwrap();
        assert_eq!(text, warden_file(&wf).unwrap());
        assert!(text.contains("\"warden_flow\": 1"), "{text}");
        let mut back = Workflow::from_json(&text).unwrap();
        assert_eq!(back.warden_flow, Some(WARDEN_FORMAT));
        // Compiling the compiled file again gives the same bytes.
        assert_eq!(warden_file(&back).unwrap(), text);
        back.warden_flow = None;
        assert_eq!(back, wf);
        // Keys are sorted: `description` before `edges` before `name` before `nodes`.
        let pos = |k: &str| text.find(&format!("\n  \"{k}\"")).unwrap();
        assert!(pos("description") < pos("edges") && pos("name") < pos("nodes"));
        assert!(pos("version") < pos("warden_flow"));
        // Another format version is refused.
        let future = text.replace("\"warden_flow\": 1", "\"warden_flow\": 2");
        assert!(matches!(
            Workflow::from_json(&future),
            Err(crate::DefinitionError::UnsupportedFormat(2))
        ));
        // Invalid workflows are refused.
        let bad = Workflow::from_yaml("name: n\nnodes:\n  - {id: start, type: start}\n").unwrap();
        assert!(warden_file(&bad).is_err());
    }
}
