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
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::serve::default_data_dir);
    let report =
        warden_engine::doctor::report(&data_dir, &warden_jail::JailConfig::default(), None);
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
