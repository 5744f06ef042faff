//! A source's `auth` table as written in the configuration, and how it
//! becomes a ready [`Verifier`]. Secrets are held as [`SecretString`] until
//! then, so they never reach a log line; a scheme without a usable secret
//! refuses to start instead of letting requests through unchecked.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use switchboard_proto::standard_webhooks::SigningKey;

use super::{SignatureEncoding, Verifier};

/// Default allowed distance between a signed timestamp and now.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The `auth` table of a source, by `scheme`. There is no default: a source
/// without one refuses to start.
#[derive(Debug, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No authentication: an explicit opt-in (warned about at start-up).
    None,
    /// A static key in `header`.
    ApiKey {
        /// The header carrying the key.
        header: String,
        /// Secrets written in the file (prefer `secrets_env`).
        #[serde(default)]
        secrets: Vec<SecretString>,
        /// Environment variables holding secrets.
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    /// `Basic base64(user:password)`; secrets are written `user:password`.
    Basic {
        /// The header (default `Authorization`).
        header: Option<String>,
        /// Secrets written in the file (prefer `secrets_env`).
        #[serde(default)]
        secrets: Vec<SecretString>,
        /// Environment variables holding secrets.
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    /// `prefix` + encoded HMAC-SHA256 of the body in `header`.
    HmacSha256 {
        /// The header carrying the signature.
        header: String,
        /// `hex` or `base64`.
        encoding: SignatureEncoding,
        /// Text before the digest, such as `sha256=`.
        prefix: Option<String>,
        /// Secrets written in the file (prefer `secrets_env`).
        #[serde(default)]
        secrets: Vec<SecretString>,
        /// Environment variables holding secrets.
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    /// Standard Webhooks, `whsec_<base64>` secrets.
    StandardWebhooks {
        /// Allowed clock distance (default 5m).
        #[serde(default, with = "humantime_serde")]
        tolerance: Option<Duration>,
        /// Secrets written in the file (prefer `secrets_env`).
        #[serde(default)]
        secrets: Vec<SecretString>,
        /// Environment variables holding secrets.
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    /// GitHub's `X-Hub-Signature-256: sha256=<hex>`.
    Github {
        /// Secrets written in the file (prefer `secrets_env`).
        #[serde(default)]
        secrets: Vec<SecretString>,
        /// Environment variables holding secrets.
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    /// Stripe's `Stripe-Signature: t=…,v1=…`.
    Stripe {
        /// Allowed clock distance (default 5m).
        #[serde(default, with = "humantime_serde")]
        tolerance: Option<Duration>,
        /// Secrets written in the file (prefer `secrets_env`).
        #[serde(default)]
        secrets: Vec<SecretString>,
        /// Environment variables holding secrets.
        #[serde(default)]
        secrets_env: Vec<String>,
    },
}

/// The literal secrets plus the values of the variables named in
/// `from_env`. A named variable that is unset or empty, or no secret at all,
/// is an error.
fn resolve(
    literal: Vec<SecretString>,
    from_env: Vec<String>,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<Vec<u8>>, String> {
    let mut resolved: Vec<Vec<u8>> = literal
        .iter()
        .map(|s| s.expose_secret().as_bytes().to_vec())
        .filter(|s| !s.is_empty())
        .collect();
    for name in from_env {
        match vars.get(&name).filter(|v| !v.is_empty()) {
            Some(value) => resolved.push(value.clone().into_bytes()),
            None => {
                return Err(format!(
                    "secret environment variable {name} is unset or empty"
                ))
            }
        }
    }
    if resolved.is_empty() {
        return Err("auth scheme needs at least one secret (secrets or secrets_env)".into());
    }
    Ok(resolved)
}

/// Leaks a header name once at start-up; sources live as long as the process.
fn static_header(header: &str) -> Result<&'static str, String> {
    let parsed = http::HeaderName::from_bytes(header.trim().as_bytes())
        .map_err(|_| format!("invalid header name {header:?}"))?;
    Ok(Box::leak(parsed.as_str().to_owned().into_boxed_str()))
}

fn whole_seconds(tolerance: Option<Duration>) -> u64 {
    tolerance.unwrap_or(DEFAULT_TOLERANCE).as_secs().max(1)
}

/// A Standard Webhooks secret: `whsec_` + base64, padded or not.
fn standard_webhooks_key(secret: Vec<u8>) -> Result<SigningKey, String> {
    let text =
        String::from_utf8(secret).map_err(|_| "standard-webhooks secret is not text".to_owned())?;
    SigningKey::from_secret(&text).map_err(|e| format!("standard-webhooks secret: {e}"))
}

impl AuthConfig {
    /// Builds the verifier, reading `secrets_env` variables from `vars`.
    pub fn into_verifier(self, vars: &BTreeMap<String, String>) -> Result<Verifier, String> {
        Ok(match self {
            AuthConfig::None => Verifier::None,
            AuthConfig::ApiKey {
                header,
                secrets,
                secrets_env,
            } => Verifier::ApiKey {
                header: static_header(&header)?,
                keys: resolve(secrets, secrets_env, vars)?,
            },
            AuthConfig::Basic {
                header,
                secrets,
                secrets_env,
            } => {
                let credentials = resolve(secrets, secrets_env, vars)?;
                if credentials.iter().any(|c| !c.contains(&b':')) {
                    return Err("basic credentials must be written user:password".into());
                }
                Verifier::Basic {
                    header: static_header(header.as_deref().unwrap_or("authorization"))?,
                    credentials,
                }
            }
            AuthConfig::HmacSha256 {
                header,
                encoding,
                prefix,
                secrets,
                secrets_env,
            } => Verifier::Hmac {
                header: static_header(&header)?,
                prefix: prefix.filter(|p| !p.is_empty()),
                encoding,
                secrets: resolve(secrets, secrets_env, vars)?,
            },
            AuthConfig::StandardWebhooks {
                tolerance,
                secrets,
                secrets_env,
            } => Verifier::StandardWebhooks {
                secrets: resolve(secrets, secrets_env, vars)?
                    .into_iter()
                    .map(standard_webhooks_key)
                    .collect::<Result<_, _>>()?,
                tolerance_secs: whole_seconds(tolerance),
            },
            AuthConfig::Github {
                secrets,
                secrets_env,
            } => Verifier::github(resolve(secrets, secrets_env, vars)?),
            AuthConfig::Stripe {
                tolerance,
                secrets,
                secrets_env,
            } => Verifier::Stripe {
                secrets: resolve(secrets, secrets_env, vars)?,
                tolerance_secs: whole_seconds(tolerance),
            },
        })
    }
}
