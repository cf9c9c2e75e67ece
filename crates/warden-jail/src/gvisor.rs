//! The gVisor tier: the same plan as the namespace tier, run by `runsc` (gVisor's OCI
//! runtime) from a bundle written per sandbox. The program's system calls go to gVisor's
//! user-space kernel (the Sentry) rather than the host's; the host sees only the Sentry
//! and its file proxy (the Gofer), which run in the sandbox's cgroups.
//!
//! What differs from the namespace tier, and why:
//! - The platform is `ptrace` (the one that works on every host; `kvm` needs a real
//!   `/dev/kvm`, and hangs on paravirtual nested ones).
//! - Descriptors cannot be handed into a gVisor sandbox. Each of [`Command::extra_fds`]
//!   becomes a FIFO in a directory only this sandbox sees (`/run/warden/chan`), opened
//!   as fd 3, 4, ... by a `bash` launcher before the program runs, and relayed to and
//!   from the caller's descriptor by a thread that ends when the sandbox does (so the
//!   caller sees end-of-file, as with the namespace tier).
//! - The program runs as the host user the namespace tier maps to (`host_uid`): gVisor
//!   does not apply user-namespace mappings here, and the workspace is that user's.
//! - The pids limit counts the Sentry's host threads (about 15 per process inside), so
//!   the cgroup gets a generous one and `RLIMIT_NPROC`, which the Sentry enforces, holds
//!   the command's. The memory cgroup's limit is the command's plus the Sentry's own
//!   [`MEMORY_OVERHEAD`].
//!
//! [`Command::extra_fds`]: crate::Command::extra_fds

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::plan::Step;
use crate::{sys, JailError};

/// Memory the Sentry and the Gofer use besides the program's (an idle sandbox with a
/// Python interpreter: about 25 MiB charged to its cgroup).
pub const MEMORY_OVERHEAD: u64 = 64 << 20;

/// Host threads the pids cgroup allows per process the command may have, and at least.
const HOST_PIDS_PER_PROCESS: u64 = 24;
const HOST_PIDS_MIN: u64 = 256;

/// Where the channels appear inside.
const CHANNELS_INSIDE: &str = "/run/warden/chan";

/// The `runsc` found on this host.
#[derive(Debug, Clone)]
pub struct Runsc {
    pub path: PathBuf,
    /// `runsc --version`'s first line, asked once and only when wanted: a Go binary's
    /// start is 20 to 30 ms, which every cold `warden run` would otherwise pay.
    version: std::sync::Arc<std::sync::OnceLock<String>>,
    /// `runsc --root`: the state of this process's containers.
    pub state_root: PathBuf,
}

impl Runsc {
    /// Finds `runsc` (`WARDEN_RUNSC`, else `/usr/bin/runsc`, `/usr/local/bin/runsc`,
    /// `/usr/sbin/runsc`), which must be an executable file. The reason it is unavailable
    /// otherwise; a runsc that is there but does not work fails the first sandbox it
    /// starts, with runsc's own words (and `warden doctor` runs one).
    pub fn detect(run_root: &Path) -> Result<Runsc, String> {
        let candidates: Vec<PathBuf> = match std::env::var_os("WARDEN_RUNSC") {
            Some(p) => vec![PathBuf::from(p)],
            None => ["/usr/bin/runsc", "/usr/local/bin/runsc", "/usr/sbin/runsc"]
                .iter()
                .map(PathBuf::from)
                .collect(),
        };
        let executable = |p: &PathBuf| {
            fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        let Some(path) = candidates.into_iter().find(executable) else {
            return Err(
                "runsc (gVisor) is not installed (Debian: apt-get install runsc; or set WARDEN_RUNSC)"
                    .into(),
            );
        };
        if sys::geteuid() != 0 {
            return Err(
                "the gVisor tier needs root (runsc creates the sandbox's namespaces)".into(),
            );
        }
        let state_root = run_root.join(".runsc");
        fs::create_dir_all(&state_root)
            .map_err(|e| format!("cannot create {}: {e}", state_root.display()))?;
        fs::set_permissions(&state_root, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", state_root.display()))?;
        Ok(Runsc {
            path,
            version: Default::default(),
            state_root,
        })
    }

    /// `runsc --version`'s first line (asked the first time), or why it could not be had.
    pub fn version(&self) -> String {
        self.version
            .get_or_init(|| {
                match std::process::Command::new(&self.path)
                    .arg("--version")
                    .stdin(Stdio::null())
                    .output()
                {
                    Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                    Ok(out) => format!(
                        "--version failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    Err(e) => format!("--version could not run: {e}"),
                }
            })
            .clone()
    }

    /// The global flags of every `runsc` call.
    fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.path);
        c.arg("--root")
            .arg(&self.state_root)
            .args(["--platform=ptrace", "--network=none", "--ignore-cgroups"])
            // Let the sandbox open the FIFOs bound into it (its channels) and nothing of
            // the host's but what its mounts show.
            .arg("--host-fifo=open")
            .stdin(Stdio::null());
        c
    }

    /// `runsc run` of a bundle: the process to wait for. It joins `cgroup_procs` before
    /// it starts, so the Sentry and the Gofer it starts are in them.
    pub(crate) fn run(
        &self,
        bundle: &Path,
        id: &str,
        panic_log: &Path,
        [stdin, stdout, stderr]: [OwnedFd; 3],
        cgroup_procs: Vec<std::ffi::CString>,
        egress: bool,
    ) -> io::Result<std::process::Child> {
        let mut c = self.command();
        // The egress proxy's socket, the one host socket its mounts show.
        if egress {
            c.arg("--host-uds=open");
        }
        c.arg("--panic-log")
            .arg(panic_log)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        sys::join_cgroups_before_exec(&mut c, cgroup_procs);
        c.spawn()
    }

    /// `runsc kill [--all] ID SIG`.
    pub(crate) fn signal(&self, id: &str, sig: i32, all: bool) -> Result<(), JailError> {
        let mut c = self.command();
        c.arg("kill");
        if all {
            c.arg("--all");
        }
        let out = c
            .arg(id)
            .arg(sig.to_string())
            .stdout(Stdio::null())
            .output()
            .map_err(|e| JailError::supervise("run runsc kill", e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(JailError::supervise(
                "signal the program",
                io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            ))
        }
    }

    /// Removes an ended container's state files (`ID_sandbox:ID.state`, `.lock`) once
    /// every process of its sandbox is gone: what `runsc delete` does, without the second
    /// and a half it spends looking for the dead sandbox.
    pub(crate) fn forget(&self, id: &str) {
        let prefix = format!("{id}_");
        if let Ok(entries) = fs::read_dir(&self.state_root) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// `runsc delete --force ID`: the container's state, once it has ended.
    pub(crate) fn delete(&self, id: &str) {
        let _ = self
            .command()
            .args(["delete", "--force", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What a gVisor sandbox needs for signals and teardown.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub runsc: Runsc,
    pub id: String,
}

/// The host pids limit for a command allowed `pids` processes.
pub(crate) fn host_pids(pids: u64) -> u64 {
    (pids.saturating_mul(HOST_PIDS_PER_PROCESS)).max(HOST_PIDS_MIN)
}

/// Writes the bundle: `config.json` and a root directory with the plan's files,
/// directories, symlinks and mount points. Returns the OCI mounts' count (for tests).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_bundle(
    bundle: &Path,
    steps: &[&Step],
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    channels: &[(PathBuf, bool)],
    limits: &crate::Limits,
    user: (u32, u32),
    hostname: &str,
    egress: Option<&Egress>,
) -> Result<(), JailError> {
    let rootfs = bundle.join("rootfs");
    let io_err = |what: &'static str, p: &Path, e: io::Error| JailError::io(what, p, e);
    fs::create_dir_all(&rootfs).map_err(|e| io_err("cannot create", &rootfs, e))?;
    let at = |inside: &Path| rootfs.join(inside.strip_prefix("/").unwrap_or(inside));
    let mut mounts: Vec<Value> =
        vec![json!({"destination": "/proc", "type": "proc", "source": "proc"})];
    let ensure_parent = |p: &Path| -> Result<(), JailError> {
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err("cannot create", parent, e))?;
        }
        Ok(())
    };
    for step in steps {
        match step {
            Step::Dir { inside, mode } => {
                let p = at(inside);
                fs::create_dir_all(&p).map_err(|e| io_err("cannot create", &p, e))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode))
                    .map_err(|e| io_err("cannot set the mode of", &p, e))?;
            }
            Step::Symlink { target, inside } => {
                // gVisor makes its own /dev (null, zero, fd, stdin, ...).
                if inside.starts_with("/dev") {
                    continue;
                }
                let p = at(inside);
                ensure_parent(&p)?;
                let _ = fs::remove_file(&p);
                symlink(target, &p).map_err(|e| io_err("cannot create the symlink", &p, e))?;
            }
            Step::File {
                inside,
                contents,
                mode,
            } => {
                let p = at(inside);
                ensure_parent(&p)?;
                fs::write(&p, contents).map_err(|e| io_err("cannot write", &p, e))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode))
                    .map_err(|e| io_err("cannot set the mode of", &p, e))?;
            }
            Step::Bind {
                host,
                inside,
                dir,
                writable,
                noexec,
            } => {
                if inside.starts_with("/dev") {
                    continue;
                }
                // A read-only file (the loader cache, the time zone, ...) is copied into
                // the read-only root: every mount is work for the Gofer at each start.
                if !*dir && !*writable {
                    let p = at(inside);
                    ensure_parent(&p)?;
                    fs::copy(host, &p).map_err(|e| io_err("cannot copy", host, e))?;
                    continue;
                }
                mount_point(&at(inside), *dir)?;
                let mut options = vec![
                    "rbind",
                    if *writable { "rw" } else { "ro" },
                    "nosuid",
                    "nodev",
                ];
                if *noexec {
                    options.push("noexec");
                }
                mounts.push(json!({"destination": inside, "type": "bind", "source": host, "options": options}));
            }
            Step::BindOpened { host, inside } => {
                mount_point(&at(inside), true)?;
                mounts.push(
                    json!({"destination": inside, "type": "bind", "source": host,
                                   "options": ["rbind", "ro", "nosuid", "nodev"]}),
                );
            }
            Step::Tmpfs { inside, size, mode } => {
                if inside.as_path() == Path::new("/dev") {
                    continue;
                }
                mount_point(&at(inside), true)?;
                mounts.push(json!({"destination": inside, "type": "tmpfs", "source": "tmpfs",
                                   "options": ["nosuid", "nodev", format!("size={size}"), format!("mode={mode:o}")]}));
            }
            Step::Proc | Step::ProcSysReadOnly | Step::Seal | Step::SealDevices => {}
        }
    }
    // The channels' FIFOs: one directory of this sandbox's only.
    let mut launcher = String::new();
    if let Some((first, _)) = channels.first() {
        let dir = first.parent().unwrap_or(first);
        mount_point(&at(Path::new(CHANNELS_INSIDE)), true)?;
        mounts.push(
            json!({"destination": CHANNELS_INSIDE, "type": "bind", "source": dir,
                           "options": ["rbind", "rw", "nosuid", "nodev", "noexec"]}),
        );
        for (i, (host, program_reads)) in channels.iter().enumerate() {
            let name = host
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let arrow = if *program_reads { '<' } else { '>' };
            launcher.push_str(&format!("exec {}{arrow}{CHANNELS_INSIDE}/{name}\n", i + 3));
        }
    }
    // Egress: the proxy's socket directory, and the relay that makes it a loopback port.
    let mut env = env.to_vec();
    if let Some(egress) = egress {
        mount_point(&at(Path::new(EGRESS_INSIDE)), true)?;
        mounts.push(
            json!({"destination": EGRESS_INSIDE, "type": "bind", "source": egress.dir,
                           "options": ["rbind", "rw", "nosuid", "nodev", "noexec"]}),
        );
        env.push((
            "WARDEN_EGRESS_RELAY".into(),
            format!("{EGRESS_INSIDE}/{EGRESS_SOCKET}"),
        ));
        env.push(("WARDEN_EGRESS_PORT".into(), egress.port.to_string()));
        let relay = at(Path::new(PYTHON_SITE_INSIDE)).join("warden_egress_relay.py");
        ensure_parent(&relay)?;
        fs::write(&relay, EGRESS_RELAY).map_err(|e| io_err("cannot write", &relay, e))?;
        // A Python program relays from a thread its sitecustomize starts; any other
        // program gets the relay as a process, listening before the program starts.
        if !is_python(program) {
            launcher.push_str(&format!(
                "exec 9< <(exec python3 -I -S {PYTHON_SITE_INSIDE}/warden_egress_relay.py)\n\
                 read -r -u 9 _ || echo 'warden: the egress relay did not start' >&2\n\
                 exec 9<&-\n"
            ));
        }
    }
    let mut argv: Vec<String> = Vec::new();
    if !launcher.is_empty() {
        launcher.push_str("exec \"$0\" \"$@\"\n");
        argv.extend(["/bin/bash".to_string(), "-c".to_string(), launcher]);
    }
    argv.push(program.to_string_lossy().into_owned());
    argv.extend(args.iter().cloned());
    // Python's unbuffered streams and gVisor's partial writes: see the file.
    let site = at(Path::new(PYTHON_SITE_INSIDE)).join("sitecustomize.py");
    ensure_parent(&site)?;
    fs::write(&site, PYTHON_SITECUSTOMIZE).map_err(|e| io_err("cannot write", &site, e))?;
    let env = python_path_first(&env, PYTHON_SITE_INSIDE);
    let cpu = limits.effective_cpu_time().as_secs_f64().ceil() as u64;
    let namespaces: Vec<Value> = ["pid", "network", "ipc", "uts", "mount"]
        .iter()
        .map(|t| json!({ "type": t }))
        .collect();
    let rlimit = |t: &str, soft: u64, hard: u64| json!({"type": t, "soft": soft, "hard": hard});
    let config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": user.0, "gid": user.1, "additionalGids": []},
            "args": argv,
            "env": env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "cwd": "/workspace",
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
            "rlimits": [
                rlimit("RLIMIT_NOFILE", limits.open_files, limits.open_files),
                rlimit("RLIMIT_NPROC", limits.pids, limits.pids),
                rlimit("RLIMIT_FSIZE", limits.file_size_bytes, limits.file_size_bytes),
                rlimit("RLIMIT_CPU", cpu, cpu + 1),
                rlimit("RLIMIT_CORE", 0, 0),
                rlimit("RLIMIT_MEMLOCK", 64 << 10, 64 << 10),
            ],
            "noNewPrivileges": true,
        },
        "root": {"path": rootfs, "readonly": true},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
        },
    });
    let path = bundle.join("config.json");
    let text = serde_json::to_vec_pretty(&config)
        .map_err(|e| JailError::Invalid(format!("the OCI configuration: {e}")))?;
    fs::write(&path, text).map_err(|e| io_err("cannot write", &path, e))
}

/// Whether `program` exists in the sandbox the plan makes: under a directory bound from
/// the host, or in the bundle's root.
pub(crate) fn exists_inside(steps: &[&Step], rootfs: &Path, program: &Path) -> bool {
    // The plan's symlinks first (`/bin` -> `usr/bin`), as the sandbox would follow them.
    let mut program = program.to_path_buf();
    for _ in 0..8 {
        let link = steps.iter().find_map(|s| match s {
            Step::Symlink { target, inside } => {
                Some((target, inside, program.strip_prefix(inside).ok()?))
            }
            _ => None,
        });
        let Some((target, inside, rest)) = link else {
            break;
        };
        let base = inside.parent().unwrap_or(Path::new("/"));
        program = base.join(target).join(rest);
    }
    let program = program.as_path();
    let bound = steps
        .iter()
        .filter_map(|s| match s {
            Step::Bind {
                host,
                inside,
                dir: true,
                ..
            }
            | Step::BindOpened { host, inside } => Some((host, program.strip_prefix(inside).ok()?)),
            _ => None,
        })
        .max_by_key(|(_, rest)| std::cmp::Reverse(rest.components().count()));
    match bound {
        Some((host, rest)) => host.join(rest).exists(),
        None => {
            let p = rootfs.join(program.strip_prefix("/").unwrap_or(program));
            p.exists() || fs::symlink_metadata(&p).is_ok()
        }
    }
}

/// Where the gVisor tier's `sitecustomize` goes inside the sandbox.
const PYTHON_SITE_INSIDE: &str = "/run/warden/gvisor";
const PYTHON_SITECUSTOMIZE: &str = include_str!("gvisor_sitecustomize.py");
const EGRESS_RELAY: &str = include_str!("gvisor_egress_relay.py");

/// Where the egress proxy's socket directory appears inside, and the socket's name.
const EGRESS_INSIDE: &str = "/run/warden/egress";
pub(crate) const EGRESS_SOCKET: &str = "proxy.sock";

/// A sandbox's way out ([`crate::Command::listen_inside`] under gVisor): a host directory
/// holding the proxy's Unix socket, and the loopback port the relay serves inside.
#[derive(Debug)]
pub(crate) struct Egress {
    pub dir: PathBuf,
    pub port: u16,
}

impl Egress {
    /// Makes `dir` and the supervisor's listening socket in it, which the sandbox (the
    /// Gofer, for the Sentry) may connect to.
    pub fn listen(
        dir: PathBuf,
        port: u16,
    ) -> Result<(Egress, std::os::unix::net::UnixListener), JailError> {
        fs::create_dir_all(&dir).map_err(|e| JailError::io("cannot create", &dir, e))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| JailError::io("cannot set the mode of", &dir, e))?;
        let path = dir.join(EGRESS_SOCKET);
        let listener =
            bind_unix(&dir, &path).map_err(|e| JailError::io("cannot listen on", &path, e))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666))
            .map_err(|e| JailError::io("cannot set the mode of", &path, e))?;
        Ok((Egress { dir, port }, listener))
    }
}

/// Binds a Unix socket at `path` (in `dir`); a path longer than a socket address holds
/// is reached through `/proc/self/fd` of the directory.
fn bind_unix(dir: &Path, path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().len() < 100 {
        return std::os::unix::net::UnixListener::bind(path);
    }
    let d = fs::File::open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}/{EGRESS_SOCKET}", d.as_raw_fd()));
    std::os::unix::net::UnixListener::bind(short)
}

/// Whether a program is a Python interpreter (`python3`, `python3.11`, ...).
fn is_python(program: &Path) -> bool {
    program
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("python"))
}

/// `env` with `dir` first on `PYTHONPATH`.
fn python_path_first(env: &[(String, String)], dir: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = env.to_vec();
    match out.iter_mut().rev().find(|(k, _)| k == "PYTHONPATH") {
        Some((_, v)) if !v.is_empty() => *v = format!("{dir}:{v}"),
        Some((_, v)) => *v = dir.to_string(),
        None => out.push(("PYTHONPATH".into(), dir.into())),
    }
    out
}

/// An empty directory or file where a mount goes (runsc would create it in the shared
/// root otherwise).
fn mount_point(p: &Path, dir: bool) -> Result<(), JailError> {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).map_err(|e| JailError::io("cannot create", parent, e))?;
    }
    let made = if dir {
        fs::create_dir_all(p)
    } else {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p)
            .map(drop)
    };
    made.map_err(|e| JailError::io("cannot create the mount point", p, e))
}

/// The FIFOs for the caller's extra descriptors, in `dir`: `(path, whether the program
/// reads it)` and the host end of each, opened read-write so that neither side's open
/// blocks and the pipe never reports end-of-file while the sandbox lives.
pub(crate) fn make_channels(
    dir: &Path,
    extra_fds: &[OwnedFd],
    owner: (u32, u32),
) -> Result<Vec<(PathBuf, bool, OwnedFd)>, JailError> {
    fs::create_dir_all(dir).map_err(|e| JailError::io("cannot create", dir, e))?;
    std::os::unix::fs::chown(dir, Some(owner.0), Some(owner.1))
        .map_err(|e| JailError::io("cannot hand over", dir, e))?;
    let mut out = Vec::new();
    for (i, fd) in extra_fds.iter().enumerate() {
        let mode = sys::access_mode(fd.as_raw_fd())
            .map_err(|e| JailError::supervise("inspect an extra descriptor", e))?;
        let program_reads = match mode {
            libc::O_RDONLY => true,
            libc::O_WRONLY => false,
            _ => {
                return Err(JailError::Invalid(
                    "an extra descriptor for a gVisor sandbox must be one end of a pipe".into(),
                ))
            }
        };
        let path = dir.join(i.to_string());
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| JailError::Invalid("channel path".into()))?;
        sys::mkfifo(&c, 0o600).map_err(|e| JailError::io("cannot create the FIFO", &path, e))?;
        std::os::unix::fs::chown(&path, Some(owner.0), Some(owner.1))
            .map_err(|e| JailError::io("cannot hand over", &path, e))?;
        let host = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| JailError::io("cannot open the FIFO", &path, e))?;
        out.push((path, program_reads, OwnedFd::from(host)));
    }
    Ok(out)
}

/// Copies between a caller's descriptor and a channel's FIFO until the sandbox ends
/// (`ended` becomes readable); then drops both, so the caller sees end-of-file (or a
/// broken pipe) as when a namespace sandbox's program exits. A source that closes first
/// stops the copying, but its FIFO stays open until the sandbox ends: closing the last
/// descriptor of a FIFO would discard what the program has not read yet.
pub(crate) fn relay(from: OwnedFd, to: OwnedFd, ended: OwnedFd) {
    let mut buf = vec![0u8; 64 << 10];
    let mut from = Some(from);
    loop {
        let mut fds = vec![ended.as_raw_fd()];
        fds.extend(from.as_ref().map(|f| f.as_raw_fd()));
        let Ok(ready) = sys::poll_readable(&fds, None) else {
            return;
        };
        if let (Some(f), Some(&r)) = (from.as_ref(), ready.get(1)) {
            if r != 0 {
                match sys::read(f.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(_) => from = None,
                    Ok(n) => {
                        if sys::write_all(to.as_raw_fd(), &buf[..n]).is_err() {
                            return;
                        }
                    }
                }
                continue;
            }
        }
        if ready[0] != 0 {
            // The sandbox is gone: pass on what it wrote last, then end.
            if let Some(f) = from.as_ref() {
                let _ = sys::set_nonblocking(f.as_raw_fd());
                while let Ok(n) = sys::read(f.as_raw_fd(), &mut buf) {
                    if n == 0 || sys::write_all(to.as_raw_fd(), &buf[..n]).is_err() {
                        break;
                    }
                }
            }
            return;
        }
    }
}
