//! One three-node cluster with a group's topics, a downstream, and helpers
//! to start gateways and consumers against it and to settle the ledger.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use switchboard_proto::GroupTopics;
use tokio::sync::{Mutex, MutexGuard};

use crate::downstream::Downstream;
use crate::harness::eventually;
use crate::harness::kafka::metadata::{wait_fenced_out, wait_full_isr};
use crate::harness::{read_topic, unique_topic, Gateway, Kafka, KafkaSpec, NetCell};
use crate::pipeline::{consumer_command, ConsumerProcess};
use crate::senders::{Ledger, Senders};

/// Partitions of every topic of the group.
pub const PARTITIONS: i32 = 3;
/// Deliveries in flight per partition of a consumer.
pub const CONCURRENCY: usize = 8;
/// The gateway's broker-ack deadline in these tests (its default).
pub const GATEWAY_DEADLINE: Duration = Duration::from_secs(2);
/// Events offered per second.
pub const RATE: u32 = 40;

/// The sources' senders are the tests: no authentication, opted into.
const GATEWAY_CONFIG: &str =
    "[sources.genesys]\nevent_id = [\"/id\"]\nauth = { scheme = \"none\" }\n";

/// Senders offering `rate` events a second (ids `prefix-N`) to `gateway`'s
/// `genesys` source for at most `span`, returned once 100 were accepted.
pub async fn load(gateway: &Gateway, prefix: &str, rate: u32, span: Duration) -> Senders {
    let senders = Senders::start(&gateway.url("/webhooks/genesys"), prefix, rate, span);
    eventually("load flowing", Duration::from_secs(30), || async {
        (senders.accepted_count() >= 100).then_some(())
    })
    .await;
    senders
}

/// A cluster with a gateway, a consumer and [`RATE`] events a second
/// flowing through them (for at most three minutes).
pub struct UnderLoad {
    pub cluster: Cluster,
    pub gateway: Gateway,
    pub consumer: ConsumerProcess,
    pub senders: Senders,
}

impl UnderLoad {
    /// Starts it all; the senders' ids are `prefix-N`.
    pub async fn start(name: &str, prefix: &str) -> UnderLoad {
        let cluster = Cluster::start(name).await;
        let gateway = cluster.gateway(None).await;
        let consumer = cluster.consumer(None, &[]).await;
        let senders = load(&gateway, prefix, RATE, Duration::from_secs(180)).await;
        UnderLoad {
            cluster,
            gateway,
            consumer,
            senders,
        }
    }
}

/// Held for a test's whole run: one three-node cluster at a time.
pub async fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::const_new(());
    TURN.lock().await
}

/// Creates `main` and `group`'s topics as an operator does (`consumer topics
/// ensure`: replication factor 3, `min.insync.replicas` 2); returns them.
pub async fn ensure_topics(
    bootstrap: &str,
    main: &str,
    group: &str,
    partitions: i32,
) -> Vec<String> {
    let partitions = partitions.to_string();
    let (code, out) = consumer_command(
        bootstrap,
        &[("SWITCHBOARD_TOPIC", main), ("CONSUMER_GROUP", group)],
        &["topics", "ensure", "--partitions", &partitions, "--execute"],
    )
    .await;
    assert_eq!(code, 0, "topics ensure: {out}");
    group_topics(main, group)
}

/// Every topic of `group` on `main`, the main topic first.
fn group_topics(main: &str, group: &str) -> Vec<String> {
    let topics = GroupTopics::new(main, group).expect("names");
    vec![
        main.to_owned(),
        topics.retry("retry-1m"),
        topics.retry("retry-10m"),
        topics.dlt(),
        topics.delivered(),
    ]
}

/// A three-node cluster, each node cuttable, with a group's topics.
pub struct Cluster {
    pub kafka: Kafka,
    pub bootstrap: String,
    pub main: String,
    pub group: String,
    pub downstream: Downstream,
}

impl Cluster {
    /// Starts the nodes and creates the topics as an operator would.
    pub async fn start(name: &str) -> Cluster {
        let kafka = Kafka::start_with(KafkaSpec::for_tests(3).cuttable()).await;
        let bootstrap = kafka.bootstrap();
        let main = unique_topic(name);
        let group = format!("{main}-group");
        ensure_topics(&bootstrap, &main, &group, PARTITIONS).await;
        let cluster = Cluster {
            kafka,
            bootstrap,
            main,
            group,
            downstream: Downstream::start(200, Duration::ZERO).await,
        };
        let views =
            crate::harness::kafka::metadata::partitions(&cluster.bootstrap, &cluster.main).await;
        assert!(
            views.iter().all(|v| v.replicas.len() == 3),
            "topics ensure gives three replicas on three nodes: {views:?}"
        );
        cluster
    }

    /// Every topic of the group, the main topic first.
    pub fn topics(&self) -> Vec<String> {
        group_topics(&self.main, &self.group)
    }

    /// Starts every stopped or killed node again and waits until it has
    /// caught up ([`Cluster::wait_in_sync`]).
    pub async fn bring_back(&mut self) {
        self.kafka.start_again().await;
        self.wait_in_sync().await;
    }

    /// Waits until every replica of the group's topics is in sync again.
    pub async fn wait_in_sync(&self) {
        wait_full_isr(&self.bootstrap, &self.topics(), Duration::from_secs(90)).await;
    }

    /// Waits until Kafka has fenced node `gone` out of the main topic (no
    /// leader there, in no ISR); returns when the metadata first said so.
    pub async fn fenced_out(&self, gone: i32) -> Instant {
        wait_fenced_out(&self.bootstrap, &self.main, gone, Duration::from_secs(60)).await
    }

    /// A gateway for the `genesys` source (in `cell` when given), ready.
    pub async fn gateway(&self, cell: Option<&NetCell>) -> Gateway {
        let gateway =
            Gateway::start_in(cell, &self.bootstrap, &self.main, Some(GATEWAY_CONFIG), &[]).await;
        gateway.wait_ready().await;
        gateway
    }

    /// A consumer of the group (in `cell` when given), with `env` added.
    /// Its session is the product's (30 s, heartbeats every 3 s), not the
    /// other tests' 6 s: a session shorter than Kafka's fencing of a dead
    /// node (`broker.session.timeout.ms`, 9 s) expires whenever the node
    /// that coordinates the group dies, and every member drops its
    /// partitions and rejoins (seen here first: 19 s without deliveries).
    pub async fn consumer(&self, cell: Option<&NetCell>, env: &[(&str, &str)]) -> ConsumerProcess {
        let concurrency = CONCURRENCY.to_string();
        let mut all = vec![
            ("CONSUMER_CONCURRENCY", concurrency.as_str()),
            ("KAFKA_SESSION_TIMEOUT_MS", "30000"),
            ("KAFKA_HEARTBEAT_INTERVAL_MS", "3000"),
        ];
        all.extend_from_slice(env);
        ConsumerProcess::start_in(
            cell,
            &self.bootstrap,
            &self.main,
            &self.group,
            &self.downstream.url(),
            &all,
        )
        .await
    }

    /// Ids in the dead-letter topic.
    pub async fn dead_lettered(&self) -> HashSet<String> {
        let topics = GroupTopics::new(&self.main, &self.group).expect("names");
        read_topic(&self.bootstrap, &topics.dlt())
            .await
            .into_iter()
            .map(|r| r.key)
            .collect()
    }

    /// Waits until every id the ledger accepted is delivered or
    /// dead-lettered (at most `within`), then asserts nothing was lost;
    /// returns how many ids were delivered more than once.
    pub async fn settle(
        &self,
        what: &str,
        ledger: &Ledger,
        prefix: &str,
        within: Duration,
    ) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let delivered = self.downstream.successes();
            let open = ledger
                .accepted
                .keys()
                .filter(|id| !delivered.contains_key(*id))
                .count();
            if open == 0 || Instant::now() >= deadline {
                let dead = if open == 0 {
                    HashSet::new()
                } else {
                    self.dead_lettered().await
                };
                return ledger.assert_nothing_lost(what, &delivered, &dead, prefix);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Each accepted id's main-topic partition, read back from the topic.
    pub async fn partition_of(&self) -> HashMap<String, i32> {
        read_topic(&self.bootstrap, &self.main)
            .await
            .into_iter()
            .map(|r| (r.key, r.partition))
            .collect()
    }

    /// The longest stretch without a successful delivery within `[from, to]`
    /// (unix ms): the consumer's pause.
    pub fn longest_delivery_pause(&self, from_ms: i64, to_ms: i64) -> Duration {
        let mut at: Vec<i64> = self
            .downstream
            .seen()
            .into_iter()
            .filter(|s| (200..300).contains(&s.answered))
            .map(|s| s.at_ms)
            .filter(|t| (from_ms..=to_ms).contains(t))
            .collect();
        at.sort_unstable();
        let mut longest = 0;
        let mut last = from_ms;
        for t in at.into_iter().chain([to_ms]) {
            longest = longest.max(t - last);
            last = t;
        }
        Duration::from_millis(longest.max(0) as u64)
    }
}
