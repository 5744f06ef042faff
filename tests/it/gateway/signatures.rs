//! Each authentication scheme accepts good credentials and refuses bad ones.

use super::*;

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
