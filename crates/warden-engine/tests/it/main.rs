//! Sessions against real sandboxes (root required, as in CI).

mod languages;
mod limits;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use warden_engine::error::DeathReason;
use warden_engine::{CellStatus, EngineError, Environment, Event, Session, SessionLimits};
use warden_jail::{Jail, JailConfig};
use warden_protocol::Language;

pub(crate) fn jail() -> Arc<Jail> {
    static JAIL: OnceLock<Arc<Jail>> = OnceLock::new();
    JAIL.get_or_init(|| Arc::new(Jail::new(JailConfig::default()).expect("jail")))
        .clone()
}

async fn session() -> Session {
    Session::start(
        jail(),
        Language::Python,
        SessionLimits::default(),
        &Environment::default(),
        None,
    )
    .await
    .expect("session starts")
}

pub(crate) const T: Duration = Duration::from_secs(20);

pub(crate) async fn run(s: &mut Session, code: &str) -> warden_engine::CellResult {
    s.execute(code, T, &mut |_| {}).await.expect("cell runs")
}

pub(crate) fn plain(r: &warden_engine::CellResult) -> Option<String> {
    r.value.as_ref().and_then(|v| v.get("text/plain").cloned())
}

#[tokio::test]
async fn variables_and_imports_persist_across_cells() {
    let mut s = session().await;
    let r = run(&mut s, "x = 1").await;
    assert_eq!(r.status, CellStatus::Ok);
    assert_eq!(r.value, None, "an assignment has no value");
    assert_eq!(plain(&run(&mut s, "x + 1").await).as_deref(), Some("2"));
    run(&mut s, "import math").await;
    assert_eq!(
        plain(&run(&mut s, "round(math.pi, 4)").await).as_deref(),
        Some("3.1416")
    );
    let r = run(&mut s, "'text'").await;
    assert_eq!(
        plain(&r).as_deref(),
        Some("'text'"),
        "the value is the repr"
    );
    assert_eq!(r.execution_count, 5);
    s.close().await;
}

#[tokio::test]
async fn stdout_stderr_and_the_value_are_separate() {
    let mut s = session().await;
    let r = run(
        &mut s,
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\n40 + 2",
    )
    .await;
    assert_eq!(r.stdout.text(), "out\n");
    assert_eq!(r.stderr.text(), "err\n");
    assert_eq!(plain(&r).as_deref(), Some("42"));
    s.close().await;
}

#[tokio::test]
async fn an_exception_reports_name_value_and_cell_line_and_keeps_the_session() {
    let mut s = session().await;
    run(&mut s, "y = 5").await;
    let r = run(&mut s, "a = 1\ndef f():\n    raise ValueError('boom')\nf()").await;
    assert_eq!(r.status, CellStatus::Error);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.name, "ValueError");
    assert_eq!(e.value, "boom");
    let tb = e.traceback.join("");
    assert!(
        tb.contains("<cell-2>") && tb.contains("line 3") && tb.contains("raise ValueError('boom')"),
        "{tb}"
    );
    assert!(
        !tb.contains("agent.py"),
        "the agent's frames are hidden: {tb}"
    );
    let r = s.execute("a\n", T, &mut |_| {}).await.unwrap();
    assert_eq!(
        plain(&r).as_deref(),
        Some("1"),
        "statements before the error ran"
    );
    assert_eq!(plain(&run(&mut s, "y").await).as_deref(), Some("5"));
    let r = run(&mut s, "def broken(:\n  pass").await;
    assert_eq!(r.error.unwrap().name, "SyntaxError");
    s.close().await;
}

#[tokio::test]
async fn a_matplotlib_figure_comes_back_as_png() {
    let mut s = session().await;
    let r = run(
        &mut s,
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nNone",
    )
    .await;
    assert_eq!(r.status, CellStatus::Ok, "{:?}", r.error);
    assert_eq!(
        r.outputs.len(),
        1,
        "{:?}",
        r.outputs
            .iter()
            .map(|o| o.keys().collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(&r.outputs[0]["image/png"])
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 1000);
    // Figures are closed after capture: the next cell shows none.
    assert!(run(&mut s, "1").await.outputs.is_empty());
    s.close().await;
}

#[tokio::test]
async fn a_dataframe_value_has_html_beside_plain_text() {
    let mut s = session().await;
    let r = run(
        &mut s,
        "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
    )
    .await;
    assert_eq!(r.status, CellStatus::Ok, "{:?}", r.error);
    let v = r.value.unwrap();
    assert!(v["text/html"].contains("<table"), "{v:?}");
    assert!(v["text/plain"].contains('a') && v["text/plain"].contains('y'));
    let r = run(&mut s, "display(pd.Series([7]))").await;
    assert_eq!(r.outputs.len(), 1);
    s.close().await;
}

#[tokio::test]
async fn output_streams_before_the_cell_ends() {
    let mut s = session().await;
    let start = Instant::now();
    let mut first: Option<Duration> = None;
    let mut on_event = |e: Event| {
        if matches!(e, Event::Stdout(_)) && first.is_none() {
            first = Some(start.elapsed());
        }
    };
    let r = s
        .execute(
            "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')",
            T,
            &mut on_event,
        )
        .await
        .unwrap();
    let end = start.elapsed();
    let first = first.expect("an stdout event arrived");
    assert!(
        end - first >= Duration::from_millis(800),
        "first chunk at {first:?}, end at {end:?}"
    );
    assert_eq!(r.stdout.text(), "first\nsecond\n");
    s.close().await;
}

#[tokio::test]
async fn an_interrupt_stops_a_busy_cell_and_keeps_state() {
    let mut s = session().await;
    run(&mut s, "x = 10").await;
    let pid = s.agent_pid().unwrap();
    let interrupter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The same signal Session::interrupt sends, by pid, as a concurrent caller would.
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
    });
    let start = Instant::now();
    let r = run(&mut s, "while True:\n    x += 0").await;
    interrupter.await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(r.error.as_ref().unwrap().name, "KeyboardInterrupt");
    assert!(!r.timed_out);
    assert_eq!(plain(&run(&mut s, "x").await).as_deref(), Some("10"));
    // An interrupt while idle is harmless.
    s.interrupt().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(plain(&run(&mut s, "x + 1").await).as_deref(), Some("11"));
    s.close().await;
}

#[tokio::test]
async fn a_cell_timeout_interrupts_first() {
    let mut s = session().await;
    let start = Instant::now();
    let r = s
        .execute(
            "import time\nwhile True: time.sleep(0.01)",
            Duration::from_secs(1),
            &mut |_| {},
        )
        .await
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(r.error.unwrap().name, "KeyboardInterrupt");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    assert_eq!(plain(&run(&mut s, "2 * 21").await).as_deref(), Some("42"));
    s.close().await;
}

#[tokio::test]
async fn a_cell_that_ignores_the_interrupt_kills_the_session() {
    let limits = SessionLimits {
        interrupt_grace: Duration::from_millis(500),
        ..SessionLimits::default()
    };
    let mut s = Session::start(
        jail(),
        Language::Python,
        limits,
        &Environment::default(),
        None,
    )
    .await
    .unwrap();
    // A cell that does not let itself be interrupted.
    let code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass";
    let start = Instant::now();
    let err = s
        .execute(code, Duration::from_millis(500), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::SessionDead(DeathReason::Timeout)),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    let again = s.execute("1", T, &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(again, EngineError::SessionDead(DeathReason::Timeout)),
        "{again}"
    );
}

#[tokio::test]
async fn an_interpreter_killed_from_outside_leaves_the_session_dead() {
    let mut s = session().await;
    run(&mut s, "x = 1").await;
    let pid = s.agent_pid().unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let err = s.execute("x", T, &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(err, EngineError::SessionDead(DeathReason::Exited)),
        "{err}"
    );
    assert_eq!(err.code(), warden_protocol::ErrorCode::SessionDead);
    // Later calls fail the same way at once, never hang.
    let start = Instant::now();
    assert!(s.execute("x", T, &mut |_| {}).await.is_err());
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn the_memory_limit_kills_the_session_and_says_so() {
    let mut limits = SessionLimits::default();
    limits.sandbox.memory_bytes = 96 << 20;
    let mut s = Session::start(
        jail(),
        Language::Python,
        limits,
        &Environment::default(),
        None,
    )
    .await
    .unwrap();
    let err = s
        .execute(
            "b = []\nwhile True: b.append(bytearray(8 << 20))",
            T,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::SessionDead(DeathReason::MemoryLimit)),
        "{err}"
    );
}

#[tokio::test]
async fn files_in_the_workspace_persist_across_cells() {
    let mut s = session().await;
    run(&mut s, "open('data.csv', 'w').write('a,b\\n1,2\\n')").await;
    let host = s.workspace().unwrap().join("data.csv");
    assert_eq!(std::fs::read_to_string(host).unwrap(), "a,b\n1,2\n");
    let r = run(&mut s, "open('/workspace/data.csv').read().splitlines()[1]").await;
    assert_eq!(plain(&r).as_deref(), Some("'1,2'"));
    s.close().await;
}

#[tokio::test]
async fn closing_the_program_stdout_does_not_break_the_session() {
    let mut s = session().await;
    let r = run(&mut s, "import os\nos.close(1)\n5").await;
    assert_eq!(plain(&r).as_deref(), Some("5"));
    assert_eq!(plain(&run(&mut s, "6").await).as_deref(), Some("6"));
    s.close().await;
}

#[tokio::test]
async fn concurrent_sessions_keep_their_variables_apart() {
    let handles: Vec<_> = (0..20)
        .map(|i| {
            tokio::spawn(async move {
                let mut s = session().await;
                run(&mut s, &format!("v = {i}")).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let got = plain(&run(&mut s, "v * 2").await);
                s.close().await;
                got
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), Some((i * 2).to_string()));
    }
}
