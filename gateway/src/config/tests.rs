//! Unit tests of loading and validating the gateway configuration.

use super::*;
use crate::locator::Locator;
use crate::source::IdFallback;
use switchboard_runtime::config::vars;

/// The built-in source, explicitly open: the smallest valid configuration.
const OPEN: &str = "[sources.genesys]\nauth = { scheme = \"none\" }\n";

#[test]
fn no_config_is_refused_naming_the_builtin_source_that_would_be_open() {
    let error = GatewayConfig::from_toml("", &vars(&[])).expect_err("no auth table");
    let text = error.to_string();
    assert!(text.contains("source genesys (built in"), "{text}");
    assert!(
        text.contains("auth = { scheme = \"none\" }"),
        "the opt-in is named: {text}"
    );
    let error = GatewayConfig::from_toml("[sources.crm]\n", &vars(&[])).expect_err("no auth table");
    assert!(
        error.to_string().contains("source crm: has no auth table"),
        "{error}"
    );
}

#[test]
fn an_open_genesys_source_is_keyed_by_id() {
    let config = GatewayConfig::from_toml(OPEN, &vars(&[])).expect("valid");
    let genesys = &config.sources[DEFAULT_SOURCE];
    assert_eq!(genesys.topic, "webhooks");
    assert_eq!(genesys.id_locators, vec![Locator::Pointer("/id".into())]);
    assert_eq!(genesys.id_fallback, IdFallback::BodySha256);
    assert!(genesys.verifier.is_none());
    assert_eq!(config.deadline, Duration::from_secs(2));
    assert_eq!(genesys.max_body_bytes, 1024 * 1024);
    assert_eq!(config.kafka.get("acks"), Some("all"));
    assert_eq!(config.kafka.get("enable.idempotence"), Some("true"));
}

#[test]
fn event_types_are_found_where_each_scheme_puts_them_unless_configured() {
    let text = r#"
        [sources.genesys]
        auth = { scheme = "none" }
        event_types = ["v2.audits.*"]
        [sources.gh]
        auth = { scheme = "github", secrets = ["s"] }
        [sources.stripe]
        auth = { scheme = "stripe", secrets = ["whsec_x"] }
        [sources.own]
        auth = { scheme = "none" }
        event_type = ["header:X-Kind", "/kind"]
    "#;
    let config = GatewayConfig::from_toml(text, &vars(&[])).expect("valid");
    let locators = |name: &str| config.sources[name].types.locators.clone();
    let pointer = |p: &str| Locator::Pointer(p.into());
    let header = |h: &'static str| Locator::Header(http::HeaderName::from_static(h));
    assert_eq!(
        locators("genesys"),
        [pointer("/detail-type"), pointer("/type")]
    );
    assert_eq!(locators("gh"), [header("x-github-event")]);
    assert_eq!(locators("stripe"), [pointer("/type")]);
    assert_eq!(locators("own"), [header("x-kind"), pointer("/kind")]);
    assert_eq!(
        config.sources["genesys"].types.labels(),
        ["v2.audits.*", "other", "none"]
    );
    let bad = "[sources.genesys]\nauth = { scheme = \"none\" }\nevent_type = [\"detail-type\"]\n";
    let error = GatewayConfig::from_toml(bad, &vars(&[])).expect_err("not a locator");
    assert!(error.to_string().contains("event_type entry"), "{error}");
    let blank = "[sources.genesys]\nauth = { scheme = \"none\" }\nevent_types = [\"\"]\n";
    let error = GatewayConfig::from_toml(blank, &vars(&[])).expect_err("empty pattern");
    assert!(error.to_string().contains("event_types entry"), "{error}");
}

#[test]
fn environment_overrides_file_and_passes_kafka_settings_through() {
    let toml = r#"
        listen = "127.0.0.1:1"
        topic = "from-file"
        [kafka]
        "linger.ms" = 2
        [sources.genesys]
        auth = { scheme = "none" }
    "#;
    let config = GatewayConfig::from_toml(
        toml,
        &vars(&[
            ("GATEWAY_LISTEN", "127.0.0.1:9999"),
            ("SWITCHBOARD_TOPIC", "from-env"),
            ("KAFKA_BROKERS", "b1:9092,b2:9092"),
            ("KAFKA_SASL_USERNAME", "user"),
            ("GATEWAY_DEADLINE", "750ms"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.listen, "127.0.0.1:9999".parse().expect("addr"));
    assert_eq!(config.sources[DEFAULT_SOURCE].topic, "from-env");
    assert_eq!(
        config.kafka.get("bootstrap.servers"),
        Some("b1:9092,b2:9092")
    );
    assert_eq!(config.kafka.get("sasl.username"), Some("user"));
    assert_eq!(config.kafka.get("linger.ms"), Some("2"));
    assert_eq!(config.kafka.get("brokers"), None);
    assert_eq!(config.deadline, Duration::from_millis(750));
}

#[test]
fn misconfigured_auth_refuses_to_start() {
    let missing_env = r#"
        [sources.om.auth]
        scheme = "hmac-sha256"
        header = "X-Hub-Signature-256"
        encoding = "base64"
        secrets_env = ["OM_SECRET"]
    "#;
    let err = GatewayConfig::from_toml(missing_env, &vars(&[])).expect_err("refused");
    assert!(err.to_string().contains("OM_SECRET"), "{err}");
    let ok = GatewayConfig::from_toml(missing_env, &vars(&[("OM_SECRET", "s")])).expect("valid");
    assert!(!ok.sources["om"].verifier.is_none());
    assert!(ok.sources["om"]
        .forward_headers
        .iter()
        .any(|h| h == "x-hub-signature-256"));

    let no_secret = "[sources.gh.auth]\nscheme = \"github\"\n";
    assert!(GatewayConfig::from_toml(no_secret, &vars(&[])).is_err());
    let unknown_scheme = "[sources.x.auth]\nscheme = \"magic\"\n";
    assert!(GatewayConfig::from_toml(unknown_scheme, &vars(&[])).is_err());
    let bad_basic = "[sources.x.auth]\nscheme = \"basic\"\nsecrets = [\"nocolon\"]\n";
    assert!(GatewayConfig::from_toml(bad_basic, &vars(&[])).is_err());
    let weak_acks = "[kafka]\nacks = \"1\"\n";
    assert!(GatewayConfig::from_toml(weak_acks, &vars(&[])).is_err());
}

#[test]
fn credentials_are_never_forwarded() {
    let toml = r#"
        [sources.eb]
        forward_headers = ["authorization", "x-api-key", "user-agent"]
        [sources.eb.auth]
        scheme = "api-key"
        header = "X-Api-Key"
        secrets = ["k"]
    "#;
    let config = GatewayConfig::from_toml(toml, &vars(&[])).expect("valid");
    let forwarded: Vec<&str> = config.sources["eb"]
        .forward_headers
        .iter()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(forwarded, vec!["user-agent"]);
    assert!(
        !config.sources.contains_key(DEFAULT_SOURCE),
        "configured sources replace the default"
    );
}

#[test]
fn shipped_example_config_is_valid() {
    let text = include_str!("../../../deploy/config/gateway.example.toml");
    let config = GatewayConfig::from_toml(
        text,
        &vars(&[("GENESYS_OM_SECRET", "s"), ("EVENTBRIDGE_BASIC", "eb:pw")]),
    )
    .expect("example config is valid");
    assert!(config.sources.contains_key("genesys"));
    assert!(config.sources.contains_key("genesys-open-messaging"));
}

#[test]
fn durations_are_written_one_way_and_errors_name_the_variable() {
    let error = GatewayConfig::from_toml("", &vars(&[("GATEWAY_DEADLINE", "2000")]))
        .expect_err("a bare number is not a duration");
    let text = error.to_string();
    assert!(text.contains("GATEWAY_DEADLINE"), "{text}");
    assert!(
        text.contains("2s"),
        "the hint shows how to write it: {text}"
    );
    let error = GatewayConfig::from_toml("", &vars(&[("GATEWAY_DEADLINE_MS", "2000")]))
        .expect_err("renamed");
    assert!(error.to_string().contains("GATEWAY_DEADLINE=2s"), "{error}");
    let error = GatewayConfig::from_toml("deadline = 5\n", &vars(&[])).expect_err("number in file");
    assert!(error.to_string().contains("deadline"), "{error}");
    let config = GatewayConfig::from_toml(
        &format!("retry_after = \"1500ms\"\n[http]\nrequest_timeout = \"3s\"\n{OPEN}"),
        &vars(&[("GATEWAY_HTTP_MAX_CONNECTIONS", "12")]),
    )
    .expect("valid");
    assert_eq!(
        config.retry_after_secs, 2,
        "Retry-After rounds up to whole seconds"
    );
    assert_eq!(config.http.request_timeout, Duration::from_secs(3));
    assert_eq!(config.http.max_connections, 12);
}

#[test]
fn debug_output_hides_credentials() {
    let config = GatewayConfig::from_toml(
        "[kafka]\n\"sasl.password\" = \"hunter2\"\n[sources.x.auth]\nscheme = \"api-key\"\nheader = \"X-Key\"\nsecrets = [\"topsecret\"]\n",
        &vars(&[]),
    )
    .expect("valid");
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("topsecret"),
        "{shown}"
    );
}

#[test]
fn a_misspelt_kafka_variable_is_refused_by_name_and_service_links_are_ignored() {
    let error = GatewayConfig::from_toml("", &vars(&[("KAFKA_SECURITY_PROTOCL", "SSL")]))
        .expect_err("no such librdkafka property");
    assert!(
        error.to_string().contains("KAFKA_SECURITY_PROTOCL"),
        "{error}"
    );
    let config = GatewayConfig::from_toml(
        OPEN,
        &vars(&[
            ("KAFKA_PORT", "tcp://10.0.0.1:9092"),
            ("KAFKA_SERVICE_HOST", "10.0.0.1"),
        ]),
    )
    .expect("what Kubernetes injects for a Service named kafka is no setting");
    assert_eq!(config.kafka.get("port"), None);
}

#[test]
fn the_producer_takes_the_largest_body_a_source_accepts() {
    let config = GatewayConfig::from_toml(OPEN, &vars(&[])).expect("valid");
    assert_eq!(
        config.kafka.get("message.max.bytes"),
        Some(
            switchboard_proto::limits::DEFAULT_MAIN_MAX_MESSAGE_BYTES
                .to_string()
                .as_str()
        ),
        "raised past librdkafka's 1,000,000 for the 1 MiB default body"
    );
    let error = GatewayConfig::from_toml(OPEN, &vars(&[("KAFKA_MESSAGE_MAX_BYTES", "1000000")]))
        .expect_err("set too low by the operator");
    let text = error.to_string();
    assert!(
        text.contains("KAFKA_MESSAGE_MAX_BYTES") && text.contains("1048576"),
        "{text}"
    );
    GatewayConfig::from_toml(
        &format!("max_body_bytes = 100000\n{OPEN}"),
        &vars(&[("KAFKA_MESSAGE_MAX_BYTES", "200000")]),
    )
    .expect("room enough");
}
