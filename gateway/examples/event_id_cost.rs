//! What finding the event id in a body costs the gateway: validating the
//! body and reading `/id` with [`Pointers::values_at`] (what the gateway
//! does), against building a `serde_json::Value` of the whole body and
//! asking it (what it did before), on a Genesys-style EventBridge event of
//! ~1 KB. Alternating rounds, nanoseconds per body, and the ratio.
//!
//! `cargo run --release -p switchboard-gateway --example event_id_cost [ROUNDS]`

use std::hint::black_box;
use std::time::Instant;

use switchboard_gateway::json_pointer::Pointers;

/// An EventBridge event as Genesys Cloud sends it (shape of a conversation
/// event; values made up).
const BODY: &str = r#"{"version":"0","id":"6f5e2c1a-7d2b-4c1e-9a51-0b7c2f9e4d11","detail-type":"v2.detail.events.conversation.{id}.customer.end","source":"aws.partner/genesys.com/cloud/3b0c1a2e-4f5d-4e6a-8b7c-9d0e1f2a3b4c/switchboard","account":"123456789012","time":"2026-11-24T09:30:00Z","region":"eu-west-1","resources":[],"detail":{"topicName":"v2.detail.events.conversation.0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e.customer.end","version":"2","eventBody":{"eventTime":"2026-11-24T09:29:59.512Z","conversationId":"0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e","participantId":"1c2d3e4f-5a6b-7c8d-9e0f-1a2b3c4d5e6f","sessionId":"2d3e4f5a-6b7c-8d9e-0f1a-2b3c4d5e6f7a","disconnectType":"ENDPOINT","mediaType":"VOICE","provider":"Edge","direction":"INBOUND","ani":"tel:+441632960000","dnis":"tel:+441632960001","addressTo":"tel:+441632960001","addressFrom":"tel:+441632960000","callbackUserName":"","callbackNumbers":[],"callbackScheduledTime":null,"subject":null,"messageType":null,"interactingDurationMs":183452,"divisionId":"3e4f5a6b-7c8d-9e0f-1a2b-3c4d5e6f7a8b"},"metadata":{"CorrelationId":"4f5a6b7c-8d9e-0f1a-2b3c-4d5e6f7a8b9c"},"timestamp":"2026-11-24T09:29:59.600Z"}}"#;

fn per_body_ns(rounds: u32, work: impl Fn() -> usize) -> f64 {
    let started = Instant::now();
    let mut total = 0;
    for _ in 0..rounds {
        total += work();
    }
    black_box(total);
    started.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let body = BODY.as_bytes();
    let pointers = Pointers::new(["/id"]);
    let seek = || {
        let found = pointers.values_at(black_box(body)).expect("valid");
        found[0]
            .as_ref()
            .and_then(|v| v.as_str())
            .map_or(0, str::len)
    };
    let tree = || {
        let value: serde_json::Value = serde_json::from_slice(black_box(body)).expect("valid");
        value
            .pointer("/id")
            .and_then(|v| v.as_str())
            .map_or(0, str::len)
    };
    assert_eq!(seek(), tree(), "both find the same id");
    println!("{} byte body, {rounds} bodies per round", body.len());
    for round in 1..=3 {
        let old = per_body_ns(rounds, tree);
        let new = per_body_ns(rounds, seek);
        println!(
            "round {round}: tree + pointer {old:>6.0} ns, pointers.values_at {new:>6.0} ns, ratio {:.2}",
            new / old
        );
    }
}
