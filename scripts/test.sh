#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the end-to-end tests against a real
# tansu broker, which the tests start and stop themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
TANSU_BIN=$(scripts/install-broker.sh)
export TANSU_BIN
cargo test --workspace "$@"
