//! The certificates a secured test cluster and its clients use, made with
//! the `openssl` command line in a folder of their own: a CA, the brokers'
//! certificate (for `localhost` and `127.0.0.1`), client certificates for
//! mutual TLS, and the bad ones the start-up tests need (an unknown CA, an
//! expired certificate, one for another host).
//!
//! Keys are unencrypted PKCS#8 PEM: what Kafka's `PEM` keystores and
//! librdkafka's `ssl.key.location` both read.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A folder of certificates, each `NAME.pem` with its key in `NAME.key`.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Makes the CA and the brokers' certificate (plus a keystore file
    /// holding key and chain, as Kafka's `PEM` keystore wants) under `dir`.
    pub fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("pki folder");
        let pki = Pki {
            dir: dir.to_owned(),
        };
        pki.self_signed("ca", "Switchboard test CA");
        pki.self_signed("other-ca", "Someone else's CA");
        pki.issue("broker", "localhost", "DNS:localhost,IP:127.0.0.1", 30);
        let keystore = [pki.key("broker"), pki.cert("broker")]
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("broker pem"))
            .collect::<String>();
        std::fs::write(pki.broker_keystore(), keystore).expect("broker keystore");
        pki
    }

    /// The CA every good certificate is signed by.
    pub fn ca(&self) -> PathBuf {
        self.cert("ca")
    }

    /// A CA that signed nothing the brokers present.
    pub fn other_ca(&self) -> PathBuf {
        self.cert("other-ca")
    }

    /// The brokers' key and certificate in one file (Kafka's `PEM` keystore).
    pub fn broker_keystore(&self) -> PathBuf {
        self.dir.join("broker-keystore.pem")
    }

    /// A client certificate for `common_name`, signed by the CA; returns
    /// its `(certificate, key)` files. Brokers map the CN to the principal.
    pub fn client(&self, common_name: &str) -> (PathBuf, PathBuf) {
        let name = format!("client-{common_name}");
        self.issue(&name, common_name, "DNS:client.invalid", 30);
        (self.cert(&name), self.key(&name))
    }

    /// A certificate signed by the CA for `localhost` whose validity ended
    /// yesterday; returns `(certificate, key)`.
    pub fn expired(&self) -> (PathBuf, PathBuf) {
        self.issue("expired", "localhost", "DNS:localhost,IP:127.0.0.1", -1);
        (self.cert("expired"), self.key("expired"))
    }

    /// A certificate signed by the CA, valid, but for another host; returns
    /// `(certificate, key)`.
    pub fn wrong_host(&self) -> (PathBuf, PathBuf) {
        self.issue(
            "wrong-host",
            "elsewhere.invalid",
            "DNS:elsewhere.invalid",
            30,
        );
        (self.cert("wrong-host"), self.key("wrong-host"))
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    fn self_signed(&self, name: &str, subject: &str) {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={subject}"),
            "-keyout",
            path(&self.key(name)),
            "-out",
            path(&self.cert(name)),
        ]);
    }

    /// A key and a certificate for `common_name` with `alt_names`, signed
    /// by the CA, valid for `days` from now (negative: already expired).
    fn issue(&self, name: &str, common_name: &str, alt_names: &str, days: i32) {
        let request = self.dir.join(format!("{name}.csr"));
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={common_name}"),
            "-keyout",
            path(&self.key(name)),
            "-out",
            path(&request),
        ]);
        let extensions = self.dir.join(format!("{name}.ext"));
        std::fs::write(&extensions, format!("subjectAltName={alt_names}\n")).expect("extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            path(&request),
            "-CA",
            path(&self.ca()),
            "-CAkey",
            path(&self.key("ca")),
            "-CAcreateserial",
            "-days",
            &days.to_string(),
            "-extfile",
            path(&extensions),
            "-out",
            path(&self.cert(name)),
        ]);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (scripts/install-test-tools.sh installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
