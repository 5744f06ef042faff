//! Runs a local Apache Kafka cluster (KRaft) from the jars
//! `scripts/install-kafka.sh` installed, with the launcher the tests use,
//! until SIGTERM or Ctrl-C; then stops its nodes (a controlled shutdown) and
//! removes their data, keeping each node's log.
//! The demo starts its broker with it.
//!
//! ```text
//! local-kafka --port 19092 --dir target/demo/kafka
//! ```
//!
//! Prints `bootstrap=HOST:PORT,…` once the metadata lists every broker.

use std::path::PathBuf;

use clap::Parser;
use switchboard_tests::harness::kafka::{Installation, Kafka, KafkaSpec};

/// A local Kafka cluster on loopback, stopped on SIGTERM or Ctrl-C.
#[derive(Parser, Debug)]
#[command(name = "local-kafka", version)]
struct Args {
    /// The first node's client port (node i: PORT + 2i, its controller one above).
    #[arg(long, default_value_t = 9092)]
    port: u16,
    /// How many combined broker+controller nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Where the nodes keep their settings, data and logs (emptied at start; the data removed at the end).
    #[arg(long, default_value = "target/local-kafka")]
    dir: PathBuf,
    /// Each JVM's maximum heap.
    #[arg(long, default_value = "512m")]
    heap: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let spec = KafkaSpec {
        nodes: args.nodes,
        port: Some(args.port),
        // Production-like: the test-only settings stay in the tests.
        settings: Vec::new(),
        heap: args.heap,
        dir: Some(args.dir),
        cuttable: false,
        security: None,
    };
    eprintln!(
        "starting Apache Kafka {} ({} node(s)); logs in each node folder's kafka.log",
        Installation::get().version(),
        spec.nodes
    );
    let mut kafka = Kafka::start_with(spec).await;
    println!("bootstrap={}", kafka.bootstrap());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    kafka.stop();
}
