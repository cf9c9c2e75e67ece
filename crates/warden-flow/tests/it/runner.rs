//! The runner core, with fakes: code nodes are answered by Rust closures keyed by node id
//! (no code is executed), services by in-memory fakes, and time by a fake clock.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use warden_flow::runner::{error_codes, ModelRequest};
use warden_flow::{
    run, Clock, CodeOutcome, CodeRequest, CodeRunner, Host, Limits, NoServices, NodeError,
    NodeType, RunEvent, RunResult, RunStatus, Services, Workflow,
};

type Answer = Box<dyn FnMut(&Value) -> Result<CodeOutcome, NodeError>>;

/// Answers code nodes by node id, and remembers every request's input.
#[derive(Default)]
struct FakeCode {
    answers: HashMap<String, Answer>,
    calls: Vec<(String, Value, Option<f64>)>,
}

impl FakeCode {
    fn on(
        mut self,
        node: &str,
        f: impl FnMut(&Value) -> Result<CodeOutcome, NodeError> + 'static,
    ) -> Self {
        self.answers.insert(node.to_string(), Box::new(f));
        self
    }
}

impl CodeRunner for FakeCode {
    fn run(&mut self, request: &CodeRequest<'_>) -> Result<CodeOutcome, NodeError> {
        self.calls.push((
            request.node.to_string(),
            request.input.clone(),
            request.timeout,
        ));
        let f = self
            .answers
            .get_mut(request.node)
            .unwrap_or_else(|| panic!("no fake for code node {}", request.node));
        f(request.input)
    }
}

fn ok(result: Value) -> Result<CodeOutcome, NodeError> {
    Ok(CodeOutcome {
        result,
        stdout: String::new(),
    })
}

fn failed(code: &str, message: &str) -> Result<CodeOutcome, NodeError> {
    Err(NodeError {
        code: code.into(),
        message: message.into(),
        traceback: Some(format!("Traceback (most recent call last):\n{message}")),
    })
}

/// Time stands still except when the run sleeps.
#[derive(Default)]
struct FakeClock {
    now: u64,
    sleeps: Vec<u64>,
}

impl Clock for FakeClock {
    fn now_ms(&mut self) -> u64 {
        self.now
    }
    fn sleep_ms(&mut self, ms: u64) {
        self.sleeps.push(ms);
        self.now += ms;
    }
}

/// In-memory memory lists and an echoing model.
#[derive(Default)]
struct FakeServices {
    memory: HashMap<(String, String), Vec<Value>>,
    prompts: Vec<ModelRequest>,
}

impl Services for FakeServices {
    fn model(&mut self, request: &ModelRequest) -> Result<String, NodeError> {
        self.prompts.push(request.clone());
        Ok(format!("echo: {}", request.messages.last().unwrap().1))
    }
    fn memory_read(&mut self, thread: &str, key: &str) -> Result<Vec<Value>, NodeError> {
        Ok(self
            .memory
            .get(&(thread.into(), key.into()))
            .cloned()
            .unwrap_or_default())
    }
    fn memory_append(
        &mut self,
        thread: &str,
        key: &str,
        value: Value,
    ) -> Result<Vec<Value>, NodeError> {
        let list = self.memory.entry((thread.into(), key.into())).or_default();
        list.push(value);
        Ok(list.clone())
    }
}

fn fixture(name: &str) -> Workflow {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let json = dir.join(format!("{name}.json"));
    let path = if json.exists() {
        json
    } else {
        dir.join(format!("{name}.yaml"))
    };
    Workflow::from_path(&path).unwrap()
}

fn fixture_input(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/valid")
        .join(format!("{name}.input.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Outcome {
    result: RunResult,
    code: FakeCode,
    clock: FakeClock,
    events: Vec<RunEvent>,
}

fn run_with(
    wf: &Workflow,
    input: Value,
    mut code: FakeCode,
    services: &mut dyn Services,
    limits: Limits,
) -> Outcome {
    let mut clock = FakeClock::default();
    let mut events = Vec::new();
    let mut on_event = |e: &RunEvent| events.push(e.clone());
    let result = run(
        wf,
        input,
        Host {
            code: &mut code,
            services,
            clock: &mut clock,
            on_event: Some(&mut on_event),
        },
        limits,
    )
    .unwrap_or_else(|p| panic!("refused: {p:?}"));
    Outcome {
        result,
        code,
        clock,
        events,
    }
}

fn run_simple(wf: &Workflow, input: Value, code: FakeCode) -> Outcome {
    run_with(wf, input, code, &mut NoServices, Limits::default())
}

fn visited(result: &RunResult) -> Vec<&str> {
    result.trace.iter().map(|e| e.node.as_str()).collect()
}

fn greet() -> FakeCode {
    FakeCode::default().on("greet", |input| {
        let name = input["name"].as_str().unwrap().trim().to_string();
        ok(json!({"greeting": format!("Hello, {name}!"), "length": name.chars().count()}))
    })
}

#[test]
fn code_node_maps_inputs_and_outputs() {
    let out = run_simple(
        &fixture("greet_python"),
        fixture_input("greet_python"),
        greet(),
    );
    let r = &out.result;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.error);
    assert_eq!(
        r.output,
        json!({"greeting": "Hello, Ada Lovelace!", "name_length": 12})
    );
    assert_eq!(r.state["greeting"], json!("Hello, Ada Lovelace!"));
    assert_eq!(out.code.calls.len(), 1);
    assert_eq!(out.code.calls[0].1, json!({"name": "  Ada Lovelace "}));
    // Without a node timeout, the attempt gets the run's remaining time.
    assert_eq!(out.code.calls[0].2, Some(600.0));
    let entry = &r.trace[1];
    assert_eq!(entry.kind, NodeType::Code);
    assert_eq!(entry.inputs, json!({"name": "  Ada Lovelace "}));
    assert_eq!(
        entry.outputs,
        json!({"greeting": "Hello, Ada Lovelace!", "name_length": 12})
    );
    assert_eq!(entry.stdout.as_deref(), Some(""));
    assert_eq!(entry.next.as_deref(), Some("end"));
}

fn small() -> FakeCode {
    FakeCode::default().on("small", |input| {
        let n = input["n"].as_i64().unwrap();
        let squares: Vec<i64> = (1..=n).map(|i| i * i).collect();
        ok(json!({"verdict": format!("small: {n}"), "squares": squares}))
    })
}

#[test]
fn conditional_in_label_mode() {
    let wf = fixture("branch_by_label");
    let r = run_simple(&wf, json!({"n": 7}), small()).result;
    assert_eq!(r.output, json!({"verdict": "small: 7"}));
    assert_eq!(r.state["squares"][6], json!(49));
    assert_eq!(visited(&r), ["start", "size", "small", "end"]);
    assert_eq!(r.trace[1].inputs, json!({"value": "small"}));

    let r = run_simple(&wf, json!({"n": 250}), small()).result;
    assert_eq!(r.output, json!({"verdict": "large: 250"}));
    assert_eq!(r.state["scaled"], json!(2.5));

    // "negative" has no edge: the default one is taken.
    let r = run_simple(&wf, json!({"n": -3}), small()).result;
    assert_eq!(r.output, json!({"verdict": "not positive"}));
    assert_eq!(visited(&r), ["start", "size", "other", "end"]);
}

#[test]
fn conditional_in_guard_mode() {
    let wf = fixture("branch_guards");
    let letter = || {
        FakeCode::default().on("letter", |i| {
            ok(json!(format!(
                "{}: {}",
                i["name"].as_str().unwrap(),
                i["grade"].as_str().unwrap()
            )))
        })
    };
    for (score, grade, node) in [
        (95, "A", "grade_a"),
        (82, "B", "grade_b"),
        (10, "C", "grade_c"),
    ] {
        let r = run_simple(&wf, json!({"score": score, "name": "Grace"}), letter()).result;
        assert_eq!(
            r.output,
            json!({"grade": grade, "letter": format!("Grace: {grade}")})
        );
        assert_eq!(visited(&r)[2], node);
    }
}

#[test]
fn conditional_without_a_match_fails_the_node() {
    let wf = Workflow::from_yaml(
        r#"
name: guards
inputs: [x]
nodes:
  - {id: start, type: start}
  - {id: pick, type: conditional}
  - {id: big, type: variable, config: {set: {size: "'big'"}}}
  - {id: end, type: end}
edges:
  - {source: start, target: pick}
  - {source: pick, target: big, condition: "inputs.x > 10"}
  - {source: big, target: end}
"#,
    )
    .unwrap();
    let r = run_simple(&wf, json!({"x": 1}), FakeCode::default()).result;
    assert_eq!(r.status, RunStatus::Error);
    let e = r.error.unwrap();
    assert_eq!(e.node.as_deref(), Some("pick"));
    assert_eq!(e.error.code, error_codes::NO_BRANCH);
    // Without `output`, the end node returns the whole state.
    let r = run_simple(&wf, json!({"x": 11}), FakeCode::default()).result;
    assert_eq!(r.output, json!({"inputs": {"x": 11}, "size": "big"}));
    assert_eq!(r.output, r.state);
}

#[test]
fn loop_over_a_list_with_iterations_in_the_trace() {
    let r = run_simple(
        &fixture("loop_over_sum"),
        fixture_input("loop_over_sum"),
        FakeCode::default(),
    )
    .result;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.error);
    assert_eq!(
        r.output,
        json!({"sum_squares": 154, "even_positions": [1, 3, 4]})
    );
    let loops: Vec<Option<u64>> = r
        .trace
        .iter()
        .filter(|e| e.node == "each")
        .map(|e| e.iteration)
        .collect();
    assert_eq!(loops, [Some(0), Some(1), Some(2), Some(3), Some(4), None]);
    let adds: Vec<Option<u64>> = r
        .trace
        .iter()
        .filter(|e| e.node == "add")
        .map(|e| e.iteration)
        .collect();
    assert_eq!(adds, [Some(0), Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(r.trace[2].outputs, json!({"item": 3, "i": 0}));
    let last_loop = r.trace.iter().rev().find(|e| e.node == "each").unwrap();
    assert_eq!(last_loop.next.as_deref(), Some("end"));
    assert!(r.trace.iter().all(|e| e.status == RunStatus::Ok));
    assert_eq!(r.trace.iter().filter(|e| e.iteration.is_none()).count(), 4);
}

#[test]
fn loop_over_a_too_long_list_fails_before_the_first_iteration() {
    let mut wf = fixture("loop_over_sum");
    wf.nodes[2].config["max_iterations"] = json!(3);
    let r = run_simple(&wf, fixture_input("loop_over_sum"), FakeCode::default()).result;
    let e = r.error.unwrap();
    assert_eq!(
        (e.node.as_deref(), e.error.code.as_str()),
        (Some("each"), error_codes::LOOP_LIMIT)
    );
    assert_eq!(r.trace.iter().filter(|e| e.node == "add").count(), 0);
}

fn collatz() -> FakeCode {
    FakeCode::default().on("step", |i| {
        let n = i["n"].as_i64().unwrap();
        let n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        ok(json!({"n": n, "steps": i["steps"].as_i64().unwrap() + 1}))
    })
}

#[test]
fn while_loop_and_its_max_iterations() {
    let mut wf = fixture("loop_while_collatz");
    let r = run_simple(&wf, json!({"n": 6}), collatz()).result;
    assert_eq!(
        r.output,
        json!({"steps": 8, "path": [6, 3, 10, 5, 16, 8, 4, 2, 1], "max": 6})
    );
    assert_eq!(r.state["iteration"], json!(7));

    // 8 iterations are needed; 7 allowed: starting the 8th fails the loop node.
    wf.nodes[2].config["max_iterations"] = json!(7);
    let r = run_simple(&wf, json!({"n": 6}), collatz()).result;
    assert_eq!(r.status, RunStatus::Error);
    let e = r.error.unwrap();
    assert_eq!(e.node.as_deref(), Some("until_one"));
    assert_eq!(e.error.code, error_codes::LOOP_LIMIT);
    assert_eq!(r.state["steps"], json!(7));
    assert_eq!(r.trace.last().unwrap().status, RunStatus::Error);

    // Exactly max_iterations iterations is fine.
    wf.nodes[2].config["max_iterations"] = json!(8);
    let r = run_simple(&wf, json!({"n": 6}), collatz()).result;
    assert_eq!(r.status, RunStatus::Ok);
}

#[test]
fn nested_loops_restart_the_inner_loop() {
    let code = FakeCode::default().on("total", |i| {
        let flat: Vec<i64> = i["table"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()))
            .collect();
        ok(json!({"total": flat.iter().sum::<i64>(), "cells": flat.len()}))
    });
    let r = run_simple(
        &fixture("nested_loops"),
        fixture_input("nested_loops"),
        code,
    )
    .result;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.error);
    assert_eq!(
        r.output,
        json!({"table": [[1, 2, 3, 4], [2, 4, 6, 8], [3, 6, 9, 12]], "total": 60, "cells": 12})
    );
    // The inner body runs inside the inner loop's iterations, the rest of the outer body
    // inside the outer loop's.
    let cells: Vec<Option<u64>> = r
        .trace
        .iter()
        .filter(|e| e.node == "cell")
        .map(|e| e.iteration)
        .collect();
    assert_eq!(
        cells,
        [0, 1, 2, 3]
            .repeat(3)
            .into_iter()
            .map(Some)
            .collect::<Vec<_>>()
    );
    let keeps: Vec<Option<u64>> = r
        .trace
        .iter()
        .filter(|e| e.node == "keep")
        .map(|e| e.iteration)
        .collect();
    assert_eq!(keeps, [Some(0), Some(1), Some(2)]);
}

#[test]
fn variable_assigns_simultaneously() {
    let wf = Workflow::from_yaml(
        r#"
name: swap
inputs: [a, b]
nodes:
  - {id: start, type: start}
  - {id: init, type: variable, config: {set: {a: inputs.a, b: inputs.b}}}
  - {id: swap, type: variable, config: {set: {a: b, b: a, sum: "a + b"}}}
  - {id: end, type: end, config: {output: {a: a, b: b, sum: sum}}}
edges:
  - {source: start, target: init}
  - {source: init, target: swap}
  - {source: swap, target: end}
"#,
    )
    .unwrap();
    let r = run_simple(&wf, json!({"a": 1, "b": 2}), FakeCode::default()).result;
    assert_eq!(r.output, json!({"a": 2, "b": 1, "sum": 3}));
    assert_eq!(r.trace[2].outputs, json!({"a": 2, "b": 1, "sum": 3}));
}

#[test]
fn error_edge_leads_to_the_handler_with_the_payload() {
    let code = FakeCode::default().on("parse", |_| {
        failed(
            "EXECUTION_ERROR",
            "JSONDecodeError: Expecting property name",
        )
    });
    let r = run_simple(&fixture("error_route"), fixture_input("error_route"), code).result;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.error);
    assert!(r.error.is_none());
    assert_eq!(
        r.output,
        json!({
            "status": "failed",
            "reason": "EXECUTION_ERROR: JSONDecodeError: Expecting property name",
            "size": null
        })
    );
    assert_eq!(
        r.state["failure"],
        json!({
            "node": "parse",
            "code": "EXECUTION_ERROR",
            "message": "JSONDecodeError: Expecting property name",
            "traceback": "Traceback (most recent call last):\nJSONDecodeError: Expecting property name"
        })
    );
    assert_eq!(r.state["failed_node"], json!("parse"));
    assert_eq!(visited(&r), ["start", "parse", "failed", "report", "end"]);
    let parse = &r.trace[1];
    assert_eq!(parse.status, RunStatus::Error);
    assert_eq!(parse.error.as_ref().unwrap().code, "EXECUTION_ERROR");
    assert_eq!(parse.next.as_deref(), Some("failed"));
}

#[test]
fn failure_without_error_edge_fails_the_run() {
    let code = FakeCode::default().on("greet", |_| failed("TIMEOUT", "took too long"));
    let r = run_simple(
        &fixture("greet_python"),
        fixture_input("greet_python"),
        code,
    )
    .result;
    assert_eq!(r.status, RunStatus::Error);
    assert_eq!(r.output, Value::Null);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.node.as_deref(), Some("greet"));
    assert_eq!(e.error.code, "TIMEOUT");
    assert_eq!(visited(&r), ["start", "greet"]);
    assert_eq!(r.trace[1].status, RunStatus::Error);
    assert_eq!(r.trace[1].next, None);
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["node"], json!("greet"));
    assert_eq!(json["code"], json!("TIMEOUT"));
}

fn doubling_validate() -> FakeCode {
    FakeCode::default().on("validate", |i| {
        let doubled: Vec<i64> = i["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() * 2)
            .collect();
        ok(json!(doubled))
    })
}

#[test]
fn retries_wait_with_backoff_then_succeed() {
    let mut attempts = 0;
    let code = doubling_validate().on("stats", move |_| {
        attempts += 1;
        if attempts < 3 {
            failed("EXECUTION_ERROR", "flaky")
        } else {
            Ok(CodeOutcome {
                result: json!({"mean": 4.0, "median": 4}),
                stdout: "3 values\n".into(),
            })
        }
    });
    let out = run_with(
        &fixture("retries_and_delay"),
        json!({"values": [1, 2, 3]}),
        code,
        &mut NoServices,
        Limits::default(),
    );
    let r = &out.result;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.error);
    assert_eq!(
        r.output,
        json!({"stats": {"mean": 4.0, "median": 4}, "log": "3 values\n"})
    );
    // The delay node, then backoff 100 ms and 100 × 2.
    assert_eq!(out.clock.sleeps, [20, 100, 200]);
    let stats = r.trace.iter().find(|e| e.node == "stats").unwrap();
    assert_eq!(stats.attempts, 3);
    assert_eq!(stats.started_ms, 20);
    assert_eq!(stats.duration_ms, 300);
    let retries: Vec<(u32, u64)> = out
        .events
        .iter()
        .filter_map(|e| match e {
            RunEvent::NodeRetrying {
                attempt, wait_ms, ..
            } => Some((*attempt, *wait_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(retries, [(1, 100), (2, 200)]);
    // Each attempt is capped by the node's timeout.
    assert!(out
        .code
        .calls
        .iter()
        .filter(|c| c.0 == "stats")
        .all(|c| c.2 == Some(10.0)));
}

#[test]
fn retries_exhausted_fail_the_node() {
    let code = doubling_validate().on("stats", |_| failed("EXECUTION_ERROR", "always"));
    let out = run_with(
        &fixture("retries_and_delay"),
        json!({"values": [1, 2, 3]}),
        code,
        &mut NoServices,
        Limits::default(),
    );
    assert_eq!(out.clock.sleeps, [20, 100, 200]);
    assert_eq!(out.code.calls.len(), 4);
    let e = out.result.error.unwrap();
    assert_eq!(e.node.as_deref(), Some("stats"));
    assert_eq!(e.error.message, "always");
}

#[test]
fn step_limit_bounds_the_run() {
    let out = run_with(
        &fixture("loop_over_sum"),
        fixture_input("loop_over_sum"),
        FakeCode::default(),
        &mut NoServices,
        Limits {
            max_steps: 6,
            ..Limits::default()
        },
    );
    let r = out.result;
    assert_eq!(r.status, RunStatus::Error);
    assert_eq!(r.trace.len(), 6);
    let e = r.error.unwrap();
    assert_eq!(e.error.code, error_codes::STEP_LIMIT);
    // start, init, each, add, each, add: the 7th step would be `each`.
    assert_eq!(e.node.as_deref(), Some("each"));
}

#[test]
fn time_limit_is_not_routed_to_error_edges() {
    // The delay of 20 ms would pass a 10 ms limit.
    let out = run_with(
        &fixture("retries_and_delay"),
        json!({"values": [1]}),
        doubling_validate(),
        &mut NoServices,
        Limits {
            max_duration: Duration::from_millis(10),
            ..Limits::default()
        },
    );
    assert!(out.clock.sleeps.is_empty());
    let e = out.result.error.unwrap();
    assert_eq!(e.error.code, error_codes::TIME_LIMIT);
    assert_eq!(e.node.as_deref(), Some("wait"));
}

#[test]
fn events_arrive_in_order() {
    let out = run_simple(
        &fixture("greet_python"),
        fixture_input("greet_python"),
        greet(),
    );
    let names: Vec<String> = out
        .events
        .iter()
        .map(|e| match e {
            RunEvent::NodeStarted { node, step, .. } => format!("started {node} {step}"),
            RunEvent::NodeFinished { entry } => format!("finished {}", entry.node),
            RunEvent::NodeRetrying { node, .. } => format!("retrying {node}"),
            RunEvent::RunFinished { status, .. } => format!("run {status:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "started start 1",
            "finished start",
            "started greet 2",
            "finished greet",
            "started end 3",
            "finished end",
            "run Ok"
        ]
    );
    let json = serde_json::to_value(&out.events[0]).unwrap();
    assert_eq!(
        json,
        json!({"event": "node_started", "node": "start", "type": "start", "step": 1})
    );
    let RunEvent::NodeFinished { entry } = &out.events[5] else {
        panic!()
    };
    assert_eq!(entry, out.result.trace.last().unwrap());
}

#[test]
fn services_for_memory_and_model() {
    let wf = fixture("chat_with_memory");
    let turn = || {
        FakeCode::default().on("turn", |i| {
            ok(json!({"user": i["message"], "assistant": i["reply"]}))
        })
    };
    let mut services = FakeServices::default();
    let first = run_with(
        &wf,
        json!({"thread_id": "t-1", "message": "hi"}),
        turn(),
        &mut services,
        Limits::default(),
    )
    .result;
    assert_eq!(first.status, RunStatus::Ok, "{:?}", first.error);
    let second = run_with(
        &wf,
        json!({"thread_id": "t-1", "message": "again"}),
        turn(),
        &mut services,
        Limits::default(),
    )
    .result;
    assert_eq!(
        second.output,
        json!({
            "reply": "echo: again",
            "turns": [
                {"user": "hi", "assistant": "echo: hi"},
                {"user": "again", "assistant": "echo: again"}
            ]
        })
    );
    // The system message was rendered with the history read from memory.
    assert_eq!(
        services.prompts[1].messages[0].1,
        r#"You are a concise assistant. Earlier turns: [{"assistant":"echo: hi","user":"hi"}]"#
    );

    // Without services, the memory node fails with NOT_CONFIGURED.
    let r = run_simple(&wf, json!({"thread_id": 1, "message": "x"}), turn()).result;
    let e = r.error.unwrap();
    assert_eq!(
        (e.node.as_deref(), e.error.code.as_str()),
        (Some("recall"), error_codes::NOT_CONFIGURED)
    );
}

#[test]
fn invalid_workflows_are_refused() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/unreachable.json");
    let wf = Workflow::from_path(&path).unwrap();
    let mut clock = FakeClock::default();
    let problems = run(
        &wf,
        json!({}),
        Host {
            code: &mut FakeCode::default(),
            services: &mut NoServices,
            clock: &mut clock,
            on_event: None,
        },
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        problems.iter().any(|p| p.code == "unreachable"),
        "{problems:?}"
    );
}
