//! HTTP as a sender speaks it: a real HTTP/1.1 client over TCP with
//! keep-alive, replies read in full, the problem+json check every rejection
//! must pass, and raw TCP requests for what no well-behaved client sends;
//! and the one test HTTP server ([`Server`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP reply, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A real HTTP/1.1 client over TCP with keep-alive.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub async fn get(&self, url: &str) -> Result<Reply, String> {
        self.send(
            Request::get(url)
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await
    }

    /// POSTs `body` as `application/json` with extra `headers`.
    pub async fn post_json(
        &self,
        url: &str,
        body: impl Into<Bytes>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let mut builder = Request::post(url).header("content-type", "application/json");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        self.send(builder.body(Full::new(body.into())).expect("request"))
            .await
    }

    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Asserts an RFC 9457 problem answer: status, content type, type slug, detail.
pub fn assert_problem(reply: &Reply, status: StatusCode, slug: &str) {
    assert_eq!(
        reply.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.headers["content-type"], "application/problem+json");
    let problem = reply.json();
    assert_eq!(problem["status"], status.as_u16());
    assert_eq!(problem["type"], format!("urn:switchboard:problem:{slug}"));
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

/// Opens a raw TCP connection and writes `bytes`: for requests no
/// well-behaved HTTP client would send.
pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream
}

/// Reads the first bytes of a response (its status line and headers), at
/// most 5 s.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("a response within 5 s")
        .expect("a response");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// What a test server answers each request with.
pub type Answering = Arc<
    dyn Fn(
            Request<hyper::body::Incoming>,
        ) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>
        + Send
        + Sync,
>;

/// The one test HTTP server on loopback (the destination stand-in and the
/// OAuth2 token endpoint are two answers of it): it can go down (refusing
/// connections, dropping open ones) and come back on the same address.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    answer: Answering,
    /// Serves its listener and every connection (aborted: gone down).
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Listens on an ephemeral loopback port, answering with `answer`.
    pub async fn start<F, Fut>(answer: F) -> Self
    where
        F: Fn(Request<hyper::body::Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let answer: Answering = Arc::new(move |request| Box::pin(answer(request)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = serve_with(listener, answer.clone());
        Self { addr, answer, task }
    }

    /// Goes down: stops listening and closes every open connection, so
    /// requests are refused (not answered) until [`Server::come_back`].
    pub fn go_down(&self) {
        self.task.abort();
    }

    /// Listens again on the same address.
    pub async fn come_back(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind");
        self.task = serve_with(listener, self.answer.clone());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.go_down();
    }
}

fn serve_with(listener: tokio::net::TcpListener, answer: Answering) -> tokio::task::JoinHandle<()> {
    serve(listener, move |request| answer(request))
}

/// Serves HTTP/1.1 on `listener`, answering each request with `answer`.
/// Aborting the returned task closes the listener and every connection it
/// accepted (they live in its `JoinSet`): a server that went down.
pub fn serve<F, Fut>(listener: tokio::net::TcpListener, answer: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            while connections.try_join_next().is_some() {}
            let answer = answer.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let answer = answer.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
