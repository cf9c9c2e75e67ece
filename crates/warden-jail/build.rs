//! Compiles the default seccomp profile to BPF at build time, so that starting a sandbox
//! never pays for parsing JSON or generating the program. The runtime compiler in
//! `src/seccomp.rs` still handles operator-supplied profiles, and a unit test checks that
//! both produce the same program.

use std::io::Write;

fn main() {
    println!("cargo:rerun-if-changed=profiles/default.json");
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => seccompiler::TargetArch::x86_64,
        Ok("aarch64") => seccompiler::TargetArch::aarch64,
        Ok("riscv64") => seccompiler::TargetArch::riscv64,
        other => panic!("unsupported target architecture {other:?}"),
    };
    let json = std::fs::read("profiles/default.json").expect("read the default profile");
    let mut map =
        seccompiler::compile_from_json(json.as_slice(), arch).expect("compile the default profile");
    // Layout: for each filter in install order, a u32 instruction count, then per
    // instruction code (u16), jt (u8), jf (u8), k (u32), all little-endian.
    let mut out = Vec::new();
    for name in ["deny", "deny_enosys"] {
        let prog = map.remove(name).unwrap_or_default();
        out.extend((prog.len() as u32).to_le_bytes());
        for ins in prog {
            out.extend(ins.code.to_le_bytes());
            out.push(ins.jt);
            out.push(ins.jf);
            out.extend(ins.k.to_le_bytes());
        }
    }
    let path = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("default_profile.bpf");
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&out))
        .expect("write the compiled profile");
}
