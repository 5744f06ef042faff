//! TLS of one destination: the CA bundle its certificate must chain to (a
//! private CA, instead of the system's roots) and the client certificate
//! it demands (mutual TLS). Files are read once, at start-up; a rotated
//! certificate takes a restart (a rolling one: consumers share the work).

use std::path::{Path, PathBuf};

use native_tls::{Certificate, Identity, TlsConnector};
use serde::Deserialize;

/// `tls = { … }` of a destination, as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM bundle of the CAs to trust for this destination; when set, the
    /// system's roots are not trusted for it.
    pub ca: Option<PathBuf>,
    /// PEM certificate (chain) to present: mutual TLS. Needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM PKCS#8 private key of `client_cert` (`BEGIN PRIVATE KEY`; convert
    /// others with `openssl pkcs8 -topk8 -nocrypt`).
    pub client_key: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))
}

impl TlsSettings {
    /// The connector these settings describe (`what` names the setting in
    /// errors).
    pub fn connector(&self, what: &str) -> Result<TlsConnector, String> {
        let mut builder = TlsConnector::builder();
        if let Some(path) = &self.ca {
            let pem = read(path, &format!("{what}.tls.ca"))?;
            let roots = Certificate::stack_from_pem(&pem)
                .map_err(|e| format!("{what}.tls.ca: {}: {e}", path.display()))?;
            if roots.is_empty() {
                return Err(format!(
                    "{what}.tls.ca: {} holds no PEM certificate",
                    path.display()
                ));
            }
            builder.disable_built_in_roots(true);
            for root in roots {
                builder.add_root_certificate(root);
            }
        }
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let cert_pem = read(cert, &format!("{what}.tls.client_cert"))?;
                let key_pem = read(key, &format!("{what}.tls.client_key"))?;
                let identity = Identity::from_pkcs8(&cert_pem, &key_pem).map_err(|e| {
                    format!(
                        "{what}.tls: {} with {} is not a PEM certificate and its PKCS#8 key: {e}",
                        cert.display(),
                        key.display()
                    )
                })?;
                builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(format!(
                    "{what}.tls: client_cert and client_key go together"
                ))
            }
        }
        builder
            .build()
            .map_err(|e| format!("{what}.tls: cannot set up TLS: {e}"))
    }
}
