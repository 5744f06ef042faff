//! Helpers for consumer tests: a group's topics, events produced the way the
//! gateway produces them, and consumer processes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use switchboard_gateway::config::PRODUCER_LINGER_MS;
use switchboard_proto::{headers as h, Envelope, GroupTopics, IdOrigin};
use switchboard_runtime::kafka::KafkaSettings;

use crate::harness::process::unique_log;
use crate::harness::{
    create_topic, eventually, listening_addr, log_dir, log_filter, metric_sum, read_log,
    send_signal, spawn_tied, unique_topic, wait_exit, wait_until_ok, workspace_binary,
    LOOPBACK_ANY_PORT,
};

/// Short retry stages for tests: the ladder is the same, only the delays shrink.
pub const TEST_STAGES: &str = "retry-1m=1s,retry-10m=2s";

/// Creates the main topic and every topic of `group` with `partitions` each.
pub async fn create_group_topics(bootstrap: &str, main: &str, group: &str, partitions: i32) {
    create_topic(bootstrap, main, partitions).await;
    create_topics_of_group(bootstrap, main, group, partitions).await;
}

/// Creates every topic of `group` on the existing main topic `main`.
pub async fn create_topics_of_group(bootstrap: &str, main: &str, group: &str, partitions: i32) {
    let topics = GroupTopics::new(main, group).expect("names");
    for topic in [
        topics.retry("retry-1m"),
        topics.retry("retry-10m"),
        topics.dlt(),
        topics.delivered(),
    ] {
        create_topic(bootstrap, &topic, partitions).await;
    }
}

/// The envelope the gateway would write for a JSON body with this id.
pub fn envelope(event_id: &str, source: &str) -> Envelope {
    Envelope {
        schema_version: switchboard_proto::SCHEMA_VERSION,
        event_id: event_id.to_owned(),
        id_origin: IdOrigin::BodyPointer as i32,
        source: source.to_owned(),
        received_at_unix_ms: crate::downstream::unix_ms(),
        content_type: "application/json".into(),
        body: format!(r#"{{"id":"{event_id}","detail":{{"n":1}}}}"#)
            .into_bytes()
            .into(),
        headers: vec![],
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        tracestate: String::new(),
        gateway_instance: "test".into(),
        event_type: String::new(),
    }
}

/// A producer configured as the gateway's (idempotent, `acks=all`, lz4), so
/// consumers read records batched and compressed as the gateway writes them.
/// `batch_bytes` bounds each of its batches (librdkafka's `batch.size`).
fn producer(bootstrap: &str, batch_bytes: Option<usize>) -> FutureProducer {
    let mut settings = KafkaSettings::durable_producer("tests-pipeline", PRODUCER_LINGER_MS);
    settings.set("bootstrap.servers", bootstrap);
    if let Some(bytes) = batch_bytes {
        settings.set("batch.size", bytes.to_string());
    }
    settings.client_config().create().expect("producer")
}

/// Produces envelopes of source `genesys` for `ids` to `topic`, keyed by id
/// like the gateway.
pub async fn produce_events(bootstrap: &str, topic: &str, ids: &[String]) {
    produce_events_from(bootstrap, topic, "genesys", ids).await;
}

/// Produces envelopes of `source` for `ids` to `topic`, keyed by id like the gateway.
pub async fn produce_events_from(bootstrap: &str, topic: &str, source: &str, ids: &[String]) {
    let events: Vec<Envelope> = ids.iter().map(|id| envelope(id, source)).collect();
    produce_envelopes(bootstrap, topic, &events).await;
}

/// Produces `events` to `topic`, keyed by event id with the gateway's headers.
pub async fn produce_envelopes(bootstrap: &str, topic: &str, events: &[Envelope]) {
    send_envelopes(&producer(bootstrap, None), topic, events).await;
}

/// Like [`produce_envelopes`], in batches of at most `batch_bytes`, as the
/// gateway's 1 ms linger writes them under load (a bulk producer's batches
/// reach a megabyte, and a consumer's fetch carries at least one whole).
pub async fn produce_envelopes_in_batches(
    bootstrap: &str,
    topic: &str,
    events: &[Envelope],
    batch_bytes: usize,
) {
    send_envelopes(&producer(bootstrap, Some(batch_bytes)), topic, events).await;
}

async fn send_envelopes(producer: &FutureProducer, topic: &str, events: &[Envelope]) {
    let mut pending = Vec::new();
    for event in events {
        let payload = event.encode_to_vec();
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: h::EVENT_ID,
                value: Some(event.event_id.as_str()),
            })
            .insert(Header {
                key: h::SOURCE,
                value: Some(event.source.as_str()),
            });
        if !event.event_type.is_empty() {
            headers = headers.insert(Header {
                key: h::EVENT_TYPE,
                value: Some(event.event_type.as_str()),
            });
        }
        let record = FutureRecord::to(topic)
            .key(event.event_id.as_str())
            .payload(&payload)
            .headers(headers);
        pending.push(producer.send_result(record).expect("queue"));
    }
    for delivery in pending {
        delivery.await.expect("delivered").expect("acked");
    }
}

/// Produces one event of source `genesys` every `1 / per_second` for `span`
/// from one producer (ids `prefix-0`, `prefix-1` …); returns the ids.
pub async fn produce_steadily(
    bootstrap: &str,
    topic: &str,
    prefix: &str,
    per_second: u32,
    span: Duration,
) -> Vec<String> {
    let producer = producer(bootstrap, None);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    let until = tokio::time::Instant::now() + span;
    let mut produced = Vec::new();
    while tokio::time::Instant::now() < until {
        ticks.tick().await;
        let event = envelope(&format!("{prefix}-{}", produced.len()), "genesys");
        let payload = event.encode_to_vec();
        let record = FutureRecord::to(topic)
            .key(event.event_id.as_str())
            .payload(&payload)
            .headers(OwnedHeaders::new().insert(Header {
                key: h::EVENT_ID,
                value: Some(event.event_id.as_str()),
            }));
        producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("acked");
        produced.push(event.event_id);
    }
    produced
}

/// A consumer of fresh topics (one partition) named after `name`,
/// configured by the TOML `config` (plus `env`) and delivering to `url`;
/// returns the bootstrap, the main topic and the running consumer (its
/// group is `<main>-group`).
pub async fn consumer_with_config(
    name: &str,
    config: &str,
    url: &str,
    env: &[(&str, &str)],
) -> (String, String, ConsumerProcess) {
    let path = log_dir().join(format!("{}.toml", unique_topic(name)));
    std::fs::write(&path, config).expect("config file");
    let path = path.to_string_lossy().into_owned();
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group(name, 1).await;
    let mut env = env.to_vec();
    env.push(("CONSUMER_CONFIG", path.as_str()));
    let consumer = ConsumerProcess::start(&bootstrap, &main, &group, url, &env).await;
    (bootstrap, main, consumer)
}

/// The dead-letter topic of `main`'s group `<main>-group` (as
/// [`consumer_with_config`] names it), read from the start.
pub async fn dead_letters(bootstrap: &str, main: &str) -> Vec<crate::harness::Record> {
    let topics = GroupTopics::new(main, &format!("{main}-group")).expect("names");
    crate::harness::read_topic(bootstrap, &topics.dlt()).await
}

/// Runs `consumer <args>` (an operator command) with `env`; returns the exit
/// code and stdout, and echoes stderr into the test log.
pub async fn consumer_command(
    bootstrap: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String) {
    let (code, stdout, _) = consumer_command_full(bootstrap, env, args).await;
    (code, stdout)
}

/// Like [`consumer_command`], also returning stderr. The command runs on a
/// blocking thread, so servers on the test's runtime keep answering.
pub async fn consumer_command_full(
    bootstrap: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let mut command = Command::new(workspace_binary("consumer"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAFKA_BROKERS", bootstrap)
        .env("RETRY_STAGES", TEST_STAGES)
        .envs(env.iter().copied());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("command thread")
        .expect("run consumer");
    eprintln!(
        "consumer {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Produces raw bytes (not an envelope) with `key`.
pub async fn produce_raw(bootstrap: &str, topic: &str, key: &str, value: &[u8]) {
    let producer = producer(bootstrap, None);
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(10),
        )
        .await
        .expect("acked");
}

/// Committed offsets of `group` on `topic`, by partition.
pub fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// Ids `prefix-0` .. `prefix-(n-1)`.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A running `consumer run` process.
pub struct ConsumerProcess {
    pub metrics_addr: SocketAddr,
    child: Child,
    pub log: PathBuf,
}

impl ConsumerProcess {
    /// Starts a consumer of `group` on `main` delivering to `downstream`,
    /// and waits until it holds `expect_partitions` partitions.
    pub async fn start(
        bootstrap: &str,
        main: &str,
        group: &str,
        downstream: &str,
        env: &[(&str, &str)],
    ) -> ConsumerProcess {
        ConsumerProcess::start_in(None, bootstrap, main, group, downstream, env).await
    }

    /// Like [`ConsumerProcess::start`], in `cell` (to be cut off the network).
    pub async fn start_in(
        cell: Option<&crate::harness::NetCell>,
        bootstrap: &str,
        main: &str,
        group: &str,
        downstream: &str,
        env: &[(&str, &str)],
    ) -> ConsumerProcess {
        let log = unique_log("consumer");
        let mut command = Command::new(workspace_binary("consumer"));
        command
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFKA_BROKERS", bootstrap)
            .env("SWITCHBOARD_TOPIC", main)
            .env("CONSUMER_GROUP", group)
            .env("DESTINATION_URL", downstream)
            .env("RETRY_STAGES", TEST_STAGES)
            .env("CONSUMER_ADMIN_LISTEN", LOOPBACK_ANY_PORT)
            // Tests kill members: a 6 s session (the broker's minimum) lets
            // the group notice a dead one within seconds, not Kafka's 45 s.
            .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
            .env("KAFKA_HEARTBEAT_INTERVAL_MS", "500")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in env {
            command.env(k, v);
        }
        command.env(
            "RUST_LOG",
            log_filter(
                env,
                "info,switchboard_consumer=debug",
                &["switchboard_runtime::admin"],
            ),
        );
        if let Some(cell) = cell {
            cell.place(&mut command);
        }
        let mut child = spawn_tied(command);
        let metrics_addr = listening_addr(&mut child, &log, "admin endpoints listening").await;
        let mut consumer = ConsumerProcess {
            metrics_addr,
            child,
            log,
        };
        let readyz = consumer.url("/readyz");
        wait_until_ok(&mut consumer.child, &readyz, "consumer", &consumer.log).await;
        consumer
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics_addr)
    }

    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }

    /// The process id (for reading its memory from /proc; the markers bench).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `None` while the process runs, else how it ended.
    pub fn child_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until the process holds `count` partitions.
    pub async fn wait_assigned(&self, count: usize) {
        self.wait_assigned_within(count, Duration::from_secs(30))
            .await;
    }

    /// Waits until the process holds `count` partitions, at most `within`.
    pub async fn wait_assigned_within(&self, count: usize, within: Duration) {
        let what = format!("{count} partitions assigned");
        eventually(&what, within, || async {
            let assigned = self
                .metric(switchboard_consumer::metrics::ASSIGNED, &[])
                .await;
            (assigned == count as f64).then_some(())
        })
        .await;
    }

    /// The sum of every sample of `name` whose labels contain all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        metric_sum(&self.url("/metrics"), name, labels).await
    }

    /// Sends `signal` to the process.
    /// 1.0 while the breaker of the default destination is open for `cause`.
    pub async fn breaker_open(&self, cause: &str) -> f64 {
        let cause = format!("cause=\"{cause}\"");
        self.metric(
            switchboard_consumer::metrics::DESTINATION_BREAKER_OPEN,
            &["destination=\"default\"", &cause],
        )
        .await
    }

    pub fn signal(&self, signal: i32) {
        send_signal(&self.child, signal);
    }

    /// Waits for the process to exit.
    pub async fn wait_for_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        wait_exit(&mut self.child, within, "consumer", &self.log).await
    }
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh main topic and consumer group, with every topic of the group
/// created: the set-up most end-to-end tests start from.
pub struct FreshGroup {
    /// The shared broker's bootstrap address.
    pub bootstrap: String,
    /// The main topic (unique to the test).
    pub main: String,
    /// The group, `<main>-group`.
    pub group: String,
    /// The group's topic names.
    pub topics: GroupTopics,
}

/// Creates a main topic named after `name` and the topics of its group
/// `<main>-group`, each with `partitions`, on the shared broker.
pub async fn fresh_group(name: &str, partitions: i32) -> FreshGroup {
    let bootstrap = crate::harness::shared_kafka().await.bootstrap();
    let main = unique_topic(name);
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, partitions).await;
    let topics = GroupTopics::new(&main, &group).expect("names");
    FreshGroup {
        bootstrap,
        main,
        group,
        topics,
    }
}

impl FreshGroup {
    /// Starts a consumer of the group delivering to `downstream`.
    pub async fn consumer(
        &self,
        downstream: &crate::downstream::Downstream,
        env: &[(&str, &str)],
    ) -> ConsumerProcess {
        ConsumerProcess::start(
            &self.bootstrap,
            &self.main,
            &self.group,
            &downstream.url(),
            env,
        )
        .await
    }

    /// Every record of `topic`, from its start.
    pub async fn read(&self, topic: &str) -> Vec<crate::harness::Record> {
        crate::harness::read_topic(&self.bootstrap, topic).await
    }
}
