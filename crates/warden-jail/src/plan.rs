//! The sandbox's root filesystem as a plan: plain data, built and checked without root,
//! then turned into prepared system-call steps for the child.
//!
//! The layout inside the sandbox:
//!
//! | path | what |
//! |---|---|
//! | `/usr`, `/bin`, `/lib*`, `/sbin` | the host's runtime, read-only, nosuid, nodev (symlinks copied) |
//! | `/etc` | generated passwd, group, hosts, hostname, plus selected host entries, read-only |
//! | `/dev` | tmpfs with null, zero, full, random, urandom bound from the host; private `/dev/shm` |
//! | `/proc` | a fresh procfs of the sandbox's pid namespace; `/proc/sys` read-only |
//! | `/tmp` | a size-capped tmpfs |
//! | `/workspace` | the per-sandbox host directory (a size-capped tmpfs), read-write |
//! | `/run/warden` | files given with the command (the code), read-only |
//!
//! The root itself is a tmpfs. Everything read-only (the root, the runtime, `/etc`, the
//! code) is built first and then sealed read-only, nosuid and nodev with one recursive
//! `mount_setattr`; the writable mounts come after the seal.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::JailConfig;
use crate::sys::{self, PreparedOp};

/// One step of the plan. Inside paths are absolute paths in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Dir {
        inside: PathBuf,
        mode: u32,
    },
    /// A read-only (or, for the workspace, read-write) bind of a host path.
    Bind {
        host: PathBuf,
        inside: PathBuf,
        dir: bool,
        writable: bool,
        noexec: bool,
    },
    /// A read-only bind of a host directory that the supervisor opens (as a detached
    /// mount tree) and the child attaches: its source need not be reachable by the
    /// sandbox user. Used for a command's binds (templates, package sets, tools), which
    /// live in the data directory, whose mode is the operator's choice.
    BindOpened {
        host: PathBuf,
        inside: PathBuf,
    },
    Tmpfs {
        inside: PathBuf,
        size: u64,
        mode: u32,
    },
    Symlink {
        target: PathBuf,
        inside: PathBuf,
    },
    File {
        inside: PathBuf,
        contents: Vec<u8>,
        mode: u32,
    },
    Proc,
    ProcSysReadOnly,
    /// Make everything mounted so far read-only, nosuid and nodev (recursively).
    Seal,
    /// Make /dev and the device binds in it nosuid and noexec (recursively).
    SealDevices,
}

impl Step {
    pub fn describe(&self) -> String {
        match self {
            Step::Dir { inside, .. } => format!("create {}", inside.display()),
            Step::Bind {
                host,
                inside,
                writable,
                ..
            } => format!(
                "bind {} at {} ({})",
                host.display(),
                inside.display(),
                if *writable { "read-write" } else { "read-only" }
            ),
            Step::BindOpened { host, inside } => format!(
                "bind {} at {} (read-only, opened by the supervisor)",
                host.display(),
                inside.display()
            ),
            Step::Tmpfs { inside, size, .. } => {
                format!("mount a {size}-byte tmpfs at {}", inside.display())
            }
            Step::Symlink { target, inside } => {
                format!("link {} -> {}", inside.display(), target.display())
            }
            Step::File { inside, .. } => format!("write {}", inside.display()),
            Step::Proc => "mount /proc".into(),
            Step::ProcSysReadOnly => "make /proc/sys read-only".into(),
            Step::Seal => "make the root filesystem read-only".into(),
            Step::SealDevices => "make /dev nosuid and noexec".into(),
        }
    }
}

pub const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// The part of the plan that is the same for every sandbox of a jail.
#[derive(Debug, Clone, Default)]
pub struct BasePlan {
    /// Built before the seal.
    pub read_only: Vec<Step>,
    /// Mounted after the seal (starts with [`Step::Seal`]).
    pub writable: Vec<Step>,
}

/// The part of the plan that differs per sandbox.
#[derive(Debug, Clone, Default)]
pub struct RunPlan {
    /// Files placed before the seal (the code).
    pub files: Vec<Step>,
    /// Writable mounts after the seal.
    pub writable: Vec<Step>,
}

/// Every step in the order the child performs them.
pub fn ordered<'a>(base: &'a BasePlan, run: &'a RunPlan) -> impl Iterator<Item = &'a Step> {
    base.read_only
        .iter()
        .chain(run.files.iter())
        .chain(base.writable.iter())
        .chain(run.writable.iter())
}

/// Mount points created before the seal for the mounts that come after it.
const MOUNT_POINTS: [&str; 6] = ["/dev", "/proc", "/tmp", "/workspace", "/run", "/run/warden"];

pub fn base_plan(config: &JailConfig) -> BasePlan {
    let mut steps = Vec::new();
    for host in &config.runtime_paths {
        let Ok(meta) = std::fs::symlink_metadata(host) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(host) {
                steps.push(Step::Symlink {
                    target,
                    inside: host.clone(),
                });
            }
        } else if meta.is_dir() {
            steps.push(Step::Bind {
                host: host.clone(),
                inside: host.clone(),
                dir: true,
                writable: false,
                noexec: false,
            });
        }
    }

    steps.push(Step::Dir {
        inside: "/etc".into(),
        mode: 0o755,
    });
    let uid = config.sandbox_uid;
    let gid = config.sandbox_gid;
    let generated: [(&str, String); 4] = [
        (
            "passwd",
            format!("root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}:sandbox:/workspace:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
        ),
        ("group", format!("root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n")),
        (
            "hosts",
            format!("127.0.0.1 localhost {h}\n::1 localhost ip6-localhost {h}\n", h = config.hostname),
        ),
        ("hostname", format!("{}\n", config.hostname)),
    ];
    for (name, contents) in generated {
        steps.push(Step::File {
            inside: Path::new("/etc").join(name),
            contents: contents.into_bytes(),
            mode: 0o644,
        });
    }
    for name in &config.etc_entries {
        if name.contains('/') || name.starts_with('.') {
            continue;
        }
        let host = Path::new("/etc").join(name);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(&host) {
                steps.push(Step::Symlink {
                    target,
                    inside: host,
                });
            }
        } else if meta.is_dir() || meta.is_file() {
            steps.push(Step::Bind {
                host: host.clone(),
                inside: host,
                dir: meta.is_dir(),
                writable: false,
                noexec: true,
            });
        }
    }

    for dir in MOUNT_POINTS {
        steps.push(Step::Dir {
            inside: dir.into(),
            mode: 0o755,
        });
    }

    let mut writable = vec![
        Step::Seal,
        Step::Tmpfs {
            inside: "/dev".into(),
            size: 64 << 10,
            mode: 0o755,
        },
    ];
    for dev in DEVICES {
        let p = Path::new("/dev").join(dev);
        writable.push(Step::Bind {
            host: p.clone(),
            inside: p,
            dir: false,
            writable: true,
            noexec: true,
        });
    }
    writable.push(Step::SealDevices);
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        writable.push(Step::Symlink {
            target: target.into(),
            inside: Path::new("/dev").join(name),
        });
    }
    writable.push(Step::Proc);
    writable.push(Step::ProcSysReadOnly);
    BasePlan {
        read_only: steps,
        writable,
    }
}

/// The part of the plan that differs per sandbox. With `opened`, the command's binds are
/// [`Step::BindOpened`] (the supervisor opens them; kernels with `open_tree`), else plain
/// binds resolved by the child.
pub fn run_plan(
    workspace_host: &Path,
    tmp_bytes: u64,
    files: &[(PathBuf, Vec<u8>, u32)],
    binds: &[crate::sandbox::Bind],
    opened: bool,
) -> RunPlan {
    let mut files: Vec<Step> = files
        .iter()
        .map(|(inside, contents, mode)| Step::File {
            inside: inside.clone(),
            contents: contents.clone(),
            mode: *mode,
        })
        .collect();
    // Read-only binds, before the seal: their mount points first, each directory once
    // (the targets are validated plain paths below BIND_ROOT that do not overlap).
    let mut made: Vec<PathBuf> = Vec::new();
    for b in binds {
        for dir in b
            .inside
            .ancestors()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .skip(1)
        {
            if !made.iter().any(|m| m == dir) {
                made.push(dir.to_path_buf());
                files.push(Step::Dir {
                    inside: dir.to_path_buf(),
                    mode: 0o755,
                });
            }
        }
        files.push(if opened {
            Step::BindOpened {
                host: b.host.clone(),
                inside: b.inside.clone(),
            }
        } else {
            Step::Bind {
                host: b.host.clone(),
                inside: b.inside.clone(),
                dir: true,
                writable: false,
                noexec: false,
            }
        });
    }
    let writable = vec![
        Step::Tmpfs {
            inside: "/tmp".into(),
            size: tmp_bytes,
            mode: 0o1777,
        },
        Step::Tmpfs {
            inside: "/dev/shm".into(),
            size: tmp_bytes,
            mode: 0o1777,
        },
        Step::Bind {
            host: workspace_host.to_path_buf(),
            inside: "/workspace".into(),
            dir: true,
            writable: true,
            noexec: false,
        },
    ];
    RunPlan { files, writable }
}

fn cstring(p: &Path) -> CString {
    // Paths from the plan never contain NUL: they come from the config and the file system,
    // and `Command` validation refuses NUL in caller-given paths.
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn under(root: &Path, inside: &Path) -> CString {
    cstring(&root.join(inside.strip_prefix("/").unwrap_or(inside)))
}

/// Turns plan steps into system-call steps with paths under `root` (the new root as the
/// child sees it before `pivot_root`). The n-th [`Step::BindOpened`] attaches the n-th
/// tree the supervisor opens (see [`opened_sources`]).
pub(crate) fn prepare(root: &Path, steps: &[Step]) -> Vec<PreparedOp> {
    let mut trees = 0;
    steps
        .iter()
        .map(|step| match step {
            Step::BindOpened { inside, .. } => {
                trees += 1;
                PreparedOp::Attach {
                    tree: trees - 1,
                    dst: under(root, inside),
                }
            }
            Step::Dir { inside, mode } => PreparedOp::Mkdir {
                path: under(root, inside),
                mode: *mode,
            },
            // Read-only binds are made read-only by the seal; writable ones keep the
            // flags of their source (the workspace tmpfs and host devtmpfs are nosuid,
            // and device files cannot be executed).
            Step::Bind {
                host, inside, dir, ..
            } => PreparedOp::Bind {
                src: cstring(host),
                dst: under(root, inside),
                dir: *dir,
            },
            Step::Tmpfs { inside, size, mode } => {
                let mut flags = libc::MS_NOSUID | libc::MS_NODEV;
                if inside == Path::new("/dev/shm") {
                    flags |= libc::MS_NOEXEC;
                }
                PreparedOp::Tmpfs {
                    dst: under(root, inside),
                    data: CString::new(format!("size={size},mode={mode:o},nr_inodes=65536"))
                        .unwrap_or_default(),
                    flags,
                }
            }
            Step::Symlink { target, inside } => PreparedOp::Symlink {
                target: cstring(target),
                link: under(root, inside),
            },
            Step::File {
                inside,
                contents,
                mode,
            } => PreparedOp::WriteFile {
                path: under(root, inside),
                contents: contents.clone(),
                mode: *mode,
            },
            Step::Proc => PreparedOp::Proc {
                dst: under(root, Path::new("/proc")),
            },
            Step::ProcSysReadOnly => PreparedOp::ReadOnlySelfBind {
                path: under(root, Path::new("/proc/sys")),
            },
            Step::Seal => PreparedOp::Seal {
                path: cstring(root),
                attr_set: sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
            },
            Step::SealDevices => PreparedOp::Seal {
                path: under(root, Path::new("/dev")),
                attr_set: sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
            },
        })
        .collect()
}

/// The host directories the supervisor opens for `steps`, in the order [`prepare`]
/// numbers them.
pub(crate) fn opened_sources(steps: &[Step]) -> impl Iterator<Item = &Path> {
    steps.iter().filter_map(|s| match s {
        Step::BindOpened { host, .. } => Some(host.as_path()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_steps() -> Vec<Step> {
        let config = JailConfig::default();
        let base = base_plan(&config);
        let run = run_plan(
            Path::new("/run/warden/abc/workspace"),
            1 << 20,
            &[("/run/warden/main.py".into(), b"print(1)".to_vec(), 0o444)],
            &[],
            true,
        );
        ordered(&base, &run).cloned().collect()
    }

    #[test]
    fn only_the_workspace_and_devices_are_writable_host_binds() {
        for step in all_steps() {
            if let Step::Bind {
                host,
                inside,
                writable: true,
                ..
            } = &step
            {
                assert!(
                    inside == Path::new("/workspace") || inside.starts_with("/dev"),
                    "unexpected writable bind {}",
                    step.describe()
                );
                if inside.starts_with("/dev") {
                    let name = inside.file_name().unwrap().to_str().unwrap();
                    assert!(DEVICES.contains(&name), "{}", host.display());
                }
            }
        }
    }

    #[test]
    fn nothing_private_of_the_host_is_mounted() {
        let cwd = std::env::current_dir().unwrap();
        for step in all_steps() {
            if let Step::Bind { host, .. } = &step {
                for private in [
                    "/home",
                    "/root",
                    "/var",
                    "/run/user",
                    "/tmp",
                    "/etc/shadow",
                    "/etc/sudoers",
                    "/mnt",
                    "/media",
                    "/srv",
                    "/opt",
                ] {
                    assert!(
                        !host.starts_with(private),
                        "{} exposes {private}",
                        step.describe()
                    );
                }
                assert!(
                    !cwd.starts_with(host),
                    "{} exposes the working directory",
                    step.describe()
                );
                assert_ne!(host, Path::new("/"), "the host root is never bound");
            }
        }
    }

    #[test]
    fn mount_points_come_before_what_is_mounted_beneath_them() {
        let steps = all_steps();
        let pos = |pred: &dyn Fn(&Step) -> bool| steps.iter().position(pred).unwrap();
        let dev = pos(&|s| matches!(s, Step::Tmpfs { inside, .. } if inside == Path::new("/dev")));
        let null =
            pos(&|s| matches!(s, Step::Bind { inside, .. } if inside == Path::new("/dev/null")));
        let shm =
            pos(&|s| matches!(s, Step::Tmpfs { inside, .. } if inside == Path::new("/dev/shm")));
        let proc_ = pos(&|s| matches!(s, Step::Proc));
        let sys = pos(&|s| matches!(s, Step::ProcSysReadOnly));
        let run =
            pos(&|s| matches!(s, Step::Dir { inside, .. } if inside == Path::new("/run/warden")));
        let code = pos(
            &|s| matches!(s, Step::File { inside, .. } if inside == Path::new("/run/warden/main.py")),
        );
        assert!(dev < null && dev < shm && proc_ < sys && run < code);
    }

    #[test]
    fn the_sandbox_user_is_not_root_in_the_generated_passwd() {
        let steps = base_plan(&JailConfig::default()).read_only;
        let passwd = steps
            .iter()
            .find_map(|s| match s {
                Step::File {
                    inside, contents, ..
                } if inside == Path::new("/etc/passwd") => {
                    Some(String::from_utf8(contents.clone()).unwrap())
                }
                _ => None,
            })
            .unwrap();
        assert!(passwd.contains("sandbox:x:1000:1000"));
    }

    #[test]
    fn prepared_paths_live_under_the_new_root() {
        let ops = prepare(Path::new("/nr"), &all_steps());
        for op in &ops {
            let dst = match op {
                PreparedOp::Mkdir { path, .. }
                | PreparedOp::WriteFile { path, .. }
                | PreparedOp::ReadOnlySelfBind { path } => path,
                PreparedOp::Bind { dst, .. }
                | PreparedOp::Attach { dst, .. }
                | PreparedOp::Tmpfs { dst, .. }
                | PreparedOp::Proc { dst } => dst,
                PreparedOp::Symlink { link, .. } => link,
                PreparedOp::Seal { path, .. } => path,
            };
            let b = dst.to_bytes();
            assert!(b == b"/nr" || b.starts_with(b"/nr/"), "{dst:?}");
        }
    }

    #[test]
    fn every_read_only_step_comes_before_the_seal_and_every_writable_mount_after() {
        let steps = all_steps();
        let seal = steps.iter().position(|s| *s == Step::Seal).expect("a seal");
        assert_eq!(steps.iter().filter(|s| **s == Step::Seal).count(), 1);
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Bind {
                    writable: false, ..
                }
                | Step::BindOpened { .. }
                | Step::File { .. } => assert!(i < seal, "{}", step.describe()),
                Step::Bind { writable: true, .. } | Step::Tmpfs { .. } | Step::Proc => {
                    assert!(i > seal, "{}", step.describe())
                }
                _ => {}
            }
        }
        // Mount points for the writable mounts exist before the root is sealed.
        for dir in MOUNT_POINTS {
            let made = steps[..seal]
                .iter()
                .any(|s| matches!(s, Step::Dir { inside, .. } if inside == Path::new(dir)));
            assert!(made, "{dir} is not created before the seal");
        }
    }
}
