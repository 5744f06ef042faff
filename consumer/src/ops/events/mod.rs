//! `consumer events …`: what happened to one event, and sending one
//! delivered event once more.
//!
//! - `trace`: its id is the record key, so each of the group's topics holds
//!   its records in one known partition (`read`); a time window bounds the
//!   reading; the records found, with the replay fences of that partition,
//!   tell the journey ([`timeline`]). The same answer is served over HTTP
//!   when enabled ([`endpoint`]).
//! - `redeliver`: a copy for this group only (`redeliver`).

pub mod endpoint;
mod read;
mod redeliver;
mod render;
pub mod timeline;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;
use switchboard_runtime::exit;
use switchboard_runtime::time::unix_ms;

use prost::Message as _;
use switchboard_proto::Envelope;

use crate::config::ConsumerConfig;
use crate::ops::{parse_time, OpsError};
use read::{Reading, Wanted};
use timeline::{Role, Timeline};

/// `consumer events …`
#[derive(Subcommand)]
pub enum EventsCommand {
    /// One event's journey: received, each attempt and where it went, how
    /// it ended (delivered, dead-lettered, waiting), duplicates, re-drives,
    /// replays and re-deliveries. Reads only the partition its id maps to in
    /// each of the group's topics, from --since on. Exit 0 when found, 1
    /// when not.
    #[command(after_help = "Examples:\n  \
        consumer events trace --group crm-sync --source genesys --id 7f3e2a91-…\n  \
        consumer events trace --group crm-sync --source genesys --id 7f3e2a91-… --since 3d --json")]
    Trace(EventArgs),
    /// Delivers one event that was delivered once more (the destination
    /// lost it), despite dedupe: a copy goes to the group's first retry
    /// stage, due at once, marked as a re-delivery. Only this group sees
    /// it. Dry run unless --execute.
    #[command(after_help = "Examples:\n  \
        consumer events redeliver --group crm-sync --source genesys --id 7f3e2a91-…\n  \
        consumer events redeliver --group crm-sync --source genesys --id 7f3e2a91-… --execute")]
    Redeliver {
        /// The event.
        #[command(flatten)]
        event: EventArgs,
        /// Write the copy (without it, only say what would be done).
        #[arg(long)]
        execute: bool,
    },
}

/// Which event, where and since when.
#[derive(Args)]
pub struct EventArgs {
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

/// A trace's answer, as `--json` and the HTTP endpoint give it.
#[derive(Serialize)]
pub(crate) struct Answer<'a> {
    source: &'a str,
    id: &'a str,
    since_ms: i64,
    partition: i32,
    records_read: u64,
    #[serde(flatten)]
    timeline: &'a Timeline,
}

/// What looking for one event found: the reading, and the journey when
/// there was one.
pub(crate) struct Looked {
    reading: Reading,
    timeline: Option<Timeline>,
}

/// Runs an `events` command.
pub fn run(config: &ConsumerConfig, command: EventsCommand) -> ExitCode {
    let (args, execute) = match command {
        EventsCommand::Trace(args) => (args, None),
        EventsCommand::Redeliver { event, execute } => (event, Some(execute)),
    };
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
    let looked = match look(&config, &wanted) {
        Ok(looked) => looked,
        Err(error) => return crate::ops::command::finish(&config.consumer_kafka, Err(error)),
    };
    if looked.timeline.is_none() {
        eprintln!("consumer: {}", not_found(&wanted, &looked.reading));
        return ExitCode::from(exit::FAILED);
    }
    match execute {
        None => {
            trace(&args, &wanted, &looked);
            ExitCode::SUCCESS
        }
        Some(execute) => redeliver::run(&config, &wanted, &looked, execute),
    }
}

/// Reads the group's topics for `wanted` and tells the journey.
pub(crate) fn look(config: &ConsumerConfig, wanted: &Wanted<'_>) -> Result<Looked, OpsError> {
    let reading = read::read(&config.consumer_kafka, &topics(config), wanted)?;
    // What the group's destinations take now decides an event nothing
    // happened to after its receipt.
    let filters = &config.http.filters;
    let filtered_by = reading
        .original
        .as_ref()
        .and_then(|original| Envelope::decode(original.value.as_slice()).ok())
        .and_then(|event| filters.skips(&event).map(str::to_owned));
    let timeline = timeline::timeline(&reading.found, &reading.fences, filtered_by.as_deref());
    Ok(Looked { reading, timeline })
}

/// The answer of a trace that found the event.
pub(crate) fn answer<'a>(wanted: &Wanted<'a>, looked: &'a Looked) -> Option<Answer<'a>> {
    Some(Answer {
        source: wanted.source,
        id: wanted.id,
        since_ms: wanted.since_ms,
        partition: looked.reading.partition,
        records_read: looked.reading.records_read,
        timeline: looked.timeline.as_ref()?,
    })
}

/// Says that `wanted` was not found, where it was looked for and what to try.
pub(crate) fn not_found(wanted: &Wanted<'_>, reading: &Reading) -> String {
    format!(
        "event {} of source {} not found since {} (read {} records in partition {} of the group's topics); widen --since, check --source and --group, or it is older than the topics' retention",
        wanted.id,
        wanted.source,
        crate::ops::instant(wanted.since_ms),
        reading.records_read,
        reading.partition
    )
}

fn trace(args: &EventArgs, wanted: &Wanted<'_>, looked: &Looked) {
    let Some(answer) = answer(wanted, looked) else {
        return;
    };
    if args.json {
        println!("{}", serde_json::to_string(&answer).unwrap_or_default());
    } else {
        let reading = &looked.reading;
        println!("{}", render::render(wanted, answer.timeline));
        println!(
            "(read {} records in partition {} of the group's topics since {})",
            reading.records_read,
            reading.partition,
            crate::ops::instant(wanted.since_ms)
        );
    }
}

/// The group's topics, each with its role, main first.
fn topics(config: &ConsumerConfig) -> Vec<(String, Role)> {
    let ladder = &config.ladder;
    let mut topics: Vec<(String, Role)> = (0..ladder.len())
        .map(|stage| {
            let role = match stage {
                0 => Role::Main,
                n => Role::Stage(ladder.name(n).to_owned()),
            };
            (ladder.topic(stage).to_owned(), role)
        })
        .collect();
    topics.push((ladder.dlt_topic().to_owned(), Role::DeadLetter));
    topics.push((ladder.delivered_topic().to_owned(), Role::Delivered));
    topics
}
