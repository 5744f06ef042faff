//! docker-compose.yml, the Dockerfile and the configuration examples hold to
//! the binaries' contract; no production example opens the front door.

use super::*;

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
    let consumer_admin = consumer["environment"][consumer_env::ADMIN_LISTEN]
        .as_str()
        .expect("metrics listen");
    let downstream_url = consumer["environment"][consumer_env::DESTINATION_URL]
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
        targets.contains(&format!("consumer:{}", port_of(consumer_admin))),
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
