//! Body limits and slow senders: refused while streaming, cut off, and the
//! exact limit.

use super::*;

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
