//! `gateway`: the webhook intake server. Configuration comes from
//! `--config`/`GATEWAY_CONFIG` and the environment (see the README); exit
//! codes are the runtime's ([`switchboard_runtime::exit`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use switchboard_gateway::config::GatewayConfig;
use switchboard_runtime::exit;

/// Switchboard webhook gateway: verifies webhooks and answers 202 only after Kafka has them.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// TOML configuration file (optional: with none, the built-in `genesys` source is served).
    #[arg(long, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = match exit::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    switchboard_runtime::logging::init();
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let config = match GatewayConfig::load(args.config.as_deref(), &vars) {
        Ok(config) => config,
        Err(error) => return exit::fail("gateway", exit::CONFIG, error),
    };
    if args.check {
        println!(
            "configuration ok: sources {:?}",
            config.sources.keys().collect::<Vec<_>>()
        );
        return ExitCode::SUCCESS;
    }
    exit::run_async("gateway", async move {
        let metrics = switchboard_gateway::metrics::install()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        switchboard_gateway::run::run(
            config,
            listener,
            metrics,
            switchboard_runtime::shutdown::signal_received(),
        )
        .await
    })
}
