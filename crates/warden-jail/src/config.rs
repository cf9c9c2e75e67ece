//! Configuration of the jail (per process) and limits (per sandbox).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the jail uses landlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LandlockMode {
    /// Use landlock when the kernel offers it (the default; the other layers still hold).
    #[default]
    Auto,
    /// Refuse to start sandboxes when the kernel lacks landlock.
    Required,
    /// Do not use landlock.
    Off,
}

/// Which isolation runs a sandbox: the host kernel's namespaces, seccomp and landlock, or
/// gVisor's user-space kernel (`runsc`) on top of namespaces of its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Namespaces,
    Gvisor,
}

impl Tier {
    pub const ALL: [Tier; 2] = [Tier::Namespaces, Tier::Gvisor];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Namespaces => "namespaces",
            Tier::Gvisor => "gvisor",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings that hold for every sandbox a [`crate::Jail`] starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JailConfig {
    /// Where per-sandbox directories (the workspace mount point) are made.
    pub run_root: PathBuf,
    /// The unprivileged host user and group the sandbox user maps to. Never 0.
    pub host_uid: u32,
    pub host_gid: u32,
    /// The user and group the program runs as inside the sandbox. Never 0.
    pub sandbox_uid: u32,
    pub sandbox_gid: u32,
    /// Host directories bound read-only at the same place (symlinks are copied as symlinks).
    pub runtime_paths: Vec<PathBuf>,
    /// Entries of the host's /etc made visible read-only (files, directories or symlinks).
    pub etc_entries: Vec<String>,
    /// A seccomp profile file; the built-in profile when unset.
    pub seccomp_profile: Option<PathBuf>,
    pub landlock: LandlockMode,
    pub hostname: String,
    /// Remount the cgroup v2 hierarchy with `favordynmods` (root only, kernel 6.0+). Without
    /// it, moving each new sandbox into its cgroup waits for an RCU grace period (about
    /// 10 ms here); with it, forks and exits host-wide take a slightly slower path.
    pub cgroup_favor_dynmods: bool,
}

impl Default for JailConfig {
    fn default() -> Self {
        JailConfig {
            run_root: default_run_root(),
            host_uid: 65534,
            host_gid: 65534,
            sandbox_uid: 1000,
            sandbox_gid: 1000,
            runtime_paths: [
                "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
            // Only what the runtimes read: the loader cache, time zone, alternatives
            // links, TLS roots, name-service config, MIME types, fonts and matplotlib,
            // and Debian's Python configuration (sitecustomize).
            etc_entries: [
                "ld.so.cache",
                "localtime",
                "alternatives",
                "ssl",
                "nsswitch.conf",
                "mime.types",
                "matplotlibrc",
                "fonts",
                "python3",
                "python3.11",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            seccomp_profile: None,
            landlock: LandlockMode::Auto,
            hostname: "sandbox".into(),
            cgroup_favor_dynmods: true,
        }
    }
}

/// `/run/warden` for root, else a private directory under the user's runtime or temp dir.
pub fn default_run_root() -> PathBuf {
    if crate::sys::geteuid() == 0 {
        return PathBuf::from("/run/warden");
    }
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    base.join(format!("warden-{}", crate::sys::geteuid()))
}

/// Limits of one sandbox. Every field has a finite default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Wall-clock time before the sandbox is killed.
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
    /// Memory of all processes together (cgroup), including tmpfs pages they write.
    pub memory_bytes: u64,
    /// CPU bandwidth in cores; `None` leaves it uncapped (the machine's cores).
    pub cpus: Option<f64>,
    /// Processes and threads (pids cgroup and RLIMIT_NPROC).
    pub pids: u64,
    /// CPU seconds per process (RLIMIT_CPU); defaults to the timeout.
    #[serde(with = "opt_duration_secs")]
    pub cpu_time: Option<Duration>,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Largest file a process may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// Size of /workspace.
    pub workspace_bytes: u64,
    /// Size of /tmp (and, separately, of /dev/shm).
    pub tmp_bytes: u64,
    /// Bytes of stdout and of stderr kept; the rest is drained and dropped.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            cpus: None,
            pids: 64,
            cpu_time: None,
            open_files: 1024,
            file_size_bytes: 64 << 20,
            workspace_bytes: 128 << 20,
            tmp_bytes: 64 << 20,
            output_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// The CPU-time limit actually applied.
    pub fn effective_cpu_time(&self) -> Duration {
        self.cpu_time
            .unwrap_or(self.timeout)
            .max(Duration::from_secs(1))
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err("timeout must be positive".into());
        }
        if self.memory_bytes < (8 << 20) {
            return Err("memory must be at least 8 MiB".into());
        }
        if self.pids < 2 {
            return Err("pids must be at least 2".into());
        }
        if let Some(c) = self.cpus {
            if !(c.is_finite() && c >= 0.01) {
                return Err("cpus must be at least 0.01".into());
            }
        }
        if self.open_files < 16 {
            return Err("open files must be at least 16".into());
        }
        if self.workspace_bytes < 4096 || self.tmp_bytes < 4096 {
            return Err("workspace and tmp sizes must be at least 4 KiB".into());
        }
        Ok(())
    }
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

mod opt_duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_documented_values() {
        let l = Limits::default();
        l.validate().unwrap();
        assert_eq!(l.timeout, Duration::from_secs(30));
        assert_eq!(l.memory_bytes, 512 << 20);
        assert_eq!(l.effective_cpu_time(), Duration::from_secs(30));
    }

    #[test]
    fn nonsense_limits_are_refused() {
        let l = Limits {
            timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        let l = Limits {
            cpus: Some(f64::NAN),
            ..Limits::default()
        };
        assert!(l.validate().is_err());
    }

    #[test]
    fn limits_deserialize_from_partial_json() {
        let l: Limits = serde_json::from_str(r#"{"timeout": 2.5, "pids": 10}"#).unwrap();
        assert_eq!(l.timeout, Duration::from_millis(2500));
        assert_eq!(l.pids, 10);
        assert_eq!(l.memory_bytes, Limits::default().memory_bytes);
    }

    #[test]
    fn the_default_config_never_maps_to_root() {
        let c = JailConfig::default();
        assert_ne!(c.host_uid, 0);
        assert_ne!(c.sandbox_uid, 0);
    }
}
