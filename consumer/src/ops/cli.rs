//! Runs the operator subcommands (their arguments are [`super::args`]). Exit codes are the
//! runtime's ([`switchboard_runtime::exit`]): 0 ok, 1 refused or failed, 64
//! bad usage, 77 the broker refused this identity a right the command needs.

use std::io::IsTerminal;
use std::process::ExitCode;

use switchboard_runtime::exit;
use switchboard_runtime::kafka::KafkaSettings;

use crate::config::ConsumerConfig;
pub use crate::ops::args::{
    DltCommand, EnsureArgs, FilterArgs, ListArgs, OffsetsCommand, RedriveArgs, ResetArgs,
    ResetTarget, TopicsCommand,
};
use crate::ops::dlt;
use crate::ops::request;
use crate::ops::reset;
use crate::ops::setup::{self, EnsureOptions};
use crate::ops::OpsError;
use switchboard_runtime::time::unix_ms;

/// Exit code: refused or failed.
pub const EXIT_REFUSED: u8 = exit::FAILED;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = exit::USAGE;

fn with_group(config: &ConsumerConfig, group: Option<&str>) -> Result<ConsumerConfig, String> {
    let mut config = config.clone();
    if let Some(group) = group {
        config.set_group(group).map_err(|e| e.to_string())?;
    }
    Ok(config)
}

/// Exit code of a command's result; an error is printed once, with a hint
/// when the brokers could not be reached.
pub(crate) fn finish(kafka: &KafkaSettings, result: Result<(), OpsError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(refused) = error.refused_right() {
                eprintln!(
                    "consumer: {} is not authorised for this command: {refused}; see SECURITY.md for the operator's ACLs",
                    switchboard_runtime::kafka::access::identity(kafka)
                );
                return ExitCode::from(exit::KAFKA_NOT_AUTHORISED);
            }
            eprintln!("consumer: {error}");
            if error.is_unreachable() {
                eprintln!("{}", crate::ops::unreachable_hint(kafka));
            }
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

/// Serves the errors waiting on `consumer`'s queue (logged, and an
/// authorisation refusal remembered for [`OpsError::refused_right`]).
fn serve_errors(consumer: &rdkafka::consumer::BaseConsumer<switchboard_runtime::kafka::KafkaLog>) {
    if let Some(Err(error)) = consumer.poll(std::time::Duration::from_millis(200)) {
        switchboard_runtime::kafka::log::route_error(error, "while serving the client's queue");
    }
}

fn usage(why: String) -> ExitCode {
    eprintln!("consumer: {why}");
    ExitCode::from(EXIT_USAGE)
}

/// Runs `topics ensure`: reads the cluster, plans, shows the plan, and
/// creates only with `--execute` and no refusal.
pub async fn topics(config: &ConsumerConfig, command: TopicsCommand) -> ExitCode {
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
            let names = crate::topics::GroupTopicNames::of(&config.ladder).all();
            let cluster = setup::cluster::read(kafka, &names).await?;
            let plan = setup::plan(&config.ladder, &options, window, &cluster);
            let execute = args.execute && plan.refusal.is_none();
            let created = if execute {
                setup::cluster::create(kafka, &plan).await?
            } else {
                Vec::new()
            };
            if args.json {
                println!("{}", setup::render::json(&plan, execute));
            } else {
                print!("{}", setup::render::table(&plan));
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

/// Runs `offsets reset`.
pub fn offsets(config: &ConsumerConfig, command: OffsetsCommand) -> ExitCode {
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
            let consumer = reset::group_client(&config.consumer_kafka, &group)?;
            // A refused group right reaches a request only as a timeout; the
            // broker's answer waits on the client's queue: serve it, so the
            // error says what really happened.
            reset::refuse_if_unknown(&consumer, &group, &topics, args.new_group)
                .inspect_err(|_| serve_errors(&consumer))?;
            let mut resets = Vec::new();
            for topic in &topics {
                resets.extend(reset::plan(
                    &consumer,
                    topic,
                    to,
                    args.only_partitions.as_deref(),
                )?);
            }
            reset::refuse_if_active(&consumer, &group)?;
            let fences = if args.redeliver {
                reset::fences(&resets, now)
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
                reset::execute(&consumer, &resets)?;
            }
            if args.json {
                println!("{}", reset::json(&group, &resets, args.execute));
                return Ok(());
            }
            println!("group {group}:");
            print!("{}", reset::render(&resets));
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
    let entries = match dlt::read(&config.consumer_kafka, &dlt_topic, &selection) {
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
                print!("{}", dlt::render(&entries));
                println!("{} records", entries.len());
            }
            ExitCode::SUCCESS
        }
        DltCommand::Redrive(args) => {
            let (entries, skipped) = if args.force {
                (entries, Vec::new())
            } else {
                crate::ops::redrive::split_by_filter(entries, &config.http.filters)
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
                    print!("{}", dlt::render(&entries));
                    println!(
                        "dry run: {} records would be re-driven to {target}. Add --execute to republish.",
                        entries.len()
                    );
                }
                return ExitCode::SUCCESS;
            }
            if !args.json {
                print!("{}", dlt::render(&entries));
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
