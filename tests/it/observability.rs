//! The dashboards and alert rules in `deploy/`, proven against a real
//! Prometheus scraping a live gateway and consumer while events flow, some
//! of them failing: every panel query returns data, every alert expression
//! parses and every metric it names exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use http::StatusCode;

use crate::downstream::{Answer, Downstream};
use crate::harness::{eventually, log_dir, probably_free_port, spawn_tied, Gateway, HttpClient};
use crate::pipeline::{create_topics_of_group, fresh_group, ConsumerProcess, FreshGroup};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
        .join(path)
}

fn promtool(args: &[&str]) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (scripts/install-test-tools.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every PromQL expression of a dashboard as written, with its panel's title.
fn panel_queries_raw(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        for target in panel["targets"].as_array().expect("targets") {
            queries.push((
                title.clone(),
                target["expr"].as_str().expect("expr").to_owned(),
            ));
        }
    }
    queries
}

/// Every PromQL expression of a dashboard, with Grafana's variables filled in.
fn panel_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {title} must use the $datasource variable"
        );
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let filled = expr
                .replace("$__rate_interval", "1m")
                .replace("$__range", "10m")
                .replace("$source", ".*")
                .replace("$group", ".*");
            assert!(!filled.contains('$'), "unknown variable in {title}: {expr}");
            queries.push((title.clone(), filled));
        }
    }
    queries
}

#[tokio::test]
async fn dashboards_and_alerts_work_against_a_real_prometheus() {
    // Static checks of the shipped files.
    let rules = deploy("prometheus/rules/switchboard.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().expect("path")]);
    assert!(ok, "promtool check rules: {out}");
    let (ok, out) = promtool(&[
        "check",
        "config",
        deploy("prometheus/prometheus.yml").to_str().expect("path"),
    ]);
    assert!(ok, "promtool check config: {out}");

    // A live pipeline with failures: a gateway, a consumer, a downstream;
    // and a second group on the same main topic, delivering everything to a
    // service of its own.
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("observe", 2).await;
    let second_group = format!("{main}-second");
    create_topics_of_group(&bootstrap, &main, &second_group, 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let second_downstream = Downstream::start(200, Duration::ZERO).await;
    let gateway = Gateway::start(&bootstrap, &main, None, &[]).await;
    gateway.wait_ready().await;
    let consumer = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
    let second = ConsumerProcess::start(
        &bootstrap,
        &main,
        &second_group,
        &second_downstream.url(),
        &[],
    )
    .await;

    // Prometheus scraping both every second, with the shipped rules.
    let prometheus_port = probably_free_port();
    let dir = log_dir().join(format!("prometheus-{prometheus_port}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{rules:?}]\n\
             scrape_configs:\n\
             - job_name: switchboard-gateway\n  static_configs: [{{targets: [\"{}\"]}}]\n\
             - job_name: switchboard-consumer\n  static_configs: [{{targets: [\"{}\", \"{}\"]}}]\n",
            gateway.admin, consumer.metrics_addr, second.metrics_addr
        ),
    )
    .expect("write config");
    let (ok, out) = promtool(&["check", "config", config.to_str().expect("path")]);
    assert!(ok, "promtool check config (live): {out}");
    let mut command = Command::new("prometheus");
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"));
    let _prometheus = KillOnDrop(spawn_tied(command));
    let api = format!("http://127.0.0.1:{prometheus_port}/api/v1");
    let client = HttpClient::new();

    // Traffic: plain events, one the sender repeats, failures that retry and
    // succeed, failures that end in the DLT.
    for i in 0..40 {
        let id = format!("obs-{i}");
        match i % 8 {
            1 => downstream.script(&id, &[Answer::status(503)]),
            2 => downstream.script(&id, &[Answer::status(400)]),
            3 => downstream.script(&id, &[Answer::status(500); 3]),
            _ => {}
        }
        let body = format!(r#"{{"id":"{id}","detail-type":"test","detail":{{}}}}"#);
        let copies = if i % 8 == 4 { 2 } else { 1 };
        for _ in 0..copies {
            let reply = client
                .post_json(&gateway.url("/webhooks/genesys"), body.clone(), &[])
                .await
                .expect("post");
            assert_eq!(reply.status, StatusCode::ACCEPTED);
        }
    }
    eventually(
        "dead letters and retries happened",
        Duration::from_secs(30),
        || async {
            let dead = consumer
                .metric("switchboard_consumer_dead_lettered_total", &[])
                .await;
            let retried_ok = consumer
                .metric(
                    "switchboard_consumer_events_handled_total",
                    &["outcome=\"delivered\"", "stage=\"retry-1m\""],
                )
                .await;
            (dead >= 10.0 && retried_ok >= 5.0).then_some(())
        },
    )
    .await;

    let query = |expr: String| {
        let client = &client;
        let url = format!("{api}/query?query={}", encode(&expr));
        async move {
            let reply = client.get(&url).await.ok()?;
            let body: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
            Some((reply.status, body))
        }
    };
    // Wait until Prometheus has the consumer's lag (librdkafka statistics
    // arrive every 5 s) and several scrapes of everything.
    eventually(
        "prometheus scraped the lag",
        Duration::from_secs(60),
        || async {
            let (_, body) =
                query("switchboard_consumer_lag_records{stage!=\"main\"}".into()).await?;
            let scrapes = query("count_over_time(up[1m])".into()).await?;
            let enough = scrapes.1["data"]["result"].as_array().is_some_and(|r| {
                r.len() == 3
                    && r.iter().all(|s| {
                        s["value"][1]
                            .as_str()
                            .and_then(|v| v.parse::<f64>().ok())
                            .unwrap_or(0.0)
                            >= 5.0
                    })
            });
            (body["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
                && enough)
                .then_some(())
        },
    )
    .await;

    // (1b) docs/metrics.md names every metric the two binaries export, and
    // only those.
    let mut exported = BTreeSet::new();
    for url in [gateway.admin_url("/metrics"), consumer.url("/metrics")] {
        let text = client.get(&url).await.expect("metrics").body;
        for line in String::from_utf8_lossy(&text).lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                exported.insert(rest.split(' ').next().unwrap_or_default().to_owned());
            }
        }
    }
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md"))
            .expect("docs/metrics.md");
    let undocumented: Vec<&String> = exported
        .iter()
        .filter(|name| !page.contains(&format!("`{name}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "docs/metrics.md does not name {undocumented:?}"
    );
    let documented: BTreeSet<String> = page
        .split('`')
        .filter(|word| {
            word.starts_with("switchboard_")
                && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .map(str::to_owned)
        .collect();
    let stale: Vec<&String> = documented
        .iter()
        .filter(|name| !exported.contains(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/metrics.md names {stale:?}, which neither binary exports"
    );

    // (2) Every panel of every dashboard returns data.
    for name in ["pipeline-overview.json", "retries-dlt.json"] {
        let text = std::fs::read_to_string(deploy(&format!("grafana/dashboards/{name}")))
            .expect("dashboard");
        let dashboard: serde_json::Value = serde_json::from_str(&text).expect("json");
        let variables: BTreeSet<&str> = dashboard["templating"]["list"]
            .as_array()
            .expect("templating")
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert!(
            variables.contains("datasource")
                && variables.contains("source")
                && variables.contains("group"),
            "{name}"
        );
        // Every consumer query is filtered by the group variable, and,
        // unless it is the ledger (which sums by group on its own), split by it.
        for (title, expr) in panel_queries_raw(&dashboard) {
            if expr.contains("switchboard_consumer_") {
                assert!(
                    expr.contains("group=~\"$group\""),
                    "{name} / {title}: {expr}"
                );
                assert!(
                    expr.contains("(group") || expr.contains(", group"),
                    "{name} / {title} keeps groups apart: {expr}"
                );
            }
        }
        for (title, expr) in panel_queries(&dashboard) {
            let (status, body) = query(expr.clone()).await.expect("prometheus answers");
            assert_eq!(status, StatusCode::OK, "{name} / {title}: {expr}: {body}");
            let result = body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(!result.is_empty(), "{name} / {title} shows nothing: {expr}");
            // What both groups did is shown apart, never summed.
            if title.starts_with("Delivered / retried") {
                let groups: BTreeSet<&str> = result
                    .iter()
                    .filter_map(|s| s["metric"]["group"].as_str())
                    .collect();
                assert_eq!(
                    groups,
                    BTreeSet::from([group.as_str(), second_group.as_str()]),
                    "{name} / {title}"
                );
            }
        }
    }

    // (3) The ledger closes for each group, on the counters themselves:
    // what the gateway accepted equals what each group settled.
    let ledger = "sum by (source) (switchboard_gateway_events_accepted_total) - on (source) group_right \
                  sum by (source, group) (switchboard_consumer_events_handled_total{outcome=~\"delivered|dead_lettered|duplicate|filtered\"})";
    eventually(
        "the ledger closes for each group",
        Duration::from_secs(30),
        || async {
            let (_, body) = query(ledger.to_owned()).await?;
            let series = body["data"]["result"].as_array()?.clone();
            let groups: BTreeSet<&str> = series
                .iter()
                .filter_map(|s| s["metric"]["group"].as_str())
                .collect();
            let closed = series.len() == 2
                && groups == BTreeSet::from([group.as_str(), second_group.as_str()])
                && series.iter().all(|s| s["value"][1] == "0");
            closed.then_some(())
        },
    )
    .await;

    // (4) Every alert expression parses, every metric it names exists, and
    // its runbook_url points at a section of RUNBOOK.md.
    let sections = runbook_sections();
    let text = std::fs::read_to_string(&rules).expect("rules");
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let mut alerts = 0;
    for group in parsed["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().expect("alert name");
            let expr = rule["expr"].as_str().expect("expr");
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{name} has a summary"
            );
            assert!(
                rule["annotations"]["runbook"].is_string(),
                "{name} has a runbook line"
            );
            assert!(
                rule["for"].is_string(),
                "{name} has a `for:`, so one blip does not page"
            );
            let url = rule["annotations"]["runbook_url"]
                .as_str()
                .expect("runbook_url");
            let anchor = url
                .strip_prefix("RUNBOOK.md#")
                .expect("a RUNBOOK.md section");
            assert!(
                sections.contains(anchor),
                "{name}: RUNBOOK.md has no section #{anchor}"
            );
            let (status, body) = query(expr.to_owned()).await.expect("prometheus answers");
            assert_eq!(status, StatusCode::OK, "{name} does not parse: {body}");
            if name.ends_with("Absent") || name.ends_with("TargetDown") {
                let firing = body["data"]["result"].as_array().map_or(0, Vec::len);
                assert_eq!(firing, 0, "{name} fires while everything runs: {body}");
            }
            let metrics: BTreeSet<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("switchboard_"))
                .collect();
            assert!(
                !metrics.is_empty() || expr.contains("up{"),
                "{name} names no metric"
            );
            for metric in metrics {
                let url = format!("{api}/series?match[]={}", encode(metric));
                let reply = client.get(&url).await.expect("series");
                let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
                assert!(
                    body["data"].as_array().is_some_and(|d| !d.is_empty()),
                    "alert {name} uses {metric}, which no component exports"
                );
            }
            alerts += 1;
        }
    }
    assert!(alerts >= 10);

    // (5) With every consumer gone, the absence alert's expression fires
    // (the lag series vanish with the consumers; this one does not).
    drop(consumer);
    drop(second);
    let absent = "absent(up{job=\"switchboard-consumer\"} == 1)";
    eventually(
        "consumers reported absent",
        Duration::from_secs(20),
        || async {
            let (_, body) = query(absent.to_owned()).await?;
            (body["data"]["result"].as_array()?.len() == 1).then_some(())
        },
    )
    .await;
}

/// The anchors of RUNBOOK.md's headings, as GitHub makes them.
fn runbook_sections() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../RUNBOOK.md");
    let text = std::fs::read_to_string(path).expect("RUNBOOK.md");
    text.lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
                    ' ' => Some('-'),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
