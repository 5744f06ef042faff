//! Credentials and certificates that cannot work: each ends the process at
//! start, within the start-up check's bound, with one line naming the cause
//! and an exit code of its own (80: Kafka refused to authenticate, 81: TLS
//! failed), never a silent retry loop behind a `503`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchboard_runtime::exit;
use switchboard_runtime::kafka::access::START_CHECK;

use super::{borrowed, cluster, scram, CONSUMER, GATEWAY, MAIN};
use crate::harness::gateway::Refused;
use crate::harness::process::{probably_free_port, spawn_tied};
use crate::harness::Gateway;
use crate::pipeline::consumer_command_full;

/// The start-up check's bound, and a little for the process around it.
fn bound() -> Duration {
    START_CHECK + Duration::from_secs(5)
}

/// Asserts the gateway with `env` exited `code`, in time, with one error
/// line that contains `cause`.
fn assert_refused(case: &str, refused: &Refused, code: u8, cause: &str) {
    assert_eq!(
        refused.code,
        Some(i32::from(code)),
        "{case}: {}",
        refused.log
    );
    assert!(refused.took < bound(), "{case}: took {:?}", refused.took);
    let lines: Vec<&str> = refused
        .log
        .lines()
        .filter(|l| l.starts_with("gateway: "))
        .collect();
    assert_eq!(lines.len(), 1, "{case}: one error line: {}", refused.log);
    assert!(
        lines[0].contains(cause),
        "{case}: {:?} lacks {cause:?}",
        lines[0]
    );
}

async fn gateway_with(env: &[(String, String)]) -> Refused {
    let kafka = cluster().await;
    Gateway::run_to_exit(&kafka.super_user(), MAIN, &borrowed(env), bound() + bound()).await
}

/// `env` with `key` set to `value`.
fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
    env
}

#[tokio::test]
async fn a_wrong_password_or_a_mechanism_the_broker_does_not_offer_exits_80_naming_it() {
    let kafka = cluster().await;
    let good = scram(kafka, GATEWAY);
    let wrong = gateway_with(&with(good.clone(), "KAFKA_SASL_PASSWORD", "not-it")).await;
    assert_refused(
        "wrong password",
        &wrong,
        exit::KAFKA_AUTHENTICATION,
        "wrong user name or password",
    );
    assert!(
        wrong.log.contains("switchboard-gateway"),
        "names the user: {}",
        wrong.log
    );
    assert!(
        !wrong.log.contains("not-it"),
        "never the password: {}",
        wrong.log
    );

    let unknown_user = gateway_with(&with(good.clone(), "KAFKA_SASL_USERNAME", "nobody")).await;
    assert_refused(
        "unknown user",
        &unknown_user,
        exit::KAFKA_AUTHENTICATION,
        "wrong user name or password",
    );

    let mechanism = gateway_with(&with(good, "KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")).await;
    assert_refused(
        "mechanism",
        &mechanism,
        exit::KAFKA_AUTHENTICATION,
        "does not offer this SASL mechanism",
    );

    // The consumer, and an operator command, refuse the same way.
    let env = with(scram(kafka, CONSUMER), "KAFKA_SASL_PASSWORD", "not-it");
    let mut env = borrowed(&env);
    env.extend([
        ("SWITCHBOARD_TOPIC", MAIN),
        ("CONSUMER_GROUP", "crm-sync"),
        ("DESTINATION_URL", "http://127.0.0.1:9/"),
    ]);
    for args in [&["run"][..], &["dlt", "list"]] {
        let (code, _, stderr) = consumer_command_full(&kafka.super_user(), &env, args).await;
        assert_eq!(
            code,
            i32::from(exit::KAFKA_AUTHENTICATION),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("wrong user name or password"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn an_unknown_ca_an_expired_or_wrong_host_certificate_and_no_client_certificate_exit_81() {
    let kafka = cluster().await;
    let good = scram(kafka, GATEWAY);
    let other_ca = kafka.pki.other_ca().to_string_lossy().into_owned();
    let unknown_ca = gateway_with(&with(good.clone(), "KAFKA_SSL_CA_LOCATION", &other_ca)).await;
    assert_refused(
        "unknown CA",
        &unknown_ca,
        exit::KAFKA_TLS,
        "not signed by a CA this process trusts",
    );

    // A TLS server presenting each bad certificate (the handshake fails
    // before any Kafka request, so it needs no broker behind it).
    let ca = kafka.pki.ca().to_string_lossy().into_owned();
    for (case, (cert, key), cause) in [
        ("expired", kafka.pki.expired(), "has expired"),
        (
            "wrong host",
            kafka.pki.wrong_host(),
            "for another host name",
        ),
    ] {
        let port = probably_free_port();
        let mut server = TlsServer::start(port, &cert, &key);
        let env = vec![
            ("KAFKA_BROKERS".to_owned(), format!("127.0.0.1:{port}")),
            ("KAFKA_SECURITY_PROTOCOL".to_owned(), "SSL".to_owned()),
            ("KAFKA_SSL_CA_LOCATION".to_owned(), ca.clone()),
        ];
        let refused = gateway_with(&env).await;
        server.stop();
        assert_refused(case, &refused, exit::KAFKA_TLS, cause);
    }

    // The mutual-TLS listener without a client certificate.
    let mut env = kafka.mtls_env(GATEWAY.0);
    env.retain(|(k, _)| !k.starts_with("KAFKA_SSL_CERTIFICATE") && !k.starts_with("KAFKA_SSL_KEY"));
    let no_cert = gateway_with(&env).await;
    assert_refused(
        "no client certificate",
        &no_cert,
        exit::KAFKA_TLS,
        "client certificate",
    );
}

/// `openssl s_server` presenting one certificate on a loopback port.
struct TlsServer(Child);

impl TlsServer {
    fn start(port: u16, cert: &Path, key: &Path) -> TlsServer {
        let mut command = Command::new("openssl");
        command
            .args(["s_server", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let server = TlsServer(spawn_tied(command));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s_server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
