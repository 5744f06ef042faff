//! The gateway's memory under slow senders: a crowd trickling large bodies
//! that never finish cannot grow it past its body budget, the ones past the
//! budget are answered 503 with Retry-After without their bodies being read,
//! and an ordinary event is still accepted meanwhile.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{create_topic, eventually, shared_kafka, unique_topic, Gateway, HttpClient};

const MIB: u64 = 1024 * 1024;
/// The budget under test (the default is 128 MiB).
const BUDGET: u64 = 32 * MIB;
/// Room the process needs beyond the budget: librdkafka, the runtime, and
/// a small buffer per open connection (2,000 of them).
const MARGIN: u64 = 96 * MIB;
const TRICKLERS: usize = 2_000;
const DECLARED: usize = 1_000_000;
const TRICKLED: usize = 900 * 1024;

/// `VmHWM` (peak resident set) and `VmRSS` of a process, bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .expect("field")
            * 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// What happened to one slow sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trickle {
    /// Answered before its body was done (the status code).
    Answered(u16),
    /// Sent its 900 KB and is holding the request open.
    Holding,
    /// The connection failed without an answer.
    Dropped,
}

/// Opens a connection, declares a 1 MB body and sends 900 KB of it slowly,
/// watching for an early answer. `settled` counts senders that reached
/// their end state.
async fn trickle(
    addr: std::net::SocketAddr,
    settled: Arc<AtomicUsize>,
) -> (Trickle, Option<TcpStream>) {
    let done = |outcome| {
        settled.fetch_add(1, Ordering::SeqCst);
        outcome
    };
    let Ok(stream) = TcpStream::connect(addr).await else {
        return (done(Trickle::Dropped), None);
    };
    let (mut reader, mut stream) = stream.into_split();
    let head = format!(
        "POST /webhooks/genesys HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: {DECLARED}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return (done(Trickle::Dropped), None);
    }
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    let mut answer = [0u8; 12];
    while sent < TRICKLED {
        tokio::select! {
            read = reader.read(&mut answer) => {
                let status = match read {
                    Ok(n) if n >= 12 => std::str::from_utf8(&answer[9..12]).ok().and_then(|s| s.parse().ok()),
                    _ => None,
                };
                return (done(status.map_or(Trickle::Dropped, Trickle::Answered)), None);
            }
            written = stream.write_all(&chunk[..chunk.len().min(TRICKLED - sent)]) => {
                if written.is_err() {
                    // Refused and closed while writing: the answer may still be readable.
                    let status = match reader.read(&mut answer).await {
                        Ok(n) if n >= 12 => std::str::from_utf8(&answer[9..12]).ok().and_then(|s| s.parse().ok()),
                        _ => None,
                    };
                    return (done(status.map_or(Trickle::Dropped, Trickle::Answered)), None);
                }
                sent += chunk.len().min(TRICKLED - sent);
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let stream = reader.reunite(stream).expect("the halves of one stream");
    (done(Trickle::Holding), Some(stream))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_senders_stay_within_the_body_budget_and_an_event_still_gets_202() {
    let bootstrap = shared_kafka().await.bootstrap();
    let topic = unique_topic("budget");
    create_topic(&bootstrap, &topic, 1).await;
    let gateway = Gateway::start(
        &bootstrap,
        &topic,
        None,
        &[
            ("GATEWAY_HTTP_BODY_BUDGET_BYTES", &BUDGET.to_string()),
            ("GATEWAY_HTTP_REQUEST_TIMEOUT", "120s"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    gateway.wait_ready().await;
    let client = HttpClient::new();
    let url = gateway.url("/webhooks/genesys");
    let reply = client
        .post_json(&url, r#"{"id":"warm-up"}"#, &[])
        .await
        .expect("post");
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let (_, before) = memory(gateway.pid());

    let settled = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..TRICKLERS)
        .map(|_| tokio::spawn(trickle(gateway.addr, settled.clone())))
        .collect();
    eventually(
        "every slow sender settled",
        Duration::from_secs(90),
        || async { (settled.load(Ordering::SeqCst) == TRICKLERS).then_some(()) },
    )
    .await;

    // An ordinary event while the budget's large share is held.
    let reply = client
        .post_json(&url, r#"{"id":"ordinary"}"#, &[])
        .await
        .expect("post");
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "an ordinary event is still accepted"
    );
    let (peak, now) = memory(gateway.pid());

    let mut outcomes = Vec::new();
    let mut held = Vec::new();
    for sender in senders {
        let (outcome, stream) = sender.await.expect("sender");
        outcomes.push(outcome);
        held.extend(stream);
    }
    let count = |wanted: Trickle| outcomes.iter().filter(|o| **o == wanted).count();
    let holding = count(Trickle::Holding);
    let refused = count(Trickle::Answered(503));
    let dropped = count(Trickle::Dropped);
    eprintln!(
        "{TRICKLERS} slow senders: {holding} holding 900 KB each, {refused} answered 503, {dropped} dropped; \
         gateway RSS {} MiB before, {} MiB now, peak {} MiB (budget {} MiB + margin {} MiB)",
        before / MIB,
        now / MIB,
        peak / MIB,
        BUDGET / MIB,
        MARGIN / MIB
    );
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Trickle::Holding | Trickle::Answered(503) | Trickle::Dropped
        )),
        "only holding, 503 or dropped: {:?}",
        outcomes
            .iter()
            .filter(|o| matches!(o, Trickle::Answered(s) if *s != 503))
            .collect::<Vec<_>>()
    );
    let large_share = (BUDGET / 8 * 7) as usize / DECLARED;
    assert!(
        holding >= 1 && holding <= large_share,
        "{holding} bodies held, at most {large_share} fit"
    );
    assert!(
        refused > TRICKLERS / 2,
        "the rest were refused at once: {refused}"
    );
    assert!(
        peak <= before + BUDGET + MARGIN,
        "peak RSS {} MiB over {} MiB before + budget + margin",
        peak / MIB,
        before / MIB
    );
    drop(held);
}
