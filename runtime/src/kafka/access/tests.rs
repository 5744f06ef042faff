use super::refusal::{verify_cause, GENERIC_VERIFY};
use super::*;
use crate::exit;
use std::collections::BTreeMap;

#[test]
fn sasl_and_tls_failures_are_named_and_outages_are_not_access_errors() {
    let who = "user \"x\" (SASL SCRAM-SHA-512)";
    let wrong = classify(
        RDKafkaErrorCode::Authentication,
        "sasl_ssl://127.0.0.1:1/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        who,
    )
    .expect("an access error");
    assert!(
        wrong.to_string().contains("wrong user name or password"),
        "{wrong}"
    );
    assert_eq!(wrong.exit_code(), exit::KAFKA_AUTHENTICATION);
    let unknown_ca = classify(
        RDKafkaErrorCode::SSL,
        "ssl://127.0.0.1:1/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured",
        who,
    )
    .expect("a TLS error");
    assert!(
        unknown_ca.to_string().contains(GENERIC_VERIFY),
        "{unknown_ca}"
    );
    assert_eq!(unknown_ca.exit_code(), exit::KAFKA_TLS);
    assert!(verify_cause("certificate has expired").contains("expired"));
    assert!(verify_cause("hostname mismatch").contains("another host"));
    assert_eq!(
        classify(
            RDKafkaErrorCode::BrokerTransportFailure,
            "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused",
            who
        ),
        None
    );
}

#[test]
fn missing_rights_name_the_operation_and_topic_once() {
    let needs = [
        Need::new("webhooks", Operation::Write),
        Need::new("webhooks", Operation::Describe),
        Need::new("hidden", Operation::Read),
        Need::new("gone", Operation::Read),
        Need::new("old-broker", Operation::Read),
    ];
    let rights = BTreeMap::from([
        (
            "webhooks".to_owned(),
            TopicRights::Allowed(vec![Operation::Read, Operation::Describe]),
        ),
        (
            "hidden".to_owned(),
            TopicRights::Refused(RDKafkaErrorCode::TopicAuthorizationFailed),
        ),
        (
            "gone".to_owned(),
            TopicRights::Refused(RDKafkaErrorCode::UnknownTopicOrPartition),
        ),
        ("old-broker".to_owned(), TopicRights::Unknown),
    ]);
    assert_eq!(
        missing_rights(&needs, &rights),
        vec!["Write topic webhooks", "Read topic hidden"]
    );
}

#[test]
fn identities_are_described_without_secrets() {
    let sasl = KafkaSettings::from_pairs([
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "switchboard-gateway"),
        ("sasl.password", "hunter2"),
    ]);
    let named = identity(&sasl);
    assert_eq!(named, "user \"switchboard-gateway\" (SASL SCRAM-SHA-512)");
    let tls = KafkaSettings::from_pairs([
        ("security.protocol", "SSL"),
        ("ssl.certificate.location", "/etc/tls/client.pem"),
    ]);
    assert_eq!(identity(&tls), "the client certificate /etc/tls/client.pem");
    assert_eq!(
        identity(&KafkaSettings::default()),
        "the anonymous principal (plaintext)"
    );
}
