//! Deployment files checked without Docker or a cluster: docker-compose.yml
//! against the repository and the binaries' environment contract, the
//! Dockerfile's stages, and the Kubernetes manifests against the API schemas
//! (kubernetes-validate, offline) and the same contract.

use std::collections::BTreeSet;
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
    assert!(
        compose["services"]["kafka"]["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("apache/kafka:")),
        "the official apache/kafka image"
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
    assert!(
        targets.contains(&format!("gateway:{}", port_of(listen))),
        "{targets:?}"
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

#[test]
fn kubernetes_manifests_validate_and_match_the_contract() {
    let files: Vec<PathBuf> = std::fs::read_dir(repo("deploy/k8s"))
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
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
    for path in &files {
        let path = path
            .strip_prefix(repo(""))
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        for doc in yaml_documents(&path) {
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
            let spec = &doc["spec"]["template"]["spec"];
            for container in spec["containers"].as_sequence().into_iter().flatten() {
                let (contract, listen_var) = if name.contains("gateway") {
                    (gateway_env::ALL, gateway_env::LISTEN)
                } else {
                    (consumer_env::ALL, consumer_env::METRICS_LISTEN)
                };
                let secrets: BTreeSet<String> = ["EVENTBRIDGE_BASIC".to_owned()].into();
                let mut listen = None;
                for var in container["env"].as_sequence().into_iter().flatten() {
                    let var_name = var["name"].as_str().expect("env name");
                    assert_in_contract(&name, var_name, contract, &secrets);
                    if var_name == listen_var {
                        listen = var["value"].as_str().map(str::to_owned);
                    }
                }
                let args: Vec<&str> = container["args"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect();
                if kind == "Job" {
                    assert_eq!(&args[..2], ["topics", "ensure"]);
                    let at = args
                        .iter()
                        .position(|a| *a == "--partitions")
                        .expect("--partitions");
                    partitions = args[at + 1].parse::<i64>().ok();
                    continue;
                }
                let listen = listen.unwrap_or_else(|| panic!("{name} sets {listen_var}"));
                let port = container["ports"][0]["containerPort"]
                    .as_i64()
                    .expect("port");
                assert_eq!(
                    port_of(&listen),
                    port.to_string(),
                    "{name}: probe port = listen port"
                );
                assert_eq!(
                    container["readinessProbe"]["httpGet"]["path"], "/readyz",
                    "{name}"
                );
                assert_eq!(
                    container["livenessProbe"]["httpGet"]["path"], "/livez",
                    "{name}"
                );
                if name.contains("consumer") {
                    consumer_replicas = doc["spec"]["replicas"].as_i64();
                }
            }
        }
    }
    for wanted in [
        "Deployment/switchboard-gateway",
        "Service/switchboard-gateway",
        "HorizontalPodAutoscaler/switchboard-gateway",
        "PodDisruptionBudget/switchboard-gateway",
        "StatefulSet/switchboard-consumer",
        "Service/switchboard-consumer",
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
}
