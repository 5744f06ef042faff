//! Why a TLS handshake with a broker failed, in the certificate check's own
//! words. librdkafka says only "certificate verify failed"; this module
//! repeats the handshake with OpenSSL (the library librdkafka uses) and the
//! same trust settings and host, and reads the verification result:
//! "certificate has expired", "hostname mismatch", "unable to get local
//! issuer certificate".

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use openssl::ssl::{HandshakeError, SslConnector, SslFiletype, SslMethod};
use openssl::x509::X509VerifyResult;

use super::KafkaSettings;

const PATIENCE: Duration = Duration::from_secs(3);

/// Why the first bootstrap broker's TLS handshake fails under `settings`
/// (`ssl.ca.location`, the client certificate and key): the certificate
/// check's reason for refusing the broker's certificate, or the alert the
/// broker sent refusing ours. `None` when it cannot tell (the broker did
/// not answer, or the handshake passed here).
pub fn verify_failure(settings: &KafkaSettings) -> Option<String> {
    let first = settings.get("bootstrap.servers")?.split(',').next()?.trim();
    let server = first.rsplit_once("://").map_or(first, |(_, rest)| rest);
    let (host, _) = server.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut builder = SslConnector::builder(SslMethod::tls_client()).ok()?;
    match settings.get("ssl.ca.location") {
        Some(ca) => builder.set_ca_file(ca).ok()?,
        None => builder.set_default_verify_paths().ok()?,
    }
    if let (Some(cert), Some(key)) = (
        settings.get("ssl.certificate.location"),
        settings.get("ssl.key.location"),
    ) {
        builder.set_certificate_chain_file(cert).ok()?;
        builder.set_private_key_file(key, SslFiletype::PEM).ok()?;
    }
    let connector = builder.build();
    let address = server.to_socket_addrs().ok()?.next()?;
    let stream = TcpStream::connect_timeout(&address, PATIENCE).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    stream.set_write_timeout(Some(PATIENCE)).ok()?;
    match connector.connect(host, stream) {
        // With TLS 1.3 a broker refuses a client certificate (or its
        // absence) after the client's handshake ended: its alert is the
        // answer to the first read. A broker that took the certificate
        // sends nothing unasked, so the read waits out its timeout.
        Ok(mut tls) => {
            let mut byte = [0u8; 1];
            match std::io::Read::read(&mut tls, &mut byte) {
                Err(error) => tls_alert(&error.to_string()),
                Ok(_) => None,
            }
        }
        Err(HandshakeError::Failure(mid)) => {
            let result = mid.ssl().verify_result();
            if result != X509VerifyResult::OK {
                Some(result.error_string().to_owned())
            } else {
                tls_alert(&mid.error().to_string())
            }
        }
        Err(_) => None,
    }
}

/// The alert in an OpenSSL error's text (`tlsv13 alert certificate
/// required`, `tlsv1 alert unknown ca`), if it names one.
fn tls_alert(error: &str) -> Option<String> {
    let at = error.find("alert")?;
    let start = error[..at].rfind([':', ' ']).map_or(0, |i| i + 1);
    let end = error[at..].find([':', '(']).map_or(error.len(), |i| at + i);
    Some(error[start..end].trim().to_owned())
}
