#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the end-to-end tests against a real
# Apache Kafka (KRaft nodes started and stopped by the tests themselves), and
# the observability and deployment checks against a real Prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
SWITCHBOARD_KAFKA_DIR=$(scripts/install-kafka.sh)
export SWITCHBOARD_KAFKA_DIR
scripts/install-test-tools.sh
cargo test --workspace "$@"
