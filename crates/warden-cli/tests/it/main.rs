//! The `warden` binary as a user runs it: streaming, exit statuses, `--json`, `doctor`,
//! and `warden serve`.

mod analysis;
mod console;
mod egress;
mod files;
mod flows;
mod mcp;
mod notebooks;
mod packages;
mod python_clients;
mod python_sdk;
mod schemathesis;
mod serve;
mod templates;
mod tenancy;
mod tiers;
mod tools;
mod typescript_sdk;
mod workflows;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn warden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn warden_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one JSON object: {text}"
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn print_one_prints_one() {
    let out = warden(&["run", "-c", "print(1)"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_programs_exit_code_becomes_wardens() {
    let out = warden(&[
        "run",
        "-c",
        "import sys; print('x', file=sys.stderr); sys.exit(5)",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "x\n");
}

#[test]
fn a_timeout_exits_124() {
    let out = warden(&["run", "--timeout", "0.5", "-c", "while True: pass"]);
    assert_eq!(out.status.code(), Some(124));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TIMEOUT"));
}

#[test]
fn a_memory_kill_exits_137() {
    let out = warden(&[
        "run",
        "--memory",
        "48",
        "-c",
        "b=[]\nwhile True: b.append(bytearray(8<<20))",
    ]);
    assert_eq!(out.status.code(), Some(137));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MEMORY_LIMIT"));
}

#[test]
fn a_sandbox_that_cannot_be_set_up_exits_125() {
    let out = warden(&["run", "--lang", "cobol", "-c", "x"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_REQUEST"));
    let out = warden(&["run", "--pids", "0", "-c", "print(1)"]);
    assert_eq!(out.status.code(), Some(125));
    let out = warden(&["run", "/no/such/file.py"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn without_user_namespaces_nothing_runs_and_the_step_is_named() {
    let harness = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/without_user_namespaces.py"
    );
    let out = Command::new("/usr/bin/python3")
        .args([
            harness,
            env!("CARGO_BIN_EXE_warden"),
            "run",
            "--json",
            "-c",
            "print('ran')",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["error"]["code"], "SANDBOX_SETUP_FAILED");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user namespaces are not available"),
        "{v}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ran\n"));
}

#[test]
fn json_mode_prints_every_documented_field() {
    let out = warden(&["run", "--json", "-c", "print('héllo')"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    for field in [
        "status",
        "error_code",
        "exit_code",
        "signal",
        "stdout",
        "stderr",
        "stdout_truncated",
        "stderr_truncated",
        "duration_ms",
        "cpu_time_ms",
        "peak_memory_bytes",
    ] {
        assert!(v.get(field).is_some(), "missing {field}: {v}");
    }
    assert_eq!(v["status"], "success");
    assert_eq!(v["error_code"], Value::Null);
    assert_eq!(v["stdout"], "héllo\n");
    assert!(v["duration_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn json_statuses_and_codes() {
    let cases: [(&[&str], &str, &str, i32); 4] = [
        (
            &["-c", "import sys; sys.exit(3)"],
            "error",
            "EXECUTION_ERROR",
            3,
        ),
        (
            &["--timeout", "0.5", "-c", "import time; time.sleep(10)"],
            "timeout",
            "TIMEOUT",
            124,
        ),
        (
            &[
                "--memory",
                "48",
                "-c",
                "b=[]\nwhile True: b.append(bytearray(8<<20))",
            ],
            "memory_limit",
            "MEMORY_LIMIT",
            137,
        ),
        (
            &["-c", "import os; os.kill(os.getpid(), 9)"],
            "killed",
            "KILLED",
            137,
        ),
    ];
    for (args, status, code, exit) in cases {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        let out = warden(&all);
        let v = json(&out);
        assert_eq!(v["status"], status, "{v}");
        assert_eq!(v["error_code"], code, "{v}");
        assert_eq!(out.status.code(), Some(exit), "{v}");
    }
}

#[test]
fn json_mode_reports_set_up_failures_in_the_error_shape() {
    let out = warden(&["run", "--json", "--lang", "cobol", "-c", "x"]);
    assert_eq!(out.status.code(), Some(125));
    let v = json(&out);
    assert_eq!(v["error"]["code"], "INVALID_REQUEST");
    assert!(v["error"]["message"].as_str().unwrap().contains("cobol"));
}

#[test]
fn json_output_is_truncated_at_the_limit() {
    let out = warden(&[
        "run",
        "--json",
        "--output-limit",
        "1000",
        "-c",
        "print('z' * 5000)",
    ]);
    let v = json(&out);
    assert_eq!(v["stdout_truncated"], true);
    assert_eq!(v["stdout"].as_str().unwrap().len(), 1000);
}

#[test]
fn the_language_follows_the_file_extension() {
    let dir = tempfile::tempdir().unwrap();
    let js = dir.path().join("hello.js");
    std::fs::write(&js, "console.log(typeof process)").unwrap();
    let sh = dir.path().join("hello.sh");
    std::fs::write(&sh, "echo $BASH_VERSION | cut -c1").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&warden(&["run", js.to_str().unwrap()]).stdout),
        "object\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&warden(&["run", sh.to_str().unwrap()]).stdout),
        "5\n"
    );
}

#[test]
fn code_can_come_from_standard_input() {
    let out = warden_stdin(&["run", "--lang", "bash", "-"], "echo from-stdin\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-stdin\n");
}

#[test]
fn standard_input_reaches_the_program() {
    let out = warden_stdin(
        &[
            "run",
            "-c",
            "import sys; print(sys.stdin.read().upper(), end='')",
        ],
        "abc\n",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ABC\n");
}

#[test]
fn doctor_reports_full_isolation_here() {
    let out = warden(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    for name in [
        "user namespaces",
        "seccomp",
        "landlock",
        "cgroup controller memory",
        "runtime python",
        "network egress",
    ] {
        let c = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}"));
        assert_eq!(c["ok"], true, "{c}");
    }
    assert_eq!(v["full_isolation"], true);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bench_runs_and_reports_ratios() {
    let out = warden(&["bench", "--runs", "3", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let warden_py = rows
        .iter()
        .find(|r| r["lang"] == "python" && r["launcher"] == "warden run")
        .unwrap();
    assert!(warden_py["ratio"].as_f64().unwrap() > 0.5);
    assert!(rows.iter().any(|r| r["launcher"] == "bare"));
    // The same benchmark by its own name.
    let out = warden(&["bench", "startup", "--runs", "1", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .is_array());
}

/// `warden bench serve` end to end with tiny counts: every row present, numbers positive,
/// no errors. The Jupyter baseline runs when `WARDEN_BENCH_JUPYTER_PYTHON` names a Python
/// with ipykernel and jupyter_client, and is otherwise skipped with a note.
#[test]
fn bench_serve_runs_and_reports_sane_rows() {
    let jupyter = std::env::var("WARDEN_BENCH_JUPYTER_PYTHON").ok();
    let mut args = vec![
        "bench",
        "serve",
        "--runs",
        "5",
        "--idle-sessions",
        "3",
        "--sessions",
        "4",
        "--cells",
        "5",
        "--pool-size",
        "2",
        "--json",
    ];
    if let Some(py) = &jupyter {
        args.extend(["--jupyter-python", py]);
    }
    let out = warden(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let find = |m: &str, sys: &str| {
        rows.iter()
            .find(|r| r["measurement"] == m && r["system"] == sys)
            .unwrap_or_else(|| panic!("no row {m} / {sys} in {report}"))
    };
    for (m, sys) in [
        ("session create (pool)", "warden"),
        ("session delete", "warden"),
        ("warm x + 1", "warden"),
        ("warm x + 1 after 10 ms idle", "warden"),
        ("one-shot print(1)", "warden"),
        ("one-shot print(1)", "bare python3"),
    ] {
        let r = find(m, sys);
        let (p50, p99) = (r["p50_ms"].as_f64().unwrap(), r["p99_ms"].as_f64().unwrap());
        assert!(p50 > 0.0 && p99 >= p50 && p99 < 60_000.0, "{r}");
        assert_eq!(r["samples"], 5, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
    }
    assert!(
        find("one-shot print(1)", "warden")["ratio"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let notes = report["notes"].to_string();
    if jupyter.is_some() {
        for m in ["warm x + 1", "warm x + 1 after 10 ms idle"] {
            let k = find(m, "jupyter kernel");
            assert!(k["p50_ms"].as_f64().unwrap() > 0.0, "{k}");
            assert!(find(m, "warden")["ratio"].as_f64().unwrap() > 0.0);
        }
    } else {
        assert!(notes.contains("Jupyter baseline skipped"), "{notes}");
    }
    let m = &report["memory"];
    assert!(m["sandboxes"].as_u64().unwrap() >= 3, "{m}");
    let per = m["per_session_pss_mib"].as_f64().unwrap();
    assert!(per > 0.5 && per < 200.0, "{m}");
    assert!(m["sessions_per_16_gib"].as_u64().unwrap() > 0, "{m}");
    let l = &report["load"];
    assert_eq!(l["cells"], 20, "{l}");
    assert_eq!(l["errors"], 0, "{l}");
    assert!(l["p50_ms"].as_f64().unwrap() > 0.0, "{l}");
}
