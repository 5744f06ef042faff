//! `consumer dlt list|redrive`: their arguments, what they ask for
//! (`request`), reading the dead-letter topic ([`read`]) and re-driving
//! ([`redrive`]); and their run.

pub mod read;
pub mod redrive;
mod request;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use switchboard_runtime::time::unix_ms;

use crate::config::ConsumerConfig;
use crate::ops::command::{finish, usage, with_group};

/// `consumer dlt …`
#[derive(Subcommand)]
pub enum DltCommand {
    /// Print dead-letter records, decoded.
    #[command(after_help = "Examples:\n  \
        consumer dlt list --group crm-sync --since 2h\n  \
        consumer dlt list --group crm-sync --newest --limit 20\n  \
        consumer dlt list --group crm-sync --reason-contains 'HTTP 500' --json | jq .event_id")]
    List(ListArgs),
    /// Republish selected dead-letter records for another try (default: to
    /// the group's first retry stage). Dry run unless --execute.
    #[command(after_help = "Examples:\n  \
        consumer dlt redrive --group crm-sync --since 2026-11-23T09:00:00Z --until 2026-11-23T10:00:00Z\n  \
        consumer dlt redrive --group crm-sync --source genesys --rate 50 --execute\n  \
        consumer dlt redrive --group crm-sync --reason-contains rejected --to main --execute\n  \
        consumer dlt redrive --group crm-sync --all --execute")]
    Redrive(RedriveArgs),
}

/// Filters shared by `dlt list` and `dlt redrive`.
#[derive(Args)]
pub struct FilterArgs {
    /// Consumer group (default: CONSUMER_GROUP or the config file).
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Dead-lettered at or after (RFC 3339 or a duration ago, e.g. 2h).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Dead-lettered before (RFC 3339 or a duration ago).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Only this source.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Reason code or error chain contains this text.
    #[arg(long)]
    pub(crate) reason_contains: Option<String>,
    /// Only this event id (repeat for a few).
    #[arg(long = "id")]
    pub(crate) ids: Vec<String>,
    /// Only the event ids in this file, one per line.
    #[arg(long)]
    pub(crate) ids_from: Option<std::path::PathBuf>,
    /// At most this many records (the oldest; with --newest, the newest).
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// Newest first: `--newest --limit 20` shows the last 20 dead letters.
    #[arg(long)]
    pub(crate) newest: bool,
}

/// Arguments of `dlt list`.
#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `dlt redrive`.
#[derive(Args)]
pub struct RedriveArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Where to: `retry` (the first retry stage), `main`, or a topic name.
    #[arg(long, default_value = "retry")]
    pub(crate) to: String,
    /// Records per second at most.
    #[arg(long, default_value_t = 100)]
    pub(crate) rate: u32,
    /// Every dead-letter record of the group (a re-drive without any filter
    /// must say so).
    #[arg(long)]
    pub(crate) all: bool,
    /// Print the plan (and what was sent) as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Republish (without it: list what would be re-driven, change nothing).
    #[arg(long)]
    pub(crate) execute: bool,
    /// Re-drive records too that their destination's filter no longer takes
    /// (the consumer then commits them without a delivery).
    #[arg(long)]
    pub(crate) force: bool,
}

/// Runs `dlt list` or `dlt redrive`.
pub async fn run(config: &ConsumerConfig, command: DltCommand) -> ExitCode {
    let filter_args = match &command {
        DltCommand::List(args) => &args.filter,
        DltCommand::Redrive(args) => &args.filter,
    };
    let config = match with_group(config, filter_args.group.as_deref()) {
        Ok(config) => config,
        Err(why) => return usage(why),
    };
    if let DltCommand::Redrive(args) = &command {
        if let Err(why) = request::refuse_unfiltered_redrive(args) {
            return usage(why);
        }
    }
    let selection = match request::dlt_filter(filter_args, unix_ms()) {
        Ok(selection) => selection,
        Err(why) => return usage(why),
    };
    let dlt_topic = config.ladder.topics().dlt();
    let entries = match read::read(&config.consumer_kafka, &dlt_topic, &selection) {
        Ok(entries) => entries,
        Err(error) => return finish(&config.consumer_kafka, Err(error)),
    };
    match command {
        DltCommand::List(args) => {
            if args.json {
                for entry in &entries {
                    println!("{}", serde_json::to_string(entry).unwrap_or_default());
                }
            } else {
                print!("{}", read::render(&entries));
                println!("{} records", entries.len());
            }
            ExitCode::SUCCESS
        }
        DltCommand::Redrive(args) => {
            let (entries, skipped) = if args.force {
                (entries, Vec::new())
            } else {
                redrive::split_by_filter(entries, &config.http.filters)
            };
            for (entry, destination) in &skipped {
                eprintln!(
                    "consumer: skipping {} ({}/{}): destination {destination}'s filter no longer takes it; --force re-drives it anyway",
                    entry.event_id, entry.partition, entry.offset
                );
            }
            let target = request::redrive_target(&args.to, &config.ladder);
            let summary = |executed: bool, sent: usize| serde_json::json!({"target": target, "executed": executed, "sent": sent, "records": entries});
            if !args.execute {
                if args.json {
                    println!("{}", summary(false, 0));
                } else {
                    print!("{}", read::render(&entries));
                    println!(
                        "dry run: {} records would be re-driven to {target}. Add --execute to republish.",
                        entries.len()
                    );
                }
                return ExitCode::SUCCESS;
            }
            if !args.json {
                print!("{}", read::render(&entries));
            }
            let bar = indicatif::ProgressBar::new(entries.len() as u64);
            if !std::io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let result = redrive::redrive(
                &config.producer_kafka,
                &config.consumer_kafka,
                &entries,
                &target,
                args.rate,
                |n| bar.set_position(n as u64),
            )
            .await;
            bar.finish_and_clear();
            finish(&config.consumer_kafka, result.map(|sent| {
                if args.json {
                    println!("{}", summary(true, sent));
                } else {
                    println!(
                        "re-drove {sent} records to {target}; events already delivered will be suppressed by dedupe."
                    )
                }
            }))
        }
    }
}
