//! What the gateway accepts and stores: each Genesys fixture keyed by its
//! event id, every bad input with its status and problem body, a burst in full.

use super::*;

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
