//! Specific validation rules, on small inline workflows.

use warden_flow::{codes, validate, Problem, Workflow};

fn problems(yaml: &str) -> Vec<Problem> {
    let wf = Workflow::from_yaml(yaml).unwrap();
    validate(&wf).err().unwrap_or_default()
}

fn has(problems: &[Problem], code: &str, node: &str) -> bool {
    problems
        .iter()
        .any(|p| p.code == code && p.node.as_deref() == Some(node))
}

#[test]
fn guard_conditions_are_parsed_and_their_keys_checked() {
    let p = problems(
        r#"
name: g
inputs: [n]
nodes:
  - {id: start, type: start}
  - {id: pick, type: conditional}
  - {id: end, type: end}
edges:
  - {source: start, target: pick}
  - {source: pick, target: end, condition: "inputs.n > 1"}
  - {source: pick, target: end, condition: "inputs.m > 1"}
  - {source: pick, target: end, condition: default}
"#,
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].code, p[0].edge), (codes::UNDEFINED_KEY, Some(2)));
    assert!(p[0].message.contains("inputs.m"), "{}", p[0].message);
}

#[test]
fn loop_variables_are_defined_after_the_loop_only() {
    let p = problems(
        r#"
name: l
inputs: [xs]
nodes:
  - {id: start, type: start}
  - {id: early, type: variable, config: {set: {first: "item"}}}
  - {id: each, type: loop, config: {over: inputs.xs, item_var: item, index_var: i, max_iterations: 5}}
  - {id: use, type: variable, config: {set: {last: "[i, item]"}}}
  - {id: end, type: end, config: {output: {last: last}}}
edges:
  - {source: start, target: early}
  - {source: early, target: each}
  - {source: each, target: use, condition: body}
  - {source: use, target: each}
  - {source: each, target: end, condition: done}
"#,
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(has(&p, codes::UNDEFINED_KEY, "early"), "{p:?}");
}

#[test]
fn error_handler_output_is_readable_downstream() {
    let p = problems(
        r#"
name: e
nodes:
  - {id: start, type: start}
  - {id: risky, type: code, config: {language: javascript, code: "throw new Error('x')"}}
  - {id: caught, type: error_handler, config: {output: failure}}
  - {id: end, type: end, config: {output: {why: failure.message, where: failure.node}}}
edges:
  - {source: start, target: risky}
  - {source: risky, target: end}
  - {source: risky, target: caught, condition: error}
  - {source: caught, target: end}
"#,
    );
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn config_limits_are_bad_config() {
    let p = problems(
        r#"
name: c
nodes:
  - {id: start, type: start}
  - id: run
    type: code
    config:
      language: python
      code: "result = 1"
      timeout: 0
      retries: {max: 99, factor: 0.5}
      output_mapping: {a: value}
  - {id: search, type: retrieval, config: {collection: docs, query: "'q'", top_k: 0, output: hits}}
  - {id: remember, type: memory, config: {thread: "'t'", op: append, key: k}}
  - {id: call, type: tool, config: {output: out}}
  - {id: end, type: end}
edges:
  - {source: start, target: run}
  - {source: run, target: search}
  - {source: search, target: remember}
  - {source: remember, target: call}
  - {source: call, target: end}
"#,
    );
    let bad: Vec<(&str, &str)> = p
        .iter()
        .filter(|p| p.code == codes::BAD_CONFIG)
        .map(|p| (p.node.as_deref().unwrap(), p.message.as_str()))
        .collect();
    for (node, fragment) in [
        ("run", "timeout"),
        ("run", "retries.max"),
        ("run", "retries.factor"),
        ("run", "must start with `result` or `stdout`"),
        ("search", "top_k"),
        ("remember", "needs `value`"),
        ("call", "`workflow` (an id) or `http`"),
    ] {
        assert!(
            bad.iter().any(|(n, m)| *n == node && m.contains(fragment)),
            "{node}: {fragment} not in {bad:?}"
        );
    }
}

#[test]
fn bad_templates_are_bad_expressions_with_columns() {
    let p = problems(
        r#"
name: t
nodes:
  - {id: start, type: start}
  - {id: fetch, type: http, config: {url: "https://x.test/{{ id + }}", output: r}}
  - {id: end, type: end}
edges:
  - {source: start, target: fetch}
  - {source: fetch, target: end}
"#,
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].code, codes::BAD_EXPRESSION);
    assert!(p[0].message.starts_with("`url`:"), "{}", p[0].message);
    assert!(p[0].message.contains("column 24"), "{}", p[0].message);
}
