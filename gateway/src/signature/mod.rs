//! Request authentication: static API keys, Basic credentials and HMAC-SHA256
//! signatures over the raw body (a generic scheme plus the Standard Webhooks,
//! GitHub and Stripe presets). Every comparison is constant-time and every
//! scheme takes several secrets, so keys can be rotated without downtime.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_proto::standard_webhooks::{self, SignatureError, SigningKey};

pub use auth::AuthConfig;

mod auth;

type HmacSha256 = Hmac<Sha256>;

/// Why a request failed authentication. All of these answer `401`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header that carries the credential or signature is absent.
    #[error("missing {header} header")]
    MissingHeader {
        /// The header that was expected.
        header: &'static str,
    },
    /// The header is present but not in the scheme's format.
    #[error("malformed {header} header")]
    Malformed {
        /// The header that was malformed.
        header: &'static str,
    },
    /// No configured secret matches.
    #[error("signature or credential does not match")]
    Mismatch,
    /// A signed timestamp is too far from now (replay protection).
    #[error("signed timestamp is outside the {tolerance_secs} s tolerance")]
    StaleTimestamp {
        /// The allowed distance from now, seconds.
        tolerance_secs: u64,
    },
}

/// How a generic HMAC signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Lower- or upper-case hexadecimal.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// A configured, ready-to-use authentication scheme for one source.
///
/// Header names are `&'static str` because they are leaked once at start-up
/// from the configuration; a source lives as long as the process.
#[derive(Clone)]
pub enum Verifier {
    /// No authentication (logged as a warning at start-up).
    None,
    /// The header's value must equal one of the keys.
    ApiKey {
        /// Header carrying the key.
        header: &'static str,
        /// Accepted keys.
        keys: Vec<Vec<u8>>,
    },
    /// `Basic base64(user:password)` in the header must match one credential.
    Basic {
        /// Header carrying the credentials (normally `Authorization`).
        header: &'static str,
        /// Accepted `user:password` pairs.
        credentials: Vec<Vec<u8>>,
    },
    /// `prefix + encode(HMAC-SHA256(secret, body))` in the header.
    Hmac {
        /// Header carrying the signature.
        header: &'static str,
        /// Optional prefix before the encoded digest, such as `sha256=`.
        prefix: Option<String>,
        /// How the digest is encoded.
        encoding: SignatureEncoding,
        /// Accepted secrets.
        secrets: Vec<Vec<u8>>,
    },
    /// Standard Webhooks: `webhook-signature: v1,<base64>` over `id.timestamp.body`.
    StandardWebhooks {
        /// Decoded secrets.
        secrets: Vec<SigningKey>,
        /// Allowed distance between `webhook-timestamp` and now.
        tolerance_secs: u64,
    },
    /// Stripe: `Stripe-Signature: t=<ts>,v1=<hex>` over `ts.body`.
    Stripe {
        /// Endpoint secrets (`whsec_…`, used as given).
        secrets: Vec<Vec<u8>>,
        /// Allowed distance between `t` and now.
        tolerance_secs: u64,
    },
}

/// Header names of the presets.
pub mod preset_headers {
    pub use switchboard_proto::standard_webhooks::{
        WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
    };
    /// Svix's name for [`WEBHOOK_ID`] (Svix-based senders sign the same way).
    pub const SVIX_ID: &str = "svix-id";
    /// Svix's name for [`WEBHOOK_TIMESTAMP`].
    pub const SVIX_TIMESTAMP: &str = "svix-timestamp";
    /// Svix's name for [`WEBHOOK_SIGNATURE`].
    pub const SVIX_SIGNATURE: &str = "svix-signature";
    /// Stripe's signature header.
    pub const STRIPE_SIGNATURE: &str = "stripe-signature";
    /// GitHub's (and Genesys Open Messaging's) signature header.
    pub const HUB_SIGNATURE_256: &str = "x-hub-signature-256";
}

impl Verifier {
    /// GitHub's scheme: `X-Hub-Signature-256: sha256=<hex>`.
    pub fn github(secrets: Vec<Vec<u8>>) -> Self {
        Verifier::Hmac {
            header: preset_headers::HUB_SIGNATURE_256,
            prefix: Some("sha256=".into()),
            encoding: SignatureEncoding::Hex,
            secrets,
        }
    }

    /// The headers this scheme reads; kept in the envelope (except credentials)
    /// so a consumer can verify the signature again.
    pub fn signature_headers(&self) -> &[&'static str] {
        match self {
            Verifier::None | Verifier::ApiKey { .. } | Verifier::Basic { .. } => &[],
            Verifier::Hmac { header, .. } => std::slice::from_ref(header),
            Verifier::StandardWebhooks { .. } => &[
                preset_headers::WEBHOOK_ID,
                preset_headers::WEBHOOK_TIMESTAMP,
                preset_headers::WEBHOOK_SIGNATURE,
                preset_headers::SVIX_ID,
                preset_headers::SVIX_TIMESTAMP,
                preset_headers::SVIX_SIGNATURE,
            ],
            Verifier::Stripe { .. } => &[preset_headers::STRIPE_SIGNATURE],
        }
    }

    /// The `WWW-Authenticate` challenge a 401 carries (RFC 9110), for the
    /// schemes HTTP defines one for.
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            Verifier::Basic { .. } => Some("Basic realm=\"switchboard\", charset=\"UTF-8\""),
            _ => None,
        }
    }

    /// True when the scheme's proof covers the body (HMAC, GitHub, Standard
    /// Webhooks, Stripe); the others are decided by headers alone, before
    /// the body is read.
    pub fn signs_body(&self) -> bool {
        matches!(
            self,
            Verifier::Hmac { .. } | Verifier::StandardWebhooks { .. } | Verifier::Stripe { .. }
        )
    }

    /// True when the scheme checks nothing.
    pub fn is_none(&self) -> bool {
        matches!(self, Verifier::None)
    }

    /// Checks the request; `now_unix_s` is passed in so tests control time.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix_s: u64,
    ) -> Result<(), AuthError> {
        match self {
            Verifier::None => Ok(()),
            Verifier::ApiKey { header, keys } => {
                let presented = header_bytes(headers, header)?;
                any_equal(keys, presented)
            }
            Verifier::Basic {
                header,
                credentials,
            } => {
                let value = header_str(headers, header)?;
                let (scheme, encoded) = value
                    .trim()
                    .split_once(' ')
                    .ok_or(AuthError::Malformed { header })?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(AuthError::Malformed { header });
                }
                let decoded = BASE64
                    .decode(encoded.trim())
                    .map_err(|_| AuthError::Malformed { header })?;
                any_equal(credentials, &decoded)
            }
            Verifier::Hmac {
                header,
                prefix,
                encoding,
                secrets,
            } => {
                let value = header_str(headers, header)?.trim();
                let encoded = match prefix {
                    Some(prefix) => value
                        .strip_prefix(prefix.as_str())
                        .ok_or(AuthError::Malformed { header })?,
                    None => value,
                };
                let presented = match encoding {
                    SignatureEncoding::Hex => hex::decode(encoded).ok(),
                    SignatureEncoding::Base64 => BASE64.decode(encoded).ok(),
                }
                .ok_or(AuthError::Malformed { header })?;
                any_mac_matches(secrets, &[body], &presented)
            }
            Verifier::StandardWebhooks {
                secrets,
                tolerance_secs,
            } => {
                // Svix-based senders send the same scheme under svix-* names.
                let svix = headers.contains_key(preset_headers::SVIX_SIGNATURE)
                    && !headers.contains_key(preset_headers::WEBHOOK_SIGNATURE);
                let (id_header, timestamp_header, signature_header) = if svix {
                    (
                        preset_headers::SVIX_ID,
                        preset_headers::SVIX_TIMESTAMP,
                        preset_headers::SVIX_SIGNATURE,
                    )
                } else {
                    (
                        preset_headers::WEBHOOK_ID,
                        preset_headers::WEBHOOK_TIMESTAMP,
                        preset_headers::WEBHOOK_SIGNATURE,
                    )
                };
                let id = header_str(headers, id_header)?;
                let timestamp = header_str(headers, timestamp_header)?;
                let signatures = header_str(headers, signature_header)?;
                check_tolerance(timestamp, now_unix_s, *tolerance_secs, timestamp_header)?;
                standard_webhooks::verify(secrets, id, timestamp, body, signatures).map_err(
                    |error| match error {
                        SignatureError::Mismatch => AuthError::Mismatch,
                        SignatureError::Malformed | SignatureError::BadSecret => {
                            AuthError::Malformed {
                                header: signature_header,
                            }
                        }
                    },
                )
            }
            Verifier::Stripe {
                secrets,
                tolerance_secs,
            } => {
                let header = preset_headers::STRIPE_SIGNATURE;
                let value = header_str(headers, header)?;
                let mut timestamp = None;
                let mut candidates = Vec::new();
                for part in value.split(',') {
                    match part.trim().split_once('=') {
                        Some(("t", t)) => timestamp = Some(t),
                        Some(("v1", sig)) => candidates.push(sig),
                        _ => {}
                    }
                }
                let timestamp = timestamp.ok_or(AuthError::Malformed { header })?;
                if candidates.is_empty() {
                    return Err(AuthError::Malformed { header });
                }
                check_tolerance(timestamp, now_unix_s, *tolerance_secs, header)?;
                let signed = [timestamp.as_bytes(), b".", body];
                for candidate in candidates {
                    if let Ok(presented) = hex::decode(candidate) {
                        if any_mac_matches(secrets, &signed, &presented).is_ok() {
                            return Ok(());
                        }
                    }
                }
                Err(AuthError::Mismatch)
            }
        }
    }
}

fn header_bytes<'a>(headers: &'a HeaderMap, header: &'static str) -> Result<&'a [u8], AuthError> {
    headers
        .get(header)
        .map(|v| v.as_bytes())
        .ok_or(AuthError::MissingHeader { header })
}

fn header_str<'a>(headers: &'a HeaderMap, header: &'static str) -> Result<&'a str, AuthError> {
    let bytes = header_bytes(headers, header)?;
    std::str::from_utf8(bytes).map_err(|_| AuthError::Malformed { header })
}

fn check_tolerance(
    timestamp: &str,
    now: u64,
    tolerance: u64,
    header: &'static str,
) -> Result<(), AuthError> {
    let signed_at: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| AuthError::Malformed { header })?;
    if signed_at.abs_diff(now) > tolerance {
        return Err(AuthError::StaleTimestamp {
            tolerance_secs: tolerance,
        });
    }
    Ok(())
}

/// Constant-time comparison against every accepted value; it does not stop at
/// the first match, so timing does not reveal which key matched.
fn any_equal(accepted: &[Vec<u8>], presented: &[u8]) -> Result<(), AuthError> {
    let mut matched = subtle::Choice::from(0);
    for candidate in accepted {
        matched |= candidate.as_slice().ct_eq(presented);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

fn any_mac_matches(
    secrets: &[Vec<u8>],
    signed: &[&[u8]],
    presented: &[u8],
) -> Result<(), AuthError> {
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        matched |= hmac_sha256(secret, signed).as_slice().ct_eq(presented);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests;
