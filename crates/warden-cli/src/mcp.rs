//! `warden mcp`: the MCP server over stdin and stdout, for clients that start it as a
//! subprocess (Claude Desktop and the like), on an engine of its own built as `warden
//! serve` builds one.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::serve;

#[derive(Args, Debug)]
// The engine takes `warden serve`'s options with the same defaults; these two are
// about listening on a socket, which stdio does not do.
#[command(mut_arg("listen", |a| a.hide(true)), mut_arg("dev", |a| a.hide(true)))]
pub struct McpArgs {
    /// Act as this API key's tenant, under its policy (a key from `warden keys create`
    /// in the same data directory or database). Without one, every call is the
    /// development tenant `dev` with the default policy.
    #[arg(long, env = "WARDEN_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    #[command(flatten)]
    engine: serve::ServeArgs,
}

pub fn main(args: McpArgs) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warden: {e:#}");
            1
        }
    }
}

fn run(args: McpArgs) -> anyhow::Result<()> {
    // Nothing but JSON-RPC may reach stdout: the protocol keeps a descriptor of it of its
    // own (close-on-exec, so no sandbox inherits it), and descriptor 1 becomes stderr
    // for anything else that prints.
    let protocol_out = rustix::io::fcntl_dupfd_cloexec(std::io::stdout(), 3)
        .context("cannot duplicate standard output")?;
    rustix::stdio::dup2_stdout(std::io::stderr())
        .context("cannot point standard output at standard error")?;
    let serve::EngineSetup {
        data_dir,
        jail,
        mut config,
        database_url,
        grace,
    } = serve::engine_setup(&args.engine)?;
    // Without a key the engine runs in development mode, whose one caller is `dev`.
    config.dev_mode = args.api_key.is_none();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let (engine, store) = serve::start_engine(jail, config, &database_url).await?;
        let tenant = match &args.api_key {
            Some(key) => {
                let caller = engine
                    .authenticate(Some(&format!("Bearer {key}")))
                    .await
                    .map_err(|e| anyhow::anyhow!("--api-key: {}: {e}", e.code()))?;
                caller.tenant
            }
            None => warden_engine::tenancy::DEV_TENANT.to_string(),
        };
        let reaper = engine.spawn_reaper();
        let pool = engine.spawn_pool();
        eprintln!(
            "warden: serving MCP on stdin/stdout as tenant \"{tenant}\" (data in {}, {} database)",
            data_dir.display(),
            store.backend()
        );
        let shutdown = warden_mcp::CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            serve::wait_for_signal().await;
            on_signal.cancel();
        });
        let output = tokio::fs::File::from_std(std::fs::File::from(protocol_out));
        let served = warden_mcp::serve_stdio(
            engine.clone(),
            args.api_key.as_deref(),
            tokio::io::stdin(),
            output,
            shutdown,
        )
        .await;
        engine.shutdown(grace).await;
        reaper.abort();
        pool.abort();
        served.map_err(anyhow::Error::from)
    });
    // A read of stdin may still be blocked in its thread (it cannot be cancelled): do not
    // wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
