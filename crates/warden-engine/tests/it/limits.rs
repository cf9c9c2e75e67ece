//! A session's limits hold for its whole life, across cells.

use std::time::Duration;

use warden_engine::error::DeathReason;
use warden_engine::{CellStatus, EngineError, Environment, Session, SessionLimits};
use warden_protocol::Language;

use crate::{jail, plain, run, T};

async fn with(limits: SessionLimits) -> Session {
    Session::start(
        jail(),
        Language::Python,
        limits,
        &Environment::default(),
        None,
    )
    .await
    .expect("session starts")
}

#[tokio::test]
async fn the_disk_limit_holds_across_cells() {
    let mut limits = SessionLimits::default();
    limits.sandbox.workspace_bytes = 2 << 20;
    let mut s = with(limits).await;
    let write = "try:\n    open('/workspace/f%d', 'wb').write(b'x' * (%d << 10)); r = 'written'\n\
                 except OSError as e:\n    r = e.errno\nr";
    let cell = |n: u32, kib: u32| {
        write
            .replacen("%d", &n.to_string(), 1)
            .replacen("%d", &kib.to_string(), 1)
    };
    assert_eq!(
        plain(&run(&mut s, &cell(1, 1536)).await).as_deref(),
        Some("'written'")
    );
    // The second cell finds the space the first one used still taken.
    assert_eq!(
        plain(&run(&mut s, &cell(2, 1024)).await).as_deref(),
        Some("28")
    );
    run(
        &mut s,
        "import os; os.remove('/workspace/f1'); os.remove('/workspace/f2')",
    )
    .await;
    assert_eq!(
        plain(&run(&mut s, &cell(3, 1024)).await).as_deref(),
        Some("'written'")
    );
}

#[tokio::test]
async fn the_pids_limit_holds_and_the_session_survives_hitting_it() {
    let mut limits = SessionLimits::default();
    limits.sandbox.pids = 16;
    let mut s = with(limits).await;
    let code = "import threading, time\n\
                ev = threading.Event()\n\
                started = []\n\
                try:\n\
                \x20   for i in range(64):\n\
                \x20       t = threading.Thread(target=ev.wait); t.start(); started.append(t)\n\
                except RuntimeError as e:\n\
                \x20   err = str(e)\n\
                ev.set()\n\
                for t in started: t.join()\n\
                (len(started), err)";
    for _ in 0..2 {
        let r = run(&mut s, code).await;
        assert_eq!(r.status, CellStatus::Ok, "{:?}", r.error);
        let v = plain(&r).unwrap();
        let n: u32 = v[1..v.find(',').unwrap()].parse().unwrap();
        assert!(n < 16, "{v}");
        assert!(v.contains("can't start new thread"), "{v}");
    }
    assert_eq!(plain(&run(&mut s, "1 + 1").await).as_deref(), Some("2"));
}

#[tokio::test]
async fn cpu_time_adds_up_over_the_session_life() {
    let mut limits = SessionLimits::default();
    limits.sandbox.cpu_time = Some(Duration::from_secs(2));
    let mut s = with(limits).await;
    let burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.2: pass";
    // 1.2 s fits the 2 s budget; a second 1.2 s does not, though each cell alone would.
    run(&mut s, burn).await;
    let err = s.execute(burn, T, &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(err, EngineError::SessionDead(DeathReason::CpuLimit)),
        "{err}"
    );
    let again = s.execute("1", T, &mut |_| {}).await.unwrap_err();
    assert!(matches!(
        again,
        EngineError::SessionDead(DeathReason::CpuLimit)
    ));
}
