//! The gVisor tier (`runsc`), on its own: each test starts its sandboxes on gVisor
//! whatever [`crate::TIER`] is. CI installs runsc; without it these tests fail and say so.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use warden_jail::{Command, Discard, Exit, LimitHit, Limits, Outcome, Runtime, Tier};

use crate::*;

fn gvisor() -> &'static warden_jail::Jail {
    let jail: &warden_jail::Jail = jail();
    if let Err(why) = jail.gvisor() {
        panic!("the gVisor tier is not available here: {why} (CI installs runsc)");
    }
    jail
}

fn run_on_gvisor(runtime: Runtime, code: &str, limits: Limits) -> Outcome {
    let mut cmd = Command::for_runtime(&runtime, code);
    cmd.limits = limits;
    cmd.tier = Tier::Gvisor;
    gvisor().run(cmd, &mut Discard).expect("sandbox ran")
}

#[test]
fn every_runtime_runs_under_gvisors_kernel() {
    // gVisor's Sentry answers uname itself: its release is not the host's.
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let o = run_on_gvisor(
        Runtime::python(),
        "import os, platform\nprint(platform.release())\nprint(os.getuid(), os.getcwd())",
        test_limits(),
    );
    let out = ok_stdout(&o);
    let mut lines = out.lines();
    let release = lines.next().unwrap();
    assert_ne!(release, host.trim(), "the kernel answering is the host's");
    assert_eq!(lines.next(), Some("65534 /workspace"));
    assert_eq!(
        ok_stdout(&run_on_gvisor(
            Runtime::javascript(),
            "console.log(6 * 7)",
            test_limits()
        )),
        "42\n"
    );
    assert_eq!(
        ok_stdout(&run_on_gvisor(
            Runtime::bash(),
            "echo $((6 * 7)); uname -s",
            test_limits()
        )),
        "42\nLinux\n"
    );
}

#[test]
fn extra_descriptors_reach_a_gvisor_program_as_fd_3_and_4() {
    let (to_prog_r, mut to_prog_w) = std::io::pipe().unwrap();
    let (from_prog_r, from_prog_w) = std::io::pipe().unwrap();
    let mut cmd = Command::for_runtime(
        &Runtime::python(),
        "import os\nfor _ in range(3):\n    msg = os.read(3, 100)\n    os.write(4, msg.upper())\n",
    );
    cmd.limits = test_limits();
    cmd.tier = Tier::Gvisor;
    cmd.extra_fds = vec![OwnedFd::from(to_prog_r), OwnedFd::from(from_prog_w)];
    let sandbox = gvisor().spawn(cmd).unwrap();
    let mut from = from_prog_r;
    for word in [&b"ping"[..], b"pong", b"done"] {
        to_prog_w.write_all(word).unwrap();
        let mut reply = [0u8; 4];
        from.read_exact(&mut reply).unwrap();
        assert_eq!(reply.to_ascii_lowercase(), word);
        assert_ne!(&reply[..], word, "upper-cased by the program");
    }
    let o = sandbox.wait(&mut Discard).unwrap();
    assert_eq!(o.exit, Exit::Code(0), "{}", stderr(&o));
    // Once the sandbox is gone the caller's end reads end-of-file.
    let mut rest = Vec::new();
    assert_eq!(from.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn the_workspace_is_the_hosts_view_and_the_rest_is_read_only() {
    let mut cmd = Command::for_runtime(
        &Runtime::python(),
        "import os\nopen('/workspace/out.txt', 'w').write('from gvisor')\n\
         for p in ('/usr/x', '/etc/x', '/x'):\n    try:\n        open(p, 'w')\n        print('wrote', p)\n    except OSError as e:\n        print('refused', p)\n",
    );
    cmd.limits = test_limits();
    cmd.tier = Tier::Gvisor;
    let keep = tempfile::tempdir().unwrap();
    cmd.keep_workspace = Some(keep.path().join("ws"));
    let o = gvisor().run(cmd, &mut Discard).unwrap();
    assert_eq!(
        ok_stdout(&o),
        "refused /usr/x\nrefused /etc/x\nrefused /x\n"
    );
    assert_eq!(
        std::fs::read_to_string(keep.path().join("ws/out.txt")).unwrap(),
        "from gvisor"
    );
}

#[test]
fn a_gvisor_sandbox_has_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let o = run_on_gvisor(
        Runtime::python(),
        &format!(
            "import socket, os\nprint(sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') else 'no sys')\n\
             for host in ('127.0.0.1', '1.1.1.1'):\n    s = socket.socket()\n    s.settimeout(2)\n    try:\n        s.connect((host, {port}))\n        print('connected', host)\n    except OSError as e:\n        print('refused', host)\n"
        ),
        test_limits(),
    );
    let out = ok_stdout(&o);
    assert!(out.contains("refused 127.0.0.1\n"), "{out}");
    assert!(out.contains("refused 1.1.1.1\n"), "{out}");
    assert!(!out.contains("connected"), "{out}");
}

#[test]
fn limits_hold_under_gvisor() {
    // Memory: the sandbox's cgroup holds the program's limit plus the Sentry's own.
    let o = run_on_gvisor(
        Runtime::python(),
        "blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))",
        Limits {
            memory_bytes: 64 << 20,
            ..test_limits()
        },
    );
    assert_eq!(
        o.limit,
        Some(LimitHit::Memory),
        "exit {:?}, {}",
        o.exit,
        stderr(&o)
    );
    let peak = o.peak_memory.expect("peak memory");
    assert!(
        peak <= (64 << 20) + warden_jail::gvisor::MEMORY_OVERHEAD + (1 << 20),
        "peak {peak}"
    );
    // The timeout, within a generous bound (runsc's teardown included).
    let start = Instant::now();
    let o = run_on_gvisor(
        Runtime::python(),
        "while True:\n    pass",
        Limits {
            timeout: Duration::from_millis(1500),
            ..test_limits()
        },
    );
    let took = start.elapsed();
    assert_eq!(o.limit, Some(LimitHit::Timeout));
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    // Processes: RLIMIT_NPROC, which the Sentry enforces, stops a fork loop.
    let o = run_on_gvisor(
        Runtime::python(),
        "import os\nn = 0\ntry:\n    while n < 500:\n        if os.fork() == 0:\n            import time; time.sleep(5); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print('stopped', n < 16)\n",
        // Few processes, so that the forked interpreters stay far below the memory limit.
        Limits {
            pids: 16,
            ..test_limits()
        },
    );
    assert_eq!(ok_stdout(&o), "stopped True\n");
}

#[test]
fn a_gvisor_program_can_be_interrupted() {
    let (ready_r, ready_w) = std::io::pipe().unwrap();
    let mut cmd = Command::for_runtime(
        &Runtime::python(),
        "import os, time\nos.write(4, b'r')\ntry:\n    while True: time.sleep(0.01)\nexcept KeyboardInterrupt:\n    print('interrupted')\n",
    );
    cmd.limits = test_limits();
    cmd.tier = Tier::Gvisor;
    // fd 3 (unused here) and fd 4, on which the program says it is ready.
    let (in_r, _in_w) = std::io::pipe().unwrap();
    cmd.extra_fds = vec![OwnedFd::from(in_r), OwnedFd::from(ready_w)];
    let sandbox = gvisor().spawn(cmd).unwrap();
    let mut ready = ready_r;
    let mut b = [0u8; 1];
    ready.read_exact(&mut b).unwrap();
    assert_eq!(sandbox.tier(), Tier::Gvisor);
    sandbox.signal_program_tree(libc::SIGINT).unwrap();
    let o = sandbox.wait(&mut Discard).unwrap();
    assert_eq!(ok_stdout(&o), "interrupted\n");
}

#[test]
fn two_dozen_gvisor_sandboxes_are_alive_at_once() {
    // Each gVisor sandbox keeps a bundle (about 256 KiB) in the run root while it runs:
    // its tmpfs once held only 16 of them, and the 17th failed with ENOSPC.
    let mut alive = Vec::new();
    for i in 0..24 {
        let mut cmd = Command::for_runtime(&Runtime::bash(), "sleep 60");
        cmd.limits = test_limits();
        cmd.tier = Tier::Gvisor;
        match gvisor().spawn(cmd) {
            Ok(s) => alive.push(s),
            Err(e) => {
                for s in &alive {
                    s.kill();
                }
                panic!(
                    "gVisor sandbox {i} did not start beside {}: {e}",
                    alive.len()
                );
            }
        }
    }
    for s in &alive {
        s.kill();
    }
    for s in alive {
        let o = s.wait(&mut Discard).unwrap();
        assert_ne!(o.exit, Exit::Code(0), "killed, not ended by itself");
    }
}
