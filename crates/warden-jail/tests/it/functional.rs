//! Functional behaviour: streams, exit statuses, runtimes, limits and set-up errors.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use warden_jail::{
    Command, Discard, Exit, Jail, JailConfig, JailError, LimitHit, Limits, Runtime, Stage, Stdin,
};

use crate::*;

#[test]
fn stdout_and_stderr_are_kept_apart() {
    let o = py("import sys\nprint('to out')\nprint('to err', file=sys.stderr)");
    assert_eq!(o.exit, Exit::Code(0));
    assert_eq!(stdout(&o), "to out\n");
    assert_eq!(stderr(&o), "to err\n");
    assert!(!o.stdout.truncated && !o.stderr.truncated);
}

#[test]
fn exit_codes_pass_through() {
    assert_eq!(py("import sys; sys.exit(3)").exit, Exit::Code(3));
    assert_eq!(sh("exit 42").exit, Exit::Code(42));
    assert_eq!(js("process.exit(7)").exit, Exit::Code(7));
}

#[test]
fn an_uncaught_exception_exits_1_with_a_traceback() {
    let o = py("def f():\n    raise ValueError('boom')\nf()");
    assert_eq!(o.exit, Exit::Code(1));
    let err = stderr(&o);
    assert!(
        err.contains("Traceback") && err.contains("ValueError: boom"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(o.limit, None);
}

#[test]
fn a_signal_death_is_reported_as_a_signal() {
    let o = py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)");
    assert_eq!(o.exit, Exit::Signal(libc::SIGTERM));
    assert_eq!(o.limit, None);
}

#[test]
fn the_program_starts_with_default_signal_dispositions_and_no_blocked_signals() {
    // The supervisor (a Rust program) ignores SIGPIPE; the program must not inherit that.
    let out = ok_stdout(&sh("grep -E '^Sig(Ign|Blk)' /proc/self/status; python3 -c 'import signal; print(\"blocked\", sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))'; yes | head -1 >/dev/null; echo \"status ${PIPESTATUS[0]}\""));
    if TIER == Tier::Namespaces {
        // gVisor: the Sentry's /proc/PID/status has no Sig* lines (the mask is asked below).
        assert!(out.contains("SigIgn:\t0000000000000000"), "{out}");
        assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
    }
    assert!(out.contains("blocked []"), "{out}");
    assert!(
        out.contains("status 141"),
        "yes should die of SIGPIPE: {out}"
    );
}

#[test]
fn stdin_reaches_the_program() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    writer.write_all("line one\nзвезда ★\n".as_bytes()).unwrap();
    drop(writer);
    let mut cmd = Command::for_runtime(
        &Runtime::python(),
        "import sys\ndata = sys.stdin.read()\nprint(len(data.splitlines()), data.upper(), end='')",
    );
    cmd.stdin = Stdin::Fd(OwnedFd::from(reader));
    cmd.limits = test_limits();
    let o = jail().run(cmd, &mut Discard).unwrap();
    assert_eq!(ok_stdout(&o), "2 LINE ONE\nЗВЕЗДА ★\n");
}

#[test]
fn stdin_defaults_to_empty() {
    let o = py("import sys; print(repr(sys.stdin.read()))");
    assert_eq!(ok_stdout(&o), "''\n");
}

#[test]
fn unicode_round_trips_in_every_runtime() {
    let text = "héllo 世界 🎉 ñ";
    assert_eq!(
        ok_stdout(&py(&format!("print({text:?})"))),
        format!("{text}\n")
    );
    assert_eq!(
        ok_stdout(&js(&format!("console.log({text:?})"))),
        format!("{text}\n")
    );
    assert_eq!(
        ok_stdout(&sh(&format!("echo '{text}'"))),
        format!("{text}\n")
    );
}

#[test]
fn large_output_below_the_cap_is_kept_whole() {
    let o = py("import sys\nsys.stdout.write('x' * 900_000)");
    assert_eq!(o.exit, Exit::Code(0));
    assert_eq!(o.stdout.bytes.len(), 900_000);
    assert!(!o.stdout.truncated);
    assert_eq!(o.stdout.total, 900_000);
}

#[test]
fn output_above_the_cap_is_truncated_but_drained() {
    let limits = Limits {
        output_bytes: 10_000,
        ..test_limits()
    };
    let o = py_limits("import sys\nfor _ in range(300):\n    sys.stdout.write('y' * 10_000)\nprint('done', file=sys.stderr)", limits);
    assert_eq!(
        o.exit,
        Exit::Code(0),
        "the program must not block on a full pipe"
    );
    assert_eq!(o.stdout.bytes.len(), 10_000);
    assert!(o.stdout.truncated);
    assert_eq!(o.stdout.total, 3_000_000);
    assert_eq!(stderr(&o), "done\n");
}

#[test]
fn python_javascript_and_bash_all_run() {
    assert_eq!(
        ok_stdout(&py("import sys; print(sys.version_info[0])")),
        "3\n"
    );
    assert_eq!(
        ok_stdout(&js(
            "const x = [1,2,3].map(n => n * 2); console.log(JSON.stringify(x))"
        )),
        "[2,4,6]\n"
    );
    assert_eq!(
        ok_stdout(&sh("x=5; echo $((x * 3)); echo $0")),
        "15\n/run/warden/main.sh\n"
    );
}

#[test]
fn javascript_top_level_await_runs_in_a_module_file() {
    // Plain .js is CommonJS; asynchronous code still completes before exit.
    let o = js("setTimeout(() => console.log('later'), 50); console.log('now')");
    assert_eq!(ok_stdout(&o), "now\nlater\n");
}

#[test]
fn the_environment_is_built_not_inherited() {
    let out = ok_stdout(&py(
        "import os\nfor k in sorted(os.environ): print(k + '=' + os.environ[k])",
    ));
    assert!(out.contains("HOME=/workspace\n"), "{out}");
    assert!(out.contains("PATH=/usr/local/bin:/usr/bin:/bin\n"), "{out}");
    assert!(out.contains("LANG=C.UTF-8\n"), "{out}");
    assert!(out.contains("PYTHONUNBUFFERED=1\n"), "{out}");
    let keys: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    for k in &keys {
        assert!(
            warden_jail::BASE_ENV.iter().any(|(b, _)| b == k)
                || ["PYTHONPATH", "PWD", "LC_CTYPE"].contains(k),
            "unexpected variable {k}"
        );
    }
}

#[test]
fn the_working_directory_is_a_writable_workspace() {
    let out = ok_stdout(&py("import os\nopen('f.txt','w').write('hi')\nprint(os.getcwd(), open('/workspace/f.txt').read())"));
    assert_eq!(out, "/workspace hi\n");
}

#[test]
fn modules_in_the_workspace_are_importable() {
    let out = ok_stdout(&py(
        "open('helper.py','w').write('X = 41')\nimport importlib, helper\nprint(helper.X + 1)",
    ));
    assert_eq!(out, "42\n");
}

#[test]
fn a_bound_directory_is_readable_but_read_only_and_sealed() {
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir(host.path().join("pkg")).unwrap();
    std::fs::write(host.path().join("pkg/__init__.py"), "VALUE = 41 + 1\n").unwrap();
    let code = r#"
import os, sys
sys.path.insert(0, '/opt/warden/lib')
import pkg
print(pkg.VALUE)
for attempt in (
    lambda: open('/opt/warden/lib/pkg/__init__.py', 'a'),
    lambda: open('/opt/warden/lib/new.py', 'w'),
    lambda: os.mkdir('/opt/warden/other'),
    lambda: os.chmod('/opt/warden/lib/pkg', 0o777),
):
    try:
        attempt()
        print('WROTE')
    except OSError as e:
        print(e.errno)
print([l.split()[5] for l in open('/proc/self/mountinfo') if l.split()[4] == '/opt/warden/lib'])
"#;
    let mut cmd = Command::for_runtime(&Runtime::python(), code);
    cmd.limits = test_limits();
    cmd.binds = vec![warden_jail::Bind {
        host: host.path().to_path_buf(),
        inside: "/opt/warden/lib".into(),
    }];
    let o = jail().run(cmd, &mut Discard).unwrap();
    assert_eq!(o.exit, Exit::Code(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("42\n"), "{out}");
    assert!(!out.contains("WROTE"), "{out}");
    // The mount is read-only, nosuid and nodev.
    let options = out.lines().last().unwrap();
    assert!(options.contains("ro"), "{out}");
    // gVisor: its mountinfo shows only ro/rw (the bundle asks nosuid and nodev all the same).
    if TIER == Tier::Namespaces {
        assert!(
            options.contains("nosuid") && options.contains("nodev"),
            "{out}"
        );
    }
    // Nothing changed on the host.
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 1);
}

#[test]
fn binds_outside_their_root_or_overlapping_are_refused() {
    let host = tempfile::tempdir().unwrap();
    for (inside, second) in [
        ("/usr/lib/x", None),
        ("/opt/warden", None),
        ("/opt/warden/../etc", None),
        ("/opt/warden/a", Some("/opt/warden/a/b")),
    ] {
        let mut cmd = Command::for_runtime(&Runtime::python(), "print(1)");
        cmd.limits = test_limits();
        for i in std::iter::once(inside).chain(second) {
            cmd.binds.push(warden_jail::Bind {
                host: host.path().to_path_buf(),
                inside: i.into(),
            });
        }
        assert!(
            matches!(jail().run(cmd, &mut Discard), Err(JailError::Invalid(_))),
            "{inside} {second:?}"
        );
    }
    let mut cmd = Command::for_runtime(&Runtime::python(), "print(1)");
    cmd.binds.push(warden_jail::Bind {
        host: host.path().join("missing"),
        inside: "/opt/warden/x".into(),
    });
    assert!(matches!(
        jail().run(cmd, &mut Discard),
        Err(JailError::Invalid(_))
    ));
}

#[test]
fn a_kept_workspace_is_copied_out() {
    let dest = tempfile::tempdir().unwrap();
    let target = dest.path().join("ws");
    let mut cmd = Command::for_runtime(&Runtime::python(), "import os\nos.makedirs('a/b')\nopen('a/b/c.txt','w').write('kept')\nos.symlink('/etc/hostname', 'link')");
    cmd.limits = test_limits();
    cmd.keep_workspace = Some(target.clone());
    let o = jail().run(cmd, &mut Discard).unwrap();
    assert_eq!(o.exit, Exit::Code(0), "{}", stderr(&o));
    assert_eq!(o.kept_workspace.as_deref(), Some(target.as_path()));
    assert_eq!(
        std::fs::read_to_string(target.join("a/b/c.txt")).unwrap(),
        "kept"
    );
    // Symlinks are copied as symlinks, never followed.
    assert!(std::fs::symlink_metadata(target.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn the_timeout_fires_within_half_a_second() {
    let limits = Limits {
        timeout: Duration::from_millis(1500),
        ..test_limits()
    };
    let start = Instant::now();
    let o = py_limits("while True:\n    pass", limits);
    let elapsed = start.elapsed();
    assert_eq!(o.limit, Some(LimitHit::Timeout));
    assert_eq!(o.exit, Exit::Signal(libc::SIGKILL));
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed <= Duration::from_millis(2000),
        "took {elapsed:?}"
    );
}

#[test]
fn a_sleeping_program_also_times_out() {
    let limits = Limits {
        timeout: Duration::from_secs(1),
        ..test_limits()
    };
    let start = Instant::now();
    let o = run_with(Runtime::bash(), "sleep 30", limits);
    assert_eq!(o.limit, Some(LimitHit::Timeout));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed <= Duration::from_millis(1500),
        "took {elapsed:?}"
    );
}

#[test]
fn the_memory_limit_is_reported() {
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..test_limits()
    };
    let o = py_limits(
        "blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))",
        limits,
    );
    assert_eq!(
        o.limit,
        Some(LimitHit::Memory),
        "exit {:?}, stderr {}",
        o.exit,
        stderr(&o)
    );
    assert_eq!(o.exit, Exit::Signal(libc::SIGKILL));
    let peak = o.peak_memory.expect("peak memory is reported");
    // gVisor: the cgroup holds the Sentry too, and is given its overhead on top.
    let allowance = match TIER {
        Tier::Gvisor => warden_jail::gvisor::MEMORY_OVERHEAD,
        Tier::Namespaces => 0,
    };
    assert!(
        peak > 32 << 20 && peak <= (64 << 20) + (1 << 20) + allowance,
        "peak {peak}"
    );
}

#[test]
fn memory_below_the_limit_is_fine_and_peak_is_measured() {
    let o = py("b = bytearray(40 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('ok')");
    assert_eq!(ok_stdout(&o), "ok\n");
    let peak = o.peak_memory.unwrap();
    assert!(peak >= 40 << 20, "peak {peak}");
}

#[test]
fn the_cpu_time_limit_is_reported() {
    let limits = Limits {
        cpu_time: Some(Duration::from_secs(1)),
        timeout: Duration::from_secs(10),
        ..test_limits()
    };
    let o = py_limits("while True:\n    pass", limits);
    assert_eq!(o.limit, Some(LimitHit::CpuTime), "exit {:?}", o.exit);
    assert!(
        o.cpu_time >= Duration::from_millis(900),
        "cpu {:?}",
        o.cpu_time
    );
    assert!(o.duration < Duration::from_secs(5));
}

#[test]
fn a_program_that_ignores_sigxcpu_is_killed_a_second_later() {
    let limits = Limits {
        cpu_time: Some(Duration::from_secs(1)),
        timeout: Duration::from_secs(10),
        ..test_limits()
    };
    let o = py_limits(
        "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass",
        limits,
    );
    assert_eq!(o.exit, Exit::Signal(libc::SIGKILL));
    assert_eq!(o.limit, Some(LimitHit::CpuTime), "cpu {:?}", o.cpu_time);
    assert!(
        o.cpu_time >= Duration::from_millis(1500),
        "cpu {:?}",
        o.cpu_time
    );
}

#[test]
fn cpu_bandwidth_is_capped_by_cpus() {
    let limits = Limits {
        cpus: Some(0.25),
        ..test_limits()
    };
    // Spin for 1 s of wall time; with a quarter of a core, CPU time stays well below it.
    let o = py_limits(
        "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass",
        limits,
    );
    assert_eq!(o.exit, Exit::Code(0));
    assert!(
        o.cpu_time < Duration::from_millis(600),
        "cpu {:?} over 1 s",
        o.cpu_time
    );
}

#[test]
fn duration_and_cpu_time_are_measured() {
    let o = py("s = 0\nfor i in range(3_000_000): s += i\nprint(s)");
    assert_eq!(
        ok_stdout(&o),
        format!("{}\n", (0u64..3_000_000).sum::<u64>())
    );
    assert!(o.cpu_time > Duration::from_millis(20), "{:?}", o.cpu_time);
    assert!(o.duration >= o.cpu_time / 2);
}

#[test]
fn pids_limit_stops_runaway_forks() {
    let limits = Limits {
        pids: 8,
        ..test_limits()
    };
    let o = py_limits(
        "import os\nn = 0\ntry:\n    for _ in range(50):\n        if os.fork() == 0:\n            import time; time.sleep(5); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print('stopped at', n, e.errno)",
        limits,
    );
    let out = ok_stdout(&o);
    assert!(out.starts_with("stopped at "), "{out}");
    let n: u32 = out.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(n < 8, "forked {n} children under a limit of 8");
}

#[test]
fn a_missing_program_is_a_runtime_not_found_error() {
    let err = jail()
        .run(Command::new("/usr/bin/no-such-interpreter"), &mut Discard)
        .unwrap_err();
    assert!(matches!(err, JailError::RuntimeNotFound { .. }), "{err}");
}

#[test]
fn invalid_limits_are_refused_before_anything_starts() {
    let mut cmd = Command::new("/bin/true");
    cmd.limits.pids = 0;
    let err = jail().run(cmd, &mut Discard).unwrap_err();
    assert!(matches!(err, JailError::Invalid(_)), "{err}");
}

#[test]
fn a_failing_setup_step_is_named_and_nothing_runs() {
    // The kernel refuses host names longer than 64 bytes: a real failure inside the child.
    let config = JailConfig {
        hostname: "h".repeat(100),
        run_root: std::env::temp_dir().join(format!("warden-test-setup-{}", std::process::id())),
        ..JailConfig::default()
    };
    let jail = Jail::new(config.clone()).unwrap();
    let mut cmd = Command::for_runtime(&Runtime::bash(), "touch /workspace/ran; echo ran");
    cmd.limits = test_limits();
    let err = jail.run(cmd, &mut Discard).unwrap_err();
    match &err {
        JailError::Setup { stage, source, .. } => {
            assert_eq!(*stage, Stage::Hostname);
            assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
        }
        other => panic!("expected a set-up error, got {other}"),
    }
    assert!(err.to_string().contains("set the hostname"), "{err}");
    // The failed sandbox left nothing behind.
    let left: Vec<_> = std::fs::read_dir(&config.run_root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| warden_jail::is_run_dir_name(&e.file_name()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The jail made its run root a tmpfs of its own.
    let status = std::process::Command::new("umount")
        .arg(&config.run_root)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&config.run_root).unwrap();
}

#[test]
fn a_bad_seccomp_profile_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bad.json");
    std::fs::write(&profile, r#"{"deny": {"mismatch_action": "allow", "match_action": {"errno": 1}, "filter": [{"syscall": "not_a_syscall"}]}}"#).unwrap();
    let config = JailConfig {
        seccomp_profile: Some(profile),
        ..JailConfig::default()
    };
    let err = Jail::new(config).err().expect("a bad profile must fail");
    assert!(matches!(err, JailError::SeccompProfile { .. }), "{err}");
}

#[test]
fn many_sandboxes_can_run_at_once_from_many_threads() {
    let handles: Vec<_> = (0..8)
        .map(|i| std::thread::spawn(move || ok_stdout(&py(&format!("print({i} * {i})")))))
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), format!("{}\n", i * i));
    }
}

#[test]
fn leftovers_of_a_dead_supervisor_are_removed_at_start() {
    // A pid above the kernel's maximum can never be alive.
    let dead_pid = 4_194_305 + std::process::id();
    let name = format!("{dead_pid}-0-dead");
    // (The shared jail is set up first: its own start would reap what follows.)
    let place = jail()
        .cgroups()
        .place(warden_jail::cgroup::Controller::Pids)
        .unwrap()
        .own_dir
        .join("warden")
        .join(&name);
    let run_root = JailConfig::default().run_root;
    let run_dir = run_root.join(&name);
    let ws = run_dir.join("workspace");
    std::fs::create_dir_all(&ws).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&ws)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(ws.join("left.txt"), "x").unwrap();
    std::fs::create_dir(&place).unwrap();
    // A second directory of the same dead supervisor goes too (each pid is looked up
    // once), and both directories of a live supervisor must survive.
    let run_dir2 = run_root.join(format!("{dead_pid}-1-dead"));
    std::fs::create_dir_all(&run_dir2).unwrap();
    let alive = run_root.join(format!("{}-999-live", std::process::id()));
    let alive2 = run_root.join(format!("{}-998-live", std::process::id()));
    std::fs::create_dir_all(&alive).unwrap();
    std::fs::create_dir_all(&alive2).unwrap();

    let _fresh = Jail::new(JailConfig::default()).unwrap();

    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(ws.to_str().unwrap());
    assert!(!mounted, "the stale workspace is still mounted");
    assert!(!run_dir.exists(), "the stale run directory remains");
    assert!(!run_dir2.exists(), "the second stale run directory remains");
    assert!(!place.exists(), "the stale cgroup remains");
    assert!(alive.exists(), "a live supervisor's directory was removed");
    assert!(
        alive2.exists(),
        "a live supervisor's second directory was removed"
    );
    std::fs::remove_dir(&alive).unwrap();
    std::fs::remove_dir(&alive2).unwrap();
}

#[test]
fn a_start_that_fails_half_way_leaves_nothing_behind() {
    // uid 4294967295 is invalid, so mounting the workspace fails after its directory exists.
    let config = JailConfig {
        host_uid: u32::MAX,
        run_root: std::env::temp_dir().join(format!("warden-test-halfway-{}", std::process::id())),
        ..JailConfig::default()
    };
    let jail = Jail::new(config.clone()).unwrap();
    let err = jail
        .run(Command::new("/bin/true"), &mut Discard)
        .unwrap_err();
    assert!(err.to_string().contains("workspace"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&config.run_root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| warden_jail::is_run_dir_name(&e.file_name()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let status = std::process::Command::new("umount")
        .arg(&config.run_root)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&config.run_root).unwrap();
}

#[test]
fn extra_descriptors_reach_the_program_as_fd_3_and_up() {
    use std::io::Read;
    let (to_prog_r, mut to_prog_w) = std::io::pipe().unwrap();
    let (from_prog_r, from_prog_w) = std::io::pipe().unwrap();
    let mut cmd = Command::for_runtime(
        &Runtime::python(),
        "import os\nmsg = os.read(3, 100)\nos.write(4, msg.upper())\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))",
    );
    cmd.limits = test_limits();
    cmd.extra_fds = vec![OwnedFd::from(to_prog_r), OwnedFd::from(from_prog_w)];
    let sandbox = jail().spawn(cmd).unwrap();
    to_prog_w.write_all(b"ping").unwrap();
    drop(to_prog_w);
    let mut reply = [0u8; 4];
    let mut from = from_prog_r;
    from.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"PING");
    let o = sandbox.wait(&mut Discard).unwrap();
    // 0-2, the two extra descriptors, and the one os.listdir opened.
    assert_eq!(ok_stdout(&o), "[0, 1, 2, 3, 4, 5]\n");
}

#[test]
fn the_program_can_be_signalled_and_keeps_running() {
    let (ready_r, ready_w) = std::io::pipe().unwrap();
    let mut cmd = Command::for_runtime(
        &Runtime::python(),
        "import os, time\nx = 41\ntry:\n    os.write(3, b'r')\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    x += 1\nprint('interrupted, x =', x)",
    );
    cmd.limits = test_limits();
    cmd.extra_fds = vec![OwnedFd::from(ready_w)];
    let sandbox = jail().spawn(cmd).unwrap();
    let mut b = [0u8; 1];
    use std::io::Read;
    let mut ready = ready_r;
    ready.read_exact(&mut b).unwrap();
    // gVisor: the program is a process of the Sentry's, with no host pid; runsc signals it.
    assert_eq!(sandbox.program_pid().is_some(), TIER == Tier::Namespaces);
    sandbox.signal_program(libc::SIGINT).unwrap();
    let start = Instant::now();
    let o = sandbox.wait(&mut Discard).unwrap();
    assert_eq!(ok_stdout(&o), "interrupted, x = 42\n");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// A bind source below a directory of mode 0700 (which the sandbox's host user cannot
/// enter) is still bound: the supervisor opens it.
#[test]
fn a_bind_below_a_private_directory_is_bound() {
    use std::os::unix::fs::PermissionsExt;
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let lib = private.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(lib.join("data.txt"), "inside").unwrap();
    std::fs::set_permissions(lib.join("data.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::for_runtime(
        &Runtime::python(),
        "print(open('/opt/warden/lib/data.txt').read())",
    );
    cmd.limits = test_limits();
    cmd.binds = vec![warden_jail::Bind {
        host: lib,
        inside: "/opt/warden/lib".into(),
    }];
    let o = jail().run(cmd, &mut Discard).unwrap();
    assert_eq!(o.exit, Exit::Code(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "inside\n");
}

/// With `record_timings`, the outcome carries every step of the start, in time order,
/// from the supervisor and from the child.
#[test]
fn timings_cover_the_supervisor_and_the_child_in_order() {
    let mut cmd = Command::for_runtime(&Runtime::python(), "pass");
    cmd.limits = test_limits();
    cmd.record_timings = true;
    let o = jail().run(cmd, &mut Discard).unwrap();
    let t = o.timings.expect("timings");
    let names: Vec<&str> = t.marks.iter().map(|(n, _)| *n).collect();
    if TIER == Tier::Gvisor {
        // gVisor: runsc does the child's steps; the supervisor's are what there is to time.
        for want in [
            "spawn: start",
            "spawn: bundle written",
            "spawn: runsc started",
            "wait: the sandbox ended",
            "teardown: cgroups removed, workspace unmounted",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(t.marks.windows(2).all(|w| w[0].1 <= w[1].1));
        return;
    }
    for want in [
        "spawn: start",
        "spawn: clone returned",
        "child: pivot_root",
        "child: seccomp filters",
        "child: program cloned and executed",
        "spawn: program executed (seen by the supervisor)",
        "wait: the sandbox ended",
        "teardown: cgroups removed, workspace unmounted",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(t.marks.windows(2).all(|w| w[0].1 <= w[1].1));
    let pos = |n: &str| names.iter().position(|m| *m == n).unwrap();
    assert!(pos("spawn: clone returned") < pos("child: pivot_root"));
    assert!(pos("child: seccomp filters") < pos("wait: the sandbox ended"));
    // Without asking, nothing is recorded.
    let mut cmd = Command::for_runtime(&Runtime::python(), "pass");
    cmd.limits = test_limits();
    assert!(jail().run(cmd, &mut Discard).unwrap().timings.is_none());
}
