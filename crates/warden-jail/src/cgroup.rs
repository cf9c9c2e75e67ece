//! Cgroups for sandboxes: memory, pids and CPU limits on cgroup v1, v2, or a hybrid of both.
//!
//! Sandbox cgroups are created beneath the cgroup warden itself runs in (in each
//! hierarchy that carries a controller we need), under a `warden/` directory, so that
//! accounting stays with the parent and the same code works under systemd delegation.
//! Every controller is looked for in the unified (v2) hierarchy first, then in the v1
//! hierarchies; on this project's CI machines memory, pids and cpu live in v1 while the
//! v2 mount carries only hugetlb.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::CgroupError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    pub const ALL: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Where one controller lives: its hierarchy's version and the directory of warden's own
/// cgroup in that hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerPlace {
    pub controller: Controller,
    pub version: Version,
    /// The cgroup warden runs in, in this hierarchy.
    pub own_dir: PathBuf,
}

/// The controllers found on this host.
#[derive(Debug, Clone, Default)]
pub struct CgroupLayout {
    pub places: Vec<ControllerPlace>,
    /// The unified (v2) hierarchy's mount point, if any.
    pub unified_mount: Option<PathBuf>,
    /// Whether the unified mount has `favordynmods` (fast task migration).
    pub favordynmods: bool,
}

/// Limits enforced through cgroups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgroupLimits {
    pub memory_bytes: u64,
    pub pids: u64,
    /// CPU bandwidth in cores (1.5 = one and a half cores); `None` for no cap.
    pub cpus: Option<f64>,
}

struct Mount {
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Mount {
                root: unescape(l.get(3)?),
                mount_point: PathBuf::from(unescape(l.get(4)?)),
                fstype: r.first()?.to_string(),
                super_options: r.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Joins a mount point with a cgroup path relative to the mount's root.
fn dir_in_mount(m: &Mount, cgroup_path: &str) -> PathBuf {
    let rel = cgroup_path
        .strip_prefix(m.root.as_str())
        .unwrap_or(cgroup_path)
        .trim_start_matches('/');
    if rel.is_empty() {
        m.mount_point.clone()
    } else {
        m.mount_point.join(rel)
    }
}

impl CgroupLayout {
    /// Reads the layout of the running process from /proc.
    pub fn detect() -> Result<Self, CgroupError> {
        let read = |p: &str| {
            fs::read_to_string(p).map_err(|source| CgroupError::Io {
                action: "read",
                path: p.into(),
                source,
            })
        };
        let cgroup = read("/proc/self/cgroup")?;
        let mountinfo = read("/proc/self/mountinfo")?;
        Ok(Self::from_proc(&cgroup, &mountinfo, |dir| {
            fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default()
        }))
    }

    /// Builds the layout from the text of `/proc/self/cgroup` and `/proc/self/mountinfo`;
    /// `controllers_of` reads a v2 directory's `cgroup.controllers`.
    pub fn from_proc(
        proc_cgroup: &str,
        mountinfo: &str,
        controllers_of: impl Fn(&Path) -> String,
    ) -> Self {
        let mounts = parse_mountinfo(mountinfo);
        let mut layout = CgroupLayout::default();
        let unified = mounts.iter().find(|m| m.fstype == "cgroup2");
        layout.unified_mount = unified.map(|m| m.mount_point.clone());
        layout.favordynmods =
            unified.is_some_and(|m| m.super_options.split(',').any(|o| o == "favordynmods"));

        let mut v1: Vec<(Vec<String>, String)> = Vec::new();
        let mut v2_path: Option<String> = None;
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if ctrls.is_empty() {
                v2_path = Some(path.to_string());
            } else {
                v1.push((
                    ctrls.split(',').map(str::to_string).collect(),
                    path.to_string(),
                ));
            }
        }

        for controller in Controller::ALL {
            let name = controller.name();
            // Prefer the unified hierarchy when it carries the controller.
            if let (Some(m), Some(path)) = (unified, v2_path.as_deref()) {
                let own = dir_in_mount(m, path);
                let available = controllers_of(&own);
                if available.split_whitespace().any(|c| c == name) {
                    layout.places.push(ControllerPlace {
                        controller,
                        version: Version::V2,
                        own_dir: own,
                    });
                    continue;
                }
            }
            let Some((ctrls, path)) = v1.iter().find(|(c, _)| c.iter().any(|c| c == name)) else {
                continue;
            };
            let mount = mounts.iter().find(|m| {
                m.fstype == "cgroup"
                    && ctrls
                        .iter()
                        .all(|c| m.super_options.split(',').any(|o| o == c))
            });
            if let Some(m) = mount {
                layout.places.push(ControllerPlace {
                    controller,
                    version: Version::V1,
                    own_dir: dir_in_mount(m, path),
                });
            }
        }
        layout
    }

    pub fn place(&self, controller: Controller) -> Option<&ControllerPlace> {
        self.places.iter().find(|p| p.controller == controller)
    }

    /// Turns on `favordynmods` on the cgroup v2 mount. The setting is global to the
    /// kernel's cgroup core, so it also speeds up migrations in v1 hierarchies.
    pub fn enable_favor_dynmods(&self) -> io::Result<()> {
        let Some(mount) = &self.unified_mount else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no cgroup v2 mount",
            ));
        };
        if self.favordynmods {
            return Ok(());
        }
        crate::sys::remount_cgroup2_favordynmods(mount)
    }

    /// A one-line description, e.g. `memory: v1, pids: v1, cpu: v1`.
    pub fn describe(&self) -> String {
        Controller::ALL
            .iter()
            .map(|c| match self.place(*c) {
                Some(p) => format!(
                    "{}: {}",
                    c.name(),
                    if p.version == Version::V1 { "v1" } else { "v2" }
                ),
                None => format!("{}: missing", c.name()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Creates the cgroup(s) for one sandbox and writes its limits.
    pub fn create(&self, name: &str, limits: &CgroupLimits) -> Result<Cgroup, CgroupError> {
        let mut cg = Cgroup { dirs: Vec::new() };
        let result = self.create_into(&mut cg, name, limits);
        if let Err(e) = result {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn create_into(
        &self,
        cg: &mut Cgroup,
        name: &str,
        limits: &CgroupLimits,
    ) -> Result<(), CgroupError> {
        let mut needed = vec![Controller::Memory, Controller::Pids];
        if limits.cpus.is_some() {
            needed.push(Controller::Cpu);
        }
        for controller in needed {
            let place = self
                .place(controller)
                .ok_or(CgroupError::MissingController(controller.name()))?;
            let parent = place.own_dir.join("warden");
            let dir = parent.join(name);
            if !cg.dirs.iter().any(|(d, _)| *d == dir) {
                if place.version == Version::V2 {
                    prepare_v2_parent(&place.own_dir, &parent)?;
                } else {
                    ensure_dir(&parent)?;
                }
                fs::create_dir(&dir).map_err(|source| CgroupError::Io {
                    action: "create",
                    path: dir.clone(),
                    source,
                })?;
                cg.dirs.push((dir.clone(), place.version));
            }
            write_limit(&dir, place.version, controller, limits)?;
        }
        Ok(())
    }
}

fn ensure_dir(dir: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn write_file(path: PathBuf, value: &str) -> Result<(), CgroupError> {
    fs::write(&path, value).map_err(|source| CgroupError::Io {
        action: "write",
        path,
        source,
    })
}

const V2_CONTROLLERS: &str = "+memory +pids +cpu";

/// On cgroup v2 a cgroup may only hand controllers to its children while it holds no
/// processes itself ("no internal processes"). When warden's own cgroup holds processes
/// (its own, under systemd delegation), warden moves itself into a `supervisor` leaf first.
fn prepare_v2_parent(own: &Path, parent: &Path) -> Result<(), CgroupError> {
    let enable = |dir: &Path| -> io::Result<()> {
        let current = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
        let missing: Vec<&str> = V2_CONTROLLERS
            .split(' ')
            .filter(|c| !current.split_whitespace().any(|x| x == &c[1..]))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        fs::write(dir.join("cgroup.subtree_control"), missing.join(" "))
    };
    if let Err(e) = enable(own) {
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(CgroupError::Io {
                action: "enable controllers in",
                path: own.to_path_buf(),
                source: e,
            });
        }
        let leaf = own.join("supervisor");
        ensure_dir(&leaf)?;
        write_file(leaf.join("cgroup.procs"), &std::process::id().to_string())?;
        enable(own).map_err(|source| CgroupError::Io {
            action: "enable controllers in",
            path: own.to_path_buf(),
            source,
        })?;
    }
    ensure_dir(parent)?;
    enable(parent).map_err(|source| CgroupError::Io {
        action: "enable controllers in",
        path: parent.to_path_buf(),
        source,
    })
}

fn write_limit(
    dir: &Path,
    version: Version,
    controller: Controller,
    l: &CgroupLimits,
) -> Result<(), CgroupError> {
    match (controller, version) {
        (Controller::Memory, Version::V1) => {
            write_file(
                dir.join("memory.limit_in_bytes"),
                &l.memory_bytes.to_string(),
            )?;
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write_file(memsw, &l.memory_bytes.to_string())?;
            }
            Ok(())
        }
        (Controller::Memory, Version::V2) => {
            write_file(dir.join("memory.max"), &l.memory_bytes.to_string())?;
            let swap = dir.join("memory.swap.max");
            if swap.exists() {
                write_file(swap, "0")?;
            }
            Ok(())
        }
        (Controller::Pids, _) => write_file(dir.join("pids.max"), &l.pids.to_string()),
        (Controller::Cpu, version) => {
            let Some(cpus) = l.cpus else { return Ok(()) };
            let period: u64 = 100_000;
            let quota = ((cpus * period as f64).round() as u64).max(1000);
            if version == Version::V1 {
                write_file(dir.join("cpu.cfs_period_us"), &period.to_string())?;
                write_file(dir.join("cpu.cfs_quota_us"), &quota.to_string())
            } else {
                write_file(dir.join("cpu.max"), &format!("{quota} {period}"))
            }
        }
    }
}

/// The cgroup directories of one sandbox.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<(PathBuf, Version)>,
}

impl Cgroup {
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(d, _)| d.as_path())
    }

    /// The `cgroup.procs` file of each directory (to move a process into them all).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|(d, _)| d.join("cgroup.procs"))
            .collect()
    }

    /// Moves a process into every directory of this cgroup.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for (dir, _) in &self.dirs {
            write_file(dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn memory_dir(&self) -> Option<&(PathBuf, Version)> {
        self.dirs.iter().find(|(d, v)| match v {
            Version::V1 => d.join("memory.limit_in_bytes").exists(),
            Version::V2 => d.join("memory.max").exists(),
        })
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let Some((dir, v)) = self.memory_dir() else {
            return 0;
        };
        let file = match v {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Opens the file that reports the CPU time of every process of the cgroup, when
    /// the kernel has one (`cpuacct.usage` on v1, `usage_usec` of `cpu.stat` on v2),
    /// for repeated cheap reads (see [`CpuFile`]).
    pub fn open_cpu_usage(&self) -> Option<CpuFile> {
        self.dirs.iter().find_map(|(dir, v)| {
            let (name, format) = match v {
                Version::V1 => ("cpuacct.usage", CpuFormat::Nanos),
                Version::V2 => ("cpu.stat", CpuFormat::StatUsec),
            };
            let file = fs::File::open(dir.join(name)).ok()?;
            Some(CpuFile { file, format })
        })
    }

    /// Opens the file that reports the cgroup's peak memory, for repeated cheap reads
    /// with [`read_number`].
    pub fn open_peak_memory(&self) -> Option<fs::File> {
        let (dir, v) = self.memory_dir()?;
        let file = match v {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        fs::File::open(dir.join(file)).ok()
    }

    /// The highest memory use seen, in bytes, when the kernel reports it.
    pub fn peak_memory(&self) -> Option<u64> {
        let (dir, v) = self.memory_dir()?;
        let file = match v {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
    }

    /// The memory the cgroup uses now, in bytes (page cache and kernel memory
    /// included), when the kernel reports it.
    pub fn current_memory(&self) -> Option<u64> {
        let (dir, v) = self.memory_dir()?;
        let file = match v {
            Version::V1 => "memory.usage_in_bytes",
            Version::V2 => "memory.current",
        };
        fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
    }

    /// Kills every process left in the cgroup (normally none: the pid namespace's end
    /// already took them).
    pub fn kill_all(&self) {
        for (dir, v) in &self.dirs {
            if *v == Version::V2 && fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                continue;
            }
            if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = crate::sys::kill(pid, libc::SIGKILL);
                }
            }
        }
    }

    /// The CPU time of the processes in the cgroup now, summed from `/proc` (with the
    /// time of the children they waited for): for a v1 host whose `cpuacct` hierarchy is
    /// not one of the sandbox's, where no cgroup file reports it.
    pub fn processes_cpu_time(&self) -> Option<std::time::Duration> {
        let (dir, _) = self.dirs.first()?;
        let procs = fs::read_to_string(dir.join("cgroup.procs")).ok()?;
        let mut total = std::time::Duration::ZERO;
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            if let Ok(file) = fs::File::open(format!("/proc/{pid}/stat")) {
                let f = CpuFile {
                    file,
                    format: CpuFormat::ProcStat,
                };
                total += f.read().unwrap_or_default();
            }
        }
        Some(total)
    }

    /// Removes the directories, waiting briefly for exiting tasks to leave.
    pub fn remove(&mut self) {
        for (dir, _) in self.dirs.drain(..) {
            for attempt in 0..200 {
                match fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) if attempt < 199 => {
                        if attempt == 20 {
                            if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                                for pid in
                                    procs.lines().filter_map(|l| l.trim().parse::<i32>().ok())
                                {
                                    let _ = crate::sys::kill(pid, libc::SIGKILL);
                                }
                            }
                        }
                        std::thread::sleep(Duration::from_millis(if attempt < 20 {
                            1
                        } else {
                            10
                        }));
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_CGROUP: &str =
        "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    const HYBRID_MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 25 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 25 0:34 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 25 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout_uses_v1_for_controllers_the_unified_mount_lacks() {
        let l = CgroupLayout::from_proc(HYBRID_CGROUP, HYBRID_MOUNTINFO, |_| "hugetlb\n".into());
        let mem = l.place(Controller::Memory).unwrap();
        assert_eq!(mem.version, Version::V1);
        assert_eq!(
            mem.own_dir,
            Path::new("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            l.place(Controller::Pids).unwrap().own_dir,
            Path::new("/sys/fs/cgroup/pids")
        );
        assert_eq!(l.place(Controller::Cpu).unwrap().version, Version::V1);
        assert_eq!(l.describe(), "memory: v1, pids: v1, cpu: v1");
    }

    #[test]
    fn pure_v2_layout_uses_the_unified_hierarchy() {
        let cg = "0::/system.slice/warden.service\n";
        let mi = "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = CgroupLayout::from_proc(cg, mi, |p| {
            assert_eq!(p, Path::new("/sys/fs/cgroup/system.slice/warden.service"));
            "cpuset cpu io memory pids\n".into()
        });
        for c in Controller::ALL {
            let p = l.place(c).unwrap();
            assert_eq!(p.version, Version::V2);
        }
    }

    #[test]
    fn mount_roots_inside_a_cgroup_namespace_are_honoured() {
        let cg = "4:memory:/outer/inner\n";
        let mi = "33 25 0:29 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let l = CgroupLayout::from_proc(cg, mi, |_| String::new());
        assert_eq!(
            l.place(Controller::Memory).unwrap().own_dir,
            Path::new("/sys/fs/cgroup/memory/inner")
        );
        assert!(l.place(Controller::Pids).is_none());
        assert!(l.describe().contains("pids: missing"));
    }

    #[test]
    fn octal_escapes_in_mountinfo_are_decoded() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    /// A fake cgroupfs in a temporary directory: v1 memory and pids hierarchies.
    fn fake_v1(tmp: &Path) -> CgroupLayout {
        let mem = tmp.join("memory/own");
        let pids = tmp.join("pids/own");
        fs::create_dir_all(&mem).unwrap();
        fs::create_dir_all(&pids).unwrap();
        CgroupLayout {
            places: vec![
                ControllerPlace {
                    controller: Controller::Memory,
                    version: Version::V1,
                    own_dir: mem,
                },
                ControllerPlace {
                    controller: Controller::Pids,
                    version: Version::V1,
                    own_dir: pids,
                },
            ],
            unified_mount: None,
            favordynmods: false,
        }
    }

    #[test]
    fn v1_limits_are_written_to_their_files() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = fake_v1(tmp.path());
        // A real cgroupfs creates the control files; the fake needs them to exist for memsw.
        let limits = CgroupLimits {
            memory_bytes: 64 << 20,
            pids: 32,
            cpus: None,
        };
        let mut cg = layout.create("sb1", &limits).unwrap();
        let mem = tmp.path().join("memory/own/warden/sb1");
        assert_eq!(
            fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(),
            "67108864"
        );
        assert_eq!(
            fs::read_to_string(tmp.path().join("pids/own/warden/sb1/pids.max")).unwrap(),
            "32"
        );
        fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kills(), 3);
        fs::write(mem.join("memory.max_usage_in_bytes"), "1234\n").unwrap();
        assert_eq!(cg.peak_memory(), Some(1234));
        // Files in a real cgroupfs vanish with the directory; here remove them first.
        for d in cg.dirs().map(Path::to_path_buf).collect::<Vec<_>>() {
            for f in fs::read_dir(&d).unwrap() {
                fs::remove_file(f.unwrap().path()).unwrap();
            }
        }
        cg.remove();
        assert!(!mem.exists());
    }

    #[test]
    fn an_unwritable_cgroup_is_an_error_naming_the_path() {
        // /proc is read-only even for root: creating a directory there always fails.
        let layout = CgroupLayout {
            places: vec![ControllerPlace {
                controller: Controller::Memory,
                version: Version::V1,
                own_dir: PathBuf::from("/proc/self"),
            }],
            unified_mount: None,
            favordynmods: false,
        };
        let limits = CgroupLimits {
            memory_bytes: 1 << 20,
            pids: 8,
            cpus: None,
        };
        match layout.create("sb4", &limits).unwrap_err() {
            CgroupError::Io { action, path, .. } => {
                assert_eq!(action, "create");
                assert!(path.starts_with("/proc/self/warden"), "{}", path.display());
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn asking_for_cpus_without_a_cpu_controller_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = fake_v1(tmp.path());
        let limits = CgroupLimits {
            memory_bytes: 1 << 20,
            pids: 8,
            cpus: Some(0.5),
        };
        let err = layout.create("sb2", &limits).unwrap_err();
        assert!(
            matches!(err, CgroupError::MissingController("cpu")),
            "{err}"
        );
    }

    #[test]
    fn v2_limits_enable_controllers_and_write_cpu_max() {
        let tmp = tempfile::tempdir().unwrap();
        let own = tmp.path().join("svc");
        fs::create_dir_all(&own).unwrap();
        let layout = CgroupLayout {
            places: Controller::ALL
                .iter()
                .map(|&controller| ControllerPlace {
                    controller,
                    version: Version::V2,
                    own_dir: own.clone(),
                })
                .collect(),
            unified_mount: Some(tmp.path().to_path_buf()),
            favordynmods: false,
        };
        let limits = CgroupLimits {
            memory_bytes: 1 << 30,
            pids: 100,
            cpus: Some(1.5),
        };
        let cg = layout.create("sb3", &limits).unwrap();
        assert_eq!(
            cg.dirs().count(),
            1,
            "one directory serves every v2 controller"
        );
        let dir = own.join("warden/sb3");
        assert_eq!(
            fs::read_to_string(dir.join("memory.max")).unwrap(),
            "1073741824"
        );
        assert_eq!(
            fs::read_to_string(dir.join("cpu.max")).unwrap(),
            "150000 100000"
        );
        assert_eq!(
            fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
            "+memory +pids +cpu"
        );
        fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kills(), 1);
        std::mem::forget(cg);
    }
}

/// How a CPU-time file states the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuFormat {
    /// One number of nanoseconds (v1 `cpuacct.usage`).
    Nanos,
    /// The `usage_usec` line of v2 `cpu.stat`.
    StatUsec,
    /// `/proc/PID/stat`: `utime + stime + cutime + cstime` in USER_HZ ticks (100/s).
    ProcStat,
}

/// An open file reporting CPU time. Kernel status files regenerate their text on every
/// read at offset 0, so one open file serves every later reading with a single
/// `pread`, with no path lookup.
#[derive(Debug)]
pub struct CpuFile {
    pub file: fs::File,
    pub format: CpuFormat,
}

impl CpuFile {
    pub fn read(&self) -> Option<std::time::Duration> {
        use std::time::Duration;
        let mut buf = [0u8; 1024];
        let text = read_at_start(&self.file, &mut buf)?;
        match self.format {
            CpuFormat::Nanos => text.trim().parse().ok().map(Duration::from_nanos),
            CpuFormat::StatUsec => text
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse().ok())
                .map(Duration::from_micros),
            CpuFormat::ProcStat => {
                // Fields after the command name (which may hold spaces) start at field 3.
                let rest = &text[text.rfind(')')? + 1..];
                let ticks: u64 = rest
                    .split_ascii_whitespace()
                    .skip(11)
                    .take(4)
                    .map(|f| f.parse::<u64>().unwrap_or(0))
                    .sum();
                Some(Duration::from_millis(ticks * 10))
            }
        }
    }
}

/// Reads a file holding one number (e.g. `memory.peak`) from its start.
pub fn read_number(file: &fs::File) -> Option<u64> {
    let mut buf = [0u8; 64];
    read_at_start(file, &mut buf)?.trim().parse().ok()
}

/// Reads a small kernel status file from offset 0 into `buf`.
fn read_at_start<'a>(file: &fs::File, buf: &'a mut [u8]) -> Option<&'a str> {
    use std::os::unix::fs::FileExt;
    let n = file.read_at(buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()
}
