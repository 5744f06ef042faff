//! The operator subcommands' arguments and help text. Exit codes are the
//! runtime's ([`switchboard_runtime::exit`]): 0 ok, 1 refused or failed, 64
//! bad usage.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use switchboard_runtime::exit;

use crate::config::ConsumerConfig;
use crate::ops::dlt::{self, DltFilter};
use crate::ops::reset::{self, ResetTo};
use crate::ops::setup::{self, EnsureOptions, EnsureStatus};
use crate::ops::{parse_time, OpsError};
use switchboard_runtime::time::unix_ms;

/// Exit code: refused or failed.
pub const EXIT_REFUSED: u8 = exit::FAILED;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = exit::USAGE;

/// `consumer topics …`
#[derive(Subcommand)]
pub enum TopicsCommand {
    /// Create the main topic and the group's retry, dead-letter and delivered
    /// topics. Idempotent; never changes an existing topic.
    #[command(after_help = "Examples:\n  \
        consumer topics ensure --group crm-sync --partitions 12\n  \
        KAFKA_BROKERS=kafka:9092 CONSUMER_GROUP=crm-sync consumer topics ensure")]
    Ensure(EnsureArgs),
}

/// Arguments of `topics ensure`.
#[derive(Args)]
pub struct EnsureArgs {
    /// Consumer group (default: CONSUMER_GROUP or the config file).
    #[arg(long)]
    group: Option<String>,
    /// Partitions of new topics (default: the main topic's, else 6). Partitions ≥ the most consumers you will run.
    #[arg(long)]
    partitions: Option<usize>,
    /// Replication factor of new topics (-1: the broker's default).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    replication_factor: i32,
    /// Retention of the dead-letter topic.
    #[arg(long, default_value = "14d", value_parser = humantime::parse_duration)]
    dlt_retention: Duration,
    /// Retention of the main topic, if this command creates it (default: the broker's).
    #[arg(long, value_parser = humantime::parse_duration)]
    main_retention: Option<Duration>,
    /// The main topic's max.message.bytes (Kafka's default unless changed): retry stages and the
    /// dead-letter topic are created with 64 KiB more, so every record that fits the main topic fits its hops.
    #[arg(long, default_value_t = crate::handoff::KAFKA_DEFAULT_MAX_MESSAGE_BYTES)]
    main_max_message_bytes: usize,
}

/// `consumer offsets …`
#[derive(Subcommand)]
pub enum OffsetsCommand {
    /// Move a group's committed offsets on one topic, to replay (or skip)
    /// records. Dry run unless --execute; refused while the group is active.
    #[command(after_help = "Examples:\n  \
        # the CRM was down 09:10-09:40: replay everything since 09:05 (dry run, then for real)\n  \
        consumer offsets reset --group crm-sync --topic webhooks --to-datetime 2026-11-23T09:05:00Z\n  \
        consumer offsets reset --group crm-sync --topic webhooks --to-datetime 2026-11-23T09:05:00Z --execute\n  \
        # replay the last 30 minutes of partitions 0 and 3\n  \
        consumer offsets reset --group crm-sync --topic webhooks --by-duration 30m --partitions 0,3 --execute\n  \
        # the CRM lost what it acknowledged since 09:05: deliver that range again, once each\n  \
        consumer offsets reset --group crm-sync --topic webhooks --to-datetime 2026-11-23T09:05:00Z --redeliver --execute\n  \
        # a retry stage: its name is enough\n  \
        consumer offsets reset --group crm-sync --topic retry-1m --to-latest --execute")]
    Reset(ResetArgs),
}

/// Arguments of `offsets reset`.
#[derive(Args)]
pub struct ResetArgs {
    /// Consumer group.
    #[arg(long)]
    group: String,
    /// Topic: a full name, or a stage of the group (`main`, `retry-1m`, `retry-10m`).
    #[arg(long)]
    topic: String,
    #[command(flatten)]
    to: ResetTarget,
    /// Only these partitions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    partitions: Option<Vec<i32>>,
    /// Deliver the replayed records again even if they were delivered before
    /// (the downstream lost what it acknowledged). Without it, a replay
    /// delivers only what was never delivered within the dedupe window.
    #[arg(long)]
    redeliver: bool,
    /// Apply the reset (without it: print what would change, change nothing).
    #[arg(long)]
    execute: bool,
}

/// Exactly one target, as in `kafka-consumer-groups --reset-offsets`.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct ResetTarget {
    /// First offset at or after this time (RFC 3339, e.g. 2026-11-23T09:05:00Z).
    #[arg(long)]
    to_datetime: Option<String>,
    /// First offset at or after this long ago (e.g. 30m, 2h).
    #[arg(long, value_parser = humantime::parse_duration)]
    by_duration: Option<Duration>,
    /// The log start.
    #[arg(long)]
    to_earliest: bool,
    /// The log end (skip everything not yet consumed).
    #[arg(long)]
    to_latest: bool,
    /// This offset (clamped to the log).
    #[arg(long)]
    to_offset: Option<i64>,
    /// Move the committed offset by ±N records.
    #[arg(long, allow_hyphen_values = true)]
    shift_by: Option<i64>,
}

/// `consumer dlt …`
#[derive(Subcommand)]
pub enum DltCommand {
    /// Print dead-letter records, decoded.
    #[command(after_help = "Examples:\n  \
        consumer dlt list --group crm-sync --since 2h\n  \
        consumer dlt list --group crm-sync --reason-contains 'HTTP 500' --json | jq .event_id")]
    List(ListArgs),
    /// Republish selected dead-letter records for another try (default: to
    /// the group's first retry stage). Dry run unless --execute.
    #[command(after_help = "Examples:\n  \
        consumer dlt redrive --group crm-sync --since 2026-11-23T09:00:00Z --until 2026-11-23T10:00:00Z\n  \
        consumer dlt redrive --group crm-sync --source genesys --rate 50 --execute\n  \
        consumer dlt redrive --group crm-sync --reason-contains rejected --to main --execute")]
    Redrive(RedriveArgs),
}

/// Filters shared by `dlt list` and `dlt redrive`.
#[derive(Args)]
pub struct FilterArgs {
    /// Consumer group (default: CONSUMER_GROUP or the config file).
    #[arg(long)]
    group: Option<String>,
    /// Dead-lettered at or after (RFC 3339 or a duration ago, e.g. 2h).
    #[arg(long)]
    since: Option<String>,
    /// Dead-lettered before (RFC 3339 or a duration ago).
    #[arg(long)]
    until: Option<String>,
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// Reason code or error chain contains this text.
    #[arg(long)]
    reason_contains: Option<String>,
    /// At most this many records (oldest first).
    #[arg(long)]
    limit: Option<usize>,
}

/// Arguments of `dlt list`.
#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `dlt redrive`.
#[derive(Args)]
pub struct RedriveArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Where to: `retry` (the first retry stage), `main`, or a topic name.
    #[arg(long, default_value = "retry")]
    to: String,
    /// Records per second at most.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Republish (without it: list what would be re-driven, change nothing).
    #[arg(long)]
    execute: bool,
}

fn with_group(config: &ConsumerConfig, group: Option<&str>) -> Result<ConsumerConfig, String> {
    let mut config = config.clone();
    if let Some(group) = group {
        config.set_group(group).map_err(|e| e.to_string())?;
    }
    Ok(config)
}

fn finish(result: Result<(), OpsError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("consumer: {error}");
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

fn usage(why: String) -> ExitCode {
    eprintln!("consumer: {why}");
    ExitCode::from(EXIT_USAGE)
}

/// Runs `topics ensure`.
pub async fn topics(config: &ConsumerConfig, command: TopicsCommand) -> ExitCode {
    let TopicsCommand::Ensure(args) = command;
    let config = match with_group(config, args.group.as_deref()) {
        Ok(config) => config,
        Err(why) => return usage(why),
    };
    let options = EnsureOptions {
        partitions: args.partitions,
        replication: args.replication_factor,
        dlt_retention: args.dlt_retention,
        main_retention: args.main_retention,
        main_max_message_bytes: args.main_max_message_bytes,
    };
    let specs = setup::plan(&config.ladder, &options, config.dedupe_window());
    finish(async {
        let report = setup::ensure(&config.consumer_kafka, &specs, &options).await?;
        print!("{}", setup::render(&report));
        let mismatched: Vec<&str> = report
            .iter()
            .filter(|(_, _, s)| matches!(s, EnsureStatus::Mismatch { .. }))
            .map(|(spec, _, _)| spec.name.as_str())
            .collect();
        if mismatched.is_empty() {
            Ok(())
        } else {
            Err(OpsError::Refused(format!(
                "{mismatched:?} have another partition count than wanted; they were not changed. \
                 Every topic of a group needs the main topic's count: recreate them, or pass --partitions"
            )))
        }
    }
    .await)
}

/// Runs `offsets reset`.
pub fn offsets(config: &ConsumerConfig, command: OffsetsCommand) -> ExitCode {
    let OffsetsCommand::Reset(args) = command;
    let config = match with_group(config, Some(&args.group)) {
        Ok(config) => config,
        Err(why) => return usage(why),
    };
    let ladder = &config.ladder;
    let topic = (0..ladder.len())
        .find(|&s| ladder.name(s) == args.topic)
        .map_or(args.topic.clone(), |s| ladder.topic(s).to_owned());
    let now = unix_ms();
    let t = &args.to;
    let to = if let Some(text) = &t.to_datetime {
        match humantime::parse_rfc3339_weak(text) {
            Ok(at) => ResetTo::Time(
                at.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
            ),
            Err(e) => return usage(format!("--to-datetime {text:?}: {e}")),
        }
    } else if let Some(ago) = t.by_duration {
        ResetTo::Time(now - ago.as_millis() as i64)
    } else if t.to_earliest {
        ResetTo::Earliest
    } else if t.to_latest {
        ResetTo::Latest
    } else if let Some(offset) = t.to_offset {
        ResetTo::Offset(offset)
    } else if let Some(n) = t.shift_by {
        ResetTo::ShiftBy(n)
    } else {
        return usage("give one of --to-datetime, --by-duration, --to-earliest, --to-latest, --to-offset, --shift-by".into());
    };
    finish((|| {
        let (consumer, resets) = reset::plan(
            &config.consumer_kafka,
            &args.group,
            &topic,
            to,
            args.partitions.as_deref(),
        )?;
        reset::refuse_if_active(&consumer, &args.group)?;
        println!("group {} on topic {topic}:", args.group);
        print!("{}", reset::render(&resets));
        let fences = if args.redeliver {
            reset::fences(&topic, &resets, now)
        } else {
            Vec::new()
        };
        if args.execute {
            // Fences first: a consumer that starts right after the reset
            // must already find them.
            reset::write_fences(
                &config.producer_kafka,
                &config.ladder.topics().delivered(),
                &fences,
            )?;
            reset::execute(&consumer, &topic, &resets)?;
            println!("offsets reset.");
            if args.redeliver {
                println!("replay fences written on {} partition(s): the replayed records are delivered again, once each.", fences.len());
            }
        } else {
            if args.redeliver {
                println!("with --redeliver, {} partition(s) would get a replay fence: their replayed records would be delivered again, once each.", fences.len());
            }
            println!("dry run: nothing changed. Add --execute to apply.");
        }
        Ok(())
    })())
}

fn filter(args: &FilterArgs) -> Result<DltFilter, String> {
    let now = unix_ms();
    let time = |t: &Option<String>| t.as_deref().map(|t| parse_time(t, now)).transpose();
    Ok(DltFilter {
        since_ms: time(&args.since)?,
        until_ms: time(&args.until)?,
        source: args.source.clone(),
        reason_contains: args.reason_contains.clone(),
        limit: args.limit,
    })
}

/// Runs `dlt list` or `dlt redrive`.
pub async fn dlt(config: &ConsumerConfig, command: DltCommand) -> ExitCode {
    let filter_args = match &command {
        DltCommand::List(args) => &args.filter,
        DltCommand::Redrive(args) => &args.filter,
    };
    let config = match with_group(config, filter_args.group.as_deref()) {
        Ok(config) => config,
        Err(why) => return usage(why),
    };
    let selection = match filter(filter_args) {
        Ok(selection) => selection,
        Err(why) => return usage(why),
    };
    let dlt_topic = config.ladder.topics().dlt();
    let entries = match dlt::read(&config.consumer_kafka, &dlt_topic, &selection) {
        Ok(entries) => entries,
        Err(error) => return finish(Err(error)),
    };
    match command {
        DltCommand::List(args) => {
            if args.json {
                for entry in &entries {
                    println!("{}", serde_json::to_string(entry).unwrap_or_default());
                }
            } else {
                print!("{}", dlt::render(&entries));
                println!("{} records", entries.len());
            }
            ExitCode::SUCCESS
        }
        DltCommand::Redrive(args) => {
            let target = match args.to.as_str() {
                "retry" if config.ladder.len() > 1 => config.ladder.topic(1).to_owned(),
                "retry" => config.ladder.topics().main().to_owned(),
                "main" => config.ladder.topics().main().to_owned(),
                topic => topic.to_owned(),
            };
            print!("{}", dlt::render(&entries));
            if !args.execute {
                println!(
                    "dry run: {} records would be re-driven to {target}. Add --execute to republish.",
                    entries.len()
                );
                return ExitCode::SUCCESS;
            }
            let bar = indicatif::ProgressBar::new(entries.len() as u64);
            if !std::io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let result = crate::ops::redrive::redrive(
                &config.producer_kafka,
                &config.consumer_kafka,
                &entries,
                &target,
                args.rate,
                |n| bar.set_position(n as u64),
            )
            .await;
            bar.finish_and_clear();
            finish(result.map(|sent| {
                println!(
                    "re-drove {sent} records to {target}; events already delivered will be suppressed by dedupe."
                )
            }))
        }
    }
}
