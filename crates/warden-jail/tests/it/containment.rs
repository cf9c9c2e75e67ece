//! The containment suite: attack programs run inside the sandbox, each asserting that the
//! boundary held. Every test checks a specific observable outcome (an errno, a missing
//! file, a surviving host process), and most carry a positive control showing the probe
//! itself works, so that a test fails if the boundary does not hold.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use crate::*;

/// Python prelude giving attack code a raw `syscall(nr, *args) -> (ret, errno)`.
pub const PRELUDE: &str = r#"
import ctypes, ctypes.util, errno, os, sys
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
def syscall(nr, *args):
    ctypes.set_errno(0)
    r = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return r, ctypes.get_errno()
"#;

/// Runs Python attack code with the prelude.
pub fn attack(code: &str) -> String {
    ok_stdout(&py(&format!("{PRELUDE}\n{code}")))
}

#[test]
fn host_shadow_file_is_not_readable() {
    let out = attack(
        r#"
try:
    open('/etc/shadow').read(); print('READ')
except FileNotFoundError: print('ENOENT')
except PermissionError: print('EACCES')
print('control', 'localhost' in open('/etc/hosts').read())
"#,
    );
    assert!(out.contains("ENOENT") || out.contains("EACCES"), "{out}");
    assert!(!out.contains("READ"));
    assert!(out.contains("control True"), "{out}");
}

#[test]
fn ptrace_is_denied_by_seccomp() {
    // PTRACE_TRACEME (0) is harmless if allowed, so a success would be visible as ret 0.
    let out = attack("r, e = syscall(101, 0, 0, 0, 0); print(r, e)");
    assert_eq!(out.trim(), format!("-1 {}", libc::EPERM));
}

#[test]
fn kill_minus_one_does_not_reach_host_processes() {
    // A harmless host process started (and later killed, by pid) by this test.
    let mut victim = std::process::Command::new("/bin/sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let out = attack(
        r#"
import signal
try:
    os.kill(-1, signal.SIGKILL); print('sent')
except OSError as e: print('error', e.errno)
"#,
    );
    std::thread::sleep(Duration::from_millis(100));
    let alive = victim.try_wait().unwrap().is_none();
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(
        alive,
        "a host process died after kill(-1) in the sandbox ({out})"
    );
}

#[test]
fn tcp_to_a_host_loopback_server_does_not_arrive() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = attack(&format!(
        r#"
import socket
s = socket.socket(); s.settimeout(2)
try:
    s.connect(('127.0.0.1', {port})); print('connected')
except OSError as e: print('refused', e.errno)
"#
    ));
    assert!(out.contains("refused"), "{out}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
}
