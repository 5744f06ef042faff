//! `gateway`: the webhook intake server. Configuration comes from
//! `--config`/`GATEWAY_CONFIG` and the environment (see the README).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use switchboard_gateway::config::GatewayConfig;

/// Exit code for an unusable configuration (EX_CONFIG-like, as sysexits' 64 EX_USAGE).
const EXIT_CONFIG: u8 = 64;

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
    let args = Args::parse();
    init_logging();
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let config = match GatewayConfig::load(args.config.as_deref(), &vars) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "configuration refused");
            eprintln!("gateway: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check {
        println!(
            "configuration ok: sources {:?}",
            config.sources.keys().collect::<Vec<_>>()
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gateway: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(start(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "gateway failed");
            eprintln!("gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start(config: GatewayConfig) -> anyhow::Result<()> {
    let metrics = switchboard_gateway::metrics::install()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    switchboard_gateway::run::run(
        config,
        listener,
        metrics,
        switchboard_gateway::shutdown::signal_received(),
    )
    .await
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: log files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
