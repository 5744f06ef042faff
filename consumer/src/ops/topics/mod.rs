//! `consumer topics ensure`: its arguments, and its run: read the cluster,
//! [`plan`], show the plan, and create only with `--execute` and no refusal.

pub mod plan;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::config::ConsumerConfig;
use crate::ops::command::{finish, usage, with_group};
use crate::ops::OpsError;
use plan::EnsureOptions;

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
    #[arg(long, default_value_t = crate::ops::topics::plan::DEFAULT_REPLICATION_FACTOR as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) replication_factor: u32,
    /// min.insync.replicas of new topics, clamped (with a warning) to their replication factor.
    /// With the gateway's acks=all, an acknowledged record is on at least this many brokers.
    #[arg(long, default_value_t = crate::ops::topics::plan::DEFAULT_MIN_INSYNC_REPLICAS as u32, value_parser = clap::value_parser!(u32).range(1..))]
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

/// Runs `topics ensure`: reads the cluster, plans, shows the plan, and
/// creates only with `--execute` and no refusal.
pub async fn run(config: &ConsumerConfig, command: TopicsCommand) -> ExitCode {
    let TopicsCommand::Ensure(args) = command;
    let config = match with_group(config, args.group.as_deref()) {
        Ok(config) => config,
        Err(why) => return usage(why),
    };
    let options = EnsureOptions {
        partitions: args.partitions.map(|n| n as usize),
        replication_factor: args.replication_factor as usize,
        min_insync_replicas: args.min_insync_replicas as usize,
        dlt_retention: args.dlt_retention,
        main_retention: args.main_retention,
        main_max_message_bytes: args.main_max_message_bytes,
    };
    let kafka = &config.consumer_kafka;
    finish(
        kafka,
        async {
            let window = config.dedupe_window();
            let names = config.ladder.all_topics();
            let cluster = plan::cluster::read(kafka, &names).await?;
            let plan = plan::plan(&config.ladder, &options, window, &cluster);
            let execute = args.execute && plan.refusal.is_none();
            let created = if execute {
                plan::cluster::create(kafka, &plan).await?
            } else {
                Vec::new()
            };
            if args.json {
                println!("{}", plan::render::json(&plan, execute));
            } else {
                print!("{}", plan::render::table(&plan));
            }
            if let Some(why) = plan.refusal {
                return Err(OpsError::Refused(why));
            }
            if !args.json {
                if execute {
                    println!("created {} topic(s).", created.len());
                } else {
                    let count = plan.to_create().count();
                    println!("dry run: nothing changed. Add --execute to create {count} topic(s).");
                }
            }
            Ok(())
        }
        .await,
    )
}
