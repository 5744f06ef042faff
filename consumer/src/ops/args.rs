//! The operator subcommands' arguments and help text (clap), read by
//! [`super::cli`].

use std::time::Duration;

use clap::{Args, Subcommand};

/// `consumer topics …`
#[derive(Subcommand)]
pub enum TopicsCommand {
    /// Plan, then create, the main topic and the group's retry, dead-letter
    /// and delivered topics. Idempotent; never changes an existing topic; a
    /// plan with any refused part creates nothing. Dry run unless --execute.
    #[command(after_help = "Examples:\n  \
        consumer topics ensure --group crm-sync --partitions 12              # the plan\n  \
        consumer topics ensure --group crm-sync --partitions 12 --execute    # create what is missing\n  \
        KAFKA_BROKERS=kafka:9092 CONSUMER_GROUP=crm-sync consumer topics ensure --execute --json")]
    Ensure(EnsureArgs),
}

/// Arguments of `topics ensure`.
#[derive(Args)]
pub struct EnsureArgs {
    /// Consumer group (default: CONSUMER_GROUP or the config file).
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Partition count of new topics (default: the main topic's when it exists, else 6);
    /// at least the most consumers you will run. A count that contradicts an existing main topic is refused.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) partitions: Option<u32>,
    /// Replication factor of new topics, clamped (with a warning) to the cluster's broker count.
    #[arg(long, default_value_t = crate::ops::setup::DEFAULT_REPLICATION_FACTOR as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) replication_factor: u32,
    /// min.insync.replicas of new topics, clamped (with a warning) to their replication factor.
    /// With the gateway's acks=all, an acknowledged record is on at least this many brokers.
    #[arg(long, default_value_t = crate::ops::setup::DEFAULT_MIN_INSYNC_REPLICAS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) min_insync_replicas: u32,
    /// Retention of the dead-letter topic.
    #[arg(long, default_value = "14d", value_parser = humantime::parse_duration)]
    pub(crate) dlt_retention: Duration,
    /// Retention of the main topic if this command creates it: the replay window of `offsets reset`
    /// (default: the broker's, 7 days on Kafka).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) main_retention: Option<Duration>,
    /// The main topic's max.message.bytes (default: the gateway's 1 MiB body limit + 64 KiB of envelope);
    /// retry stages and the dead-letter topic get 64 KiB more, so every record that fits the main topic fits its hops.
    #[arg(long, default_value_t = switchboard_proto::limits::DEFAULT_MAIN_MAX_MESSAGE_BYTES)]
    pub(crate) main_max_message_bytes: usize,
    /// Print the plan (and what was done) as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Create the missing topics (without it: print the plan, change nothing).
    #[arg(long)]
    pub(crate) execute: bool,
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
