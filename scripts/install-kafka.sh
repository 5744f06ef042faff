#!/usr/bin/env bash
# Installs the test and demo broker, Apache Kafka (KRaft), from the jars the
# Apache Kafka project publishes on Maven Central, and prints the folder it
# is in. Maven verifies every download's checksum; nothing else is fetched.
# Idempotent and offline once cached. Installs Java 17 (Debian's headless
# JRE) and Maven when they are missing.
#
#   scripts/install-kafka.sh            # prints e.g. ~/.cache/switchboard/kafka-4.4.0
#
# The folder holds libs/ (the broker's classpath), log4j2.properties and
# VERSION. The test harness and the demo start nodes from it (the launcher is
# tests/src/harness/kafka/); docker-compose.yml pins the same version, which
# tests/it/deployment.rs checks.
set -euo pipefail

# The one place the broker's version is written.
KAFKA_VERSION=4.4.0

here=$(cd "$(dirname "$0")" && pwd)
cache=${SWITCHBOARD_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard}
dest=$cache/kafka-$KAFKA_VERSION

if [[ "${1:-}" == "--version" ]]; then
  echo "$KAFKA_VERSION"
  exit 0
fi
if [[ -f "$dest/.complete" ]]; then
  echo "$dest"
  exit 0
fi

java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
apt_install() {
  echo "installing from Debian: $*" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! command -v java >/dev/null 2>&1 || (($(java_major) < 17)); then
  apt_install openjdk-17-jre-headless
fi
command -v mvn >/dev/null 2>&1 || apt_install maven

echo "installing Apache Kafka $KAFKA_VERSION from Maven Central into $dest" >&2
mkdir -p "$cache"
staging=$(mktemp -d "$cache/.kafka-$KAFKA_VERSION.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$staging/libs" >&2
cp "$here/kafka/log4j2.properties" "$staging/"
echo "$KAFKA_VERSION" >"$staging/VERSION"
touch "$staging/.complete"
rm -rf "$dest"
mv "$staging" "$dest"
trap - EXIT
echo "$dest"
