#!/usr/bin/env bash
# The main job, end to end on this machine: a local broker, the gateway, sample
# Genesys Cloud events (as an EventBridge API destination sends them), the
# consumer delivering them to a local downstream that fails some of them, and
# what became of each: delivered, retried, dead-lettered, deduplicated. Then the
# operator's half: the downstream is fixed, the dead letters are re-driven, the
# last minutes are replayed to a downstream that lost them, and one event is
# traced. No Docker needed; everything stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKA_PORT=${DEMO_KAFKA_PORT:-19092}
HTTP_PORT=${DEMO_HTTP_PORT:-18080}
ADMIN_PORT=${DEMO_GATEWAY_ADMIN_PORT:-18082}
DESTINATION_PORT=${DEMO_DESTINATION_PORT:-18081}
CONSUMER_PORT=${DEMO_CONSUMER_METRICS_PORT:-19091}
TOPIC=webhooks
GROUP=crm-sync
BROKERS=127.0.0.1:$KAFKA_PORT
BASE=http://127.0.0.1:$HTTP_PORT
LOGS=target/demo
mkdir -p "$LOGS"

command -v curl >/dev/null || { echo "curl is needed: apt-get install -y curl" >&2; exit 1; }
KAFKA_DIR=$(scripts/install-kafka.sh)
echo "== building (first time: a few minutes, librdkafka is compiled from source)"
cargo build --quiet --bin gateway --bin consumer --bin local-kafka --example peek

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what (logs in $LOGS/)" >&2; exit 1
}

echo "== broker: Apache Kafka $(cat "$KAFKA_DIR/VERSION") (KRaft, one node) on $BROKERS (log in $LOGS/kafka/node-1/kafka.log)"
SWITCHBOARD_KAFKA_DIR=$KAFKA_DIR target/debug/local-kafka --port "$KAFKA_PORT" --dir "$LOGS/kafka" \
  >"$LOGS/local-kafka.out" 2>&1 &
pids+=($!)
# local-kafka prints the bootstrap line once the metadata lists the broker.
wait_for "the broker" grep -q '^bootstrap=' "$LOGS/local-kafka.out"
echo "== topics: consumer topics ensure (main topic + the group's retry, DLT and dedupe topics)"
KAFKA_BROKERS=$BROKERS SWITCHBOARD_TOPIC=$TOPIC target/debug/consumer topics ensure --group "$GROUP" --partitions 3 --execute | sed 's/^/   /'

echo "== gateway on $BASE (logs in $LOGS/gateway.log)"
# The demo's sender is this script, so its one source accepts unauthenticated
# webhooks, written out: a gateway refuses to start with a source that has no
# auth table (deploy/config/gateway.example.toml shows the production shape).
cat >"$LOGS/gateway.toml" <<'TOML'
[sources.genesys]
auth = { scheme = "none" }
TOML
GATEWAY_CONFIG=$LOGS/gateway.toml KAFKA_BROKERS=$BROKERS GATEWAY_LISTEN=127.0.0.1:$HTTP_PORT GATEWAY_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT SWITCHBOARD_TOPIC=$TOPIC \
  target/debug/gateway >"$LOGS/gateway.log" 2>&1 &
gateway=$!
pids+=($gateway)
wait_for "the gateway to be ready" curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz"

post() { # label, file-or-inline-json, [content type]
  local label=$1 data=$2 type=${3:-application/json}
  printf '   %-48s -> ' "$label"
  curl -s -w '  [HTTP %{http_code}]\n' -X POST "$BASE/webhooks/genesys" \
    -H "content-type: $type" --data-binary "$data"
}

# The replay below starts here (one second earlier, to the second).
REPLAY_FROM=$(date -u -d '-1 second' +%Y-%m-%dT%H:%M:%SZ)
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

post "an event the downstream always fails" '{"id":"demo-broken-1","detail-type":"demo","detail":{}}'
post "an event the downstream refuses (422)" '{"id":"demo-rejected-1","detail-type":"demo","detail":{}}'

echo "== what is in Kafka now (read back from topic $TOPIC)"
target/debug/examples/peek "$BROKERS" "$TOPIC" | sed 's/^/   /'

echo "== downstream on 127.0.0.1:$DESTINATION_PORT (fails some events on purpose; see scripts/demo-downstream.py)"
python3 scripts/demo-downstream.py "$DESTINATION_PORT" >"$LOGS/downstream.log" 2>&1 &
pids+=($!)
wait_for "the downstream" bash -c "exec 3<>/dev/tcp/127.0.0.1/$DESTINATION_PORT"

echo "== consumer group $GROUP (retry stages shortened to 2 s and 4 s for the demo; logs in $LOGS/consumer.log)"
start_consumer() { # log file
  KAFKA_BROKERS=$BROKERS SWITCHBOARD_TOPIC=$TOPIC CONSUMER_GROUP=$GROUP \
    DESTINATION_URL=http://127.0.0.1:$DESTINATION_PORT/events RETRY_STAGES=retry-1m=2s,retry-10m=4s \
    CONSUMER_ADMIN_LISTEN=127.0.0.1:$CONSUMER_PORT KAFKA_SESSION_TIMEOUT_MS=6000 KAFKA_HEARTBEAT_INTERVAL_MS=500 \
    target/debug/consumer run >"$1" 2>&1 &
  consumer=$!
  pids+=($consumer)
}
stop_consumer() {
  kill -TERM "$consumer"
  status=0; wait "$consumer" || status=$?
  echo "   consumer exited with status $status"
}
# What an operator types, printed before it runs.
operator() { echo "   \$ $*"; KAFKA_BROKERS=$BROKERS SWITCHBOARD_TOPIC=$TOPIC RETRY_STAGES=retry-1m=2s,retry-10m=4s "target/debug/$@" 2>&1 | sed 's/^/     /'; }
start_consumer "$LOGS/consumer.log"
metric() { # sum of a consumer metric's samples matching a label filter
  curl -s "http://127.0.0.1:$CONSUMER_PORT/metrics" | grep -E "^$1" | grep -E -- "${2:-.}" | awk '{s+=$NF} END {print s+0}'
}
settled() { [ "$(metric switchboard_consumer_events_handled_total 'outcome="delivered"')" -ge 3 ] &&
            [ "$(metric switchboard_consumer_dead_lettered_total)" -ge 2 ]; }
echo "   waiting for deliveries, the retry ladder (2 s + 4 s) and the dead letters..."
for _ in $(seq 1 150); do settled && break; sleep 0.2; done
settled || { echo "the consumer did not settle (logs in $LOGS/)" >&2; exit 1; }

echo "== what the downstream saw (one line per HTTP request)"
sed 's/^/   /' "$LOGS/downstream.log"

echo "== consumer metrics (excerpt of http://127.0.0.1:$CONSUMER_PORT/metrics)"
curl -s "http://127.0.0.1:$CONSUMER_PORT/metrics" |
  grep -E '^switchboard_consumer_(events_handled_total|dead_lettered_total|dedupe_hits_total|retries_scheduled_total)' | sed 's/^/   /'

echo "== the dead-letter topic"
operator consumer dlt list --group "$GROUP"

echo "== the downstream's team ships a fix; the operator re-drives the dead letters"
curl -s -X POST "http://127.0.0.1:$DESTINATION_PORT/fix" >/dev/null
delivered_before=$(metric switchboard_consumer_events_handled_total 'outcome="delivered"')
operator consumer dlt redrive --group "$GROUP" --all --execute
redriven() { [ "$(metric switchboard_consumer_events_handled_total 'outcome="delivered"')" -ge $((delivered_before + 2)) ]; }
for _ in $(seq 1 150); do redriven && break; sleep 0.2; done
redriven || { echo "the re-driven events were not delivered (logs in $LOGS/)" >&2; exit 1; }
echo "   both delivered now:"
grep -E 'demo-(broken|rejected).* -> 200' "$LOGS/downstream.log" | sed 's/^/     /'

echo "== the downstream lost what it acknowledged since $REPLAY_FROM: replay it"
echo "   stopping the consumer with SIGTERM (finishes in-flight work, commits, leaves the group)"
stop_consumer
operator consumer offsets reset --group "$GROUP" --topic main --to-datetime "$REPLAY_FROM" --redeliver --execute
lines_before=$(wc -l <"$LOGS/downstream.log")
start_consumer "$LOGS/consumer-2.log"
replayed() { [ "$(metric switchboard_consumer_events_handled_total 'outcome="delivered"')" -ge 5 ] 2>/dev/null; }
for _ in $(seq 1 150); do replayed && break; sleep 0.2; done
replayed || { echo "the replay was not delivered (logs in $LOGS/consumer-2.log)" >&2; exit 1; }
echo "   the downstream receives each event of the range once more (the sender's retry in it too, once):"
tail -n +"$((lines_before + 1))" "$LOGS/downstream.log" | sed 's/^/     /'

echo "== what happened to the presence event? (retried, delivered, replayed, delivered again)"
operator consumer events trace --group "$GROUP" --source genesys --id 5e6f7081-9203-4a4b-b5c6-d7e8f9011223

echo "== stopping the consumer with SIGTERM"
stop_consumer

echo "== gateway metrics (excerpt of http://127.0.0.1:$ADMIN_PORT/metrics, the admin port)"
curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E '^switchboard_gateway_(requests_total|events_accepted_total)' | sed 's/^/   /'

echo "== stopping the gateway with SIGTERM (drains in-flight requests, flushes the producer)"
kill -TERM "$gateway"
status=0; wait "$gateway" || status=$?
echo "   gateway exited with status $status"
echo "== done. Dashboards, alert rules, Dockerfile, docker-compose.yml and Kubernetes manifests are in deploy/ (docs/production.md)."
