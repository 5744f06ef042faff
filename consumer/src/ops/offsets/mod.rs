//! `consumer offsets reset`: its arguments, what they ask for (`request`),
//! the [`plan`] per partition, and its run (replay fences first, then the
//! commit, only with `--execute`).

pub mod plan;
mod request;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use switchboard_runtime::time::unix_ms;

use crate::config::ConsumerConfig;
use crate::ops::command::{finish, serve_errors, usage, with_group};

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
        consumer offsets reset --group crm-sync --topic webhooks --by-duration 30m --only-partitions 0,3 --execute\n  \
        # the main topic and every retry stage in one plan\n  \
        consumer offsets reset --group crm-sync --all-stages --to-datetime 2026-11-23T09:05:00Z --json\n  \
        # the CRM lost what it acknowledged since 09:05: deliver that range again, once each\n  \
        consumer offsets reset --group crm-sync --topic webhooks --to-datetime 2026-11-23T09:05:00Z --redeliver --execute\n  \
        # a retry stage: its name is enough\n  \
        consumer offsets reset --group crm-sync --topic retry-1m --to-latest --execute")]
    Reset(ResetArgs),
}

/// Arguments of `offsets reset`.
#[derive(Args)]
pub struct ResetArgs {
    /// Consumer group (default: CONSUMER_GROUP or the config file).
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Topic: a full name, or a stage of the group (`main`, `retry-1m`, `retry-10m`).
    #[arg(
        long,
        required_unless_present = "all_stages",
        conflicts_with = "all_stages"
    )]
    pub(crate) topic: Option<String>,
    /// The main topic and every retry stage of the group, in one plan and one commit.
    #[arg(long)]
    pub(crate) all_stages: bool,
    #[command(flatten)]
    pub(crate) to: ResetTarget,
    /// Only these partitions (comma-separated partition numbers; a filter, not a count).
    #[arg(long, value_delimiter = ',')]
    pub(crate) only_partitions: Option<Vec<i32>>,
    /// Allow a group the broker does not know yet (to give a new group its first offsets).
    #[arg(long)]
    pub(crate) new_group: bool,
    /// Print the plan (and whether it was applied) as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Deliver the replayed records again even if they were delivered before
    /// (the destination lost what it acknowledged). Without it, a replay
    /// delivers only what was never delivered within the dedupe window.
    #[arg(long)]
    pub(crate) redeliver: bool,
    /// Apply the reset (without it: print what would change, change nothing).
    #[arg(long)]
    pub(crate) execute: bool,
}

/// Exactly one target, as in `kafka-consumer-groups --reset-offsets`.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct ResetTarget {
    /// First offset at or after this time (RFC 3339, e.g. 2026-11-23T09:05:00Z).
    #[arg(long)]
    pub(crate) to_datetime: Option<String>,
    /// First offset at or after this long ago (e.g. 30m, 2h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) by_duration: Option<Duration>,
    /// The log start.
    #[arg(long)]
    pub(crate) to_earliest: bool,
    /// The log end (skip everything not yet consumed).
    #[arg(long)]
    pub(crate) to_latest: bool,
    /// This offset (clamped to the log).
    #[arg(long)]
    pub(crate) to_offset: Option<i64>,
    /// Move the committed offset by ±N records.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) shift_by: Option<i64>,
}

/// Runs `offsets reset`.
pub fn run(config: &ConsumerConfig, command: OffsetsCommand) -> ExitCode {
    let OffsetsCommand::Reset(args) = command;
    let config = match with_group(config, args.group.as_deref()) {
        Ok(config) => config,
        Err(why) => return usage(why),
    };
    let group = config.ladder.topics().group().to_owned();
    let topics = request::reset_topics(&config.ladder, args.topic.as_deref());
    let now = unix_ms();
    let to = match request::reset_target(&args.to, now) {
        Ok(to) => to,
        Err(why) => return usage(why),
    };
    finish(
        &config.consumer_kafka,
        (|| {
            let consumer = plan::group_client(&config.consumer_kafka, &group)?;
            // A refused group right reaches a request only as a timeout; the
            // broker's answer waits on the client's queue: serve it, so the
            // error says what really happened.
            plan::refuse_if_unknown(&consumer, &group, &topics, args.new_group)
                .inspect_err(|_| serve_errors(&consumer))?;
            let mut resets = Vec::new();
            for topic in &topics {
                resets.extend(plan::plan(
                    &consumer,
                    topic,
                    to,
                    args.only_partitions.as_deref(),
                )?);
            }
            plan::refuse_if_active(&consumer, &group)?;
            let fences = if args.redeliver {
                plan::fences(&resets, now)
            } else {
                Vec::new()
            };
            if args.execute {
                // Fences first: a consumer that starts right after the reset
                // must already find them.
                plan::write_fences(
                    &config.producer_kafka,
                    &config.ladder.topics().delivered(),
                    &fences,
                )?;
                plan::execute(&consumer, &resets)?;
            }
            if args.json {
                println!("{}", plan::json(&group, &resets, args.execute));
                return Ok(());
            }
            println!("group {group}:");
            print!("{}", plan::render(&resets));
            match (args.execute, args.redeliver) {
            (true, true) => println!("offsets reset; replay fences written on {} partition(s): the replayed records are delivered again, once each.", fences.len()),
            (true, false) => println!("offsets reset."),
            (false, true) => println!("with --redeliver, {} partition(s) would get a replay fence: their replayed records would be delivered again, once each.\ndry run: nothing changed. Add --execute to apply.", fences.len()),
            (false, false) => println!("dry run: nothing changed. Add --execute to apply."),
        }
            Ok(())
        })(),
    )
}
