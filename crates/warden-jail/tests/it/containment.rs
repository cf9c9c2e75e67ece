//! The containment suite: attack programs run inside the sandbox, each asserting that the
//! boundary held. Every test checks a specific observable outcome (an errno, a missing
//! file, a surviving host process), and most carry a positive control showing the probe
//! itself works, so that a test fails if the boundary does not hold.
//!
//! Nothing here attacks the host: the attack programs run only inside sandboxes. What the
//! tests do on the host is limited to starting listeners on 127.0.0.1 port 0 (or on
//! abstract unix names), starting and killing (by pid) one `sleep`, and reading `/proc`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use warden_jail::{
    Command, Discard, Exit, LimitHit, Limits, Outcome, Runtime, Sandbox, Tier, BASE_ENV,
};

use crate::*;

/// Python prelude giving attack code a raw `syscall(nr, *args) -> (ret, errno)`.
pub const PRELUDE: &str = r#"
import ctypes, ctypes.util, errno, os, sys
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
def syscall(nr, *args):
    ctypes.set_errno(0)
    r = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return r, ctypes.get_errno()
"#;

/// Runs Python attack code with the prelude.
pub fn attack(code: &str) -> String {
    ok_stdout(&py(&format!("{PRELUDE}\n{code}")))
}

/// Runs Python attack code with the prelude under the given limits.
fn attack_with(code: &str, limits: Limits) -> Outcome {
    py_limits(&format!("{PRELUDE}\n{code}"), limits)
}

/// A name no other test (or test run) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The rest of the line of `out` that starts with `key ` (panics with the output if absent).
#[track_caller]
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key} ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix).or((l == key).then_some("")))
        .unwrap_or_else(|| panic!("no line {key:?} in the output:\n{out}"))
}

/// Every line of `out` that starts with `key `, without the key.
fn fields<'a>(out: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key} ");
    out.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect()
}

/// Limits for tests that run into a wall-clock limit on purpose: the CPU-time limit (which
/// defaults to the timeout) is moved out of the way so that only the timeout can fire.
fn timeout_limits(secs: u64) -> Limits {
    Limits {
        timeout: Duration::from_secs(secs),
        cpu_time: Some(Duration::from_secs(120)),
        ..test_limits()
    }
}

// ---------------------------------------------------------------------------------------
// Host-side helpers (they only read the host's /proc).
// ---------------------------------------------------------------------------------------

/// Host pids whose command line contains `marker`.
fn host_pids_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if cmdline
                .windows(marker.len())
                .any(|w| w == marker.as_bytes())
            {
                found.push(pid);
            }
        }
    }
    found
}

/// Waits (at most `within`) until no host process carries `marker`; returns the survivors.
fn host_pids_gone(marker: &str, within: Duration) -> Vec<u32> {
    let end = Instant::now() + within;
    loop {
        let left = host_pids_with(marker);
        if left.is_empty() || Instant::now() >= end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The real host uid of a host process.
fn host_uid_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The host processes in the pids cgroup of the sandbox whose workspace is `workspace`
/// (under gVisor: `runsc`, the Gofer, the Sentry and its ptrace stubs), each with its start
/// time (so that a reused pid is not mistaken for it).
fn sandbox_host_processes(workspace: &Path) -> Vec<(u32, String)> {
    let id = workspace.parent().unwrap().file_name().unwrap();
    let place = jail()
        .cgroups()
        .places
        .iter()
        .find(|p| p.controller.name() == "pids")
        .expect("a pids controller");
    let procs = std::fs::read_to_string(place.own_dir.join("warden").join(id).join("cgroup.procs"))
        .unwrap_or_default();
    procs
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter_map(|pid| Some((pid, host_start_time(pid)?)))
        .collect()
}

/// Field 22 of a host process's `/proc/PID/stat` (its start time).
fn host_start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    after_comm.split_whitespace().nth(19).map(str::to_string)
}

/// Waits (at most `within`) until none of `procs` still runs; returns the survivors.
fn host_processes_gone(procs: &[(u32, String)], within: Duration) -> Vec<u32> {
    let end = Instant::now() + within;
    loop {
        let left: Vec<u32> = procs
            .iter()
            .filter(|(pid, start)| host_start_time(*pid).as_ref() == Some(start))
            .map(|(pid, _)| *pid)
            .collect();
        if left.is_empty() || Instant::now() >= end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `Key:` line of a host process's status, without the key.
fn host_status_field(pid: u32, key: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
}

/// The command line of a host process, its arguments joined by spaces.
fn host_cmdline(pid: u32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

// ---------------------------------------------------------------------------------------
// Background sandboxes: started with `Jail::spawn`, synchronised through their workspace
// (which the host sees at `Sandbox::workspace()`).
// ---------------------------------------------------------------------------------------

/// Python helpers for a background sandbox: `ready(info)` publishes `info` to the host and
/// `wait_done()` waits (bounded) until the host says it is finished.
const HANDSHAKE: &str = r#"
import time
def ready(info=''):
    with open('/workspace/.ready', 'w') as f: f.write(str(info))
    os.rename('/workspace/.ready', '/workspace/ready')
def wait_done(limit=15):
    end = time.time() + limit
    while not os.path.exists('/workspace/done') and time.time() < end: time.sleep(0.02)
    return os.path.exists('/workspace/done')
"#;

struct Background {
    sandbox: Option<Sandbox>,
    workspace: PathBuf,
}

impl Background {
    fn start(runtime: Runtime, code: &str, limits: Limits) -> Background {
        let mut cmd = Command::for_runtime(&runtime, code);
        cmd.limits = limits;
        let sandbox = jail().spawn(cmd).expect("sandbox started");
        Background {
            workspace: sandbox.workspace().to_path_buf(),
            sandbox: Some(sandbox),
        }
    }

    fn python(code: &str, limits: Limits) -> Background {
        Background::start(
            Runtime::python(),
            &format!("{PRELUDE}\n{HANDSHAKE}\n{code}"),
            limits,
        )
    }

    /// Waits until the program called `ready(info)` and returns `info`.
    fn ready(&mut self) -> String {
        let path = self.workspace.join("ready");
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(info) = std::fs::read_to_string(&path) {
                return info;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let sandbox = self.sandbox.take().unwrap();
        sandbox.kill();
        let o = sandbox.wait(&mut Discard).unwrap();
        panic!(
            "the background sandbox never became ready ({:?}); stdout:\n{}\nstderr:\n{}",
            o.exit,
            stdout(&o),
            stderr(&o)
        );
    }

    /// Tells the program to finish and waits for its outcome.
    fn finish(mut self) -> Outcome {
        std::fs::write(self.workspace.join("done"), b"").unwrap();
        self.wait()
    }

    /// Waits for the outcome without signalling anything.
    fn wait(&mut self) -> Outcome {
        self.sandbox
            .take()
            .unwrap()
            .wait(&mut Discard)
            .expect("sandbox waited")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            s.kill();
            let _ = s.wait(&mut Discard);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Table-driven checks of denied system calls.
// ---------------------------------------------------------------------------------------

/// Python helpers for the syscall tables: `buf()` (a zeroed 4 KiB buffer), `s(text)` (a C
/// string), `AT_FDCWD`, and `_after`, which makes a `clone` that did create a child
/// harmless (the child exits at once, the parent reaps it).
const SYSCALL_TABLE: &str = r#"
_keep = []
def buf(data=b'', size=4096):
    b = ctypes.create_string_buffer(data, max(size, len(data) + 1))
    _keep.append(b)
    return ctypes.addressof(b)
def s(text): return buf(text.encode(), 0)
AT_FDCWD = -100
def _after(name, r, e):
    if name.startswith('clone') and r == 0: os._exit(0)
    if name.startswith('clone') and r > 0: os.waitpid(r, 0)
    print('result', name, r, e)
r, e = syscall(39)
print('control-getpid', r, e)
"#;

/// One denied call: a name, the x86_64 number, Python argument expressions, the errno.
type Denied = (&'static str, u32, &'static str, i32);

/// Calls every entry of `table` inside one sandbox, then `extra` (more checks and
/// controls); asserts each call returned -1 with its errno, reporting all mismatches.
/// Returns the output for further assertions.
#[track_caller]
fn assert_denied(table: &[Denied], extra: &str) -> String {
    let mut code = String::from(SYSCALL_TABLE);
    for (name, nr, args, _) in table {
        code.push_str(&format!(
            "r, e = syscall({nr}, {args})\n_after({name:?}, r, e)\n"
        ));
    }
    code.push_str(extra);
    let out = attack(&code);
    let control: Vec<i64> = field(&out, "control-getpid")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        control[0] > 0 && control[1] == 0,
        "the allowed control call failed:\n{out}"
    );
    let mut failures = Vec::new();
    for (name, _, _, want) in table {
        match out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("result {name} ")))
        {
            Some(rest) => {
                let got: Vec<i64> = rest
                    .split_whitespace()
                    .map(|v| v.parse().unwrap())
                    .collect();
                // Under gVisor the Sentry answers these calls, and the host kernel never
                // sees them: it refuses them with its own errno (ENOSYS for what it does
                // not implement, EPERM without capabilities, EINVAL for arguments).
                let refused = if TIER == Tier::Gvisor {
                    got[0] == -1 && got[1] != 0
                } else {
                    got == [-1, i64::from(*want)]
                };
                if !refused {
                    failures.push(format!(
                        "{name}: returned {} with errno {} (expected -1 with errno {want})",
                        got[0], got[1]
                    ));
                }
            }
            None => failures.push(format!("{name}: no result")),
        }
    }
    assert!(
        failures.is_empty(),
        "system calls not denied as expected:\n{}\noutput:\n{out}",
        failures.join("\n")
    );
    out
}

// =======================================================================================
// Host files: nothing private of the host is visible.
// =======================================================================================

#[test]
fn host_shadow_file_is_not_readable() {
    let out = attack(
        r#"
try:
    open('/etc/shadow').read(); print('READ')
except FileNotFoundError: print('ENOENT')
except PermissionError: print('EACCES')
print('control', 'localhost' in open('/etc/hosts').read())
"#,
    );
    assert!(out.contains("ENOENT") || out.contains("EACCES"), "{out}");
    assert!(!out.contains("READ"));
    assert!(out.contains("control True"), "{out}");
}

#[test]
fn host_home_directories_do_not_exist() {
    let out = attack(
        r#"
for p in ['/root', '/root/.bashrc', '/root/.ssh', '/root/.cargo', '/home']:
    try: os.stat(p); print('stat', p, 'exists')
    except OSError as e: print('stat', p, e.errno)
print('home', os.environ['HOME'], os.path.expanduser('~'))
print('control', os.path.isdir('/workspace'), os.access('/workspace', os.W_OK))
"#,
    );
    for p in [
        "/root",
        "/root/.bashrc",
        "/root/.ssh",
        "/root/.cargo",
        "/home",
    ] {
        assert!(
            fields(&out, "stat").contains(&format!("{p} {}", libc::ENOENT).as_str()),
            "{p} must not exist in the sandbox:\n{out}"
        );
    }
    assert_eq!(field(&out, "home"), "/workspace /workspace", "{out}");
    assert_eq!(field(&out, "control"), "True True", "{out}");
}

#[test]
fn project_directory_and_test_binary_are_not_visible() {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    let top = format!(
        "/{}",
        Path::new(manifest)
            .components()
            .nth(1)
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
    );
    // Sanity: these exist on the host, so their absence inside means something.
    for p in [manifest, exe, top.as_str()] {
        assert!(Path::new(p).exists(), "{p} should exist on the host");
    }
    // The project's top-level directory is only telling when the sandbox has no directory
    // of that name of its own (a checkout under /tmp shares its top with the sandbox's /tmp).
    let own = [
        "/tmp",
        "/usr",
        "/run",
        "/dev",
        "/proc",
        "/etc",
        "/workspace",
        "/bin",
        "/lib",
        "/lib64",
        "/sbin",
    ];
    let top = if own.contains(&top.as_str()) {
        manifest.to_string()
    } else {
        top
    };
    let out = attack(&format!(
        r#"
for p in [{manifest:?}, {manifest:?} + '/Cargo.toml', {exe:?}, {top:?}, os.getcwd() + '/../..' + {manifest:?}]:
    print('exists', os.path.exists(p), p)
print('cwd', os.getcwd())
print('control', os.path.exists('/usr/bin/python3'))
"#
    ));
    let exists = fields(&out, "exists");
    assert_eq!(exists.len(), 5, "{out}");
    for line in exists {
        assert!(
            line.starts_with("False "),
            "a host path is visible: {line}\n{out}"
        );
    }
    assert_eq!(field(&out, "cwd"), "/workspace");
    assert_eq!(field(&out, "control"), "True");
}

#[test]
fn host_tmp_marker_file_is_not_visible() {
    let dir = tempfile::Builder::new()
        .prefix("warden-marker-")
        .tempdir_in("/tmp")
        .unwrap();
    let marker = tempfile::Builder::new()
        .prefix("secret-")
        .tempfile_in(dir.path())
        .unwrap();
    std::fs::write(marker.path(), b"host secret").unwrap();
    let dir_name = dir
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let marker_path = marker.path().to_str().unwrap().to_string();
    let out = attack(&format!(
        r#"
print('marker', os.path.exists({marker_path:?}))
print('dir', os.path.exists('/tmp/' + {dir_name:?}))
print('listed', any(n == {dir_name:?} for n in os.listdir('/tmp')))
print('elsewhere', any({dir_name:?} in n for d in ('/workspace', '/dev/shm') for n in os.listdir(d)))
open('/tmp/own-file', 'w').write('mine')
print('control', 'own-file' in os.listdir('/tmp'), open('/tmp/own-file').read())
"#
    ));
    assert_eq!(field(&out, "marker"), "False", "{out}");
    assert_eq!(field(&out, "dir"), "False", "{out}");
    assert_eq!(field(&out, "listed"), "False", "{out}");
    assert_eq!(field(&out, "elsewhere"), "False", "{out}");
    assert_eq!(field(&out, "control"), "True mine", "{out}");
    // The host file is untouched.
    assert_eq!(std::fs::read(marker.path()).unwrap(), b"host secret");
}

#[test]
fn host_var_run_and_other_top_level_directories_are_not_visible() {
    let run_root = jail().config().run_root.clone();
    let out = attack(&format!(
        r#"
for p in ['/var', '/var/log', '/var/lib', '/run/user', '/run/systemd', '/run/lock', '/mnt',
          '/media', '/srv', '/opt', '/boot', '/sys', '/lost+found', {run_root:?} + '/.root']:
    print('exists', os.path.exists(p), p)
print('root', *sorted(os.listdir('/')))
print('run', *sorted(os.listdir('/run')))
print('run-warden', *sorted(os.listdir('/run/warden')))
print('control', 'run-warden' in open('/run/warden/main.py').read())
"#,
        run_root = run_root.to_str().unwrap()
    ));
    let exists = fields(&out, "exists");
    assert_eq!(exists.len(), 14, "{out}");
    for line in exists {
        // gVisor: the Sentry always mounts its own synthetic sysfs (sys_is_absent_... checks it).
        if TIER == Tier::Gvisor && line == "True /sys" {
            continue;
        }
        assert!(
            line.starts_with("False "),
            "visible in the sandbox: {line}\n{out}"
        );
    }
    let mut allowed: BTreeSet<&str> = [
        "bin",
        "dev",
        "etc",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "proc",
        "run",
        "sbin",
        "tmp",
        "usr",
        "workspace",
    ]
    .into();
    if TIER == Tier::Gvisor {
        // gVisor: /sys is the Sentry's own sysfs (see above).
        allowed.insert("sys");
    }
    for name in field(&out, "root").split_whitespace() {
        assert!(
            allowed.contains(name),
            "unexpected /{name} in the sandbox:\n{out}"
        );
    }
    // The host's /run/warden holds every sandbox's run directory; inside, only our code.
    assert_eq!(field(&out, "run"), "warden", "{out}");
    // gVisor: the tier adds its own sitecustomize directory (/run/warden/gvisor), in the root.
    let run_warden = if TIER == Tier::Gvisor {
        "gvisor main.py"
    } else {
        "main.py"
    };
    assert_eq!(field(&out, "run-warden"), run_warden, "{out}");
    assert_eq!(field(&out, "control"), "True", "{out}");
}

#[test]
fn etc_holds_only_generated_and_allowed_entries() {
    let config = jail().config();
    let out = attack(
        r#"
print('etc', *sorted(os.listdir('/etc')))
print('users', *[l.split(':')[0] for l in open('/etc/passwd').read().splitlines()])
for p in ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/ssh', '/etc/resolv.conf', '/etc/machine-id', '/etc/hostname.bak']:
    print('exists', os.path.exists(p), p)
print('control', open('/etc/hostname').read().strip())
"#,
    );
    let mut allowed: BTreeSet<String> = ["passwd", "group", "hosts", "hostname"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    allowed.extend(config.etc_entries.iter().cloned());
    for name in field(&out, "etc").split_whitespace() {
        assert!(
            allowed.contains(name),
            "unexpected /etc/{name} in the sandbox:\n{out}"
        );
    }
    assert_eq!(field(&out, "users"), "root sandbox nobody", "{out}");
    for line in fields(&out, "exists") {
        assert!(
            line.starts_with("False "),
            "visible in the sandbox: {line}\n{out}"
        );
    }
    assert_eq!(field(&out, "control"), "sandbox", "{out}");
}

#[test]
fn host_processes_are_not_visible_in_proc() {
    let host_pid = std::process::id();
    assert!(host_pid > 2);
    let host_init = std::fs::read("/proc/1/cmdline").unwrap();
    let out = attack(&format!(
        r#"
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
print('pids', *pids)
print('self', os.getpid(), os.getppid())
print('host-test-pid', os.path.exists('/proc/{host_pid}'))
st = dict(l.split(':', 1) for l in open('/proc/1/status').read().splitlines() if ':' in l)
print('init-ppid', st['PPid'].strip())
print('init-cmdline', open('/proc/1/cmdline', 'rb').read().hex())
print('control', open('/proc/self/cmdline', 'rb').read().split(b'\0')[0].decode())
"#
    ));
    // gVisor: there is no init of ours; the program is the sandbox's pid 1, with no parent.
    let (pids, me) = if TIER == Tier::Gvisor {
        ("1", "1 0")
    } else {
        ("1 2", "2 1")
    };
    assert_eq!(
        field(&out, "pids"),
        pids,
        "only the sandbox's init and program:\n{out}"
    );
    assert_eq!(field(&out, "self"), me, "{out}");
    assert_eq!(field(&out, "host-test-pid"), "False", "{out}");
    assert_eq!(field(&out, "init-ppid"), "0", "{out}");
    let init_cmdline: Vec<u8> = (0..field(&out, "init-cmdline").len() / 2)
        .map(|i| u8::from_str_radix(&field(&out, "init-cmdline")[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_ne!(
        init_cmdline, host_init,
        "/proc/1 in the sandbox is the host's init:\n{out}"
    );
    assert_eq!(field(&out, "control"), "/usr/bin/python3", "{out}");
}

#[test]
fn sandbox_init_memory_and_environment_are_unreadable() {
    // The sandbox's init is a clone of the supervisor (no exec), so its memory and
    // environment are the host process's: they must stay unreadable.
    let out = attack(
        r#"
for name in ['environ', 'mem', 'maps', 'smaps', 'auxv', 'stack', 'syscall', 'pagemap', 'io',
             'personality', 'fd', 'fdinfo', 'map_files', 'exe', 'cwd', 'root']:
    p = '/proc/1/' + name
    try:
        if name in ('fd', 'fdinfo', 'map_files'): os.listdir(p)
        elif name in ('exe', 'cwd', 'root'): os.readlink(p)
        else: open(p, 'rb').read(64)
        print('proc1', name, 'readable')
    except OSError as e: print('proc1', name, e.errno)
env = open('/proc/self/environ', 'rb').read().split(b'\0')
print('control', b'HOME=/workspace' in env, os.readlink('/proc/self/cwd'))
print('pid', os.getpid())
"#,
    );
    let lines = fields(&out, "proc1");
    assert_eq!(lines.len(), 16, "{out}");
    if TIER == Tier::Gvisor {
        // gVisor: no clone of the supervisor runs inside; pid 1 is the program itself, so
        // /proc/1 is its own (readable) and no process inside holds host memory.
        assert_eq!(field(&out, "pid"), "1", "{out}");
        let environ = attack(
            "print('same', open('/proc/1/environ', 'rb').read() == open('/proc/self/environ', 'rb').read())",
        );
        assert_eq!(field(&environ, "same"), "True", "{environ}");
    } else {
        for line in lines {
            assert!(
                line.ends_with(&format!(" {}", libc::EACCES)),
                "/proc/1 entry not denied: {line}\n{out}"
            );
        }
    }
    assert_eq!(field(&out, "control"), "True /workspace", "{out}");
}

#[test]
fn sandbox_init_cmdline_does_not_reveal_host_argv() {
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap().to_string();
    let exe_name = Path::new(&exe).file_name().unwrap().to_str().unwrap();
    let out = attack(
        r#"
print('cmdline', open('/proc/1/cmdline', 'rb').read().replace(b'\0', b' ').decode().strip())
print('comm', open('/proc/1/comm').read().strip())
print('control', open('/proc/self/comm').read().strip())
"#,
    );
    assert_eq!(field(&out, "control"), "python3", "{out}");
    let cmdline = field(&out, "cmdline");
    assert!(
        !cmdline.contains(&exe),
        "the host supervisor's command line is visible in the sandbox: {cmdline:?}"
    );
    // gVisor: there is no init of ours; pid 1 is the program itself.
    let init_comm = if TIER == Tier::Gvisor {
        "python3"
    } else {
        "warden-init"
    };
    assert!(
        !exe_name.starts_with(field(&out, "comm")) && field(&out, "comm") == init_comm,
        "the host supervisor's name is visible in the sandbox:\n{out}"
    );
}

#[test]
fn no_host_file_descriptors_are_inherited() {
    let out = attack(
        r#"
names = os.listdir('/proc/self/fd')
open_fds = []
for n in names:
    try: open_fds.append((int(n), os.readlink('/proc/self/fd/' + n)))
    except OSError: pass   # the directory handle used for the listing, closed since
for fd, target in sorted(open_fds): print('fd', fd, target)
print('control', len(names) > len(open_fds))
"#,
    );
    let fds = fields(&out, "fd");
    let numbers: Vec<&str> = fds
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(numbers, ["0", "1", "2"], "unexpected descriptors:\n{out}");
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry shows the three descriptors runsc donated as host:[N] files.
        for (i, fd) in fds.iter().enumerate() {
            assert!(fd.starts_with(&format!("{i} host:[")), "{out}");
        }
    } else {
        assert_eq!(fds[0], "0 /dev/null", "{out}");
        assert!(fds[1].starts_with("1 pipe:["), "{out}");
        assert!(fds[2].starts_with("2 pipe:["), "{out}");
    }
    assert_eq!(field(&out, "control"), "True", "{out}");
}

#[test]
fn host_kernel_interfaces_in_proc_are_unusable() {
    let out = attack(
        r#"
for p, mode in [('/proc/kcore', 'rb'), ('/proc/kmsg', 'rb'), ('/proc/sysrq-trigger', 'w'),
                ('/proc/sys/kernel/core_pattern', 'w')]:
    try:
        with open(p, mode) as f:
            if mode == 'w': f.write('h')
            else: f.read(16)
        print('usable', p)
    except OSError as e: print('denied', p, e.errno)
try:
    addrs = {l.split()[0] for l in open('/proc/kallsyms') if l.strip()}
    print('kallsyms-addresses', *sorted(addrs))
except FileNotFoundError: print('kallsyms-addresses', 'absent')
print('control', open('/proc/self/status').read().startswith('Name:'))
"#,
    );
    let denied = fields(&out, "denied");
    let usable = fields(&out, "usable");
    assert!(usable.is_empty(), "{out}");
    assert_eq!(denied.len(), 4, "{out}");
    // gVisor: the Sentry's /proc has no kallsyms at all.
    let kallsyms = if TIER == Tier::Gvisor {
        "absent"
    } else {
        "0000000000000000"
    };
    assert_eq!(field(&out, "kallsyms-addresses"), kallsyms, "{out}");
    assert_eq!(field(&out, "control"), "True", "{out}");
}

#[test]
fn cgroup_filesystem_is_not_reachable() {
    let out = attack(
        r#"
for p in ['/sys/fs/cgroup', '/proc/self/root/sys', '/cgroup']:
    print('exists', os.path.exists(p), p)
print('cgroups', *sorted({l.split(':', 2)[2] for l in open('/proc/self/cgroup').read().splitlines()}))
print('mounts', *sorted({l.split()[2] for l in open('/proc/self/mounts')}))
print('cgroup-dir', *(os.listdir('/sys/fs/cgroup') if os.path.isdir('/sys/fs/cgroup') else ['absent']))
"#,
    );
    let types = field(&out, "mounts");
    if TIER == Tier::Gvisor {
        // gVisor: /sys is the Sentry's sysfs, whose /sys/fs/cgroup is an empty directory
        // with nothing mounted on it, and /proc/self/cgroup lists no hierarchy at all.
        assert_eq!(field(&out, "cgroup-dir"), "", "{out}");
        assert_eq!(field(&out, "cgroups"), "", "{out}");
        assert!(fields(&out, "exists").contains(&"False /cgroup"), "{out}");
    } else {
        for line in fields(&out, "exists") {
            assert!(line.starts_with("False "), "{line}\n{out}");
        }
        // The cgroup namespace hides the host's hierarchy: every controller reads "/".
        assert_eq!(field(&out, "cgroups"), "/", "{out}");
        assert!(!types.contains("sysfs"), "sysfs is mounted: {types}");
    }
    assert!(
        !types.contains("cgroup"),
        "a cgroup filesystem is mounted: {types}"
    );
    assert!(types.contains("proc") && types.contains("tmpfs"), "{out}");
}

// =======================================================================================
// Writes to system directories.
// =======================================================================================

#[test]
fn system_directories_are_read_only() {
    let out = attack(
        r#"
for p in ['/usr/pwned', '/usr/bin/pwned', '/etc/pwned', '/etc/passwd', '/bin/pwned', '/pwned',
          '/lib/pwned', '/sbin/pwned', '/run/warden/pwned', '/run/warden/main.py', '/dev/pwned']:
    try:
        with open(p, 'a') as f: f.write('x')
        print('wrote', p)
    except OSError as e: print('denied', p, e.errno)
for d in ['/usr/pwned-dir', '/etc/pwned-dir', '/pwned-dir']:
    try: os.mkdir(d); print('wrote', d)
    except OSError as e: print('denied', d, e.errno)
open('/workspace/ok', 'w').write('w'); open('/tmp/ok', 'w').write('t')
print('control', open('/workspace/ok').read() + open('/tmp/ok').read())
print('ro-mounts', *sorted(l.split()[1] for l in open('/proc/self/mounts') if 'ro' in l.split()[3].split(',')))
"#,
    );
    assert!(fields(&out, "wrote").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    assert_eq!(denied.len(), 14, "{out}");
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry checks permissions before the read-only mount, and the
        // program's uid owns nothing there (EACCES): so also check the mounts are read-only.
        let ro = field(&out, "ro-mounts");
        for m in ["/", "/usr"] {
            assert!(
                ro.split_whitespace().any(|r| r == m),
                "{m} is not read-only:\n{out}"
            );
        }
    }
    for line in denied {
        let (path, errno) = line.rsplit_once(' ').unwrap();
        let errno: i32 = errno.parse().unwrap();
        if TIER == Tier::Gvisor {
            // gVisor: permissions are checked first (see above).
            assert!(errno == libc::EACCES || errno == libc::EROFS, "{line}");
        } else if path == "/dev/pwned" || path == "/run/warden/main.py" {
            // /dev is a tmpfs owned by an unmapped user, and the code file is mode 0444:
            // permissions are checked before the read-only mount.
            assert!(errno == libc::EACCES || errno == libc::EROFS, "{line}");
        } else {
            assert_eq!(errno, libc::EROFS, "{line}");
        }
    }
    assert_eq!(field(&out, "control"), "wt", "{out}");
}

#[test]
fn proc_sys_is_read_only() {
    let before_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let before_core = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let out = attack(
        r#"
for p in ['/proc/sys/kernel/hostname', '/proc/sys/kernel/domainname', '/proc/sys/kernel/core_pattern',
          '/proc/sys/vm/drop_caches', '/proc/sys/net/ipv4/ip_forward', '/proc/sys/user/max_user_namespaces',
          '/proc/sys/kernel/randomize_va_space']:
    try:
        with open(p, 'w') as f: f.write('1\n')
        print('wrote', p)
    except OSError as e: print('denied', p, e.errno)
print('control', open('/proc/sys/kernel/hostname').read().strip())
"#,
    );
    assert!(fields(&out, "wrote").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    assert_eq!(denied.len(), 7, "{out}");
    for line in denied {
        let errno: i32 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        if TIER == Tier::Gvisor {
            // gVisor: the Sentry's /proc/sys files are its root's (EACCES), and it has no
            // user/max_user_namespaces (ENOENT); writes never reach the host (checked below).
            assert!(
                [libc::EACCES, libc::EROFS, libc::ENOENT].contains(&errno),
                "{line}\n{out}"
            );
        } else {
            assert_eq!(errno, libc::EROFS, "{line}\n{out}");
        }
    }
    assert_eq!(field(&out, "control"), "sandbox", "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        before_hostname
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before_core
    );
}

#[test]
fn sys_is_absent_and_cannot_be_created() {
    let out = attack(
        r#"
for p in ['/sys', '/sys/kernel', '/sys/class/net', '/sys/firmware']:
    try: os.stat(p); print('stat', p, 'exists')
    except OSError as e: print('stat', p, e.errno)
try: os.mkdir('/sys'); print('mkdir created')
except OSError as e: print('mkdir', e.errno)
os.mkdir('/tmp/sys')
print('control', os.path.isdir('/tmp/sys'))
if os.path.isdir('/sys'):
    for d in ['/sys/class/net', '/sys/block', '/sys/kernel', '/sys/fs/cgroup', '/sys/firmware']:
        print('sysfs-ls', d, *sorted(os.listdir(d)))
    for name, f in [('write', lambda: open('/sys/kernel/pwned', 'w').write('x')), ('mkdir', lambda: os.mkdir('/sys/pwned'))]:
        try: f(); print('sysfs-changed', name)
        except OSError as e: print('sysfs-denied', name, e.errno)
"#,
    );
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry always mounts its own synthetic sysfs: it must show nothing of
        // the host's (only the sandbox's lo, no block devices, kernel or firmware entries)
        // and be unwritable.
        assert_eq!(fields(&out, "stat").len(), 4);
        assert_eq!(field(&out, "mkdir"), libc::EEXIST.to_string(), "{out}");
        assert_eq!(
            fields(&out, "sysfs-ls"),
            [
                "/sys/class/net lo",
                "/sys/block",
                "/sys/kernel",
                "/sys/fs/cgroup",
                "/sys/firmware"
            ],
            "{out}"
        );
        assert!(fields(&out, "sysfs-changed").is_empty(), "{out}");
        assert_eq!(fields(&out, "sysfs-denied").len(), 2, "{out}");
        assert_eq!(field(&out, "control"), "True", "{out}");
        return;
    }
    for line in fields(&out, "stat") {
        assert!(
            line.ends_with(&format!(" {}", libc::ENOENT)),
            "{line}\n{out}"
        );
    }
    assert_eq!(fields(&out, "stat").len(), 4);
    assert_eq!(field(&out, "mkdir"), libc::EROFS.to_string(), "{out}");
    assert_eq!(field(&out, "control"), "True", "{out}");
}

#[test]
fn chmod_and_chown_of_system_files_fail() {
    let out = attack(
        r#"
import stat
for p in ['/usr/bin/python3', '/usr/bin/su', '/etc/passwd', '/etc/hosts', '/', '/usr']:
    for what, f in [('chmod', lambda: os.chmod(p, 0o4777)), ('chown', lambda: os.chown(p, 1000, 1000)),
                    ('utime', lambda: os.utime(p, (0, 0)))]:
        try: f(); print('changed', what, p)
        except OSError as e: print('denied', what, p, e.errno)
open('/workspace/mine', 'w').close()
os.chown('/workspace/mine', os.getuid(), os.getgid()); os.chmod('/workspace/mine', 0o700)
print('control', oct(stat.S_IMODE(os.stat('/workspace/mine').st_mode)))
print('mode-after', oct(stat.S_IMODE(os.stat('/usr/bin/python3').st_mode)))
"#,
    );
    assert!(fields(&out, "changed").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    assert_eq!(denied.len(), 18, "{out}");
    for line in denied {
        let errno: i32 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!(
            errno == libc::EROFS || errno == libc::EPERM,
            "{line}\n{out}"
        );
    }
    assert_eq!(field(&out, "control"), "0o700", "{out}");
    assert_eq!(field(&out, "mode-after"), "0o755", "{out}");
}

// =======================================================================================
// Host environment.
// =======================================================================================

#[test]
fn host_environment_does_not_leak() {
    let out = attack("import json; print('env', json.dumps(dict(os.environ), sort_keys=True))");
    let env: BTreeMap<String, String> = serde_json::from_str(field(&out, "env")).unwrap();
    let mut expected: BTreeMap<String, String> = BASE_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    expected.extend(Runtime::python().env);
    if TIER == Tier::Gvisor {
        // gVisor: the tier puts its sitecustomize (whole writes under partial writes) first.
        let path = expected.get("PYTHONPATH").cloned().unwrap_or_default();
        let path = if path.is_empty() {
            "/run/warden/gvisor".to_string()
        } else {
            format!("/run/warden/gvisor:{path}")
        };
        expected.insert("PYTHONPATH".into(), path);
    }
    assert_eq!(
        env, expected,
        "the sandbox's environment is not exactly the base one"
    );

    // And explicitly: none of the host's values are there.
    let manifest = env!("CARGO_MANIFEST_DIR");
    let host_home = std::env::var("HOME").unwrap_or_default();
    for (k, v) in &env {
        assert!(!k.starts_with("CARGO") && !k.starts_with("RUST"), "{k}={v}");
        assert!(!v.contains(manifest), "{k}={v}");
        assert!(!v.contains(".cargo") && !v.contains(".rustup"), "{k}={v}");
        if !host_home.is_empty() && host_home != "/workspace" {
            assert_ne!(v, &host_home, "{k} carries the host's HOME");
        }
    }
    assert_eq!(env["HOME"], "/workspace");
    assert_eq!(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
}

// =======================================================================================
// Network.
// =======================================================================================

/// Asserts that a non-blocking host listener saw no connection.
#[track_caller]
fn assert_no_connection(listener: &TcpListener) {
    std::thread::sleep(Duration::from_millis(50));
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
}

#[test]
fn tcp_to_a_host_loopback_server_does_not_arrive() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = attack(&format!(
        r#"
import socket
s = socket.socket(); s.settimeout(2)
try:
    s.connect(('127.0.0.1', {port})); print('connected')
except OSError as e: print('refused', e.errno)
"#
    ));
    assert!(out.contains("refused"), "{out}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
}

#[test]
fn udp_to_a_host_loopback_socket_does_not_arrive() {
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    host.set_nonblocking(true).unwrap();
    let port = host.local_addr().unwrap().port();
    let out = attack(&format!(
        r#"
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5):
    try: u.sendto(b'escape', ('127.0.0.1', {port})); print('sent')
    except OSError as e: print('send-error', e.errno)
# Control: a datagram to our own socket arrives.
own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); own.bind(('127.0.0.1', 0)); own.settimeout(2)
u.sendto(b'ping', own.getsockname())
print('control', own.recvfrom(64)[0].decode())
"#
    ));
    assert_eq!(field(&out, "control"), "ping", "{out}");
    std::thread::sleep(Duration::from_millis(100));
    let mut buf = [0u8; 64];
    match host.recv_from(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host socket received a datagram from the sandbox: {other:?}\n{out}"),
    }
}

#[test]
fn sandbox_listener_is_unreachable_from_the_host() {
    let mut bg = Background::python(
        r#"
import socket
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(16)
port = srv.getsockname()[1]
# Control: the listener works from inside.
c = socket.create_connection(('127.0.0.1', port), timeout=2); conn, _ = srv.accept()
print('control-accepted', 1); c.close(); conn.close()
srv.setblocking(False)
ready(port)
accepted = 0
end = time.time() + 15
while not os.path.exists('/workspace/done') and time.time() < end:
    try: srv.accept(); accepted += 1
    except BlockingIOError: time.sleep(0.01)
print('accepted', accepted)
"#,
        test_limits(),
    );
    let port: u16 = bg.ready().trim().parse().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let host_attempt = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    let o = bg.finish();
    let out = ok_stdout(&o);
    assert_eq!(field(&out, "control-accepted"), "1", "{out}");
    assert_eq!(
        field(&out, "accepted"),
        "0",
        "the sandbox's listener saw a host connection"
    );
    match host_attempt {
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
        other => panic!("connecting to the sandbox's port from the host: {other:?}"),
    }
}

#[test]
fn only_the_loopback_interface_exists() {
    let out = attack(
        r#"
import socket
print('ifaces', *sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]))
print('routes', len(open('/proc/net/route').read().splitlines()) - 1)
print('inet6', *sorted({l.split()[-1] for l in open('/proc/net/if_inet6')}))
print('if-index', socket.if_nametoindex('lo'))
for name in ['eth0', 'ens3', 'enp0s3', 'docker0', 'wlan0']:
    try: socket.if_nametoindex(name); print('found', name)
    except OSError as e: print('missing', name, e.errno)
"#,
    );
    assert_eq!(field(&out, "ifaces"), "lo", "{out}");
    assert_eq!(field(&out, "routes"), "0", "{out}");
    assert_eq!(field(&out, "inet6"), "lo", "{out}");
    assert_eq!(field(&out, "if-index"), "1", "control: lo is there:\n{out}");
    assert!(fields(&out, "found").is_empty(), "{out}");
    assert_eq!(fields(&out, "missing").len(), 5, "{out}");
}

#[test]
fn public_addresses_are_unreachable() {
    // TEST-NET addresses: with no route, nothing leaves the sandbox.
    let out = attack(
        r#"
import socket
def tcp(family, addr):
    s = socket.socket(family); s.settimeout(2)
    try: s.connect(addr); return 'connected'
    except OSError as e: return e.errno
print('tcp4', tcp(socket.AF_INET, ('192.0.2.1', 80)))
print('tcp4-b', tcp(socket.AF_INET, ('198.51.100.7', 443)))
print('tcp6', tcp(socket.AF_INET6, ('2001:db8::1', 80)))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try: u.sendto(b'x', ('192.0.2.1', 53)); print('udp4 sent')
except OSError as e: print('udp4', e.errno)
# Control: a loopback server of our own is reachable.
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
print('control', tcp(socket.AF_INET, srv.getsockname()))
"#,
    );
    // gVisor: the Sentry's netstack, with no route, answers EHOSTUNREACH.
    let unreach = if TIER == Tier::Gvisor {
        libc::EHOSTUNREACH
    } else {
        libc::ENETUNREACH
    }
    .to_string();
    for key in ["tcp4", "tcp4-b", "tcp6", "udp4"] {
        assert_eq!(field(&out, key), unreach, "{key}:\n{out}");
    }
    assert_eq!(field(&out, "control"), "connected", "{out}");
}

#[test]
fn host_abstract_unix_socket_is_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let name = unique("warden-abstract");
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = attack(&format!(
        r#"
import socket
NAME = b'\0' + {name:?}.encode()
s = socket.socket(socket.AF_UNIX)
try: s.connect(NAME); print('host', 'connected')
except OSError as e: print('host', e.errno)
# The name is free in the sandbox's own namespace, and a socket there works (control).
own = socket.socket(socket.AF_UNIX); own.bind(NAME); own.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(NAME); own.accept()
print('control', 'connected')
"#
    ));
    assert_eq!(field(&out, "host"), libc::ECONNREFUSED.to_string(), "{out}");
    assert_eq!(field(&out, "control"), "connected", "{out}");
    std::thread::sleep(Duration::from_millis(50));
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host abstract socket saw a connection: {other:?}"),
    }
}

#[test]
fn exotic_socket_families_are_denied() {
    // socket(family, type, protocol): seccomp allows only AF_UNIX, AF_INET and AF_INET6.
    let eperm = libc::EPERM;
    let table: Vec<Denied> = [
        ("socket_packet_raw", 41, "17, 3, 0", eperm),
        ("socket_packet_dgram", 41, "17, 2, 0", eperm),
        ("socket_netlink_route", 41, "16, 3, 0", eperm),
        ("socket_netlink_audit", 41, "16, 3, 9", eperm),
        ("socket_bluetooth", 41, "31, 1, 0", eperm),
        ("socket_vsock", 41, "40, 1, 0", eperm),
        ("socket_key", 41, "15, 3, 2", eperm),
        ("socket_alg", 41, "38, 5, 0", eperm),
        ("socket_xdp", 41, "44, 3, 0", eperm),
        ("socket_can", 41, "29, 3, 1", eperm),
        ("socket_tipc", 41, "30, 2, 0", eperm),
        ("socket_ax25", 41, "3, 2, 0", eperm),
    ]
    .into_iter()
    // gVisor: NETLINK_ROUTE talks to the Sentry's own netstack (checked below).
    .filter(|(name, ..)| TIER != Tier::Gvisor || *name != "socket_netlink_route")
    .collect();
    let out = assert_denied(
        &table,
        r#"
import socket
for fam, typ in [(socket.AF_UNIX, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_STREAM),
                 (socket.AF_INET6, socket.SOCK_DGRAM)]:
    socket.socket(fam, typ).close()
print('control-sockets ok')
try: print('netlink-links', *sorted(n for _, n in socket.if_nameindex()))
except OSError as e: print('netlink-links', 'error', e.errno)
"#,
    );
    if TIER == Tier::Gvisor {
        // glibc's if_nameindex asks RTM_GETLINK over NETLINK_ROUTE: only the sandbox's lo.
        assert_eq!(field(&out, "netlink-links"), "lo", "{out}");
    }
}

#[test]
fn raw_and_ping_sockets_are_denied() {
    let out = attack(
        r#"
import socket
for name, fam, typ, proto in [('raw4-icmp', 2, socket.SOCK_RAW, 1), ('raw4-tcp', 2, socket.SOCK_RAW, 6),
                              ('raw4-any', 2, socket.SOCK_RAW, 255), ('raw6-icmp', 10, socket.SOCK_RAW, 58),
                              ('ping4', 2, socket.SOCK_DGRAM, 1), ('ping6', 10, socket.SOCK_DGRAM, 58)]:
    try: s = socket.socket(fam, typ, proto); print('open', name)
    except OSError as e: print('denied', name, e.errno); continue
    try: s.sendto(b'\x08\0\0\0\0\0\0\0' if fam == 2 else b'\x80\0\0\0\0\0\0\0', ('192.0.2.1', 0) if fam == 2 else ('2001:db8::1', 0)); print('ping-sent', name)
    except OSError as e: print('ping-send', name, e.errno)
socket.socket(2, socket.SOCK_DGRAM, 17).close()
print('control', 'udp')
"#,
    );
    assert!(fields(&out, "ping-sent").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry's netstack allows ICMP datagram sockets, but with no network
        // nothing they send leaves (EHOSTUNREACH/ENETUNREACH).
        assert_eq!(fields(&out, "open"), ["ping4", "ping6"], "{out}");
        for line in fields(&out, "ping-send") {
            let errno: i32 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
            assert!(
                errno == libc::EHOSTUNREACH || errno == libc::ENETUNREACH,
                "{line}\n{out}"
            );
        }
        assert_eq!(fields(&out, "ping-send").len(), 2, "{out}");
        assert_eq!(denied.len(), 4, "{out}");
    } else {
        assert!(fields(&out, "open").is_empty(), "{out}");
        assert_eq!(denied.len(), 6, "{out}");
    }
    for line in denied {
        let (name, errno) = line.split_once(' ').unwrap();
        let errno: i32 = errno.parse().unwrap();
        if name.starts_with("raw") {
            assert_eq!(errno, libc::EPERM, "{line}");
        } else {
            // Ping sockets: no group may use them (net.ipv4.ping_group_range).
            assert!(errno == libc::EACCES || errno == libc::EPERM, "{line}");
        }
    }
    assert_eq!(field(&out, "control"), "udp", "{out}");
}

// =======================================================================================
// Resource attacks.
// =======================================================================================

/// Runs a background sandbox whose processes all carry `marker` in their command line,
/// watches the host's /proc while it runs, and returns the outcome, the largest number of
/// marked processes seen at once, and the marked processes left after the run.
fn run_marked(
    runtime: Runtime,
    code: &str,
    limits: Limits,
    marker: &str,
) -> (Outcome, usize, Vec<u32>) {
    let mut bg = Background::start(runtime, code, limits);
    let mut most = 0;
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        most = most.max(host_pids_with(marker).len());
        std::thread::sleep(Duration::from_millis(20));
    }
    let outcome = bg.wait();
    let left = host_pids_gone(marker, Duration::from_secs(3));
    (outcome, most, left)
}

/// The gVisor version of [`run_marked`]: the bomb's processes are the Sentry's, invisible
/// on the host, so the program (pid 1) starts the bomb (`argv`, which carries `marker`)
/// and counts it in its own /proc, printing `most N` at each new maximum; the host checks that the sandbox's
/// own host processes (the Sentry's) are gone after the run.
fn run_counted_inside(argv: &str, limits: Limits, marker: &str) -> (Outcome, usize, Vec<u32>) {
    let code = format!(
        r#"
import os, time
MARKER = {marker:?}
if os.fork() == 0:
    argv = {argv}
    os.execv(argv[0], argv)
most = 0
while True:  # until the timeout: each new maximum is printed as it is seen
    n = 0
    for p in os.listdir('/proc'):
        try:
            if p.isdigit() and MARKER.encode() in open('/proc/' + p + '/cmdline', 'rb').read(): n += 1
        except OSError: pass
    if n > most:
        most = n
        print('most', most, flush=True)
    time.sleep(0.01)
"#
    );
    let mut bg = Background::start(Runtime::python(), &code, limits);
    let mut seen: Vec<(u32, String)> = Vec::new();
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        for p in sandbox_host_processes(&bg.workspace) {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let outcome = bg.wait();
    let most = stdout(&outcome)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("most "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        !seen.is_empty(),
        "control: no host process in the sandbox's cgroup"
    );
    let left = host_processes_gone(&seen, Duration::from_secs(3));
    (outcome, most, left)
}

/// Limits for fork bombs: few pids, a short timeout and half a core.
fn bomb_limits() -> Limits {
    Limits {
        pids: 16,
        cpus: Some(0.5),
        ..timeout_limits(4)
    }
}

#[test]
fn python_fork_bomb_is_contained() {
    let marker = unique("warden-forkbomb");
    let limits = bomb_limits();
    let code = format!(
        r#"
import os
BOMB = 'import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n'
os.execv('/usr/bin/python3', ['/usr/bin/python3', '-c', BOMB, {marker:?}])
"#
    );
    let (o, most, left) = if TIER == Tier::Gvisor {
        // gVisor: the bomb's processes are the Sentry's, not the host's: count them inside.
        let argv = "['/usr/bin/python3', '-c', 'import os\\nwhile True:\\n    try: os.fork()\\n    except OSError: pass\\n', MARKER]";
        run_counted_inside(argv, limits.clone(), &marker)
    } else {
        run_marked(Runtime::python(), &code, limits.clone(), &marker)
    };
    assert_eq!(o.limit, Some(LimitHit::Timeout), "{o:?}");
    assert!(
        o.duration < limits.timeout + Duration::from_secs(2),
        "the run outlived its timeout: {:?}",
        o.duration
    );
    assert!(
        most >= 2,
        "control: the bomb was never seen forking ({most})"
    );
    assert!(
        most as u64 <= limits.pids,
        "{most} bomb processes at once with a limit of {}",
        limits.pids
    );
    assert!(
        left.is_empty(),
        "fork bomb processes survived the run: {left:?}"
    );
}

#[test]
fn bash_fork_bomb_is_contained() {
    let marker = unique("warden-bashbomb");
    let limits = bomb_limits();
    let code = format!("exec /bin/bash -c ':(){{ :|:& }};:; wait; sleep 30' {marker}\n");
    let (o, most, left) = if TIER == Tier::Gvisor {
        // gVisor: the bomb's processes are the Sentry's, not the host's: count them inside.
        let argv = "['/bin/bash', '-c', ':(){ :|:& };:; wait; sleep 30', MARKER]";
        run_counted_inside(argv, limits.clone(), &marker)
    } else {
        run_marked(Runtime::bash(), &code, limits.clone(), &marker)
    };
    // It ends one way or the other (usually at the timeout), but never late.
    assert!(
        o.limit == Some(LimitHit::Timeout) || matches!(o.exit, Exit::Code(_) | Exit::Signal(_)),
        "{o:?}"
    );
    assert!(
        o.duration < limits.timeout + Duration::from_secs(2),
        "the run outlived its timeout: {:?}",
        o.duration
    );
    assert!(
        most >= 2,
        "control: the bomb was never seen forking ({most})"
    );
    assert!(most as u64 <= limits.pids, "{most} bomb processes at once");
    assert!(
        left.is_empty(),
        "fork bomb processes survived the run: {left:?}"
    );
}

#[test]
fn memory_bomb_is_killed_at_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..test_limits()
    };
    let o = attack_with(
        r#"
chunks = []
for i in range(100000):
    chunks.append(b'\x01' * (1 << 20))
    if i == 7: print('allocated', i + 1, flush=True)
print('survived', len(chunks))
"#,
        limits.clone(),
    );
    let out = stdout(&o);
    assert_eq!(o.limit, Some(LimitHit::Memory), "{o:?}");
    assert_eq!(o.exit, Exit::Signal(libc::SIGKILL), "{o:?}");
    assert_eq!(
        field(&out, "allocated"),
        "8",
        "control: the bomb ran:\n{out}"
    );
    assert!(!out.contains("survived"), "{out}");
    // gVisor: the cgroup also holds the Sentry and the Gofer, and gets MEMORY_OVERHEAD more.
    let cgroup_limit = if TIER == Tier::Gvisor {
        limits.memory_bytes + warden_jail::gvisor::MEMORY_OVERHEAD
    } else {
        limits.memory_bytes
    };
    if let Some(peak) = o.peak_memory {
        assert!(peak <= cgroup_limit + (4 << 20), "peak {peak}");
    }
}

/// Python that fills `path` with up to `total` bytes in 1 MiB writes and reports how it ended.
const FILL: &str = r#"
def fill(path, total):
    written = 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            chunk = b'\x02' * (1 << 20)
            while written < total:
                written += os.write(fd, chunk)
        finally: os.close(fd)
        print('fill', path, 'ok', written)
    except OSError as e:
        print('fill', path, e.errno, written)
    os.remove(path)
    # Control: once the space is freed, small writes work again.
    with open(path, 'w') as f: f.write('small')
    print('after', path, open(path).read())
"#;

/// Parses `fill <path> <errno> <written>` lines.
fn fill_result(out: &str, path: &str) -> (String, u64) {
    let line = fields(out, "fill")
        .into_iter()
        .find_map(|l| l.strip_prefix(&format!("{path} ")))
        .unwrap_or_else(|| panic!("no fill result for {path}:\n{out}"));
    let (how, written) = line.split_once(' ').unwrap();
    (how.to_string(), written.parse().unwrap())
}

#[test]
fn workspace_fill_fails_with_enospc() {
    let limits = Limits {
        workspace_bytes: 4 << 20,
        ..test_limits()
    };
    let o = attack_with(&format!("{FILL}\nfill('/workspace/big', 8 << 20)"), limits);
    let out = ok_stdout(&o);
    let (how, written) = fill_result(&out, "/workspace/big");
    assert_eq!(how, libc::ENOSPC.to_string(), "{out}");
    assert!(
        (1 << 20..=4 << 20).contains(&written),
        "wrote {written} bytes into a 4 MiB workspace"
    );
    assert_eq!(field(&out, "after"), "/workspace/big small", "{out}");
}

#[test]
fn tmp_and_shm_fill_fail_with_enospc() {
    let limits = Limits {
        tmp_bytes: 4 << 20,
        ..test_limits()
    };
    let o = attack_with(
        &format!("{FILL}\nfill('/tmp/big', 8 << 20)\nfill('/dev/shm/big', 8 << 20)"),
        limits,
    );
    let out = ok_stdout(&o);
    for path in ["/tmp/big", "/dev/shm/big"] {
        let (how, written) = fill_result(&out, path);
        assert_eq!(how, libc::ENOSPC.to_string(), "{path}:\n{out}");
        assert!(
            (1 << 20..=4 << 20).contains(&written),
            "wrote {written} bytes into a 4 MiB {path}"
        );
    }
    assert_eq!(fields(&out, "after").len(), 2, "{out}");
}

#[test]
fn spin_loop_is_killed_at_the_timeout() {
    let limits = timeout_limits(2);
    let o = attack_with(
        "print('spinning', flush=True)\nwhile True: pass",
        limits.clone(),
    );
    assert_eq!(o.limit, Some(LimitHit::Timeout), "{o:?}");
    assert_eq!(o.exit, Exit::Signal(libc::SIGKILL), "{o:?}");
    assert!(o.duration >= limits.timeout, "{:?}", o.duration);
    assert!(
        o.duration < limits.timeout + Duration::from_secs(2),
        "{:?}",
        o.duration
    );
    assert_eq!(stdout(&o), "spinning\n", "control: the program ran");
}

#[test]
fn many_threads_hit_the_pid_limit_and_the_timeout() {
    let limits = Limits {
        pids: 16,
        cpus: Some(0.5),
        ..timeout_limits(3)
    };
    let o = attack_with(
        r#"
import threading
n = 0
go = threading.Event()
def spin():
    go.wait()  # start spinning once all are started: counting stays quick under load
    while True: pass
try:
    for i in range(1000):
        threading.Thread(target=spin, daemon=True).start(); n += 1
except RuntimeError as e: print('refused', e)
print('threads', n, flush=True)
go.set()
while True: pass
"#,
        limits.clone(),
    );
    let out = stdout(&o);
    assert_eq!(o.limit, Some(LimitHit::Timeout), "{o:?}");
    assert!(
        o.duration < limits.timeout + Duration::from_secs(2),
        "{o:?}"
    );
    let n: u64 = field(&out, "threads").parse().unwrap();
    assert!(n >= 1, "control: no thread started:\n{out}");
    assert!(
        n < limits.pids,
        "{n} threads with a pids limit of {}",
        limits.pids
    );
    assert!(
        field(&out, "refused").contains("can't start new thread"),
        "{out}"
    );
}

#[test]
fn cpu_time_limit_kills_a_spinning_program() {
    let limits = Limits {
        cpu_time: Some(Duration::from_secs(1)),
        ..test_limits()
    };
    let o = attack_with(
        "print('spinning', flush=True)\nwhile True: pass",
        limits.clone(),
    );
    // SIGXCPU at the soft limit ends a program that does not handle it, after about one
    // second of CPU, long before the wall-clock timeout.
    assert_eq!(o.exit, Exit::Signal(libc::SIGXCPU), "{o:?}");
    assert_eq!(o.limit, Some(LimitHit::CpuTime), "{o:?}");
    assert!(o.duration < limits.timeout, "{o:?}");
    assert!(
        o.cpu_time >= Duration::from_millis(500) && o.cpu_time < Duration::from_secs(3),
        "{o:?}"
    );
    assert_eq!(stdout(&o), "spinning\n");
}

#[test]
fn output_flood_is_truncated_at_the_cap() {
    let limits = Limits {
        output_bytes: 64 << 10,
        ..test_limits()
    };
    let o = attack_with(
        r#"
chunk = b'x' * (1 << 20)
for _ in range(50): sys.stdout.buffer.write(chunk)
sys.stdout.buffer.flush()
print('done', file=sys.stderr)
"#,
        limits,
    );
    assert_eq!(o.exit, Exit::Code(0), "{}", stderr(&o));
    assert_eq!(o.limit, None);
    assert!(o.stdout.truncated);
    assert_eq!(o.stdout.bytes.len(), 65536);
    assert!(o.stdout.bytes.iter().all(|&b| b == b'x'));
    assert_eq!(
        o.stdout.total,
        50 << 20,
        "every byte was drained and counted"
    );
    assert!(!o.stderr.truncated);
    assert_eq!(stderr(&o), "done\n", "control: the program finished");
}

#[test]
fn open_file_limit_is_enforced() {
    let limits = Limits {
        open_files: 32,
        ..test_limits()
    };
    let o = attack_with(
        r#"
import resource
fds = []
try:
    while len(fds) < 100000: fds.append(os.open('/dev/null', os.O_RDONLY))
    print('stopped never')
except OSError as e: print('stopped', len(fds), e.errno)
for fd in fds: os.close(fd)
for lim in [(4096, 4096), (32, 4096)]:
    try: resource.setrlimit(resource.RLIMIT_NOFILE, lim); print('raised', *lim)
    except (ValueError, OSError) as e: print('raise-denied', *lim)
print('limit', *resource.getrlimit(resource.RLIMIT_NOFILE))
"#,
        limits,
    );
    let out = ok_stdout(&o);
    let stopped: Vec<i64> = field(&out, "stopped")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(stopped[1], i64::from(libc::EMFILE), "{out}");
    assert!(
        (16..32).contains(&stopped[0]),
        "opened {} descriptors with a limit of 32",
        stopped[0]
    );
    assert!(fields(&out, "raised").is_empty(), "{out}");
    assert_eq!(fields(&out, "raise-denied").len(), 2, "{out}");
    assert_eq!(field(&out, "limit"), "32 32", "{out}");
}

#[test]
fn file_size_limit_is_enforced() {
    let limits = Limits {
        file_size_bytes: 64 << 10,
        ..test_limits()
    };
    let o = attack_with(
        r#"
import signal
print('sigxfsz', signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN)
fd = os.open('/workspace/big', os.O_WRONLY | os.O_CREAT, 0o644)
written = 0
try:
    while written < (1 << 20): written += os.write(fd, b'y' * 4096)
    print('write ok', written)
except OSError as e: print('write', e.errno, written)
try: os.truncate('/workspace/big', 1 << 20); print('truncate ok')
except OSError as e: print('truncate', e.errno)
print('size', os.stat('/workspace/big').st_size)
open('/workspace/small', 'w').write('fits')
print('control', open('/workspace/small').read())
"#,
        limits,
    );
    let out = ok_stdout(&o);
    // Python ignores SIGXFSZ, so the limit shows as EFBIG rather than a signal.
    assert_eq!(field(&out, "sigxfsz"), "True", "{out}");
    assert_eq!(
        field(&out, "write"),
        format!("{} 65536", libc::EFBIG),
        "{out}"
    );
    assert_eq!(field(&out, "truncate"), libc::EFBIG.to_string(), "{out}");
    assert_eq!(field(&out, "size"), "65536", "{out}");
    assert_eq!(field(&out, "control"), "fits", "{out}");
}

// =======================================================================================
// Daemons do not outlive the run.
// =======================================================================================

/// Runs a background sandbox that starts a daemon carrying `marker` and then calls ready;
/// checks the daemon was visible on the host while the sandbox ran (as host uid 65534)
/// and is gone after it.
fn assert_daemon_dies(runtime: Runtime, code: &str, marker: &str) {
    let mut bg = Background::start(runtime, code, test_limits());
    let info = bg.ready();
    assert!(
        info.trim() == "running",
        "the daemon did not start: {info:?}"
    );
    if TIER == Tier::Gvisor {
        // gVisor: the daemon is the Sentry's process, not a host one (the program saw it
        // in its own /proc): the host sees the Sentry, as nobody, and it must end with the run.
        let during = sandbox_host_processes(&bg.workspace);
        assert!(
            !during.is_empty(),
            "control: no host process in the sandbox's cgroup"
        );
        let runsc = bg.sandbox.as_ref().unwrap().pid() as u32;
        for (pid, _) in &during {
            if *pid == runsc || host_cmdline(*pid).starts_with("runsc-gofer") {
                continue;
            }
            assert_eq!(
                host_uid_of(*pid),
                Some(65534),
                "Sentry process {pid} runs as a host user other than nobody"
            );
        }
        let o = bg.finish();
        let out = ok_stdout(&o);
        assert!(out.contains("finished"), "{out}");
        let left = host_processes_gone(&during, Duration::from_secs(3));
        assert!(
            left.is_empty(),
            "the sandbox's host processes outlived it: {left:?}"
        );
        return;
    }
    let during = host_pids_with(marker);
    assert!(
        !during.is_empty(),
        "control: the running daemon is not visible on the host"
    );
    for pid in &during {
        assert_eq!(
            host_uid_of(*pid),
            Some(65534),
            "daemon {pid} runs as a host user other than nobody"
        );
    }
    let o = bg.finish();
    let out = ok_stdout(&o);
    assert!(out.contains("finished"), "{out}");
    let left = host_pids_gone(marker, Duration::from_secs(3));
    assert!(
        left.is_empty(),
        "daemon processes outlived the sandbox: {left:?}"
    );
}

#[test]
fn double_fork_daemon_does_not_outlive_the_run() {
    let marker = unique("warden-daemon");
    let code = format!(
        r#"
{PRELUDE}
{HANDSHAKE}
import signal
MARKER = {marker:?}
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() != 0: os._exit(0)
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT): signal.signal(sig, signal.SIG_IGN)
    os.execv('/usr/bin/sleep', [MARKER, '60'])
os.waitpid(pid, 0)
def running():
    for p in os.listdir('/proc'):
        try:
            if p.isdigit() and MARKER.encode() in open('/proc/' + p + '/cmdline', 'rb').read(): return True
        except OSError: pass
    return False
end = time.time() + 5
while not running() and time.time() < end: time.sleep(0.01)
ready('running' if running() else 'missing')
wait_done()
print('finished')
"#
    );
    assert_daemon_dies(Runtime::python(), &code, &marker);
}

#[test]
fn nohup_daemon_does_not_outlive_the_run() {
    let marker = unique("warden-nohup");
    // `[w]arden-...` matches the marker without grep's own command line matching itself.
    let pattern = format!("[{}]{}", &marker[..1], &marker[1..]);
    let code = format!(
        r#"
nohup /bin/bash -c 'trap "" HUP TERM INT; exec -a {marker} sleep 60' >/dev/null 2>&1 &
disown
state=missing
for i in $(seq 250); do
  if grep -qa '{pattern}' /proc/[0-9]*/cmdline 2>/dev/null; then state=running; break; fi
  sleep 0.02
done
echo "$state" > /workspace/.ready && mv /workspace/.ready /workspace/ready
for i in $(seq 750); do [ -e /workspace/done ] && break; sleep 0.02; done
echo finished
"#
    );
    assert_daemon_dies(Runtime::bash(), &code, &marker);
}

// =======================================================================================
// Denied system calls (x86_64 numbers, from asm/unistd_64.h). Arguments are harmless,
// and where possible chosen so that the kernel itself would not answer EPERM (so the
// seccomp filter is what is tested): e.g. open_tree on "/" or userfaultfd in user mode
// would succeed without it.
// =======================================================================================

#[test]
fn ptrace_is_denied_by_seccomp() {
    // PTRACE_TRACEME (0) is harmless if allowed, so a success would be visible as ret 0.
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry implements ptrace among its own processes; it must not reach
        // any host process (the test's own pid is not even there) nor make the host trace.
        let host = std::process::id();
        let out = attack(&format!(
            r#"
print('traceme', *syscall(101, 0, 0, 0, 0))
print('attach-host', *syscall(101, 16, {host}, 0, 0))
print('attach-seize', *syscall(101, 0x4206, {host}, 0, 0))
"#
        ));
        assert_eq!(field(&out, "traceme"), "0 0", "{out}");
        for key in ["attach-host", "attach-seize"] {
            assert_eq!(field(&out, key), format!("-1 {}", libc::ESRCH), "{out}");
        }
        assert_eq!(host_status_field(host, "TracerPid").as_deref(), Some("0"));
        return;
    }
    let out = attack("r, e = syscall(101, 0, 0, 0, 0); print(r, e)");
    assert_eq!(out.trim(), format!("-1 {}", libc::EPERM));
}

#[test]
fn process_memory_syscalls_are_denied() {
    let eperm = libc::EPERM;
    assert_denied(
        &[
            (
                "process_vm_readv_self",
                310,
                "os.getpid(), 0, 0, 0, 0, 0",
                eperm,
            ),
            ("process_vm_readv_init", 310, "1, 0, 0, 0, 0, 0", eperm),
            (
                "process_vm_writev_self",
                311,
                "os.getpid(), 0, 0, 0, 0, 0",
                eperm,
            ),
            ("process_vm_writev_init", 311, "1, 0, 0, 0, 0, 0", eperm),
            (
                "pidfd_getfd",
                438,
                "syscall(434, os.getpid(), 0)[0], 0, 0",
                eperm,
            ),
            (
                "process_madvise",
                440,
                "syscall(434, os.getpid(), 0)[0], 0, 0, 20, 0",
                eperm,
            ),
            ("kcmp", 312, "os.getpid(), os.getpid(), 0, 0, 0", eperm),
            ("ptrace_attach_init", 101, "16, 1, 0, 0", eperm),
        ],
        "",
    );
}

#[test]
fn mount_syscalls_are_denied() {
    let eperm = libc::EPERM;
    assert_denied(
        &[
            (
                "mount",
                165,
                "s('none'), s('/tmp'), s('tmpfs'), 0, 0",
                eperm,
            ),
            (
                "mount_remount_rw",
                165,
                "0, s('/usr'), 0, 0x20 | 0x1000, 0",
                eperm,
            ),
            ("umount2", 166, "s('/tmp'), 2", eperm),
            ("pivot_root", 155, "s('/tmp'), s('/tmp')", eperm),
            ("chroot", 161, "s('/tmp')", eperm),
            ("fsopen", 430, "s('tmpfs'), 0", eperm),
            ("fsconfig", 431, "-1, 0, 0, 0, 0", eperm),
            ("fsmount", 432, "-1, 0, 0", eperm),
            ("fspick", 433, "AT_FDCWD, s('/tmp'), 0", eperm),
            (
                "move_mount",
                429,
                "-1, s(''), AT_FDCWD, s('/tmp'), 0",
                eperm,
            ),
            ("open_tree", 428, "AT_FDCWD, s('/'), 0", eperm),
            (
                "mount_setattr",
                442,
                "AT_FDCWD, s('/tmp'), 0, buf(), 32",
                eperm,
            ),
        ],
        "",
    );
}

/// Python for the gVisor tier, where the Sentry lets a process into new namespaces of its
/// own: `confined(tag, port)` prints what such a process can do (run after `SYSCALL_TABLE`).
const SENTRY_NAMESPACE_CHECKS: &str = r#"
import socket
def confined(tag, port):
    try: open('/usr/pwned', 'w'); print(tag, 'wrote-usr')
    except OSError as e: print(tag, 'usr', e.errno)
    print(tag, 'remount', syscall(165, 0, s('/usr'), 0, 0x20 | 0x1000, 0)[0])
    print(tag, 'mount', syscall(165, s('none'), s('/tmp'), s('tmpfs'), 0, 0)[0])
    try:
        fd = os.open('/proc/self/uid_map', os.O_WRONLY); os.write(fd, b'0 0 1\n'); print(tag, 'mapped-root')
    except OSError as e: print(tag, 'uid_map', e.errno)
    print(tag, 'setuid0', syscall(105, 0)[0])
    c = socket.socket(); c.settimeout(2)
    try: c.connect(('127.0.0.1', port)); print(tag, 'reached-host')
    except OSError as e: print(tag, 'host-tcp', e.errno)
    print(tag, 'done', flush=True)
def confined_child(tag, port, flags):
    r, e = syscall(56, flags | 17, 0, 0, 0, 0)
    if r == 0:
        confined(tag, port); os._exit(0)
    if r > 0: os.waitpid(r, 0)
    print(tag, 'clone', r, e, flush=True)  # after the child's lines, not among them
"#;

/// Asserts what [`SENTRY_NAMESPACE_CHECKS`] printed under `tag`: in its new namespaces the
/// process still could not write system directories, mount, map the root uid, become root
/// or reach the host's `listener`.
#[track_caller]
fn assert_confined_in_sentry_namespaces(out: &str, tag: &str, listener: &TcpListener) {
    let lines = fields(out, tag);
    assert!(lines.contains(&"done"), "{tag} did not finish:\n{out}");
    for bad in ["wrote-usr", "mapped-root", "reached-host"] {
        assert!(!lines.contains(&bad), "{tag}: {bad}\n{out}");
    }
    for key in ["remount", "mount", "setuid0"] {
        assert!(
            lines.contains(&format!("{key} -1").as_str()),
            "{tag}: {key}\n{out}"
        );
    }
    for key in ["usr ", "uid_map ", "host-tcp "] {
        assert!(
            lines.iter().any(|l| l.starts_with(key)),
            "{tag}: {key}\n{out}"
        );
    }
    assert_no_connection(listener);
}

#[test]
fn namespace_syscalls_are_denied() {
    let eperm = libc::EPERM;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let table: Vec<Denied> = [
        ("unshare_newuser", 272, "0x10000000", eperm),
        ("unshare_newns", 272, "0x00020000", eperm),
        ("unshare_newnet", 272, "0x40000000", eperm),
        ("unshare_newpid", 272, "0x20000000", eperm),
        ("unshare_nothing", 272, "0", eperm),
        (
            "setns_net",
            308,
            "os.open('/proc/self/ns/net', os.O_RDONLY), 0",
            eperm,
        ),
        ("setns_bad_fd", 308, "-1, 0", eperm),
    ]
    .into_iter()
    // gVisor: the Sentry gives unshare namespaces of its own (checked in a child below).
    .filter(|(name, ..)| TIER != Tier::Gvisor || !name.starts_with("unshare"))
    .collect();
    // A new user namespace would show an empty uid_map.
    let mut extra = String::from(
        "print('control-ns', os.readlink('/proc/self/ns/user').startswith('user:['), \
         open('/proc/self/uid_map').read().split())\n",
    );
    if TIER == Tier::Gvisor {
        extra.push_str(SENTRY_NAMESPACE_CHECKS);
        extra.push_str(&format!(
            r#"
pid = os.fork()
if pid == 0:
    print('unshared', *syscall(272, 0x10000000 | 0x00020000 | 0x40000000 | 0x20000000), flush=True)
    confined('ns-child', {port}); os._exit(0)
os.waitpid(pid, 0)
"#
        ));
    }
    let out = assert_denied(&table, &extra);
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry's root user namespace maps its ids to themselves (not the host's).
        assert_eq!(
            field(&out, "control-ns"),
            "True ['0', '0', '4294967295']",
            "{out}"
        );
        assert_eq!(
            field(&out, "unshared"),
            "0 0",
            "control: unshare worked:\n{out}"
        );
        assert_confined_in_sentry_namespaces(&out, "ns-child", &listener);
        return;
    }
    assert_eq!(
        field(&out, "control-ns"),
        "True ['1000', '65534', '1']",
        "{out}"
    );
}

#[test]
fn clone_with_namespace_flags_is_denied() {
    // Raw clone(flags | SIGCHLD, NULL stack): a success would fork (the child exits at once).
    let eperm = libc::EPERM;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // gVisor: the Sentry allows these (namespaces of its own; checked in the children below).
    let sentry_allows = [
        ("clone_newuser", 0x1000_0000),
        ("clone_newns", 0x0002_0000),
        ("clone_newcgroup", 0x0200_0000),
        ("clone_newuser_newns", 0x1002_0000),
    ];
    let table: Vec<Denied> = [
        ("clone_newuser", 56, "0x10000000 | 17, 0, 0, 0, 0", eperm),
        ("clone_newnet", 56, "0x40000000 | 17, 0, 0, 0, 0", eperm),
        ("clone_newns", 56, "0x00020000 | 17, 0, 0, 0, 0", eperm),
        ("clone_newpid", 56, "0x20000000 | 17, 0, 0, 0, 0", eperm),
        ("clone_newipc", 56, "0x08000000 | 17, 0, 0, 0, 0", eperm),
        ("clone_newuts", 56, "0x04000000 | 17, 0, 0, 0, 0", eperm),
        ("clone_newcgroup", 56, "0x02000000 | 17, 0, 0, 0, 0", eperm),
        (
            "clone_newuser_newns",
            56,
            "0x10020000 | 17, 0, 0, 0, 0",
            eperm,
        ),
        ("clone3", 435, "buf(), 88", libc::ENOSYS),
        ("clone3_empty", 435, "0, 0", libc::ENOSYS),
    ]
    .into_iter()
    .filter(|(name, ..)| TIER != Tier::Gvisor || !sentry_allows.iter().any(|(n, _)| n == name))
    .collect();
    let mut extra = String::new();
    if TIER == Tier::Gvisor {
        extra.push_str(SENTRY_NAMESPACE_CHECKS);
        for (name, flags) in sentry_allows {
            extra.push_str(&format!("confined_child({name:?}, {port}, {flags})\n"));
        }
    }
    let out = assert_denied(
        &table,
        &(extra
            + r#"
pid = os.fork()
if pid == 0: os._exit(7)
print('control-fork', os.WEXITSTATUS(os.waitpid(pid, 0)[1]))
r, e = syscall(56, 17, 0, 0, 0, 0)
if r == 0: os._exit(5)
print('control-raw-clone', os.WEXITSTATUS(os.waitpid(r, 0)[1]) if r > 0 else 'failed')
"#),
    );
    if TIER == Tier::Gvisor {
        for (name, _) in sentry_allows {
            assert_confined_in_sentry_namespaces(&out, name, &listener);
        }
    }
    assert_eq!(field(&out, "control-fork"), "7", "{out}");
    assert_eq!(field(&out, "control-raw-clone"), "5", "{out}");
}

#[test]
fn kernel_module_and_kexec_syscalls_are_denied() {
    let eperm = libc::EPERM;
    assert_denied(
        &[
            ("init_module", 175, "buf(), 16, s('')", eperm),
            ("finit_module", 313, "-1, s(''), 0", eperm),
            ("delete_module", 176, "s('warden_none'), 0x800", eperm),
            ("create_module", 174, "s('warden_none'), 0", eperm),
            ("get_kernel_syms", 177, "0", eperm),
            ("query_module", 178, "s(''), 0, 0, 0, 0", eperm),
            ("kexec_load", 246, "0, 0, 0, 0", eperm),
            ("kexec_file_load", 320, "-1, -1, 0, s(''), 0", eperm),
        ],
        "",
    );
}

#[test]
fn bpf_perf_and_userfaultfd_are_denied() {
    let eperm = libc::EPERM;
    assert_denied(
        &[
            ("bpf_map_create", 321, "0, buf(), 72", eperm),
            ("bpf_prog_load", 321, "5, buf(), 144", eperm),
            ("perf_event_open", 298, "buf(), 0, -1, -1, 0", eperm),
            ("userfaultfd_user_mode", 323, "1", eperm),
            ("userfaultfd", 323, "0", eperm),
            ("fanotify_init", 300, "0, 0", eperm),
            ("lookup_dcookie", 212, "0, 0, 0", eperm),
        ],
        "",
    );
}

#[test]
fn io_uring_syscalls_are_denied() {
    let eperm = libc::EPERM;
    let table: Vec<Denied> = [
        ("io_uring_setup", 425, "4, buf()", eperm),
        ("io_uring_enter", 426, "-1, 0, 0, 0, 0, 0", eperm),
        ("io_uring_register", 427, "-1, 0, 0, 0", eperm),
    ]
    .into_iter()
    // gVisor: the Sentry implements io_uring over its own VFS (the host kernel's is never
    // reached: the Sentry runs under a host seccomp filter, see capabilities_are_dropped_...).
    .filter(|(name, ..)| TIER != Tier::Gvisor || *name != "io_uring_setup")
    .collect();
    let extra = if TIER == Tier::Gvisor {
        "r, e = syscall(425, 4, buf())\nprint('ring', os.readlink('/proc/self/fd/%d' % r) if r >= 0 else e)\n"
    } else {
        ""
    };
    let out = assert_denied(&table, extra);
    if TIER == Tier::Gvisor {
        assert_eq!(field(&out, "ring"), "anon_inode:[io_uring]", "{out}");
    }
}

#[test]
fn keyring_syscalls_are_denied() {
    // Kernel keyrings are not namespaced: reading or adding keys must fail.
    let eperm = libc::EPERM;
    assert_denied(
        &[
            ("keyctl_get_session", 250, "0, -3, 0", eperm),
            ("keyctl_join_session", 250, "1, 0", eperm),
            (
                "add_key_process",
                248,
                "s('user'), s('warden'), s('x'), 1, -2",
                eperm,
            ),
            (
                "request_key",
                249,
                "s('user'), s('warden-none'), 0, 0",
                eperm,
            ),
        ],
        "",
    );
}

#[test]
fn file_handle_syscalls_are_denied() {
    // open_by_handle_at can open files outside the mount namespace (shocker).
    let eperm = libc::EPERM;
    assert_denied(
        &[
            (
                "name_to_handle_at",
                303,
                "AT_FDCWD, s('/'), buf(), buf(), 0",
                eperm,
            ),
            ("open_by_handle_at", 304, "AT_FDCWD, buf(), 0", eperm),
            (
                "open_by_handle_at_root_fd",
                304,
                "os.open('/', os.O_RDONLY), buf(), 0",
                eperm,
            ),
        ],
        "",
    );
}

#[test]
fn system_administration_syscalls_are_denied() {
    let eperm = libc::EPERM;
    let out = assert_denied(
        &[
            // reboot with a wrong magic: harmless even if allowed.
            ("reboot", 169, "0, 0, 0, 0", eperm),
            ("swapon", 167, "s('/workspace/swap'), 0", eperm),
            ("swapoff", 168, "s('/workspace/swap')", eperm),
            ("acct", 163, "s('/workspace/acct')", eperm),
            ("quotactl", 179, "0, 0, 0, 0", eperm),
            ("quotactl_fd", 443, "-1, 0, 0, 0", eperm),
            ("iopl", 172, "0", eperm),
            ("ioperm", 173, "0, 0, 0", eperm),
            ("syslog", 103, "10, 0, 0", eperm),
            ("uselib", 134, "s('/usr/lib/none')", eperm),
            ("vhangup", 153, "", eperm),
            ("_sysctl", 156, "buf()", eperm),
            ("nfsservctl", 180, "0, 0, 0", eperm),
        ]
        .into_iter()
        // gVisor: syslog reads the Sentry's own made-up boot log, not the host's (checked).
        .filter(|(name, ..)| TIER != Tier::Gvisor || *name != "syslog")
        .collect::<Vec<Denied>>(),
        if TIER == Tier::Gvisor {
            "b = buf(size=8192)\nr, e = syscall(103, 3, b, 8192)\n\
             print('syslog', r > 0 and b'Starting gVisor' in ctypes.string_at(b, r))\n"
        } else {
            ""
        },
    );
    if TIER == Tier::Gvisor {
        assert_eq!(field(&out, "syslog"), "True", "{out}");
    }
}

#[test]
fn clock_syscalls_are_denied() {
    let eperm = libc::EPERM;
    let before = std::time::SystemTime::now();
    let out = assert_denied(
        &[
            ("settimeofday", 164, "buf(), 0", eperm),
            ("settimeofday_null", 164, "0, 0", eperm),
            ("clock_settime", 227, "0, buf()", eperm),
            ("clock_adjtime_read", 305, "0, buf()", eperm),
            ("adjtimex_read", 159, "buf()", eperm),
        ],
        r#"
import time
r, e = syscall(228, 0, buf())
print('control-clock_gettime', r, e, time.time() > 1.6e9)
"#,
    );
    assert_eq!(field(&out, "control-clock_gettime"), "0 0 True", "{out}");
    // The host clock did not jump back to the epoch.
    assert!(
        std::time::SystemTime::now() >= before,
        "the host clock moved backwards"
    );
}

#[test]
fn hostname_is_sandbox_and_cannot_be_changed() {
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host_domain = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let out = assert_denied(
        &[
            ("sethostname", 170, "s('pwned'), 5", libc::EPERM),
            ("setdomainname", 171, "s('pwned'), 5", libc::EPERM),
        ],
        r#"
import socket, subprocess
print('uname', os.uname().nodename, socket.gethostname())
r = subprocess.run(['/bin/hostname', 'pwned'], capture_output=True)
print('hostname-cmd', r.returncode != 0)
print('after', os.uname().nodename, open('/proc/sys/kernel/hostname').read().strip())
"#,
    );
    assert_eq!(field(&out, "uname"), "sandbox sandbox", "{out}");
    assert_eq!(field(&out, "hostname-cmd"), "True", "{out}");
    assert_eq!(field(&out, "after"), "sandbox sandbox", "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host_domain
    );
}

#[test]
fn personality_changes_are_denied() {
    let eperm = libc::EPERM;
    let out = assert_denied(
        &[
            ("personality_addr_no_randomize", 135, "0x0040000", eperm),
            ("personality_read_implies_exec", 135, "0x0400000", eperm),
            ("personality_mmap_page_zero", 135, "0x0100000", eperm),
            ("personality_addr_compat_layout", 135, "0x0200000", eperm),
            ("personality_short_inode", 135, "0x1000000", eperm),
        ],
        r#"
print('control-query', *syscall(135, 0xffffffff))
print('control-linux', *syscall(135, 0))
try: print('randomize', open('/proc/self/personality').read().strip())
except FileNotFoundError: print('randomize', 'absent')
"#,
    );
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry implements no personality at all: every call is EINVAL, and
        // its /proc has no personality file.
        let einval = format!("-1 {}", libc::EINVAL);
        assert_eq!(field(&out, "control-query"), einval, "{out}");
        assert_eq!(field(&out, "control-linux"), einval, "{out}");
        assert_eq!(field(&out, "randomize"), "absent", "{out}");
        return;
    }
    assert_eq!(field(&out, "control-query"), "0 0", "{out}");
    assert_eq!(field(&out, "control-linux"), "0 0", "{out}");
    assert_eq!(field(&out, "randomize"), "00000000", "{out}");
}

#[test]
fn terminal_injection_ioctls_are_denied() {
    let eperm = libc::EPERM;
    let out = assert_denied(
        &[
            // On /dev/null the kernel itself would answer ENOTTY.
            ("ioctl_tiocsti_stdin", 16, "0, 0x5412, s('x')", eperm),
            ("ioctl_tiocsti_stdout", 16, "1, 0x5412, s('x')", eperm),
            ("ioctl_tioclinux", 16, "0, 0x541C, buf()", eperm),
        ],
        r#"
r, w = os.pipe(); os.write(w, b'abc')
n = ctypes.c_int(0)
print('control-fionread', syscall(16, r, 0x541B, ctypes.addressof(n))[0], n.value)
"#,
    );
    assert_eq!(field(&out, "control-fionread"), "0 3", "{out}");
}

// =======================================================================================
// Capabilities and identity.
// =======================================================================================

#[test]
fn capabilities_are_dropped_and_seccomp_is_on() {
    let out = attack(
        r#"
import subprocess
KEYS = ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')
def show(who, text):
    d = dict(l.split(':', 1) for l in text.splitlines() if ':' in l)
    print(who, *[k + '=' + d.get(k, '-').strip() for k in KEYS])
show('self', open('/proc/self/status').read())
show('child', subprocess.run(['/bin/cat', '/proc/self/status'], capture_output=True, text=True).stdout)
show('init', open('/proc/1/status').read())
print('no-new-privs', *syscall(157, 39, 0, 0, 0, 0))
"#,
    );
    let zero = "0000000000000000";
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry's status has no CapAmb or NoNewPrivs line, and no filter of ours
        // inside (the Sentry answers every call): ask prctl, and check the Sentry's host
        // processes run without privileges under its own seccomp filter.
        let expected = format!(
            "CapInh={zero} CapPrm={zero} CapEff={zero} CapBnd={zero} CapAmb=- NoNewPrivs=- Seccomp=0"
        );
        for who in ["self", "child", "init"] {
            assert_eq!(field(&out, who), expected, "{who}:\n{out}");
        }
        assert_eq!(field(&out, "no-new-privs"), "1 0", "{out}");
        let mut bg = Background::python("ready()\nwait_done()\n", test_limits());
        bg.ready();
        let runsc = bg.sandbox.as_ref().unwrap().pid() as u32;
        let mut sentry = 0;
        for (pid, _) in sandbox_host_processes(&bg.workspace) {
            if pid == runsc {
                continue;
            }
            let gofer = host_cmdline(pid).starts_with("runsc-gofer");
            assert_eq!(
                host_status_field(pid, "Seccomp").as_deref(),
                Some("2"),
                "{pid}"
            );
            assert_eq!(
                host_status_field(pid, "NoNewPrivs").as_deref(),
                Some("1"),
                "{pid}"
            );
            if !gofer {
                assert_eq!(host_uid_of(pid), Some(65534), "Sentry process {pid}");
                sentry += 1;
            }
        }
        assert!(sentry >= 1, "control: no Sentry process found");
        ok_stdout(&bg.finish());
        return;
    }
    let expected = format!(
        "CapInh={zero} CapPrm={zero} CapEff={zero} CapBnd={zero} CapAmb={zero} NoNewPrivs=1 Seccomp=2"
    );
    for who in ["self", "child", "init"] {
        assert_eq!(field(&out, who), expected, "{who}:\n{out}");
    }
}

#[test]
fn sandbox_user_is_unprivileged() {
    // gVisor: the program runs as host nobody (65534) itself, in the Sentry's root user
    // namespace (ids map to themselves, no setgroups file): another uid to try is 1000.
    let (me, other) = if TIER == Tier::Gvisor {
        (65534, 1000)
    } else {
        (1000, 65534)
    };
    let out = attack(&format!(
        r#"
print('ids', os.getuid(), os.geteuid(), os.getgid(), os.getegid(), len(os.getgroups()))
print('uid_map', *open('/proc/self/uid_map').read().split())
print('gid_map', *open('/proc/self/gid_map').read().split())
try: print('setgroups', open('/proc/self/setgroups').read().strip())
except FileNotFoundError: print('setgroups', 'absent')
for name, f in [('setuid', lambda: os.setuid(0)), ('setgid', lambda: os.setgid(0)),
                ('seteuid', lambda: os.seteuid(0)), ('setresuid', lambda: os.setresuid(0, 0, 0)),
                ('setuid-nobody', lambda: os.setuid({other})), ('setgroups', lambda: os.setgroups([0]))]:
    try: f(); print('became', name)
    except OSError as e: print('denied', name, e.errno)
print('raw-setuid', *syscall(105, 0))
os.setuid({me})
print('after', os.getuid(), os.geteuid(), os.getresuid())
"#
    ));
    assert_eq!(
        field(&out, "ids"),
        format!("{me} {me} {me} {me} 0"),
        "{out}"
    );
    if TIER == Tier::Gvisor {
        assert_eq!(field(&out, "uid_map"), "0 0 4294967295", "{out}");
        assert_eq!(field(&out, "gid_map"), "0 0 4294967295", "{out}");
        assert_eq!(field(&out, "setgroups"), "absent", "{out}");
    } else {
        assert_eq!(field(&out, "uid_map"), "1000 65534 1", "{out}");
        assert_eq!(field(&out, "gid_map"), "1000 65534 1", "{out}");
        assert_eq!(field(&out, "setgroups"), "deny", "{out}");
    }
    assert!(fields(&out, "became").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    assert_eq!(denied.len(), 6, "{out}");
    for line in denied {
        let errno: i32 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        // Ids not mapped in the namespace are EINVAL; the rest EPERM.
        assert!(errno == libc::EINVAL || errno == libc::EPERM, "{line}");
    }
    let raw: Vec<i32> = field(&out, "raw-setuid")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(raw[0], -1, "{out}");
    assert_eq!(
        field(&out, "after"),
        format!("{me} {me} ({me}, {me}, {me})"),
        "{out}"
    );
}

#[test]
fn setuid_binaries_do_not_gain_root() {
    let out = attack(
        r#"
import stat, subprocess, time
SU = '/usr/bin/su'
print('setuid-bit', bool(os.stat(SU).st_mode & stat.S_ISUID))
for p in ['/usr', '/usr/bin', '/bin', '/tmp', '/workspace', '/dev/shm']:
    print('nosuid', p, bool(os.statvfs(p).f_flag & os.ST_NOSUID))
p = subprocess.Popen([SU, 'root', '-c', 'id -u'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
uid = 'unseen'
end = time.time() + 5
while time.time() < end:
    try:
        st = open('/proc/%d/status' % p.pid).read()
        if 'Name:\tsu\n' in st:
            uid = ' '.join([l for l in st.splitlines() if l.startswith('Uid:')][0].split()[1:]); break
    except OSError: pass
    time.sleep(0.005)
p.kill(); out, err = p.communicate(timeout=5)
print('su-uid', uid)
print('su-stdout', out.decode().strip() or '-')
m = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/tmp'], capture_output=True, text=True)
print('mount-failed', m.returncode != 0)
"#,
    );
    assert_eq!(
        field(&out, "setuid-bit"),
        "True",
        "control: su is setuid:\n{out}"
    );
    // gVisor: the Sentry's statvfs reports no mount flags (f_flag is ST_VALID only); what
    // keeps su from gaining root there is no_new_privs (capabilities_are_dropped_... checks).
    if TIER != Tier::Gvisor {
        for line in fields(&out, "nosuid") {
            assert!(
                line.ends_with(" True"),
                "mounted without nosuid: {line}\n{out}"
            );
        }
    }
    let su_uid = if TIER == Tier::Gvisor {
        "65534 65534 65534 65534"
    } else {
        "1000 1000 1000 1000"
    };
    assert_eq!(field(&out, "su-uid"), su_uid, "{out}");
    assert_ne!(
        field(&out, "su-stdout"),
        "0",
        "su ran a command as root:\n{out}"
    );
    assert_eq!(field(&out, "mount-failed"), "True", "{out}");
}

// =======================================================================================
// Devices.
// =======================================================================================

#[test]
fn dev_contains_only_safe_devices() {
    let out = attack(
        r#"
print('dev', *sorted(os.listdir('/dev')))
for p in ['/dev/mem', '/dev/kmem', '/dev/port', '/dev/sda', '/dev/vda', '/dev/nvme0n1', '/dev/kmsg',
          '/dev/tty', '/dev/console', '/dev/loop0', '/dev/loop-control', '/dev/net/tun', '/dev/fuse',
          '/dev/kvm', '/dev/mapper/control', '/dev/cpu/0/msr', '/dev/hpet', '/dev/ptmx']:
    try: open(p, 'rb'); print('opened', p)
    except OSError as e: print('missing', p, e.errno)
with open('/dev/null', 'wb') as f: f.write(b'x')
print('control-urandom', len(open('/dev/urandom', 'rb').read(16)))
print('control-zero', open('/dev/zero', 'rb').read(4) == b'\0' * 4)
try:
    with open('/dev/full', 'wb') as f: f.write(b'x')
except OSError as e: print('control-full', e.errno)
if os.path.exists('/dev/net/tun'):
    import fcntl, struct
    fd = os.open('/dev/net/tun', os.O_RDWR)
    try: fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'pwn0', 0x1001)); print('tun-created')
    except OSError as e: print('tun-denied', e.errno)
    fd = os.open('/dev/fuse', os.O_RDWR)
    os.mkdir('/tmp/fuse')
    b = ctypes.c_char_p
    r = syscall(165, b(b'fuse'), b(b'/tmp/fuse'), b(b'fuse'), 0, b(b'fd=%d,rootmode=40000,user_id=0,group_id=0' % fd))
    print('fuse-mount', *r)
"#,
    );
    if TIER == Tier::Gvisor {
        // gVisor: /dev is the Sentry's, with its own tty, ptmx/pts, tun and fuse (devices it
        // implements itself, none the host's): they must not create interfaces or mounts.
        assert_eq!(
            field(&out, "dev"),
            "fd full fuse net null ptmx pts random shm stderr stdin stdout tty urandom zero",
            "{out}"
        );
        assert_eq!(
            fields(&out, "opened"),
            ["/dev/net/tun", "/dev/fuse", "/dev/ptmx"],
            "{out}"
        );
        assert_eq!(field(&out, "tun-denied"), libc::EPERM.to_string(), "{out}");
        assert_eq!(
            field(&out, "fuse-mount"),
            format!("-1 {}", libc::EPERM),
            "{out}"
        );
    } else {
        assert!(fields(&out, "opened").is_empty(), "{out}");
    }
    let missing = fields(&out, "missing");
    assert_eq!(
        missing.len(),
        if TIER == Tier::Gvisor { 15 } else { 18 },
        "{out}"
    );
    for line in missing {
        // gVisor: its /dev/tty exists, but there is no controlling terminal (EIO).
        if TIER == Tier::Gvisor && line.starts_with("/dev/tty ") {
            assert!(line.ends_with(&format!(" {}", libc::EIO)), "{line}");
            continue;
        }
        assert!(line.ends_with(&format!(" {}", libc::ENOENT)), "{line}");
    }
    assert_eq!(field(&out, "control-urandom"), "16");
    assert_eq!(field(&out, "control-zero"), "True");
    assert_eq!(field(&out, "control-full"), libc::ENOSPC.to_string());
}

#[test]
fn device_nodes_cannot_be_created() {
    let out = attack(
        r#"
import stat
for path, kind, dev in [('/tmp/mem', stat.S_IFCHR, os.makedev(1, 1)), ('/workspace/kmsg', stat.S_IFCHR, os.makedev(1, 11)),
                        ('/dev/shm/null', stat.S_IFCHR, os.makedev(1, 3)), ('/tmp/vda', stat.S_IFBLK, os.makedev(253, 0)),
                        ('/workspace/sda', stat.S_IFBLK, os.makedev(8, 0))]:
    try: os.mknod(path, kind | 0o666, dev); print('created', path)
    except OSError as e: print('denied', path, e.errno); continue
    try: os.close(os.open(path, os.O_RDONLY)); print('opened', path)
    except OSError as e: print('unusable', path, e.errno)
os.mkfifo('/tmp/fifo')
print('control', stat.S_ISFIFO(os.stat('/tmp/fifo').st_mode))
"#,
    );
    let denied = fields(&out, "denied");
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry's tmpfs lets anyone make device nodes (no CAP_MKNOD check, and
        // nodev is not applied), but a node only names the Sentry's own devices: the
        // host's mem, kmsg and disks do not exist there (ENXIO). Only the gofer-backed
        // workspace refuses (EPERM). /dev/shm/null is the Sentry's null, as /dev/null.
        assert_eq!(
            fields(&out, "opened"),
            ["/dev/shm/null"],
            "a device node was usable:\n{out}"
        );
        assert_eq!(
            fields(&out, "unusable"),
            ["/tmp/mem 6", "/tmp/vda 6"],
            "{out}"
        );
        assert_eq!(denied, ["/workspace/kmsg 1", "/workspace/sda 1"], "{out}");
        assert_eq!(field(&out, "control"), "True", "{out}");
        return;
    }
    assert!(fields(&out, "created").is_empty(), "{out}");
    assert_eq!(denied.len(), 5, "{out}");
    for line in denied {
        let errno: i32 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        // EACCES from landlock (no make-device right), EPERM without it (no CAP_MKNOD).
        assert!(errno == libc::EACCES || errno == libc::EPERM, "{line}");
    }
    assert_eq!(field(&out, "control"), "True", "{out}");
}

// =======================================================================================
// Two sandboxes share nothing.
// =======================================================================================

/// A System V IPC key used by the cross-sandbox test.
const IPC_KEY: u32 = 0x5744_4e31;

#[test]
fn tmp_shm_ipc_and_sockets_do_not_leak_between_sandboxes() {
    let marker = unique("warden-shared");
    let mut a = Background::python(
        &format!(
            r#"
import socket
KEY = {IPC_KEY}
open('/tmp/{marker}', 'w').write('a'); open('/dev/shm/{marker}', 'w').write('a')
shm = syscall(29, KEY, 4096, 0o1000 | 0o2000 | 0o600)
msg = syscall(68, KEY, 0o1000 | 0o2000 | 0o600)
sem = syscall(64, KEY, 1, 0o1000 | 0o2000 | 0o600)
u = socket.socket(socket.AF_UNIX); u.bind(b'\0{marker}'); u.listen(1)
t = socket.socket(); t.bind(('127.0.0.1', 0)); t.listen(1)
ok = shm[0] >= 0 and msg[0] >= 0 and sem[0] >= 0
ready(('ok' if ok else 'failed %r %r %r' % (shm, msg, sem)) + ' %d' % t.getsockname()[1])
wait_done()
print('a-finished', syscall(29, KEY, 0, 0)[0] >= 0)
"#
        ),
        test_limits(),
    );
    let info = a.ready();
    let (state, port) = info.split_once(' ').unwrap();
    assert_eq!(
        state, "ok",
        "control: sandbox A could not create its objects: {info}"
    );

    let out = attack(&format!(
        r#"
import socket
KEY = {IPC_KEY}
print('tmp', os.path.exists('/tmp/{marker}'), os.path.exists('/dev/shm/{marker}'))
print('shmget', *syscall(29, KEY, 0, 0))
print('msgget', *syscall(68, KEY, 0))
print('semget', *syscall(64, KEY, 0, 0))
try: print('sysvipc', any(l.split()[0] == str(KEY) for f in ('shm', 'msg', 'sem') for l in open('/proc/sysvipc/' + f).read().splitlines()[1:]))
except FileNotFoundError: print('sysvipc', 'absent')
def conn(family, addr):
    s = socket.socket(family); s.settimeout(2)
    try: s.connect(addr); return 'connected'
    except OSError as e: return e.errno
print('abstract', conn(socket.AF_UNIX, b'\0{marker}'))
print('tcp', conn(socket.AF_INET, ('127.0.0.1', {port})))
# Control: B can create the very same objects in its own namespaces.
print('control', syscall(29, KEY, 4096, 0o1000 | 0o2000 | 0o600)[0] >= 0, syscall(29, KEY, 0, 0)[0] >= 0)
"#
    ));
    // The host does not see A's objects either.
    let host_ipc: Vec<String> = ["shm", "msg", "sem"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(format!("/proc/sysvipc/{f}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    let a_out = ok_stdout(&a.finish());

    let enoent = format!("-1 {}", libc::ENOENT);
    assert_eq!(field(&out, "tmp"), "False False", "{out}");
    assert_eq!(field(&out, "shmget"), enoent, "{out}");
    assert_eq!(field(&out, "msgget"), enoent, "{out}");
    assert_eq!(field(&out, "semget"), enoent, "{out}");
    // gVisor: the Sentry's /proc has no sysvipc directory (the keys are checked above).
    let sysvipc = if TIER == Tier::Gvisor {
        "absent"
    } else {
        "False"
    };
    assert_eq!(field(&out, "sysvipc"), sysvipc, "{out}");
    assert_eq!(
        field(&out, "abstract"),
        libc::ECONNREFUSED.to_string(),
        "{out}"
    );
    assert_eq!(field(&out, "tcp"), libc::ECONNREFUSED.to_string(), "{out}");
    assert_eq!(field(&out, "control"), "True True", "{out}");
    assert!(
        !host_ipc.contains(&IPC_KEY.to_string()),
        "the host sees the sandbox's System V IPC key"
    );
    // A still had its segment: B's control did not clobber it, nor A's B's.
    assert_eq!(field(&a_out, "a-finished"), "True", "{a_out}");
}

// =======================================================================================
// The sandbox's init.
// =======================================================================================

#[test]
fn sandbox_init_survives_signals_from_inside() {
    let o = attack_with(
        r#"
import signal, time
for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGSTOP,
            signal.SIGSEGV, signal.SIGUSR1, signal.SIGQUIT):
    try: os.kill(1, sig); print('kill', sig.name, 'sent')
    except OSError as e: print('kill', sig.name, e.errno)
time.sleep(0.3)
st = dict(l.split(':', 1) for l in open('/proc/1/status').read().splitlines() if ':' in l)
print('init', st['State'].split()[0], os.path.exists('/proc/1'))
sys.exit(7)
"#,
        Limits {
            timeout: Duration::from_secs(10),
            ..test_limits()
        },
    );
    let out = stdout(&o);
    if TIER == Tier::Gvisor {
        // gVisor: there is no init of ours inside (the host-side "init" is the Sentry, which
        // nothing inside can signal): pid 1 is the program, so its SIGKILL to pid 1 ends it,
        // and the supervisor still reports that, promptly and as no limit.
        assert_eq!(fields(&out, "kill").len(), 0, "{out}");
        assert_eq!(o.limit, None, "{o:?}");
        assert_eq!(o.exit, Exit::Signal(libc::SIGKILL), "{o:?}\n{}", stderr(&o));
        assert!(o.duration < Duration::from_secs(5), "{o:?}");
        return;
    }
    assert_eq!(fields(&out, "kill").len(), 8, "{out}");
    let state = field(&out, "init");
    assert!(
        state == "S True" || state == "R True",
        "init: {state}\n{out}"
    );
    // Init is still there to report the program's own status, within the time limit.
    assert_eq!(o.limit, None, "{o:?}");
    assert_eq!(o.exit, Exit::Code(7), "{o:?}\n{}", stderr(&o));
}

#[test]
fn kill_minus_one_does_not_reach_host_processes() {
    // A harmless host process started (and later killed, by pid) by this test.
    let mut victim = std::process::Command::new("/bin/sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let out = attack(
        r#"
import signal
try:
    os.kill(-1, signal.SIGKILL); print('sent')
except OSError as e: print('error', e.errno)
"#,
    );
    std::thread::sleep(Duration::from_millis(100));
    let alive = victim.try_wait().unwrap().is_none();
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(
        alive,
        "a host process died after kill(-1) in the sandbox ({out})"
    );
}

// =======================================================================================
// JavaScript.
// =======================================================================================

#[test]
fn js_cannot_read_host_files() {
    let o = js(r#"
const fs = require('fs');
for (const p of ['/etc/shadow', '/root/.bashrc', '/home', '/var/log/syslog', '/proc/1/environ']) {
  try { fs.readFileSync(p); console.log('read', p); } catch (e) { console.log('denied', p, e.code); }
}
console.log('control', fs.readFileSync('/etc/hosts', 'utf8').includes('localhost'));
let same = false;
try { same = process.pid === 1 && fs.readFileSync('/proc/1/environ').equals(fs.readFileSync('/proc/self/environ')); } catch (e) {}
console.log('init-is-self', same);
"#);
    let out = ok_stdout(&o);
    let denied = fields(&out, "denied");
    let host_files = [
        "/etc/shadow ENOENT",
        "/root/.bashrc ENOENT",
        "/home ENOENT",
        "/var/log/syslog ENOENT",
    ];
    if TIER == Tier::Gvisor {
        // gVisor: no init of ours runs inside; pid 1 is node itself, its environ its own.
        assert_eq!(fields(&out, "read"), ["/proc/1/environ"], "{out}");
        assert_eq!(field(&out, "init-is-self"), "true", "{out}");
        assert_eq!(denied, host_files, "{out}");
    } else {
        assert!(fields(&out, "read").is_empty(), "{out}");
        let mut expected = host_files.to_vec();
        expected.push("/proc/1/environ EACCES");
        assert_eq!(denied, expected, "{out}");
    }
    assert_eq!(field(&out, "control"), "true", "{out}");
}

#[test]
fn js_child_process_cannot_escape() {
    let o = js(r#"
const cp = require('child_process');
const r = cp.spawnSync('/bin/cat', ['/etc/shadow'], { encoding: 'utf8' });
console.log('cat', r.status, r.stderr.includes('No such file'));
try { cp.execSync('echo x > /usr/pwned', { stdio: 'pipe' }); console.log('wrote'); }
catch (e) { console.log('write-failed', e.stderr.toString().includes('Read-only file system')); console.log('write-refused', /Read-only file system|Permission denied/.test(e.stderr.toString())); }
console.log('control-id', cp.execSync('id -u').toString().trim());
console.log('control-pids', require('fs').readdirSync('/proc').filter(n => /^\d+$/.test(n)).length < 10);
"#);
    let out = ok_stdout(&o);
    assert_eq!(field(&out, "cat"), "1 true", "{out}");
    if TIER == Tier::Gvisor {
        // gVisor: the Sentry checks permissions before the read-only mount (EACCES), and the
        // program runs as nobody (system_directories_are_read_only checks the mount).
        assert_eq!(field(&out, "write-refused"), "true", "{out}");
        assert_eq!(field(&out, "control-id"), "65534", "{out}");
    } else {
        assert_eq!(field(&out, "write-failed"), "true", "{out}");
        assert_eq!(field(&out, "control-id"), "1000", "{out}");
    }
    assert!(fields(&out, "wrote").is_empty(), "{out}");
    assert_eq!(field(&out, "control-pids"), "true", "{out}");
}

#[test]
fn js_tcp_to_a_host_listener_does_not_arrive() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = r#"
const net = require('net');
function tryConnect(port) {
  return new Promise(res => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(2000, () => { s.destroy(); res('timeout'); });
    s.on('connect', () => { s.destroy(); res('connected'); });
    s.on('error', e => res(e.code));
  });
}
(async () => {
  const srv = net.createServer(c => c.end());
  await new Promise(r => srv.listen(0, '127.0.0.1', r));
  console.log('control', await tryConnect(srv.address().port));
  srv.close();
  console.log('host', await tryConnect(@PORT@));
})();
"#
    .replace("@PORT@", &port.to_string());
    let out = ok_stdout(&js(&code));
    assert_eq!(field(&out, "control"), "connected", "{out}");
    assert_eq!(field(&out, "host"), "ECONNREFUSED", "{out}");
    assert_no_connection(&listener);
}

#[test]
fn js_cannot_write_system_directories_or_see_host_environment() {
    let o = js(r#"
const fs = require('fs');
for (const p of ['/usr/pwned', '/etc/pwned', '/bin/pwned', '/pwned']) {
  try { fs.writeFileSync(p, 'x'); console.log('wrote', p); } catch (e) { console.log('denied', p, e.code); }
}
fs.writeFileSync('/workspace/ok', 'fine');
console.log('control', fs.readFileSync('/workspace/ok', 'utf8'));
console.log('home', process.env.HOME);
console.log('keys', Object.keys(process.env).filter(k => /^(CARGO|RUST)/.test(k)).length);
console.log('manifest', Object.values(process.env).some(v => v.includes('@MANIFEST@')));
"#
    .replace("@MANIFEST@", env!("CARGO_MANIFEST_DIR"))
    .as_str());
    let out = ok_stdout(&o);
    assert!(fields(&out, "wrote").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    assert_eq!(denied.len(), 4, "{out}");
    for line in denied {
        // gVisor: the Sentry checks permissions before the read-only mount.
        let gvisor_ok = TIER == Tier::Gvisor && line.ends_with(" EACCES");
        assert!(line.ends_with(" EROFS") || gvisor_ok, "{line}");
    }
    assert_eq!(field(&out, "control"), "fine");
    assert_eq!(field(&out, "home"), "/workspace");
    assert_eq!(field(&out, "keys"), "0");
    assert_eq!(field(&out, "manifest"), "false");
}

// =======================================================================================
// Bash.
// =======================================================================================

#[test]
fn bash_cannot_read_host_files() {
    let o = sh(r#"
for p in /root/.bashrc /root/.profile /home /etc/shadow /var/log; do
  if out=$(cat "$p" 2>&1); then echo "read $p"; else echo "denied $p $out"; fi
done
ls /home >/dev/null 2>&1; echo "ls-home $?"
echo "control $(grep -c localhost /etc/hosts)"
"#);
    let out = ok_stdout(&o);
    assert!(fields(&out, "read").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    assert_eq!(denied.len(), 5, "{out}");
    for line in denied {
        assert!(line.contains("No such file or directory"), "{line}");
    }
    assert_eq!(field(&out, "ls-home"), "2", "{out}");
    assert_eq!(field(&out, "control"), "2", "{out}");
}

#[test]
fn bash_cannot_write_system_directories() {
    let o = sh(r#"
for p in /usr/x /usr/bin/x /etc/x /bin/x /x /proc/sys/kernel/hostname; do
  if (echo x > "$p") 2>/tmp/err; then echo "wrote $p"; else echo "denied $p $(cat /tmp/err)"; fi
done
rm -f /usr/bin/python3 2>/dev/null; echo "rm $?"
echo ok > /workspace/x && echo "control $(cat /workspace/x)"
"#);
    let out = ok_stdout(&o);
    assert!(fields(&out, "wrote").is_empty(), "{out}");
    let denied = fields(&out, "denied");
    assert_eq!(denied.len(), 6, "{out}");
    for line in denied {
        // gVisor: the Sentry checks permissions before the read-only mount.
        let gvisor_ok = TIER == Tier::Gvisor && line.contains("Permission denied");
        assert!(
            line.contains("Read-only file system") || gvisor_ok,
            "{line}"
        );
    }
    assert_eq!(field(&out, "rm"), "1", "{out}");
    assert_eq!(field(&out, "control"), "ok", "{out}");
}

#[test]
fn bash_dev_tcp_to_a_host_listener_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let o = sh(&format!(
        r#"
if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/tmp/err; then echo connected; else echo "refused $(cat /tmp/err)"; fi
if (exec 3<>/dev/tcp/192.0.2.1/80) 2>/tmp/err; then echo connected; else echo "public $(cat /tmp/err)"; fi
echo control
"#
    ));
    let out = ok_stdout(&o);
    assert!(!out.contains("connected"), "{out}");
    assert!(
        field(&out, "refused").contains("Connection refused"),
        "{out}"
    );
    // gVisor: the Sentry's netstack, with no route, answers EHOSTUNREACH.
    let unreachable = if TIER == Tier::Gvisor {
        "No route to host"
    } else {
        "Network is unreachable"
    };
    assert!(field(&out, "public").contains(unreachable), "{out}");
    assert_eq!(field(&out, "control"), "", "{out}");
    assert_no_connection(&listener);
}

/// Either end of a connection to a sandbox's proxy listener.
trait Connection: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> Connection for T {}

/// Accepts one connection on a sandbox's proxy listener (gVisor: a Unix socket the
/// sandbox's relay connects to).
fn accept_proxy(listener: &warden_jail::Listener) -> Box<dyn Connection> {
    match listener {
        warden_jail::Listener::Tcp(l) => Box::new(l.accept().unwrap().0),
        warden_jail::Listener::Unix(l) => Box::new(l.accept().unwrap().0),
    }
}

/// Answers one connection to a sandbox's proxy listener with `from-supervisor`.
fn serve_once(listener: warden_jail::Listener) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut c = accept_proxy(&listener);
        c.write_all(b"from-supervisor").unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    })
}

/// A program that is not Python reaches its proxy too (gVisor: through the relay process
/// the launcher starts), and a second connection works after the first closed.
#[test]
fn a_shell_program_reaches_its_proxy_listener_twice() {
    use std::io::Write;
    let code = "for i in 1 2; do exec 3<>/dev/tcp/127.0.0.1/3128 && read -r -t 10 line <&3; \
                echo \"proxy$i $line\"; exec 3<&-; done";
    let mut cmd = Command::for_runtime(&Runtime::bash(), code);
    cmd.limits = test_limits();
    cmd.listen_inside = Some(3128);
    let mut sandbox = jail().spawn(cmd).expect("sandbox started");
    let listener = sandbox.take_listener().expect("a listener");
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            accept_proxy(&listener)
                .write_all(b"from-supervisor\n")
                .unwrap();
        }
    });
    let out = ok_stdout(&sandbox.wait(&mut Discard).expect("sandbox ran"));
    server.join().unwrap();
    assert_eq!(field(&out, "proxy1"), "from-supervisor", "{out}");
    assert_eq!(field(&out, "proxy2"), "from-supervisor", "{out}");
}

/// A sandbox with a listener for its egress proxy (`Command::listen_inside`) gains that
/// one listening socket, held by the supervisor, and nothing else: the host's loopback
/// and abstract sockets stay out of reach. Control: the sandbox's connection to the
/// listener arrives at the supervisor's end.
#[test]
fn a_sandbox_listening_for_its_proxy_still_has_no_way_out() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let host_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    host_tcp.set_nonblocking(true).unwrap();
    let host_port = host_tcp.local_addr().unwrap().port();
    let name = unique("warden-abstract-egress");
    let abstract_listener =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    abstract_listener.set_nonblocking(true).unwrap();
    let code = format!(
        r#"
import socket
try: socket.create_connection(('127.0.0.1', {host_port}), timeout=3); print('host-tcp connected')
except OSError as e: print('host-tcp', e.errno)
s = socket.socket(socket.AF_UNIX)
try: s.connect(b'\0' + {name:?}.encode()); print('host-abstract connected')
except OSError as e: print('host-abstract', e.errno)
c = socket.create_connection(('127.0.0.1', 3128), timeout=10)
print('proxy', c.recv(100).decode())
"#
    );
    let mut cmd = Command::for_runtime(&Runtime::python(), code);
    cmd.limits = test_limits();
    cmd.listen_inside = Some(3128);
    let mut sandbox = jail().spawn(cmd).expect("sandbox started");
    let server = serve_once(sandbox.take_listener().expect("a listener"));
    let out = ok_stdout(&sandbox.wait(&mut Discard).expect("sandbox ran"));
    server.join().unwrap();
    assert_eq!(
        field(&out, "host-tcp"),
        libc::ECONNREFUSED.to_string(),
        "{out}"
    );
    assert_eq!(
        field(&out, "host-abstract"),
        libc::ECONNREFUSED.to_string(),
        "{out}"
    );
    assert_eq!(field(&out, "proxy"), "from-supervisor", "{out}");
    for r in [
        host_tcp.accept().map(drop),
        abstract_listener.accept().map(drop),
    ] {
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock),
            "the host saw a connection"
        );
    }
}
