//! A session: one sandbox running a long-lived interpreter agent, whose namespace and
//! `/workspace` persist across cells.
//!
//! The agent reads requests on fd 3 and writes replies on fd 4; the cell's stdout and
//! stderr are the sandbox's own streams, read here as they happen. A reply is written
//! only after the cell has flushed its streams, so once the reply is read, everything the
//! cell printed is already in the pipes and is drained into the result.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use warden_jail::{Discard, Jail, LimitHit, Limits, Outcome, Sandbox};
use warden_protocol::Language;

use crate::agent::agent_command;
use crate::error::{DeathReason, EngineError};
use crate::protocol::{self, CellError, Decoder, MimeBundle, Reply, Request};

/// How long a new agent may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Limits of a session: the sandbox's limits for the session's whole life (its
/// `timeout` is the session's maximum lifetime), plus per-cell settings.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    pub sandbox: Limits,
    /// After a cell's timeout the cell is interrupted; if it has not stopped this much
    /// later, the session is killed.
    pub interrupt_grace: Duration,
    /// Bytes of stdout and of stderr kept per cell.
    pub cell_output_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            sandbox: Limits {
                timeout: Duration::from_secs(24 * 3600),
                cpu_time: Some(Duration::from_secs(24 * 3600)),
                workspace_bytes: 512 << 20,
                file_size_bytes: 512 << 20,
                ..Limits::default()
            },
            interrupt_grace: Duration::from_secs(2),
            cell_output_bytes: 1 << 20,
        }
    }
}

/// Output as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Ok,
    Error,
}

/// Output of one stream of a cell, kept up to a cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOutput {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

impl StreamOutput {
    pub(crate) fn push(&mut self, data: &[u8], cap: usize) {
        let room = cap.saturating_sub(self.bytes.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// The result of one cell.
#[derive(Debug, Clone)]
pub struct CellResult {
    pub status: CellStatus,
    pub execution_count: u64,
    /// The value of the cell's final expression, as a MIME bundle.
    pub value: Option<MimeBundle>,
    pub error: Option<CellError>,
    /// Rich outputs: matplotlib figures, `display(...)` calls.
    pub outputs: Vec<MimeBundle>,
    pub stdout: StreamOutput,
    pub stderr: StreamOutput,
    /// The cell's timeout fired and the cell was interrupted (it then stopped in time).
    pub timed_out: bool,
    pub duration: Duration,
    /// The variable `result`, when [`CellIo::result`] asked for it.
    pub result: Option<serde_json::Value>,
}

/// A live session.
pub struct Session {
    language: Language,
    tier: warden_protocol::Tier,
    sandbox: Option<Sandbox>,
    requests: pipe::Sender,
    replies: pipe::Receiver,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    /// The same pipes, for draining with real `read` calls: tokio's `try_read` answers
    /// from cached readiness and can miss bytes the kernel already holds.
    stdout_raw: std::fs::File,
    stderr_raw: std::fs::File,
    decoder: Decoder,
    next_id: u64,
    dead: Option<DeathReason>,
    limits: SessionLimits,
    /// The program closed its stdout / stderr (it may go on running).
    stdout_closed: bool,
    stderr_closed: bool,
    /// The proxy serving the sandbox's egress listener, if it has network.
    egress: Option<EgressTask>,
}

/// A sandbox's egress proxy task; stopped (with its tunnels) when dropped.
struct EgressTask {
    gate: Arc<crate::egress::Gate>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EgressTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bytes read from a pipe at a time.
const READ_BUFFER: usize = 64 << 10;

/// Read buffers of finished cells, reused by the next ones (a fresh zeroed 64 KiB per
/// cell is measurable on a sub-millisecond round trip); at most as many are kept as
/// cells ran at once, up to [`KEPT_BUFFERS`].
static BUFFERS: std::sync::Mutex<Vec<Box<[u8]>>> = std::sync::Mutex::new(Vec::new());
const KEPT_BUFFERS: usize = 64;

fn take_buffer() -> Box<[u8]> {
    BUFFERS
        .lock()
        .ok()
        .and_then(|mut b| b.pop())
        .unwrap_or_else(|| vec![0u8; READ_BUFFER].into_boxed_slice())
}

fn return_buffer(buf: Box<[u8]>) {
    if let Ok(mut b) = BUFFERS.lock() {
        if b.len() < KEPT_BUFFERS {
            b.push(buf);
        }
    }
}

fn receiver(fd: OwnedFd) -> Result<pipe::Receiver, EngineError> {
    Ok(pipe::Receiver::from_owned_fd(fd)?)
}

/// Where a template's files appear in its sandboxes.
pub const TEMPLATE_INSIDE: &str = "/opt/warden/template";

/// What a session's sandbox carries beyond its language's runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Environment {
    pub template: Option<TemplateMount>,
    /// The package cache, bound read-only at [`CACHE_INSIDE`] (Python sessions): a
    /// session adds the sets it asks for to `sys.path` (see [`Session::add_paths`]).
    pub cache: Option<std::path::PathBuf>,
    /// The host directory of the stand-ins for pip (see [`crate::tools`]).
    pub tools: Option<std::path::PathBuf>,
    /// The isolation tier the sandbox runs on.
    pub tier: warden_protocol::Tier,
}

/// What a cell exchanges with its code besides output: `input` bound before it runs,
/// and whether the variable `result` comes back.
#[derive(Debug, Clone, Copy, Default)]
pub struct CellIo<'a> {
    pub input: Option<&'a serde_json::Value>,
    pub result: bool,
}

/// A template's build, bound read-only at [`TEMPLATE_INSIDE`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemplateMount {
    pub name: String,
    /// The build's directory name (pools are kept per build).
    pub build: String,
    pub dir: std::path::PathBuf,
    /// Modules the agent imports before it reports ready.
    pub preload: Vec<String>,
}

/// Where the package cache appears in Python sandboxes.
pub const CACHE_INSIDE: &str = "/opt/warden/cache";

/// Where a cached package set's modules are, inside a sandbox.
pub fn package_path(key: &str) -> String {
    format!("{CACHE_INSIDE}/{key}/site-packages")
}

impl Environment {
    /// The template build this environment uses, if any (part of the pool key).
    pub fn build(&self) -> Option<&str> {
        self.template.as_ref().map(|t| t.build.as_str())
    }

    /// Sets `cmd` up for this environment. With `network`, pip is the real one (its
    /// downloads go through the egress proxy), not the stand-in that says there is none.
    fn apply(&self, cmd: &mut warden_jail::Command, network: bool) {
        cmd.tier = match self.tier {
            warden_protocol::Tier::Namespaces => warden_jail::Tier::Namespaces,
            warden_protocol::Tier::Gvisor => warden_jail::Tier::Gvisor,
        };
        let mut path = vec!["/workspace".to_string()];
        if let Some(tools) = self.tools.as_ref().filter(|_| !network) {
            use crate::tools::TOOLS_INSIDE;
            cmd.binds.push(warden_jail::Bind {
                host: tools.clone(),
                inside: TOOLS_INSIDE.into(),
            });
            path.push(format!("{TOOLS_INSIDE}/python"));
            let bin = warden_jail::BASE_ENV
                .iter()
                .find(|(k, _)| *k == "PATH")
                .map_or("/usr/bin:/bin", |(_, v)| v);
            cmd.env
                .push(("PATH".into(), format!("{TOOLS_INSIDE}/bin:{bin}")));
        }
        if let Some(cache) = &self.cache {
            cmd.binds.push(warden_jail::Bind {
                host: cache.clone(),
                inside: CACHE_INSIDE.into(),
            });
        }
        if let Some(t) = &self.template {
            cmd.binds.push(warden_jail::Bind {
                host: t.dir.clone(),
                inside: TEMPLATE_INSIDE.into(),
            });
            path.push(format!("{TEMPLATE_INSIDE}/site-packages"));
            cmd.env.push((
                "NODE_PATH".into(),
                format!("{TEMPLATE_INSIDE}/node/node_modules"),
            ));
            if !t.preload.is_empty() {
                cmd.env.push(("WARDEN_PRELOAD".into(), t.preload.join(" ")));
            }
        }
        if path.len() > 1 {
            cmd.env.retain(|(k, _)| k != "PYTHONPATH");
            cmd.env.push(("PYTHONPATH".into(), path.join(":")));
        }
    }
}

impl Session {
    /// Starts a sandbox with the language's agent and waits until it is ready.
    pub async fn start(
        jail: Arc<Jail>,
        language: Language,
        limits: SessionLimits,
        env: &Environment,
        egress: Option<Arc<crate::egress::Gate>>,
    ) -> Result<Session, EngineError> {
        let mut cmd = agent_command(language);
        cmd.limits = limits.sandbox.clone();
        env.apply(&mut cmd, egress.is_some());
        if egress.is_some() {
            crate::egress::prepare_command(&mut cmd, language == Language::Javascript, false);
        }
        let (req_r, req_w) = std::io::pipe()?;
        let (rep_r, rep_w) = std::io::pipe()?;
        cmd.extra_fds = vec![OwnedFd::from(req_r), OwnedFd::from(rep_w)];
        let mut sandbox = tokio::task::spawn_blocking(move || jail.spawn(cmd))
            .await
            .map_err(|e| EngineError::Protocol(format!("spawn task failed: {e}")))??;
        let stdout = sandbox
            .take_stdout()
            .ok_or_else(|| EngineError::Protocol("no stdout".into()))?;
        let stderr = sandbox
            .take_stderr()
            .ok_or_else(|| EngineError::Protocol("no stderr".into()))?;
        let stdout_raw = std::fs::File::from(stdout.try_clone()?);
        let stderr_raw = std::fs::File::from(stderr.try_clone()?);
        let egress = match (egress, sandbox.take_listener()) {
            (Some(gate), Some(listener)) => {
                let listener = crate::index_proxy::ProxyListener::from_jail(listener)?;
                let task = tokio::spawn(crate::index_proxy::serve_egress(
                    listener,
                    Arc::clone(&gate),
                ));
                Some(EgressTask { gate, task })
            }
            _ => None,
        };
        let mut session = Session {
            language,
            tier: env.tier,
            requests: pipe::Sender::from_owned_fd(OwnedFd::from(req_w))?,
            replies: receiver(OwnedFd::from(rep_r))?,
            stdout: receiver(stdout)?,
            stderr: receiver(stderr)?,
            stdout_raw,
            stderr_raw,
            sandbox: Some(sandbox),
            decoder: Decoder::default(),
            next_id: 1,
            dead: None,
            limits,
            stdout_closed: false,
            stderr_closed: false,
            egress,
        };
        match tokio::time::timeout(READY_TIMEOUT, session.next_reply()).await {
            Ok(Ok(Reply::Ready { .. })) => Ok(session),
            Ok(Ok(other)) => Err(EngineError::Protocol(format!(
                "expected ready, got {other:?}"
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(EngineError::Protocol(
                "the agent did not become ready".into(),
            )),
        }
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// The isolation tier its sandbox runs on.
    pub fn tier(&self) -> warden_protocol::Tier {
        self.tier
    }

    /// The sandbox's egress gate, when it has network.
    pub fn egress(&self) -> Option<&Arc<crate::egress::Gate>> {
        self.egress.as_ref().map(|e| &e.gate)
    }

    /// Why the session ended, if it has.
    pub fn dead(&self) -> Option<DeathReason> {
        self.dead
    }

    /// The host directory behind the session's `/workspace`.
    pub fn workspace(&self) -> Option<&std::path::Path> {
        self.sandbox.as_ref().map(|s| s.workspace())
    }

    /// Interrupts the running cell (Python sees KeyboardInterrupt), as Ctrl-C would: the
    /// interpreter and the processes it started get SIGINT. Harmless when idle.
    pub fn interrupt(&self) -> Result<(), EngineError> {
        let sandbox = self
            .sandbox
            .as_ref()
            .ok_or(EngineError::SessionDead(DeathReason::Closed))?;
        sandbox.signal_program_tree(libc::SIGINT)?;
        Ok(())
    }

    /// A handle that interrupts this session's cells while it is busy.
    pub fn interrupter(&self) -> Result<warden_jail::Signaller, EngineError> {
        let sandbox = self
            .sandbox
            .as_ref()
            .ok_or(EngineError::SessionDead(DeathReason::Closed))?;
        Ok(sandbox.signaller()?)
    }

    /// Whether the sandbox still runs (a pooled session may have been killed meanwhile).
    pub fn alive(&self) -> bool {
        self.dead.is_none() && self.sandbox.as_ref().is_some_and(|s| !s.has_ended())
    }

    /// Puts directories at the front of a Python session's module search path (after
    /// `/workspace`): package sets from the cache, added when asked for.
    pub async fn add_paths(&mut self, paths: &[String]) -> Result<(), EngineError> {
        if paths.is_empty() {
            return Ok(());
        }
        if let Some(reason) = self.dead {
            return Err(EngineError::SessionDead(reason));
        }
        if self.language != Language::Python {
            return Err(EngineError::Invalid(format!(
                "packages are Python packages; {} sessions cannot ask for them",
                self.language
            )));
        }
        let id = self.next_id;
        self.next_id += 1;
        let frame = protocol::encode(&Request::Paths { id, paths });
        if self.requests.write_all(&frame).await.is_err() {
            return Err(self.died().await);
        }
        match tokio::time::timeout(READY_TIMEOUT, self.next_reply()).await {
            Ok(Ok(Reply::Pong { id: rid })) if rid == id => Ok(()),
            Ok(Ok(Reply::Error { message, .. })) => Err(EngineError::Protocol(message)),
            Ok(Ok(other)) => Err(EngineError::Protocol(format!(
                "expected the paths to be added, got {other:?}"
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(EngineError::Protocol(
                "the agent did not add the package paths".into(),
            )),
        }
    }

    /// CPU time the session has used so far (see [`Sandbox::cpu_usage`]).
    pub fn cpu_usage(&self) -> Option<Duration> {
        self.sandbox.as_ref()?.cpu_usage()
    }

    /// The session's highest memory use so far, in bytes.
    pub fn peak_memory(&self) -> Option<u64> {
        self.sandbox.as_ref()?.peak_memory()
    }

    /// The session's memory use now, in bytes.
    pub fn current_memory(&self) -> Option<u64> {
        self.sandbox.as_ref()?.current_memory()
    }

    /// The host pid of the interpreter (for tests and diagnostics).
    pub fn agent_pid(&self) -> Option<i32> {
        self.sandbox.as_ref().and_then(|s| s.program_pid())
    }

    /// Reads until one complete reply has arrived (output arriving meanwhile stays in
    /// the pipes for the next cell).
    async fn next_reply(&mut self) -> Result<Reply, EngineError> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            if let Some(reply) = self.decoder.next_reply().map_err(EngineError::Protocol)? {
                return Ok(reply);
            }
            self.replies.readable().await?;
            match self.replies.try_read(&mut buf) {
                Ok(0) => return Err(self.died().await),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs one cell. Output is passed to `on_event` as it happens and kept in the
    /// result. A `timeout` interrupts the cell; if it has not stopped after the grace
    /// period the session is killed and the error is `SessionDead(Timeout)`.
    pub async fn execute(
        &mut self,
        code: &str,
        timeout: Duration,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<CellResult, EngineError> {
        self.execute_with(code, CellIo::default(), timeout, on_event)
            .await
    }

    /// [`Session::execute`] with an input for the code and its `result` sent back.
    pub async fn execute_with(
        &mut self,
        code: &str,
        io: CellIo<'_>,
        timeout: Duration,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<CellResult, EngineError> {
        let mut buf = take_buffer();
        let result = self.run_cell(code, io, timeout, on_event, &mut buf).await;
        return_buffer(buf);
        result
    }

    async fn run_cell(
        &mut self,
        code: &str,
        io: CellIo<'_>,
        timeout: Duration,
        on_event: &mut (dyn FnMut(Event) + Send),
        buf: &mut [u8],
    ) -> Result<CellResult, EngineError> {
        if let Some(reason) = self.dead {
            return Err(EngineError::SessionDead(reason));
        }
        if self.language == Language::Bash && code.contains('\0') {
            // bash strings cannot hold NUL bytes: the agent would miscount the code.
            return Err(EngineError::Invalid(
                "bash code cannot contain NUL bytes".into(),
            ));
        }
        if self.language == Language::Bash && (io.input.is_some() || io.result) {
            return Err(EngineError::Invalid(
                "input and result are for python and javascript, not bash".into(),
            ));
        }
        let started = Instant::now();
        let id = self.next_id;
        self.next_id += 1;
        let request = Request::Execute {
            id,
            code,
            input: io.input,
            result: io.result,
        };
        let frame = protocol::encode_for(self.language, &request);
        if self.requests.write_all(&frame).await.is_err() {
            return Err(self.died().await);
        }

        let cap = self.limits.cell_output_bytes;
        let mut out = StreamOutput::default();
        let mut err = StreamOutput::default();
        let mut deadline = tokio::time::Instant::now() + timeout;
        let mut timed_out = false;
        loop {
            // Complete replies first: a reply means the cell is over.
            while let Some(reply) = self.decoder.next_reply().map_err(EngineError::Protocol)? {
                if let Reply::Result {
                    id: rid,
                    execution_count,
                    status,
                    value,
                    error,
                    outputs,
                    result,
                } = reply
                {
                    if rid != id {
                        continue;
                    }
                    self.drain(buf, &mut out, &mut err, cap, on_event);
                    return Ok(CellResult {
                        status: if status == "ok" {
                            CellStatus::Ok
                        } else {
                            CellStatus::Error
                        },
                        execution_count,
                        value,
                        error,
                        outputs,
                        stdout: out,
                        stderr: err,
                        timed_out,
                        duration: started.elapsed(),
                        result: io.result.then(|| result.unwrap_or(serde_json::Value::Null)),
                    });
                }
            }
            tokio::select! {
                r = self.replies.readable() => {
                    r?;
                    match self.replies.try_read(buf) {
                        Ok(0) => {
                            self.drain(buf, &mut out, &mut err, cap, on_event);
                            return Err(self.died().await);
                        }
                        Ok(n) => self.decoder.push(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                r = self.stdout.readable(), if !self.stdout_closed => {
                    r?;
                    if read_some(&self.stdout, buf, &mut out, cap, on_event, Event::Stdout) == Read::Eof {
                        self.stdout_closed = true;
                    }
                }
                r = self.stderr.readable(), if !self.stderr_closed => {
                    r?;
                    if read_some(&self.stderr, buf, &mut err, cap, on_event, Event::Stderr) == Read::Eof {
                        self.stderr_closed = true;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if timed_out {
                        self.kill(DeathReason::Timeout).await;
                        return Err(EngineError::SessionDead(DeathReason::Timeout));
                    }
                    timed_out = true;
                    let _ = self.interrupt();
                    deadline = tokio::time::Instant::now() + self.limits.interrupt_grace;
                }
            }
        }
    }

    /// Reads whatever output is already in the pipes.
    fn drain(
        &self,
        buf: &mut [u8],
        out: &mut StreamOutput,
        err: &mut StreamOutput,
        cap: usize,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) {
        while drain_once(&self.stdout_raw, buf, out, cap, on_event, Event::Stdout) {}
        while drain_once(&self.stderr_raw, buf, err, cap, on_event, Event::Stderr) {}
    }

    /// The agent is gone: find out why, tear the sandbox down, and remember it.
    async fn died(&mut self) -> EngineError {
        let reason = match self.sandbox.take() {
            Some(sandbox) => {
                let outcome = tokio::task::spawn_blocking(move || sandbox.wait(&mut Discard)).await;
                match outcome {
                    Ok(Ok(o)) => reason_of(&o),
                    _ => DeathReason::Exited,
                }
            }
            None => self.dead.unwrap_or(DeathReason::Closed),
        };
        self.dead = Some(reason);
        EngineError::SessionDead(reason)
    }

    async fn kill(&mut self, reason: DeathReason) -> Option<Outcome> {
        self.dead = Some(reason);
        let sandbox = self.sandbox.take()?;
        sandbox.kill();
        tokio::task::spawn_blocking(move || sandbox.wait(&mut Discard).ok())
            .await
            .ok()
            .flatten()
    }

    /// Ends the session and its sandbox; every process, mount and cgroup is gone after.
    pub async fn close(mut self) -> Option<Outcome> {
        self.kill(DeathReason::Closed).await
    }
}

fn reason_of(o: &Outcome) -> DeathReason {
    match o.limit {
        Some(LimitHit::Memory) => DeathReason::MemoryLimit,
        Some(LimitHit::CpuTime) => DeathReason::CpuLimit,
        Some(LimitHit::Timeout) => DeathReason::Timeout,
        None => DeathReason::Exited,
    }
}

/// One real, non-blocking `read` (the pipe is O_NONBLOCK); true when data came.
fn drain_once(
    mut file: &std::fs::File,
    buf: &mut [u8],
    into: &mut StreamOutput,
    cap: usize,
    on_event: &mut (dyn FnMut(Event) + Send),
    event: fn(Vec<u8>) -> Event,
) -> bool {
    use std::io::Read as _;
    match file.read(buf) {
        Ok(n) if n > 0 => {
            into.push(&buf[..n], cap);
            on_event(event(buf[..n].to_vec()));
            true
        }
        _ => false,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Read {
    Data,
    Nothing,
    Eof,
}

/// Reads one chunk if one is ready.
fn read_some(
    pipe: &pipe::Receiver,
    buf: &mut [u8],
    into: &mut StreamOutput,
    cap: usize,
    on_event: &mut (dyn FnMut(Event) + Send),
    event: fn(Vec<u8>) -> Event,
) -> Read {
    match pipe.try_read(buf) {
        Ok(0) => Read::Eof,
        Ok(n) => {
            into.push(&buf[..n], cap);
            on_event(event(buf[..n].to_vec()));
            Read::Data
        }
        Err(_) => Read::Nothing,
    }
}
