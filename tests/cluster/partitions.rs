//! Network partitions, not crashes: one process at a time is cut off (every
//! packet it sends is dropped, so its peers see timeouts, never a refused
//! connection) and later healed, all on loopback.
//!
//! - A broker cut off is handled as a dead one: its leaderships move, the
//!   gateway answers `202` again without a restart, and it rejoins on heal.
//! - A gateway cut off from the cluster (its senders still reach it) answers `503` with `Retry-After`
//!   within its deadline and keeps its memory bounded under load; on heal it
//!   answers `202` again without a restart.
//! - A consumer cut off from the cluster mid-delivery (its deliveries still
//!   reach the downstream, its markers and commits do not) loses its partitions to the other member
//!   after its session; on heal it says its partitions were lost, rejoins,
//!   and nothing it had in flight is lost.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::failover::assert_refusals_are_fast_and_say_when;
use crate::fixture::{
    load, one_cluster_at_a_time, Cluster, UnderLoad, CONCURRENCY, PARTITIONS, RATE,
};
use crate::harness::kafka::metadata::busiest_leader;
use crate::harness::process::memory_mib;
use crate::harness::{eventually, NetCell};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_cut_off_is_handled_like_a_dead_one_and_rejoins_on_heal() {
    let _turn = one_cluster_at_a_time().await;
    let UnderLoad {
        cluster,
        gateway: _gateway,
        consumer: _consumer,
        senders,
    } = UnderLoad::start("cutbroker", "cb").await;

    let victim = busiest_leader(&cluster.bootstrap, &cluster.main).await;
    let cut = Instant::now();
    cluster
        .kafka
        .nodes()
        .iter()
        .find(|n| n.address().id as i32 == victim)
        .expect("victim")
        .cut();
    let moved = cluster.fenced_out(victim).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let back_on = Instant::now();
    let (longest, refused) = senders.ledger().longest_without_202(cut, back_on);
    cluster.kafka.nodes().iter().for_each(|n| n.heal());
    cluster.wait_in_sync().await;
    let rejoined = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ledger = senders.finish().await;
    assert!(
        longest <= (moved - cut) + Duration::from_secs(1),
        "no 202 for {longest:?}, more than Kafka's failover ({:?}) + 1 s",
        moved - cut
    );
    eprintln!(
        "broker {victim} cut off: Kafka fenced it (new leaders, out of every ISR) {:?} after the cut; longest stretch without any 202 {longest:?}, {refused} refused; \
         back in sync {:?} after the heal",
        moved - cut,
        rejoined - back_on
    );
    assert_refusals_are_fast_and_say_when(&ledger, cut, rejoined);
    assert!(
        ledger.first_202_after(moved).is_some(),
        "202 again while the broker is still cut off"
    );
    let duplicates = cluster
        .settle("cut broker", &ledger, "cb", Duration::from_secs(120))
        .await;
    let bound = CONCURRENCY * PARTITIONS as usize;
    assert!(
        duplicates <= bound,
        "{duplicates} delivered twice, over {bound}"
    );
}

/// What a cut-off gateway may hold per open connection: hyper's buffers and
/// the request's task, its body, its record queued in librdkafka until
/// `message.timeout.ms` (30 s). Connections are capped (`max_connections`),
/// and so is the record queue (`queue.buffering.max.kbytes`, then `429`).
const MEMORY_PER_CONNECTION_KIB: f64 = 64.0;
/// Resident memory that does not depend on the load (allocator arenas, threads).
const MEMORY_BASE_GROWTH_MIB: f64 = 16.0;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_cut_off_from_the_cluster_answers_503_in_time_with_bounded_memory_and_recovers() {
    let _turn = one_cluster_at_a_time().await;
    let cluster = Cluster::start("cutgateway").await;
    let cell = NetCell::new("gateway");
    let gateway = cluster.gateway(Some(&cell)).await;
    let senders = load(&gateway, "cg", RATE * 3, Duration::from_secs(90)).await;
    let memory_before = memory_mib("VmRSS", gateway.pid());

    let cut = Instant::now();
    cell.cut_from(&cluster.kafka.ports());
    let (mut memory_peak, mut fds_peak) = (memory_before, open_fds(gateway.pid()));
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        memory_peak = memory_peak.max(memory_mib("VmRSS", gateway.pid()));
        fds_peak = fds_peak.max(open_fds(gateway.pid()));
    }
    let healed = Instant::now();
    cell.heal();
    eventually(
        "202 again after the heal",
        Duration::from_secs(60),
        || async { senders.ledger().first_202_after(healed).map(|_| ()) },
    )
    .await;
    let ledger = senders.finish().await;
    let back = ledger.first_202_after(healed).expect("202 again") - healed;
    // Records queued before the cut may still be acknowledged after it: only
    // requests sent a deadline after the cut must all be refused.
    let settled_cut = cut + crate::fixture::GATEWAY_DEADLINE + Duration::from_secs(1);
    let during = ledger.answers_within(settled_cut, healed);
    let accepted = during
        .iter()
        .filter(|a| a.status == Some(StatusCode::ACCEPTED) && a.sent >= settled_cut)
        .count();
    eprintln!(
        "gateway cut off for {:?}: {} answers, {accepted} accepted, memory {memory_before:.1} MiB before and at most {memory_peak:.1} MiB during, \
         with at most {fds_peak} open files (connections); \
         first 202 {back:?} after the heal",
        healed - cut,
        during.len()
    );
    assert_eq!(
        accepted, 0,
        "a gateway cut off from every broker answered 202"
    );
    assert!(during.len() > 100, "the senders kept trying during the cut");
    assert_refusals_are_fast_and_say_when(&ledger, cut, healed);
    let allowed = memory_before
        + MEMORY_BASE_GROWTH_MIB
        + fds_peak as f64 * MEMORY_PER_CONNECTION_KIB / 1024.0;
    assert!(
        memory_peak <= allowed,
        "memory grew from {memory_before:.1} to {memory_peak:.1} MiB while cut off, \
         over {allowed:.1} MiB for {fds_peak} open connections"
    );
    assert!(
        back <= Duration::from_secs(15),
        "202 again only {back:?} after the heal"
    );
    let _consumer = cluster.consumer(None, &[]).await;
    cluster
        .settle("cut gateway", &ledger, "cg", Duration::from_secs(120))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_cut_off_mid_delivery_loses_its_partitions_says_so_and_loses_nothing() {
    let _turn = one_cluster_at_a_time().await;
    let cluster = Cluster::start("cutconsumer").await;
    cluster.downstream.set_delay(Duration::from_millis(200));
    let gateway = cluster.gateway(None).await;
    let cell = NetCell::new("consumer");
    let cut_member = cluster.consumer(Some(&cell), &[]).await;
    let other = cluster.consumer(None, &[]).await;
    let senders = load(&gateway, "cc", RATE, Duration::from_secs(120)).await;
    eventually(
        "both members delivering",
        Duration::from_secs(30),
        || async { (cluster.downstream.success_count() >= 50).then_some(()) },
    )
    .await;

    cell.cut_from(&cluster.kafka.ports());
    // Main topic and two retry stages, three partitions each: all of them
    // move to the other member once the cut one's session (6 s) expires.
    let all = 3 * PARTITIONS as usize;
    other
        .wait_assigned_within(all, Duration::from_secs(45))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    cell.heal();
    eventually(
        "the cut member says it lost its partitions",
        Duration::from_secs(60),
        || async {
            cut_member
                .log_text()
                .contains("partitions lost")
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ledger = senders.finish().await;
    let duplicates = cluster
        .settle("cut consumer", &ledger, "cc", Duration::from_secs(120))
        .await;
    eprintln!(
        "consumer cut off: {} accepted, {duplicates} delivered twice",
        ledger.accepted.len()
    );
    let bound = CONCURRENCY * PARTITIONS as usize;
    assert!(
        duplicates <= bound,
        "{duplicates} delivered twice, over {bound}"
    );
}
