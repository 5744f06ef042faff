//! Unit tests of loading and validating the consumer configuration.

use super::*;

mod listeners_and_filters;
mod prefetch;

#[test]
fn the_environment_alone_configures_a_consumer() {
    let config = ConsumerConfig::load(
        None,
        &vars(&[
            ("KAFKA_BROKERS", "b1:9092"),
            ("CONSUMER_GROUP", "crm"),
            ("DESTINATION_URL", "http://crm.internal/hook"),
            ("RETRY_STAGES", "retry-1m=1s,retry-10m=2s"),
            ("CONSUMER_CONCURRENCY", "8"),
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("KAFKA_LINGER_MS", "0"),
        ]),
    )
    .expect("valid");
    assert_eq!(
        config.ladder.consumed_topics(),
        [
            "webhooks",
            "webhooks.crm.retry-1m",
            "webhooks.crm.retry-10m"
        ]
    );
    assert_eq!(config.ladder.delay(2), Duration::from_secs(2));
    assert_eq!(config.worker.concurrency, 8);
    assert_eq!(
        config.consumer_kafka.get("bootstrap.servers"),
        Some("b1:9092")
    );
    assert_eq!(config.consumer_kafka.get("group.id"), Some("crm"));
    assert_eq!(
        config.consumer_kafka.get("session.timeout.ms"),
        Some("6000")
    );
    assert!(config.producer_kafka.get("session.timeout.ms").is_none());
    assert_eq!(config.producer_kafka.get("linger.ms"), Some("0"));
    assert!(config.consumer_kafka.get("linger.ms").is_none());
    assert_eq!(
        config.consumer_kafka.get("enable.auto.commit"),
        Some("false")
    );
    assert_eq!(config.http.timeout, Duration::from_secs(5));
    assert_eq!(config.admin_listen.port(), 9091);
}

#[test]
fn markers_have_a_producer_of_their_own_with_a_longer_linger() {
    let env = |extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("DESTINATION_URL", "http://crm.internal/hook"),
            ("HOSTNAME", "member-0"),
            ("KAFKA_LINGER_MS", "2"),
        ];
        pairs.extend_from_slice(extra);
        ConsumerConfig::load(None, &vars(&pairs))
    };
    let config = env(&[]).expect("valid");
    // The operator's linger is the hops'; markers keep theirs.
    assert_eq!(config.producer_kafka.get("linger.ms"), Some("2"));
    assert_eq!(config.marker_kafka.get("linger.ms"), Some("50"));
    assert_eq!(
        config.marker_kafka.get("client.id"),
        Some("switchboard-consumer-markers-member-0")
    );
    // Everything else is the hand-off producer's: durable the same way.
    for key in ["acks", "enable.idempotence", "compression.type"] {
        assert_eq!(
            config.marker_kafka.get(key),
            config.producer_kafka.get(key),
            "{key}"
        );
    }
    let config = env(&[("CONSUMER_MARKER_LINGER", "100ms")]).expect("valid");
    assert_eq!(config.marker_kafka.get("linger.ms"), Some("100"));
    let error = env(&[("CONSUMER_MARKER_LINGER", "2s")])
        .expect_err("over the bound")
        .to_string();
    assert!(error.contains("CONSUMER_MARKER_LINGER"), "{error}");
}

#[test]
fn a_consumer_without_a_downstream_refuses_to_start() {
    let config = ConsumerConfig::load(None, &vars(&[])).expect("operators need no downstream");
    let error = config.require_destination().expect_err("no destination");
    assert!(error.to_string().contains("DESTINATION_URL"), "{error}");
    let error = ConsumerConfig::load(None, &vars(&[("DESTINATION_URL", "crm.internal")]))
        .expect_err("not absolute");
    assert!(error.to_string().contains("absolute"), "{error}");
}

#[test]
fn auto_commit_and_weak_acks_cannot_be_switched_on() {
    let config = ConsumerConfig::load(
        None,
        &vars(&[
            ("DESTINATION_URL", "http://x/"),
            ("KAFKA_ENABLE_AUTO_COMMIT", "true"),
        ]),
    )
    .expect("valid");
    assert_eq!(
        config.consumer_kafka.get("enable.auto.commit"),
        Some("false")
    );
    let error = ConsumerConfig::load(
        None,
        &vars(&[("DESTINATION_URL", "http://x/"), ("KAFKA_ACKS", "1")]),
    )
    .expect_err("acks=1");
    assert!(error.to_string().contains("acks=all"), "{error}");
}

#[test]
fn shipped_example_config_is_valid() {
    let text = include_str!("../../../../deploy/config/consumer.example.toml");
    let config = ConsumerConfig::from_toml(text, &BTreeMap::new()).expect("valid");
    assert!(config.http.sources.contains_key("genesys"));
    assert_eq!(config.ladder.len(), 3);
}

#[test]
fn durations_are_written_one_way_and_errors_name_the_variable() {
    let error = ConsumerConfig::load(None, &vars(&[("CONSUMER_COMMIT_INTERVAL", "500")]))
        .expect_err("a bare number is not a duration");
    assert!(
        error.to_string().contains("CONSUMER_COMMIT_INTERVAL"),
        "{error}"
    );
    let error = ConsumerConfig::from_toml("[destination]\nmax_hold = 300\n", &vars(&[]))
        .expect_err("a number in the file");
    assert!(error.to_string().contains("max_hold"), "{error}");
    let config = ConsumerConfig::load(
        None,
        &vars(&[
            ("DESTINATION_MAX_HOLD", "1m"),
            ("CONSUMER_SHUTDOWN_GRACE", "3s"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.http.max_hold, Duration::from_secs(60));
    assert_eq!(config.worker.drain_timeout, Duration::from_secs(3));
}

#[test]
fn an_assignor_that_does_not_co_partition_is_refused() {
    for strategy in ["cooperative-sticky", "roundrobin", "range,roundrobin"] {
        let error = ConsumerConfig::load(
            None,
            &vars(&[("KAFKA_PARTITION_ASSIGNMENT_STRATEGY", strategy)]),
        )
        .expect_err(strategy);
        assert!(error.to_string().contains("range"), "{error}");
    }
    let config = ConsumerConfig::load(
        None,
        &vars(&[("KAFKA_PARTITION_ASSIGNMENT_STRATEGY", "range")]),
    )
    .expect("range is the one that co-partitions");
    assert_eq!(
        config.consumer_kafka.get("partition.assignment.strategy"),
        Some("range")
    );
}

#[test]
fn a_member_has_a_stable_identity_from_its_host_name_unless_told_otherwise() {
    let config = ConsumerConfig::load(None, &vars(&[("HOSTNAME", "switchboard-consumer-2")]))
        .expect("valid");
    assert_eq!(
        config.consumer_kafka.get("group.instance.id"),
        Some("switchboard-consumer-2")
    );
    let config = ConsumerConfig::load(
        None,
        &vars(&[("HOSTNAME", "host"), ("CONSUMER_INSTANCE_ID", "crm-a")]),
    )
    .expect("valid");
    assert_eq!(
        config.consumer_kafka.get("group.instance.id"),
        Some("crm-a")
    );
    let config = ConsumerConfig::from_toml("instance_id = \"\"\n", &vars(&[("HOSTNAME", "host")]))
        .expect("valid");
    assert_eq!(
        config.consumer_kafka.get("group.instance.id"),
        None,
        "empty turns it off"
    );
    assert_eq!(config.producer_kafka.get("group.instance.id"), None);
}

#[test]
fn destinations_have_limits_by_default_and_per_source() {
    let config = ConsumerConfig::from_toml(
        "[destination]\nrate = 50.0\n[destination.sources]\ngenesys = \"http://g/\"\n[destination.limits.genesys]\nmax_in_flight = 4\n",
        &vars(&[("DESTINATION_MAX_IN_FLIGHT", "8"), ("DESTINATION_URL", "http://d/")]),
    )
    .expect("valid");
    let default = config.http.default.as_ref().expect("default").limits;
    assert_eq!(default.max_in_flight, 8);
    assert_eq!(default.rate, Some(50.0));
    let genesys = config.http.sources["genesys"].limits;
    assert_eq!(genesys.max_in_flight, 4);
    assert_eq!(
        genesys.rate,
        Some(50.0),
        "what a source does not set, it inherits"
    );
    let error =
        ConsumerConfig::load(None, &vars(&[("DESTINATION_MAX_IN_FLIGHT", "0")])).expect_err("zero");
    assert!(error.to_string().contains("at least 1"), "{error}");
    let default = ConsumerConfig::load(None, &vars(&[("DESTINATION_URL", "http://d/")]))
        .expect("valid")
        .http
        .default
        .expect("default");
    assert_eq!(default.limits.max_in_flight, 32);
    assert_eq!(default.limits.rate, None);
    let orphan = ConsumerConfig::from_toml(
        "[destination.limits.genesys]\nmax_in_flight = 4\n",
        &vars(&[("DESTINATION_URL", "http://d/")]),
    )
    .expect_err("limits of a source without a URL");
    assert!(orphan.to_string().contains("no URL of its own"), "{orphan}");
}

#[test]
fn breakers_have_defaults_a_shared_setting_and_a_per_source_one() {
    let toml = r#"
        [destination]
        url = "http://crm.internal/events"
        breaker = { open_after = 3, first_probe = "1s", max_probe_interval = "10s" }
        [destination.sources]
        plain = "http://plain.internal/hook"
        [destination.sources.fragile]
        url = "http://fragile.internal/hook"
        breaker = { open_after = 0 }
    "#;
    let config = ConsumerConfig::from_toml(toml, &vars(&[])).expect("valid");
    let shared = config.http.default.as_ref().expect("default").breaker;
    assert_eq!(shared.open_after, 3);
    assert_eq!(shared.max_probe_interval, Duration::from_secs(10));
    assert_eq!(config.http.sources["plain"].breaker, shared, "inherited");
    let fragile = config.http.sources["fragile"].breaker;
    assert_eq!(fragile.open_after, 0);
    assert_eq!(
        fragile.first_probe,
        Duration::from_secs(2),
        "unset fields take the defaults"
    );
    let tight = ConsumerConfig::from_toml(
        "[destination]\nbreaker = { first_probe = \"10ms\" }\n",
        &vars(&[("DESTINATION_URL", "http://d/")]),
    )
    .expect_err("tight loop");
    assert!(tight.to_string().contains("first_probe"), "{tight}");
}

#[test]
fn each_destination_has_its_own_headers_credentials_and_signing() {
    let toml = r#"
        [destination]
        url = "https://crm.internal/events"
        headers = { "X-Tenant" = "acme" }
        auth = { kind = "bearer", token = { env = "CRM_TOKEN" } }
        signing = { secrets = [{ env = "CRM_WHSEC" }] }

        [destination.sources]
        plain = "http://plain.internal/hook"

        [destination.sources.zendesk]
        url = "https://acme.zendesk.com/api/hook"
        auth = { kind = "basic", username = "bot", password = { env = "ZD_PASSWORD" } }
    "#;
    let env = vars(&[
        ("CRM_TOKEN", "crm-t0k3n"),
        ("CRM_WHSEC", "whsec_c2VjcmV0"),
        ("ZD_PASSWORD", "zd-p4ss"),
    ]);
    let config = ConsumerConfig::from_toml(toml, &env).expect("valid");
    let shown = format!("{config:?}");
    for secret in ["crm-t0k3n", "c2VjcmV0", "zd-p4ss"] {
        assert!(!shown.contains(secret), "{secret} shows in Debug");
    }
    let apply = |credentials: &crate::credentials::Credentials| {
        let mut headers = http::HeaderMap::new();
        credentials
            .apply(&mut headers, "evt", b"{}", 0)
            .expect("applied");
        headers
    };
    let default = apply(&config.http.default.as_ref().expect("default").credentials);
    assert_eq!(default["authorization"], "Bearer crm-t0k3n");
    assert_eq!(default["x-tenant"], "acme");
    assert!(default.contains_key("webhook-signature"));
    // A source's own destination inherits none of the default's.
    let plain = apply(&config.http.sources["plain"].credentials);
    assert!(plain.is_empty(), "{plain:?}");
    let zendesk = apply(&config.http.sources["zendesk"].credentials);
    assert!(zendesk["authorization"]
        .to_str()
        .expect("text")
        .starts_with("Basic "));
    assert!(!zendesk.contains_key("x-tenant") && !zendesk.contains_key("webhook-signature"));
    assert_eq!(
        config.http.sources["zendesk"].uri.to_string(),
        "https://acme.zendesk.com/api/hook"
    );

    let missing = ConsumerConfig::from_toml(toml, &vars(&[("CRM_TOKEN", "t")])).expect_err("unset");
    assert!(missing.to_string().contains("CRM_WHSEC"), "{missing}");
}

#[test]
fn an_oauth2_destination_reads_its_client_secret_and_never_shows_it() {
    let toml = r#"
        [destination]
        url = "https://api.crm.example.com/events"
        [destination.auth]
        kind = "oauth2"
        token_url = "https://login.crm.example.com/oauth2/token"
        client_id = "switchboard"
        client_secret = { env = "CRM_CLIENT_SECRET" }
        scopes = ["events.write"]
        audience = "https://api.crm.example.com"
    "#;
    let config = ConsumerConfig::from_toml(toml, &vars(&[("CRM_CLIENT_SECRET", "cl13nt-s3cret")]))
        .expect("valid");
    let shown = format!("{config:?}");
    assert!(
        shown.contains("oauth2") && !shown.contains("cl13nt-s3cret"),
        "{shown}"
    );
    let default = config.http.default.as_ref().expect("default");
    let summary = default.summary(None);
    assert!(
        summary.starts_with("https://api.crm.example.com/events (auth oauth2,")
            && summary.contains("breaker opens after 5 different events")
            && !summary.contains("cl13nt-s3cret"),
        "consumer check's line: {summary}"
    );
    let credentials = &default.credentials;
    assert!(credentials.oauth().is_some());
    let mut headers = http::HeaderMap::new();
    credentials
        .apply(&mut headers, "evt", b"{}", 0)
        .expect("applied");
    assert!(
        !headers.contains_key("authorization"),
        "the token is added per request, after it is fetched"
    );

    let bad_url = toml.replace(
        "https://login.crm.example.com/oauth2/token",
        "ftp://login/token",
    );
    let error =
        ConsumerConfig::from_toml(&bad_url, &vars(&[("CRM_CLIENT_SECRET", "x")])).expect_err("ftp");
    assert!(error.to_string().contains("token_url"), "{error}");
    let error = ConsumerConfig::from_toml(toml, &vars(&[])).expect_err("no secret");
    assert!(error.to_string().contains("CRM_CLIENT_SECRET"), "{error}");
}

#[test]
fn tls_settings_are_checked_at_start_up() {
    let load = |tls: &str| {
        ConsumerConfig::from_toml(
            &format!("[destination]\nurl = \"https://crm.internal/\"\ntls = {tls}\n"),
            &vars(&[]),
        )
    };
    let error = load(r#"{ client_cert = "/etc/hostname" }"#).expect_err("cert without key");
    assert!(error.to_string().contains("go together"), "{error}");
    let error = load(r#"{ ca = "/nonexistent/ca.pem" }"#).expect_err("missing CA");
    assert!(
        error.to_string().contains("destination.tls.ca")
            && error.to_string().contains("/nonexistent/ca.pem"),
        "{error}"
    );
    let error = load(r#"{ ca = "/etc/hostname" }"#).expect_err("not PEM");
    assert!(
        error.to_string().contains("no PEM certificate") || error.to_string().contains("tls.ca"),
        "{error}"
    );
    assert!(load("{}").is_ok(), "an empty table is the system's roots");
}
