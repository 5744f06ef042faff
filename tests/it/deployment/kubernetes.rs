//! The Kubernetes manifests and Strimzi resources: valid, restricted, and
//! what the binaries and `topics ensure` expect.

use super::*;
use switchboard_consumer::prefetch::DEFAULT_PREFETCH_BUDGET_BYTES;

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
                    consumer_env::ADMIN_LISTEN
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
                        env_value(container, consumer_env::PREFETCH_BUDGET_BYTES)
                            .map(|v| v.parse().expect("a number of bytes"))
                            .unwrap_or(DEFAULT_PREFETCH_BUDGET_BYTES),
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
    use switchboard_consumer::ops::topics::plan::{self, cluster::Cluster, EnsureOptions};
    let ladder = switchboard_consumer::stage::Ladder::new(
        switchboard_proto::GroupTopics::new("webhooks", "crm-sync").expect("names"),
        switchboard_consumer::stage::default_retry_stages(),
    );
    let options = EnsureOptions {
        partitions: Some(12),
        replication_factor: plan::DEFAULT_REPLICATION_FACTOR,
        min_insync_replicas: plan::DEFAULT_MIN_INSYNC_REPLICAS,
        dlt_retention: std::time::Duration::from_secs(14 * 86_400),
        main_retention: Some(std::time::Duration::from_secs(7 * 86_400)),
        main_max_message_bytes: switchboard_proto::limits::DEFAULT_MAIN_MAX_MESSAGE_BYTES,
    };
    let three_brokers = Cluster {
        brokers: 3,
        ..Cluster::default()
    };
    let plan = plan::plan(
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
