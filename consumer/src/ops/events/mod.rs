//! `consumer events trace`: what happened to one event. Its id is the
//! record key, so each of the group's topics holds its records in one
//! known partition ([`read`]); a time window bounds the reading; the
//! records found tell the journey ([`timeline`]).
//!
//! Not built yet: re-delivery of one delivered event, the HTTP endpoint,
//! and showing the replay fences and the member that delivered.

mod read;
pub mod timeline;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;
use switchboard_runtime::exit;
use switchboard_runtime::time::unix_ms;

use crate::config::ConsumerConfig;
use crate::ops::{parse_time, table};
use crate::topics::GroupTopicNames;
use read::{Reading, Wanted};
use timeline::{Ending, Role, Timeline};

/// `consumer events …`
#[derive(Subcommand)]
pub enum EventsCommand {
    /// One event's journey: received, each attempt and where it went, how
    /// it ended (delivered, dead-lettered, waiting), duplicates and
    /// re-drives. Reads only the partition its id maps to in each of the
    /// group's topics, from --since on. Exit 0 when found, 1 when not.
    #[command(after_help = "Examples:\n  \
        consumer events trace --group crm-sync --source genesys --id 7f3e2a91-…\n  \
        consumer events trace --group crm-sync --source genesys --id 7f3e2a91-… --since 3d --json")]
    Trace(TraceArgs),
}

/// Arguments of `events trace`.
#[derive(Args)]
pub struct TraceArgs {
    /// Consumer group (default: CONSUMER_GROUP or the config file).
    #[arg(long)]
    group: Option<String>,
    /// The event's source (the `{source}` of `POST /webhooks/{source}`).
    #[arg(long)]
    source: String,
    /// The event id (the record key).
    #[arg(long)]
    id: String,
    /// From when: a duration ago (`24h`, `3d`) or an RFC 3339 time.
    #[arg(long, default_value = "24h")]
    since: String,
    /// Print the answer as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The answer, as `--json` prints it.
#[derive(Serialize)]
struct Answer<'a> {
    source: &'a str,
    id: &'a str,
    since_ms: i64,
    partition: i32,
    records_read: u64,
    #[serde(flatten)]
    timeline: &'a Timeline,
}

/// Runs an `events` command.
pub fn run(config: &ConsumerConfig, command: EventsCommand) -> ExitCode {
    let EventsCommand::Trace(args) = command;
    let mut config = config.clone();
    if let Some(group) = &args.group {
        if let Err(error) = config.set_group(group) {
            return exit::fail("consumer", exit::USAGE, error);
        }
    }
    let since_ms = match parse_time(&args.since, unix_ms()) {
        Ok(ms) => ms,
        Err(why) => return exit::fail("consumer", exit::USAGE, why),
    };
    let wanted = Wanted {
        source: &args.source,
        id: &args.id,
        since_ms,
    };
    let reading = match read::read(&config.consumer_kafka, &topics(&config), &wanted) {
        Ok(reading) => reading,
        Err(error) => return crate::ops::cli::finish(&config.consumer_kafka, Err(error)),
    };
    let Reading {
        found,
        partition,
        records_read,
    } = reading;
    let Some(timeline) = timeline::timeline(found) else {
        eprintln!(
            "consumer: event {} of source {} not found since {} (read {records_read} records in partition {partition} of the group's topics); widen --since, check --source and --group, or it is older than the topics' retention",
            args.id,
            args.source,
            instant(since_ms)
        );
        return ExitCode::from(exit::FAILED);
    };
    if args.json {
        let answer = Answer {
            source: &args.source,
            id: &args.id,
            since_ms,
            partition,
            records_read,
            timeline: &timeline,
        };
        println!("{}", serde_json::to_string(&answer).unwrap_or_default());
    } else {
        println!("{}", render(&args, &timeline));
        println!(
            "(read {records_read} records in partition {partition} of the group's topics since {})",
            instant(since_ms)
        );
    }
    ExitCode::SUCCESS
}

/// The group's topics, each with its role, main first.
fn topics(config: &ConsumerConfig) -> Vec<(String, Role)> {
    let names = GroupTopicNames::of(&config.ladder);
    let mut topics = vec![(names.main.clone(), Role::Main)];
    for (stage, topic) in names.retries.iter().enumerate() {
        topics.push((
            topic.clone(),
            Role::Stage(config.ladder.name(stage + 1).to_owned()),
        ));
    }
    topics.push((names.dlt, Role::DeadLetter));
    topics.push((names.delivered, Role::Delivered));
    topics
}

fn render(args: &TraceArgs, timeline: &Timeline) -> String {
    let mut rows = vec![vec![
        "TIME".to_owned(),
        "TOPIC".to_owned(),
        "OFFSET".to_owned(),
        "WHAT".to_owned(),
    ]];
    for step in &timeline.steps {
        rows.push(vec![
            instant(step.at_ms),
            step.topic.clone(),
            format!("{}/{}", step.partition, step.offset),
            step.what.clone(),
        ]);
    }
    let ending = match &timeline.ending {
        Ending::Delivered { at_ms, stage, attempt } => {
            format!("delivered at {} from {stage} (attempt {attempt})", instant(*at_ms))
        }
        Ending::DeadLettered { at_ms, reason, pointer } => format!(
            "dead-lettered at {} ({reason}{}); re-drive it with `consumer dlt redrive --id {} --execute`",
            instant(*at_ms),
            if *pointer { ", a pointer" } else { "" },
            args.id
        ),
        Ending::Waiting { stage, due_at_ms } => match due_at_ms {
            Some(due) => format!("waiting in {stage}, due at {}", instant(*due)),
            None => format!("waiting in {stage}"),
        },
        Ending::Received => "received; the group has not handled it yet (see its lag)".to_owned(),
    };
    format!(
        "event {} of source {}: {ending}; received {} time(s), delivered {} time(s)\n{}",
        args.id,
        args.source,
        timeline.received,
        timeline.deliveries,
        table(&rows)
    )
}

/// A unix-ms time as RFC 3339 (UTC, seconds).
pub(crate) fn instant(ms: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
    )
    .to_string()
}
