//! Installs Python packages for templates and package sets: pip runs inside a sandbox of
//! its own whose only way out is warden's index proxy (see [`crate::index_proxy`]), into
//! the sandbox's workspace, which is copied out to a staging directory when pip is done.
//! A second sandbox, without any network, then checks the result: it lists the installed
//! distributions and imports the modules to preload. Only a checked result is published
//! (by the caller, with a rename).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use warden_jail::{Bind, Command, Jail, Limits, OutputSink, Runtime, Stream};

use crate::index_proxy::{allowed_for_index, IndexProxy};

/// The script that runs pip and npm behind the index proxy (see
/// `runtimes/python/pip_install.py`).
pub const PIP_INSTALL: &str = include_str!("../../../runtimes/python/pip_install.py");
/// Where a result being checked appears in the checking sandbox.
const CHECK_INSIDE: &str = "/opt/warden/check";

/// The script of the checking sandbox: prints the distributions as JSON, then imports
/// each module named in argv (the preload list), printing the first that fails.
const CHECK_SCRIPT: &str = r#"
import importlib, importlib.metadata, json, sys
site = sys.argv[1]
sys.path.insert(0, site)
dists = sorted({(d.metadata["Name"], d.version) for d in importlib.metadata.distributions(path=[site])})
failed = None
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except BaseException as e:
        failed = {"module": name, "error": "%s: %s" % (type(e).__name__, e)}
        break
print(json.dumps({"distributions": dists, "failed": failed, "python": "%d.%d" % sys.version_info[:2]}))
"#;

/// What an install is asked to do.
#[derive(Debug, Clone)]
pub struct InstallSpec {
    /// pip requirements (already checked against an allowlist where one applies).
    pub requirements: Vec<String>,
    /// npm packages (registry names, optionally `@version`), installed into `node/`.
    pub npm: Vec<String>,
    /// Modules that must import from the result (a template's preload list).
    pub preload: Vec<String>,
    /// The whole install's time limit.
    pub timeout: Duration,
    /// Memory of the installer's sandbox (the installed files count: its workspace is
    /// memory-backed).
    pub memory_mb: u64,
}

impl Default for InstallSpec {
    fn default() -> Self {
        InstallSpec {
            requirements: Vec::new(),
            npm: Vec::new(),
            preload: Vec::new(),
            timeout: Duration::from_secs(600),
            memory_mb: 4096,
        }
    }
}

/// A checked installation in its staging directory.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The staging directory; `site-packages` below it holds the packages.
    pub dir: PathBuf,
    /// (name, version) of every distribution installed, sorted.
    pub distributions: Vec<(String, String)>,
    /// Tunnels the index proxy opened for this install.
    pub index_connections: u64,
    /// The interpreter's `major.minor`.
    pub python: String,
}

/// Why an install failed; the message carries the installer's own words.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0}")]
    Failed(String),
    #[error("cannot run the installer: {0}")]
    Setup(String),
}

/// Runs installs; one per server or CLI invocation.
pub struct Installer {
    jail: Arc<Jail>,
    /// Scratch space on the same file system as the published results (proxy sockets,
    /// staging directories).
    work_dir: PathBuf,
    index_url: Option<String>,
}

/// Receives the installer's output as it comes (progress for a person watching).
pub type OnOutput = Box<dyn FnMut(&[u8]) + Send>;

/// Passes the installer's output on as it comes.
struct Forward<'a>(&'a mut (dyn FnMut(&[u8]) + Send));

impl OutputSink for Forward<'_> {
    fn output(&mut self, _stream: Stream, data: &[u8]) {
        (self.0)(data)
    }
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> InstallError + '_ {
    move |e| InstallError::Setup(format!("{what}: {e}"))
}

/// The last `n` bytes of some output, as text.
fn tail(bytes: &[u8], n: usize) -> String {
    let start = bytes.len().saturating_sub(n);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

impl Installer {
    /// `work_dir` must be on the file system where results are published.
    pub fn new(jail: Arc<Jail>, work_dir: PathBuf, index_url: Option<String>) -> Installer {
        Installer {
            jail,
            work_dir,
            index_url,
        }
    }

    /// The index packages come from, for cache keys.
    pub fn index(&self) -> &str {
        self.index_url
            .as_deref()
            .unwrap_or("https://pypi.org/simple")
    }

    /// Installs into a new staging directory under the work directory and checks the
    /// result. `on_output` sees pip's output as it comes. The caller publishes or
    /// removes the staging directory.
    pub async fn install(
        &self,
        spec: &InstallSpec,
        on_output: OnOutput,
    ) -> Result<Installed, InstallError> {
        let mut allowed =
            allowed_for_index(self.index_url.as_deref()).map_err(InstallError::Setup)?;
        if !spec.npm.is_empty() {
            for spec in &spec.npm {
                check_npm_spec(spec).map_err(InstallError::Failed)?;
            }
            allowed.push(crate::index_proxy::AllowedHost {
                host: "registry.npmjs.org".into(),
                port: 443,
            });
        }
        std::fs::create_dir_all(&self.work_dir).map_err(setup("create the work directory"))?;
        let scratch = tempfile::Builder::new()
            .prefix("install-")
            .tempdir_in(&self.work_dir)
            .map_err(setup("create a scratch directory"))?;
        let staging = self.work_dir.join(format!(
            "staging-{}",
            scratch
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));

        let mut cmd = Command::for_runtime(&Runtime::python(), PIP_INSTALL);
        cmd.args.extend([
            format!("http://127.0.0.1:{}", crate::egress::PROXY_PORT),
            "--".into(),
        ]);
        if !spec.requirements.is_empty() {
            cmd.args.extend(
                [
                    "--target".to_string(),
                    "/workspace/site-packages".into(),
                    "--prefer-binary".into(),
                    "--no-warn-script-location".into(),
                ]
                .into_iter()
                .chain(
                    self.index_url
                        .iter()
                        .flat_map(|u| ["--index-url".to_string(), u.clone()]),
                )
                .chain(spec.requirements.iter().cloned()),
            );
        }
        if !spec.npm.is_empty() {
            cmd.args.extend(
                [
                    "--then-npm",
                    "install",
                    "--prefix",
                    "/workspace/node",
                    "--no-package-lock",
                    "--ignore-scripts",
                ]
                .into_iter()
                .map(str::to_string)
                .chain(spec.npm.iter().cloned()),
            );
        }
        // The index proxy's one way in: a listener inside the sandbox's namespace.
        cmd.listen_inside = Some(crate::egress::PROXY_PORT);
        cmd.keep_workspace = Some(staging.clone());
        cmd.limits = Limits {
            timeout: spec.timeout,
            memory_bytes: spec.memory_mb << 20,
            pids: 256,
            file_size_bytes: 1 << 30,
            workspace_bytes: spec.memory_mb << 20,
            tmp_bytes: 1 << 30,
            output_bytes: 1 << 20,
            ..Limits::default()
        };
        let jail = self.jail.clone();
        let ran = tokio::task::spawn_blocking(move || {
            let mut on_output = on_output;
            let mut sandbox = jail
                .spawn(cmd)
                .map_err(setup("start the installer's sandbox"))?;
            let listener = sandbox.take_listener().ok_or_else(|| {
                InstallError::Setup("the installer's sandbox has no proxy listener".into())
            })?;
            // Served until this closure ends; dropping the sandbox kills it on an error.
            let proxy =
                IndexProxy::start(listener, allowed).map_err(setup("start the index proxy"))?;
            let outcome = sandbox
                .wait(&mut Forward(&mut *on_output))
                .map_err(setup("run the installer's sandbox"))?;
            Ok((outcome, proxy.opened(), proxy.refused_targets()))
        })
        .await
        .map_err(setup("run the installer"))?;
        let (outcome, opened, refused) = match ran {
            Ok(o) => o,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        if outcome.exit != warden_jail::Exit::Code(0) {
            let _ = std::fs::remove_dir_all(&staging);
            let mut message = match outcome.limit {
                Some(warden_jail::LimitHit::Timeout) => format!(
                    "the install took longer than {} s",
                    spec.timeout.as_secs_f64()
                ),
                Some(warden_jail::LimitHit::Memory) => format!(
                    "the install needed more than {} MiB of memory",
                    spec.memory_mb
                ),
                _ => "the install failed".to_string(),
            };
            let output = [
                outcome.stdout.bytes.as_slice(),
                b"\n",
                &outcome.stderr.bytes,
            ]
            .concat();
            let last = tail(&output, 2000);
            if !last.is_empty() {
                message.push_str(":\n");
                message.push_str(&last);
            }
            if !refused.is_empty() {
                message.push_str(&format!(
                    "\n(the index proxy refused: {})",
                    refused.join(", ")
                ));
            }
            return Err(InstallError::Failed(message));
        }
        let site = staging.join("site-packages");
        if !site.is_dir() {
            std::fs::create_dir_all(&site).map_err(setup("create site-packages"))?;
        }
        // Every npm package asked for must be there.
        for name in spec.npm.iter().map(|s| npm_name(s)) {
            if !staging
                .join("node/node_modules")
                .join(name)
                .join("package.json")
                .is_file()
            {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(InstallError::Failed(format!(
                    "npm package {name} is missing from the result"
                )));
            }
        }
        match self.check(&staging, &spec.preload).await {
            Ok((distributions, python)) => Ok(Installed {
                dir: staging,
                distributions,
                index_connections: opened,
                python,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }

    /// Lists what `dir/site-packages` holds and imports `preload` from it, in a sandbox
    /// without network.
    async fn check(
        &self,
        dir: &Path,
        preload: &[String],
    ) -> Result<(Vec<(String, String)>, String), InstallError> {
        #[derive(Deserialize)]
        struct Report {
            distributions: Vec<(String, String)>,
            failed: Option<Failed>,
            python: String,
        }
        #[derive(Deserialize)]
        struct Failed {
            module: String,
            error: String,
        }
        let mut cmd = Command::for_runtime(&Runtime::python(), CHECK_SCRIPT);
        cmd.args.push(format!("{CHECK_INSIDE}/site-packages"));
        cmd.args.extend(preload.iter().cloned());
        cmd.binds = vec![Bind {
            host: dir.to_path_buf(),
            inside: CHECK_INSIDE.into(),
        }];
        cmd.env.push(("MPLBACKEND".into(), "Agg".into()));
        cmd.limits = Limits {
            timeout: Duration::from_secs(120),
            memory_bytes: 2 << 30,
            pids: 128,
            ..Limits::default()
        };
        let jail = self.jail.clone();
        let outcome = tokio::task::spawn_blocking(move || jail.run(cmd, &mut warden_jail::Discard))
            .await
            .map_err(setup("run the check"))?
            .map_err(setup("start the check's sandbox"))?;
        let stdout = String::from_utf8_lossy(&outcome.stdout.bytes);
        let report: Report = serde_json::from_str(stdout.trim()).map_err(|_| {
            InstallError::Failed(format!(
                "checking the installed packages failed:\n{}",
                tail(&outcome.stderr.bytes, 2000)
            ))
        })?;
        if let Some(f) = report.failed {
            return Err(InstallError::Failed(format!(
                "module {} does not import from the result: {}",
                f.module, f.error
            )));
        }
        Ok((report.distributions, report.python))
    }
}

/// The package name of an npm spec (`lodash@4.17.21` → `lodash`, `@scope/x@1` →
/// `@scope/x`).
pub fn npm_name(spec: &str) -> &str {
    let at = spec.char_indices().skip(1).find(|(_, c)| *c == '@');
    at.map_or(spec, |(i, _)| &spec[..i])
}

/// Accepts registry packages only: `name`, `@scope/name`, optionally `@version-or-range`;
/// no URLs, paths, git or tarballs, no options.
pub fn check_npm_spec(spec: &str) -> Result<(), String> {
    let name = npm_name(spec);
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && !p.starts_with('_')
            && p.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'_' | b'~')
            })
    };
    let name_ok = match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, pkg)| part_ok(scope) && part_ok(pkg)),
        None => part_ok(name),
    } && name.len() <= 214;
    let version = &spec[name.len()..];
    let version_ok = version.is_empty()
        || (version.len() > 1
            && version[1..].bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'.' | b'-' | b'+' | b'^' | b'~' | b'<' | b'>' | b'=' | b'*' | b' ' | b'|'
                    )
            }));
    if name_ok && version_ok && spec.len() <= 256 {
        Ok(())
    } else {
        Err(format!(
            "{spec:?} is not an npm registry package (name or @scope/name, optionally @version)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_specs_are_registry_packages_only() {
        for good in [
            "lodash",
            "lodash@4.17.21",
            "@types/node@^20",
            "left-pad@~1.3.0",
            "a.b_c",
        ] {
            check_npm_spec(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "--registry=https://evil.example",
            "git+https://github.com/x/y",
            "https://example.com/x.tgz",
            "./local",
            "file:../x",
            "Upper",
            "@scope",
            "x@",
            "x@$(id)",
            "github:user/repo",
            "é@1",
            "@",
        ] {
            assert!(check_npm_spec(bad).is_err(), "{bad}");
        }
        assert_eq!(npm_name("@types/node@^20"), "@types/node");
        assert_eq!(npm_name("lodash@4"), "lodash");
        assert_eq!(npm_name("lodash"), "lodash");
    }
}
