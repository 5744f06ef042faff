//! The HTTP client that deliveries and token fetches share, and how an HTTP
//! error reads in an error chain.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_tls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The HTTP client of deliveries and token fetches.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP(S) client connecting within `timeout`, with `tls` when given
/// (the system's roots otherwise).
pub fn client(timeout: Duration, tls: Option<native_tls::TlsConnector>) -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    let connector = match tls {
        Some(tls) => HttpsConnector::from((http, tls.into())),
        None => HttpsConnector::new_with_connector(http),
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// `error` and each of its sources, joined by `: `.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
