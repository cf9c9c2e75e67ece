//! warden's isolation library: runs a command in a fresh sandbox made of user, pid, mount,
//! network, ipc, uts and cgroup namespaces, a read-only root reached by `pivot_root`,
//! dropped capabilities, `no_new_privs`, landlock, a seccomp filter, cgroup limits and
//! rlimits.
//!
//! Synchronous by design (no async runtime: forking a multi-threaded runtime is a hazard
//! this crate handles by never allocating between `clone` and `execve`).
//!
//! ```no_run
//! use warden_jail::{Command, Discard, Jail, JailConfig, Runtime};
//! let jail = Jail::new(JailConfig::default())?;
//! let outcome = jail.run(Command::for_runtime(&Runtime::python(), "print(1)"), &mut Discard)?;
//! assert_eq!(outcome.stdout.bytes, b"1\n");
//! # Ok::<(), warden_jail::JailError>(())
//! ```

pub mod cgroup;
pub mod config;
mod error;
pub mod gvisor;
pub mod plan;
pub mod probe;
mod runtime;
mod sandbox;
pub mod seccomp;
mod sys;

pub use config::{JailConfig, LandlockMode, Limits, Tier};
pub use error::{CgroupError, JailError, Stage};
pub use runtime::Runtime;
pub use sandbox::{
    is_run_dir_name, monotonic_ns, Bind, Captured, Command, Discard, Exit, Jail, LimitHit,
    Listener, Outcome, OutputSink, Sandbox, Signaller, Stdin, Stream, Timings, BASE_ENV, BIND_ROOT,
};
