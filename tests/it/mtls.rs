//! Mutual TLS per destination, end to end: a Python HTTPS receiver that
//! demands a client certificate from its private CA, certificates made by
//! the openssl command, and consumers with the right settings, a CA that
//! does not match, and no client certificate: the first delivers, the others
//! hold their deliveries (breaker open) instead of dead-lettering them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard_consumer::metrics;

use crate::harness::{eventually, log_dir, unique_topic, PythonReceiver};
use crate::pipeline::{consumer_with_config, dead_letters, ids, produce_events, ConsumerProcess};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (scripts/install-test-tools.sh installs it)");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA named `name` in `dir` (`name.pem`, `name.key`).
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A certificate `name` for `cn` signed by `ca` (`name.pem`, PKCS#8 `name.key`).
fn issue(dir: &Path, ca: &str, name: &str, cn: &str, extensions: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("ext");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn tls_config(dir: &Path, ca: &str, client: bool) -> String {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut tls = format!("ca = {:?}", path(&format!("{ca}.pem")));
    if client {
        tls += &format!(
            ", client_cert = {:?}, client_key = {:?}",
            path("client.pem"),
            path("client.key")
        );
    }
    format!(
        "[destination]\ntls = {{ {tls} }}\nbreaker = {{ first_probe = \"500ms\", max_probe_interval = \"2s\" }}\n"
    )
}

async fn open_cause(consumer: &ConsumerProcess) -> Option<&'static str> {
    for cause in metrics::FailureCause::ALL {
        if consumer.breaker_open(cause.code()).await == 1.0 {
            return Some(cause.code());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_demands_a_client_certificate_gets_one_and_bad_tls_holds() {
    let dir: PathBuf = log_dir().join(unique_topic("mtls"));
    std::fs::create_dir_all(&dir).expect("dir");
    ca(&dir, "ca");
    ca(&dir, "rogue-ca");
    issue(
        &dir,
        "ca",
        "server",
        "localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    issue(
        &dir,
        "ca",
        "client",
        "switchboard-consumer",
        "extendedKeyUsage=clientAuth\n",
    );
    let receiver = PythonReceiver::start(
        "mtls_receiver.py",
        &["server.pem", "server.key", "ca.pem"],
        &[],
        &dir,
    );
    let url = format!("https://localhost:{}/events", receiver.port);

    let (bootstrap, main, _good) =
        consumer_with_config("mtls", &tls_config(&dir, "ca", true), &url, &[]).await;
    produce_events(&bootstrap, &main, &ids("mtls", 5)).await;
    eventually(
        "five deliveries over mutual TLS",
        Duration::from_secs(30),
        || async {
            let lines = receiver.lines();
            (lines
                .iter()
                .filter(|l| l.starts_with("delivered mtls-"))
                .count()
                == 5)
                .then_some(lines)
        },
    )
    .await
    .iter()
    .for_each(|line| assert!(line.ends_with(" by switchboard-consumer"), "{line}"));

    for (name, ca, client) in [
        ("untrusted", "rogue-ca", true),
        ("no-client-cert", "ca", false),
    ] {
        let (bootstrap, main, consumer) =
            consumer_with_config(name, &tls_config(&dir, ca, client), &url, &[]).await;
        let events = ids(name, 6);
        produce_events(&bootstrap, &main, &events).await;
        let cause = eventually(
            &format!("{name}: held"),
            Duration::from_secs(30),
            || async { open_cause(&consumer).await },
        )
        .await;
        assert_eq!(cause, "tls", "{name}: a TLS failure, named so");
        // Longer than the test ladder (1 s + 2 s).
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            dead_letters(&bootstrap, &main).await.is_empty(),
            "{name}: no DLT"
        );
        let delivered = receiver.lines();
        assert!(
            !delivered
                .iter()
                .any(|l| l.contains(&format!("delivered {name}-"))),
            "{name}: nothing got through"
        );
    }
}
