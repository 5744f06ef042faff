//! `consumer`: the delivery worker (`consumer run`) and, beside it, the
//! operator commands. Configuration comes from `--config`/`CONSUMER_CONFIG`
//! and the environment (see the README).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_consumer::config::ConsumerConfig;
use switchboard_consumer::ops::cli::{self, DltCommand, OffsetsCommand, TopicsCommand};

/// Exit code of `run`/`check` for an unusable configuration.
const EXIT_CONFIG: u8 = 64;

/// Switchboard consumer: delivers events from Kafka to downstream services,
/// with retry topics, a dead-letter topic and dedupe by event id.
#[derive(Parser)]
#[command(
    version,
    after_help = "Operator commands exit 0 when done, 1 when refused or failed, 2 on bad usage.\n\
                  Every one that changes something is a dry run unless --execute is given."
)]
struct Args {
    /// TOML configuration file (optional: the environment alone is enough).
    #[arg(long, global = true, env = "CONSUMER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join the consumer group and deliver events until SIGTERM.
    Run,
    /// Validate the configuration and exit.
    Check,
    /// Topic set-up.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Replay by resetting a group's committed offsets.
    #[command(subcommand)]
    Offsets(OffsetsCommand),
    /// Inspect and re-drive the dead-letter topic.
    #[command(subcommand)]
    Dlt(DltCommand),
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let is_worker = matches!(args.command, Command::Run | Command::Check);
    let config = ConsumerConfig::load(args.config.as_deref(), &vars).and_then(|config| {
        if is_worker {
            config.require_downstream()?;
        }
        Ok(config)
    });
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            eprintln!("consumer: {error}");
            let code = if is_worker {
                EXIT_CONFIG
            } else {
                cli::EXIT_USAGE
            };
            return ExitCode::from(code);
        }
    };
    match args.command {
        Command::Topics(command) => block_on(cli::topics(&config, command)),
        Command::Offsets(command) => cli::offsets(&config, command),
        Command::Dlt(command) => block_on(cli::dlt(&config, command)),
        Command::Check => {
            println!(
                "configuration ok: group {} reads {:?}",
                config.ladder.topics().group(),
                config.ladder.consumed_topics()
            );
            ExitCode::SUCCESS
        }
        Command::Run => run(config),
    }
}

/// Runs an operator command on a small runtime.
fn block_on(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(error) => {
            eprintln!("consumer: cannot start the runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: ConsumerConfig) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("consumer: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(start(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "consumer failed");
            eprintln!("consumer: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start(config: ConsumerConfig) -> anyhow::Result<()> {
    let metrics = switchboard_consumer::metrics::install()?;
    let listener = tokio::net::TcpListener::bind(config.metrics_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.metrics_listen))?;
    switchboard_consumer::run::run(
        config,
        listener,
        metrics,
        switchboard_consumer::shutdown::signal_received(),
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
