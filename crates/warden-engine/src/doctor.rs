//! The isolation report of `warden doctor` and `GET /v1/doctor`: what the kernel offers,
//! whether sandboxes can be given the data directory, and whether a sandbox reaches a
//! listener warden makes inside it (what network egress needs).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use warden_jail::probe::{Check, Report};
use warden_jail::{Command, Discard, Jail, JailConfig, Runtime};

/// Runs every check. Blocking: it probes the kernel and, when full isolation is
/// available, starts one short sandbox, from `jail` or from a jail of `config`.
pub fn report(data_dir: &Path, config: &JailConfig, jail: Option<&Jail>) -> Report {
    let mut report = warden_jail::probe::probe();
    report
        .checks
        .push(warden_jail::probe::data_dir(data_dir, config));
    report.full_isolation = report.checks.iter().all(|c| c.ok || !c.required);
    if report.full_isolation {
        let check = match jail {
            Some(jail) => egress_check(jail),
            None => match Jail::new(config.clone()) {
                Ok(jail) => egress_check(&jail),
                Err(e) => failed_egress(format!("cannot set up sandboxing: {e}")),
            },
        };
        report.checks.push(check);
        report.checks.push(match jail {
            Some(jail) => gvisor_check(jail),
            None => match Jail::new(config.clone()) {
                Ok(jail) => gvisor_check(&jail),
                Err(e) => gvisor_missing(format!("cannot set up sandboxing: {e}")),
            },
        });
    }
    report
}

const GVISOR: &str = "gvisor tier";

/// The gVisor tier: runsc is there and a sandbox starts on it.
fn gvisor_check(jail: &Jail) -> Check {
    let runsc = match jail.gvisor() {
        Ok(r) => r.clone(),
        Err(why) => return gvisor_missing(why),
    };
    let mut cmd = Command::for_runtime(&Runtime::bash(), "echo gvisor-ok");
    cmd.tier = warden_jail::Tier::Gvisor;
    cmd.limits.timeout = Duration::from_secs(20);
    match jail.run(cmd, &mut Discard) {
        Ok(o) if o.stdout.bytes == b"gvisor-ok\n" => Check {
            name: GVISOR.into(),
            ok: true,
            detail: format!(
                "{} ({}), ptrace platform: policies may ask for \"isolation\": \"gvisor\"",
                runsc.path.display(),
                runsc.version()
            ),
            hint: None,
            required: false,
        },
        Ok(o) => gvisor_missing(format!(
            "a sandbox on gVisor did not run ({:?}): {}",
            o.exit,
            String::from_utf8_lossy(&o.stderr.bytes).trim()
        )),
        Err(e) => gvisor_missing(format!("a sandbox on gVisor could not start: {e}")),
    }
}

fn gvisor_missing(detail: String) -> Check {
    Check {
        name: GVISOR.into(),
        ok: false,
        detail,
        hint: Some(
            "the gVisor tier needs runsc (Debian: apt-get install runsc); without it only the \
             namespace tier runs, and policies that name gvisor are refused"
                .into(),
        ),
        required: false,
    }
}

/// The report in the API's shape.
pub fn to_protocol(report: &Report, checked_at: f64) -> warden_protocol::IsolationReport {
    warden_protocol::IsolationReport {
        full_isolation: report.full_isolation,
        checks: report
            .checks
            .iter()
            .map(|c| warden_protocol::IsolationCheck {
                name: c.name.clone(),
                ok: c.ok,
                required: c.required,
                detail: c.detail.clone(),
                hint: c.hint.clone(),
            })
            .collect(),
        checked_at,
    }
}

/// Network egress: a sandbox reaches a listener the supervisor made inside its network
/// namespace (what the egress proxy serves), and nothing else is set up for it.
fn egress_check(jail: &Jail) -> Check {
    let port = crate::egress::PROXY_PORT;
    let attempt = || -> Result<String, String> {
        let code =
            format!("exec 3<>/dev/tcp/127.0.0.1/{port} && read -r line <&3 && echo \"$line\"");
        let mut cmd = Command::for_runtime(&Runtime::bash(), code);
        cmd.listen_inside = Some(port);
        cmd.limits.timeout = Duration::from_secs(10);
        let mut sandbox = jail.spawn(cmd).map_err(|e| e.to_string())?;
        let Some(warden_jail::Listener::Tcp(listener)) = sandbox.take_listener() else {
            return Err("no listener was made".into());
        };
        let server = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut c, _) = listener.accept()?;
            c.write_all(b"proxy-reached\n")?;
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
            Ok(())
        });
        let outcome = sandbox.wait(&mut Discard).map_err(|e| e.to_string())?;
        let _ = server.join();
        Ok(String::from_utf8_lossy(&outcome.stdout.bytes)
            .trim()
            .to_string())
    };
    let (ok, detail) = match attempt() {
        Ok(out) if out == "proxy-reached" => (
            true,
            format!(
                "sandboxes have no network unless a policy's egress allows it; then only \
                 warden's proxy, on 127.0.0.1:{port} inside the sandbox (docs/NETWORK.md)"
            ),
        ),
        Ok(out) => (
            false,
            format!("a sandbox could not reach its proxy listener (it printed {out:?})"),
        ),
        Err(e) => {
            return failed_egress(format!(
                "a sandbox with a proxy listener could not start: {e}"
            ))
        }
    };
    if !ok {
        return failed_egress(detail);
    }
    Check {
        name: EGRESS.into(),
        ok,
        detail,
        hint: None,
        required: false,
    }
}

const EGRESS: &str = "network egress";

fn failed_egress(detail: String) -> Check {
    Check {
        name: EGRESS.into(),
        ok: false,
        detail,
        hint: Some(
            "egress needs setns(2) into a sandbox's network namespace (Linux 5.8+, pidfd)".into(),
        ),
        required: false,
    }
}
