//! The gateway against a real broker: accepted events land keyed by id with an
//! envelope that decodes to the original bytes; bad input gets its status.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::StatusCode;
use prost::Message;
use sha2::{Digest, Sha256};
use switchboard_proto::{headers, Envelope, IdOrigin};
use tokio::sync::Semaphore;

use crate::harness::{
    assert_problem, create_topic, fixture, raw_request, read_head, read_topic, shared_kafka,
    unique_topic, Gateway, HttpClient,
};

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

async fn gateway_on_new_topic(
    prefix: &str,
    config: Option<&str>,
    env: &[(&str, &str)],
) -> (String, Gateway) {
    let broker = shared_kafka().await;
    let topic = unique_topic(prefix);
    create_topic(&broker.bootstrap(), &topic, 3).await;
    let gateway = Gateway::start(&broker.bootstrap(), &topic, config, env).await;
    gateway.wait_ready().await;
    (topic, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_genesys_fixture_is_accepted_and_lands_keyed_by_its_event_id() {
    let (topic, gateway) = gateway_on_new_topic("fixtures", None, &[]).await;
    let client = HttpClient::new();
    let cases = [
        (
            "genesys/eventbridge-conversation-customer-end.json",
            IdOrigin::BodyPointer,
        ),
        (
            "genesys/eventbridge-user-presence-audit.json",
            IdOrigin::BodyPointer,
        ),
        (
            "genesys/notification-user-activity.json",
            IdOrigin::BodySha256,
        ),
    ];
    let mut expected = HashMap::new();
    for (path, origin) in cases {
        let body = fixture(path);
        let json: serde_json::Value = serde_json::from_slice(&body).expect("fixture is JSON");
        let id = match origin {
            IdOrigin::BodyPointer => json["id"].as_str().expect("eventbridge id").to_owned(),
            // The notification format has no unique event id: the key is the body's hash,
            // never metadata.CorrelationId.
            _ => hex::encode(Sha256::digest(&body)),
        };
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let reply = client
            .post_json(
                &gateway.url("/webhooks/genesys"),
                body.clone(),
                &[("traceparent", traceparent)],
            )
            .await
            .expect("request");
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let accepted = reply.json();
        assert_eq!(accepted["id"], id.as_str());
        assert_eq!(accepted["topic"], topic.as_str());
        let at = (
            accepted["partition"].as_i64().expect("partition") as i32,
            accepted["offset"].as_i64().expect("offset"),
        );
        expected.insert(id, (body, origin, at));
    }

    let records = read_topic(&shared_kafka().await.bootstrap(), &topic).await;
    assert_eq!(
        records.len(),
        expected.len(),
        "exactly one record per accepted event"
    );
    for record in records {
        let (body, origin, at) = expected
            .get(&record.key)
            .unwrap_or_else(|| panic!("unexpected key {}", record.key));
        assert_eq!(
            (record.partition, record.offset),
            *at,
            "202 body names where the record is"
        );
        let envelope = Envelope::decode(record.value.as_slice()).expect("value is an envelope");
        assert_eq!(envelope.event_id, record.key);
        assert_eq!(&envelope.body[..], &body[..], "raw body unchanged");
        assert_eq!(envelope.id_origin(), *origin);
        assert_eq!(envelope.source, "genesys");
        assert_eq!(envelope.content_type, "application/json");
        assert_eq!(
            envelope.traceparent,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert!(envelope.received_at_unix_ms > 1_700_000_000_000);
        assert!(!envelope.gateway_instance.is_empty());
        assert_eq!(envelope.schema_version, switchboard_proto::SCHEMA_VERSION);
        assert_eq!(record.headers[headers::EVENT_ID], record.key);
        assert_eq!(record.headers[headers::SOURCE], "genesys");
        assert!(record.headers.contains_key(headers::TRACEPARENT));
    }
}

const STRICT_CONFIG: &str = r#"
[http]
header_read_timeout = "500ms"
request_timeout = "1s"

[sources.strict]
event_id = ["header:X-Event-Id", "/id"]
id_fallback = "reject"
max_body_bytes = 1024
auth = { scheme = "none" }

[sources.om]
[sources.om.auth]
scheme = "hmac-sha256"
header = "X-Hub-Signature-256"
encoding = "base64"
prefix = "sha256="
secrets_env = ["OM_SECRET_OLD", "OM_SECRET_NEW"]

[sources.gh.auth]
scheme = "github"
secrets = ["gh-secret"]

[sources.sw.auth]
scheme = "standard-webhooks"
secrets = ["whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]

[sources.eb.auth]
scheme = "basic"
secrets_env = ["EB_BASIC"]
"#;

const SECRETS: &[(&str, &str)] = &[
    ("OM_SECRET_OLD", "om-old"),
    ("OM_SECRET_NEW", "om-new"),
    ("EB_BASIC", "eventbridge:pw"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_their_status_and_problem_json_and_nothing_is_produced() {
    let (topic, gateway) = gateway_on_new_topic("bad", Some(STRICT_CONFIG), SECRETS).await;
    let client = HttpClient::new();
    let strict = gateway.url("/webhooks/strict");

    let reply = client
        .post_json(&strict, "{\"id\": ", &[])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed-json");
    let reply = client
        .post_json(&strict, "{\"other\": 1}", &[])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::BAD_REQUEST, "missing-event-id");
    let reply = client
        .post_json(&gateway.url("/webhooks/om"), "{\"id\":\"x\"}", &[])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let reply = client
        .post_json(&gateway.url("/webhooks/nope"), "{}", &[])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::NOT_FOUND, "unknown-source");
    let reply = client
        .get(&gateway.url("/elsewhere"))
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::NOT_FOUND, "not-found");
    // The admin endpoints are not on the public port.
    for path in ["/metrics", "/readyz", "/livez"] {
        let reply = client.get(&gateway.url(path)).await.expect("request");
        assert_problem(&reply, StatusCode::NOT_FOUND, "not-found");
        let reply = client.get(&gateway.admin_url(path)).await.expect("request");
        assert_eq!(reply.status, StatusCode::OK, "{path} on the admin port");
    }
    let reply = client.get(&strict).await.expect("request");
    assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert_eq!(reply.headers["allow"], "POST");
    let big = format!("{{\"id\":\"big\",\"pad\":\"{}\"}}", "x".repeat(2048));
    let reply = client.post_json(&strict, big, &[]).await.expect("request");
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let request = http::Request::post(&strict)
        .header("content-type", "text/plain")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"{\"id\":\"t\"}",
        )))
        .expect("request");
    let reply = client.send(request).await.expect("request");
    assert_problem(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    );
    for garbage in [
        &b"\xff\xfe\x00"[..],
        b"",
        b"[1,2",
        b"nul",
        b"{\"id\":\"\xc3\x28\"}",
    ] {
        let reply = client
            .post_json(&strict, garbage.to_vec(), &[])
            .await
            .expect("request");
        assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed-json");
    }

    // The one good request proves the topic is readable; nothing else landed.
    let reply = client
        .post_json(&strict, "{\"x\":1}", &[("x-event-id", "from-header")])
        .await
        .expect("request");
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let records = read_topic(&shared_kafka().await.bootstrap(), &topic).await;
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, vec!["from-header"]);
    let envelope = Envelope::decode(records[0].value.as_slice()).expect("envelope");
    assert_eq!(envelope.id_origin(), IdOrigin::Header);
    assert!(envelope.headers.iter().any(|h| h.name == "x-event-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_sources_accept_good_signatures_and_reject_bad_ones() {
    let (topic, gateway) = gateway_on_new_topic("signed", Some(STRICT_CONFIG), SECRETS).await;
    let client = HttpClient::new();
    let body = fixture("genesys/notification-user-activity.json");

    // Genesys Open Messaging: sha256=<base64>, either secret during a rotation.
    let om = gateway.url("/webhooks/om");
    for secret in ["om-old", "om-new"] {
        let signature = format!(
            "sha256={}",
            BASE64.encode(hmac_sha256(secret.as_bytes(), &[&body]))
        );
        let reply = client
            .post_json(&om, body.clone(), &[("x-hub-signature-256", &signature)])
            .await
            .expect("request");
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{secret}");
    }
    let forged = format!("sha256={}", BASE64.encode(hmac_sha256(b"guess", &[&body])));
    let reply = client
        .post_json(&om, body.clone(), &[("x-hub-signature-256", &forged)])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    let good_for_original = format!("sha256={}", BASE64.encode(hmac_sha256(b"om-new", &[&body])));
    let reply = client
        .post_json(
            &om,
            tampered,
            &[("x-hub-signature-256", &good_for_original)],
        )
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // GitHub: sha256=<hex>.
    let gh = gateway.url("/webhooks/gh");
    let signature = format!(
        "sha256={}",
        hex::encode(hmac_sha256(b"gh-secret", &[&body]))
    );
    let reply = client
        .post_json(&gh, body.clone(), &[("x-hub-signature-256", &signature)])
        .await
        .expect("request");
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let base64_instead = format!(
        "sha256={}",
        BASE64.encode(hmac_sha256(b"gh-secret", &[&body]))
    );
    let reply = client
        .post_json(
            &gh,
            body.clone(),
            &[("x-hub-signature-256", &base64_instead)],
        )
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // Standard Webhooks: v1,<base64> over id.timestamp.body, timestamp checked.
    let sw = gateway.url("/webhooks/sw");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let sign = |ts: u64| {
        let prefix = format!("msg_1.{ts}.");
        format!(
            "v1,{}",
            BASE64.encode(hmac_sha256(
                b"0123456789abcdef0123456789abcdef",
                &[prefix.as_bytes(), &body]
            ))
        )
    };
    let post_signed_at = |ts: u64| {
        let (client, sw, body, timestamp, signature) = (
            client.clone(),
            sw.clone(),
            body.clone(),
            ts.to_string(),
            sign(ts),
        );
        async move {
            let headers = [
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", timestamp.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            client
                .post_json(&sw, body, &headers)
                .await
                .expect("request")
        }
    };
    assert_eq!(post_signed_at(now).await.status, StatusCode::ACCEPTED);
    let reply = post_signed_at(now - 3600).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    // The same scheme as Svix-based senders send it: svix-* header names.
    let svix_signature = format!(
        "v1,{}",
        BASE64.encode(hmac_sha256(
            b"0123456789abcdef0123456789abcdef",
            &[format!("msg_svix.{now}.").as_bytes(), &body],
        ))
    );
    let reply = client
        .post_json(
            &gateway.url("/webhooks/sw"),
            body.clone(),
            &[
                ("svix-id", "msg_svix"),
                ("svix-timestamp", now.to_string().as_str()),
                ("svix-signature", svix_signature.as_str()),
            ],
        )
        .await
        .expect("request");
    assert_eq!(reply.status, StatusCode::ACCEPTED, "svix-* names accepted");

    // EventBridge API destination with Basic credentials.
    let eb = gateway.url("/webhooks/eb");
    let good = format!("Basic {}", BASE64.encode("eventbridge:pw"));
    let reply = client
        .post_json(&eb, body.clone(), &[("authorization", &good)])
        .await
        .expect("request");
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let bad = format!("Basic {}", BASE64.encode("eventbridge:wrong"));
    let reply = client
        .post_json(&eb, body.clone(), &[("authorization", &bad)])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        reply.headers["www-authenticate"]
            .to_str()
            .is_ok_and(|v| v.starts_with("Basic realm=")),
        "RFC 9110: a 401 names its scheme"
    );

    let records = read_topic(&shared_kafka().await.bootstrap(), &topic).await;
    assert_eq!(
        records.len(),
        6,
        "only the six authenticated requests landed"
    );
    for record in &records {
        let envelope = Envelope::decode(record.value.as_slice()).expect("envelope");
        assert!(
            envelope.headers.iter().all(|h| h.name != "authorization"),
            "credentials never travel in the envelope"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_while_streaming() {
    let (_topic, gateway) = gateway_on_new_topic("stream", Some(STRICT_CONFIG), SECRETS).await;
    // Chunked, no Content-Length, and the body never ends: a gateway that
    // buffered before checking would hang here instead of answering 413.
    let mut stream = raw_request(
        gateway.addr,
        b"POST /webhooks/strict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    ).await;
    // The gateway may answer and close before the last chunk is written:
    // a write then fails (broken pipe), and the answer is still there to read.
    for _ in 0..3 {
        let chunk = [&b"400\r\n"[..], &[b' '; 0x400], b"\r\n"].concat();
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_its_request_is_cut_off() {
    let (_topic, gateway) = gateway_on_new_topic("slow", Some(STRICT_CONFIG), SECRETS).await;

    // Headers never finished: the connection is closed after header_read_timeout (500 ms).
    let started = Instant::now();
    let mut stream = raw_request(
        gateway.addr,
        b"POST /webhooks/strict HTTP/1.1\r\nHost: x\r\n",
    )
    .await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "connection held for {waited:?}"
    );

    // Body promised but not sent: 408 after request_timeout (1 s).
    let started = Instant::now();
    let mut stream = raw_request(
        gateway.addr,
        b"POST /webhooks/strict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":",
    ).await;
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_answered_202_in_a_concurrent_burst_is_in_the_topic() {
    const REQUESTS: usize = 1000;
    const CONCURRENCY: usize = 64;
    let (topic, gateway) = gateway_on_new_topic("burst", None, &[]).await;
    let client = HttpClient::new();
    let url = Arc::new(gateway.url("/webhooks/genesys"));
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let (client, url, permits) = (client.clone(), url.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore");
            let id = format!("burst-{i}");
            let body = format!("{{\"id\":\"{id}\",\"detail\":{{\"n\":{i}}}}}");
            let reply = client.post_json(&url, body, &[]).await.expect("request");
            (id, reply.status)
        }));
    }
    let mut accepted = BTreeSet::new();
    let mut other = HashMap::new();
    for task in tasks {
        let (id, status) = task.await.expect("task");
        if status == StatusCode::ACCEPTED {
            accepted.insert(id);
        } else {
            *other.entry(status).or_insert(0) += 1;
        }
    }
    assert_eq!(
        accepted.len(),
        REQUESTS,
        "every request of a burst on a healthy broker is accepted; others: {other:?}"
    );

    let records = read_topic(&shared_kafka().await.bootstrap(), &topic).await;
    let landed: BTreeSet<String> = records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(
        records.len(),
        accepted.len(),
        "no record lost or duplicated"
    );
    assert_eq!(landed, accepted);
    let partitions: BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    assert_eq!(partitions.len(), 3, "keys spread over every partition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_exactly_at_the_limit_is_accepted_and_one_byte_more_is_413_never_503() {
    // The default limit is 1 MiB, above librdkafka's own default record
    // size (1,000,000 bytes): the gateway sizes its producer to fit.
    let (topic, gateway) = gateway_on_new_topic("boundary", None, &[]).await;
    let client = HttpClient::new();
    let url = gateway.url("/webhooks/genesys");
    let body_of = |len: usize, id: &str| {
        let frame = format!(r#"{{"id":"{id}","pad":""}}"#);
        let padded = format!(
            r#"{{"id":"{id}","pad":"{}"}}"#,
            "x".repeat(len - frame.len())
        );
        assert_eq!(padded.len(), len);
        padded
    };
    let limit = 1024 * 1024;
    let reply = client
        .post_json(&url, body_of(limit, "at-limit"), &[])
        .await
        .expect("request");
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let reply = client
        .post_json(&url, body_of(limit + 1, "over-limit"), &[])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let records = read_topic(&shared_kafka().await.bootstrap(), &topic).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, "at-limit");
}

/// Runs `gateway --check` with `env` only; returns the exit code, stdout and stderr.
fn gateway_check(env: &[(&str, &str)], config: Option<&str>) -> (i32, String, String) {
    let mut command = std::process::Command::new(crate::harness::workspace_binary("gateway"));
    command.arg("--check").env_clear().envs(env.iter().copied());
    let dir = crate::harness::log_dir();
    let path = dir.join(format!("check-{}.toml", std::process::id()));
    if let Some(config) = config {
        std::fs::write(&path, config).expect("write config");
        command.arg("--config").arg(&path);
    }
    let output = command.output().expect("run gateway --check");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_refuses_a_source_without_auth_flags_an_open_one_and_names_a_bad_kafka_variable() {
    // No configuration: the built-in source would take anyone's events.
    let (code, _, err) = gateway_check(&[], None);
    assert_eq!(code, i32::from(switchboard_runtime::exit::CONFIG), "{err}");
    assert!(
        err.contains("source genesys") && err.contains("has no auth table"),
        "the refusal names the source: {err}"
    );
    let no_auth = "[sources.crm]\nevent_id = [\"/id\"]\n";
    let (code, _, err) = gateway_check(&[], Some(no_auth));
    assert_eq!(code, i32::from(switchboard_runtime::exit::CONFIG), "{err}");
    assert!(err.contains("source crm"), "{err}");

    // Written out, it is an opt-in: accepted, and still flagged.
    let open = "[sources.genesys]\nauth = { scheme = \"none\" }\n";
    let (code, out, err) = gateway_check(&[], Some(open));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration ok"), "{out}");
    assert!(
        err.contains("source genesys accepts unauthenticated requests"),
        "an open source is flagged: {err}"
    );

    let secured =
        "[sources.genesys.auth]\nscheme = \"basic\"\nsecrets_env = [\"EVENTBRIDGE_BASIC\"]\n";
    let (code, _, err) = gateway_check(&[("EVENTBRIDGE_BASIC", "u:p")], Some(secured));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("unauthenticated"), "{err}");

    let (code, _, err) = gateway_check(&[("KAFKA_SECURITY_PROTOCL", "SSL")], Some(open));
    assert_eq!(code, i32::from(switchboard_runtime::exit::CONFIG), "{err}");
    assert!(err.contains("KAFKA_SECURITY_PROTOCL"), "{err}");
}
