//! Unit tests of what destinations' requests carry.

use super::*;
use crate::config::vars;

fn env(name: &str) -> SecretSettings {
    SecretSettings {
        file: None,
        env: Some(name.into()),
    }
}

#[test]
fn each_kind_of_credential_becomes_its_header() {
    let env_vars = vars(&[("TOKEN", "t0k"), ("PASS", "p4ss"), ("KEY", "k3y")]);
    let with = |auth: AuthSettings| {
        let credentials = Credentials::load(
            &BTreeMap::new(),
            false,
            Some(&auth),
            None,
            &env_vars,
            "destination",
        )
        .expect("valid");
        let mut headers = HeaderMap::new();
        credentials
            .apply(&mut headers, "evt", b"{}", 0)
            .expect("applied");
        headers
    };
    let bearer = with(AuthSettings::Bearer {
        token: env("TOKEN"),
    });
    assert_eq!(bearer[AUTHORIZATION], "Bearer t0k");
    assert!(bearer[AUTHORIZATION].is_sensitive());
    let basic = with(AuthSettings::Basic {
        username: "crm".into(),
        password: env("PASS"),
    });
    assert_eq!(
        basic[AUTHORIZATION],
        format!("Basic {}", BASE64.encode("crm:p4ss"))
    );
    let api_key = with(AuthSettings::ApiKey {
        header: "X-API-Key".into(),
        key: env("KEY"),
    });
    assert_eq!(api_key["x-api-key"], "k3y");
    assert!(!api_key.contains_key(AUTHORIZATION));
}

#[test]
fn a_signed_request_verifies_with_the_same_codec() {
    let env_vars = vars(&[("WHSEC", "whsec_c2VjcmV0LWtleQ==")]);
    let signing = SigningSettings {
        secrets: vec![env("WHSEC")],
    };
    let credentials = Credentials::load(
        &BTreeMap::new(),
        false,
        None,
        Some(&signing),
        &env_vars,
        "destination",
    )
    .expect("valid");
    let mut headers = HeaderMap::new();
    credentials
        .apply(&mut headers, "evt-7", b"{\"a\":1}", 1_700_000_000)
        .expect("signed");
    assert_eq!(headers[WEBHOOK_ID], "evt-7");
    assert_eq!(headers[WEBHOOK_TIMESTAMP], "1700000000");
    let key = SigningKey::from_secret("whsec_c2VjcmV0LWtleQ==").expect("key");
    let signature = headers[WEBHOOK_SIGNATURE].to_str().expect("text");
    assert_eq!(
        standard_webhooks::verify(&[key], "evt-7", "1700000000", b"{\"a\":1}", signature),
        Ok(())
    );
}

#[test]
fn bad_settings_are_refused_with_their_place_and_secrets_never_show() {
    let none = BTreeMap::new();
    let reserved: BTreeMap<String, String> = [("X-Event-Id".to_owned(), "x".to_owned())].into();
    let error = Credentials::load(&reserved, false, None, None, &vars(&[]), "destination")
        .expect_err("reserved");
    assert!(error.contains("destination.headers"), "{error}");
    let bad_secret = SigningSettings {
        secrets: vec![env("WHSEC")],
    };
    let error = Credentials::load(
        &none,
        false,
        None,
        Some(&bad_secret),
        &vars(&[("WHSEC", "not base64!")]),
        "destination.sources.crm",
    )
    .expect_err("bad secret");
    assert!(
        error.starts_with("destination.sources.crm.signing.secrets[0]"),
        "{error}"
    );
    let credentials = Credentials::load(
        &none,
        false,
        Some(&AuthSettings::Bearer {
            token: env("TOKEN"),
        }),
        None,
        &vars(&[("TOKEN", "t0k")]),
        "destination",
    )
    .expect("valid");
    assert!(!format!("{credentials:?}").contains("t0k"));
}

#[test]
fn kept_source_headers_are_forwarded_under_the_prefix_only_when_asked() {
    let kept = [
        switchboard_proto::Header {
            name: "X-Genesys-Org".into(),
            value: b"acme".to_vec().into(),
        },
        switchboard_proto::Header {
            name: "bad name".into(),
            value: b"x".to_vec().into(),
        },
    ];
    let load = |forward| {
        Credentials::load(
            &BTreeMap::new(),
            forward,
            None,
            None,
            &vars(&[]),
            "destination",
        )
        .expect("valid")
    };
    let mut headers = HeaderMap::new();
    load(true).forward(&mut headers, &kept);
    assert_eq!(headers["x-source-header-x-genesys-org"], "acme");
    assert_eq!(headers.len(), 1, "an invalid name is left out");
    let mut headers = HeaderMap::new();
    load(false).forward(&mut headers, &kept);
    assert!(headers.is_empty());
}
