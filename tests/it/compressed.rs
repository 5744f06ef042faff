//! Compressed webhook bodies: `Content-Encoding: gzip`, `deflate` and `br`
//! are decoded, checked (JSON, signature) and stored decoded; the body limit
//! applies to the decoded bytes, so a compression bomb is `413` at the limit
//! with bounded memory; an encoding the gateway does not decode is `415`
//! naming it; bytes that do not decode are `400`. `text/json` is accepted.

use std::io::Write;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use prost::Message as _;
use switchboard_proto::Envelope;

use crate::harness::process::memory_mib;
use crate::harness::{
    assert_problem, create_topic, read_topic, shared_kafka, unique_topic, Gateway, HttpClient,
};

const SECRET: &str = "om-secret";
const LIMIT: usize = 64 * 1024;

fn config() -> String {
    format!(
        r#"
[sources.open]
auth = {{ scheme = "none" }}
max_body_bytes = {LIMIT}

[sources.signed]
auth = {{ scheme = "hmac-sha256", header = "X-Hub-Signature-256", encoding = "base64", prefix = "sha256=", secrets = ["{SECRET}"] }}
"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("deflate");
    encoder.finish().expect("deflate")
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        writer.write_all(bytes).expect("br");
    }
    out
}

fn signature(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", BASE64.encode(mac.finalize().into_bytes()))
}

async fn post(
    client: &HttpClient,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> crate::harness::http::Reply {
    let mut request = Request::post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client
        .send(request.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("answer")
}

async fn gateway() -> (String, String, Gateway) {
    let bootstrap = shared_kafka().await.bootstrap();
    let topic = unique_topic("compressed");
    create_topic(&bootstrap, &topic, 1).await;
    let gateway = Gateway::start(&bootstrap, &topic, Some(&config()), &[]).await;
    gateway.wait_ready().await;
    (bootstrap, topic, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_deflate_and_br_bodies_are_decoded_verified_and_stored_decoded() {
    let (bootstrap, topic, gateway) = gateway().await;
    let client = HttpClient::new();
    let open = gateway.url("/webhooks/open");
    let json = |id: &str| {
        format!(
            r#"{{"id":"{id}","detail":{{"text":"{}"}}}}"#,
            "x".repeat(500)
        )
    };
    let json_type = ("content-type", "application/json");
    for (coding, encode) in [
        ("gzip", gzip as fn(&[u8]) -> Vec<u8>),
        ("x-gzip", gzip),
        ("deflate", deflate),
        ("br", brotli),
    ] {
        let body = json(&format!("enc-{coding}"));
        let reply = post(
            &client,
            &open,
            encode(body.as_bytes()),
            &[json_type, ("content-encoding", coding)],
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{coding}: {:?}",
            reply.body
        );
    }
    // text/json is taken for JSON.
    let reply = post(
        &client,
        &open,
        json("enc-textjson").into_bytes(),
        &[("content-type", "text/json")],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "text/json: {:?}",
        reply.body
    );

    // A signature over the JSON (what senders sign), or over the bytes as sent.
    let signed = gateway.url("/webhooks/signed");
    let body = json("enc-signed-json");
    let over_json = signature(body.as_bytes());
    let reply = post(
        &client,
        &signed,
        gzip(body.as_bytes()),
        &[
            json_type,
            ("content-encoding", "gzip"),
            ("x-hub-signature-256", &over_json),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "signed over the JSON: {:?}",
        reply.body
    );
    let body = json("enc-signed-wire");
    let wire = gzip(body.as_bytes());
    let over_wire = signature(&wire);
    let reply = post(
        &client,
        &signed,
        wire,
        &[
            json_type,
            ("content-encoding", "gzip"),
            ("x-hub-signature-256", &over_wire),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "signed over the wire bytes: {:?}",
        reply.body
    );
    let reply = post(
        &client,
        &signed,
        gzip(json("enc-forged").as_bytes()),
        &[
            json_type,
            ("content-encoding", "gzip"),
            ("x-hub-signature-256", &over_json),
        ],
    )
    .await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    let records = read_topic(&bootstrap, &topic).await;
    let stored: std::collections::HashMap<String, Envelope> = records
        .into_iter()
        .map(|r| {
            (
                r.key,
                Envelope::decode(r.value.as_slice()).expect("envelope"),
            )
        })
        .collect();
    for id in [
        "enc-gzip",
        "enc-x-gzip",
        "enc-deflate",
        "enc-br",
        "enc-textjson",
        "enc-signed-json",
        "enc-signed-wire",
    ] {
        let envelope = stored
            .get(id)
            .unwrap_or_else(|| panic!("{id} is in the topic"));
        assert_eq!(
            envelope.body,
            Bytes::from(json(id)),
            "{id} is stored decoded"
        );
    }
    assert!(!stored.contains_key("enc-forged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compression_bomb_is_413_an_unknown_encoding_is_415_and_garbage_is_400() {
    let (bootstrap, topic, gateway) = gateway().await;
    let client = HttpClient::new();
    let open = gateway.url("/webhooks/open");
    let json_type = ("content-type", "application/json");
    let memory_before = memory_mib("VmRSS", gateway.pid());
    // 32 MiB of JSON that compresses to about 32 KiB: within the limit as
    // sent, a thousand times over it decoded.
    let mut bomb_json = b"{\"id\":\"bomb\",\"pad\":\"".to_vec();
    bomb_json.extend(std::iter::repeat_n(b'0', 32 * 1024 * 1024));
    bomb_json.extend_from_slice(b"\"}");
    let bomb = gzip(&bomb_json);
    assert!(
        bomb.len() < LIMIT,
        "the bomb itself fits the limit: {} bytes",
        bomb.len()
    );
    for _ in 0..4 {
        let reply = post(
            &client,
            &open,
            bomb.clone(),
            &[json_type, ("content-encoding", "gzip")],
        )
        .await;
        assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    }
    let memory_after = memory_mib("VmRSS", gateway.pid());
    assert!(
        memory_after < memory_before + 16.0,
        "decoding stopped at the limit: {memory_before:.1} MiB before, {memory_after:.1} MiB after four 32 MiB bombs"
    );

    let reply = post(
        &client,
        &open,
        b"{\"id\":\"z\"}".to_vec(),
        &[json_type, ("content-encoding", "zstd")],
    )
    .await;
    assert_problem(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-content-encoding",
    );
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("zstd"),
        "{:?}",
        reply.body
    );
    let reply = post(
        &client,
        &open,
        b"{\"id\":\"g\"}".to_vec(),
        &[json_type, ("content-encoding", "gzip")],
    )
    .await;
    assert_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "malformed-content-encoding",
    );

    // Nothing of it reached the topic, and the gateway still takes events.
    let reply = post(
        &client,
        &open,
        gzip(b"{\"id\":\"after-bomb\"}"),
        &[json_type, ("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let keys: Vec<String> = read_topic(&bootstrap, &topic)
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["after-bomb".to_owned()]);
}
