//! The one place with `unsafe`: raw system calls for the sandbox child and its supervisor.
//!
//! The sandbox is started with a fork-style `clone` (no new stack, no `CLONE_VM`) so that
//! it can be done from a multi-threaded process. Between `clone` and `execve` the child
//! must not allocate (another thread may have held the allocator lock at the time of the
//! clone) and must not panic; so everything it needs — C strings, the mount plan, the
//! seccomp program, argv and envp — is prepared by the parent in a [`ChildSpec`] and the
//! child only makes system calls. Failures travel home through a close-on-exec pipe as
//! `{stage, detail, errno}` and become [`crate::JailError::Setup`] in the parent.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::error::Stage;

/// One step of building the sandbox's root filesystem, with every path already absolute
/// on the host side (inside the new root before `pivot_root`).
#[derive(Debug)]
pub(crate) enum PreparedOp {
    Mkdir {
        path: CString,
        mode: u32,
    },
    /// Bind `src` onto `dst` (created as a directory or an empty file). Binds before the
    /// [`PreparedOp::Seal`] become read-only with it.
    Bind {
        src: CString,
        dst: CString,
        dir: bool,
    },
    /// Attach a detached mount tree the supervisor opened (`ChildSpec::trees[tree]`) at
    /// `dst` (created as a directory). The supervisor opens it with host root's access,
    /// so its source need not be reachable by the sandbox user (a data directory of
    /// mode 0700). Sealed like a bind.
    Attach {
        tree: usize,
        dst: CString,
    },
    /// Add mount attributes (`MOUNT_ATTR_*`) to `path` and every mount beneath it.
    Seal {
        path: CString,
        attr_set: u64,
    },
    Tmpfs {
        dst: CString,
        data: CString,
        flags: libc::c_ulong,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    WriteFile {
        path: CString,
        contents: Vec<u8>,
        mode: u32,
    },
    Proc {
        dst: CString,
    },
    /// Bind a path onto itself and make it read-only (used for /proc/sys).
    ReadOnlySelfBind {
        path: CString,
    },
}

/// A landlock ruleset to apply after `pivot_root`.
#[derive(Debug)]
pub(crate) struct LandlockSpec {
    pub abi: u32,
    /// Paths with read and execute access.
    pub read_exec: Vec<CString>,
    /// Paths with full read-write access (no device creation).
    pub read_write: Vec<CString>,
    /// Paths where device files may be read, written and ioctl'ed (/dev).
    pub devices: Vec<CString>,
}

/// Everything the child needs, prepared before `clone`.
pub(crate) struct ChildSpec<'a> {
    pub clone_flags: libc::c_ulong,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub sync_read: RawFd,
    pub error_write: RawFd,
    pub status_write: RawFd,
    /// Extra descriptors for the program, placed at 3, 4, ... (at most [`MAX_EXTRA_FDS`]).
    /// Every fd the child touches is numbered above [`FD_FLOOR`] when extras are given,
    /// so that placing them cannot clobber another.
    pub extra_fds: &'a [RawFd],
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub new_root: &'a CStr,
    pub root_tmpfs_data: &'a CStr,
    /// The root filesystem steps, in order: the jail's read-only part, this sandbox's
    /// files, the jail's writable part (starting with the seal), this sandbox's mounts.
    pub ops: [&'a [PreparedOp]; 4],
    /// Detached mount trees for [`PreparedOp::Attach`] (at most [`MAX_TREES`]), numbered
    /// like the extra descriptors' other fds.
    pub trees: &'a [RawFd],
    pub hostname: &'a CStr,
    /// `(resource, soft, hard)`.
    pub rlimits: &'a [(libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t)],
    pub landlock: Option<&'a LandlockSpec>,
    /// Stacked seccomp programs, installed in order.
    pub seccomp: &'a [Vec<libc::sock_filter>],
    pub cwd: &'a CStr,
    pub exec_path: &'a CStr,
    pub argv: &'a [*const libc::c_char],
    pub envp: &'a [*const libc::c_char],
    /// The supervisor's own argv area (`arg_start..arg_end` of /proc/self/stat): the
    /// child, a copy of the supervisor that never execs, blanks it so that the sandbox's
    /// `/proc/1/cmdline` does not show the host's command line.
    pub own_argv_area: Option<(usize, usize)>,
    /// The highest capability number the kernel knows (`/proc/sys/kernel/cap_last_cap`).
    pub cap_last_cap: u32,
    /// A stack for the program's process between its clone and its execve: `(base, len)`.
    /// It may be uninitialised memory: a stack is written before it is read.
    pub exec_stack: (*mut u8, usize),
    /// Where the child stamps the monotonic time of its steps ([`ChildMark`]), in a
    /// page shared with the supervisor; null when nobody asked.
    pub stamps: *mut u64,
}

/// The steps the child stamps (see [`ChildSpec::stamps`]), in order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChildMark {
    Released,
    Ids,
    Rootfs,
    PivotRoot,
    Network,
    Privileges,
    Landlock,
    Seccomp,
    ProgramStarted,
}

impl ChildMark {
    pub(crate) const ALL: [ChildMark; 9] = [
        ChildMark::Released,
        ChildMark::Ids,
        ChildMark::Rootfs,
        ChildMark::PivotRoot,
        ChildMark::Network,
        ChildMark::Privileges,
        ChildMark::Landlock,
        ChildMark::Seccomp,
        ChildMark::ProgramStarted,
    ];

    /// What was done by the time of the stamp.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ChildMark::Released => "child: released by the supervisor",
            ChildMark::Ids => "child: cgroup namespace, sandbox ids",
            ChildMark::Rootfs => "child: root tmpfs, binds, files, seal, /dev, /proc",
            ChildMark::PivotRoot => "child: pivot_root",
            ChildMark::Network => "child: hostname, loopback",
            ChildMark::Privileges => "child: rlimits, capabilities dropped",
            ChildMark::Landlock => "child: landlock",
            ChildMark::Seccomp => "child: seccomp filters",
            ChildMark::ProgramStarted => "child: program cloned and executed",
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call, no allocation; usable in
/// the child).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A page shared with the sandbox child (MAP_SHARED survives the fork-style clone), where
/// it stamps its steps. Only the supervisor's init copy writes it; the program never
/// sees it (execve drops the mapping).
pub(crate) struct StampPage {
    ptr: *mut u64,
}

impl StampPage {
    pub(crate) fn new() -> io::Result<StampPage> {
        // SAFETY: an anonymous shared mapping of one page; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(StampPage { ptr: ptr.cast() })
    }

    pub(crate) fn as_ptr(&self) -> *mut u64 {
        self.ptr
    }

    /// The stamps written so far (0 where none was).
    pub(crate) fn read(&self) -> [u64; ChildMark::ALL.len()] {
        let mut out = [0u64; ChildMark::ALL.len()];
        for (i, slot) in out.iter_mut().enumerate() {
            // SAFETY: the page holds 512 u64 slots and is mapped while self lives.
            *slot = unsafe { self.ptr.add(i).read_volatile() };
        }
        out
    }
}

impl Drop for StampPage {
    fn drop(&mut self) {
        // SAFETY: unmapping the page this value mapped; nothing else refers to it.
        unsafe { libc::munmap(self.ptr.cast(), 4096) };
    }
}

// SAFETY: the page is plain memory; the supervisor only reads it with volatile loads.
unsafe impl Send for StampPage {}

/// Stamps a child step, if stamps were asked for.
fn stamp(s: &ChildSpec<'_>, mark: ChildMark) {
    if !s.stamps.is_null() {
        // SAFETY: `stamps` points to the shared page (512 slots); ALL has fewer entries.
        unsafe { s.stamps.add(mark as usize).write_volatile(monotonic_ns()) };
    }
}

/// How many extra descriptors a program may be given.
pub(crate) const MAX_EXTRA_FDS: usize = 8;
/// How many detached mount trees (read-only binds of a command) a sandbox may be given.
pub(crate) const MAX_TREES: usize = 8;
/// Descriptors the child keeps while it sets up: stdio, extras, its three pipes, trees.
const MAX_KEPT: usize = 6 + MAX_EXTRA_FDS + MAX_TREES;
/// With extra descriptors, the child's own descriptors are moved at or above this.
pub(crate) const FD_FLOOR: RawFd = 64;

/// Duplicates `fd` (close-on-exec) to a number at or above `min`.
pub(crate) fn dup_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl duplicates an fd we hold; the new fd is owned by nobody else.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: just returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// The host pids of a process's children (`/proc/PID/task/PID/children`).
pub(crate) fn children_of(pid: libc::pid_t) -> Vec<libc::pid_t> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The host pids of the children of every thread of a process.
pub(crate) fn children_of_all_threads(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![];
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<libc::pid_t>().ok()),
        );
    }
    out
}

/// A process's parent pid, from `/proc/PID/status`.
pub(crate) fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What the child sends home when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SetupFailure {
    pub stage: u32,
    pub detail: u32,
    pub errno: i32,
}

impl SetupFailure {
    pub const SIZE: usize = 12;

    fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.stage.to_ne_bytes());
        b[4..8].copy_from_slice(&self.detail.to_ne_bytes());
        b[8..12].copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        SetupFailure {
            stage: u32::from_ne_bytes(word(0)),
            detail: u32::from_ne_bytes(word(4)),
            errno: i32::from_ne_bytes(word(8)),
        }
    }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

// ---------------------------------------------------------------------------------------
// Supervisor-side helpers (ordinary process context: allocation is fine here).
// ---------------------------------------------------------------------------------------

/// A close-on-exec pipe whose two ends are both numbered 3 or above, so that the child's
/// `dup2` onto 0, 1 and 2 can never clobber them.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(r)?, above_stdio(w)?))
}

fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on an fd we own; F_DUPFD_CLOEXEC returns a new fd or -1.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: the new fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Creates a named pipe (a FIFO) at `path`.
pub(crate) fn mkfifo(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    cvt(unsafe { libc::mkfifo(path.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// Whether a descriptor was opened for reading only (`O_RDONLY`), writing only
/// (`O_WRONLY`) or both (`O_RDWR`): its `O_ACCMODE` bits.
pub(crate) fn access_mode(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL on a caller-owned fd; no memory is passed.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    Ok(flags & libc::O_ACCMODE)
}

/// Makes the process `cmd` starts join cgroups before it executes its program: it writes
/// `0` (itself) to each `cgroup.procs` file, so that every process it starts later is
/// in them from its first instruction.
pub(crate) fn join_cgroups_before_exec(cmd: &mut std::process::Command, procs: Vec<CString>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec. It makes only
    // async-signal-safe system calls (open, write, close) and touches only memory
    // allocated before the fork (`procs`); it does not allocate. io::Error's OS variant
    // holds the errno without allocating.
    unsafe {
        cmd.pre_exec(move || {
            for path in &procs {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = io::Error::last_os_error();
                libc::close(fd);
                if written != 1 {
                    return Err(err);
                }
            }
            Ok(())
        });
    }
}

pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a caller-owned fd; no memory is passed.
    unsafe {
        let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        cvt(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}

/// Starts the sandbox child. Returns its host pid and a pidfd for it.
///
/// The child never returns from this function: it runs [`child_main`] and execs the
/// program or exits.
pub(crate) fn spawn(spec: &ChildSpec<'_>) -> io::Result<(libc::pid_t, OwnedFd)> {
    let mut pidfd: libc::c_int = -1;
    let flags =
        spec.clone_flags | libc::CLONE_PIDFD as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a fork-style clone (no CLONE_VM, no new stack): the child gets a copy-on-write
    // copy of this address space and continues on its own copy of this stack. `pidfd` is a
    // valid out-pointer for CLONE_PIDFD. In the child we only call `child_main`, which
    // performs raw system calls on data prepared before the clone and never returns.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            &mut pidfd as *mut libc::c_int,
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    if ret == 0 {
        child_main(spec);
    }
    let pid = cvt_long(ret)? as libc::pid_t;
    // SAFETY: CLONE_PIDFD succeeded, so the kernel stored a fresh fd that we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok((pid, pidfd))
}

/// A TCP listener bound to `addr` in the network namespace of the process behind
/// `pidfd`, made on a short-lived thread that enters that namespace (`setns(2)` with a
/// pidfd, Linux 5.8+) so that this process's own threads never leave theirs. The
/// listener belongs to the namespace it was made in: connections come only from there.
pub(crate) fn listen_in_netns(pidfd: RawFd, addr: std::net::SocketAddrV4) -> io::Result<OwnedFd> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns(2) on a pidfd we hold, for this thread only (a network
                // namespace is per thread); the thread ends right after.
                cvt(unsafe { libc::setns(pidfd, libc::CLONE_NEWNET) })?;
                let listener = std::net::TcpListener::bind(addr)?;
                Ok(OwnedFd::from(listener))
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the listening thread panicked")))
    })
}

/// `poll(2)` on a set of fds for readability. Returns the `revents` of each.
pub(crate) fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = match timeout {
        None => -1,
        Some(d) => d.as_millis().min(i32::MAX as u128) as libc::c_int,
    };
    loop {
        // SAFETY: `pfds` is a valid, initialised slice of pollfd of the given length.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if r >= 0 {
            return Ok(pfds.iter().map(|p| p.revents).collect());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Sends a signal through a pidfd (immune to pid reuse).
pub(crate) fn pidfd_kill(pidfd: RawFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a null siginfo and no flags; the fd is ours.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// Opens a pidfd for a process, pinning its identity against pid reuse.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and no flags and returns a new fd or -1.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: just returned by the kernel; owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends a signal to a pid.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Reaps a child: its wait status and resource usage.
pub(crate) fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid out-pointers for status and rusage.
        let r = unsafe { libc::wait4(pid, &mut status, libc::__WALL, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// A detached copy of the mount tree at `path` (`open_tree(OPEN_TREE_CLONE |
/// AT_RECURSIVE)`, Linux 5.2+), close-on-exec, for [`PreparedOp::Attach`]. Opened by the
/// supervisor, so the path is resolved with its access, not the sandbox user's.
pub(crate) fn open_tree_clone(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: a valid NUL-terminated path; the flags ask for a new descriptor.
    let fd = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_RECURSIVE,
        )
    })?;
    // SAFETY: open_tree returned a fresh descriptor that nothing else owns.
    above_stdio(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether the kernel has `open_tree` (a plain, non-cloning call on `/`).
pub(crate) fn open_tree_available() -> bool {
    // SAFETY: a valid path; the returned descriptor, if any, is closed right away.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd >= 0 {
        // SAFETY: a descriptor we just got and own.
        unsafe { libc::close(fd as RawFd) };
        return true;
    }
    errno() != libc::ENOSYS
}

/// Mounts a tmpfs on the host (used for the size-capped per-sandbox workspace).
pub(crate) fn mount_tmpfs(target: &CStr, data: &CStr) -> io::Result<()> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    cvt(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    })
    .map(drop)
}

/// Unmounts; if something still holds the mount, detaches it lazily instead so that
/// teardown cannot fail.
pub(crate) fn umount(target: &CStr) -> io::Result<()> {
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::umount2(target.as_ptr(), libc::UMOUNT_NOFOLLOW) } == 0 {
        return Ok(());
    }
    // SAFETY: as above.
    cvt(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) })
        .map(drop)
}

/// Remounts a cgroup2 hierarchy with `favordynmods`, keeping its other options.
pub(crate) fn remount_cgroup2_favordynmods(mount_point: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(mount_point.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: valid NUL-terminated strings for the duration of the call.
    cvt(unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT,
            c"favordynmods".as_ptr().cast(),
        )
    })
    .map(drop)
}

/// The size of the tmpfs `path` lives on, in bytes; `None` when it is not on a tmpfs.
pub(crate) fn tmpfs_size(path: &CStr) -> Option<u64> {
    const TMPFS_MAGIC: libc::c_long = 0x0102_1994;
    // SAFETY: statfs fills a zeroed plain-data struct through a valid pointer.
    let st = unsafe {
        let mut st: KernelStatfs = std::mem::zeroed();
        if libc::syscall(
            libc::SYS_statfs,
            path.as_ptr(),
            &mut st as *mut KernelStatfs,
        ) != 0
        {
            return None;
        }
        st
    };
    (st.f_type == TMPFS_MAGIC).then(|| st.f_blocks.saturating_mul(st.f_bsize as u64))
}

/// Remounts the tmpfs at `target` with new options (`size=...`), keeping its contents.
pub(crate) fn remount_tmpfs(target: &CStr, data: &CStr) -> io::Result<()> {
    let flags = libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV;
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    cvt(unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            flags,
            data.as_ptr().cast(),
        )
    })
    .map(drop)
}

pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail and takes no arguments.
    unsafe { libc::geteuid() }
}

/// The landlock ABI version the kernel offers, or `None` when landlock is unavailable.
pub(crate) fn landlock_abi() -> Option<u32> {
    // SAFETY: with a null attr, size 0 and the VERSION flag the call only returns a number.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (r > 0).then_some(r as u32)
}

/// Whether the kernel accepts seccomp filters (`PR_GET_SECCOMP` answers).
pub(crate) fn seccomp_available() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

/// Forks a throw-away child that tries to create a user namespace, to tell `warden doctor`
/// whether user namespaces work without touching anything else.
pub(crate) fn probe_user_namespace() -> io::Result<()> {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: fork-style clone; the child immediately calls _exit, which is async-signal-safe.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    if ret == 0 {
        // SAFETY: terminating the child without running any destructors.
        unsafe { libc::_exit(0) };
    }
    let pid = cvt_long(ret)? as libc::pid_t;
    wait4(pid).map(drop)
}

// ---------------------------------------------------------------------------------------
// Landlock ABI (not yet in the libc crate).
// ---------------------------------------------------------------------------------------

const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

#[allow(dead_code)] // the full table of the ABI, for reference and tests
pub(crate) mod landlock_access {
    pub const EXECUTE: u64 = 1 << 0;
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const READ_FILE: u64 = 1 << 2;
    pub const READ_DIR: u64 = 1 << 3;
    pub const REMOVE_DIR: u64 = 1 << 4;
    pub const REMOVE_FILE: u64 = 1 << 5;
    pub const MAKE_CHAR: u64 = 1 << 6;
    pub const MAKE_DIR: u64 = 1 << 7;
    pub const MAKE_REG: u64 = 1 << 8;
    pub const MAKE_SOCK: u64 = 1 << 9;
    pub const MAKE_FIFO: u64 = 1 << 10;
    pub const MAKE_BLOCK: u64 = 1 << 11;
    pub const MAKE_SYM: u64 = 1 << 12;
    pub const REFER: u64 = 1 << 13;
    pub const TRUNCATE: u64 = 1 << 14;
    pub const IOCTL_DEV: u64 = 1 << 15;
    pub const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    pub const SCOPE_SIGNAL: u64 = 1 << 1;

    /// Every filesystem access right the given ABI knows.
    pub fn handled_fs(abi: u32) -> u64 {
        let mut all = (1 << 13) - 1;
        if abi >= 2 {
            all |= REFER;
        }
        if abi >= 3 {
            all |= TRUNCATE;
        }
        if abi >= 5 {
            all |= IOCTL_DEV;
        }
        all
    }
}

#[repr(C)]
struct LandlockRulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct LandlockPathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

// ---------------------------------------------------------------------------------------
// The child. Only raw system calls from here on: no allocation, no panics.
// ---------------------------------------------------------------------------------------

type StepResult = Result<(), (Stage, u32, i32)>;

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Turns a C return value into a step result.
fn check(ret: libc::c_int, stage: Stage, detail: u32) -> StepResult {
    if ret < 0 {
        Err((stage, detail, errno()))
    } else {
        Ok(())
    }
}

fn report(fd: RawFd, failure: SetupFailure) {
    let bytes = failure.to_bytes();
    // SAFETY: writing a stack buffer of the stated length to a pipe we hold.
    unsafe {
        libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    }
}

fn child_main(spec: &ChildSpec<'_>) -> ! {
    let code = match child_setup(spec) {
        Ok(()) => 0,
        Err((stage, detail, errno)) => {
            report(
                spec.error_write,
                SetupFailure {
                    stage: stage as u32,
                    detail,
                    errno,
                },
            );
            1
        }
    };
    // SAFETY: leaving the child without running Rust destructors or atexit handlers.
    unsafe { libc::_exit(code) }
}

/// Runs every set-up step, then forks the program and acts as the sandbox's init.
/// Only returns on a set-up failure.
fn child_setup(s: &ChildSpec<'_>) -> StepResult {
    // SAFETY (for the whole function): every call below is a plain system call whose
    // pointer arguments come from `s`, which the parent keeps alive across the clone and
    // which this copy-on-write child only reads; out-pointers are locals on this stack.
    unsafe {
        // Standard streams. The sources are all >= 3 (see `pipe`) or are the parent's
        // own 0/1/2, so these dup2 calls cannot clobber each other.
        check(libc::dup2(s.stdin, 0), Stage::Stdio, 0)?;
        check(libc::dup2(s.stdout, 1), Stage::Stdio, 1)?;
        check(libc::dup2(s.stderr, 2), Stage::Stdio, 2)?;
        let mut keep = [0 as RawFd; MAX_KEPT];
        let extra = s.extra_fds.len().min(MAX_EXTRA_FDS);
        let trees = s.trees.len().min(MAX_TREES);
        for (i, &fd) in s.extra_fds[..extra].iter().enumerate() {
            check(libc::dup2(fd, 3 + i as RawFd), Stage::Stdio, 3 + i as u32)?;
        }
        keep[..3].copy_from_slice(&[0, 1, 2]);
        for i in 0..extra {
            keep[3 + i] = 3 + i as RawFd;
        }
        keep[3 + extra..6 + extra].copy_from_slice(&[s.sync_read, s.error_write, s.status_write]);
        keep[6 + extra..6 + extra + trees].copy_from_slice(&s.trees[..trees]);
        close_all_except(&keep[..6 + extra + trees])?;
        hide_supervisor_identity(s.own_argv_area);

        // Wait until the supervisor has written our uid/gid maps and placed us in our cgroups.
        let mut go = 0u8;
        let n = libc::read(s.sync_read, (&mut go as *mut u8).cast(), 1);
        if n != 1 || go != b'G' {
            // The supervisor gave up on us; leave quietly.
            libc::_exit(1);
        }
        libc::close(s.sync_read);
        stamp(s, ChildMark::Released);

        if s.clone_flags & libc::CLONE_NEWCGROUP as libc::c_ulong != 0 {
            check(
                libc::unshare(libc::CLONE_NEWCGROUP),
                Stage::CgroupNamespace,
                0,
            )?;
        }

        // Become the sandbox user early, so that files we create in our own tmpfs mounts
        // have an owner mapped in this user namespace. The root of the namespace's id
        // range is not mapped, so this does not clear our capabilities.
        // Raw system calls, not glibc's wrappers: glibc broadcasts set*id to every thread it
        // believes exists, and after a raw clone of a multi-threaded parent it still
        // believes the parent's threads exist, so its wrapper would wait for them forever.
        check(
            libc::syscall(libc::SYS_setresgid, s.gid, s.gid, s.gid) as libc::c_int,
            Stage::SetIds,
            0,
        )?;
        check(
            libc::syscall(libc::SYS_setresuid, s.uid, s.uid, s.uid) as libc::c_int,
            Stage::SetIds,
            1,
        )?;
        stamp(s, ChildMark::Ids);

        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            Stage::MakePrivate,
            0,
        )?;
        check(
            libc::mount(
                c"tmpfs".as_ptr(),
                s.new_root.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                s.root_tmpfs_data.as_ptr().cast(),
            ),
            Stage::RootTmpfs,
            0,
        )?;
        let all_ops = || s.ops.iter().flat_map(|list| list.iter());
        for (i, op) in all_ops().enumerate() {
            match op {
                PreparedOp::Seal { path, attr_set } => seal(path, *attr_set, all_ops().take(i))
                    .map_err(|e| (Stage::RemountRoot, i as u32, e))?,
                _ => run_op(op, &s.trees[..trees]).map_err(|e| (op_stage(op), i as u32, e))?,
            }
        }
        // The trees are attached now; the init has no use for them.
        for &fd in &s.trees[..trees] {
            libc::close(fd);
        }
        stamp(s, ChildMark::Rootfs);
        check(libc::chdir(s.new_root.as_ptr()), Stage::PivotRoot, 0)?;
        check(
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int,
            Stage::PivotRoot,
            1,
        )?;
        // The old root is now stacked on top of the new one at "/": detach it.
        check(
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH),
            Stage::PivotRoot,
            2,
        )?;
        check(libc::chdir(c"/".as_ptr()), Stage::PivotRoot, 3)?;
        stamp(s, ChildMark::PivotRoot);

        let host = s.hostname.to_bytes();
        check(
            libc::sethostname(host.as_ptr().cast(), host.len()),
            Stage::Hostname,
            0,
        )?;
        loopback_up()?;
        stamp(s, ChildMark::Network);

        for (i, &(resource, soft, hard)) in s.rlimits.iter().enumerate() {
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            check(libc::setrlimit(resource, &lim), Stage::Rlimits, i as u32)?;
        }

        drop_privileges(s.cap_last_cap)?;
        stamp(s, ChildMark::Privileges);

        if let Some(ll) = s.landlock {
            apply_landlock(ll)?;
        }
        stamp(s, ChildMark::Landlock);

        for (i, program) in s.seccomp.iter().enumerate() {
            let prog = libc::sock_fprog {
                len: program.len() as libc::c_ushort,
                filter: program.as_ptr() as *mut libc::sock_filter,
            };
            check(
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &prog as *const libc::sock_fprog,
                ),
                Stage::Seccomp,
                i as u32,
            )?;
        }

        stamp(s, ChildMark::Seccomp);

        check(libc::chdir(s.cwd.as_ptr()), Stage::Chdir, 0)?;

        // Fork the program; we stay behind as the sandbox's init.
        // Start the program the way glibc's posix_spawn does: clone(CLONE_VM | CLONE_VFORK)
        // on a separate stack, so no page tables are copied and we are suspended until it
        // has executed (or failed to). glibc's fork() is avoided: its atfork handlers take
        // locks (malloc's among them) another thread of the supervisor may have held.
        let exec = ExecArgs {
            path: s.exec_path.as_ptr(),
            argv: s.argv.as_ptr(),
            envp: s.envp.as_ptr(),
            error_write: s.error_write,
        };
        let top = (s.exec_stack.0 as usize + s.exec_stack.1) & !15;
        let pid = libc::clone(
            exec_program,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &exec as *const ExecArgs as *mut libc::c_void,
        );
        if pid < 0 {
            return Err((Stage::Fork, 0, errno()));
        }
        stamp(s, ChildMark::ProgramStarted);
        libc::close(s.error_write);
        init_loop(pid, s.status_write)
    }
}

/// The kernel's `struct sigaction` for `rt_sigaction` on x86_64 and aarch64.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// What the program's process needs to execute, on the init's (suspended) stack.
struct ExecArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    error_write: RawFd,
}

/// Runs on its own stack in the init's address space (CLONE_VM) until `execve` replaces it.
extern "C" fn exec_program(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points to the ExecArgs on the init's stack, which stays valid because
    // CLONE_VFORK suspends the init until this process has executed or exited. Only raw
    // system calls follow; the status pipe is close-on-exec, so it closes with the execve.
    unsafe {
        let a = &*(arg as *const ExecArgs);
        // Ignored signals stay ignored across execve, and the mask is inherited: the
        // supervisor's (Rust ignores SIGPIPE; async runtimes may block signals) must not
        // leak into the program. This process has its own signal handlers (no
        // CLONE_SIGHAND), so the init is unaffected.
        let empty: libc::sigset_t = std::mem::zeroed();
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const libc::sigset_t,
            std::ptr::null_mut::<libc::sigset_t>(),
            8usize,
        );
        // The raw call: glibc's wrappers refuse the real-time signals it reserves.
        let default = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
        libc::execve(a.path, a.argv, a.envp);
        report(
            a.error_write,
            SetupFailure {
                stage: Stage::Exec as u32,
                detail: 0,
                errno: errno(),
            },
        );
        libc::_exit(127)
    }
}

const INIT_NAME: &[u8] = b"warden-init\0";

/// Renames this copy of the supervisor and blanks its argv, as seen in /proc/1/{comm,cmdline}.
fn hide_supervisor_identity(area: Option<(usize, usize)>) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes. The argv area
    // belongs to this process's own (copy-on-write) stack and stays mapped for its life;
    // its bounds come from the kernel (/proc/self/stat) and are checked to be sane.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, INIT_NAME.as_ptr(), 0, 0, 0);
        if let Some((start, end)) = area {
            if start != 0 && end > start && end - start < (1 << 20) {
                let p = start as *mut u8;
                std::ptr::write_bytes(p, 0, end - start);
                let n = INIT_NAME.len().min(end - start);
                std::ptr::copy_nonoverlapping(INIT_NAME.as_ptr(), p, n);
            }
        }
    }
}

/// The highest capability number of the running kernel; 63 (every possible one) if unknown.
pub(crate) fn cap_last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n: &u32| n < 64)
        .unwrap_or(63)
}

/// The `arg_start` and `arg_end` fields of `/proc/self/stat`.
pub(crate) fn own_argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3; arg_start is 48.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(45);
    let start = fields.next()?.parse().ok()?;
    let end = fields.next()?.parse().ok()?;
    Some((start, end))
}

/// The sandbox's init: reaps every child and, when the program itself ends, sends its
/// wait status home and exits, which makes the kernel kill whatever is left in the
/// sandbox's pid namespace (daemons included).
///
/// It also watches the supervisor: the status pipe's only reader is the supervisor, so
/// when the supervisor dies (even by SIGKILL) the pipe reports POLLERR and the init exits,
/// taking the whole sandbox with it. SIGCHLD is taken through a signalfd so that one
/// `poll` waits for both.
fn init_loop(program: libc::pid_t, status_fd: RawFd) -> ! {
    // SAFETY: raw system calls on stack buffers and descriptors this process owns; the
    // signal set is a plain value initialised by sigemptyset/sigaddset (no locks).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            &set as *const libc::sigset_t,
            std::ptr::null_mut::<libc::sigset_t>(),
            8usize,
        );
        let sfd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        loop {
            // Reap whatever has ended (a SIGCHLD may have come before the signalfd).
            loop {
                let mut status: libc::c_int = 0;
                let flags = if sfd < 0 {
                    libc::__WALL
                } else {
                    libc::__WALL | libc::WNOHANG
                };
                let r = libc::wait4(-1, &mut status, flags, std::ptr::null_mut());
                if r == program {
                    let bytes = status.to_ne_bytes();
                    libc::write(status_fd, bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(0);
                }
                if r == 0 {
                    break;
                }
                if r < 0 {
                    match errno() {
                        libc::EINTR => continue,
                        libc::ECHILD => libc::_exit(0),
                        _ => break,
                    }
                }
            }
            let mut fds = [
                libc::pollfd {
                    fd: sfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                // No events asked: only POLLERR (the reader is gone) wakes us.
                libc::pollfd {
                    fd: status_fd,
                    events: 0,
                    revents: 0,
                },
            ];
            let n = libc::poll(fds.as_mut_ptr(), 2, -1);
            if n > 0 && fds[1].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                // The supervisor is gone: nobody can read the result or end the sandbox.
                libc::_exit(0);
            }
            if n > 0 && fds[0].revents & libc::POLLIN != 0 {
                let mut info = [0u8; 128];
                while libc::read(sfd, info.as_mut_ptr().cast(), info.len()) > 0 {}
            }
        }
    }
}

fn op_stage(op: &PreparedOp) -> Stage {
    match op {
        PreparedOp::Proc { .. } | PreparedOp::ReadOnlySelfBind { .. } => Stage::Proc,
        _ => Stage::Rootfs,
    }
}

/// Runs one root filesystem step; returns the errno on failure.
fn run_op(op: &PreparedOp, trees: &[RawFd]) -> Result<(), i32> {
    let c = |r: libc::c_int| if r < 0 { Err(errno()) } else { Ok(()) };
    // SAFETY: all paths are NUL-terminated C strings owned by the prepared op.
    unsafe {
        match op {
            PreparedOp::Mkdir { path, mode } => {
                let r = libc::mkdir(path.as_ptr(), *mode);
                if r < 0 && errno() != libc::EEXIST {
                    return Err(errno());
                }
                Ok(())
            }
            PreparedOp::Bind { src, dst, dir } => {
                if *dir {
                    let r = libc::mkdir(dst.as_ptr(), 0o755);
                    if r < 0 && errno() != libc::EEXIST {
                        return Err(errno());
                    }
                } else {
                    let fd = libc::open(
                        dst.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o644,
                    );
                    if fd < 0 {
                        return Err(errno());
                    }
                    libc::close(fd);
                }
                c(libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))
            }
            PreparedOp::Attach { tree, dst } => {
                let fd = *trees.get(*tree).ok_or(libc::EBADF)?;
                let r = libc::mkdir(dst.as_ptr(), 0o755);
                if r < 0 && errno() != libc::EEXIST {
                    return Err(errno());
                }
                c(libc::syscall(
                    libc::SYS_move_mount,
                    fd,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    dst.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                ) as libc::c_int)
            }
            // Handled by the caller, which knows the steps before it.
            PreparedOp::Seal { .. } => Ok(()),
            PreparedOp::Tmpfs { dst, data, flags } => {
                let r = libc::mkdir(dst.as_ptr(), 0o755);
                if r < 0 && errno() != libc::EEXIST {
                    return Err(errno());
                }
                c(libc::mount(
                    c"tmpfs".as_ptr(),
                    dst.as_ptr(),
                    c"tmpfs".as_ptr(),
                    *flags,
                    data.as_ptr().cast(),
                ))
            }
            PreparedOp::Symlink { target, link } => {
                c(libc::symlink(target.as_ptr(), link.as_ptr()))
            }
            PreparedOp::WriteFile {
                path,
                contents,
                mode,
            } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC | libc::O_CLOEXEC,
                    *mode,
                );
                if fd < 0 {
                    return Err(errno());
                }
                let mut off = 0usize;
                while off < contents.len() {
                    let n = libc::write(fd, contents[off..].as_ptr().cast(), contents.len() - off);
                    if n <= 0 {
                        let e = errno();
                        libc::close(fd);
                        return Err(e);
                    }
                    off += n as usize;
                }
                libc::fchmod(fd, *mode);
                libc::close(fd);
                Ok(())
            }
            PreparedOp::Proc { dst } => {
                let r = libc::mkdir(dst.as_ptr(), 0o555);
                if r < 0 && errno() != libc::EEXIST {
                    return Err(errno());
                }
                c(libc::mount(
                    c"proc".as_ptr(),
                    dst.as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ))
            }
            PreparedOp::ReadOnlySelfBind { path } => {
                c(libc::mount(
                    path.as_ptr(),
                    path.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                remount_keeping_locked(
                    path,
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                )
            }
        }
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Adds attributes to `root` and every mount beneath it with one recursive
/// `mount_setattr` (Linux 5.12+); on older kernels, remounts `root` and each earlier bind
/// beneath it one by one.
fn seal<'a>(
    root: &CStr,
    attr_set: u64,
    before: impl Iterator<Item = &'a PreparedOp>,
) -> Result<(), i32> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid path and a mount_attr struct that outlives the call, with its size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            root.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == 0 {
        return Ok(());
    }
    if errno() != libc::ENOSYS {
        return Err(errno());
    }
    let mut flags = 0;
    for (attr, ms) in [
        (MOUNT_ATTR_RDONLY, libc::MS_RDONLY),
        (MOUNT_ATTR_NOSUID, libc::MS_NOSUID),
        (MOUNT_ATTR_NODEV, libc::MS_NODEV),
        (MOUNT_ATTR_NOEXEC, libc::MS_NOEXEC),
    ] {
        if attr_set & attr != 0 {
            flags |= ms;
        }
    }
    for op in before {
        if let PreparedOp::Bind { dst, .. } | PreparedOp::Attach { dst, .. } = op {
            if dst.to_bytes().starts_with(root.to_bytes()) {
                remount_keeping_locked(dst, flags)?;
            }
        }
    }
    remount_keeping_locked(root, flags)
}

/// The kernel's `struct statfs` on 64-bit Linux (the libc crate hides `f_flags`).
#[repr(C)]
struct KernelStatfs {
    f_type: libc::c_long,
    f_bsize: libc::c_long,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_fsid: [libc::c_int; 2],
    f_namelen: libc::c_long,
    f_frsize: libc::c_long,
    f_flags: libc::c_long,
    f_spare: [libc::c_long; 4],
}

/// Remounts a bind mount with extra flags. In a user namespace, flags the original mount
/// had (nosuid, nodev, noexec, atime settings) are locked and must be repeated.
fn remount_keeping_locked(path: &CStr, extra: libc::c_ulong) -> Result<(), i32> {
    // SAFETY: statvfs fills a zeroed POD struct; mount gets a valid path.
    unsafe {
        let mut st: KernelStatfs = std::mem::zeroed();
        if libc::syscall(
            libc::SYS_statfs,
            path.as_ptr(),
            &mut st as *mut KernelStatfs,
        ) < 0
        {
            return Err(errno());
        }
        let mut flags = libc::MS_REMOUNT | libc::MS_BIND | extra;
        // statfs reports the mount's flags with the ST_* bits.
        let have = st.f_flags as libc::c_ulong;
        for (st_flag, ms_flag) in [
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
            (libc::ST_RDONLY, libc::MS_RDONLY),
        ] {
            if have & st_flag != 0 {
                flags |= ms_flag;
            }
        }
        if libc::mount(
            std::ptr::null(),
            path.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        ) < 0
        {
            return Err(errno());
        }
    }
    Ok(())
}

/// Closes every fd not in `keep` (which need not be sorted).
fn close_all_except(keep: &[RawFd]) -> StepResult {
    let mut sorted = [0 as RawFd; MAX_KEPT];
    let n = keep.len().min(sorted.len());
    sorted[..n].copy_from_slice(&keep[..n]);
    let sorted = &mut sorted[..n];
    sorted.sort_unstable();
    let mut next: u32 = 0;
    for &fd in sorted.iter() {
        let fd = fd as u32;
        if fd > next {
            // SAFETY: close_range takes plain integers.
            let r = unsafe { libc::syscall(libc::SYS_close_range, next, fd - 1, 0u32) };
            check(r as libc::c_int, Stage::CloseFds, next)?;
        }
        next = next.max(fd + 1);
    }
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_close_range, next, u32::MAX, 0u32) };
    check(r as libc::c_int, Stage::CloseFds, next)
}

fn loopback_up() -> StepResult {
    // SAFETY: an AF_INET datagram socket used only for interface ioctls on a zeroed ifreq.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(sock, Stage::Loopback, 0)?;
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let r = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
        if r < 0 {
            let e = errno();
            libc::close(sock);
            return Err((Stage::Loopback, 1, e));
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let r = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
        let e = errno();
        libc::close(sock);
        if r < 0 {
            return Err((Stage::Loopback, 2, e));
        }
    }
    Ok(())
}

const SECBITS_LOCKED_DOWN: libc::c_ulong = 0xef; // NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED, NO_CAP_AMBIENT_RAISE, all locked

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn drop_privileges(cap_last_cap: u32) -> StepResult {
    // SAFETY: prctl and capset calls with integer arguments or pointers to local structs.
    unsafe {
        check(
            libc::prctl(libc::PR_SET_SECUREBITS, SECBITS_LOCKED_DOWN, 0, 0, 0),
            Stage::Securebits,
            0,
        )?;
        // Empty the bounding set. Capability numbers the kernel does not know return EINVAL.
        for cap in 0..=cap_last_cap as libc::c_ulong {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno() != libc::EINVAL {
                return Err((Stage::DropCapabilities, cap as u32, errno()));
            }
        }
        check(
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ),
            Stage::DropCapabilities,
            100,
        )?;
        let header = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        check(
            libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr())
                as libc::c_int,
            Stage::DropCapabilities,
            101,
        )?;
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            Stage::NoNewPrivs,
            0,
        )?;
    }
    Ok(())
}

fn apply_landlock(ll: &LandlockSpec) -> StepResult {
    use landlock_access::*;
    let handled = handled_fs(ll.abi);
    let attr = LandlockRulesetAttr {
        handled_access_fs: handled,
        handled_access_net: 0,
        scoped: if ll.abi >= 6 {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        },
    };
    // Older ABIs do not know the later fields: pass only the size they understand.
    let size = if ll.abi >= 6 {
        24
    } else if ll.abi >= 4 {
        16
    } else {
        8
    };
    // SAFETY: the attr struct outlives the call and `size` never exceeds its length.
    let ruleset = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const LandlockRulesetAttr,
            size as usize,
            0u32,
        )
    } as libc::c_int;
    check(ruleset, Stage::Landlock, 0)?;

    let ro = EXECUTE | READ_FILE | READ_DIR;
    let rw = handled & !(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV);
    let dev = (READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV) & handled;
    let groups: [(&[CString], u64); 3] = [
        (&ll.read_exec, ro),
        (&ll.read_write, rw),
        (&ll.devices, dev),
    ];
    let mut n: u32 = 1;
    for (paths, access) in groups {
        for path in paths {
            // SAFETY: opening a valid path with O_PATH; the fd is closed below.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err((Stage::Landlock, n, errno()));
            }
            let rule = LandlockPathBeneathAttr {
                allowed_access: access,
                parent_fd: fd,
            };
            // SAFETY: the packed rule struct outlives the call.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    ruleset,
                    LANDLOCK_RULE_PATH_BENEATH,
                    &rule as *const LandlockPathBeneathAttr,
                    0u32,
                )
            } as libc::c_int;
            let e = errno();
            // SAFETY: closing the fd opened above.
            unsafe { libc::close(fd) };
            if r < 0 {
                return Err((Stage::Landlock, n, e));
            }
            n += 1;
        }
    }
    // SAFETY: restrict_self with a ruleset fd we own, then close it.
    let r =
        unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) } as libc::c_int;
    let e = errno();
    // SAFETY: closing our ruleset fd.
    unsafe { libc::close(ruleset) };
    if r < 0 {
        return Err((Stage::Landlock, 999, e));
    }
    Ok(())
}

/// Writes `/proc/<pid>/{uid_map,setgroups,gid_map}` for a child in a new user namespace.
pub(crate) fn write_id_maps(
    pid: libc::pid_t,
    inside_uid: u32,
    host_uid: u32,
    inside_gid: u32,
    host_gid: u32,
) -> io::Result<()> {
    std::fs::write(
        format!("/proc/{pid}/uid_map"),
        format!("{inside_uid} {host_uid} 1\n"),
    )?;
    std::fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
    std::fs::write(
        format!("/proc/{pid}/gid_map"),
        format!("{inside_gid} {host_gid} 1\n"),
    )?;
    Ok(())
}

/// Reads from an fd into `buf`; `Ok(0)` is end of file; `WouldBlock` when nothing is ready.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is a valid writable buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Writes all of `buf` to an fd.
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a valid readable buffer of the given length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_failure_round_trips_through_bytes() {
        let f = SetupFailure {
            stage: Stage::Landlock as u32,
            detail: 7,
            errno: libc::EPERM,
        };
        assert_eq!(SetupFailure::from_bytes(&f.to_bytes()), f);
    }

    #[test]
    fn landlock_handled_rights_grow_with_the_abi() {
        use landlock_access::*;
        assert_eq!(handled_fs(1), (1 << 13) - 1);
        assert_ne!(handled_fs(2) & REFER, 0);
        assert_eq!(handled_fs(2) & TRUNCATE, 0);
        assert_ne!(handled_fs(3) & TRUNCATE, 0);
        assert_ne!(handled_fs(5) & IOCTL_DEV, 0);
    }

    #[test]
    fn pipes_never_use_the_standard_stream_numbers() {
        let (r, w) = pipe().unwrap();
        assert!(r.as_raw_fd() > 2 && w.as_raw_fd() > 2);
    }
}
