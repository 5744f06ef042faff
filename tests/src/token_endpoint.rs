//! A real OAuth2 token endpoint (client credentials) for the destination
//! tests: it issues short-lived tokens to one client, counts every fetch,
//! can revoke what it issued, refuse the client or go down, and tells a
//! downstream whether a bearer token is one it issued and still valid.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::harness::http::Server;

use crate::downstream::Authorization;

/// One fetch the endpoint answered.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The form fields (`grant_type`, `scope`, `audience`).
    pub form: Vec<(String, String)>,
    /// Whether the client id and secret were right.
    pub client_ok: bool,
}

struct Issued {
    token: String,
    expires: Instant,
    revoked: bool,
}

struct State {
    client: (String, String),
    lifetime: Duration,
    issued: Vec<Issued>,
    fetches: Vec<Fetch>,
}

/// The running endpoint; stops when dropped.
pub struct TokenEndpoint {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl TokenEndpoint {
    /// Issues tokens valid for `lifetime` to `client_id` / `secret` (Basic).
    pub async fn start(client_id: &str, secret: &str, lifetime: Duration) -> Self {
        let state = Arc::new(Mutex::new(State {
            client: (client_id.to_owned(), secret.to_owned()),
            lifetime,
            issued: Vec::new(),
            fetches: Vec::new(),
        }));
        let answering = state.clone();
        let server = Server::start(move |request| answer(request, answering.clone())).await;
        Self { server, state }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/oauth2/token", self.server.addr)
    }

    /// Every fetch so far.
    pub fn fetches(&self) -> Vec<Fetch> {
        self.state.lock().expect("lock").fetches.clone()
    }

    /// Issues tokens valid for `lifetime` from now on.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state.lock().expect("lock").lifetime = lifetime;
    }

    /// Revokes every token issued so far (they stop being valid at once).
    pub fn revoke_all(&self) {
        for issued in &mut self.state.lock().expect("lock").issued {
            issued.revoked = true;
        }
    }

    /// Stops listening: fetches are refused until [`TokenEndpoint::come_back`]
    /// (tokens already issued stay valid until they expire).
    pub fn go_down(&self) {
        self.server.go_down();
    }

    /// Listens again on the same address.
    pub async fn come_back(&mut self) {
        self.server.come_back().await;
    }

    /// A downstream's check: `Bearer <a token issued here, unexpired, not revoked>`.
    pub fn validator(&self) -> Authorization {
        let state = self.state.clone();
        Arc::new(move |given| {
            let Some(token) = given.and_then(|g| g.strip_prefix("Bearer ")) else {
                return false;
            };
            let now = Instant::now();
            state
                .lock()
                .expect("lock")
                .issued
                .iter()
                .any(|i| i.token == token && !i.revoked && now < i.expires)
        })
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
) -> Response<Full<Bytes>> {
    let basic = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| BASE64.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form: Vec<(String, String)> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%20", " ").replace('+', " ")))
        .collect();
    let mut state = state.lock().expect("lock");
    let expected = format!("{}:{}", state.client.0, state.client.1);
    let client_ok = basic.as_deref() == Some(expected.as_str());
    let grant_ok = form
        .iter()
        .any(|(k, v)| k == "grant_type" && v == "client_credentials");
    state.fetches.push(Fetch { form, client_ok });
    let json = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().expect("value"));
        response
    };
    if !client_ok {
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client"}"#.to_owned(),
        );
    }
    if !grant_ok {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unsupported_grant_type"}"#.to_owned(),
        );
    }
    let token = format!("tok-{}", state.issued.len() + 1);
    let lifetime = state.lifetime;
    state.issued.push(Issued {
        token: token.clone(),
        expires: Instant::now() + lifetime,
        revoked: false,
    });
    json(
        StatusCode::OK,
        format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{}}}"#,
            lifetime.as_secs()
        ),
    )
}
