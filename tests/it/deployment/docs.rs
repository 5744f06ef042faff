//! The reference pages cannot drift from the binaries: every variable each
//! binary reads is in its published contract (`env::ALL`, which the
//! deployment files are checked against), and docs/configuration.md names
//! every variable of both binaries with its file key and, where the binary
//! has one, its default; and it names no variable the binaries do not read.

use std::collections::BTreeMap;
use std::time::Duration;

use switchboard_consumer::config::{env as consumer_env, ConsumerConfig};
use switchboard_gateway::config::{env as gateway_env, GatewayConfig};
use switchboard_runtime::config::EnvVar;

use super::repo;

/// The rows of the page's tables: first cell (unquoted) → all cells.
fn rows(page: &str) -> BTreeMap<String, Vec<String>> {
    page.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect();
            (cells[0].trim_matches('`').to_owned(), cells)
        })
        .collect()
}

/// How a file key is written in the table: `listen`, or `[http] max_connections`.
fn written(key: &str) -> String {
    match key.split_once('.') {
        Some((section, rest)) => format!("`[{section}] {rest}`"),
        None => format!("`{key}`"),
    }
}

/// The documented default of `row`, unquoted.
fn default_of(row: &[String]) -> String {
    row[2].trim_matches('`').trim_matches('"').to_owned()
}

fn duration(text: &str) -> Duration {
    humantime::parse_duration(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn the_configuration_page_names_every_variable_with_its_key_and_default() {
    let page = std::fs::read_to_string(repo("docs/configuration.md")).expect("page");
    let rows = rows(&page);
    let binaries: [(&str, &[EnvVar], &[&str]); 2] = [
        ("gateway", gateway_env::VARIABLES, gateway_env::ALL),
        ("consumer", consumer_env::VARIABLES, consumer_env::ALL),
    ];
    for (binary, variables, all) in binaries {
        for variable in variables {
            assert!(
                all.contains(&variable.name),
                "{binary}: {} is read but missing from the published contract (env::ALL)",
                variable.name
            );
            let row = rows.get(variable.name).unwrap_or_else(|| {
                panic!(
                    "{binary}: docs/configuration.md has no row for {}",
                    variable.name
                )
            });
            assert_eq!(
                row[1],
                written(variable.key),
                "{binary}: the row of {} names its file key",
                variable.name
            );
        }
        for name in all {
            assert!(
                page.contains(&format!("`{name}")),
                "{binary}: docs/configuration.md never names {name}"
            );
        }
    }
    // No row for a variable neither binary reads.
    for name in rows.keys() {
        let known = gateway_env::ALL.contains(&name.as_str())
            || consumer_env::ALL.contains(&name.as_str())
            || ["KAFKA_<SETTING>", "KAFKA_*", "LOG_FORMAT=json"].contains(&name.as_str())
            || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        assert!(
            known,
            "docs/configuration.md documents {name}, which no binary reads"
        );
    }

    // The defaults are the binaries' own.
    let none = BTreeMap::new();
    let open = "[sources.genesys]\nauth = { scheme = \"none\" }\n";
    let gateway = GatewayConfig::from_toml(open, &none).expect("gateway defaults");
    let consumer = ConsumerConfig::load(None, &none).expect("consumer defaults");
    let row = |name: &str| default_of(&rows[name]);
    assert_eq!(row(gateway_env::LISTEN), gateway.listen.to_string());
    assert_eq!(
        row(gateway_env::ADMIN_LISTEN),
        gateway.admin_listen.to_string()
    );
    assert_eq!(duration(&row(gateway_env::DEADLINE)), gateway.deadline);
    assert_eq!(
        duration(&row(gateway_env::RETRY_AFTER)),
        Duration::from_secs(gateway.retry_after_secs)
    );
    assert_eq!(
        duration(&row(gateway_env::SHUTDOWN_GRACE)),
        gateway.shutdown_grace
    );
    assert_eq!(
        row(gateway_env::MAX_BODY_BYTES),
        gateway.sources["genesys"].max_body_bytes.to_string()
    );
    assert_eq!(
        row(gateway_env::MAX_CONNECTIONS),
        gateway.http.max_connections.to_string()
    );
    assert_eq!(
        duration(&row(gateway_env::HEADER_READ_TIMEOUT)),
        gateway.http.header_read_timeout
    );
    assert_eq!(
        duration(&row(gateway_env::REQUEST_TIMEOUT)),
        gateway.http.request_timeout
    );
    assert!(rows[gateway_env::BODY_BUDGET_BYTES][2]
        .starts_with(&format!("`{}`", gateway.http.body_budget_bytes)));
    assert_eq!(
        row(consumer_env::ADMIN_LISTEN),
        consumer.admin_listen.to_string()
    );
    assert_eq!(row(consumer_env::GROUP), consumer.ladder.topics().group());
    assert_eq!(row(consumer_env::TOPIC), consumer.ladder.topic(0));
    assert_eq!(
        row(consumer_env::CONCURRENCY),
        consumer.worker.concurrency.to_string()
    );
    assert_eq!(
        duration(&row(consumer_env::DEDUPE_WINDOW)),
        consumer.worker.dedupe_window
    );
    assert_eq!(
        duration(&row(consumer_env::COMMIT_INTERVAL)),
        consumer.worker.commit_interval
    );
    assert_eq!(
        duration(&row(consumer_env::DESTINATION_TIMEOUT)),
        consumer.http.timeout
    );
    assert_eq!(
        duration(&row(consumer_env::DESTINATION_MAX_HOLD)),
        consumer.http.max_hold
    );
    assert_eq!(
        row(consumer_env::DESTINATION_MAX_IN_FLIGHT),
        switchboard_consumer::destination::DEFAULT_MAX_IN_FLIGHT.to_string()
    );
    assert_eq!(
        row(consumer_env::TRACE_ENDPOINT),
        consumer.trace_endpoint.to_string()
    );
    assert!(rows[consumer_env::PREFETCH_BUDGET_BYTES][2]
        .starts_with(&format!("`{}`", consumer.prefetch_budget_bytes)));
    let stages: Vec<String> = (1..consumer.ladder.len())
        .map(|stage| {
            let delay = humantime::format_duration(consumer.ladder.delay(stage)).to_string();
            format!(
                "{}={}",
                consumer.ladder.name(stage),
                delay.replace("1m", "60s")
            )
        })
        .collect();
    assert_eq!(
        row(consumer_env::RETRY_STAGES),
        stages.join(","),
        "the default ladder"
    );
}
