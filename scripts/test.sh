#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the end-to-end tests against a real
# tansu broker, and the observability and deployment checks against a real
# Prometheus (all started and stopped by the tests themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
TANSU_BIN=$(scripts/install-broker.sh)
export TANSU_BIN
scripts/install-test-tools.sh
cargo test --workspace "$@"
