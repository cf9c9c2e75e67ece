//! After 200 sandboxes — normal exits, errors, timeouts, memory kills and daemons left
//! running — the host's processes, cgroups, mounts and temporary directories are as before.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use warden_jail::{Command, Discard, Jail, JailConfig, LimitHit, Limits, Runtime};

#[derive(Debug, PartialEq, Eq)]
struct HostState {
    /// Processes running as the sandbox's host user, or children of this test process.
    sandbox_processes: BTreeSet<String>,
    /// Entries under `warden/` in every cgroup hierarchy warden uses.
    cgroups: BTreeSet<PathBuf>,
    /// Mount points under the run root (host side).
    mounts: BTreeSet<String>,
    /// Entries of the run root and of the system temp directory.
    run_dirs: BTreeSet<String>,
    temp_entries: BTreeSet<String>,
}

fn snapshot(jail: &Jail) -> HostState {
    let me = std::process::id().to_string();
    let mut sandbox_processes = BTreeSet::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(status) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        };
        let uid = field("Uid:").unwrap_or_default();
        let ppid = field("PPid:").unwrap_or_default();
        let state = field("State:").unwrap_or_default();
        // Exited processes that init has yet to reap hold nothing (gVisor's Sentry
        // helpers, whose parent `runsc` was killed, end up there; some inits reap late).
        if state == "Z" && ppid == "1" {
            continue;
        }
        // A thread of this very process is not a child; everything else parented here is.
        if uid == jail.config().host_uid.to_string() || (ppid == me && name != me) {
            sandbox_processes.insert(format!("{name} uid={uid} ppid={ppid} state={state}"));
        }
    }
    let mut cgroups = BTreeSet::new();
    for place in &jail.cgroups().places {
        if let Ok(rd) = fs::read_dir(place.own_dir.join("warden")) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    cgroups.insert(e.path());
                }
            }
        }
    }
    let run_root = jail.config().run_root.to_string_lossy().into_owned();
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|mp| mp.starts_with(&run_root))
        .collect();
    let names = |p: &std::path::Path| -> BTreeSet<String> {
        fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    HostState {
        sandbox_processes,
        cgroups,
        mounts,
        run_dirs: names(&jail.config().run_root),
        temp_entries: names(&std::env::temp_dir()),
    }
}

#[test]
fn two_hundred_sandboxes_leave_the_host_as_it_was() {
    let jail = Jail::new(JailConfig::default()).expect("jail");
    let before = snapshot(&jail);
    assert!(
        before.sandbox_processes.is_empty(),
        "stray processes before the test: {:?}",
        before.sandbox_processes
    );

    let quick = Limits {
        timeout: Duration::from_secs(10),
        memory_bytes: 128 << 20,
        ..Limits::default()
    };
    let mut timeouts = 0;
    let mut ooms = 0;
    for i in 0..200 {
        let (runtime, code, limits) = match i % 10 {
            // A daemon that double-forks, calls setsid and outlives its parent.
            0 => (
                Runtime::python(),
                "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(300)\n    os._exit(0)\nprint('parent done')",
                quick.clone(),
            ),
            1 => (Runtime::bash(), "sleep 300 & disown; nohup sleep 300 >/dev/null 2>&1 & echo started", quick.clone()),
            2 if i % 40 == 2 => (Runtime::python(), "while True: pass", Limits { timeout: Duration::from_millis(300), ..quick.clone() }),
            3 if i % 40 == 3 => (
                Runtime::python(),
                "b = []\nwhile True: b.append(bytearray(8 << 20))",
                Limits { memory_bytes: 32 << 20, ..quick.clone() },
            ),
            4 => (Runtime::javascript(), "setInterval(() => {}, 1000); console.log('node keeps running')", Limits { timeout: Duration::from_millis(400), ..quick.clone() }),
            5 => (Runtime::python(), "import sys; sys.exit(2)", quick.clone()),
            6 => (Runtime::bash(), "for i in 1 2 3; do (sleep 100 &) ; done; echo x", quick.clone()),
            _ => (Runtime::python(), "print('hi')", quick.clone()),
        };
        let mut cmd = Command::for_runtime(&runtime, code);
        cmd.limits = limits;
        let outcome = jail
            .run(cmd, &mut Discard)
            .unwrap_or_else(|e| panic!("sandbox {i} failed to run: {e}"));
        match outcome.limit {
            Some(LimitHit::Timeout) => timeouts += 1,
            Some(LimitHit::Memory) => ooms += 1,
            _ => {}
        }
    }
    assert!(timeouts >= 5, "the mix exercised timeouts ({timeouts})");
    assert!(ooms >= 5, "the mix exercised memory kills ({ooms})");

    // Teardown is synchronous: nothing may be left, not even briefly.
    let after = snapshot(&jail);
    assert_eq!(before, after);
}
