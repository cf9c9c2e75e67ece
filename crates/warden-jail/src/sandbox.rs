//! Starting, supervising and tearing down sandboxes: `Jail → Command → Sandbox → Outcome`,
//! in the manner of `std::process`.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cgroup::{self, Cgroup, CgroupLayout, CgroupLimits, CpuFile, CpuFormat};
use crate::config::{JailConfig, LandlockMode, Limits};
use crate::error::{JailError, Stage};
use crate::plan::{self, BasePlan, RunPlan};
use crate::seccomp::{self, CompiledProfile};
use crate::sys::{self, ChildSpec, LandlockSpec, PreparedOp, SetupFailure};

/// The environment every sandbox starts with. Nothing of the host's environment leaks in.
pub const BASE_ENV: [(&str, &str); 14] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("HOME", "/workspace"),
    ("USER", "sandbox"),
    ("LOGNAME", "sandbox"),
    ("HOSTNAME", "sandbox"),
    ("SHELL", "/bin/bash"),
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
    ("TERM", "dumb"),
    ("TMPDIR", "/tmp"),
    ("PYTHONUNBUFFERED", "1"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("MPLBACKEND", "Agg"),
    ("MPLCONFIGDIR", "/tmp/.matplotlib"),
];

/// Where a sandbox's standard input comes from.
#[derive(Debug, Default)]
pub enum Stdin {
    /// `/dev/null`.
    #[default]
    Null,
    /// The supervisor's own standard input.
    Inherit,
    /// A file descriptor the caller owns (a pipe, a file).
    Fd(OwnedFd),
}

/// What to run in a sandbox.
#[derive(Debug, Default)]
pub struct Command {
    /// The program, as an absolute path that exists inside the sandbox.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Added to (and overriding) [`BASE_ENV`].
    pub env: Vec<(String, String)>,
    pub stdin: Stdin,
    /// Files placed read-only under `/run/warden` before the program starts: `(name, contents)`.
    pub files: Vec<(String, Vec<u8>)>,
    pub limits: Limits,
    /// Copy the workspace's contents here when the sandbox ends.
    pub keep_workspace: Option<PathBuf>,
    /// Descriptors handed to the program as fd 3, 4, ... (e.g. a protocol channel).
    pub extra_fds: Vec<OwnedFd>,
    /// Host directories bound read-only under [`BIND_ROOT`] (templates, package sets).
    pub binds: Vec<Bind>,
    /// Stamp each step of the start and the end ([`Outcome::timings`]), for
    /// `warden bench --breakdown`.
    pub record_timings: bool,
    /// Listen on `127.0.0.1:PORT` inside the sandbox's network namespace, from the
    /// supervisor, before the program starts: the listener ([`Sandbox::take_listener`])
    /// is the supervisor's, and the only way a connection leaves the namespace is
    /// through what the supervisor does with it (warden's egress proxy).
    pub listen_inside: Option<u16>,
    /// The isolation that runs it (see [`crate::gvisor`] for what differs under gVisor).
    pub tier: crate::Tier,
}

/// The supervisor's end of a sandbox's way out ([`Command::listen_inside`]): what the
/// program reaches at `127.0.0.1:PORT` arrives here.
#[derive(Debug)]
pub enum Listener {
    /// Namespace tier: a TCP socket listening inside the sandbox's network namespace.
    Tcp(std::net::TcpListener),
    /// gVisor tier: a Unix socket bound into the sandbox, which an in-sandbox relay
    /// connects each of the port's connections to.
    Unix(std::os::unix::net::UnixListener),
}

/// When each step of a sandbox's life was done: `(step, CLOCK_MONOTONIC ns)`, in time
/// order, from the supervisor and (through a shared page) from the child.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Timings {
    pub marks: Vec<(&'static str, u64)>,
}

impl Timings {
    fn mark(&mut self, step: &'static str) {
        self.marks.push((step, sys::monotonic_ns()));
    }
}

/// The monotonic clock in nanoseconds, as [`Timings`] stamps it.
pub fn monotonic_ns() -> u64 {
    sys::monotonic_ns()
}

/// The size of the run root's own tmpfs (see [`Jail::new`]).
const RUN_ROOT_BYTES: u64 = 1 << 30;

/// Where [`Command::binds`] may be placed inside the sandbox.
pub const BIND_ROOT: &str = "/opt/warden";

/// A host directory bound read-only (and sealed nosuid, nodev) inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// An existing host directory.
    pub host: PathBuf,
    /// Where it appears: a path below [`BIND_ROOT`], e.g. `/opt/warden/template`.
    pub inside: PathBuf,
}

impl Command {
    pub fn new(program: impl Into<PathBuf>) -> Command {
        Command {
            program: program.into(),
            ..Command::default()
        }
    }

    /// A command that runs `code` with a language runtime.
    pub fn for_runtime(runtime: &crate::Runtime, code: impl Into<Vec<u8>>) -> Command {
        let mut args = runtime.args.clone();
        args.push(runtime.code_path().to_string_lossy().into_owned());
        Command {
            program: runtime.program.clone(),
            args,
            env: runtime.env.clone(),
            files: vec![(runtime.file_name.to_string(), code.into())],
            ..Command::default()
        }
    }

    fn validate(&self) -> Result<(), JailError> {
        let invalid = |m: String| Err(JailError::Invalid(m));
        if !self.program.is_absolute() {
            return invalid(format!(
                "program {} is not an absolute path",
                self.program.display()
            ));
        }
        let nul = |s: &[u8]| s.contains(&0);
        if nul(self.program.as_os_str().as_bytes())
            || self.args.iter().any(|a| nul(a.as_bytes()))
            || self.env.iter().any(|(k, v)| {
                nul(k.as_bytes()) || nul(v.as_bytes()) || k.contains('=') || k.is_empty()
            })
        {
            return invalid(
                "arguments and environment must not contain NUL, and names not '='".into(),
            );
        }
        if self.extra_fds.len() > sys::MAX_EXTRA_FDS {
            return invalid(format!(
                "at most {} extra file descriptors",
                sys::MAX_EXTRA_FDS
            ));
        }
        if self.binds.len() > sys::MAX_TREES {
            return invalid(format!("at most {} binds", sys::MAX_TREES));
        }
        for (i, b) in self.binds.iter().enumerate() {
            let plain = b.inside.strip_prefix(BIND_ROOT).is_ok_and(|rest| {
                rest.components().count() > 0
                    && rest
                        .components()
                        .all(|c| matches!(c, std::path::Component::Normal(_)))
            });
            if !plain || nul(b.inside.as_os_str().as_bytes()) {
                return invalid(format!(
                    "bind target {} must be a plain path below {BIND_ROOT}",
                    b.inside.display()
                ));
            }
            if self.binds[..i]
                .iter()
                .any(|o| b.inside.starts_with(&o.inside) || o.inside.starts_with(&b.inside))
            {
                return invalid(format!(
                    "bind target {} overlaps another bind",
                    b.inside.display()
                ));
            }
            if !b.host.is_absolute() || !b.host.is_dir() || nul(b.host.as_os_str().as_bytes()) {
                return invalid(format!(
                    "bind source {} must be an existing host directory (absolute path)",
                    b.host.display()
                ));
            }
        }
        for (name, _) in &self.files {
            if name.is_empty()
                || name.contains('/')
                || name.starts_with('.')
                || nul(name.as_bytes())
            {
                return invalid(format!("file name {name:?} must be a plain name"));
            }
        }
        self.limits.validate().map_err(JailError::Invalid)
    }
}

/// Which stream output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives output as it arrives (only the part within the output cap).
pub trait OutputSink {
    fn output(&mut self, stream: Stream, data: &[u8]);
}

/// A sink that ignores live output (the [`Outcome`] still holds it).
pub struct Discard;

impl OutputSink for Discard {
    fn output(&mut self, _: Stream, _: &[u8]) {}
}

/// Output kept up to a cap; the rest is counted and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub truncated: bool,
    /// All bytes the program wrote, kept or not.
    pub total: u64,
}

impl Captured {
    fn push<'a>(&mut self, data: &'a [u8], cap: usize) -> &'a [u8] {
        self.total += data.len() as u64;
        let room = cap.saturating_sub(self.bytes.len());
        let keep = &data[..data.len().min(room)];
        if keep.len() < data.len() {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(keep);
        keep
    }
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Which limit ended the run, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Timeout,
    Memory,
    CpuTime,
}

/// The result of a finished sandbox.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit: Exit,
    pub limit: Option<LimitHit>,
    pub duration: Duration,
    pub cpu_time: Duration,
    pub peak_memory: Option<u64>,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Where the workspace was copied, when the command asked to keep it.
    pub kept_workspace: Option<PathBuf>,
    /// The steps' times, when the command asked for them.
    pub timings: Option<Timings>,
}

/// Starts sandboxes. Build one per process and share it: the host probe, the seccomp
/// program and the static part of the root filesystem are prepared once.
pub struct Jail {
    config: JailConfig,
    cgroups: CgroupLayout,
    seccomp: CompiledProfile,
    landlock_abi: Option<u32>,
    base: BasePlan,
    base_ro_ops: Vec<PreparedOp>,
    base_rw_ops: Vec<PreparedOp>,
    new_root: PathBuf,
    new_root_c: CString,
    hostname_c: CString,
    own_argv_area: Option<(usize, usize)>,
    cap_last_cap: u32,
    /// Commands' binds are opened by the supervisor (`open_tree`), so their sources need
    /// not be reachable by the sandbox user.
    open_tree: bool,
    /// When [`Jail::new`] started and ended (monotonic ns).
    created: (u64, u64),
    /// The gVisor tier's `runsc`, looked for on first use.
    runsc: OnceLock<Result<crate::gvisor::Runsc, String>>,
}

static SANDBOX_COUNTER: AtomicU64 = AtomicU64::new(0);

fn c_path(p: &Path) -> Result<CString, JailError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| JailError::Invalid(format!("path {} contains NUL", p.display())))
}

fn make_private_dir(path: &Path, mode: u32) -> Result<(), JailError> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(JailError::io("cannot create", path, e)),
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| JailError::io("cannot chmod", path, e))
}

impl Jail {
    /// Whether commands' binds are opened by the supervisor (the kernel has `open_tree`):
    /// then their sources may sit below directories the sandbox user cannot enter.
    pub fn opens_bind_sources(&self) -> bool {
        self.open_tree
    }

    /// Probes the host and prepares everything shared by sandboxes. Fails, rather than
    /// weakening isolation, when something the configuration asks for is missing.
    pub fn new(config: JailConfig) -> Result<Jail, JailError> {
        let started = sys::monotonic_ns();
        if config.host_uid == 0
            || config.host_gid == 0
            || config.sandbox_uid == 0
            || config.sandbox_gid == 0
        {
            return Err(JailError::Invalid(
                "the sandbox user must not map to or be root".into(),
            ));
        }
        let cgroups = CgroupLayout::detect()?;
        if config.cgroup_favor_dynmods && sys::geteuid() == 0 {
            // Best effort: a kernel without the option still works, only slower to start.
            let _ = cgroups.enable_favor_dynmods();
        }
        let seccomp = match &config.seccomp_profile {
            None => seccomp::default_profile()?.clone(),
            Some(path) => {
                let text = fs::read_to_string(path)
                    .map_err(|e| JailError::io("cannot read seccomp profile", path, e))?;
                seccomp::compile(&path.display().to_string(), &text)?
            }
        };
        let landlock_abi = match config.landlock {
            LandlockMode::Off => None,
            LandlockMode::Auto => sys::landlock_abi(),
            LandlockMode::Required => {
                Some(sys::landlock_abi().ok_or(JailError::LandlockUnavailable)?)
            }
        };
        // Run directories are traversable (not listable) so that the sandbox user, which
        // is not host root, can reach its own workspace mount point.
        if let Some(parent) = config.run_root.parent() {
            fs::create_dir_all(parent).map_err(|e| JailError::io("cannot create", parent, e))?;
        }
        make_private_dir(&config.run_root, 0o711)?;
        reap_stale(&config.run_root, &cgroups);
        // The run root holds mount points, created and removed for every sandbox (on a
        // tmpfs that costs microseconds, on a disk file system, as some hosts' /run, tens
        // of microseconds each), and each gVisor sandbox's bundle (about 256 KiB: the
        // copied read-only files). As root, give it a tmpfs of its own, sized for many
        // gVisor sandboxes at once: a tmpfs holds memory only for what is written to it.
        // One left by an older warden with a smaller size is grown in place.
        let run_root_c = c_path(&config.run_root)?;
        if sys::geteuid() == 0 {
            let options = CString::new(format!("size={RUN_ROOT_BYTES},nr_inodes=262144,mode=0711"))
                .map_err(|_| JailError::Invalid("run root options".into()))?;
            match sys::tmpfs_size(&run_root_c) {
                None => sys::mount_tmpfs(&run_root_c, &options)
                    .map_err(|e| JailError::io("cannot mount a tmpfs on", &config.run_root, e))?,
                Some(size) if size < RUN_ROOT_BYTES => sys::remount_tmpfs(&run_root_c, &options)
                    .map_err(|e| JailError::io("cannot grow the tmpfs on", &config.run_root, e))?,
                Some(_) => {}
            }
        }
        // Every sandbox mounts its root tmpfs on this one directory, each in its own
        // mount namespace, so the static steps can be prepared once.
        let new_root = config.run_root.join(".root");
        make_private_dir(&new_root, 0o755)?;
        let base = plan::base_plan(&config);
        let base_ro_ops = plan::prepare(&new_root, &base.read_only);
        let base_rw_ops = plan::prepare(&new_root, &base.writable);
        Ok(Jail {
            new_root_c: c_path(&new_root)?,
            hostname_c: CString::new(config.hostname.clone())
                .map_err(|_| JailError::Invalid("hostname contains NUL".into()))?,
            config,
            cgroups,
            seccomp,
            landlock_abi,
            own_argv_area: sys::own_argv_area(),
            cap_last_cap: sys::cap_last_cap(),
            open_tree: sys::open_tree_available(),
            created: (started, sys::monotonic_ns()),
            base,
            base_ro_ops,
            base_rw_ops,
            new_root,
            runsc: OnceLock::new(),
        })
    }

    /// Whether this host can run the gVisor tier, or why not.
    pub fn gvisor(&self) -> Result<&crate::gvisor::Runsc, String> {
        self.runsc
            .get_or_init(|| crate::gvisor::Runsc::detect(&self.config.run_root))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Starts a command under gVisor (see [`crate::gvisor`]): the same plan as the
    /// namespace tier, written as an OCI bundle and run by `runsc`.
    fn spawn_gvisor(&self, cmd: Command) -> Result<Sandbox, JailError> {
        let runsc = self
            .gvisor()
            .map_err(|why| JailError::Invalid(format!("the gvisor tier is not available: {why}")))?
            .clone();
        let mut timings = match cmd.record_timings {
            true => {
                let mut t = Timings::default();
                t.mark("spawn: start");
                let page =
                    sys::StampPage::new().map_err(|e| JailError::supervise("map a page", e))?;
                Some((t, page))
            }
            false => None,
        };
        let mut mark = |step: &'static str| {
            if let Some((t, _)) = timings.as_mut() {
                t.mark(step);
            }
        };
        let limits = cmd.limits.clone();
        let (id, mut res, workspace) = self.run_directory(limits.workspace_bytes)?;
        let cgroup = self.cgroups.create(
            &id,
            &CgroupLimits {
                memory_bytes: limits.memory_bytes + crate::gvisor::MEMORY_OVERHEAD,
                pids: crate::gvisor::host_pids(limits.pids),
                cpus: limits.cpus,
            },
        )?;
        let procs: Vec<CString> = cgroup
            .procs_files()
            .iter()
            .map(|p| c_path(p))
            .collect::<Result<_, _>>()?;
        res.cgroup = Some(cgroup);

        // The plan of the namespace tier, but for the user the program runs as here.
        let user = (self.config.host_uid, self.config.host_gid);
        let gconfig = JailConfig {
            sandbox_uid: user.0,
            sandbox_gid: user.1,
            ..self.config.clone()
        };
        let base = plan::base_plan(&gconfig);
        let files: Vec<(PathBuf, Vec<u8>, u32)> = cmd
            .files
            .iter()
            .map(|(name, data)| (Path::new("/run/warden").join(name), data.clone(), 0o444))
            .collect();
        let run_plan = plan::run_plan(&workspace, limits.tmp_bytes, &files, &cmd.binds, false);
        let steps: Vec<&plan::Step> = plan::ordered(&base, &run_plan).collect();
        let channels =
            crate::gvisor::make_channels(&res.run_dir.join("chan"), &cmd.extra_fds, user)?;
        let env = program_env(&cmd.env);
        let (egress, listener) = match cmd.listen_inside {
            Some(port) => {
                let (e, l) = crate::gvisor::Egress::listen(res.run_dir.join("egress"), port)?;
                (Some(e), Some(Listener::Unix(l)))
            }
            None => (None, None),
        };
        let bundle = res.run_dir.join("bundle");
        crate::gvisor::write_bundle(
            &bundle,
            &steps,
            &cmd.program,
            &cmd.args,
            &env,
            &channels
                .iter()
                .map(|(p, reads, _)| (p.clone(), *reads))
                .collect::<Vec<_>>(),
            &limits,
            user,
            &self.config.hostname,
            egress.as_ref(),
        )?;
        // runsc would start and then fail to load it: say so before anything starts.
        if !crate::gvisor::exists_inside(&steps, &bundle.join("rootfs"), &cmd.program) {
            return Err(JailError::RuntimeNotFound {
                path: cmd.program.clone(),
                hint: "the program does not exist inside the sandbox".into(),
            });
        }
        mark("spawn: bundle written");

        let (out_r, out_w) = sys::pipe().map_err(|e| JailError::supervise("create a pipe", e))?;
        let (err_r, err_w) = sys::pipe().map_err(|e| JailError::supervise("create a pipe", e))?;
        let stdin_src = stdin_source(&cmd.stdin)?;
        let started = Instant::now();
        let child = runsc
            .run(
                &bundle,
                &id,
                &res.run_dir.join("panic.log"),
                [stdin_src, out_w, err_w],
                procs,
                egress.is_some(),
            )
            .map_err(|e| JailError::supervise("start runsc", e))?;
        let pid = child.id() as libc::pid_t;
        // The child is reaped by `wait4` in [`Sandbox::wait`], as the namespace tier's init.
        drop(child);
        mark("spawn: runsc started");
        res.container = Some(crate::gvisor::Container {
            runsc,
            id: id.clone(),
        });
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = sys::kill(pid, libc::SIGKILL);
                let _ = sys::wait4(pid);
                return Err(JailError::supervise("open a pidfd for runsc", e));
            }
        };
        // A relay per channel, each ending with the sandbox.
        for ((_, program_reads, host), caller) in channels.into_iter().zip(cmd.extra_fds) {
            let ended = pidfd
                .try_clone()
                .map_err(|e| JailError::supervise("duplicate the pidfd", e))?;
            let (from, to) = if program_reads {
                (caller, host)
            } else {
                (host, caller)
            };
            std::thread::Builder::new()
                .name("warden-gvisor-relay".into())
                .spawn(move || crate::gvisor::relay(from, to, ended))
                .map_err(|e| JailError::supervise("start a channel relay", e))?;
        }
        Ok(Sandbox {
            pid,
            pidfd,
            stdout: Some(out_r),
            stderr: Some(err_r),
            status: None,
            started,
            limits,
            keep_workspace: cmd.keep_workspace,
            workspace,
            res: Some(res),
            finished: false,
            meter: Meter::default(),
            timings,
            listener,
        })
    }

    /// When this jail's set-up (probe, cgroup layout, seccomp program, run root, static
    /// plan) started and ended, as [`Timings`] marks.
    pub fn setup_marks(&self) -> [(&'static str, u64); 2] {
        [
            ("jail: set-up called", self.created.0),
            (
                "jail: probe, cgroup layout, seccomp, run root, plan",
                self.created.1,
            ),
        ]
    }

    pub fn config(&self) -> &JailConfig {
        &self.config
    }

    pub fn cgroups(&self) -> &CgroupLayout {
        &self.cgroups
    }

    pub fn landlock_abi(&self) -> Option<u32> {
        self.landlock_abi
    }

    /// Starts a sandbox and returns once the program has been executed inside it (or
    /// with the step that failed).
    pub fn spawn(&self, cmd: Command) -> Result<Sandbox, JailError> {
        cmd.validate()?;
        if cmd.tier == crate::Tier::Gvisor {
            return self.spawn_gvisor(cmd);
        }
        let mut timings = cmd.record_timings.then(|| {
            let mut t = Timings::default();
            t.mark("spawn: start");
            t
        });
        let stamps = match timings {
            Some(_) => {
                Some(sys::StampPage::new().map_err(|e| JailError::supervise("map a page", e))?)
            }
            None => None,
        };
        let mut mark = |step: &'static str| {
            if let Some(t) = timings.as_mut() {
                t.mark(step);
            }
        };
        let limits = cmd.limits.clone();
        let (id, mut res, workspace) = self.run_directory(limits.workspace_bytes)?;
        mark("spawn: run directory, workspace tmpfs");

        res.cgroup = Some(self.cgroups.create(
            &id,
            &CgroupLimits {
                memory_bytes: limits.memory_bytes,
                pids: limits.pids,
                cpus: limits.cpus,
            },
        )?);
        mark("spawn: cgroups created, limits written");

        // Per-run plan steps.
        let files: Vec<(PathBuf, Vec<u8>, u32)> = cmd
            .files
            .iter()
            .map(|(name, data)| (Path::new("/run/warden").join(name), data.clone(), 0o444))
            .collect();
        let run_plan = plan::run_plan(
            &workspace,
            limits.tmp_bytes,
            &files,
            &cmd.binds,
            self.open_tree,
        );
        // Bind sources are opened here, with the supervisor's access: the sandbox user may
        // not be able to reach them (a data directory of mode 0700).
        let trees: Vec<OwnedFd> = plan::opened_sources(&run_plan.files)
            .map(|host| {
                sys::open_tree_clone(&c_path(host)?)
                    .map_err(|e| JailError::io("cannot open the bind source", host, e))
            })
            .collect::<Result<_, _>>()?;
        let run_file_ops = plan::prepare(&self.new_root, &run_plan.files);
        let run_rw_ops = plan::prepare(&self.new_root, &run_plan.writable);
        let code_size: u64 = files.iter().map(|(_, d, _)| d.len() as u64).sum();
        let root_data = CString::new(format!(
            "size={},nr_inodes=4096,mode=0755",
            code_size + (1 << 20)
        ))
        .map_err(|_| JailError::Invalid("root options".into()))?;

        let landlock = self.landlock_abi.map(|abi| LandlockSpec {
            abi,
            read_exec: vec![c"/".into()],
            read_write: vec![c"/workspace".into(), c"/tmp".into(), c"/dev/shm".into()],
            devices: vec![c"/dev".into()],
        });

        // argv and envp as NULL-terminated pointer arrays over owned C strings.
        let program_c = c_path(&cmd.program)?;
        let mut argv_owned = vec![program_c.clone()];
        for a in &cmd.args {
            argv_owned.push(
                CString::new(a.as_str())
                    .map_err(|_| JailError::Invalid("argument contains NUL".into()))?,
            );
        }
        let env = program_env(&cmd.env);
        let envp_owned: Vec<CString> = env
            .iter()
            .map(|(k, v)| {
                CString::new(format!("{k}={v}"))
                    .map_err(|_| JailError::Invalid("environment contains NUL".into()))
            })
            .collect::<Result<_, _>>()?;
        let argv: Vec<*const libc::c_char> = argv_owned
            .iter()
            .map(|c| c.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        let envp: Vec<*const libc::c_char> = envp_owned
            .iter()
            .map(|c| c.as_ptr())
            .chain([std::ptr::null()])
            .collect();

        // RLIMIT_CPU: SIGXCPU at the limit (which ends a program that does not handle it),
        // SIGKILL one second later for one that does.
        let cpu_secs = limits.effective_cpu_time().as_secs_f64().ceil() as libc::rlim_t;
        let same = |v: u64| (v as libc::rlim_t, v as libc::rlim_t);
        let rlimits = [
            (libc::RLIMIT_NOFILE, same(limits.open_files)),
            (libc::RLIMIT_NPROC, same(limits.pids)),
            (libc::RLIMIT_FSIZE, same(limits.file_size_bytes)),
            (libc::RLIMIT_CPU, (cpu_secs, cpu_secs + 1)),
            (libc::RLIMIT_CORE, same(0)),
            (libc::RLIMIT_MEMLOCK, same(64 << 10)),
            (libc::RLIMIT_MSGQUEUE, same(0)),
        ]
        .map(|(r, (soft, hard))| (r, soft, hard));

        // Pipes: stdio, sync (parent → child), setup errors and the program's status (child → parent).
        let (out_r, out_w) = sys::pipe().map_err(|e| JailError::supervise("create a pipe", e))?;
        let (err_r, err_w) = sys::pipe().map_err(|e| JailError::supervise("create a pipe", e))?;
        let (sync_r, sync_w) = sys::pipe().map_err(|e| JailError::supervise("create a pipe", e))?;
        let (fail_r, fail_w) = sys::pipe().map_err(|e| JailError::supervise("create a pipe", e))?;
        let (status_r, status_w) =
            sys::pipe().map_err(|e| JailError::supervise("create a pipe", e))?;
        let stdin_src = stdin_source(&cmd.stdin)?;
        // With extra descriptors to place at 3, 4, ..., every descriptor the child uses is
        // first moved out of their way.
        let lift = |fd: OwnedFd| -> Result<OwnedFd, JailError> {
            if cmd.extra_fds.is_empty() {
                return Ok(fd);
            }
            sys::dup_above(fd.as_raw_fd(), sys::FD_FLOOR)
                .map_err(|e| JailError::supervise("move a descriptor", e))
        };
        let (stdin_src, out_w, err_w) = (lift(stdin_src)?, lift(out_w)?, lift(err_w)?);
        let (sync_r, fail_w, status_w) = (lift(sync_r)?, lift(fail_w)?, lift(status_w)?);
        let extras: Vec<OwnedFd> = cmd
            .extra_fds
            .iter()
            .map(|fd| {
                sys::dup_above(fd.as_raw_fd(), sys::FD_FLOOR)
                    .map_err(|e| JailError::supervise("move a descriptor", e))
            })
            .collect::<Result<_, _>>()?;
        let extra_raw: Vec<i32> = extras.iter().map(|f| f.as_raw_fd()).collect();
        let trees = trees.into_iter().map(lift).collect::<Result<Vec<_>, _>>()?;
        let tree_raw: Vec<i32> = trees.iter().map(|f| f.as_raw_fd()).collect();

        // The program's process runs on this between its clone and its execve. Left
        // uninitialised (the child writes before it reads): zeroing it here would fault in
        // sixteen fresh pages on every start for the few the child touches.
        let mut exec_stack: Vec<u8> = Vec::with_capacity(64 << 10);
        let flags = (libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWCGROUP) as libc::c_ulong;
        let spec = ChildSpec {
            clone_flags: flags,
            stdin: stdin_src.as_raw_fd(),
            extra_fds: &extra_raw,
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
            sync_read: sync_r.as_raw_fd(),
            error_write: fail_w.as_raw_fd(),
            status_write: status_w.as_raw_fd(),
            uid: self.config.sandbox_uid,
            gid: self.config.sandbox_gid,
            new_root: &self.new_root_c,
            root_tmpfs_data: &root_data,
            ops: [
                &self.base_ro_ops,
                &run_file_ops,
                &self.base_rw_ops,
                &run_rw_ops,
            ],
            trees: &tree_raw,
            hostname: &self.hostname_c,
            rlimits: &rlimits,
            landlock: landlock.as_ref(),
            seccomp: &self.seccomp.programs,
            cwd: c"/workspace",
            exec_path: &program_c,
            argv: &argv,
            envp: &envp,
            own_argv_area: self.own_argv_area,
            cap_last_cap: self.cap_last_cap,
            exec_stack: (exec_stack.as_mut_ptr(), exec_stack.capacity()),
            stamps: stamps.as_ref().map_or(std::ptr::null_mut(), |p| p.as_ptr()),
        };

        mark("spawn: plan, pipes, argv prepared");
        let started = Instant::now();
        let (pid, pidfd) = sys::spawn(&spec).map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EINVAL) | Some(libc::ENOSPC) | Some(libc::EUSERS) => {
                JailError::UserNamespaces(e)
            }
            _ => JailError::supervise("clone the sandbox", e),
        })?;
        drop((
            out_w, err_w, sync_r, fail_w, status_w, stdin_src, extras, trees,
        ));
        mark("spawn: clone returned");

        let mut sandbox = Sandbox {
            pid,
            pidfd,
            stdout: Some(out_r),
            stderr: Some(err_r),
            status: Some(status_r),
            started,
            limits,
            keep_workspace: cmd.keep_workspace,
            workspace,
            res: Some(res),
            finished: false,
            meter: Meter::default(),
            timings: None,
            listener: None,
        };

        // Map ids, join cgroups, then let the child go.
        let setup = (|| {
            sys::write_id_maps(
                pid,
                self.config.sandbox_uid,
                self.config.host_uid,
                self.config.sandbox_gid,
                self.config.host_gid,
            )
            .map_err(JailError::UserNamespaces)?;
            if let Some(cg) = sandbox.res.as_ref().and_then(|r| r.cgroup.as_ref()) {
                cg.add_pid(pid)?;
            }
            if let Some(port) = cmd.listen_inside {
                let addr = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port);
                let fd = sys::listen_in_netns(sandbox.pidfd.as_raw_fd(), addr)
                    .map_err(|e| JailError::supervise("listen inside the sandbox", e))?;
                sandbox.listener = Some(Listener::Tcp(std::net::TcpListener::from(fd)));
            }
            mark("spawn: id maps written, cgroups joined");
            sys::write_all(sync_w.as_raw_fd(), b"G")
                .map_err(|e| JailError::supervise("release the sandbox child", e))
        })();
        drop(sync_w);
        if let Err(e) = setup {
            sandbox.abort();
            return Err(e);
        }

        // The failure pipe closes when the program is executed (close-on-exec) or carries
        // the step that failed.
        let mut buf = [0u8; SetupFailure::SIZE];
        let mut got = 0;
        while got < buf.len() {
            match sys::read(fail_r.as_raw_fd(), &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => {
                    sandbox.abort();
                    return Err(JailError::supervise("read the set-up result", e));
                }
            }
        }
        if got == SetupFailure::SIZE {
            let f = SetupFailure::from_bytes(&buf);
            sandbox.abort();
            return Err(self.setup_error(f, &run_plan, &cmd.program));
        }
        drop(fail_r);
        mark("spawn: program executed (seen by the supervisor)");
        sandbox.timings = timings.zip(stamps);
        Ok(sandbox)
    }

    /// A new sandbox's id, its run directory and its size-capped workspace tmpfs (owned
    /// by the host user), as resources that tear themselves down if the start fails.
    fn run_directory(
        &self,
        workspace_bytes: u64,
    ) -> Result<(String, Resources, PathBuf), JailError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let id = format!(
            "{}-{}-{:x}",
            std::process::id(),
            SANDBOX_COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let mut res = Resources {
            run_dir: self.config.run_root.join(&id),
            workspace_mounted: false,
            cgroup: None,
            container: None,
        };
        make_private_dir(&res.run_dir, 0o711)?;
        let workspace = res.run_dir.join("workspace");
        make_private_dir(&workspace, 0o700)?;
        let ws_c = c_path(&workspace)?;
        let ws_opts = CString::new(format!(
            "size={workspace_bytes},nr_inodes=65536,mode=0700,uid={},gid={}",
            self.config.host_uid, self.config.host_gid
        ))
        .map_err(|_| JailError::Invalid("workspace options".into()))?;
        sys::mount_tmpfs(&ws_c, &ws_opts)
            .map_err(|e| JailError::io("cannot mount the workspace tmpfs on", &workspace, e))?;
        res.workspace_mounted = true;
        Ok((id, res, workspace))
    }

    fn setup_error(&self, f: SetupFailure, run: &RunPlan, program: &Path) -> JailError {
        let stage = Stage::from_u32(f.stage).unwrap_or(Stage::Exec);
        let source = io::Error::from_raw_os_error(f.errno);
        if stage == Stage::Exec && f.errno == libc::ENOENT {
            return JailError::RuntimeNotFound {
                path: program.to_path_buf(),
                hint: "the program does not exist inside the sandbox".into(),
            };
        }
        let step = match stage {
            Stage::Rootfs | Stage::Proc | Stage::RemountRoot => {
                let i = f.detail as usize;
                plan::ordered(&self.base, run)
                    .nth(i)
                    .map(|s| format!("{}: {}", stage.name(), s.describe()))
                    .unwrap_or_else(|| stage.name().to_string())
            }
            Stage::Rlimits | Stage::Landlock | Stage::DropCapabilities | Stage::Stdio => {
                format!("{} (#{})", stage.name(), f.detail)
            }
            _ => stage.name().to_string(),
        };
        JailError::Setup {
            stage,
            step,
            source,
        }
    }

    /// Runs a command to completion: streams its output to `sink`, enforces the limits
    /// and tears everything down.
    pub fn run(&self, cmd: Command, sink: &mut dyn OutputSink) -> Result<Outcome, JailError> {
        self.spawn(cmd)?.wait(sink)
    }
}

/// Host resources a sandbox holds until teardown.
struct Resources {
    run_dir: PathBuf,
    workspace_mounted: bool,
    cgroup: Option<Cgroup>,
    /// A gVisor sandbox's container, whose state `runsc delete` removes.
    container: Option<crate::gvisor::Container>,
}

/// The CPU-time limit of a gVisor sandbox, which the Sentry does not enforce
/// (`RLIMIT_CPU`): the wait loop reads the cgroup's CPU use and does what the kernel does
/// for a namespace sandbox. SIGXCPU to the program at the limit, SIGKILL to the whole
/// sandbox a second of CPU later.
struct CpuWatch {
    /// The limit, for gVisor sandboxes only.
    limit: Option<Duration>,
    warned: bool,
    killed: bool,
    /// The most CPU time seen (the Sentry's processes are gone when it is reported).
    seen: Duration,
    /// When to read the CPU time next: output wakes the wait loop far more often.
    next: Instant,
}

impl CpuWatch {
    /// How often the CPU use is read at most, and at least.
    const MIN_TICK: Duration = Duration::from_millis(20);
    const MAX_TICK: Duration = Duration::from_millis(250);

    fn new(gvisor: bool, limit: Duration) -> CpuWatch {
        CpuWatch {
            limit: gvisor.then_some(limit),
            warned: false,
            killed: false,
            seen: Duration::ZERO,
            next: Instant::now(),
        }
    }

    /// Acts on the CPU used so far; returns when to look again.
    fn check(&mut self, sandbox: &Sandbox) -> Option<Duration> {
        let limit = self.limit.filter(|_| !self.killed)?;
        let now = Instant::now();
        if now < self.next {
            return Some(self.next - now);
        }
        let used = sandbox.cpu_usage()?;
        self.seen = self.seen.max(used);
        if !self.warned && used >= limit {
            self.warned = true;
            let _ = sandbox.signal_program(libc::SIGXCPU);
        }
        let hard = limit + Duration::from_secs(1);
        if used >= hard {
            self.killed = true;
            sandbox.kill();
            return None;
        }
        let left = if self.warned {
            hard - used
        } else {
            limit - used
        };
        // CPU time grows at most as fast as wall time times the cores in use; this reads
        // it again a little before the next limit could be reached on one core.
        let tick = (left / 2).clamp(Self::MIN_TICK, Self::MAX_TICK);
        self.next = now + tick;
        Some(tick)
    }
}

/// Dropping the resources tears them down, so that a sandbox whose start fails half way
/// leaves nothing behind either.
impl Drop for Resources {
    fn drop(&mut self) {
        let emptied = if let Some(mut cg) = self.cgroup.take() {
            cg.kill_all();
            // (remove waits for exiting processes, the Sentry's and the Gofer's too.)
            cg.remove();
            true
        } else {
            false
        };
        if let Some(c) = self.container.take() {
            if emptied {
                c.runsc.forget(&c.id);
            } else {
                c.runsc.delete(&c.id);
            }
        }
        let ws = self.run_dir.join("workspace");
        if self.workspace_mounted {
            if let Ok(c) = c_path(&ws) {
                let _ = sys::umount(&c);
            }
        }
        // Normally just two empty directories; remove_dir_all only if something was left.
        if fs::remove_dir(&ws).is_err() || fs::remove_dir(&self.run_dir).is_err() {
            let _ = fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// Signals a sandbox's program from anywhere (see [`Sandbox::signaller`]).
#[derive(Debug)]
pub struct Signaller {
    init: libc::pid_t,
    pidfd: OwnedFd,
    container: Option<crate::gvisor::Container>,
}

impl Signaller {
    /// Sends `sig` to the program; fails once the sandbox has ended (the pidfd tells, so a
    /// reused pid is never signalled).
    pub fn signal_program(&self, sig: i32) -> Result<(), JailError> {
        let gone = || {
            JailError::supervise(
                "signal the program",
                io::Error::from_raw_os_error(libc::ESRCH),
            )
        };
        let ended = sys::poll_readable(&[self.pidfd.as_raw_fd()], Some(Duration::ZERO))
            .map(|r| r[0] != 0)
            .unwrap_or(true);
        if ended {
            return Err(gone());
        }
        if let Some(c) = &self.container {
            return c.runsc.signal(&c.id, sig, false);
        }
        let pid = *sys::children_of(self.init).first().ok_or_else(gone)?;
        sys::kill(pid, sig).map_err(|e| JailError::supervise("signal the program", e))
    }

    /// Sends `sig` to the program and every process it started, as a terminal's Ctrl-C
    /// reaches the whole foreground job (see [`signal_tree`]).
    pub fn signal_program_tree(&self, sig: i32) -> Result<(), JailError> {
        let ended = sys::poll_readable(&[self.pidfd.as_raw_fd()], Some(Duration::ZERO))
            .map(|r| r[0] != 0)
            .unwrap_or(true);
        if ended {
            return Err(JailError::supervise(
                "signal the program",
                io::Error::from_raw_os_error(libc::ESRCH),
            ));
        }
        if let Some(c) = &self.container {
            return c.runsc.signal(&c.id, sig, true);
        }
        signal_tree(self.init, sig)
    }
}

/// The open files a sandbox's CPU time and peak memory are read from, opened on first
/// use (the program must be running for the `/proc` fallback).
#[derive(Debug, Default)]
struct Meter {
    cpu: OnceLock<CpuFile>,
    peak_memory: OnceLock<Option<fs::File>>,
}

/// Most processes one [`signal_tree`] call visits (the pids limit bounds a sandbox far
/// below this).
const MAX_TREE: usize = 1 << 16;

/// The first read buffer for a sandbox's output: one page.
const READ_BUFFER_START: usize = 4 << 10;

/// The largest read of a sandbox's output: a pipe's default capacity.
const READ_BUFFER_MAX: usize = 64 << 10;

/// Signals the program (the first child of the sandbox's `init`) and its descendants,
/// parents first. Each process is pinned with a pidfd and signalled only if it is still
/// the child of the process it was found under, so a pid reused meanwhile is never hit.
fn signal_tree(init: libc::pid_t, sig: i32) -> Result<(), JailError> {
    let program = *sys::children_of(init).first().ok_or_else(|| {
        JailError::supervise(
            "find the program",
            io::Error::from_raw_os_error(libc::ESRCH),
        )
    })?;
    let mut queue = std::collections::VecDeque::from([(program, init)]);
    let mut visited = 0;
    let mut first = true;
    while let Some((pid, parent)) = queue.pop_front() {
        visited += 1;
        if visited > MAX_TREE {
            break;
        }
        let Ok(pidfd) = sys::pidfd_open(pid) else {
            continue;
        };
        if sys::parent_of(pid) != Some(parent) {
            continue;
        }
        let sent = sys::pidfd_kill(pidfd.as_raw_fd(), sig);
        if first {
            sent.map_err(|e| JailError::supervise("signal the program", e))?;
            first = false;
        }
        queue.extend(
            sys::children_of_all_threads(pid)
                .into_iter()
                .map(|c| (c, pid)),
        );
    }
    Ok(())
}

/// A running sandbox.
pub struct Sandbox {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    /// The program's wait status, from the namespace tier's init (none under gVisor,
    /// where `runsc`'s own exit status is the program's).
    status: Option<OwnedFd>,
    started: Instant,
    limits: Limits,
    keep_workspace: Option<PathBuf>,
    workspace: PathBuf,
    res: Option<Resources>,
    finished: bool,
    meter: Meter,
    /// The supervisor's marks and the child's stamp page, when asked for.
    timings: Option<(Timings, sys::StampPage)>,
    /// See [`Command::listen_inside`].
    listener: Option<Listener>,
}

impl Sandbox {
    /// The host pid of the sandbox's init.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The listener [`Command::listen_inside`] asked for (once).
    pub fn take_listener(&mut self) -> Option<Listener> {
        self.listener.take()
    }

    /// The host directory behind `/workspace` (valid while the sandbox lives).
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The host pid of the program (the init's child), once it runs; none under gVisor,
    /// whose processes are the Sentry's, not the host's.
    pub fn program_pid(&self) -> Option<i32> {
        if self.is_gvisor() {
            return None;
        }
        sys::children_of(self.pid).first().copied()
    }

    /// Which isolation runs it.
    pub fn tier(&self) -> crate::Tier {
        if self.is_gvisor() {
            crate::Tier::Gvisor
        } else {
            crate::Tier::Namespaces
        }
    }

    fn is_gvisor(&self) -> bool {
        self.container().is_some()
    }

    fn container(&self) -> Option<&crate::gvisor::Container> {
        self.res.as_ref()?.container.as_ref()
    }

    /// Sends a signal to the program (e.g. SIGINT to interrupt a cell).
    pub fn signal_program(&self, sig: i32) -> Result<(), JailError> {
        if let Some(c) = self.container() {
            return c.runsc.signal(&c.id, sig, false);
        }
        let pid = self.program_pid().ok_or_else(|| {
            JailError::supervise(
                "find the program",
                io::Error::from_raw_os_error(libc::ESRCH),
            )
        })?;
        sys::kill(pid, sig).map_err(|e| JailError::supervise("signal the program", e))
    }

    /// Sends a signal to the program and every process it started (see
    /// [`Signaller::signal_program_tree`]).
    pub fn signal_program_tree(&self, sig: i32) -> Result<(), JailError> {
        if let Some(c) = self.container() {
            return c.runsc.signal(&c.id, sig, true);
        }
        signal_tree(self.pid, sig)
    }

    /// CPU time used by the sandbox so far: every process's, from its cgroup where the
    /// kernel reports it (cgroup v2, or a v1 `cpuacct` in the sandbox's hierarchies);
    /// otherwise the program's own and that of the children it waited for, from
    /// `/proc` (10 ms resolution). The file is opened once and re-read on each call.
    pub fn cpu_usage(&self) -> Option<Duration> {
        if let Some(f) = self.meter.cpu.get() {
            return f.read();
        }
        let cgroup = self.res.as_ref().and_then(|r| r.cgroup.as_ref());
        let file = match cgroup.and_then(Cgroup::open_cpu_usage) {
            Some(f) => f,
            // The Sentry's processes are not the program's children.
            None if self.is_gvisor() => return cgroup?.processes_cpu_time(),
            // Nothing cached while the program is not running yet.
            None => CpuFile {
                file: fs::File::open(format!("/proc/{}/stat", self.program_pid()?)).ok()?,
                format: CpuFormat::ProcStat,
            },
        };
        self.meter.cpu.get_or_init(|| file).read()
    }

    /// The sandbox's highest memory use so far, in bytes (from its cgroup).
    pub fn peak_memory(&self) -> Option<u64> {
        let file = self.meter.peak_memory.get_or_init(|| {
            self.res
                .as_ref()
                .and_then(|r| r.cgroup.as_ref())
                .and_then(Cgroup::open_peak_memory)
        });
        cgroup::read_number(file.as_ref()?)
    }

    /// The sandbox's memory use now, in bytes (from its cgroup).
    pub fn current_memory(&self) -> Option<u64> {
        self.res.as_ref()?.cgroup.as_ref()?.current_memory()
    }

    /// A handle that can signal the program while someone else holds the sandbox (to
    /// interrupt a running cell).
    pub fn signaller(&self) -> Result<Signaller, JailError> {
        Ok(Signaller {
            init: self.pid,
            pidfd: self
                .pidfd
                .try_clone()
                .map_err(|e| JailError::supervise("duplicate the pidfd", e))?,
            container: self.container().cloned(),
        })
    }

    /// Takes the read end of the program's stdout, for callers that read it themselves
    /// (asynchronously); [`Sandbox::wait`] then leaves it alone.
    pub fn take_stdout(&mut self) -> Option<OwnedFd> {
        self.stdout.take()
    }

    /// Takes the read end of the program's stderr (see [`Sandbox::take_stdout`]).
    pub fn take_stderr(&mut self) -> Option<OwnedFd> {
        self.stderr.take()
    }

    /// Whether the sandbox's init has exited (the program ended or was killed).
    pub fn has_ended(&self) -> bool {
        sys::poll_readable(&[self.pidfd.as_raw_fd()], Some(Duration::ZERO))
            .map(|r| r[0] != 0)
            .unwrap_or(true)
    }

    /// A descriptor that becomes readable when the sandbox has ended.
    pub fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.pidfd.as_fd()
    }

    /// Kills every process of the sandbox.
    pub fn kill(&self) {
        let _ = sys::pidfd_kill(self.pidfd.as_raw_fd(), libc::SIGKILL);
        if self.is_gvisor() {
            // runsc's Sentry and Gofer are not its children's children: kill them all.
            if let Some(cg) = self.res.as_ref().and_then(|r| r.cgroup.as_ref()) {
                cg.kill_all();
            }
        }
    }

    fn mark(&mut self, step: &'static str) {
        if let Some((t, _)) = self.timings.as_mut() {
            t.mark(step);
        }
    }

    fn abort(&mut self) {
        self.kill();
        if !self.finished {
            let _ = sys::wait4(self.pid);
            self.finished = true;
        }
        drop(self.res.take());
    }

    /// Supervises the sandbox until its program ends or a limit fires, then tears it down.
    pub fn wait(mut self, sink: &mut dyn OutputSink) -> Result<Outcome, JailError> {
        let deadline = self.started + self.limits.timeout;
        let cap = self.limits.output_bytes;
        let mut out = Captured::default();
        let mut err = Captured::default();
        let mut timed_out = false;
        // Starts at a page and grows to a pipe's capacity once a read fills it: most programs
        // print little, and every page zeroed here is a fault on each sandbox's start.
        let mut buf = vec![0u8; READ_BUFFER_START];
        for fd in [&self.stdout, &self.stderr].into_iter().flatten() {
            sys::set_nonblocking(fd.as_raw_fd())
                .map_err(|e| JailError::supervise("configure output pipes", e))?;
        }

        // Phase 1: until init exits (or the deadline passes).
        let mut init_done = false;
        let mut cpu = CpuWatch::new(self.is_gvisor(), self.limits.effective_cpu_time());
        while !init_done {
            let now = Instant::now();
            if !timed_out && now >= deadline {
                timed_out = true;
                self.kill();
            }
            let mut wait = if timed_out {
                None
            } else {
                Some(deadline - now + Duration::from_millis(1))
            };
            if !timed_out {
                if let Some(next) = cpu.check(&self) {
                    wait = Some(wait.map_or(next, |w| w.min(next)));
                }
            }
            let mut fds = vec![self.pidfd.as_raw_fd()];
            fds.extend(
                self.stdout
                    .iter()
                    .chain(self.stderr.iter())
                    .map(|f| f.as_raw_fd()),
            );
            let rev = sys::poll_readable(&fds, wait)
                .map_err(|e| JailError::supervise("poll the sandbox", e))?;
            if rev[0] != 0 {
                init_done = true;
                self.mark("wait: the sandbox ended");
            }
            self.pump(&rev[1..], &mut buf, &mut out, &mut err, cap, sink)?;
        }
        let (wstatus, usage) =
            sys::wait4(self.pid).map_err(|e| JailError::supervise("reap the sandbox", e))?;
        self.finished = true;
        let duration = self.started.elapsed();

        // Phase 2: every process of the sandbox is gone with its init, so the pipes reach
        // end-of-file; drain them, bounded in time in case a descriptor leaked.
        let drain_deadline = Instant::now() + Duration::from_secs(2);
        while self.stdout.is_some() || self.stderr.is_some() {
            let now = Instant::now();
            if now >= drain_deadline {
                break;
            }
            let fds: Vec<i32> = self
                .stdout
                .iter()
                .chain(self.stderr.iter())
                .map(|f| f.as_raw_fd())
                .collect();
            let rev = sys::poll_readable(&fds, Some(drain_deadline - now))
                .map_err(|e| JailError::supervise("poll the sandbox", e))?;
            self.pump(&rev, &mut buf, &mut out, &mut err, cap, sink)?;
        }

        // The program's own status, as its init saw it; init's status if init was killed.
        let mut sbuf = [0u8; 4];
        let gvisor = self.is_gvisor();
        let program_status = match &self.status {
            Some(fd) => match sys::read(fd.as_raw_fd(), &mut sbuf) {
                Ok(4) => Some(i32::from_ne_bytes(sbuf)),
                _ => None,
            },
            // runsc exits with the program's code, or 128 + the signal that ended it.
            None if !libc::WIFSIGNALED(wstatus) => Some(wstatus),
            None => None,
        };
        let status = program_status.unwrap_or(wstatus);
        let exit = if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            match libc::WEXITSTATUS(status) {
                c if gvisor && (129..160).contains(&c) => Exit::Signal(c - 128),
                c => Exit::Code(c),
            }
        };
        let program_status = if gvisor && matches!(exit, Exit::Signal(libc::SIGKILL)) {
            None
        } else {
            program_status
        };
        let tv = |t: libc::timeval| {
            Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
        };
        let mut cpu_time = tv(usage.ru_utime) + tv(usage.ru_stime);
        if gvisor {
            // runsc's own use is a sliver: the Sentry's, the Gofer's and the program's is
            // the cgroup's.
            cpu_time = cpu_time.max(cpu.seen);
            if let Some(used) = self.cpu_usage() {
                cpu_time = cpu_time.max(used);
            }
        }

        let res = self.res.as_ref();
        let cgroup = res.and_then(|r| r.cgroup.as_ref());
        let oom_kills = cgroup.map(|c| c.oom_kills()).unwrap_or(0);
        let peak_memory = cgroup.and_then(|c| c.peak_memory());
        let killed = matches!(exit, Exit::Signal(libc::SIGKILL)) || program_status.is_none();
        let limit = if timed_out {
            Some(LimitHit::Timeout)
        } else if oom_kills > 0 && killed {
            Some(LimitHit::Memory)
        } else if cpu.killed
            || matches!(exit, Exit::Signal(libc::SIGXCPU))
            || (matches!(exit, Exit::Signal(libc::SIGKILL))
                && cpu_time >= self.limits.effective_cpu_time())
        {
            Some(LimitHit::CpuTime)
        } else {
            None
        };

        let kept_workspace = match self.keep_workspace.take() {
            Some(dest) => {
                copy_tree(&self.workspace, &dest)
                    .map_err(|e| JailError::io("cannot keep the workspace in", &dest, e))?;
                Some(dest)
            }
            None => None,
        };
        self.mark("wait: reaped, output drained");
        drop(self.res.take());
        self.mark("teardown: cgroups removed, workspace unmounted");
        let timings = self.timings.take().map(|(mut t, page)| {
            for (mark, ns) in sys::ChildMark::ALL.iter().zip(page.read()) {
                if ns != 0 {
                    t.marks.push((mark.name(), ns));
                }
            }
            t.marks.sort_by_key(|&(_, ns)| ns);
            t
        });
        Ok(Outcome {
            timings,
            exit,
            limit,
            duration,
            cpu_time,
            peak_memory,
            stdout: out,
            stderr: err,
            kept_workspace,
        })
    }

    /// Reads whatever is ready on the output pipes.
    fn pump(
        &mut self,
        revents: &[i16],
        buf: &mut Vec<u8>,
        out: &mut Captured,
        err: &mut Captured,
        cap: usize,
        sink: &mut dyn OutputSink,
    ) -> Result<(), JailError> {
        let mut idx = 0;
        for stream in [Stream::Stdout, Stream::Stderr] {
            let slot = match stream {
                Stream::Stdout => &mut self.stdout,
                Stream::Stderr => &mut self.stderr,
            };
            let Some(fd) = slot.as_ref() else { continue };
            let ready = revents.get(idx).copied().unwrap_or(0);
            idx += 1;
            if ready == 0 {
                continue;
            }
            let captured = match stream {
                Stream::Stdout => &mut *out,
                Stream::Stderr => &mut *err,
            };
            // Bounded per call so one flooding stream cannot starve the other or the deadline.
            for _ in 0..16 {
                match sys::read(fd.as_raw_fd(), buf) {
                    Ok(0) => {
                        *slot = None;
                        break;
                    }
                    Ok(n) => {
                        let kept = captured.push(&buf[..n], cap);
                        if !kept.is_empty() {
                            sink.output(stream, kept);
                        }
                        if n == buf.len() && buf.len() < READ_BUFFER_MAX {
                            buf.resize(READ_BUFFER_MAX, 0);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(JailError::supervise("read the sandbox's output", e)),
                }
            }
        }
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.res.is_some() || !self.finished {
            self.abort();
        }
    }
}

/// Copies a directory tree without following symlinks (they are recreated as symlinks);
/// device files, sockets and fifos are skipped.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ft.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(entry.path())?;
            let _ = fs::remove_file(&dest);
            std::os::unix::fs::symlink(target, &dest)?;
        } else if ft.is_file() {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// The supervisor pid a run directory or cgroup name starts with (`<pid>-<n>-<hex>`).
fn owner_pid(name: &OsStr) -> Option<u32> {
    if !is_run_dir_name(name) {
        return None;
    }
    name.to_str()?.split('-').next()?.parse().ok()
}

/// Removes what sandboxes of a supervisor that died (killed, crashed) left behind: their
/// workspace mounts, run directories and cgroups. Sandboxes of live supervisors, including
/// other warden processes running now, are left alone.
fn reap_stale(run_root: &Path, cgroups: &CgroupLayout) {
    // One look in /proc per supervisor, not per run directory: a server holding a hundred
    // sessions has a hundred run directories, which every `warden run` walks past.
    let mut seen: Vec<(u32, bool)> = Vec::new();
    let mut dead = |name: &OsStr| {
        let Some(pid) = owner_pid(name) else {
            return false;
        };
        if let Some(&(_, d)) = seen.iter().find(|(p, _)| *p == pid) {
            return d;
        }
        let d = !Path::new("/proc").join(pid.to_string()).exists();
        seen.push((pid, d));
        d
    };
    let mut reaped = 0;
    if let Ok(entries) = fs::read_dir(run_root) {
        for entry in entries.flatten() {
            if dead(&entry.file_name()) {
                let ws = entry.path().join("workspace");
                if let Ok(c) = c_path(&ws) {
                    let _ = sys::umount(&c);
                }
                let _ = fs::remove_dir_all(entry.path());
                reaped += 1;
            }
        }
    }
    // gVisor containers' state files (`ID_sandbox:ID.state`, `.lock`) of dead supervisors.
    if let Ok(entries) = fs::read_dir(run_root.join(".runsc")) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let id = name.to_string_lossy();
            let id = id.split('_').next().unwrap_or("");
            if dead(OsStr::new(id)) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    // A sandbox's cgroups are created after its run directory and removed before it, so
    // a dead supervisor's cgroups can only remain beside a run directory of its. Listing
    // the cgroup directories (dozens of control files each, on every start of `warden
    // run`) is skipped otherwise.
    if reaped == 0 {
        return;
    }
    for place in &cgroups.places {
        if let Ok(entries) = fs::read_dir(place.own_dir.join("warden")) {
            for entry in entries.flatten() {
                if dead(&entry.file_name()) {
                    // Processes cannot remain once their pid namespace's init is gone; a
                    // cgroup that still has some is left for the administrator.
                    let _ = fs::remove_dir(entry.path());
                }
            }
        }
    }
}

/// Returns true when the name looks like one of our run directories (for stale cleanup).
pub fn is_run_dir_name(name: &OsStr) -> bool {
    let s = name.to_string_lossy();
    let mut parts = s.split('-');
    matches!((parts.next(), parts.next(), parts.next(), parts.next()), (Some(a), Some(b), Some(_), None) if a.parse::<u32>().is_ok() && b.parse::<u64>().is_ok())
}

/// [`BASE_ENV`] with the command's variables added or overriding.
fn program_env(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = BASE_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in extra {
        match env.iter_mut().find(|(ek, _)| ek == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    env
}

/// The descriptor the program gets as its standard input.
fn stdin_source(stdin: &Stdin) -> Result<OwnedFd, JailError> {
    Ok(match stdin {
        Stdin::Null => fs::File::open("/dev/null")
            .map_err(|e| JailError::io("cannot open", "/dev/null", e))?
            .into(),
        Stdin::Inherit => {
            sys::dup_above(0, 3).map_err(|e| JailError::supervise("duplicate standard input", e))?
        }
        Stdin::Fd(fd) => fd
            .try_clone()
            .map_err(|e| JailError::supervise("duplicate standard input", e))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_keeps_only_up_to_the_cap() {
        let mut c = Captured::default();
        assert_eq!(c.push(b"hello", 8), b"hello");
        assert_eq!(c.push(b"world", 8), b"wor");
        assert_eq!(c.push(b"!!", 8), b"");
        assert_eq!(c.bytes, b"hellowor");
        assert!(c.truncated);
        assert_eq!(c.total, 12);
    }

    #[test]
    fn commands_with_nul_or_relative_programs_are_refused() {
        assert!(Command::new("python3").validate().is_err());
        let mut c = Command::new("/bin/true");
        c.args.push("a\0b".into());
        assert!(c.validate().is_err());
        let mut c = Command::new("/bin/true");
        c.files.push(("../escape".into(), vec![]));
        assert!(c.validate().is_err());
        assert!(Command::new("/bin/true").validate().is_ok());
    }

    #[test]
    fn run_dir_names_are_recognised() {
        assert!(is_run_dir_name(OsStr::new("123-4-abc")));
        assert!(!is_run_dir_name(OsStr::new(".root")));
        assert!(!is_run_dir_name(OsStr::new("foo")));
    }
}
