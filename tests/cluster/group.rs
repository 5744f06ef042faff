//! The consumer group on the cluster: the node that coordinates the group is
//! killed while two members deliver; a static member is killed and started
//! again within its session (no rebalance: the other member keeps its
//! partitions and keeps delivering).

use std::time::{Duration, Instant};

use crate::fixture::{load, one_cluster_at_a_time, Cluster, CONCURRENCY, PARTITIONS, RATE};
use crate::harness::eventually;
use crate::harness::kafka::metadata::partitions;

/// `offsets.topic.num.partitions`, Kafka's default.
const OFFSETS_PARTITIONS: i32 = 50;

/// The `__consumer_offsets` partition that holds `group`: Kafka takes
/// `Utils.abs(group.hashCode()) % offsets.topic.num.partitions`, with Java's
/// `String.hashCode` over UTF-16 units and `Utils.abs(MIN_VALUE) == 0`.
fn offsets_partition(group: &str) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % OFFSETS_PARTITIONS
}

#[test]
fn offsets_partition_follows_javas_string_hash() {
    // Java: "abc".hashCode() == 96354; "genesys".hashCode() == -80146536;
    // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Utils.abs makes 0.
    assert_eq!(offsets_partition("abc"), 4);
    assert_eq!(offsets_partition("genesys"), 36);
    assert_eq!(offsets_partition("polygenelubricants"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_coordinator_killed_under_load_loses_nothing() {
    let _turn = one_cluster_at_a_time().await;
    let mut cluster = Cluster::start("coordinator").await;
    let gateway = cluster.gateway(None).await;
    let first = cluster.consumer(None, &[]).await;
    let second = cluster.consumer(None, &[]).await;
    let senders = load(&gateway, "co", RATE, Duration::from_secs(120)).await;
    eventually("members delivering", Duration::from_secs(30), || async {
        (cluster.downstream.success_count() >= 100).then_some(())
    })
    .await;

    let holder = offsets_partition(&cluster.group);
    let coordinator = partitions(&cluster.bootstrap, "__consumer_offsets")
        .await
        .into_iter()
        .find(|v| v.partition == holder)
        .map(|v| v.leader)
        .expect("the group's offsets partition has a leader");
    let killed_ms = crate::downstream::unix_ms();
    cluster.kafka.node_mut(coordinator).kill();
    let before = cluster.downstream.success_count();
    eventually(
        "delivering again without the coordinator",
        Duration::from_secs(60),
        || async { (cluster.downstream.success_count() >= before + 100).then_some(()) },
    )
    .await;
    let pause = cluster.longest_delivery_pause(killed_ms, crate::downstream::unix_ms());
    cluster.bring_back().await;
    let ledger = senders.finish().await;
    let duplicates = cluster
        .settle("coordinator", &ledger, "co", Duration::from_secs(120))
        .await;
    eprintln!(
        "coordinator (node {coordinator}) killed: longest pause in deliveries {pause:?}; {} accepted, {duplicates} delivered twice",
        ledger.accepted.len()
    );
    let bound = 2 * CONCURRENCY * PARTITIONS as usize;
    assert!(
        duplicates <= bound,
        "{duplicates} delivered twice, over {bound}"
    );
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarted_within_its_session_causes_no_rebalance() {
    let _turn = one_cluster_at_a_time().await;
    let cluster = Cluster::start("static").await;
    let gateway = cluster.gateway(None).await;
    let session = [("KAFKA_SESSION_TIMEOUT_MS", "15000")];
    let restarted_env = [session[0], ("CONSUMER_INSTANCE_ID", "member-a")];
    let mut restarted = cluster.consumer(None, &restarted_env).await;
    let steady = cluster
        .consumer(None, &[session[0], ("CONSUMER_INSTANCE_ID", "member-b")])
        .await;
    let senders = load(&gateway, "st", RATE, Duration::from_secs(120)).await;
    eventually(
        "both members hold partitions",
        Duration::from_secs(30),
        || async {
            let a = restarted
                .metric(switchboard_consumer::metrics::ASSIGNED, &[])
                .await;
            let b = steady
                .metric(switchboard_consumer::metrics::ASSIGNED, &[])
                .await;
            (a > 0.0 && b > 0.0 && a + b == f64::from(3 * PARTITIONS)).then_some(())
        },
    )
    .await;
    let steady_moves = |log: &str| {
        log.matches("partitions revoked").count() + log.matches("partitions assigned").count()
    };
    let moves_before = steady_moves(&steady.log_text());

    restarted.signal(libc::SIGKILL);
    restarted.wait_for_exit(Duration::from_secs(10)).await;
    let restarted_at = Instant::now();
    let again = cluster.consumer(None, &restarted_env).await;
    eventually(
        "the restarted member holds its partitions again",
        Duration::from_secs(30),
        || async {
            (again
                .metric(switchboard_consumer::metrics::ASSIGNED, &[])
                .await
                > 0.0)
                .then_some(())
        },
    )
    .await;
    let back = restarted_at.elapsed();
    let delivered = cluster.downstream.success_count();
    eventually("still delivering", Duration::from_secs(30), || async {
        (cluster.downstream.success_count() >= delivered + 50).then_some(())
    })
    .await;
    let ledger = senders.finish().await;
    let duplicates = cluster
        .settle("static", &ledger, "st", Duration::from_secs(120))
        .await;
    let moves_after = steady_moves(&steady.log_text());
    eprintln!(
        "static member restarted: its partitions back {back:?} after the restart; the other member's partition moves {moves_before} → {moves_after}; {duplicates} delivered twice"
    );
    assert_eq!(
        moves_after, moves_before,
        "the other member's partitions moved: a restart within the session rebalanced the group"
    );
}
