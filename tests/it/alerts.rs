//! The alert rules' own unit tests (promtool test rules): each alert fires
//! on the series it is meant for, after its `for`, and not on a blip.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{log_dir, unique_topic};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
        .join(path)
}

/// The destination alerts fire on the breaker's gauge after their `for`,
/// and only for their own causes (promtool's rule unit tests, on the
/// shipped rules with their annotations left out: those are prose).
#[test]
fn destination_alerts_fire_when_a_breaker_stays_open() {
    let text = std::fs::read_to_string(deploy("prometheus/rules/switchboard.yml")).expect("rules");
    let mut rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    for group in rules["groups"].as_sequence_mut().expect("groups") {
        for rule in group["rules"].as_sequence_mut().expect("rules") {
            if let Some(rule) = rule.as_mapping_mut() {
                rule.remove("annotations");
            }
        }
    }
    let dir = log_dir().join(unique_topic("alert-tests"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("rules.yml"),
        serde_yaml_ng::to_string(&rules).expect("yaml"),
    )
    .expect("rules copy");
    let open = |labels: &str, values: &str| {
        format!(
            "      - series: 'switchboard_consumer_destination_breaker_open{{group=\"crm-sync\",{labels}}}'\n        values: '{values}'\n"
        )
    };
    let expect = |at: &str, alert: &str, labels: Option<&str>| {
        let alerts = labels.map_or("[]".to_owned(), |l| {
            format!("\n          - exp_labels: {{severity: critical, group: crm-sync, {l}}}")
        });
        format!(
            "      - eval_time: {at}\n        alertname: {alert}\n        exp_alerts: {alerts}\n"
        )
    };
    let tests = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 30s\ntests:\n  - interval: 30s\n    input_series:\n{}{}{}    alert_rule_test:\n{}{}{}{}{}",
        open("destination=\"default\",cause=\"credentials\"", "0 1x20"),
        open("destination=\"billing\",cause=\"tls\"", "0 1x20"),
        open("destination=\"hooks\",cause=\"unreachable\"", "0 1x4 0x16"),
        expect("30s", "SwitchboardDestinationRefusesCredentials", None),
        expect(
            "2m",
            "SwitchboardDestinationRefusesCredentials",
            Some("destination: default, cause: credentials")
        ),
        expect("2m", "SwitchboardDestinationDown", None),
        expect(
            "6m",
            "SwitchboardDestinationDown",
            Some("destination: billing, cause: tls")
        ),
        expect(
            "6m",
            "SwitchboardDestinationRefusesCredentials",
            Some("destination: default, cause: credentials")
        ),
    );
    std::fs::write(dir.join("tests.yml"), tests).expect("tests");
    let output = Command::new("promtool")
        .args(["test", "rules", "tests.yml"])
        .current_dir(&dir)
        .output()
        .expect("promtool (scripts/install-test-tools.sh installs it)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
