//! The language runtimes a sandbox can start, and how code is handed to them.

use std::path::{Path, PathBuf};

use crate::error::JailError;

/// An interpreter on the host, run at the same path inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub name: &'static str,
    /// Absolute path of the interpreter (never looked up on PATH: a user-local
    /// interpreter earlier on PATH must not be bound into sandboxes).
    pub program: PathBuf,
    /// Arguments before the code file.
    pub args: Vec<String>,
    /// The code file's name under `/run/warden`.
    pub file_name: &'static str,
    /// Extra environment for this runtime.
    pub env: Vec<(String, String)>,
}

impl Runtime {
    pub fn python() -> Runtime {
        Runtime {
            name: "python",
            program: "/usr/bin/python3".into(),
            // -s: no user site; -B: no .pyc writes; -u: unbuffered streams.
            args: vec!["-s".into(), "-B".into(), "-u".into()],
            file_name: "main.py",
            env: vec![("PYTHONPATH".into(), "/workspace".into())],
        }
    }

    pub fn javascript() -> Runtime {
        Runtime {
            name: "javascript",
            program: "/usr/bin/node".into(),
            args: vec![],
            file_name: "main.js",
            env: vec![("NODE_PATH".into(), "/workspace/node_modules".into())],
        }
    }

    pub fn bash() -> Runtime {
        Runtime {
            name: "bash",
            program: "/bin/bash".into(),
            args: vec!["--noprofile".into(), "--norc".into()],
            file_name: "main.sh",
            env: vec![],
        }
    }

    /// The code file's path inside the sandbox.
    pub fn code_path(&self) -> PathBuf {
        Path::new("/run/warden").join(self.file_name)
    }

    /// Fails with [`JailError::RuntimeNotFound`] when the interpreter is not installed.
    pub fn check(&self) -> Result<(), JailError> {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(&self.program) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
            _ => Err(JailError::RuntimeNotFound {
                path: self.program.clone(),
                hint: match self.name {
                    "python" => "install Debian's python3 (apt-get install python3)".into(),
                    "javascript" => "install node (apt-get install nodejs)".into(),
                    _ => format!("install {}", self.name),
                },
            }),
        }
    }

    /// The interpreter's version line, for `warden doctor`.
    pub fn version(&self) -> Option<String> {
        let out = std::process::Command::new(&self.program)
            .arg("--version")
            .env_clear()
            .output()
            .ok()?;
        let text = if out.stdout.is_empty() {
            out.stderr
        } else {
            out.stdout
        };
        String::from_utf8_lossy(&text)
            .lines()
            .next()
            .map(str::to_string)
    }
}
