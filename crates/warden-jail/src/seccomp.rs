//! Seccomp profiles: data files compiled to BPF once per process and reused.
//!
//! A profile is a JSON document in seccompiler's format with two filters: `deny`
//! (matching syscalls fail with EPERM) and `deny_enosys` (matching syscalls fail with
//! ENOSYS, for calls such as `clone3` that libc should fall back from). Both are
//! installed, stacked, in every sandbox. A short hand-written prefix also refuses the
//! x32 syscall ABI, whose numbers the name-keyed rules would not otherwise match.

use std::collections::HashMap;
use std::sync::OnceLock;

use seccompiler::{BpfProgram, TargetArch};

use crate::error::JailError;

/// The profile shipped with warden (`profiles/default.json`).
pub const DEFAULT_PROFILE: &str = include_str!("../profiles/default.json");

/// The filters of a profile, in the order they are installed.
const FILTERS: [&str; 2] = ["deny", "deny_enosys"];

/// A compiled profile: one BPF program per stacked filter.
#[derive(Debug, Clone)]
pub struct CompiledProfile {
    pub(crate) programs: Vec<Vec<libc::sock_filter>>,
}

impl CompiledProfile {
    /// Total number of BPF instructions over all filters.
    pub fn instructions(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
    }
}

fn target_arch() -> Result<TargetArch, JailError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        "aarch64" => Ok(TargetArch::aarch64),
        other => Err(JailError::SeccompProfile {
            name: "default".into(),
            message: format!("architecture {other} is not supported"),
        }),
    }
}

/// The default profile as compiled by `build.rs`.
const DEFAULT_PROFILE_BPF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default_profile.bpf"));

/// Turns seccompiler's programs, in install order, into the programs we install: the x32
/// guard goes in front of the first one on x86_64.
fn assemble(arch: TargetArch, programs: Vec<Vec<libc::sock_filter>>) -> CompiledProfile {
    let programs = programs
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(i, prog)| {
            let mut out = Vec::with_capacity(prog.len() + 5);
            if i == 0 && arch == TargetArch::x86_64 {
                out.extend(x32_guard());
            }
            out.extend(prog);
            out
        })
        .collect();
    CompiledProfile { programs }
}

fn decode_prebuilt(bytes: &[u8]) -> Option<Vec<Vec<libc::sock_filter>>> {
    let mut programs = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        rest = &rest[4..];
        let body = rest.get(..n * 8)?;
        programs.push(
            body.chunks_exact(8)
                .map(|c| libc::sock_filter {
                    code: u16::from_le_bytes([c[0], c[1]]),
                    jt: c[2],
                    jf: c[3],
                    k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                })
                .collect(),
        );
        rest = &rest[n * 8..];
    }
    Some(programs)
}

/// Compiles a profile from its JSON text.
pub fn compile(name: &str, json: &str) -> Result<CompiledProfile, JailError> {
    let err = |message: String| JailError::SeccompProfile {
        name: name.to_string(),
        message,
    };
    let arch = target_arch()?;
    let mut map: HashMap<String, BpfProgram> =
        seccompiler::compile_from_json(json.as_bytes(), arch).map_err(|e| err(e.to_string()))?;
    if let Some(extra) = map.keys().find(|k| !FILTERS.contains(&k.as_str())) {
        return Err(err(format!(
            "unknown filter '{extra}' (expected {})",
            FILTERS.join(", ")
        )));
    }
    let programs: Vec<Vec<libc::sock_filter>> = FILTERS
        .iter()
        .map(|filter| {
            map.remove(*filter)
                .unwrap_or_default()
                .iter()
                .map(|f| libc::sock_filter {
                    code: f.code,
                    jt: f.jt,
                    jf: f.jf,
                    k: f.k,
                })
                .collect()
        })
        .collect();
    if programs.iter().all(Vec::is_empty) {
        return Err(err("the profile defines no filter".into()));
    }
    Ok(assemble(arch, programs))
}

/// The default profile, compiled on first use and shared for the life of the process.
pub fn default_profile() -> Result<&'static CompiledProfile, JailError> {
    static COMPILED: OnceLock<Result<CompiledProfile, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let arch = target_arch().map_err(|e| e.to_string())?;
            decode_prebuilt(DEFAULT_PROFILE_BPF)
                .map(|programs| assemble(arch, programs))
                .ok_or_else(|| "the prebuilt default profile is corrupt".to_string())
        })
        .as_ref()
        .map_err(|message| JailError::SeccompProfile {
            name: "default".into(),
            message: message.clone(),
        })
}

/// The names of the syscalls a profile denies (for documentation and `warden doctor`).
pub fn denied_syscalls(json: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut names: Vec<String> = FILTERS
        .iter()
        .filter_map(|f| value.get(f)?.get("filter")?.as_array().cloned())
        .flatten()
        .filter_map(|r| r.get("syscall")?.as_str().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `if arch == x86_64 && nr >= X32_SYSCALL_BIT { return ERRNO(ENOSYS) }`, falling through
/// otherwise to the compiled filter (which kills on a foreign architecture).
fn x32_guard() -> [libc::sock_filter; 5] {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    [
        // A = seccomp_data.arch
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        // not x86_64: skip to the compiled filter
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            3,
        ),
        // A = seccomp_data.nr
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        // below the x32 bit: skip to the compiled filter
        jump(
            libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
            X32_SYSCALL_BIT,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_compiles() {
        let p = compile("default", DEFAULT_PROFILE).unwrap();
        assert_eq!(p.programs.len(), 2);
        assert!(p.instructions() > 70);
    }

    #[test]
    fn the_default_profile_denies_what_the_threat_model_names() {
        let names = denied_syscalls(DEFAULT_PROFILE);
        for required in [
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "open_by_handle_at",
            "name_to_handle_at",
            "reboot",
            "swapon",
            "swapoff",
            "settimeofday",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "sethostname",
            "setdomainname",
            "acct",
            "quotactl",
            "personality",
            "socket",
        ] {
            assert!(
                names.iter().any(|n| n == required),
                "{required} not in profile"
            );
        }
    }

    #[test]
    fn the_prebuilt_default_profile_equals_a_runtime_compile() {
        let runtime = compile("default", DEFAULT_PROFILE).unwrap();
        let prebuilt = default_profile().unwrap();
        assert_eq!(runtime.programs.len(), prebuilt.programs.len());
        for (a, b) in runtime.programs.iter().zip(&prebuilt.programs) {
            let key = |p: &Vec<libc::sock_filter>| {
                p.iter()
                    .map(|i| (i.code, i.jt, i.jf, i.k))
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(a), key(b));
        }
    }

    #[test]
    fn a_profile_with_an_unknown_syscall_is_rejected() {
        let bad = r#"{"deny": {"mismatch_action": "allow", "match_action": {"errno": 1},
                      "filter": [{"syscall": "no_such_call"}]}}"#;
        let e = compile("bad", bad).unwrap_err().to_string();
        assert!(e.contains("bad"), "{e}");
    }

    #[test]
    fn a_profile_with_an_unknown_filter_is_rejected() {
        let bad = r#"{"allowlist": {"mismatch_action": "allow", "match_action": {"errno": 1},
                      "filter": [{"syscall": "ptrace"}]}}"#;
        assert!(compile("bad", bad).is_err());
    }

    #[test]
    fn the_x32_guard_jumps_land_inside_the_program() {
        let g = x32_guard();
        for (i, ins) in g.iter().enumerate() {
            if ins.code as u32 & 0x07 == libc::BPF_JMP {
                assert!(i + 1 + ins.jt as usize <= g.len());
                assert!(i + 1 + ins.jf as usize <= g.len());
            }
        }
    }
}
