//! A destination's credentials: everything its requests carry besides the
//! event. Static headers, optionally the source's own headers that the
//! gateway kept (each as [`FORWARDED_PREFIX`]`<name>`), an authorization (a
//! bearer token, Basic, a named API-key header, or an OAuth2 token from
//! [`oauth`]) and a Standard Webhooks signature
//! ([`switchboard_proto::standard_webhooks`]). Secrets come from files or
//! environment variables ([`secret`]); a destination's own TLS (a private
//! CA, a client certificate) is [`tls`]'.
//!
//! Each destination (the default one, or a source's own URL) has its own;
//! a source's destination inherits none of the default's, so a token meant
//! for one service never reaches another.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::HeaderMap;
use secrecy::ExposeSecret;
use serde::Deserialize;
use switchboard_proto::standard_webhooks::{
    self, SigningKey, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};

pub mod oauth;
pub mod secret;
pub mod tls;

use oauth::{OAuth2Settings, TokenSource};
use secret::{sensitive, Secret, SecretSettings};

/// The prefix of a forwarded source header: the gateway kept `X-Genesys-Org`,
/// the destination gets `x-source-header-x-genesys-org`.
pub const FORWARDED_PREFIX: &str = "x-source-header-";

/// Headers the consumer sets itself, which static headers may not replace.
const RESERVED: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "traceparent",
    "tracestate",
    "x-event-id",
    "x-attempt",
    "x-source",
    WEBHOOK_ID,
    WEBHOOK_TIMESTAMP,
    WEBHOOK_SIGNATURE,
];

/// How the consumer authenticates to a destination, as configured.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthSettings {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Where the token is.
        token: SecretSettings,
    },
    /// `Authorization: Basic <base64 of user:password>`.
    Basic {
        /// The user name (not secret).
        username: String,
        /// Where the password is.
        password: SecretSettings,
    },
    /// A named header carrying a key (`X-API-Key: <key>`).
    ApiKey {
        /// The header's name.
        header: String,
        /// Where the key is.
        key: SecretSettings,
    },
    /// An OAuth2 access token from a token endpoint (client credentials).
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2Settings),
}

/// Standard Webhooks signing, as configured.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    /// `whsec_` secrets; during a rotation give two (every request then
    /// carries one signature per secret, and the receiver accepts either).
    pub secrets: Vec<SecretSettings>,
}

enum Auth {
    Bearer(Secret),
    Basic { username: String, password: Secret },
    ApiKey { header: HeaderName, key: Secret },
    OAuth2(Box<TokenSource>),
}

/// What one destination's requests carry, resolved (secrets loaded).
#[derive(Default)]
pub struct Credentials {
    headers: Vec<(HeaderName, HeaderValue)>,
    forward_source_headers: bool,
    auth: Option<Auth>,
    signing: Vec<Secret>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = self.auth_kind();
        f.debug_struct("Credentials")
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("auth", &auth)
            .field("signing_secrets", &self.signing.len())
            .finish()
    }
}

impl Credentials {
    /// Resolves a destination's `headers`, `forward_source_headers`, `auth`
    /// and `signing` (`vars` is the environment; `what` names the
    /// destination in errors).
    pub fn load(
        headers: &BTreeMap<String, String>,
        forward_source_headers: bool,
        auth: Option<&AuthSettings>,
        signing: Option<&SigningSettings>,
        vars: &BTreeMap<String, String>,
        what: &str,
    ) -> Result<Self, String> {
        let mut resolved = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("{what}.headers: {name:?} is not a header name"))?;
            if RESERVED.contains(&header.as_str()) {
                return Err(format!(
                    "{what}.headers: {name} is set by the consumer itself (use auth for credentials)"
                ));
            }
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("{what}.headers.{name}: not a valid header value"))?;
            resolved.push((header, value));
        }
        let auth = match auth {
            None => None,
            Some(AuthSettings::Bearer { token }) => Some(Auth::Bearer(Secret::load(
                token,
                vars,
                &format!("{what}.auth.token"),
            )?)),
            Some(AuthSettings::Basic { username, password }) => Some(Auth::Basic {
                username: username.clone(),
                password: Secret::load(password, vars, &format!("{what}.auth.password"))?,
            }),
            Some(AuthSettings::ApiKey { header, key }) => {
                let header = HeaderName::try_from(header.as_str())
                    .map_err(|_| format!("{what}.auth.header: {header:?} is not a header name"))?;
                Some(Auth::ApiKey {
                    header,
                    key: Secret::load(key, vars, &format!("{what}.auth.key"))?,
                })
            }
            Some(AuthSettings::OAuth2(oauth)) => Some(Auth::OAuth2(Box::new(TokenSource::load(
                oauth,
                vars,
                &format!("{what}.auth"),
            )?))),
        };
        let mut secrets = Vec::new();
        if let Some(signing) = signing {
            if signing.secrets.is_empty() {
                return Err(format!("{what}.signing: give at least one secret"));
            }
            for (i, source) in signing.secrets.iter().enumerate() {
                let secret = Secret::load(source, vars, &format!("{what}.signing.secrets[{i}]"))?;
                secret
                    .with_current(SigningKey::from_secret)
                    .map_err(|e| format!("{what}.signing.secrets[{i}]: {e}"))?;
                secrets.push(secret);
            }
        }
        Ok(Self {
            headers: resolved,
            forward_source_headers,
            auth,
            signing: secrets,
        })
    }

    /// Adds the source's own headers that the gateway kept (`kept`), each
    /// as [`FORWARDED_PREFIX`]`<name>`, when this destination wants them.
    /// A name or value that is not valid in a header is left out.
    pub fn forward(&self, headers: &mut HeaderMap, kept: &[switchboard_proto::Header]) {
        if !self.forward_source_headers {
            return;
        }
        for header in kept {
            let name = format!("{FORWARDED_PREFIX}{}", header.name.to_ascii_lowercase());
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name),
                HeaderValue::from_bytes(&header.value),
            ) {
                headers.append(name, value);
            }
        }
    }

    /// How requests authenticate: `none`, `bearer`, `basic`, `api_key` or `oauth2`.
    pub fn auth_kind(&self) -> &'static str {
        match &self.auth {
            None => "none",
            Some(Auth::Bearer(_)) => "bearer",
            Some(Auth::Basic { .. }) => "basic",
            Some(Auth::ApiKey { .. }) => "api_key",
            Some(Auth::OAuth2(_)) => "oauth2",
        }
    }

    /// How many signing secrets each request is signed with (0: unsigned).
    pub fn signing_secrets(&self) -> usize {
        self.signing.len()
    }

    /// The destination's OAuth2 tokens, when it uses OAuth2 (the caller
    /// adds the token: getting one is asynchronous).
    pub fn oauth(&self) -> Option<&TokenSource> {
        match &self.auth {
            Some(Auth::OAuth2(tokens)) => Some(tokens),
            _ => None,
        }
    }

    /// Adds what this destination's requests carry to `headers`, for the
    /// event `event_id` whose request body is `body`, signed at `now_s`
    /// (unix seconds). Credential values are marked sensitive (never
    /// logged by the HTTP stack).
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        event_id: &str,
        body: &[u8],
        now_s: u64,
    ) -> Result<(), String> {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        let credential = match &self.auth {
            None | Some(Auth::OAuth2(_)) => None,
            Some(Auth::Bearer(token)) => {
                Some((AUTHORIZATION, token.with_current(|t| format!("Bearer {t}"))))
            }
            Some(Auth::Basic { username, password }) => {
                let pair = password.with_current(|p| format!("{username}:{p}"));
                Some((AUTHORIZATION, format!("Basic {}", BASE64.encode(pair))))
            }
            Some(Auth::ApiKey { header, key }) => {
                Some((header.clone(), key.current().expose_secret().to_owned()))
            }
        };
        if let Some((name, text)) = credential {
            headers.insert(name, sensitive(text)?);
        }
        if !self.signing.is_empty() {
            let keys = self
                .signing
                .iter()
                .map(|secret| secret.with_current(SigningKey::from_secret))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("signing secret: {e}"))?;
            let timestamp = now_s.to_string();
            let signature = standard_webhooks::sign(&keys, event_id, &timestamp, body);
            let value = |text: &str| {
                HeaderValue::try_from(text).map_err(|_| format!("{text:?} is not a header value"))
            };
            headers.insert(WEBHOOK_ID, value(event_id)?);
            headers.insert(WEBHOOK_TIMESTAMP, value(&timestamp)?);
            headers.insert(WEBHOOK_SIGNATURE, value(&signature)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
