#!/bin/sh
# Creates the topics of topics.tsv with Kafka's own kafka-topics.sh, one call per topic. Used by
# the kafka-init service of docker-compose.yml (locally, deploy/kafka/topics does the same in
# one JVM). POSIX sh: the container may not have bash.
#   KAFKA_BOOTSTRAP  broker to talk to (required)
#   TOPICS_TABLE     the table [/fupin/kafka/topics.tsv]
#   KAFKA_BIN        Kafka's scripts [/opt/kafka/bin]
set -eu
bootstrap="${KAFKA_BOOTSTRAP:?KAFKA_BOOTSTRAP is not set}"
table="${TOPICS_TABLE:-/fupin/kafka/topics.tsv}"
bin="${KAFKA_BIN:-/opt/kafka/bin}"

tries=0
until "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --list >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "broker $bootstrap did not answer" >&2
    exit 1
  fi
  sleep 2
done

tab="$(printf '\t')"
while IFS="$tab" read -r topic partitions retention || [ -n "$topic" ]; do
  case "$topic" in
    '' | '#'* | topic) continue ;;
  esac
  "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor 1 \
    --config "retention.ms=$retention"
done <"$table"
echo "topics of $table present on $bootstrap"
