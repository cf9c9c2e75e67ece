//! What the host kernel offers, for `warden doctor` and for clear start-up errors.

use crate::cgroup::{CgroupLayout, Controller};
use std::path::{Path, PathBuf};

use crate::Runtime;

/// One checked feature.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it when missing.
    pub hint: Option<String>,
    /// Whether sandboxes cannot start without it.
    pub required: bool,
}

/// The report `warden doctor` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Every required check passed: sandboxes get full isolation.
    pub full_isolation: bool,
}

fn check(name: &str, ok: bool, detail: String, hint: &str, required: bool) -> Check {
    Check {
        name: name.into(),
        ok,
        detail,
        hint: (!ok).then(|| hint.to_string()),
        required,
    }
}

/// Probes the running kernel.
pub fn probe() -> Report {
    let mut checks = Vec::new();

    let euid = crate::sys::geteuid();
    checks.push(check(
        "privileges",
        euid == 0,
        format!("effective uid {euid}"),
        "run warden as root (it maps sandboxes to an unprivileged host user, creates cgroups and mounts size-capped workspaces)",
        true,
    ));

    let userns = crate::sys::probe_user_namespace();
    checks.push(check(
        "user namespaces",
        userns.is_ok(),
        match &userns {
            Ok(()) => "a new user namespace can be created".into(),
            Err(e) => format!("clone(CLONE_NEWUSER) failed: {e}"),
        },
        "enable user namespaces: sysctl user.max_user_namespaces=15000 (and kernel.unprivileged_userns_clone=1 on Debian kernels)",
        true,
    ));

    for ns in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        let present = std::path::Path::new("/proc/self/ns").join(ns).exists();
        checks.push(check(
            &format!("{ns} namespace"),
            present,
            if present {
                "supported".into()
            } else {
                "missing from /proc/self/ns".into()
            },
            "use a kernel built with CONFIG_NAMESPACES and this namespace type",
            true,
        ));
    }

    match CgroupLayout::detect() {
        Ok(layout) => {
            let version = match (
                &layout.unified_mount,
                layout
                    .places
                    .iter()
                    .any(|p| p.version == crate::cgroup::Version::V1),
            ) {
                (Some(_), true) => "hybrid v1/v2",
                (Some(_), false) => "v2",
                (None, true) => "v1",
                (None, false) => "none",
            };
            checks.push(check(
                "cgroup layout",
                !layout.places.is_empty(),
                version.to_string(),
                "mount cgroup2 at /sys/fs/cgroup",
                true,
            ));
            for c in Controller::ALL {
                let place = layout.place(c);
                let writable = place.map(|p| {
                    let probe = p.own_dir.join("warden");
                    std::fs::create_dir_all(&probe).is_ok()
                });
                checks.push(check(
                    &format!("cgroup controller {}", c.name()),
                    place.is_some() && writable == Some(true),
                    match place {
                        Some(p) => format!(
                            "{} at {}{}",
                            if p.version == crate::cgroup::Version::V1 { "v1" } else { "v2" },
                            p.own_dir.display(),
                            if writable == Some(true) { "" } else { " (not writable)" }
                        ),
                        None => "not found".into(),
                    },
                    "enable the controller (v2: add it to the parent's cgroup.subtree_control, or run under systemd with Delegate=yes)",
                    c != Controller::Cpu,
                ));
            }
        }
        Err(e) => checks.push(check(
            "cgroup layout",
            false,
            e.to_string(),
            "mount cgroup2 at /sys/fs/cgroup",
            true,
        )),
    }

    if let Ok(layout) = CgroupLayout::detect() {
        if layout.unified_mount.is_some() {
            let fav = layout.favordynmods;
            checks.push(check(
                "cgroup favordynmods",
                fav,
                if fav { "on: moving a sandbox into its cgroup is fast".into() } else { "off: each sandbox start may wait ~10 ms for an RCU grace period".into() },
                "warden turns it on when it starts as root (config cgroup_favor_dynmods); or: mount -o remount,favordynmods <cgroup2 mount>",
                false,
            ));
        }
    }

    let seccomp = crate::sys::seccomp_available();
    checks.push(check(
        "seccomp",
        seccomp,
        if seccomp {
            "filters supported".into()
        } else {
            "PR_GET_SECCOMP failed".into()
        },
        "use a kernel built with CONFIG_SECCOMP_FILTER",
        true,
    ));
    let profile = crate::seccomp::default_profile();
    checks.push(check(
        "seccomp profile",
        profile.is_ok(),
        match &profile {
            Ok(p) => format!(
                "default profile compiles to {} BPF instructions",
                p.instructions()
            ),
            Err(e) => e.to_string(),
        },
        "fix the profile named in the error",
        true,
    ));

    let abi = crate::sys::landlock_abi();
    checks.push(check(
        "landlock",
        abi.is_some(),
        match abi {
            Some(v) => format!("ABI {v}"),
            None => "not available".into(),
        },
        "boot with lsm=...,landlock (kernel 5.13+); sandboxes still hold through namespaces, seccomp and a read-only root",
        false,
    ));

    for rt in [Runtime::python(), Runtime::javascript(), Runtime::bash()] {
        let ok = rt.check().is_ok();
        checks.push(check(
            &format!("runtime {}", rt.name),
            ok,
            if ok {
                format!(
                    "{} ({})",
                    rt.program.display(),
                    rt.version().unwrap_or_default()
                )
            } else {
                format!("{} not found", rt.program.display())
            },
            match rt.name {
                "python" => "apt-get install python3",
                "javascript" => "apt-get install nodejs",
                _ => "apt-get install bash",
            },
            false,
        ));
    }

    let full_isolation = checks.iter().all(|c| c.ok || !c.required);
    Report {
        checks,
        full_isolation,
    }
}

/// The first directory on the way to `dir` (itself included) that the host user
/// `uid`/`gid` cannot enter (no search permission for it), if any.
pub fn first_unreachable(dir: &Path, uid: u32, gid: u32) -> Option<(PathBuf, u32)> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    for a in ancestors {
        let Ok(meta) = std::fs::metadata(a) else {
            continue;
        };
        let mode = meta.mode();
        let bit = if meta.uid() == uid {
            0o100
        } else if meta.gid() == gid {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            return Some((a.to_path_buf(), mode & 0o7777));
        }
    }
    None
}

/// Whether sandboxes can be given what lives in the data directory `dir` (templates,
/// package sets, tools, bound read-only): always where the kernel has `open_tree` (the
/// supervisor opens them with its own access); else only when the sandbox's host user
/// can enter every directory on the way.
pub fn data_dir(dir: &Path, config: &crate::JailConfig) -> Check {
    let name = "data directory";
    if !dir.is_dir() {
        return check(
            name,
            true,
            format!("{} does not exist yet (created at start-up)", dir.display()),
            "",
            true,
        );
    }
    let blocked = first_unreachable(dir, config.host_uid, config.host_gid);
    let open_tree = crate::sys::open_tree_available();
    let detail = match (&blocked, open_tree) {
        (None, _) => format!(
            "{}: reachable by the sandbox user (host uid {})",
            dir.display(),
            config.host_uid
        ),
        (Some((d, mode)), true) => format!(
            "{}: {} (mode {mode:04o}) is closed to the sandbox user; fine, the supervisor opens what sandboxes bind (open_tree)",
            dir.display(),
            d.display()
        ),
        (Some((d, mode)), false) => format!(
            "{}: {} (mode {mode:04o}) is closed to the sandbox user (host uid {}) and this kernel has no open_tree (Linux 5.2+)",
            dir.display(),
            d.display(),
            config.host_uid
        ),
    };
    let hint = match &blocked {
        Some((d, _)) => format!(
            "chmod o+x {} (search only, not listing), or choose another --data-dir",
            d.display()
        ),
        None => String::new(),
    };
    check(name, blocked.is_none() || open_tree, detail, &hint, true)
}
