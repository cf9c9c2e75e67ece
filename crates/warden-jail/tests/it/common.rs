// Shared by the `it` (namespace tier) and `gvisor` test binaries, through include!.

use std::sync::OnceLock;
use std::time::Duration;

use warden_jail::{
    Command, Discard, Exit, Jail, JailConfig, JailError, Limits, Outcome, OutputSink, Runtime,
    Sandbox,
};

/// The shared jail, starting every command on [`TIER`].
pub struct TestJail(Jail);

impl TestJail {
    pub fn run(&self, mut cmd: Command, sink: &mut dyn OutputSink) -> Result<Outcome, JailError> {
        cmd.tier = TIER;
        self.0.run(cmd, sink)
    }

    pub fn spawn(&self, mut cmd: Command) -> Result<Sandbox, JailError> {
        cmd.tier = TIER;
        self.0.spawn(cmd)
    }
}

impl std::ops::Deref for TestJail {
    type Target = Jail;
    fn deref(&self) -> &Jail {
        &self.0
    }
}

/// One jail for the whole test binary, as a server would share one.
pub fn jail() -> &'static TestJail {
    static JAIL: OnceLock<TestJail> = OnceLock::new();
    JAIL.get_or_init(|| {
        assert_eq!(
            unsafe_free_geteuid(),
            0,
            "these tests start real sandboxes and must run as root (CI does)"
        );
        let jail = Jail::new(JailConfig::default()).expect("jail set-up");
        if TIER == Tier::Gvisor {
            if let Err(why) = jail.gvisor() {
                panic!("the gVisor suite needs runsc: {why}");
            }
        }
        TestJail(jail)
    })
}

fn unsafe_free_geteuid() -> u32 {
    // /proc/self/status avoids an unsafe libc call in tests.
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(|s| s.parse().unwrap()))
        .unwrap()
}

/// Small, fast limits for tests; tests that probe a limit set their own.
pub fn test_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(20),
        memory_bytes: 256 << 20,
        pids: 64,
        ..Limits::default()
    }
}

pub fn run_with(runtime: Runtime, code: &str, limits: Limits) -> Outcome {
    let mut cmd = Command::for_runtime(&runtime, code);
    cmd.limits = limits;
    jail().run(cmd, &mut Discard).expect("sandbox ran")
}

pub fn py(code: &str) -> Outcome {
    run_with(Runtime::python(), code, test_limits())
}

pub fn py_limits(code: &str, limits: Limits) -> Outcome {
    run_with(Runtime::python(), code, limits)
}

pub fn js(code: &str) -> Outcome {
    run_with(Runtime::javascript(), code, test_limits())
}

pub fn sh(code: &str) -> Outcome {
    run_with(Runtime::bash(), code, test_limits())
}

pub fn stdout(o: &Outcome) -> String {
    String::from_utf8_lossy(&o.stdout.bytes).into_owned()
}

pub fn stderr(o: &Outcome) -> String {
    String::from_utf8_lossy(&o.stderr.bytes).into_owned()
}

/// Asserts a clean exit and returns stdout.
#[track_caller]
pub fn ok_stdout(o: &Outcome) -> String {
    assert_eq!(
        o.exit,
        Exit::Code(0),
        "program failed; stderr:\n{}\nstdout:\n{}",
        stderr(o),
        stdout(o)
    );
    stdout(o)
}
