//! Who a process is to the broker, in words, for every refusal.

use super::super::KafkaSettings;

/// Who `settings` make this process to the broker, in words: the SASL
/// user, the client certificate, or the anonymous principal.
pub fn identity(settings: &KafkaSettings) -> String {
    let protocol = settings
        .get("security.protocol")
        .unwrap_or("plaintext")
        .to_ascii_lowercase();
    if protocol.starts_with("sasl") {
        let mechanism = settings
            .get("sasl.mechanisms")
            .or(settings.get("sasl.mechanism"));
        match settings.get("sasl.username") {
            Some(user) => format!("user {user:?} (SASL {})", mechanism.unwrap_or("GSSAPI")),
            None => format!("the SASL {} identity", mechanism.unwrap_or("GSSAPI")),
        }
    } else if let Some(cert) = settings.get("ssl.certificate.location") {
        match certificate_subject(cert) {
            Some(subject) => format!("the client certificate {subject} ({cert})"),
            None => format!("the client certificate {cert}"),
        }
    } else {
        format!("the anonymous principal ({protocol})")
    }
}

/// The subject of the PEM certificate at `path` (`CN=…`), which brokers
/// map to the principal.
fn certificate_subject(path: &str) -> Option<String> {
    let pem = std::fs::read(path).ok()?;
    let cert = openssl::x509::X509::from_pem(&pem).ok()?;
    let parts: Vec<String> = cert
        .subject_name()
        .entries()
        .filter_map(|entry| {
            let key = entry.object().nid().short_name().ok()?;
            Some(format!("{key}={}", entry.data().to_string().ok()?))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}
