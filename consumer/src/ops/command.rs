//! What every operator command shares: its exit codes, the group it runs
//! for, and how its result becomes an exit code (0 ok, 1 refused or failed,
//! 64 bad usage, 77 the broker refused this identity a right it needs).

use std::process::ExitCode;

use switchboard_runtime::exit;
use switchboard_runtime::kafka::KafkaSettings;

use crate::config::ConsumerConfig;
use crate::ops::OpsError;

/// Exit code: refused or failed.
pub const EXIT_REFUSED: u8 = exit::FAILED;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = exit::USAGE;

pub(crate) fn with_group(
    config: &ConsumerConfig,
    group: Option<&str>,
) -> Result<ConsumerConfig, String> {
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
pub(crate) fn serve_errors(
    consumer: &rdkafka::consumer::BaseConsumer<switchboard_runtime::kafka::KafkaLog>,
) {
    if let Some(Err(error)) = consumer.poll(std::time::Duration::from_millis(200)) {
        switchboard_runtime::kafka::log::route_error(error, "while serving the client's queue");
    }
}

pub(crate) fn usage(why: String) -> ExitCode {
    eprintln!("consumer: {why}");
    ExitCode::from(EXIT_USAGE)
}
