//! A rolling restart under load, as an upgrade does it: each node in turn
//! gets SIGTERM (a controlled shutdown moves its leaderships first), starts
//! again, and the next waits until every replica is back in sync. At most a
//! handful of refusals, and nothing lost.

use std::time::{Duration, Instant};

use crate::failover::assert_refusals_are_fast_and_say_when;
use crate::fixture::{one_cluster_at_a_time, UnderLoad};

/// The share of answers a rolling restart may refuse (each is retried):
/// records in flight to a node as it hands its leaderships over may miss
/// the deadline (13 of 1,517 answers, in one 0.6 s burst, in the first run).
const HANDFUL_PERCENT: usize = 2;
/// The longest the gateway may go without a `202`: never an outage.
const NO_OUTAGE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_costs_at_most_a_handful_of_503s() {
    let _turn = one_cluster_at_a_time().await;
    let UnderLoad {
        mut cluster,
        gateway: _gateway,
        consumer: _consumer,
        senders,
    } = UnderLoad::start("rolling", "ro").await;

    let began = Instant::now();
    for id in 1..=3 {
        cluster.kafka.node_mut(id).stop();
        cluster.bring_back().await;
    }
    let ended = Instant::now();
    let ledger = senders.finish().await;
    let (longest, refused) = ledger.longest_without_202(began, ended);
    let answered = ledger.answers_within(began, ended).len();
    eprintln!(
        "rolling restart of 3 nodes in {:?}: {refused} refused of {answered} answers, longest stretch without a 202 {longest:?}",
        ended - began
    );
    assert_refusals_are_fast_and_say_when(&ledger, began, ended);
    assert!(
        refused * 100 <= answered * HANDFUL_PERCENT,
        "{refused} of {answered} answers refused during a rolling restart (at most {HANDFUL_PERCENT} %)"
    );
    assert!(
        longest <= NO_OUTAGE,
        "no 202 for {longest:?} during a rolling restart"
    );
    let duplicates = cluster
        .settle("rolling", &ledger, "ro", Duration::from_secs(120))
        .await;
    eprintln!(
        "rolling: {} accepted, {duplicates} delivered twice",
        ledger.accepted.len()
    );
}
