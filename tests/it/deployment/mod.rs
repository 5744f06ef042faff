//! Deployment files checked without Docker or a cluster: docker-compose.yml
//! against the repository and the binaries' environment contract, the
//! Dockerfile's stages, and the Kubernetes manifests against the API schemas
//! (kubernetes-validate, offline) and the same contract.

mod compose;
mod docs;
mod kubernetes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;
use switchboard_consumer::config::env as consumer_env;
use switchboard_gateway::config::env as gateway_env;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml_documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("yaml document"))
        .collect()
}

/// Environment variables named by `secrets_env` in a gateway config.
fn secret_variables(config: &str) -> BTreeSet<String> {
    let value: toml::Value = toml::from_str(config).expect("toml");
    let mut names = BTreeSet::new();
    if let Some(sources) = value.get("sources").and_then(|s| s.as_table()) {
        for source in sources.values() {
            if let Some(list) = source
                .get("auth")
                .and_then(|a| a.get("secrets_env"))
                .and_then(|s| s.as_array())
            {
                names.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_owned));
            }
        }
    }
    names
}

/// Checks `name` against a binary's contract (its variables and `KAFKA_*`).
fn assert_in_contract(service: &str, name: &str, contract: &[&str], extra: &BTreeSet<String>) {
    assert!(
        contract.contains(&name) || name.starts_with("KAFKA_") || extra.contains(name),
        "{service}: environment variable {name} is not part of the binary's contract"
    );
}

fn port_of(listen: &str) -> &str {
    listen.rsplit(':').next().expect("port")
}

/// Every manifest under `dir` (not its subdirectories).
fn manifests(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo(""))
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Pod Security Standards, "restricted" profile (v1.30 and later), for one
/// pod spec: the fields the admission controller checks.
fn assert_restricted(name: &str, pod: &Value) {
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(!pod[host].as_bool().unwrap_or(false), "{name}: {host}");
    }
    let allowed_volumes = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    for volume in pod["volumes"].as_sequence().into_iter().flatten() {
        let kinds: Vec<&str> = volume
            .as_mapping()
            .expect("volume")
            .keys()
            .filter_map(|k| k.as_str())
            .filter(|k| *k != "name")
            .collect();
        assert!(
            kinds.iter().all(|k| allowed_volumes.contains(k)),
            "{name}: volume types {kinds:?} are not allowed"
        );
    }
    let pod_context = &pod["securityContext"];
    for container in pod["containers"].as_sequence().expect("containers") {
        let context = &container["securityContext"];
        let either = |key: &str| {
            if context[key].is_null() {
                pod_context[key].clone()
            } else {
                context[key].clone()
            }
        };
        assert_eq!(
            either("runAsNonRoot"),
            Value::Bool(true),
            "{name}: runAsNonRoot"
        );
        assert_ne!(either("runAsUser"), Value::from(0), "{name}: runAsUser 0");
        let seccomp = either("seccompProfile");
        assert!(
            matches!(
                seccomp["type"].as_str(),
                Some("RuntimeDefault" | "Localhost")
            ),
            "{name}: seccompProfile RuntimeDefault or Localhost"
        );
        assert_eq!(
            context["allowPrivilegeEscalation"],
            Value::Bool(false),
            "{name}: allowPrivilegeEscalation false"
        );
        assert!(
            !context["privileged"].as_bool().unwrap_or(false),
            "{name}: privileged"
        );
        assert!(
            context["capabilities"]["drop"]
                .as_sequence()
                .is_some_and(|d| d.iter().any(|c| c == "ALL")),
            "{name}: capabilities drop ALL"
        );
        assert!(
            context["capabilities"]["add"]
                .as_sequence()
                .into_iter()
                .flatten()
                .all(|c| c == "NET_BIND_SERVICE"),
            "{name}: only NET_BIND_SERVICE may be added"
        );
        for port in container["ports"].as_sequence().into_iter().flatten() {
            assert!(port["hostPort"].is_null(), "{name}: hostPort");
        }
    }
}

/// The value of environment variable `var` of a container, when set literally.
fn env_value<'a>(container: &'a Value, var: &str) -> Option<&'a str> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|v| v["name"] == var)?["value"]
        .as_str()
}

/// `512Mi` and the like, in bytes.
fn quantity_bytes(text: &str) -> u64 {
    let (number, unit) =
        text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let factor = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("unit {other}"),
    };
    number.parse::<u64>().expect("number") * factor
}

/// Every value of a bounded metric label is named where an SRE looks it up:
/// the metric's help text (what `/metrics` says), docs/metrics.md and the RUNBOOK.
#[test]
fn every_label_value_is_named_in_the_help_text_the_metrics_page_and_the_runbook() {
    use switchboard_gateway::producer::ProduceErrorKind;
    use switchboard_proto::DltReason;
    let page = std::fs::read_to_string(repo("docs/metrics.md")).expect("docs/metrics.md");
    let runbook = std::fs::read_to_string(repo("RUNBOOK.md")).expect("RUNBOOK");
    use switchboard_consumer::metrics::{ExchangeOutcome, FailureCause, Handled, TokenFetch};
    let labels: [(&str, String, Vec<&str>); 8] = [
        (
            "outcome of switchboard_consumer_events_handled_total",
            switchboard_consumer::metrics::handled_help(),
            Handled::ALL.iter().map(|o| o.code()).collect(),
        ),
        (
            "outcome of switchboard_consumer_delivery_duration_seconds",
            switchboard_consumer::metrics::delivery_duration_help(),
            ExchangeOutcome::ALL.iter().map(|o| o.code()).collect(),
        ),
        (
            "reason of switchboard_consumer_dead_lettered_total",
            switchboard_consumer::metrics::dead_lettered_help(),
            DltReason::ALL.iter().map(|r| r.code()).collect(),
        ),
        (
            "class of switchboard_consumer_destination_answers_total",
            switchboard_consumer::metrics::destination_answers_help(),
            switchboard_consumer::metrics::AnswerClass::ALL
                .iter()
                .map(|c| c.code())
                .collect(),
        ),
        (
            "cause of switchboard_consumer_destination_failures_total",
            switchboard_consumer::metrics::destination_failures_help(),
            FailureCause::ALL.iter().map(|c| c.code()).collect(),
        ),
        (
            "cause of switchboard_consumer_destination_breaker_open",
            switchboard_consumer::metrics::destination_breaker_open_help(),
            FailureCause::ALL.iter().map(|c| c.code()).collect(),
        ),
        (
            "result of switchboard_consumer_destination_token_fetches_total",
            switchboard_consumer::metrics::destination_token_fetches_help(),
            TokenFetch::ALL.iter().map(|r| r.code()).collect(),
        ),
        (
            "kind of switchboard_gateway_produce_errors_total",
            switchboard_gateway::metrics::produce_errors_help(),
            ProduceErrorKind::ALL.iter().map(|k| k.code()).collect(),
        ),
    ];
    for (label, help, values) in labels {
        for value in values {
            let quoted = format!("`{value}`");
            assert!(
                help.contains(value),
                "{label}: the help text lacks {value}: {help}"
            );
            assert!(
                page.contains(&quoted),
                "{label}: docs/metrics.md never names {quoted}"
            );
            assert!(
                runbook.contains(&quoted),
                "{label}: RUNBOOK.md never names {quoted}"
            );
        }
    }
}
