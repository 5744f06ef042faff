//! A commit counts only once the broker confirmed it. librdkafka's mock
//! cluster (in this process) fails the group's first offset commits on
//! purpose; the worker must send the commit again until the broker has it,
//! rather than believe the first request. (A real Kafka cannot be told to
//! refuse one commit, so this one fault is injected with the mock cluster.)

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use switchboard_consumer::deliver::{Handler, Outcome};
use switchboard_consumer::handoff::{Handoffs, Producers};
use switchboard_consumer::process::Pipeline;
use switchboard_consumer::stage::{parse_retry_stages, Ladder};
use switchboard_consumer::worker::{Worker, WorkerSettings};
use switchboard_proto::{Envelope, GroupTopics};
use switchboard_runtime::admin::Health;
use switchboard_runtime::kafka::KafkaSettings;
use switchboard_runtime::shutdown::Shutdown;
use tokio::sync::Semaphore;

/// Delivers everything at once, counting.
struct Instant200(Arc<AtomicUsize>);

impl Handler for Instant200 {
    async fn handle(&self, _event: &Envelope, _attempt: u32, _slots: &Semaphore) -> Outcome {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Outcome::Delivered
    }
}

fn committed(bootstrap: &str, group: &str, topic: &str) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .ok()?;
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, 0);
    let offsets = consumer
        .committed_offsets(list, Duration::from_secs(5))
        .ok()?;
    match offsets.elements().first()?.offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_commit_is_sent_again_until_the_broker_has_it() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let bootstrap = cluster.bootstrap_servers();
    let topics = GroupTopics::new("webhooks", "crm").expect("names");
    let ladder = Ladder::new(
        topics.clone(),
        parse_retry_stages("retry-1m=1s").expect("stages"),
    );
    for topic in [
        topics.main().to_owned(),
        topics.retry("retry-1m"),
        topics.dlt(),
        topics.delivered(),
    ] {
        cluster.create_topic(&topic, 1, 1).expect("topic");
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");
    for i in 0..5 {
        let id = format!("evt-{i}");
        let envelope = Envelope {
            event_id: id.clone(),
            source: "genesys".into(),
            body: b"{}".to_vec().into(),
            ..Envelope::default()
        };
        producer
            .send(
                FutureRecord::to(topics.main())
                    .key(&id)
                    .payload(&envelope.encode_to_vec()),
                Duration::from_secs(5),
            )
            .await
            .expect("produced");
    }
    // The group's first three commits are refused.
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE; 3],
    );

    let delivered = Arc::new(AtomicUsize::new(0));
    let settings = KafkaSettings::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", "crm"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("partition.assignment.strategy", "range"),
    ]);
    let producer = KafkaSettings::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("enable.idempotence", "true"),
        ("acks", "all"),
    ]);
    let handoff = Producers::with(&producer, &producer).expect("hand-off producers");
    let stop = Shutdown::new();
    let pipeline = Arc::new(Pipeline {
        handler: Instant200(delivered.clone()),
        handoffs: Handoffs::new(handoff, stop.clone()),
        ladder,
        member: "commits-test".into(),
        filters: Default::default(),
    });
    let worker = Worker::new(
        &settings,
        pipeline,
        WorkerSettings {
            concurrency: 4,
            commit_interval: Duration::from_millis(100),
            drain_timeout: Duration::from_secs(2),
            dedupe_window: Duration::from_secs(3600),
            marker_load_timeout: Duration::from_secs(2),
        },
        tokio::runtime::Handle::current(),
    )
    .expect("worker");
    let loop_stop = stop.clone();
    let poll_loop = std::thread::spawn(move || {
        let health = Health::always_live();
        worker.run(&loop_stop, &health)
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while Instant::now() < deadline {
        last = {
            let (bootstrap, topic) = (bootstrap.clone(), topics.main().to_owned());
            tokio::task::spawn_blocking(move || committed(&bootstrap, "crm", &topic))
                .await
                .expect("reader")
        };
        if last == Some(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.begin();
    let _ = tokio::task::spawn_blocking(move || poll_loop.join()).await;
    assert_eq!(delivered.load(std::sync::atomic::Ordering::Relaxed), 5);
    assert_eq!(
        last,
        Some(5),
        "the broker has the commit of all five, although it refused the first ones"
    );
}
