//! `warden doctor`: what the kernel offers and whether full isolation is available.

use clap::Args;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The data directory `warden serve` / `warden mcp` would use (default: theirs):
    /// checks that sandboxes can be given what it holds.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

pub fn main(args: DoctorArgs) -> i32 {
    let mut report = warden_jail::probe::probe();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::serve::default_data_dir);
    report.checks.push(warden_jail::probe::data_dir(
        &data_dir,
        &warden_jail::JailConfig::default(),
    ));
    report.full_isolation = report.checks.iter().all(|c| c.ok || !c.required);
    if report.full_isolation {
        report.checks.push(egress_check());
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for c in &report.checks {
            let mark = if c.ok {
                "ok  "
            } else if c.required {
                "FAIL"
            } else {
                "warn"
            };
            println!("[{mark}] {:<26} {}", c.name, c.detail);
            if let Some(h) = &c.hint {
                println!("       hint: {h}");
            }
        }
        println!();
        if report.full_isolation {
            println!("full isolation: available");
        } else {
            println!("full isolation: NOT available (sandboxes will refuse to start; see the FAIL lines)");
        }
    }
    if report.full_isolation {
        0
    } else {
        1
    }
}

/// Network egress: a sandbox reaches a listener the supervisor made inside its network
/// namespace (what the egress proxy serves), and nothing else is set up for it.
fn egress_check() -> warden_jail::probe::Check {
    use std::io::{Read, Write};
    let port = warden_engine::egress::PROXY_PORT;
    let attempt = || -> Result<String, String> {
        let jail = warden_jail::Jail::new(warden_jail::JailConfig::default())
            .map_err(|e| e.to_string())?;
        let code =
            format!("exec 3<>/dev/tcp/127.0.0.1/{port} && read -r line <&3 && echo \"$line\"");
        let mut cmd = warden_jail::Command::for_runtime(&warden_jail::Runtime::bash(), code);
        cmd.listen_inside = Some(port);
        cmd.limits.timeout = std::time::Duration::from_secs(10);
        let mut sandbox = jail.spawn(cmd).map_err(|e| e.to_string())?;
        let listener = sandbox.take_listener().ok_or("no listener was made")?;
        let server = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut c, _) = listener.accept()?;
            c.write_all(b"proxy-reached\n")?;
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
            Ok(())
        });
        let outcome = sandbox
            .wait(&mut warden_jail::Discard)
            .map_err(|e| e.to_string())?;
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
        Err(e) => (
            false,
            format!("a sandbox with a proxy listener could not start: {e}"),
        ),
    };
    warden_jail::probe::Check {
        name: "network egress".into(),
        ok,
        detail,
        hint: (!ok).then(|| {
            "egress needs setns(2) into a sandbox's network namespace (Linux 5.8+, pidfd)".into()
        }),
        required: false,
    }
}
