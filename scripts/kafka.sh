#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) for development and CI, on 127.0.0.1:9092.
#   scripts/kafka.sh start|stop|status|fetch
# The broker's jars come from Maven Central (org.apache.kafka:kafka_2.13) through mvn and
# are kept in .cache/kafka/<version>; data and log live in .cache/kafka/run.
# Settings: KAFKA_VERSION (default 4.1.1), KAFKA_PORT (9092), KAFKA_HOME_DIR (.cache/kafka).
set -euo pipefail

VERSION="${KAFKA_VERSION:-4.1.1}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME_DIR="${KAFKA_HOME_DIR:-$ROOT/.cache/kafka}"
LIB="$HOME_DIR/$VERSION/lib"
RUN="$HOME_DIR/run-$PORT"
PID_FILE="$RUN/kafka.pid"
LOG="$RUN/kafka.log"

fail() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
  [[ -f "$LIB/.complete" ]] && return 0
  command -v mvn >/dev/null || fail "mvn is not installed: it fetches Kafka $VERSION from Maven Central"
  command -v java >/dev/null || fail "java (17 or newer) is not installed"
  echo "kafka.sh: fetching org.apache.kafka:kafka_2.13:$VERSION with mvn into $LIB"
  local pom_dir; pom_dir="$(mktemp -d)"
  cat > "$pom_dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>b2b-etl</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$LIB.partial" && mkdir -p "$LIB.partial"
  mvn -q -B -f "$pom_dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$LIB.partial" || fail "mvn could not fetch Kafka $VERSION (see above)"
  rm -rf "$pom_dir" "$LIB" && mv "$LIB.partial" "$LIB" && touch "$LIB/.complete"
}

running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

start() {
  if running; then echo "kafka.sh: already running (pid $(cat "$PID_FILE")) on 127.0.0.1:$PORT"; return 0; fi
  answers && fail "127.0.0.1:$PORT is taken by another process"
  fetch
  mkdir -p "$RUN"
  cat > "$RUN/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$RUN/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat > "$RUN/log4j2.properties" <<'L4J'
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=OUT
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
L4J
  local cp="$LIB/*"
  if [[ ! -f "$RUN/data/meta.properties" ]]; then
    java -cp "$cp" -Dlog4j2.configurationFile="$RUN/log4j2.properties" kafka.tools.StorageTool format \
      -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid)" -c "$RUN/server.properties" >"$RUN/format.log" 2>&1 \
      || { cat "$RUN/format.log" >&2; fail "could not format KRaft storage in $RUN/data"; }
  fi
  nohup java -Xms256m -Xmx768m -cp "$cp" -Dlog4j2.configurationFile="$RUN/log4j2.properties" \
    kafka.Kafka "$RUN/server.properties" >"$LOG" 2>&1 &
  echo $! > "$PID_FILE"
  for _ in $(seq 1 120); do
    if grep -q "Kafka Server started" "$LOG" 2>/dev/null && answers; then
      echo "kafka.sh: Kafka $VERSION is up on 127.0.0.1:$PORT (pid $(cat "$PID_FILE"), log $LOG)"; return 0
    fi
    running || { tail -n 30 "$LOG" >&2; fail "the broker exited during start; its log is $LOG"; }
    sleep 0.5
  done
  tail -n 30 "$LOG" >&2; fail "the broker did not answer on 127.0.0.1:$PORT within 60 s"
}

stop() {
  if ! running; then echo "kafka.sh: not running"; rm -f "$PID_FILE"; return 0; fi
  local pid; pid="$(cat "$PID_FILE")"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; echo "kafka.sh: stopped"; return 0; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$PID_FILE"; echo "kafka.sh: killed after 30 s"
}

status() {
  if running && answers; then echo "kafka.sh: running (pid $(cat "$PID_FILE")) on 127.0.0.1:$PORT"
  elif answers; then echo "kafka.sh: something this script did not start answers on 127.0.0.1:$PORT"
  else echo "kafka.sh: not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  fetch) fetch ;;
  *) echo "usage: scripts/kafka.sh start|stop|status|fetch" >&2; exit 2 ;;
esac
