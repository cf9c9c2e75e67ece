//! The compiled Python program's code-node timeouts, run with `python3` (skipped when it
//! is not on the PATH; the sandboxed differential tests are in warden-cli).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use warden_flow::{compile_python, Workflow};

/// A Python node that sleeps longer than its timeout, its error edge to a handler.
const SLEEPER: &str = r#"
name: sleeper
nodes:
  - {id: start, type: start}
  - id: nap
    type: code
    config:
      language: python
      code: "import time\ntime.sleep(1.5)\nresult = 'slept'"
      timeout: 0.3
      output_mapping: {slept: result}
  - {id: woken, type: error_handler, config: {output: failure}}
  - {id: end, type: end}
edges:
  - {source: start, target: nap}
  - {source: nap, target: end}
  - {source: nap, target: woken, condition: error}
  - {source: woken, target: end}
"#;

/// Loads the program as a module (`__name__` is not `__main__`), then runs `driver`,
/// which prints one JSON value.
fn python(program: &str, driver: &str) -> Option<Value> {
    let script = format!(
        "import json, signal, sys, threading\nns = {{'__name__': 'flow'}}\n\
         exec(compile(sys.stdin.read(), 'flow.py', 'exec'), ns)\n{driver}"
    );
    let mut child = match Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => {
            eprintln!("python3 not found: skipped");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(program.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr))),
    )
}

#[test]
fn python_timeouts_compile_deterministically() {
    let wf = Workflow::from_yaml(SLEEPER).unwrap();
    let program = compile_python(&wf).unwrap();
    assert_eq!(program, compile_python(&wf).unwrap());
    assert!(program.contains("        timeout=0.3,\n"), "{program}");
    assert!(program.contains("run_python(code, input_data, limit, self.namespace)"));
}

#[test]
fn python_timeouts_fire_on_the_main_thread_and_restore_the_alarm() {
    let program = compile_python(&Workflow::from_yaml(SLEEPER).unwrap()).unwrap();
    let started = Instant::now();
    let Some(v) = python(
        &program,
        "def mine(signum, frame):\n    pass\n\
         signal.signal(signal.SIGALRM, mine)\n\
         r = ns['run_workflow']({})\n\
         print(json.dumps({'result': r, 'restored': signal.getsignal(signal.SIGALRM) is mine,\n\
         \x20   'timer': signal.getitimer(signal.ITIMER_REAL)[0]}))\n",
    ) else {
        return;
    };
    assert!(started.elapsed() < Duration::from_millis(1400), "{v}");
    let state = &v["result"]["state"];
    assert_eq!(v["result"]["status"], "ok", "{v}");
    assert_eq!(state["failure"]["code"], "TIMEOUT", "{v}");
    assert_eq!(
        state["failure"]["message"], "the code node's timeout fired",
        "{v}"
    );
    assert_eq!(state["failure"]["traceback"], Value::Null);
    assert_eq!(state["slept"], Value::Null);
    assert_eq!(v["restored"], true, "{v}");
    assert_eq!(v["timer"], 0.0, "{v}");
}

#[test]
fn python_timeouts_are_skipped_off_the_main_thread() {
    let program = compile_python(&Workflow::from_yaml(SLEEPER).unwrap()).unwrap();
    let Some(v) = python(
        &program,
        "out = {}\n\
         t = threading.Thread(target=lambda: out.update(ns['run_workflow']({})))\n\
         t.start()\nt.join()\nprint(json.dumps(out))\n",
    ) else {
        return;
    };
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["state"]["slept"], "slept", "{v}");
    assert_eq!(v["state"]["failure"], Value::Null, "{v}");
}
