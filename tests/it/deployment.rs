//! Deployment files checked without Docker or a cluster: docker-compose.yml
//! against the repository and the binaries' environment contract, the
//! Dockerfile's stages, and the Kubernetes manifests against the API schemas
//! (kubernetes-validate, offline) and the same contract.

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

#[test]
fn compose_file_matches_the_repository_and_the_binaries_contract() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for wanted in [
        "kafka",
        "topics",
        "gateway",
        "consumer",
        "downstream",
        "prometheus",
        "grafana",
    ] {
        assert!(names.contains(wanted), "service {wanted} is missing");
    }
    // The official image, at the version the tests and the demo run
    // (scripts/install-kafka.sh --version prints the one written there).
    let installed = std::process::Command::new("bash")
        .arg(repo("scripts/install-kafka.sh"))
        .arg("--version")
        .output()
        .expect("run install-kafka.sh --version");
    let version = String::from_utf8_lossy(&installed.stdout).trim().to_owned();
    assert!(!version.is_empty(), "install-kafka.sh names its version");
    assert_eq!(
        compose["services"]["kafka"]["image"].as_str(),
        Some(format!("apache/kafka:{version}").as_str()),
        "compose runs the Kafka the tests run"
    );
    assert_eq!(
        compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"], "broker,controller",
        "single-node KRaft"
    );

    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    let stages: BTreeSet<String> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .filter_map(|l| l.split(" AS ").nth(1).map(|s| s.trim().to_owned()))
        .collect();
    for (name, service) in services {
        let name = name.as_str().expect("name");
        if let Some(build) = service.get("build") {
            assert!(repo(build["context"].as_str().expect("context")).is_dir());
            assert!(repo(build["dockerfile"].as_str().expect("dockerfile")).is_file());
            let target = build["target"].as_str().expect("target");
            assert!(
                stages.contains(target),
                "{name}: no Dockerfile stage {target}"
            );
        }
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let spec = volume.as_str().expect("short volume syntax");
            let host = spec.split(':').next().expect("host path");
            if host.starts_with('.') {
                assert!(repo(host).exists(), "{name}: {host} does not exist");
            }
        }
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().expect("\"host:container\"");
            let (host, container) = port.split_once(':').expect("host:container");
            assert_eq!(host, container, "{name}: keep documented ports identical");
        }
    }

    // The gateway: its variables, its config file, its port.
    let gateway = &compose["services"]["gateway"];
    let mounted_config = gateway["volumes"][0]
        .as_str()
        .and_then(|v| v.split(':').next())
        .expect("config volume");
    let secrets = secret_variables(&std::fs::read_to_string(repo(mounted_config)).expect("config"));
    let gateway_environment = gateway["environment"].as_mapping().expect("environment");
    for key in gateway_environment.keys() {
        let key = key.as_str().expect("name");
        assert_in_contract("gateway", key, gateway_env::ALL, &secrets);
    }
    for secret in &secrets {
        assert!(
            gateway_environment.contains_key(secret.as_str()),
            "gateway: the config names {secret}, which compose does not set"
        );
    }
    let listen = gateway["environment"][gateway_env::LISTEN]
        .as_str()
        .expect("listen");
    assert_eq!(gateway["ports"][0], format!("{0}:{0}", port_of(listen)));
    let config_in_container = gateway["environment"][gateway_env::CONFIG]
        .as_str()
        .expect("config");
    assert!(gateway["volumes"][0]
        .as_str()
        .is_some_and(|v| v.contains(&format!(":{config_in_container}"))));

    // The consumer and the topic set-up: their variables, metrics port, downstream.
    for service in ["consumer", "topics"] {
        for key in compose["services"][service]["environment"]
            .as_mapping()
            .expect("environment")
            .keys()
        {
            assert_in_contract(
                service,
                key.as_str().expect("name"),
                consumer_env::ALL,
                &BTreeSet::new(),
            );
        }
    }
    let consumer = &compose["services"]["consumer"];
    let metrics_listen = consumer["environment"][consumer_env::METRICS_LISTEN]
        .as_str()
        .expect("metrics listen");
    let downstream_url = consumer["environment"][consumer_env::DOWNSTREAM_URL]
        .as_str()
        .expect("downstream url");
    let downstream_port = compose["services"]["downstream"]["command"][2]
        .as_str()
        .expect("downstream port");
    assert!(
        downstream_url.starts_with(&format!("http://downstream:{downstream_port}/")),
        "{downstream_url} must reach the downstream service"
    );
    assert_eq!(compose["services"]["topics"]["command"][0], "topics");
    assert_eq!(compose["services"]["topics"]["command"][1], "ensure");
    assert_eq!(
        compose["services"]["topics"]["environment"][consumer_env::GROUP],
        consumer["environment"][consumer_env::GROUP],
        "set-up and consumer agree on the group"
    );

    // Prometheus scrapes what compose runs, on the ports the binaries listen on.
    let prometheus = yaml("deploy/prometheus/prometheus.yml");
    let targets: BTreeSet<String> = prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape configs")
        .iter()
        .flat_map(|job| {
            job["static_configs"][0]["targets"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let admin_listen = gateway["environment"][gateway_env::ADMIN_LISTEN]
        .as_str()
        .expect("admin listen");
    assert!(
        targets.contains(&format!("gateway:{}", port_of(admin_listen))),
        "Prometheus scrapes the gateway's admin port: {targets:?}"
    );
    assert!(
        targets.contains(&format!("consumer:{}", port_of(metrics_listen))),
        "{targets:?}"
    );

    // Grafana loads the dashboards from where its provider looks.
    let provider = yaml("deploy/grafana/provisioning/dashboards/switchboard.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("path");
    assert!(compose["services"]["grafana"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .any(|v| v
            .as_str()
            .is_some_and(|v| v.ends_with(&format!(":{path}:ro")))));
}

#[test]
fn the_dockerfile_builds_small_non_root_images() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(froms.len() >= 3, "multi-stage: {froms:?}");
    assert!(
        froms.iter().any(|f| f.contains("-slim")),
        "a slim runtime image"
    );
    let user = dockerfile
        .lines()
        .find(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
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

#[test]
fn kubernetes_manifests_validate_and_match_the_contract() {
    let files = [manifests("deploy/k8s"), manifests("deploy/k8s/examples")].concat();
    let run = |paths: &[PathBuf]| {
        Command::new("kubernetes-validate")
            .arg("--strict")
            .args(paths)
            .output()
            .expect("kubernetes-validate (scripts/install-test-tools.sh installs it)")
    };
    let output = run(&files);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The validator does reject a broken manifest (so the check above can fail).
    let broken = std::env::temp_dir().join(format!("broken-{}.yaml", std::process::id()));
    std::fs::write(
        &broken,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
    )
    .expect("write");
    assert!(!run(std::slice::from_ref(&broken)).status.success());
    let _ = std::fs::remove_file(broken);

    let mut kinds = BTreeSet::new();
    let mut partitions = None;
    let mut consumer_replicas = None;
    let mut pod_ports: Vec<(String, String)> = Vec::new();
    for path in manifests("deploy/k8s") {
        for doc in yaml_documents(&relative(&path)) {
            let kind = doc["kind"].as_str().expect("kind").to_owned();
            let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
            kinds.insert(format!("{kind}/{name}"));
            if kind == "ConfigMap" {
                let text = doc["data"]["gateway.toml"].as_str().expect("gateway.toml");
                switchboard_gateway::config::GatewayConfig::from_toml(
                    text,
                    &[("EVENTBRIDGE_BASIC".to_owned(), "u:p".to_owned())].into(),
                )
                .expect("the ConfigMap holds a valid gateway config");
            }
            if kind == "Job" {
                assert!(
                    doc["spec"]["ttlSecondsAfterFinished"].as_i64().is_some(),
                    "{name}: ttlSecondsAfterFinished"
                );
            }
            let spec = &doc["spec"]["template"]["spec"];
            if spec.is_null() {
                continue;
            }
            assert_restricted(&name, spec);
            assert_eq!(spec["enableServiceLinks"], Value::Bool(false), "{name}");
            if kind != "Job" {
                assert!(
                    spec["topologySpreadConstraints"]
                        .as_sequence()
                        .is_some_and(|c| !c.is_empty()),
                    "{name}: spread across zones and nodes"
                );
            }
            for container in spec["containers"].as_sequence().into_iter().flatten() {
                let contract = if name.contains("gateway") {
                    gateway_env::ALL
                } else {
                    consumer_env::ALL
                };
                let secrets: BTreeSet<String> = ["EVENTBRIDGE_BASIC".to_owned()].into();
                for var in container["env"].as_sequence().into_iter().flatten() {
                    let var_name = var["name"].as_str().expect("env name");
                    assert_in_contract(&name, var_name, contract, &secrets);
                }
                let args: Vec<&str> = container["args"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect();
                if kind == "Job" {
                    assert_eq!(&args[..2], ["topics", "ensure"]);
                    assert!(
                        args.contains(&"--execute"),
                        "the Job creates, not only plans"
                    );
                    let at = args
                        .iter()
                        .position(|a| *a == "--partitions")
                        .expect("--partitions");
                    partitions = args[at + 1].parse::<i64>().ok();
                    continue;
                }
                // The probes and the scrape use the admin listener's port.
                let admin_var = if name.contains("gateway") {
                    gateway_env::ADMIN_LISTEN
                } else {
                    consumer_env::METRICS_LISTEN
                };
                let admin = env_value(container, admin_var)
                    .unwrap_or_else(|| panic!("{name} sets {admin_var}"));
                let probe_port = container["readinessProbe"]["httpGet"]["port"]
                    .as_str()
                    .expect("named port");
                let ports = container["ports"].as_sequence().expect("ports");
                let numbered = |port_name: &str| {
                    ports
                        .iter()
                        .find(|p| p["name"] == port_name)
                        .and_then(|p| p["containerPort"].as_i64())
                        .unwrap_or_else(|| panic!("{name}: no port {port_name}"))
                };
                assert_eq!(
                    port_of(admin),
                    numbered(probe_port).to_string(),
                    "{name}: probes on the admin port"
                );
                assert_eq!(
                    container["livenessProbe"]["httpGet"]["port"].as_str(),
                    Some(probe_port)
                );
                assert_eq!(
                    doc["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
                        .as_str(),
                    Some(port_of(admin)),
                    "{name}: scraped on the admin port"
                );
                assert_eq!(
                    container["readinessProbe"]["httpGet"]["path"], "/readyz",
                    "{name}"
                );
                assert_eq!(
                    container["livenessProbe"]["httpGet"]["path"], "/livez",
                    "{name}"
                );
                pod_ports.push((name.clone(), probe_port.to_owned()));
                if name.contains("gateway") {
                    let listen = env_value(container, gateway_env::LISTEN).expect("listen");
                    assert_eq!(port_of(listen), numbered("http").to_string());
                    assert!(
                        container["lifecycle"]["preStop"].is_mapping(),
                        "{name}: a preStop pause while the endpoint leaves the Service"
                    );
                }
                if name.contains("consumer") {
                    consumer_replicas = doc["spec"]["replicas"].as_i64();
                    let events_per_day: u64 = doc["metadata"]["annotations"]
                        ["switchboard.io/sized-for-events-per-day"]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .expect("the consumer says what its memory is sized for");
                    let window = humantime::parse_duration(
                        env_value(container, consumer_env::DEDUPE_WINDOW).unwrap_or("24h"),
                    )
                    .expect("window");
                    let concurrency: u64 = env_value(container, consumer_env::CONCURRENCY)
                        .and_then(|v| v.parse().ok())
                        .expect("concurrency");
                    let replicas = doc["spec"]["replicas"].as_u64().expect("replicas");
                    // Sized for one member down: its partitions move to the others.
                    let needed = switchboard_consumer::dedupe::memory_budget_bytes(
                        events_per_day,
                        window,
                        replicas - 1,
                        concurrency,
                        switchboard_proto::limits::DEFAULT_MAX_BODY_BYTES as u64,
                    );
                    let limit = quantity_bytes(
                        container["resources"]["limits"]["memory"]
                            .as_str()
                            .expect("memory limit"),
                    );
                    assert!(
                        limit >= needed,
                        "{name}: memory limit {limit} below the {needed} bytes its dedupe window needs"
                    );
                }
            }
        }
    }
    for wanted in [
        "Deployment/switchboard-gateway",
        "Service/switchboard-gateway",
        "Ingress/switchboard-gateway",
        "HorizontalPodAutoscaler/switchboard-gateway",
        "PodDisruptionBudget/switchboard-gateway",
        "StatefulSet/switchboard-consumer",
        "Service/switchboard-consumer",
        "PodDisruptionBudget/switchboard-consumer",
        "Job/switchboard-topics",
    ] {
        assert!(kinds.contains(wanted), "{wanted} missing: {kinds:?}");
    }
    let (partitions, replicas) = (
        partitions.expect("partitions"),
        consumer_replicas.expect("replicas"),
    );
    assert!(
        replicas <= partitions,
        "{replicas} consumers for {partitions} partitions: some would idle"
    );

    // The Prometheus Operator's PodMonitors scrape those admin ports, with
    // the job names the alert rules use.
    let rules =
        std::fs::read_to_string(repo("deploy/prometheus/rules/switchboard.yml")).expect("rules");
    for monitor in yaml_documents("deploy/prometheus-operator/podmonitors.yaml") {
        assert_eq!(monitor["kind"], "PodMonitor");
        let app = monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
            .as_str()
            .expect("selector");
        assert_eq!(monitor["spec"]["jobLabel"], "app.kubernetes.io/name");
        assert!(
            rules.contains(&format!("job=\"{app}\"")),
            "the rules know job {app}"
        );
        let port = monitor["spec"]["podMetricsEndpoints"][0]["port"]
            .as_str()
            .expect("port");
        assert!(
            pod_ports.contains(&(app.to_owned(), port.to_owned())),
            "{app} has no admin port named {port}: {pod_ports:?}"
        );
    }
}

#[test]
fn strimzi_topics_are_what_topics_ensure_would_create() {
    use switchboard_consumer::ops::setup::{self, cluster::Cluster, EnsureOptions};
    let ladder = switchboard_consumer::stage::Ladder::new(
        switchboard_proto::GroupTopics::new("webhooks", "crm-sync").expect("names"),
        switchboard_consumer::stage::default_retry_stages(),
    );
    let options = EnsureOptions {
        partitions: Some(12),
        replication_factor: setup::DEFAULT_REPLICATION_FACTOR,
        min_insync_replicas: setup::DEFAULT_MIN_INSYNC_REPLICAS,
        dlt_retention: std::time::Duration::from_secs(14 * 86_400),
        main_retention: Some(std::time::Duration::from_secs(7 * 86_400)),
        main_max_message_bytes: switchboard_proto::limits::DEFAULT_MAIN_MAX_MESSAGE_BYTES,
    };
    let three_brokers = Cluster {
        brokers: 3,
        ..Cluster::default()
    };
    let plan = setup::plan(
        &ladder,
        &options,
        std::time::Duration::from_secs(86_400),
        &three_brokers,
    );
    let topics: Vec<Value> = yaml_documents("deploy/strimzi/switchboard.yaml")
        .into_iter()
        .filter(|d| d["kind"] == "KafkaTopic")
        .collect();
    assert_eq!(topics.len(), plan.topics.len());
    for (resource, planned) in topics.iter().zip(&plan.topics) {
        let name = &planned.spec.name;
        assert_eq!(resource["spec"]["topicName"].as_str(), Some(name.as_str()));
        assert_eq!(resource["spec"]["partitions"].as_u64(), Some(12), "{name}");
        assert_eq!(resource["spec"]["replicas"].as_u64(), Some(3), "{name}");
        let config: std::collections::BTreeMap<String, String> =
            serde_yaml_ng::from_value(resource["spec"]["config"].clone()).expect("config");
        assert_eq!(&config, &planned.spec.configs, "{name}");
    }
    let users: BTreeSet<String> = yaml_documents("deploy/strimzi/switchboard.yaml")
        .into_iter()
        .filter(|d| d["kind"] == "KafkaUser")
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    // The manifests read each user's password Secret by the user's name.
    for manifest in manifests("deploy/k8s") {
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        for user in text
            .lines()
            .filter(|l| l.contains("KAFKA_SASL_USERNAME"))
            .filter_map(|l| l.split("value: ").nth(1))
        {
            let user = user.trim_end_matches('}').trim();
            assert!(users.contains(user), "{user} has no KafkaUser");
        }
    }
}

#[test]
#[should_panic(expected = "seccompProfile")]
fn the_restricted_check_refuses_a_pod_without_a_seccomp_profile() {
    let pod: Value = serde_yaml_ng::from_str(
        "securityContext: {runAsNonRoot: true}\n\
         containers:\n\
         - name: x\n  securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n",
    )
    .expect("yaml");
    assert_restricted("x", &pod);
}

/// Every value of a bounded metric label is named where an SRE looks it up:
/// the metric's help text (what `/metrics` says), the README and the RUNBOOK.
#[test]
fn every_label_value_is_named_in_the_help_text_the_readme_and_the_runbook() {
    use switchboard_gateway::producer::ProduceErrorKind;
    use switchboard_proto::DltReason;
    let readme = std::fs::read_to_string(repo("README.md")).expect("README");
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
                readme.contains(&quoted),
                "{label}: README.md never names {quoted}"
            );
            assert!(
                runbook.contains(&quoted),
                "{label}: RUNBOOK.md never names {quoted}"
            );
        }
    }
}

/// The front door is closed in every production example: each gateway
/// configuration shipped under `deploy/` (and mounted by the compose file)
/// gives every source a real scheme, never `none`; only the demo, whose
/// sender is the script itself, opts in.
#[test]
fn no_production_example_accepts_unauthenticated_webhooks_and_the_demo_opts_in() {
    let mut configs = vec![(
        "deploy/config/gateway.example.toml".to_owned(),
        std::fs::read_to_string(repo("deploy/config/gateway.example.toml")).expect("example"),
    )];
    for path in manifests("deploy/k8s") {
        for doc in yaml_documents(&relative(&path)) {
            if let Some(text) = doc["data"]["gateway.toml"].as_str() {
                configs.push((relative(&path), text.to_owned()));
            }
        }
    }
    let compose = std::fs::read_to_string(repo("docker-compose.yml")).expect("compose");
    assert!(
        compose.contains("./deploy/config/gateway.example.toml:"),
        "compose mounts the example configuration"
    );
    assert!(configs.len() >= 2, "{configs:?}");
    let secrets: BTreeMap<String, String> = configs
        .iter()
        .flat_map(|(_, text)| secret_variables(text))
        .map(|name| (name, "u:p".to_owned()))
        .collect();
    for (path, text) in &configs {
        let config = switchboard_gateway::config::GatewayConfig::from_toml(text, &secrets)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        for source in config.sources.values() {
            assert!(
                !source.verifier.is_none(),
                "{path}: source {} accepts unauthenticated webhooks",
                source.name
            );
        }
    }
    let demo = std::fs::read_to_string(repo("scripts/demo.sh")).expect("demo");
    assert!(
        demo.contains("auth = { scheme = \"none\" }"),
        "the demo opts in"
    );
}
