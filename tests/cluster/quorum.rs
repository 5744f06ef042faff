//! Two of three nodes down: every partition is below `min.insync.replicas`
//! and the KRaft quorum is lost. The gateway must never answer `202` for a
//! record it sent after the crash (it could not be on two replicas), answer
//! every sender `503`/`429` with `Retry-After` within its deadline, and take
//! events again once the nodes return, without a restart.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::failover::assert_refusals_are_fast_and_say_when;
use crate::fixture::{one_cluster_at_a_time, UnderLoad};
use crate::harness::eventually;

/// How long the two nodes stay down.
const DOWN: Duration = Duration::from_secs(15);
/// How soon after both nodes run again the gateway must answer `202`.
const BACK_WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_nodes_down_never_gets_a_202_and_recovers_without_restarts() {
    let _turn = one_cluster_at_a_time().await;
    let UnderLoad {
        mut cluster,
        gateway: _gateway,
        consumer: _consumer,
        senders,
    } = UnderLoad::start("quorum", "qu").await;

    let crashed = Instant::now();
    cluster.kafka.node_mut(2).kill();
    cluster.kafka.node_mut(3).kill();
    tokio::time::sleep(DOWN).await;
    let returning = Instant::now();
    cluster.kafka.start_again().await;
    let running = Instant::now();
    eventually(
        "202 again",
        BACK_WITHIN + Duration::from_secs(30),
        || async { senders.ledger().first_202_after(running).map(|_| ()) },
    )
    .await;
    cluster.wait_in_sync().await;
    let ledger = senders.finish().await;

    // A request sent after the crash cannot be on two replicas.
    let after_crash = crashed + Duration::from_millis(500);
    let accepted_during: Vec<_> = ledger
        .answers
        .iter()
        .filter(|a| {
            a.sent >= after_crash && a.at() <= returning && a.status == Some(StatusCode::ACCEPTED)
        })
        .collect();
    assert!(
        accepted_during.is_empty(),
        "202 for records sent while two of three nodes were down: {accepted_during:?}"
    );
    let (_, refused) = ledger.longest_without_202(after_crash, returning);
    assert!(refused > 0, "the senders were answered during the outage");
    assert_refusals_are_fast_and_say_when(&ledger, crashed, Instant::now());
    let back = ledger.first_202_after(running).expect("202 again") - running;
    eprintln!(
        "two of three down for {DOWN:?}: {refused} refused answers, no 202; the nodes took {:?} to start; first 202 {back:?} after they ran",
        running - returning
    );
    assert!(
        back <= BACK_WITHIN,
        "202 again only {back:?} after the nodes ran"
    );
    let duplicates = cluster
        .settle("quorum", &ledger, "qu", Duration::from_secs(120))
        .await;
    eprintln!(
        "quorum: {} accepted, {duplicates} delivered twice",
        ledger.accepted.len()
    );
}
