//! The gateway's HTTP surface against its description, machine-checked:
//! schemathesis (PyPI; `scripts/install-test-tools.sh` installs it)
//! generates requests from `docs/openapi.yaml` against a live gateway on the
//! real broker, and every answer must match the description — status,
//! content type, problem+json schema, `Retry-After` — with no 5xx at all
//! while the broker is up (the documented 503 needs an outage; it is
//! `gateway_outage`'s).

use std::path::Path;
use std::process::Command;

use crate::harness::{create_topic, log_dir, shared_kafka, unique_topic, Gateway};

/// Examples per operation and phase; `SCHEMATHESIS_EXAMPLES` raises it.
fn examples() -> String {
    std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "60".to_owned())
}

fn schemathesis(base: &str, include: &str, report: &Path) -> (bool, String) {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml");
    let output = Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&spec)
        .args(["--url", base])
        .args(["--include-path-regex", include])
        .args(["--checks", "all"])
        // Kafka keeps what is accepted: no resource to delete or re-read.
        .args([
            "--exclude-checks",
            "use_after_free,ensure_resource_availability",
        ])
        .args(["--max-examples", &examples()])
        .args(["--seed", "20261123"])
        .args(["--workers", "2"])
        .args(["--report", "junit"])
        .arg("--report-junit-path")
        .arg(report)
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis (scripts/install-test-tools.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_the_openapi_description() {
    let bootstrap = shared_kafka().await.bootstrap();
    let topic = unique_topic("openapi");
    create_topic(&bootstrap, &topic, 1).await;
    let gateway = Gateway::start(&bootstrap, &topic, None, &[]).await;
    gateway.wait_ready().await;
    let dir = log_dir();
    let (public, admin) = (gateway.url(""), gateway.admin_url(""));
    let (ok, out) = tokio::task::spawn_blocking(move || {
        let public = schemathesis(&public, "^/webhooks/", &dir.join("schemathesis-public.xml"));
        let admin = schemathesis(
            &admin,
            "^/(metrics|livez|readyz)$",
            &dir.join("schemathesis-admin.xml"),
        );
        (public.0 && admin.0, format!("{}\n{}", public.1, admin.1))
    })
    .await
    .expect("schemathesis thread");
    eprintln!("{out}");
    assert!(
        ok,
        "schemathesis found answers that do not match docs/openapi.yaml:\n{out}"
    );
    // The generated requests reached the core: some were accepted.
    let accepted = gateway
        .metric(switchboard_gateway::metrics::ACCEPTED, &[])
        .await;
    assert!(accepted > 0.0, "no generated request was accepted:\n{out}");
    assert!(
        !out.contains("Missing test data"),
        "schemathesis could not reach the core:\n{out}"
    );
    assert!(
        !gateway.log_text().contains("panicked"),
        "the gateway panicked: {}",
        gateway.log_text()
    );
}
