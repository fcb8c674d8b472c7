# shellcheck shell=bash
# Kafka helpers shared by deploy/kafka/broker and deploy/kafka/topics. Source it after
# deploy/local/lib.sh; do not run it.
#
# The broker runs from Maven Central jars: deploy/kafka/pom.xml pins the version and
# `mvn dependency:copy-dependencies` copies the runtime classpath into
# $FUPIN_CACHE/kafka-<version>/libs once (again only when the pom changes).

KAFKA_DEPLOY_DIR="$FUPIN_ROOT/deploy/kafka"
KAFKA_POM="$KAFKA_DEPLOY_DIR/pom.xml"

kafka_version() {
  sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$KAFKA_POM" | head -n1
}

KAFKA_VERSION="$(kafka_version)"
[[ -n "$KAFKA_VERSION" ]] || die "no <kafka.version> in $KAFKA_POM"
KAFKA_HOME_CACHE="$FUPIN_CACHE/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME_CACHE/libs"

_sha256() { sha256sum <"$1" | cut -c1-16; }

# kafka_runtime: makes sure the jars of the pinned version and the compiled admin helper are
# in the cache. Safe to call from several processes at once (flock).
kafka_runtime() {
  local pom_sum admin_sum tmp
  ensure_java
  mkdir -p "$KAFKA_HOME_CACHE"
  pom_sum="$(_sha256 "$KAFKA_POM")"
  admin_sum="$(_sha256 "$KAFKA_DEPLOY_DIR/KafkaAdmin.java")"
  KAFKA_ADMIN_CLASSES="$KAFKA_HOME_CACHE/admin-$admin_sum"
  (
    flock 9
    if [[ "$(cat "$KAFKA_HOME_CACHE/libs.sum" 2>/dev/null)" != "$pom_sum" ]]; then
      log "kafka: resolving Apache Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS"
      tmp="$KAFKA_HOME_CACHE/libs.tmp"
      rm -rf "$tmp"
      if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" >"$KAFKA_HOME_CACHE/mvn.log" 2>&1; then
        tail -n 30 "$KAFKA_HOME_CACHE/mvn.log" >&2
        die "Maven could not resolve the Kafka jars (full output: $KAFKA_HOME_CACHE/mvn.log)"
      fi
      rm -rf "$KAFKA_LIBS"
      mv "$tmp" "$KAFKA_LIBS"
      printf '%s\n' "$pom_sum" >"$KAFKA_HOME_CACHE/libs.sum"
      rm -rf "$KAFKA_HOME_CACHE"/admin-*
      log "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1)"
    fi
    if [[ ! -f "$KAFKA_ADMIN_CLASSES/KafkaAdmin.class" ]]; then
      rm -rf "$KAFKA_ADMIN_CLASSES.tmp"
      mkdir -p "$KAFKA_ADMIN_CLASSES.tmp"
      javac -nowarn -cp "$KAFKA_LIBS/*" -d "$KAFKA_ADMIN_CLASSES.tmp" \
        "$KAFKA_DEPLOY_DIR/KafkaAdmin.java" >&2 || die "compiling KafkaAdmin.java failed"
      mv "$KAFKA_ADMIN_CLASSES.tmp" "$KAFKA_ADMIN_CLASSES"
    fi
  ) 9>"$KAFKA_HOME_CACHE/.lock"
}

# kafka_java ARGS...: a short-lived JVM on the Kafka classpath (tools, admin helper).
kafka_java() {
  java -Xms32m -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DEPLOY_DIR/log4j2-tools.xml" \
    -cp "$KAFKA_ADMIN_CLASSES:$KAFKA_LIBS/*" "$@"
}

# kafka_admin ready|create|list BOOTSTRAP ...: see KafkaAdmin.java.
kafka_admin() { kafka_java KafkaAdmin "$@"; }
