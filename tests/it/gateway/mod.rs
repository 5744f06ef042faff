//! The gateway against a real broker: accepted events land keyed by id with an
//! envelope that decodes to the original bytes; bad input gets its status.

mod check;
mod ingest;
mod limits;
mod producer;
mod signatures;

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
