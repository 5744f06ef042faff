//! The one launcher of Apache Kafka (KRaft) for the tests, the benches and
//! the demo: a cluster of combined broker+controller nodes on loopback,
//! each a JVM started from the jars `scripts/install-kafka.sh` installed.
//!
//! [`Kafka::start`] gives a one-node cluster with the test settings;
//! [`KafkaSpec`] asks for more nodes, fixed ports or other settings. It
//! formats each node's storage, starts the JVMs, waits until the cluster's
//! metadata lists every broker, and stops what it started by pid (on drop, which also
//! removes the data, or with [`Kafka::kill`] / [`Kafka::stop`]); [`Kafka::start_again`] brings
//! the same nodes back on their ports with their data, as a restarted
//! broker would.
//!
//! Tests that do not kill, freeze or restart the broker share one node per
//! test binary ([`shared_kafka`]); `SWITCHBOARD_TEST_BOOTSTRAP=host:port`
//! points them at another cluster instead (which must allow topic creation).

pub mod acl;
mod cluster_id;
mod install;
pub mod metadata;
mod node;
pub mod pki;
pub mod secured;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use tokio::sync::OnceCell;

pub use install::{Installation, KAFKA_DIR_VAR};
pub use node::{Node, NodeAddress};

use crate::harness::process::{log_dir, probably_free_port};
use cluster_id::new_cluster_id;

/// Points the shared test broker at an existing cluster (`host:port,…`).
pub const TEST_BOOTSTRAP_VAR: &str = "SWITCHBOARD_TEST_BOOTSTRAP";

/// Settings only tests want: no 3 s wait before a group's first rebalance.
pub const TEST_SETTINGS: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct KafkaSpec {
    /// How many combined broker+controller nodes (all of them voters).
    pub nodes: usize,
    /// The first node's client port; node `i` listens on `port + 2i` and its
    /// controller on `port + 2i + 1`. `None`: free ports, tried until one set binds.
    pub port: Option<u16>,
    /// Extra `server.properties` lines, after the cluster's own.
    pub settings: Vec<(String, String)>,
    /// Each JVM's maximum heap (`-Xmx`).
    pub heap: String,
    /// Where the nodes' folders go; `None`: a fresh folder under the test logs.
    pub dir: Option<PathBuf>,
    /// Starts each node in a [`crate::harness::netcut::NetCell`] of its own,
    /// so a test can cut it off the network ([`Node::cut`]) without killing it.
    pub cuttable: bool,
    /// TLS, SASL and the authorizer ([`secured::Security`]); `None`: PLAINTEXT only.
    pub security: Option<secured::Security>,
}

impl KafkaSpec {
    /// `nodes` nodes with the test settings, on free ports.
    pub fn for_tests(nodes: usize) -> KafkaSpec {
        KafkaSpec {
            nodes,
            port: None,
            settings: TEST_SETTINGS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            heap: "512m".into(),
            dir: None,
            cuttable: false,
            security: None,
        }
    }

    /// Secured listeners, users and ACL enforcement besides the PLAINTEXT one.
    pub fn secured(mut self, security: secured::Security) -> KafkaSpec {
        self.security = Some(security);
        self
    }

    /// Each node in its own network cell, to be cut off and healed.
    pub fn cuttable(mut self) -> KafkaSpec {
        self.cuttable = true;
        self
    }

    /// Adds (or overrides) one broker setting.
    pub fn setting(mut self, key: &str, value: &str) -> KafkaSpec {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.to_owned(), value.to_owned()));
        self
    }

    /// What every node of such a cluster is given before the extra settings:
    /// internal topics replicated as far as the cluster allows, and no topic
    /// ever created by a client's request (Switchboard creates its own).
    fn cluster_settings(&self) -> Vec<(String, String)> {
        let replicas = self.nodes.min(3).to_string();
        let min_isr = self.nodes.clamp(1, 2).to_string();
        let mut settings: Vec<(String, String)> = [
            ("offsets.topic.replication.factor", replicas.as_str()),
            ("transaction.state.log.replication.factor", &replicas),
            ("transaction.state.log.min.isr", &min_isr),
            ("auto.create.topics.enable", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(security) = &self.security {
            settings.extend(security.broker_settings());
        }
        settings.extend(self.settings.iter().cloned());
        settings
    }

    fn addresses(&self) -> Vec<NodeAddress> {
        (0..self.nodes)
            .map(|i| {
                let (port, controller_port) = match self.port {
                    Some(first) => {
                        let port = first + 2 * i as u16;
                        (port, port + 1)
                    }
                    None => (probably_free_port(), probably_free_port()),
                };
                NodeAddress {
                    id: i as u32 + 1,
                    port,
                    controller_port,
                    secured: self
                        .security
                        .as_ref()
                        .map(|_| secured::SecuredPorts::free()),
                }
            })
            .collect()
    }
}

/// A Kafka cluster the tests use: nodes this process started, or (shared
/// broker only) a cluster named by [`TEST_BOOTSTRAP_VAR`].
pub struct Kafka {
    nodes: Vec<Node>,
    bootstrap: String,
}

impl Kafka {
    /// A one-node cluster with the test settings.
    pub async fn start() -> Kafka {
        Kafka::start_with(KafkaSpec::for_tests(1)).await
    }

    /// Starts the cluster `spec` describes and waits until its metadata
    /// lists every broker. With free ports, a node that exits at start
    /// (a port taken meanwhile) makes it try again on new ports.
    pub async fn start_with(spec: KafkaSpec) -> Kafka {
        let attempts = if spec.port.is_some() { 1 } else { 5 };
        for attempt in 1..=attempts {
            let mut kafka = Kafka::format(&spec);
            for node in &mut kafka.nodes {
                node.spawn();
            }
            match kafka.wait_for_brokers(Duration::from_secs(90)).await {
                Ok(()) => return kafka,
                Err(why) if attempt < attempts => {
                    eprintln!("kafka: {why}; trying other ports");
                }
                Err(why) => panic!("kafka did not start: {why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn format(spec: &KafkaSpec) -> Kafka {
        let addresses = spec.addresses();
        let voters = addresses
            .iter()
            .map(NodeAddress::voter)
            .collect::<Vec<_>>()
            .join(",");
        let dir = spec.dir.clone().unwrap_or_else(|| {
            log_dir().join(format!("kafka-{}", crate::harness::unique_topic("cluster")))
        });
        let _ = std::fs::remove_dir_all(&dir);
        let settings = spec.cluster_settings();
        let format_args = spec
            .security
            .as_ref()
            .map(secured::Security::format_args)
            .unwrap_or_default();
        let cluster_id = new_cluster_id();
        // Each format is a JVM start (about 2 s): the nodes format side by side.
        let nodes: Vec<Node> = std::thread::scope(|scope| {
            let formatting: Vec<_> = addresses
                .into_iter()
                .map(|address| {
                    let node_dir = dir.join(format!("node-{}", address.id));
                    let (voters, settings, cluster_id, format_args) =
                        (&voters, &settings, &cluster_id, &format_args);
                    scope.spawn(move || {
                        let node = Node::format(
                            address,
                            node_dir,
                            voters,
                            settings,
                            cluster_id,
                            &spec.heap,
                            format_args,
                        );
                        if spec.cuttable {
                            node.in_own_cell()
                        } else {
                            node
                        }
                    })
                })
                .collect();
            formatting
                .into_iter()
                .map(|f| f.join().expect("formatting thread"))
                .collect()
        });
        let bootstrap = nodes
            .iter()
            .map(|n| n.address().bootstrap())
            .collect::<Vec<_>>()
            .join(",");
        Kafka { nodes, bootstrap }
    }

    /// Waits until every node runs and the metadata lists every broker.
    async fn wait_for_brokers(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let expected = self.nodes.len();
        loop {
            if let Some(node) = self
                .nodes
                .iter_mut()
                .find_map(|n| (n.pid().is_none() || n.exited()).then_some(n))
            {
                return Err(format!(
                    "node {} is not running; its log ends:\n{}",
                    node.address().id,
                    node.log_tail()
                ));
            }
            let listed = broker_count(&self.bootstrap).await;
            if listed >= expected {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the metadata lists {listed} of {expected} brokers after {within:?}; node 1's log ends:\n{}",
                    self.nodes[0].log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `host:port,…` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The nodes this process started (none for an external cluster).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Every port the nodes listen on (clients and controllers), to cut a
    /// client off the cluster ([`crate::harness::NetCell::cut_from`]).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .flat_map(|n| [n.address().port, n.address().controller_port])
            .collect()
    }

    /// The nodes, to kill, stop, freeze or cut one of them; bring it back
    /// with [`Kafka::start_again`].
    pub fn nodes_mut(&mut self) -> &mut [Node] {
        &mut self.nodes
    }

    /// The node with `node.id` `id`.
    pub fn node_mut(&mut self, id: i32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.address().id as i32 == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// The first node's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.nodes.first().and_then(Node::pid)
    }

    /// SIGKILL to every node: a crash. The data stays on disk.
    pub fn kill(&mut self) {
        self.nodes.iter_mut().for_each(Node::kill);
    }

    /// SIGTERM to every node, each waited for: a controlled shutdown.
    pub fn stop(&mut self) {
        self.nodes.iter_mut().for_each(Node::stop);
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) every node: an outage that loses nothing.
    pub fn freeze(&self, frozen: bool) {
        self.nodes.iter().for_each(|n| n.freeze(frozen));
    }

    /// Kills every node and starts them again (same ports, same data).
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }

    /// Starts killed or stopped nodes again on their ports with their data
    /// (topics, committed offsets and producer state are still there).
    pub async fn start_again(&mut self) {
        for node in self.nodes.iter_mut().filter(|n| n.pid().is_none()) {
            node.spawn();
        }
        if let Err(why) = self.wait_for_brokers(Duration::from_secs(90)).await {
            panic!("kafka did not start again: {why}");
        }
    }
}

impl Drop for Kafka {
    /// Kills what is still running and removes the data; each node's
    /// settings and log stay for reading after a failure.
    fn drop(&mut self) {
        for mut node in self.nodes.drain(..) {
            node.kill();
            let _ = std::fs::remove_dir_all(node.dir().join("data"));
        }
    }
}

/// The cluster shared by the tests of this binary that do not kill, freeze
/// or restart it: one node started on first use, or the cluster named by
/// [`TEST_BOOTSTRAP_VAR`].
pub async fn shared_kafka() -> &'static Kafka {
    static SHARED: OnceCell<Kafka> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            match std::env::var(TEST_BOOTSTRAP_VAR) {
                Ok(bootstrap) if !bootstrap.is_empty() => Kafka {
                    nodes: Vec::new(),
                    bootstrap,
                },
                _ => Kafka::start().await,
            }
        })
        .await
}

/// How many brokers the cluster's metadata lists (0 while it answers nothing).
async fn broker_count(bootstrap: &str) -> usize {
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || {
        let Some(client) = metadata::metadata_client(&bootstrap) else {
            return 0;
        };
        client
            .fetch_metadata(None, Duration::from_secs(2))
            .map_or(0, |m| m.brokers().len())
    })
    .await
    .unwrap_or(0)
}
