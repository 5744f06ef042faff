//! OAuth2 client credentials for a destination (a SaaS CRM): the access
//! token is fetched from the token endpoint with the `oauth2` crate, cached
//! and shared by every partition, fetched again shortly before it expires,
//! and dropped when the destination answers 401 to it (the caller then
//! retries once with a fresh one). A token endpoint that fails is the
//! destination's failure, never an event's: its breaker holds deliveries.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::secret::{sensitive, Secret, SecretSettings};
use crate::http::{error_chain, HttpClient};
use crate::metrics::{token_fetched, FailureCause, TokenFetch};

/// A token is fetched again once less than this, or a fifth of its
/// lifetime, is left (whichever is shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// After a failed fetch, callers get the same error for this long instead
/// of each asking the token endpoint again.
const FAILURE_MEMORY: Duration = Duration::from_secs(1);
/// The lifetime assumed when the token endpoint gives none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// `auth = { kind = "oauth2", … }` as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Settings {
    /// The token endpoint (`https://login.example.com/oauth2/token`).
    pub token_url: String,
    /// The client id (not secret).
    pub client_id: String,
    /// Where the client secret is.
    pub client_secret: SecretSettings,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// An `audience` parameter, for token endpoints that want one (Auth0, Okta).
    pub audience: Option<String>,
    /// Send the client credentials in the form body instead of Basic
    /// authentication (some endpoints accept only one).
    #[serde(default)]
    pub credentials_in_body: bool,
}

/// A token that could not be had, and whose fault that is.
#[derive(Debug, Clone)]
pub struct TokenError {
    /// [`FailureCause::Credentials`] when the endpoint refused our client,
    /// [`FailureCause::TokenEndpoint`] when it could not be asked.
    pub cause: FailureCause,
    /// What happened, for the error chain.
    pub error: String,
}

/// An access token, and which fetch gave it. Cloning it is cheap (the
/// header value is shared), so every request reuses the one built at fetch.
#[derive(Clone)]
pub struct Token {
    /// The `Authorization` value (`Bearer …`), marked sensitive.
    pub authorization: HeaderValue,
    /// Fetch number, to drop exactly this token after a 401.
    pub fetch: u64,
}

struct Cached {
    token: Token,
    refresh_at: Instant,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    fetches: u64,
    failed: Option<(Instant, TokenError)>,
}

/// One destination's tokens.
pub struct TokenSource {
    settings: OAuth2Settings,
    token_url: TokenUrl,
    secret: Secret,
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.settings.token_url)
            .field("client_id", &self.settings.client_id)
            .field("client_secret", &self.secret)
            .finish()
    }
}

type Exchange = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

/// A failure to reach the token endpoint.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

impl TokenSource {
    /// Reads the client secret (`vars` is the environment; `what` names
    /// the setting in errors).
    pub fn load(
        settings: &OAuth2Settings,
        vars: &std::collections::BTreeMap<String, String>,
        what: &str,
    ) -> Result<Self, String> {
        let token_url = TokenUrl::new(settings.token_url.clone())
            .map_err(|e| format!("{what}.token_url: {e}"))?;
        if !matches!(token_url.url().scheme(), "http" | "https") {
            return Err(format!(
                "{what}.token_url must be an http:// or https:// URL"
            ));
        }
        let secret = Secret::load(
            &settings.client_secret,
            vars,
            &format!("{what}.client_secret"),
        )?;
        Ok(Self {
            settings: settings.clone(),
            token_url,
            secret,
            state: Mutex::new(State::default()),
        })
    }

    /// A valid token: the cached one, or a new one from the token endpoint
    /// (one fetch at a time; the others wait for it and share it).
    /// `destination` labels the fetch counter.
    pub async fn token(
        &self,
        client: &HttpClient,
        timeout: Duration,
        destination: &str,
    ) -> Result<Token, TokenError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = state.cached.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        if let Some((at, error)) = &state.failed {
            if at.elapsed() < FAILURE_MEMORY {
                return Err(error.clone());
            }
        }
        state.fetches += 1;
        let fetch = state.fetches;
        let fetched = self
            .fetch(client, timeout)
            .await
            .and_then(|(token, lifetime)| {
                let authorization =
                    sensitive(format!("Bearer {token}")).map_err(|_| TokenError {
                        cause: FailureCause::TokenEndpoint,
                        error: "the token endpoint gave a token that cannot go in a header".into(),
                    })?;
                Ok((authorization, lifetime))
            });
        match fetched {
            Ok((authorization, lifetime)) => {
                token_fetched(destination, TokenFetch::Fetched);
                let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME);
                let margin = REFRESH_MARGIN.min(lifetime / 5);
                let token = Token {
                    authorization,
                    fetch,
                };
                state.failed = None;
                state.cached = Some(Cached {
                    token: token.clone(),
                    refresh_at: now + lifetime.saturating_sub(margin),
                });
                Ok(token)
            }
            Err(error) => {
                token_fetched(
                    destination,
                    match error.cause {
                        FailureCause::Credentials => TokenFetch::Refused,
                        _ => TokenFetch::Failed,
                    },
                );
                state.cached = None;
                state.failed = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    /// The destination refused `token`: the next caller fetches a new one
    /// (unless another caller already did).
    pub async fn refused(&self, token: &Token) {
        let mut state = self.state.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.token.fetch == token.fetch)
        {
            state.cached = None;
        }
    }

    async fn fetch(
        &self,
        client: &HttpClient,
        timeout: Duration,
    ) -> Result<(String, Option<Duration>), TokenError> {
        let secret = self.secret.current();
        let settings = self.settings.clone();
        let token_url = self.token_url.clone();
        let http = TokenHttp(client.clone());
        // Spawned: the crate's future is Send, but rustc cannot prove it
        // inside the handler's own future (its client trait is higher-ranked).
        let answer = tokio::spawn(async move {
            let oauth = BasicClient::new(ClientId::new(settings.client_id.clone()))
                .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
                .set_token_uri(token_url)
                .set_auth_type(if settings.credentials_in_body {
                    AuthType::RequestBody
                } else {
                    AuthType::BasicAuth
                });
            let mut request = oauth.exchange_client_credentials();
            for scope in &settings.scopes {
                request = request.add_scope(Scope::new(scope.clone()));
            }
            if let Some(audience) = &settings.audience {
                request = request.add_extra_param("audience", audience.clone());
            }
            tokio::time::timeout(timeout, request.request_async(&http)).await
        });
        let answer = answer
            .await
            .map_err(|e| TokenError {
                cause: FailureCause::TokenEndpoint,
                error: format!("the token fetch failed: {e}"),
            })?
            .map_err(|_| TokenError {
                cause: FailureCause::TokenEndpoint,
                error: format!("the token endpoint did not answer within {timeout:?}"),
            })?;
        match answer {
            Ok(token) => Ok((token.access_token().secret().clone(), token.expires_in())),
            // An OAuth2 error answer (invalid_client, unauthorized_client …):
            // the endpoint works and refuses us.
            Err(RequestTokenError::ServerResponse(refusal)) => Err(TokenError {
                cause: FailureCause::Credentials,
                error: format!("the token endpoint refused our client: {refusal}"),
            }),
            Err(other) => Err(TokenError {
                cause: FailureCause::TokenEndpoint,
                error: format!("cannot get a token: {}", error_chain(&other)),
            }),
        }
    }
}

/// The consumer's HTTP client, as the `oauth2` crate calls it.
struct TokenHttp(HttpClient);

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = HttpError;
    type Future = Exchange;

    fn call(&'c self, request: HttpRequest) -> Exchange {
        let client = self.0.clone();
        Box::pin(async move { send(&client, request).await })
    }
}

/// One request to the token endpoint over the consumer's HTTP client. A
/// 5xx is an error here, so it is never taken for a refusal of our client.
async fn send(client: &HttpClient, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let response = client
        .request(request)
        .await
        .map_err(|e| HttpError(format!("token endpoint unreachable: {}", error_chain(&e))))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| HttpError(format!("token endpoint answer cut short: {e}")))?
        .to_bytes();
    if parts.status.is_server_error() {
        return Err(HttpError(format!(
            "the token endpoint answered HTTP {}",
            parts.status.as_u16()
        )));
    }
    Ok(http::Response::from_parts(parts, body.to_vec()))
}
