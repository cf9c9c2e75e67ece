//! A session's `/workspace` as the host sees it: read, write, list and delete files by
//! paths that can never leave it.
//!
//! The sandboxed code owns the workspace and may plant symlinks, fifos or deep trees in
//! it. Paths are therefore checked twice: by syntax (no `..`, no absolute paths, no
//! empty or `.` components), and by the kernel, which resolves every path from a
//! descriptor of the workspace root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`, so that no symlink is ever followed and
//! nothing outside the workspace is ever reached, whatever the code changed meanwhile.
//! Only regular files are read; fifos, sockets and device files are refused.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Uid};
use rustix::io::Errno;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
pub use warden_protocol::{FileEntry, FileKind};

/// Longest path accepted, in bytes.
const MAX_PATH: usize = 4096;
/// Entries a snapshot or a listing looks at, at most.
pub const MAX_ENTRIES: usize = 10_000;
/// Directory depth a snapshot or a recursive delete descends to, at most.
const MAX_DEPTH: usize = 64;

/// What went wrong with a file operation; each maps to one wire code.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path is malformed: absolute, `..`, empty components, NUL, too long, or a
    /// directory where a file is needed (and the reverse).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// The path names, or passes through, something that is never followed or read:
    /// a symlink, fifo, socket or device.
    #[error("path {path:?} is not allowed: {reason}")]
    Forbidden { path: String, reason: &'static str },
    #[error("no file {0:?} in the workspace")]
    NotFound(String),
    /// The workspace's size limit was reached.
    #[error("the workspace is full (its size limit is {limit} bytes)")]
    NoSpace { limit: u64 },
    #[error("{what} {path:?}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn kind_of(st: &Stat) -> FileKind {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => FileKind::File,
        FileType::Directory => FileKind::Directory,
        FileType::Symlink => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn mtime_of(st: &Stat) -> f64 {
    st.st_mtime as f64 + st.st_mtime_nsec as f64 / 1e9
}

/// The components of a relative path, or why it is refused. An empty path (or `.`) is
/// the workspace itself.
pub fn components(path: &str) -> Result<Vec<&str>, FileError> {
    let bad = |reason| FileError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.len() > MAX_PATH {
        return Err(bad("it is too long"));
    }
    if path.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    if path.starts_with('/') {
        return Err(bad(
            "absolute paths are not accepted; paths are relative to /workspace",
        ));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() || trimmed == "." {
        return Ok(vec![]);
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    for part in &parts {
        match *part {
            "" => return Err(bad("it has an empty component")),
            "." => return Err(bad("it has a '.' component")),
            ".." => return Err(bad("'..' is not accepted")),
            p if p.len() > 255 => return Err(bad("a component is longer than 255 bytes")),
            _ => {}
        }
    }
    Ok(parts)
}

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
}

/// A handle on one workspace directory.
#[derive(Debug)]
pub struct Workspace {
    root: OwnedFd,
    /// Files and directories made from the host get the workspace's owner, so that the
    /// sandboxed code can change them.
    uid: Uid,
    gid: Gid,
}

/// A file opened for reading, with its description.
#[derive(Debug)]
pub struct OpenFile {
    pub file: std::fs::File,
    pub entry: FileEntry,
}

impl Workspace {
    /// Opens the workspace at `path` (a directory on the host).
    pub fn open(path: &Path) -> std::io::Result<Workspace> {
        let root = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&root)?;
        Ok(Workspace {
            root,
            uid: Uid::from_raw(st.st_uid),
            gid: Gid::from_raw(st.st_gid),
        })
    }

    fn io_error(what: &'static str, path: &str, e: Errno) -> FileError {
        let path = path.to_string();
        match e {
            Errno::LOOP => FileError::Forbidden {
                path,
                reason: "symbolic links are never followed",
            },
            Errno::XDEV => FileError::Forbidden {
                path,
                reason: "it leads outside the workspace",
            },
            Errno::NOENT => FileError::NotFound(path),
            Errno::NOTDIR => FileError::InvalidPath {
                path,
                reason: "a component is not a directory",
            },
            Errno::ISDIR => FileError::InvalidPath {
                path,
                reason: "it is a directory",
            },
            Errno::NAMETOOLONG => FileError::InvalidPath {
                path,
                reason: "it is too long",
            },
            other => FileError::Io {
                what,
                path,
                source: other.into(),
            },
        }
    }

    fn open_at(&self, path: &str, parts: &[&str], flags: OFlags) -> Result<OwnedFd, FileError> {
        let rel = if parts.is_empty() {
            ".".to_string()
        } else {
            parts.join("/")
        };
        rustix::fs::openat2(
            &self.root,
            rel.as_str(),
            // No O_NOFOLLOW: RESOLVE_NO_SYMLINKS refuses a final symlink with ELOOP,
            // where O_NOFOLLOW would open it (O_PATH) or fail with ENOTDIR. O_PATH takes
            // no other flags.
            if flags.contains(OFlags::PATH) {
                flags | OFlags::CLOEXEC
            } else {
                flags | OFlags::CLOEXEC | OFlags::NOCTTY
            },
            Mode::empty(),
            resolve_flags(),
        )
        .map_err(|e| Self::io_error("cannot open", path, e))
    }

    fn limit(&self) -> u64 {
        rustix::fs::fstatvfs(&self.root)
            .map(|s| s.f_blocks * s.f_frsize)
            .unwrap_or(0)
    }

    /// Free bytes in the workspace.
    pub fn available(&self) -> u64 {
        rustix::fs::fstatvfs(&self.root)
            .map(|s| s.f_bavail * s.f_frsize)
            .unwrap_or(0)
    }

    /// Opens a regular file for reading.
    pub fn read(&self, path: &str) -> Result<OpenFile, FileError> {
        let parts = components(path)?;
        if parts.is_empty() {
            return Err(FileError::InvalidPath {
                path: path.into(),
                reason: "it is the workspace directory; list it instead",
            });
        }
        // O_NONBLOCK: opening a fifo must not wait for a writer; it is refused below.
        let fd = self.open_at(path, &parts, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Self::io_error("cannot stat", path, e))?;
        match kind_of(&st) {
            FileKind::File => {}
            FileKind::Directory => {
                return Err(FileError::InvalidPath {
                    path: path.into(),
                    reason: "it is a directory; list it instead",
                })
            }
            _ => {
                return Err(FileError::Forbidden {
                    path: path.into(),
                    reason: "only regular files are read (not fifos, sockets or devices)",
                })
            }
        }
        // Reads of a regular file never block; clear the flag anyway for plain reads.
        let _ = rustix::fs::fcntl_setfl(&fd, OFlags::empty());
        Ok(OpenFile {
            file: std::fs::File::from(fd),
            entry: entry(&parts, &st),
        })
    }

    /// The directory holding the last component, made (with its parents) when missing.
    fn parent_dir(&self, path: &str, parts: &[&str], create: bool) -> Result<OwnedFd, FileError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let mut dir = self.open_at(path, &[], flags)?;
        for part in &parts[..parts.len() - 1] {
            let open = |dir: &OwnedFd| {
                rustix::fs::openat2(
                    dir,
                    *part,
                    flags | OFlags::CLOEXEC,
                    Mode::empty(),
                    resolve_flags(),
                )
            };
            dir = match open(&dir) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.write_error(path, e)),
                    }
                    let fd = open(&dir).map_err(|e| Self::io_error("cannot open", path, e))?;
                    let _ = rustix::fs::fchown(&fd, Some(self.uid), Some(self.gid));
                    fd
                }
                Err(e) => return Err(Self::io_error("cannot open", path, e)),
            };
        }
        Ok(dir)
    }

    fn write_error(&self, path: &str, e: Errno) -> FileError {
        if e == Errno::NOSPC || e == Errno::DQUOT || e == Errno::FBIG {
            FileError::NoSpace {
                limit: self.limit(),
            }
        } else {
            Self::io_error("cannot write", path, e)
        }
    }

    /// Writes a file from a stream, creating parent directories. The data goes to a
    /// temporary file beside the target, which replaces the target only once complete;
    /// an existing symlink at the target is replaced, never followed.
    pub async fn write(
        &self,
        path: &str,
        mut data: impl AsyncRead + Unpin,
    ) -> Result<FileEntry, FileError> {
        let parts = components(path)?;
        let Some(name) = parts.last().copied() else {
            return Err(FileError::InvalidPath {
                path: path.into(),
                reason: "it is the workspace directory",
            });
        };
        let dir = self.parent_dir(path, &parts, true)?;
        let tmp = format!(".warden-upload-{:016x}", random_u64());
        let fd = rustix::fs::openat(
            &dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| self.write_error(path, e))?;
        let _ = rustix::fs::fchown(&fd, Some(self.uid), Some(self.gid));
        let mut file = tokio::fs::File::from_std(std::fs::File::from(fd));
        let copied = async {
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = data.read(&mut buf).await.map_err(|e| FileError::Io {
                    what: "cannot receive",
                    path: path.to_string(),
                    source: e,
                })?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])
                    .await
                    .map_err(|e| self.write_error(path, io_errno(&e)))?;
            }
            file.flush()
                .await
                .map_err(|e| self.write_error(path, io_errno(&e)))?;
            Ok::<(), FileError>(())
        }
        .await;
        drop(file);
        let renamed = copied.and_then(|()| {
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name)
                .map_err(|e| Self::io_error("cannot replace", path, e))
        });
        if let Err(e) = renamed {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
            return Err(e);
        }
        let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Self::io_error("cannot stat", path, e))?;
        Ok(entry(&parts, &st))
    }

    /// Deletes a file, a symlink (not what it points to), or a directory with everything
    /// in it.
    pub fn remove(&self, path: &str) -> Result<(), FileError> {
        let parts = components(path)?;
        let Some(name) = parts.last().copied() else {
            return Err(FileError::InvalidPath {
                path: path.into(),
                reason: "the workspace itself cannot be deleted",
            });
        };
        let dir = self.parent_dir(path, &parts, false)?;
        let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Self::io_error("cannot stat", path, e))?;
        if kind_of(&st) == FileKind::Directory {
            remove_tree(&dir, name, 0).map_err(|e| Self::io_error("cannot delete", path, e))
        } else {
            rustix::fs::unlinkat(&dir, name, AtFlags::empty())
                .map_err(|e| Self::io_error("cannot delete", path, e))
        }
    }

    /// The entries of a directory, sorted by name (at most [`MAX_ENTRIES`]).
    pub fn list(&self, path: &str) -> Result<Vec<FileEntry>, FileError> {
        let parts = components(path)?;
        let fd = self.open_at(path, &parts, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut out = Vec::new();
        let mut dir =
            rustix::fs::Dir::read_from(&fd).map_err(|e| Self::io_error("cannot list", path, e))?;
        while let Some(ent) = dir.read() {
            let ent = ent.map_err(|e| Self::io_error("cannot list", path, e))?;
            let Ok(name) = ent.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let Ok(st) = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            let mut p = parts.clone();
            p.push(name);
            out.push(entry(&p, &st));
            if out.len() >= MAX_ENTRIES {
                break;
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every regular file under the workspace, by path, with what tells a change
    /// (size, mtime, inode). Symlinks and special files are skipped; bounded in entries
    /// and depth.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        if let Ok(fd) = self.open_at("", &[], OFlags::RDONLY | OFlags::DIRECTORY) {
            walk(&fd, String::new(), 0, &mut out);
        }
        Snapshot(out)
    }

    /// Reads a whole file if it is at most `max` bytes.
    pub fn read_small(&self, path: &str, max: u64) -> Option<Vec<u8>> {
        use std::io::Read as _;
        let open = self.read(path).ok()?;
        if open.entry.size > max {
            return None;
        }
        let mut data = Vec::with_capacity(open.entry.size as usize);
        open.file.take(max + 1).read_to_end(&mut data).ok()?;
        (data.len() as u64 <= max).then_some(data)
    }
}

/// What a workspace held at one moment: path → (size, mtime in ns, inode).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, (u64, i128, u64)>);

impl Snapshot {
    /// Paths created or changed since `before`, with their sizes.
    pub fn changed_since(&self, before: &Snapshot) -> Vec<(String, u64)> {
        self.0
            .iter()
            .filter(|(p, v)| before.0.get(*p) != Some(*v))
            .map(|(p, v)| (p.clone(), v.0))
            .collect()
    }
}

fn walk(dir: &OwnedFd, prefix: String, depth: usize, out: &mut BTreeMap<String, (u64, i128, u64)>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(mut entries) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    while let Some(Ok(ent)) = entries.read() {
        if out.len() >= MAX_ENTRIES {
            return;
        }
        let Ok(name) = ent.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." || name.starts_with(".warden-upload-") {
            continue;
        }
        let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let path = format!("{prefix}{name}");
        match kind_of(&st) {
            FileKind::File => {
                let mtime = st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128;
                out.insert(path, (st.st_size as u64, mtime, st.st_ino));
            }
            FileKind::Directory => {
                if let Ok(sub) = rustix::fs::openat2(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                    Mode::empty(),
                    resolve_flags(),
                ) {
                    walk(&sub, format!("{path}/"), depth + 1, out);
                }
            }
            _ => {}
        }
    }
}

fn remove_tree(parent: &OwnedFd, name: &str, depth: usize) -> Result<(), Errno> {
    if depth > MAX_DEPTH {
        return Err(Errno::NAMETOOLONG);
    }
    let dir = rustix::fs::openat2(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        resolve_flags(),
    )?;
    loop {
        // Re-read after each round: entries may change while we delete.
        let mut names = Vec::new();
        let mut entries = rustix::fs::Dir::read_from(&dir)?;
        while let Some(ent) = entries.read() {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push((ent.file_name().to_owned(), ent.file_type()));
            }
            if names.len() >= 1024 {
                break;
            }
        }
        if names.is_empty() {
            break;
        }
        for (n, t) in names {
            let Ok(n) = n.to_str() else {
                // Names that are not UTF-8 are deleted through their C string.
                match rustix::fs::unlinkat(&dir, n.as_c_str(), AtFlags::empty()) {
                    Err(Errno::ISDIR) => {
                        rustix::fs::unlinkat(&dir, n.as_c_str(), AtFlags::REMOVEDIR)?
                    }
                    r => r?,
                }
                continue;
            };
            if t == FileType::Directory {
                remove_tree(&dir, n, depth + 1)?;
            } else {
                match rustix::fs::unlinkat(&dir, n, AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(Errno::ISDIR) => remove_tree(&dir, n, depth + 1)?,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    drop(dir);
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

fn entry(parts: &[&str], st: &Stat) -> FileEntry {
    FileEntry {
        path: parts.join("/"),
        name: parts.last().copied().unwrap_or("").to_string(),
        kind: kind_of(st),
        size: st.st_size as u64,
        mtime: mtime_of(st),
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error()
        .map(Errno::from_raw_os_error)
        .unwrap_or(Errno::IO)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        return t.as_nanos() as u64 ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_syntax() {
        assert_eq!(components("").unwrap(), Vec::<&str>::new());
        assert_eq!(components(".").unwrap(), Vec::<&str>::new());
        assert_eq!(components("a/b.txt").unwrap(), vec!["a", "b.txt"]);
        assert_eq!(components("dir/").unwrap(), vec!["dir"]);
        for bad in [
            "/etc/passwd",
            "..",
            "a/../b",
            "a//b",
            "./a",
            "a/./b",
            "a\0b",
        ] {
            assert!(
                matches!(components(bad), Err(FileError::InvalidPath { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(components(&"a".repeat(256)).is_err());
        assert!(components(&"a/".repeat(3000)).is_err());
    }

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        (dir, ws)
    }

    #[tokio::test]
    async fn write_read_list_remove() {
        let (dir, ws) = ws();
        let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        let e = ws.write("sub/deep/f.bin", &data[..]).await.unwrap();
        assert_eq!(
            (e.size, e.kind, e.path.as_str()),
            (300_000, FileKind::File, "sub/deep/f.bin")
        );
        assert_eq!(
            std::fs::read(dir.path().join("sub/deep/f.bin")).unwrap(),
            data
        );
        assert_eq!(ws.read_small("sub/deep/f.bin", 1 << 20).unwrap(), data);
        assert!(ws.read_small("sub/deep/f.bin", 10).is_none());
        let list = ws.list("sub").unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].name.as_str(), list[0].kind),
            ("deep", FileKind::Directory)
        );
        // Replacing keeps no temporary file behind.
        ws.write("sub/deep/f.bin", &b"x"[..]).await.unwrap();
        assert_eq!(ws.list("sub/deep").unwrap().len(), 1);
        ws.remove("sub").unwrap();
        assert!(!dir.path().join("sub").exists());
        assert!(matches!(ws.remove("sub"), Err(FileError::NotFound(_))));
    }

    #[tokio::test]
    async fn symlinks_and_fifos_are_never_followed() {
        let (dir, ws) = ws();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("ln")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("dirln")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("up")).unwrap();
        for p in ["ln", "dirln/secret", "up/x"] {
            assert!(
                matches!(ws.read(p), Err(FileError::Forbidden { .. })),
                "{p} was read"
            );
        }
        assert!(matches!(
            ws.write("dirln/new", &b"x"[..]).await,
            Err(FileError::Forbidden { .. })
        ));
        assert!(!outside.path().join("new").exists());
        assert!(matches!(ws.list("dirln"), Err(FileError::Forbidden { .. })));
        // Deleting a symlink removes the link, not its target.
        ws.remove("dirln").unwrap();
        assert!(outside.path().join("secret").exists());
        // Writing over a symlink replaces it; the target is untouched.
        ws.write("ln", &b"new"[..]).await.unwrap();
        assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"s");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("fifo").as_path(),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(ws.read("fifo"), Err(FileError::Forbidden { .. })));
        let snap = ws.snapshot();
        assert_eq!(snap.0.keys().collect::<Vec<_>>(), vec!["ln"]);
    }

    #[tokio::test]
    async fn snapshot_reports_created_and_changed_files() {
        let (_dir, ws) = ws();
        ws.write("a.txt", &b"1"[..]).await.unwrap();
        ws.write("keep.txt", &b"1"[..]).await.unwrap();
        let before = ws.snapshot();
        ws.write("a.txt", &b"22"[..]).await.unwrap();
        ws.write("d/b.txt", &b"333"[..]).await.unwrap();
        let changed = ws.snapshot().changed_since(&before);
        assert_eq!(
            changed,
            vec![("a.txt".to_string(), 2), ("d/b.txt".to_string(), 3)]
        );
    }
}
