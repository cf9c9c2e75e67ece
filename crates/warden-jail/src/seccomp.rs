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
            let mut out = Vec::with_capacity(prog.len() + 200);
            if i == 0 && arch == TargetArch::x86_64 {
                out.extend(x86_64_prefix(&prog, true));
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

const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// What goes in front of the compiled program on x86_64: the x32 guard and, when
/// `fast_path` is asked and safe, a fast path for syscalls the program never mentions.
///
/// The guard refuses the x32 ABI (`ENOSYS`), whose syscall numbers the name-keyed rules
/// would not match, and sends any other architecture to the program (which kills).
///
/// The fast path: seccompiler emits a linear chain of `nr == N` tests. Every allowed
/// syscall walks the whole chain, and the kernel walks it for every syscall number when
/// it builds its allow-cache at install time. A binary search over the numbers the
/// program compares against (every `JEQ K` constant: a superset of the syscalls it
/// handles) answers ALLOW at once for any other number; numbers in the set fall through
/// to the program, which stays the only authority for them. This is only valid when the
/// program's default action is ALLOW (a deny-list), and only used when the search's jumps
/// fit classic BPF's 8-bit offsets.
fn x86_64_prefix(program: &[libc::sock_filter], fast_path: bool) -> Vec<libc::sock_filter> {
    let mut out = vec![
        // A = seccomp_data.arch; anything but x86_64 goes to the program.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            1,
            0,
        ),
        stmt(libc::BPF_JMP | libc::BPF_JA, 0), // to the program: patched below
        // A = seccomp_data.nr; the x32 ABI is refused.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
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
    ];
    let header = out.len();
    let mut to_program = vec![2];
    let deny_list = program.last().is_some_and(|l| {
        l.code == (libc::BPF_RET | libc::BPF_K) as u16 && l.k == libc::SECCOMP_RET_ALLOW
    });
    if fast_path && deny_list {
        let mut known: Vec<u32> = program
            .iter()
            .filter(|i| i.code == BPF_JEQ_K && i.k < X32_SYSCALL_BIT)
            .map(|i| i.k)
            .collect();
        known.sort_unstable();
        known.dedup();
        if emit_search(&known, &mut out, &mut to_program).is_none() {
            out.truncate(header);
            to_program.truncate(1);
        }
    }
    let end = out.len();
    for pc in to_program {
        out[pc].k = (end - (pc + 1)) as u32;
    }
    out
}

/// Emits a binary search over sorted `values`: equal → jump to the program, else ALLOW.
fn emit_search(
    values: &[u32],
    out: &mut Vec<libc::sock_filter>,
    to_program: &mut Vec<usize>,
) -> Option<()> {
    if values.len() <= 6 {
        let n = values.len();
        for (i, v) in values.iter().enumerate() {
            // On a match, skip the remaining tests and the RET ALLOW, onto the jump.
            out.push(jump(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                *v,
                (n - i) as u8,
                0,
            ));
        }
        out.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
        to_program.push(out.len());
        out.push(stmt(libc::BPF_JMP | libc::BPF_JA, 0));
        return Some(());
    }
    let (low, high) = values.split_at(values.len() / 2);
    let node = out.len();
    // nr > pivot: the high half (after the low half); else fall into the low half.
    out.push(jump(
        libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K,
        *low.last()?,
        0,
        0,
    ));
    emit_search(low, out, to_program)?;
    out[node].jt = u8::try_from(out.len() - (node + 1)).ok()?;
    emit_search(high, out, to_program)
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

    /// A classic-BPF interpreter for seccomp programs, enough for what we generate.
    fn run(prog: &[libc::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => nr,
                4 => arch,
                8 | 12 => 0,
                o if (16..64).contains(&o) => {
                    let a = args[((o - 16) / 8) as usize];
                    if (o - 16) % 8 == 0 {
                        a as u32
                    } else {
                        (a >> 32) as u32
                    }
                }
                o => panic!("load from offset {o}"),
            }
        };
        let (mut acc, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let code = i.code as u32;
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => acc = word(i.k),
                c if c == libc::BPF_LD | libc::BPF_MEM => acc = mem[i.k as usize],
                c if c == libc::BPF_LDX | libc::BPF_MEM => x = mem[i.k as usize],
                c if c == libc::BPF_ST => mem[i.k as usize] = acc,
                c if c == libc::BPF_STX => mem[i.k as usize] = x,
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= i.k,
                c if c == libc::BPF_RET | libc::BPF_K => return i.k,
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += i.k as usize,
                c if c & 0x07 == libc::BPF_JMP => {
                    let taken = match c & 0xf0 {
                        x if x == libc::BPF_JEQ => acc == i.k,
                        x if x == libc::BPF_JGT => acc > i.k,
                        x if x == libc::BPF_JGE => acc >= i.k,
                        x if x == libc::BPF_JSET => acc & i.k != 0,
                        other => panic!("jump op {other:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                other => panic!("opcode {other:#x} at {}", pc - 1),
            }
        }
    }

    #[test]
    fn the_fast_path_decides_exactly_as_the_plain_program() {
        let arch = target_arch().unwrap();
        if arch != TargetArch::x86_64 {
            return;
        }
        let plain: Vec<Vec<libc::sock_filter>> = FILTERS
            .iter()
            .map(|f| {
                let mut m =
                    seccompiler::compile_from_json(DEFAULT_PROFILE.as_bytes(), arch).unwrap();
                m.remove(*f)
                    .unwrap()
                    .iter()
                    .map(|i| libc::sock_filter {
                        code: i.code,
                        jt: i.jt,
                        jf: i.jf,
                        k: i.k,
                    })
                    .collect()
            })
            .collect();
        let mut reference = x86_64_prefix(&plain[0], false);
        reference.extend(plain[0].clone());
        let fast = &default_profile().unwrap().programs[0];
        assert!(fast.len() > reference.len(), "the fast path is in use");
        let flag_sets: [u64; 6] = [0, 0x11, 0x1000_0000, 0x2002_0000, 0xffff_ffff, u64::MAX];
        let mut checked = 0;
        for arch_value in [AUDIT_ARCH_X86_64, 0x4000_0003 /* i386 */] {
            for nr in (0..600).chain([X32_SYSCALL_BIT, X32_SYSCALL_BIT + 101, u32::MAX]) {
                for (j, flags) in flag_sets.iter().enumerate() {
                    let args = [*flags, flags.rotate_left(j as u32), 0, 1, 2, 3];
                    assert_eq!(
                        run(fast, nr, arch_value, args),
                        run(&reference, nr, arch_value, args),
                        "nr {nr} arch {arch_value:#x} args {args:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 7000);
        // Spot checks that the interpreter itself sees the profile.
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(
            run(fast, libc::SYS_ptrace as u32, AUDIT_ARCH_X86_64, [0; 6]),
            eperm
        );
        assert_eq!(
            run(fast, libc::SYS_read as u32, AUDIT_ARCH_X86_64, [0; 6]),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(
                fast,
                libc::SYS_clone as u32,
                AUDIT_ARCH_X86_64,
                [0x1000_0000, 0, 0, 0, 0, 0]
            ),
            eperm
        );
        assert_eq!(
            run(
                fast,
                libc::SYS_clone as u32,
                AUDIT_ARCH_X86_64,
                [0x11, 0, 0, 0, 0, 0]
            ),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(
                fast,
                libc::SYS_socket as u32,
                AUDIT_ARCH_X86_64,
                [16, 0, 0, 0, 0, 0]
            ),
            eperm
        );
        assert_eq!(
            run(
                fast,
                libc::SYS_socket as u32,
                AUDIT_ARCH_X86_64,
                [2, 0, 0, 0, 0, 0]
            ),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(fast, X32_SYSCALL_BIT + 101, AUDIT_ARCH_X86_64, [0; 6]),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
    }

    #[test]
    fn an_allow_list_profile_gets_no_fast_path() {
        let allow_list = r#"{"deny": {"mismatch_action": {"errno": 1}, "match_action": "allow",
                      "filter": [{"syscall": "read"}, {"syscall": "exit_group"}]}}"#;
        let p = compile("allow-list", allow_list).unwrap();
        // Only the x32 guard precedes the program: the fast path would allow everything.
        let plain =
            seccompiler::compile_from_json(allow_list.as_bytes(), TargetArch::x86_64).unwrap();
        assert_eq!(p.programs[0].len(), plain["deny"].len() + 6);
        assert_eq!(
            run(
                &p.programs[0],
                libc::SYS_write as u32,
                AUDIT_ARCH_X86_64,
                [0; 6]
            ),
            libc::SECCOMP_RET_ERRNO | 1
        );
    }

    #[test]
    fn every_jump_of_the_prefix_lands_inside_the_program() {
        let p = default_profile().unwrap();
        for prog in &p.programs {
            for (i, ins) in prog.iter().enumerate() {
                let code = ins.code as u32;
                if code & 0x07 != libc::BPF_JMP {
                    continue;
                }
                if code == libc::BPF_JMP | libc::BPF_JA {
                    assert!(i + 1 + (ins.k as usize) < prog.len(), "JA at {i}");
                } else {
                    assert!(i + 1 + (ins.jt as usize) < prog.len(), "jt at {i}");
                    assert!(i + 1 + (ins.jf as usize) < prog.len(), "jf at {i}");
                }
            }
        }
    }
}
