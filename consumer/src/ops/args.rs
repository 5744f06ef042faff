//! The operator subcommands' arguments and help text (clap), read by
//! [`super::cli`].

use std::time::Duration;

use clap::{Args, Subcommand};

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
    pub(crate) group: Option<String>,
    /// Partitions of new topics (default: the main topic's, else 6). Partitions ≥ the most consumers you will run.
    #[arg(long)]
    pub(crate) partitions: Option<usize>,
    /// Replication factor of new topics (-1: the broker's default).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub(crate) replication_factor: i32,
    /// Retention of the dead-letter topic.
    #[arg(long, default_value = "14d", value_parser = humantime::parse_duration)]
    pub(crate) dlt_retention: Duration,
    /// Retention of the main topic, if this command creates it (default: the broker's).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) main_retention: Option<Duration>,
    /// The main topic's max.message.bytes (Kafka's default unless changed): retry stages and the
    /// dead-letter topic are created with 64 KiB more, so every record that fits the main topic fits its hops.
    #[arg(long, default_value_t = crate::handoff::KAFKA_DEFAULT_MAX_MESSAGE_BYTES)]
    pub(crate) main_max_message_bytes: usize,
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
    /// Consumer group (default: CONSUMER_GROUP or the config file).
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Topic: a full name, or a stage of the group (`main`, `retry-1m`, `retry-10m`).
    #[arg(long)]
    pub(crate) topic: String,
    #[command(flatten)]
    pub(crate) to: ResetTarget,
    /// Only these partitions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) partitions: Option<Vec<i32>>,
    /// Deliver the replayed records again even if they were delivered before
    /// (the downstream lost what it acknowledged). Without it, a replay
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
    /// At most this many records (oldest first).
    #[arg(long)]
    pub(crate) limit: Option<usize>,
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
    /// Republish (without it: list what would be re-driven, change nothing).
    #[arg(long)]
    pub(crate) execute: bool,
}
