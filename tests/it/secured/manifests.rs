//! The deployment files sign in exactly as the secured tests do: the same
//! security protocol and SASL mechanism, a private CA, and for each role
//! the identity whose ACLs the Strimzi file grants and the tests prove.

use std::path::Path;

use super::{CONSUMER, GATEWAY, OPERATOR, SASL_MECHANISM, SECURITY_PROTOCOL};

fn workspace(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The `KAFKA_*` variables of the first container of the workload in `file`.
fn kafka_env(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace(file)).expect("manifest");
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: serde_yaml_ng::Value = serde::Deserialize::deserialize(document).expect("YAML");
        let pod = &value["spec"]["template"]["spec"];
        let pod = if pod.is_null() {
            &value["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        } else {
            pod
        };
        if let Some(env) = pod["containers"][0]["env"].as_sequence() {
            return env
                .iter()
                .filter_map(|var| {
                    let name = var["name"].as_str()?;
                    let value = var["value"].as_str().unwrap_or("<from a secret>");
                    name.starts_with("KAFKA_")
                        .then(|| (name.to_owned(), value.to_owned()))
                })
                .collect();
        }
    }
    panic!("{file}: no container env");
}

#[test]
fn kubernetes_workloads_sign_in_as_the_identities_the_secured_tests_prove() {
    let users: Vec<String> = super::strimzi_users();
    for (file, identity) in [
        ("deploy/k8s/gateway.yaml", GATEWAY.0),
        ("deploy/k8s/consumer.yaml", CONSUMER.0),
        ("deploy/k8s/topics-job.yaml", OPERATOR.0),
    ] {
        let env = kafka_env(file);
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(
            get("KAFKA_SECURITY_PROTOCOL"),
            Some(SECURITY_PROTOCOL),
            "{file}"
        );
        assert_eq!(get("KAFKA_SASL_MECHANISM"), Some(SASL_MECHANISM), "{file}");
        assert_eq!(get("KAFKA_SASL_USERNAME"), Some(identity), "{file}");
        assert_eq!(
            get("KAFKA_SASL_PASSWORD"),
            Some("<from a secret>"),
            "{file}: never inline"
        );
        assert!(
            get("KAFKA_SSL_CA_LOCATION").is_some(),
            "{file}: a private CA"
        );
        assert!(
            users.contains(&identity.to_owned()),
            "{identity} is a Strimzi KafkaUser"
        );
    }
}

#[test]
fn config_examples_name_the_same_identities_and_mechanism() {
    for (file, identity) in [
        ("deploy/config/gateway.example.toml", GATEWAY.0),
        ("deploy/config/consumer.example.toml", CONSUMER.0),
    ] {
        let text = std::fs::read_to_string(workspace(file)).expect("example");
        for line in [
            format!("# \"security.protocol\" = \"{SECURITY_PROTOCOL}\""),
            format!("# \"sasl.mechanisms\" = \"{SASL_MECHANISM}\""),
            format!("# \"sasl.username\" = \"{identity}\""),
        ] {
            assert!(text.contains(&line), "{file} lacks {line}");
        }
    }
}
