//! `gateway`: the webhook intake server. Configuration comes from
//! `--config`/`GATEWAY_CONFIG` and the environment (see docs/configuration.md); exit
//! codes are the runtime's ([`switchboard_runtime::exit`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use switchboard_gateway::config::GatewayConfig;
use switchboard_runtime::exit;

/// mimalloc instead of glibc's allocator: every request allocates its body,
/// envelope and headers and frees them on another thread (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let (args, vars) = match exit::begin::<Args>() {
        Ok(begun) => begun,
        Err(code) => return code,
    };
    let config = match GatewayConfig::load(args.config.as_deref(), &vars) {
        Ok(config) => config,
        Err(error) => return exit::fail("gateway", exit::CONFIG, error),
    };
    if args.check {
        for source in config.sources.values().filter(|s| s.verifier.is_none()) {
            eprintln!(
                "warning: source {0} accepts unauthenticated requests (auth scheme none): \
                 anyone who can reach the gateway can write events; set [sources.{0}.auth] \
                 before exposing it",
                source.name
            );
        }
        println!(
            "configuration ok: sources {:?}",
            config.sources.keys().collect::<Vec<_>>()
        );
        return ExitCode::SUCCESS;
    }
    exit::serve(
        "gateway",
        exit::Listen {
            admin: config.admin_listen,
            public: Some(config.listen),
        },
        switchboard_gateway::metrics::install,
        |started| switchboard_gateway::run::run(config, started),
    )
}
