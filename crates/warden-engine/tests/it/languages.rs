//! JavaScript and bash sessions: the same result shape as Python, state across cells,
//! errors, interrupts, timeouts and exits.

use std::time::{Duration, Instant};

use warden_engine::error::DeathReason;
use warden_engine::{CellResult, CellStatus, EngineError, Environment, Session, SessionLimits};
use warden_protocol::Language;

use crate::{jail, plain, run, T};

async fn start(language: Language) -> Session {
    Session::start(
        jail(),
        language,
        SessionLimits::default(),
        &Environment::default(),
        None,
    )
    .await
    .expect("session starts")
}

/// Runs `code` while sending the session an interrupt after `after`, as
/// `POST /interrupt` does from another request.
async fn run_interrupted(s: &mut Session, code: &str, after: Duration) -> (CellResult, Duration) {
    let interrupter = s.interrupter().unwrap();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(after).await;
        interrupter.signal_program_tree(libc::SIGINT).unwrap();
    });
    let start = Instant::now();
    let r = run(s, code).await;
    sender.await.unwrap();
    (r, start.elapsed())
}

fn error_name(r: &CellResult) -> &str {
    r.error.as_ref().map(|e| e.name.as_str()).unwrap_or("")
}

#[tokio::test]
async fn javascript_keeps_state_and_awaits_at_the_top_level() {
    let mut s = start(Language::Javascript).await;
    let r = run(&mut s, "let x = 1\nconst double = (n) => n * 2").await;
    assert_eq!(r.status, CellStatus::Ok, "{:?}", r.error);
    assert_eq!(plain(&run(&mut s, "x + 1").await).as_deref(), Some("2"));
    assert_eq!(
        plain(
            &run(
                &mut s,
                "const y = await Promise.resolve(20);\ndouble(y) + x"
            )
            .await
        )
        .as_deref(),
        Some("41")
    );
    assert_eq!(
        plain(&run(&mut s, "y").await).as_deref(),
        Some("20"),
        "a declaration in an awaiting cell persists"
    );
    let r = run(
        &mut s,
        "await new Promise((r) => setTimeout(r, 50)); ({a: [1, 'two']})",
    )
    .await;
    assert_eq!(plain(&r).as_deref(), Some("{ a: [ 1, 'two' ] }"));
    let r = run(
        &mut s,
        "console.log('out'); console.error('err'); undefined",
    )
    .await;
    assert_eq!(r.stdout.text(), "out\n");
    assert_eq!(r.stderr.text(), "err\n");
    assert_eq!(r.value, None, "undefined has no value");
    let r = run(&mut s, "typeof require('fs').readFileSync").await;
    assert_eq!(plain(&r).as_deref(), Some("'function'"));
    assert_eq!(r.execution_count, 7);
    s.close().await;
}

#[tokio::test]
async fn a_javascript_exception_reports_name_value_and_cell_line() {
    let mut s = start(Language::Javascript).await;
    run(&mut s, "let kept = 5").await;
    let r = run(
        &mut s,
        "function f() {\n  throw new TypeError('bad input')\n}\nf()",
    )
    .await;
    assert_eq!(r.status, CellStatus::Error);
    let e = r.error.unwrap();
    assert_eq!(e.name, "TypeError");
    assert_eq!(e.value, "bad input");
    let tb = e.traceback.concat();
    assert!(tb.contains("<cell-2>:2"), "{tb}");
    assert!(
        !tb.contains("agent.js"),
        "the agent's own frames are hidden: {tb}"
    );
    let r = run(&mut s, "this is not javascript").await;
    assert_eq!(error_name(&r), "SyntaxError");
    let r = run(&mut s, "await Promise.reject(new RangeError('no'))").await;
    assert_eq!(error_name(&r), "RangeError");
    // A callback that throws later is reported on stderr and does not end the session.
    run(
        &mut s,
        "setTimeout(() => { throw new Error('later') }, 10); 0",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = run(&mut s, "kept").await;
    assert_eq!(plain(&r).as_deref(), Some("5"));
    assert!(r.stderr.text().contains("later"), "{:?}", r.stderr.text());
    s.close().await;
}

#[tokio::test]
async fn javascript_interrupts_stop_busy_and_waiting_cells_and_keep_state() {
    let mut s = start(Language::Javascript).await;
    run(&mut s, "let x = 10").await;
    let (r, took) = run_interrupted(
        &mut s,
        "while (true) { x += 0 }",
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(error_name(&r), "KeyboardInterrupt");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (r, took) = run_interrupted(
        &mut s,
        "await new Promise(() => {})",
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(error_name(&r), "KeyboardInterrupt");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(plain(&run(&mut s, "x + 1").await).as_deref(), Some("11"));
    // A cell timeout interrupts first: the session survives.
    let r = s
        .execute("while (true) {}", Duration::from_millis(500), &mut |_| {})
        .await
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(plain(&run(&mut s, "x").await).as_deref(), Some("10"));
    s.close().await;
}

#[tokio::test]
async fn process_exit_reports_the_cell_then_the_session_is_dead() {
    let mut s = start(Language::Javascript).await;
    let r = run(&mut s, "console.log('bye'); process.exit(4)").await;
    assert_eq!(r.stdout.text(), "bye\n");
    assert_eq!(error_name(&r), "ExitStatus");
    assert_eq!(r.error.unwrap().value, "exit status 4");
    let err = s.execute("1", T, &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(err, EngineError::SessionDead(DeathReason::Exited)),
        "{err}"
    );
}

#[tokio::test]
async fn bash_keeps_variables_functions_and_the_working_directory() {
    let mut s = start(Language::Bash).await;
    let r = run(
        &mut s,
        "x=41\nmkdir -p /workspace/sub && cd /workspace/sub\ngreet() { echo \"hello $1\"; }",
    )
    .await;
    assert_eq!(r.status, CellStatus::Ok, "{:?}", r.error);
    let r = run(&mut s, "echo $((x + 1)) $PWD; greet wörld").await;
    assert_eq!(r.stdout.text(), "42 /workspace/sub\nhello wörld\n");
    assert_eq!(r.value, None);
    // A cell runs at the shell's top level: `declare` makes globals, `$@` is empty.
    run(&mut s, "declare -A ages=([ann]=31); set -o noclobber").await;
    let r = run(&mut s, "echo ${ages[ann]} $#").await;
    assert_eq!(r.stdout.text(), "31 0\n");
    let r = run(&mut s, "echo to-stderr >&2; ls /nonexistent").await;
    assert_eq!(r.status, CellStatus::Error);
    assert_eq!(error_name(&r), "ExitStatus");
    assert_eq!(r.error.as_ref().unwrap().value, "exit status 2");
    assert!(r.stderr.text().starts_with("to-stderr\n"));
    // A large cell with multi-byte characters arrives whole (the length counts bytes).
    let line = "echo 'é€😀'\n";
    let code = line.repeat(4000);
    let r = run(&mut s, &format!("{code}echo end")).await;
    assert_eq!(r.stdout.text().lines().count(), 4001);
    assert!(r.stdout.text().ends_with("é€😀\nend\n"));
    assert_eq!(r.execution_count, 6);
    // bash strings cannot hold NUL: such code is refused, and the session goes on.
    let err = s.execute("echo a\0b", T, &mut |_| {}).await.unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err}");
    let r = run(&mut s, "echo $x").await;
    assert_eq!(r.stdout.text(), "41\n");
    s.close().await;
}

#[tokio::test]
async fn bash_interrupts_stop_loops_functions_and_child_processes() {
    let mut s = start(Language::Bash).await;
    run(
        &mut s,
        "x=10; spin() { while :; do :; done; echo not-here; }",
    )
    .await;
    for code in [
        "while true; do x=$x; done; echo not-here",
        "spin; echo not-here",
        "sleep 100; echo not-here",
        "/usr/bin/python3 -c 'while True: pass'; echo not-here",
    ] {
        let (r, took) = run_interrupted(&mut s, code, Duration::from_millis(300)).await;
        assert_eq!(error_name(&r), "KeyboardInterrupt", "{code}");
        assert!(took < Duration::from_secs(3), "{code}: {took:?}");
        assert!(!r.stdout.text().contains("not-here"), "{code}");
    }
    let r = run(&mut s, "echo $x").await;
    assert_eq!(r.stdout.text(), "10\n");
    // A cell timeout interrupts first: the session survives.
    let r = s
        .execute("sleep 100", Duration::from_millis(500), &mut |_| {})
        .await
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(run(&mut s, "echo $x").await.stdout.text(), "10\n");
    s.close().await;
}

#[tokio::test]
async fn bash_exit_reports_the_cell_then_the_session_is_dead() {
    let mut s = start(Language::Bash).await;
    let r = run(&mut s, "echo bye; exit 3").await;
    assert_eq!(r.stdout.text(), "bye\n");
    assert_eq!(r.error.unwrap().value, "exit status 3");
    let err = s.execute("echo 1", T, &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(err, EngineError::SessionDead(DeathReason::Exited)),
        "{err}"
    );
}

#[tokio::test]
async fn every_language_runs_inside_the_sandbox() {
    // The agents run with the same isolation as any sandboxed program.
    for (language, code) in [
        (
            Language::Javascript,
            "require('os').hostname() + ' ' + process.getuid()",
        ),
        (Language::Bash, "echo \"$(hostname) $(id -u)\""),
    ] {
        let mut s = start(language).await;
        let r = run(&mut s, code).await;
        let text = plain(&r).unwrap_or_else(|| r.stdout.text());
        assert!(text.contains("sandbox 1000"), "{language:?}: {text}");
        s.close().await;
    }
}
