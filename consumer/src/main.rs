//! `consumer`: the delivery worker (`consumer run`) and, beside it, the
//! operator commands. Configuration comes from `--config`/`CONSUMER_CONFIG`
//! and the environment (see docs/configuration.md); exit codes are the runtime's
//! ([`switchboard_runtime::exit`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_consumer::config::ConsumerConfig;
use switchboard_consumer::ops::dlt::{self, DltCommand};
use switchboard_consumer::ops::events::{self, EventsCommand};
use switchboard_consumer::ops::offsets::{self, OffsetsCommand};
use switchboard_consumer::ops::topics::{self, TopicsCommand};
use switchboard_runtime::exit;
use switchboard_runtime::kafka::access;

/// jemalloc instead of glibc's allocator. Every event allocates its record,
/// its task (tokio aligns a task's memory, glibc's slowest path) and its
/// request, and frees them on another thread: glibc's malloc and free were
/// ~17 % of the consumer's CPU at full rate. mimalloc (the gateway's) cut it
/// too, but held 112-127 MiB with 1 M ids in the dedupe window against
/// glibc's 102-115 (the bar is 128); jemalloc holds what glibc holds
/// (BENCHMARKS.md, "Issue 32, seventh sitting").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Switchboard consumer: delivers events from Kafka to their destinations,
/// with retry topics, a dead-letter topic and dedupe by event id.
#[derive(Parser)]
#[command(
    version,
    after_help = "Exit codes: 0 done, 1 refused or failed, 64 bad usage, 75 stopped with work left uncommitted (redone by the group), 77 Kafka refuses a right it needs, 78 unusable configuration, 80 Kafka refused its credentials, 81 TLS with Kafka failed.\n\
                  Every operator command that changes something is a dry run unless --execute is given."
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
    /// Find one event: what happened to it.
    #[command(subcommand)]
    Events(EventsCommand),
}

fn main() -> ExitCode {
    let (args, vars) = match exit::begin::<Args>() {
        Ok(begun) => begun,
        Err(code) => return code,
    };
    let is_worker = matches!(args.command, Command::Run | Command::Check);
    let config = ConsumerConfig::load(args.config.as_deref(), &vars).and_then(|config| {
        if is_worker {
            config.require_destination()?;
        }
        Ok(config)
    });
    let config = match config {
        Ok(config) => config,
        Err(error) => return exit::fail("consumer", exit::CONFIG, error),
    };
    let is_operator = matches!(
        args.command,
        Command::Topics(_) | Command::Offsets(_) | Command::Dlt(_) | Command::Events(_)
    );
    if is_operator {
        // Credentials and TLS that cannot work are named before any command
        // runs; the rights each one needs are the broker's to refuse.
        if let Err(refused) = access::check(&config.consumer_kafka.plain_client(), &[]) {
            return exit::fail("consumer", refused.exit_code(), refused);
        }
    }
    if !matches!(args.command, Command::Run) {
        for deprecation in &config.deprecations {
            eprintln!("consumer: warning: {deprecation}");
        }
    }
    match args.command {
        Command::Topics(command) => exit::block_on("consumer", topics::run(&config, command)),
        Command::Offsets(command) => offsets::run(&config, command),
        Command::Dlt(command) => exit::block_on("consumer", dlt::run(&config, command)),
        Command::Events(command) => events::run(&config, command),
        Command::Check => {
            println!(
                "configuration ok: group {} reads {:?}",
                config.ladder.topics().group(),
                config.ladder.consumed_topics()
            );
            let filters = &config.http.filters;
            let sources = config.http.sources.iter();
            let destinations = config
                .http
                .default
                .iter()
                .map(|d| {
                    let name = switchboard_consumer::metrics::DEFAULT_DESTINATION;
                    (name, d, filters.default.as_deref())
                })
                .chain(sources.map(|(name, d)| (name.as_str(), d, filters.of(name).1)));
            for (name, destination, filter) in destinations {
                println!("destination {name}: {}", destination.summary(filter));
            }
            ExitCode::SUCCESS
        }
        Command::Run => {
            let group = config.ladder.topics().group().to_owned();
            exit::serve(
                "consumer",
                exit::Listen {
                    admin: config.admin_listen,
                    public: None,
                },
                move || switchboard_consumer::metrics::install(&group),
                |started| switchboard_consumer::run::run(config, started),
            )
        }
    }
}
