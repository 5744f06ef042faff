//! The Standard Webhooks signature (standardwebhooks.com), signed and
//! verified in this one place: the consumer signs its deliveries with it,
//! and the gateway verifies sources that sign this way.
//!
//! A signed request carries `webhook-id` (the event id), `webhook-timestamp`
//! (unix seconds) and `webhook-signature`: one or more space-separated
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret, so a
//! receiver accepts it during a secret rotation whichever secret it holds.
//! Secrets are `whsec_` + base64 (padded or not).

use base64::engine::general_purpose::{STANDARD as BASE64, STANDARD_NO_PAD as BASE64_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The message id header (Switchboard sends the event id).
pub const WEBHOOK_ID: &str = "webhook-id";
/// The signing time header, unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// The signatures header.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// A signing secret, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

/// Why a secret or a signature header was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not `whsec_<base64>`.
    #[error("a Standard Webhooks secret must be whsec_<base64>")]
    BadSecret,
    /// The header holds no `v1,<base64>` signature.
    #[error("no v1 signature in the webhook-signature header")]
    Malformed,
    /// No signature matches any secret.
    #[error("the signature does not match")]
    Mismatch,
}

impl SigningKey {
    /// Reads a `whsec_<base64>` secret (the prefix may be left out).
    pub fn from_secret(secret: &str) -> Result<Self, SignatureError> {
        let secret = secret.trim();
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        BASE64
            .decode(encoded)
            .or_else(|_| BASE64_NO_PAD.decode(encoded))
            .ok()
            .filter(|key| !key.is_empty())
            .map(SigningKey)
            .ok_or(SignatureError::BadSecret)
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// The `webhook-signature` value for `id`, `timestamp` and `body`: one
/// `v1,` signature per key, space-separated.
pub fn sign(keys: &[SigningKey], id: &str, timestamp: &str, body: &[u8]) -> String {
    keys.iter()
        .map(|key| format!("v1,{}", BASE64.encode(key.mac(id, timestamp, body))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a `webhook-signature` value against `keys` (constant-time): Ok
/// when any `v1` signature matches any key. The timestamp's freshness is
/// the caller's to check.
pub fn verify(
    keys: &[SigningKey],
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
) -> Result<(), SignatureError> {
    let mut malformed = true;
    let mut matched = subtle::Choice::from(0);
    for candidate in signatures.split(' ') {
        let Some(presented) = candidate
            .strip_prefix("v1,")
            .and_then(|encoded| BASE64.decode(encoded).ok())
        else {
            continue;
        };
        malformed = false;
        for key in keys {
            matched |= key.mac(id, timestamp, body).as_slice().ct_eq(&presented);
        }
    }
    match (malformed, bool::from(matched)) {
        (true, _) => Err(SignatureError::Malformed),
        (false, true) => Ok(()),
        (false, false) => Err(SignatureError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> SigningKey {
        SigningKey::from_secret(secret).expect("secret")
    }

    #[test]
    fn the_specification_s_example_signs_to_its_published_value() {
        // The example of the Standard Webhooks reference libraries.
        let signed = sign(
            &[key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn what_is_signed_verifies_and_anything_changed_does_not() {
        let (old, new) = (key("whsec_b2xkLXNlY3JldA=="), key("whsec_bmV3LXNlY3JldA"));
        let signed = sign(&[new.clone(), old.clone()], "evt-1", "100", b"{}");
        assert_eq!(signed.split(' ').count(), 2, "one signature per secret");
        assert_eq!(
            verify(std::slice::from_ref(&old), "evt-1", "100", b"{}", &signed),
            Ok(())
        );
        assert_eq!(
            verify(std::slice::from_ref(&new), "evt-1", "100", b"{}", &signed),
            Ok(())
        );
        let mismatch = Err(SignatureError::Mismatch);
        assert_eq!(
            verify(std::slice::from_ref(&new), "evt-2", "100", b"{}", &signed),
            mismatch
        );
        assert_eq!(
            verify(std::slice::from_ref(&new), "evt-1", "101", b"{}", &signed),
            mismatch
        );
        assert_eq!(verify(&[new], "evt-1", "100", b"{ }", &signed), mismatch);
        assert_eq!(
            verify(&[old], "evt-1", "100", b"{}", "v2,abc"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_secret_must_be_base64_and_never_shows_in_debug() {
        assert_eq!(
            SigningKey::from_secret("whsec_!!!"),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(SigningKey::from_secret(""), Err(SignatureError::BadSecret));
        let shown = format!("{:?}", key("whsec_c2VjcmV0"));
        assert!(!shown.contains("c2VjcmV0") && shown.contains("REDACTED"));
    }
}
