#!/usr/bin/env bash
# The main job, end to end on this machine: a local broker, the gateway, and
# sample Genesys Cloud events (as an EventBridge API destination sends them),
# showing where each landed in Kafka. No Docker needed; everything stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKA_PORT=${DEMO_KAFKA_PORT:-19092}
HTTP_PORT=${DEMO_HTTP_PORT:-18080}
TOPIC=webhooks
BROKERS=127.0.0.1:$KAFKA_PORT
BASE=http://127.0.0.1:$HTTP_PORT
LOGS=target/demo
mkdir -p "$LOGS"

command -v curl >/dev/null || { echo "curl is needed: apt-get install -y curl" >&2; exit 1; }
TANSU=$(scripts/install-broker.sh)
echo "== building (first time: a few minutes, librdkafka is compiled from source)"
cargo build --quiet --bin gateway --example peek

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what (logs in $LOGS/)" >&2; exit 1
}

echo "== broker: tansu on $BROKERS (memory engine, logs in $LOGS/broker.log)"
"$TANSU" broker --storage-engine memory://tansu/ \
  --listener-url "tcp://$BROKERS" --advertised-listener-url "tcp://$BROKERS" >"$LOGS/broker.log" 2>&1 &
pids+=($!)
wait_for "the broker" bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT"
"$TANSU" topic create --broker "tcp://$BROKERS" --partitions 3 "$TOPIC" >/dev/null
echo "   topic $TOPIC created with 3 partitions"

echo "== gateway on $BASE (logs in $LOGS/gateway.log)"
KAFKA_BROKERS=$BROKERS GATEWAY_LISTEN=127.0.0.1:$HTTP_PORT SWITCHBOARD_TOPIC=$TOPIC \
  target/debug/gateway >"$LOGS/gateway.log" 2>&1 &
gateway=$!
pids+=($gateway)
wait_for "the gateway to be ready" curl -sf "$BASE/readyz"

post() { # label, file-or-inline-json, [content type]
  local label=$1 data=$2 type=${3:-application/json}
  printf '   %-48s -> ' "$label"
  curl -s -w '  [HTTP %{http_code}]\n' -X POST "$BASE/webhooks/genesys" \
    -H "content-type: $type" --data-binary "$data"
}

echo "== sample Genesys Cloud events, answered 202 only once Kafka acknowledged them"
post "conversation customer end (EventBridge)" @tests/fixtures/genesys/eventbridge-conversation-customer-end.json
post "user presence audit (EventBridge)" @tests/fixtures/genesys/eventbridge-user-presence-audit.json
post "user activity (bare notification, no id)" @tests/fixtures/genesys/notification-user-activity.json
post "the sender retries the first event" @tests/fixtures/genesys/eventbridge-conversation-customer-end.json
echo "   (a retry keeps its event id, so it lands on the same partition; the consumer drops the duplicate)"

echo "== bad input gets a specific status and a problem+json body"
post "malformed JSON" '{"id": "x", '
post "not JSON" 'hello' text/plain
printf '   %-48s -> ' "unknown source"
curl -s -w '  [HTTP %{http_code}]\n' -X POST "$BASE/webhooks/nobody" -H 'content-type: application/json' -d '{}'

echo "== what is in Kafka now (read back from topic $TOPIC)"
target/debug/examples/peek "$BROKERS" "$TOPIC" | sed 's/^/   /'

echo "== gateway metrics (excerpt of $BASE/metrics)"
curl -s "$BASE/metrics" | grep -E '^switchboard_gateway_(requests_total|events_accepted_total)' | sed 's/^/   /'

echo "== stopping the gateway with SIGTERM (drains in-flight requests, flushes the producer)"
kill -TERM "$gateway"
status=0; wait "$gateway" || status=$?
echo "   gateway exited with status $status"
echo "== done. Not built yet: the consumer (delivery, retries, DLT) and operations commands; see README."
