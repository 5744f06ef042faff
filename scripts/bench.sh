#!/usr/bin/env bash
# The benchmarks in one command (not part of the test suite): builds in
# release, starts its own Kafka node per bench, and prints each measurement next
# to a ceiling measured in the same run (the box is noisy: compare ratios,
# not absolutes). The full output is kept in target/bench/<time>.txt.
#
#   scripts/bench.sh            # gateway at 8, 64 and 256 connections, consumer (3, 48, 384 partitions), end to end
#                               # (also at 5 k/s with KAFKA_LINGER_MS=5), markers
#   BENCH_SECS=10 scripts/bench.sh
#   BENCH_SKIP_MARKERS=1 scripts/bench.sh   # the 1 M-marker bench takes a few minutes
#   (then: the broker's CPU per delivered marker by the marker producer's settings,
#   the cost of one `consumer events trace` over a day of one partition,
#   and the consumer's CPU per event with a destination filter taking 5 % and 100 %)
set -euo pipefail
cd "$(dirname "$0")/.."
SWITCHBOARD_KAFKA_DIR=$(scripts/install-kafka.sh)
export SWITCHBOARD_KAFKA_DIR
mkdir -p target/bench
out="target/bench/$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# $(date -u +%FT%TZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), Apache Kafka $(cat "$SWITCHBOARD_KAFKA_DIR/VERSION")"
  cargo build -q --release -p switchboard-gateway -p switchboard-consumer
  for connections in 8 64 256; do
    BENCH_CONNECTIONS=$connections cargo bench -q -p switchboard-tests --bench gateway
  done
  cargo bench -q -p switchboard-tests --bench consumer
  # How the consumer's cost grows with the partitions one member holds.
  for partitions in 48 384; do
    BENCH_PARTITIONS=$partitions BENCH_LATENCY_EVENTS=0 cargo bench -q -p switchboard-tests --bench consumer
  done
  BENCH_SECS=${BENCH_E2E_SECS:-10} cargo bench -q -p switchboard-tests --bench e2e
  # The README's setting for open-loop senders at thousands of events a second.
  E2E_GATEWAY_LINGER=5 BENCH_RATES=5000 BENCH_SECS=${BENCH_E2E_SECS:-10} cargo bench -q -p switchboard-tests --bench e2e
  if [ -z "${BENCH_SKIP_MARKERS:-}" ]; then
    cargo bench -q -p switchboard-tests --bench markers
  fi
  # What a delivered marker costs the broker, by the marker producer's linger.
  cargo bench -q -p switchboard-tests --bench marker_writes
  cargo bench -q -p switchboard-tests --bench trace
  cargo bench -q -p switchboard-tests --bench filter
} 2>&1 | tee "$out"

echo
echo "== summary (full output: $out)"
grep -E '^gateway bench|^gateway CPU over|^(ceiling|gateway|bare producer) \(|^ratio|^CPU per|^gateway peak RSS|^consumer:|^  (delivered|ceiling|ratio|bare read|first delivery)|^e2e bench|^  CPU per event|^[0-9]+/s|^markers:|^  (assignment|consumer RSS|ceiling:)|^filter:|^  (no filter|5 % taken|100 % taken)|^marker writes:|^  round |^  of the broker' "$out" || true
