//! Unit tests of every scheme, with signatures made as the senders make them.

use super::*;
use http::HeaderValue;

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).expect("valid header"));
    }
    map
}

const BODY: &[u8] = br#"{"id":"evt-1"}"#;

#[test]
fn genesys_open_messaging_signature_is_base64_with_prefix() {
    let verifier = Verifier::Hmac {
        header: "x-hub-signature-256",
        prefix: Some("sha256=".into()),
        encoding: SignatureEncoding::Base64,
        secrets: vec![b"old".to_vec(), b"new".to_vec()],
    };
    let good = format!("sha256={}", BASE64.encode(hmac_sha256(b"new", &[BODY])));
    assert_eq!(
        verifier.verify(&headers(&[("x-hub-signature-256", good.clone())]), BODY, 0),
        Ok(())
    );
    let other = format!("sha256={}", BASE64.encode(hmac_sha256(b"wrong", &[BODY])));
    assert_eq!(
        verifier.verify(&headers(&[("x-hub-signature-256", other)]), BODY, 0),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        verifier.verify(
            &headers(&[("x-hub-signature-256", good)]),
            b"{\"id\":\"evt-2\"}",
            0
        ),
        Err(AuthError::Mismatch)
    );
    assert_eq!(
        verifier.verify(&HeaderMap::new(), BODY, 0),
        Err(AuthError::MissingHeader {
            header: "x-hub-signature-256"
        })
    );
}

#[test]
fn github_signature_is_hex() {
    let verifier = Verifier::github(vec![b"s3cret".to_vec()]);
    let good = format!("sha256={}", hex::encode(hmac_sha256(b"s3cret", &[BODY])));
    assert_eq!(
        verifier.verify(&headers(&[("x-hub-signature-256", good)]), BODY, 0),
        Ok(())
    );
    let no_prefix = hex::encode(hmac_sha256(b"s3cret", &[BODY]));
    assert!(matches!(
        verifier.verify(&headers(&[("x-hub-signature-256", no_prefix)]), BODY, 0),
        Err(AuthError::Malformed { .. })
    ));
}

#[test]
fn api_key_and_basic_accept_any_configured_secret() {
    let api = Verifier::ApiKey {
        header: "x-api-key",
        keys: vec![b"k1".to_vec(), b"k2".to_vec()],
    };
    assert_eq!(
        api.verify(&headers(&[("x-api-key", "k2".into())]), BODY, 0),
        Ok(())
    );
    assert_eq!(
        api.verify(&headers(&[("x-api-key", "k3".into())]), BODY, 0),
        Err(AuthError::Mismatch)
    );

    let basic = Verifier::Basic {
        header: "authorization",
        credentials: vec![b"eventbridge:pw".to_vec()],
    };
    let good = format!("Basic {}", BASE64.encode("eventbridge:pw"));
    assert_eq!(
        basic.verify(&headers(&[("authorization", good)]), BODY, 0),
        Ok(())
    );
    let bad = format!("basic {}", BASE64.encode("eventbridge:nope"));
    assert_eq!(
        basic.verify(&headers(&[("authorization", bad)]), BODY, 0),
        Err(AuthError::Mismatch)
    );
    assert!(matches!(
        basic.verify(&headers(&[("authorization", "Bearer x".into())]), BODY, 0),
        Err(AuthError::Malformed { .. })
    ));
}

/// The verifier's key for raw `key` bytes, as a `whsec_` secret gives it.
fn signing_key(key: &[u8]) -> switchboard_proto::standard_webhooks::SigningKey {
    let secret = format!("whsec_{}", BASE64.encode(key));
    switchboard_proto::standard_webhooks::SigningKey::from_secret(&secret).expect("secret")
}

#[test]
fn standard_webhooks_checks_signature_and_timestamp() {
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    let verifier = Verifier::StandardWebhooks {
        secrets: vec![signing_key(&key)],
        tolerance_secs: 300,
    };
    let now = 1_800_000_000u64;
    let sign = |ts: u64| {
        let signed = format!("msg_1.{ts}.");
        BASE64.encode(hmac_sha256(&key, &[signed.as_bytes(), BODY]))
    };
    let request = |ts: u64, sig: String| {
        headers(&[
            ("webhook-id", "msg_1".into()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sig),
        ])
    };
    let good = format!("v1,bm9wZQ== v1,{}", sign(now));
    assert_eq!(verifier.verify(&request(now, good), BODY, now), Ok(()));
    let stale = format!("v1,{}", sign(now - 301));
    assert_eq!(
        verifier.verify(&request(now - 301, stale), BODY, now),
        Err(AuthError::StaleTimestamp {
            tolerance_secs: 300
        })
    );
    let forged = format!("v1,{}", sign(now - 1));
    assert_eq!(
        verifier.verify(&request(now, forged), BODY, now),
        Err(AuthError::Mismatch)
    );
}

#[test]
fn svix_senders_use_their_own_header_names_for_the_same_scheme() {
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    let verifier = Verifier::StandardWebhooks {
        secrets: vec![signing_key(&key)],
        tolerance_secs: 300,
    };
    let now = 1_800_000_000u64;
    let signed = format!("msg_2.{now}.");
    let signature = format!(
        "v1,{}",
        BASE64.encode(hmac_sha256(&key, &[signed.as_bytes(), BODY]))
    );
    let svix = headers(&[
        ("svix-id", "msg_2".into()),
        ("svix-timestamp", now.to_string()),
        ("svix-signature", signature),
    ]);
    assert_eq!(verifier.verify(&svix, BODY, now), Ok(()));
    let tampered = headers(&[
        ("svix-id", "msg_3".into()),
        ("svix-timestamp", now.to_string()),
        ("svix-signature", "v1,bm9wZQ==".into()),
    ]);
    assert_eq!(
        verifier.verify(&tampered, BODY, now),
        Err(AuthError::Mismatch)
    );
}

#[test]
fn a_basic_401_carries_a_challenge_and_signature_schemes_none() {
    let basic = Verifier::Basic {
        header: "authorization",
        credentials: vec![b"u:p".to_vec()],
    };
    assert_eq!(
        basic.challenge(),
        Some("Basic realm=\"switchboard\", charset=\"UTF-8\"")
    );
    assert_eq!(Verifier::github(vec![b"s".to_vec()]).challenge(), None);
}

#[test]
fn stripe_checks_any_v1_signature() {
    let verifier = Verifier::Stripe {
        secrets: vec![b"whsec_test".to_vec()],
        tolerance_secs: 300,
    };
    let now = 1_800_000_000u64;
    let signed = format!("{now}.");
    let sig = hex::encode(hmac_sha256(b"whsec_test", &[signed.as_bytes(), BODY]));
    let value = format!("t={now},v1=deadbeef,v1={sig},v0=ignored");
    assert_eq!(
        verifier.verify(&headers(&[("stripe-signature", value)]), BODY, now),
        Ok(())
    );
    let value = format!("t={now},v1=deadbeef");
    assert_eq!(
        verifier.verify(&headers(&[("stripe-signature", value)]), BODY, now),
        Err(AuthError::Mismatch)
    );
    assert!(matches!(
        verifier.verify(&headers(&[("stripe-signature", "v1=aa".into())]), BODY, now),
        Err(AuthError::Malformed { .. })
    ));
}
