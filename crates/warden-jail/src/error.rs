//! Typed errors of the isolation library.
//!
//! A sandbox that cannot be set up exactly as asked is an error, never a silent
//! fallback: each variant names the step that failed.

use std::io;
use std::path::PathBuf;

/// A step of the sandbox child's set-up, reported home through a close-on-exec pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Stage {
    Stdio = 1,
    CloseFds,
    Sync,
    CgroupNamespace,
    SetIds,
    MakePrivate,
    RootTmpfs,
    /// A step of the root filesystem plan; the detail is the step's index.
    Rootfs,
    Proc,
    CodeFile,
    RemountRoot,
    PivotRoot,
    Hostname,
    Loopback,
    Rlimits,
    Securebits,
    DropCapabilities,
    NoNewPrivs,
    Landlock,
    Seccomp,
    Chdir,
    Fork,
    Exec,
}

impl Stage {
    pub(crate) fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        const ALL: [Stage; 23] = [
            Stdio,
            CloseFds,
            Sync,
            CgroupNamespace,
            SetIds,
            MakePrivate,
            RootTmpfs,
            Rootfs,
            Proc,
            CodeFile,
            RemountRoot,
            PivotRoot,
            Hostname,
            Loopback,
            Rlimits,
            Securebits,
            DropCapabilities,
            NoNewPrivs,
            Landlock,
            Seccomp,
            Chdir,
            Fork,
            Exec,
        ];
        ALL.into_iter().find(|s| *s as u32 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Stdio => "set up standard streams",
            Stage::CloseFds => "close inherited file descriptors",
            Stage::Sync => "wait for the supervisor",
            Stage::CgroupNamespace => "enter a cgroup namespace",
            Stage::SetIds => "switch to the sandbox user",
            Stage::MakePrivate => "make mounts private",
            Stage::RootTmpfs => "mount the new root",
            Stage::Rootfs => "build the root filesystem",
            Stage::Proc => "mount /proc",
            Stage::CodeFile => "write the code file",
            Stage::RemountRoot => "make the root read-only",
            Stage::PivotRoot => "pivot_root into the new root",
            Stage::Hostname => "set the hostname",
            Stage::Loopback => "bring up the loopback interface",
            Stage::Rlimits => "set resource limits",
            Stage::Securebits => "lock securebits",
            Stage::DropCapabilities => "drop capabilities",
            Stage::NoNewPrivs => "set no_new_privs",
            Stage::Landlock => "apply landlock rules",
            Stage::Seccomp => "install the seccomp filter",
            Stage::Chdir => "enter the working directory",
            Stage::Fork => "start the program",
            Stage::Exec => "execute the program",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error("sandbox set-up failed at step '{step}': {source}")]
    Setup {
        stage: Stage,
        step: String,
        #[source]
        source: io::Error,
    },
    #[error("runtime not found: {path} ({hint})")]
    RuntimeNotFound { path: PathBuf, hint: String },
    #[error("user namespaces are not available (creating one failed: {0}); check the sysctls user.max_user_namespaces and, on Debian kernels, kernel.unprivileged_userns_clone")]
    UserNamespaces(#[source] io::Error),
    #[error("cgroup: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("seccomp profile {name}: {message}")]
    SeccompProfile { name: String, message: String },
    #[error("landlock is required by the configuration but the kernel does not offer it")]
    LandlockUnavailable,
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid sandbox request: {0}")]
    Invalid(String),
    #[error("supervising the sandbox failed while trying to {what}: {source}")]
    Supervise {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

impl JailError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JailError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn supervise(what: &'static str, source: io::Error) -> Self {
        JailError::Supervise { what, source }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup hierarchy offers the '{0}' controller (checked /proc/self/cgroup and /proc/self/mountinfo)")]
    MissingController(&'static str),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
