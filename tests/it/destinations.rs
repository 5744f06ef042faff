//! What a protected destination gets from the consumer, end to end against
//! real HTTP servers: Standard Webhooks signatures that the reference Python
//! library (`standardwebhooks`) verifies, and a bearer token read from a
//! file and rotated without a restart.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::downstream::Downstream;
use crate::harness::{eventually, log_dir, rotate_file, unique_topic, HttpClient, PythonReceiver};
use crate::pipeline::{consumer_with_config, envelope, ids, produce_envelopes, produce_events};

/// The receiver's secret, and a second one only the consumer holds (a
/// rotation in progress: the receiver has not switched yet).
const RECEIVER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEXT_SECRET: &str = "whsec_bmV4dC1zZWNyZXQtbm90LXlldC1zaGFyZWQ=";

/// The Python receiver (tests/receivers/standard_webhooks_receiver.py): its
/// URL and the lines it printed ("verified ID" / "rejected ID: why").
struct Receiver {
    url: String,
    child: PythonReceiver,
}

impl Receiver {
    fn start() -> Receiver {
        let child = PythonReceiver::start(
            "standard_webhooks_receiver.py",
            &[],
            &[("WHSEC", RECEIVER_SECRET)],
            &log_dir(),
        );
        Receiver {
            url: format!("http://127.0.0.1:{}/hooks", child.port),
            child,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.child.lines()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_verify_with_the_standard_webhooks_library_during_a_rotation() {
    let receiver = Receiver::start();
    // The library itself refuses what is not signed with its secret (a
    // fresh timestamp, so the signature is what fails).
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let forged = HttpClient::new()
        .post_json(
            &receiver.url,
            "{}",
            &[
                ("webhook-id", "forged"),
                ("webhook-timestamp", now.as_str()),
                ("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl"),
            ],
        )
        .await
        .expect("request");
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    let (bootstrap, main, consumer) = consumer_with_config(
        "signed",
        "[destination]\nsigning = { secrets = [{ env = \"NEXT_WHSEC\" }, { env = \"CURRENT_WHSEC\" }] }\n",
        &receiver.url,
        &[("NEXT_WHSEC", NEXT_SECRET), ("CURRENT_WHSEC", RECEIVER_SECRET)],
    )
    .await;
    let events = ids("signed", 5);
    produce_events(&bootstrap, &main, &events).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let lines = receiver.lines();
        let verified = lines
            .iter()
            .filter(|l| l.starts_with("verified signed-"))
            .count();
        if verified == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "five verified deliveries within 30 s; the receiver said: {lines:?}; the consumer: {}",
            consumer.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = receiver.lines();
    assert!(
        lines.iter().all(|l| !l.starts_with("rejected signed-")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rejected forged: No matching signature")),
        "the forgery failed on its signature: {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_file_rotates_without_a_restart() {
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let token = log_dir().join(format!("{}.token", unique_topic("token")));
    std::fs::write(&token, "first-token\n").expect("token");
    let config = format!(
        "[destination]\nauth = {{ kind = \"bearer\", token = {{ file = {:?} }} }}\n",
        token.to_string_lossy()
    );
    let (bootstrap, main, consumer) =
        consumer_with_config("bearer", &config, &downstream.url(), &[]).await;
    let tokens = |prefix: &'static str| {
        let downstream = &downstream;
        move || {
            downstream
                .seen()
                .into_iter()
                .filter(|s| s.event_id.starts_with(prefix))
                .map(|s| {
                    s.headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        }
    };
    produce_events(&bootstrap, &main, &ids("before", 3)).await;
    let before = tokens("before-");
    eventually("three deliveries", Duration::from_secs(30), || async {
        (before().len() == 3).then_some(())
    })
    .await;
    assert!(
        before().iter().all(|t| t == "Bearer first-token"),
        "{:?}",
        before()
    );

    // The operator (or Kubernetes) replaces the file; the process keeps running.
    rotate_file(&token, "second-token\n");
    // Past the consumer's once-a-second look at the file (credentials/secret.rs):
    // a fixed wait, because the behaviour is "within a second", not an event.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    produce_events(&bootstrap, &main, &ids("after", 3)).await;
    let after = tokens("after-");
    eventually("three more deliveries", Duration::from_secs(30), || async {
        (after().len() == 3).then_some(())
    })
    .await;
    assert!(
        after().iter().all(|t| t == "Bearer second-token"),
        "{:?}",
        after()
    );
    assert!(
        !consumer.log_text().contains("first-token"),
        "the token never appears in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_source_headers_reach_a_destination_that_asks_for_them() {
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let (bootstrap, main, _consumer) = consumer_with_config(
        "forward",
        "[destination]\nforward_source_headers = true\n",
        &downstream.url(),
        &[],
    )
    .await;
    // As the gateway keeps a source's `forward_headers` in the envelope.
    let mut event = envelope("forwarded-1", "genesys");
    event.headers.push(switchboard_proto::Header {
        name: "X-Genesys-Org".into(),
        value: b"acme".to_vec().into(),
    });
    produce_envelopes(&bootstrap, &main, &[event]).await;
    let seen = eventually("the delivery", Duration::from_secs(30), || async {
        downstream.seen().into_iter().next()
    })
    .await;
    assert_eq!(
        seen.headers
            .get("x-source-header-x-genesys-org")
            .and_then(|v| v.to_str().ok()),
        Some("acme")
    );
}
