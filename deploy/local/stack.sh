#!/usr/bin/env bash
# Badgestream local stack without Docker: Kafka (KRaft, one node), Apicurio Registry 3, a private
# PostgreSQL cluster and FerretDB (MongoDB wire protocol, on that PostgreSQL; FERRETDB_HANDLER=sqlite
# for the older SQLite backend) as local processes on 127.0.0.1.
#
#   bash deploy/local/stack.sh up|down|status|env
#   bash deploy/local/stack.sh start|stop|restart <kafka|registry|postgres|ferretdb>
#   bash deploy/local/stack.sh logs <component>      # tail -f its log
#   bash deploy/local/stack.sh reset                 # down, then delete .stack/data
#   bash deploy/local/stack.sh install               # only download/build what is missing
#
# Everything it runs lives under .stack/ (logs, pids, data, rendered configs); downloads and
# builds are cached under ${BADGESTREAM_CACHE_DIR:-~/.cache/badgestream}, keyed by version.
# Options (environment variables) are documented in deploy/local/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
STACK_DIR=${BADGESTREAM_STACK_DIR:-$REPO_ROOT/.stack}
CACHE_DIR=${BADGESTREAM_CACHE_DIR:-$HOME/.cache/badgestream}

KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
LOG4J_VERSION=${LOG4J_VERSION:-2.26.1}
# The registry's version is chosen by select_registry (below) from the Javas found: APICURIO_VERSION
# (3.3.3, Java 21+) when one is, else APICURIO_FALLBACK_VERSION (3.0.9, Java 17+). Setting
# APICURIO_VERSION explicitly pins it (no fallback).
APICURIO_VERSION_PINNED=${APICURIO_VERSION:+yes}
APICURIO_VERSION=${APICURIO_VERSION:-3.3.3}
APICURIO_FALLBACK_VERSION=${APICURIO_FALLBACK_VERSION:-3.0.9}
MAVEN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
FERRETDB_MODULE_DIR=$SCRIPT_DIR/ferretdb
FERRETDB_VERSION=$(awk '$1 == "github.com/FerretDB/FerretDB" { print $2; exit }' "$FERRETDB_MODULE_DIR/go.mod")

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
REGISTRY_PORT=${REGISTRY_PORT:-8081}
REGISTRY_MANAGEMENT_PORT=${REGISTRY_MANAGEMENT_PORT:-9000}
MONGODB_PORT=${MONGODB_PORT:-27017}
MONGODB_DATABASE=${MONGODB_DATABASE:-badgestream}
POSTGRES_PORT=${POSTGRES_PORT:-54329}

# FerretDB's backend: pg (default; the private PostgreSQL cluster, component `postgres`) or sqlite.
case "${FERRETDB_HANDLER:-pg}" in
  pg | postgres | postgresql) FERRETDB_HANDLER=pg ;;
  sqlite) FERRETDB_HANDLER=sqlite ;;
  *) printf '[stack] ERROR: FERRETDB_HANDLER=%s: expected pg or sqlite\n' "$FERRETDB_HANDLER" >&2; exit 1 ;;
esac
# The superuser and database FerretDB uses inside that cluster (trust auth, loopback only).
POSTGRES_SUPERUSER=postgres
POSTGRES_DATABASE=ferretdb
# pool_max_conns: FerretDB's own default is 50, and FerretDB 1.24 stops answering for good when all
# of its connections are taken (an operation holds one while it waits for another); two criteria
# consumers, a dispatcher each and a test process reached that at 50. PostgreSQL allows 150.
FERRETDB_POOL_MAX_CONNS=${FERRETDB_POOL_MAX_CONNS:-120}
FERRETDB_POSTGRESQL_URL=postgres://$POSTGRES_SUPERUSER@127.0.0.1:$POSTGRES_PORT/$POSTGRES_DATABASE?pool_max_conns=$FERRETDB_POOL_MAX_CONNS

STACK_TIMEOUT=${STACK_TIMEOUT:-180}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
REGISTRY_HEAP_OPTS=${REGISTRY_HEAP_OPTS:--Xms64m -Xmx512m}

# In start order; `down` stops in reverse (ferretdb first, then postgres, registry, kafka).
COMPONENTS=(kafka registry postgres ferretdb)

LOG_DIR=$STACK_DIR/logs
RUN_DIR=$STACK_DIR/run
DATA_DIR=$STACK_DIR/data
CONF_DIR=$STACK_DIR/conf

KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
APICURIO_HOME= # set by select_registry, with REGISTRY_JAVA and REGISTRY_JAVA_MAJOR
FERRETDB_HOME=$CACHE_DIR/ferretdb-$FERRETDB_VERSION

# ----------------------------------------------------------------------------------------------
# Output helpers: progress goes to stderr, only the exports go to stdout.

say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

print_env() {
  printf 'export KAFKA_BROKERS=127.0.0.1:%s\n' "$KAFKA_PORT"
  printf 'export SCHEMA_REGISTRY_URL=http://127.0.0.1:%s/apis/ccompat/v7\n' "$REGISTRY_PORT"
  printf 'export MONGODB_URI=mongodb://127.0.0.1:%s/%s\n' "$MONGODB_PORT" "$MONGODB_DATABASE"
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH ($2)"
}

canonical_component() {
  case "${1:-}" in
    kafka) echo kafka ;;
    registry | apicurio | schema-registry) echo registry ;;
    postgres | postgresql | pg) echo postgres ;;
    ferretdb | mongodb | mongo) echo ferretdb ;;
    *) die "unknown component '${1:-}' (expected one of: ${COMPONENTS[*]})" ;;
  esac
}

# ----------------------------------------------------------------------------------------------
# Processes: pid files + a signature in the command line, so that a recycled pid is never ours.

pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

signature() {
  case "$1" in
    kafka | registry) echo "-Dbadgestream.stack=$1:$STACK_DIR" ;;
    ferretdb) echo "--state-dir=$DATA_DIR/ferretdb-state" ;;
    # The postmaster keeps its command line (its children retitle themselves); the trailing space
    # is the argument separator of cmdline_of, so data/postgres2 would not match.
    postgres) echo "-D $DATA_DIR/postgres " ;;
  esac
}

cmdline_of() {
  local pid=$1
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true
  else
    ps -p "$pid" -o args= 2>/dev/null || true
  fi
}

# Prints the pid of the component if a process we started is alive, else nothing (status 1).
owned_pid() {
  local c=$1 file pid
  file=$(pid_file "$c")
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ $(cmdline_of "$pid") == *"$(signature "$c")"* ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

who_listens() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | awk '{ print $NF }' | head -1
  elif command -v lsof >/dev/null 2>&1; then
    lsof -nP -iTCP:"$1" -sTCP:LISTEN 2>/dev/null | awk 'NR == 2 { print $1 " pid " $2 }'
  fi
}

ports_of() {
  case "$1" in
    kafka) echo "KAFKA_PORT=$KAFKA_PORT KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" ;;
    registry)
      select_registry
      if registry_has_management_port; then
        echo "REGISTRY_PORT=$REGISTRY_PORT REGISTRY_MANAGEMENT_PORT=$REGISTRY_MANAGEMENT_PORT"
      else
        echo "REGISTRY_PORT=$REGISTRY_PORT"
      fi
      ;;
    ferretdb) echo "MONGODB_PORT=$MONGODB_PORT" ;;
    postgres) echo "POSTGRES_PORT=$POSTGRES_PORT" ;;
  esac
}

check_ports_free() {
  local c=$1 entry name port who
  [[ $c == registry ]] && select_registry # here, not in the $(ports_of) subshell: it may die
  for entry in $(ports_of "$c"); do
    name=${entry%%=*}
    port=${entry#*=}
    if port_open "$port"; then
      who=$(who_listens "$port")
      die "$c: port $port ($name) is already in use${who:+ by $who}; stop that process or set $name to another port"
    fi
  done
}

# Starts "$@" detached (own session, stdin closed, output appended to the log) and records its pid.
spawn() {
  local c=$1 log
  shift
  log=$(log_file "$c")
  if command -v setsid >/dev/null 2>&1; then
    (cd "$STACK_DIR" && exec setsid "$@") </dev/null >>"$log" 2>&1 &
  else
    (cd "$STACK_DIR" && exec nohup "$@") </dev/null >>"$log" 2>&1 &
  fi
  echo $! >"$(pid_file "$c")"
}

rotate_log() {
  local log
  log=$(log_file "$1")
  [[ -f $log ]] && mv -f "$log" "$log.1"
  : >"$log"
}

# ----------------------------------------------------------------------------------------------
# Installation (cached under $CACHE_DIR, keyed by version; a stamp file records what was built).

stamp_ok() { [[ -f $1/.badgestream-stamp && $(<"$1/.badgestream-stamp") == "$2" ]]; }

file_hash() { cat "$@" | sha256sum | cut -c1-16; }

# Maven, quiet; its output goes to .stack/logs/install.log and is shown only when it fails.
run_mvn() {
  local what=$1 log=$LOG_DIR/install.log
  shift
  need mvn "Maven fetches $what from Maven Central"
  if ! mvn -B -q -Dstyle.color=never "$@" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2 || true
    die "Maven could not fetch $what; see $log"
  fi
}

install_kafka() {
  local key
  key="kafka=$KAFKA_VERSION log4j=$LOG4J_VERSION pom=$(file_hash "$SCRIPT_DIR/kafka/pom.xml")"
  stamp_ok "$KAFKA_HOME" "$key" && return 0
  say "kafka: fetching kafka_2.13 $KAFKA_VERSION and its runtime jars from Maven Central"
  rm -rf "$KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  cp "$SCRIPT_DIR/kafka/pom.xml" "$KAFKA_HOME/pom.xml"
  run_mvn "org.apache.kafka:kafka_2.13:$KAFKA_VERSION" -f "$KAFKA_HOME/pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    "$MAVEN_DEPENDENCY_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/lib"
  ls "$KAFKA_HOME"/lib/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: no kafka_2.13 jar in $KAFKA_HOME/lib"
  echo "$key" >"$KAFKA_HOME/.badgestream-stamp"
}

install_registry() {
  local key tmp download
  select_registry
  key="apicurio-registry-app=$APICURIO_VERSION"
  stamp_ok "$APICURIO_HOME" "$key" && return 0
  need tar "to unpack the Apicurio Registry distribution"
  say "registry: fetching io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all from Maven Central"
  tmp=$APICURIO_HOME.tmp
  rm -rf "$APICURIO_HOME" "$tmp"
  mkdir -p "$tmp/download"
  # dependency:copy resolves through the local repository (~/.m2 or settings.xml), then copies.
  # registry/pom.xml adds a stand-in for 3.0.9's parent POM, which Central does not serve here.
  run_mvn "io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -f "$SCRIPT_DIR/registry/pom.xml" "$MAVEN_DEPENDENCY_PLUGIN:copy" \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$tmp/download"
  download=$(ls "$tmp"/download/*.tar.gz)
  tar -xzf "$download" -C "$tmp"
  rm -rf "$tmp/download"
  registry_jar_in "$tmp" >/dev/null || die "registry: neither quarkus-run.jar nor *-runner.jar inside the $APICURIO_VERSION distribution"
  echo "$key" >"$tmp/.badgestream-stamp"
  mv "$tmp" "$APICURIO_HOME"
}

# The 3.3.3 tarball unpacks flat as a Quarkus fast-jar (quarkus-run.jar at the top); 3.0.9 is a
# legacy-jar (apicurio-registry-app-3.0.9-runner.jar + lib/ at the top); others may use quarkus-app/.
registry_jar_in() {
  local dir=$1 jar
  for jar in "$dir/quarkus-run.jar" "$dir/quarkus-app/quarkus-run.jar" "$dir"/*-runner.jar; do
    [[ -f $jar ]] && { echo "$jar"; return 0; }
  done
  jar=$(find "$dir" -maxdepth 3 \( -name quarkus-run.jar -o -name '*-runner.jar' \) -print -quit 2>/dev/null)
  [[ -n $jar ]] && { echo "$jar"; return 0; }
  return 1
}

# FerretDB is built from the Go module committed in deploy/local/ferretdb (tool directive +
# go.sum, so every dependency is pinned and checked). Building cmd/ferretdb straight from the
# module cache panics at start ("Invalid build/version/version.txt"): that file is generated by
# FerretDB's release tooling and absent from the module zip. So the build copies the FerretDB
# module source next to a copy of go.mod, adds build/version/version.txt, and points a replace
# directive at the copy. Everything else comes from the Go module proxy, checked against go.sum.
install_ferretdb() {
  local key build src
  [[ -n $FERRETDB_VERSION ]] || die "ferretdb: no github.com/FerretDB/FerretDB requirement in $FERRETDB_MODULE_DIR/go.mod"
  key="ferretdb=$FERRETDB_VERSION module=$(file_hash "$FERRETDB_MODULE_DIR/go.mod" "$FERRETDB_MODULE_DIR/go.sum")"
  stamp_ok "$FERRETDB_HOME" "$key" && [[ -x $FERRETDB_HOME/bin/ferretdb ]] && return 0
  need go "FerretDB is built with Go (>= 1.24 for the tool directive) through the Go module proxy"
  say "ferretdb: building FerretDB $FERRETDB_VERSION with $(go version | awk '{ print $3 }') (first build takes a few minutes on 2 cores)"
  rm -rf "$FERRETDB_HOME"
  build=$FERRETDB_HOME/build
  mkdir -p "$build"
  cp "$FERRETDB_MODULE_DIR/go.mod" "$FERRETDB_MODULE_DIR/go.sum" "$build/"
  (
    cd "$build"
    export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
    go mod download github.com/FerretDB/FerretDB
    src=$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)
    [[ -d $src ]] || die "ferretdb: go mod download did not produce the FerretDB module source"
    cp -R "$src" ferretdb-src
    chmod -R u+w ferretdb-src
    echo "$FERRETDB_VERSION" >ferretdb-src/build/version/version.txt
    echo "badgestream-local" >ferretdb-src/build/version/package.txt
    go mod edit -replace github.com/FerretDB/FerretDB=./ferretdb-src
    GOBIN=$FERRETDB_HOME/bin go install -buildvcs=false -trimpath -ldflags='-s -w' \
      github.com/FerretDB/FerretDB/cmd/ferretdb
  )
  "$FERRETDB_HOME/bin/ferretdb" --version >/dev/null || die "ferretdb: the built binary does not run"
  rm -rf "$build"
  echo "$key" >"$FERRETDB_HOME/.badgestream-stamp"
}

# PostgreSQL comes from the system (Debian's `postgresql` package), not from the cache: the server
# binaries live in /usr/lib/postgresql/<major>/bin, which is not on PATH. POSTGRES_BINDIR overrides.
postgres_bindir() {
  local dir candidates=()
  if [[ -n ${POSTGRES_BINDIR:-} ]]; then
    candidates=("$POSTGRES_BINDIR")
  else
    # Newest major first (sorted on the version folder), then whatever pg_config names.
    mapfile -t candidates < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -V -r)
    if command -v pg_config >/dev/null 2>&1; then
      candidates+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
  fi
  for dir in "${candidates[@]}"; do
    if [[ -n $dir && -x $dir/postgres && -x $dir/initdb && -x $dir/pg_isready && -x $dir/psql ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

postgres_version() { "$1/postgres" --version 2>/dev/null | awk '{ print $3 }'; }

APT_UPDATED=
apt_install() {
  local log=$LOG_DIR/install.log
  if [[ -z $APT_UPDATED ]]; then
    apt-get update -qq >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get update failed; see $log"; }
    APT_UPDATED=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "apt-get install $* failed; see $log"; }
}

install_postgres() {
  local dropin=/etc/postgresql-common/createcluster.d/badgestream.conf
  postgres_bindir >/dev/null && return 0
  [[ -z ${POSTGRES_BINDIR:-} ]] || die "postgres: POSTGRES_BINDIR=$POSTGRES_BINDIR lacks postgres, initdb, pg_isready or psql"
  if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
    die "postgres: no PostgreSQL server found (looked for /usr/lib/postgresql/*/bin/postgres and \`pg_config --bindir\`). Install Debian's package 'postgresql' (sudo apt-get install postgresql), or set POSTGRES_BINDIR to a folder with postgres, initdb, pg_isready and psql, or run FerretDB on SQLite with FERRETDB_HANDLER=sqlite"
  fi
  # Debian's package creates and starts a system cluster `main` on 5432 when postgresql-common is
  # installed fresh. The stack never uses it (its own cluster is on POSTGRES_PORT), so ask
  # postgresql-common not to create it (createcluster.conf includes createcluster.d/*.conf).
  if [[ ! -e /etc/postgresql-common/createcluster.conf && ! -e $dropin ]]; then
    mkdir -p "${dropin%/*}"
    printf '%s\n' "# Written by Badgestream's deploy/local/stack.sh when it installed PostgreSQL: its local" \
      "# stack runs a private cluster, so no system 'main' cluster on 5432. Delete to get the default." \
      "create_main_cluster = false" >"$dropin"
  fi
  say "postgres: no PostgreSQL server found; installing Debian's package 'postgresql' (apt-get, log in $LOG_DIR/install.log)"
  apt_install postgresql
  postgres_bindir >/dev/null || die "postgres: 'postgresql' installed, but still no /usr/lib/postgresql/*/bin/postgres"
}

install_component() { "install_$1"; }

# ----------------------------------------------------------------------------------------------
# Java: Kafka runs on the default java (17+). Apicurio Registry 3.3.x is compiled for Java 21
# (class file 65) and fails on 17 with UnsupportedClassVersionError; 3.0.x is compiled for 17
# (class file 61). select_registry picks the registry's version and Java once per invocation:
#   - REGISTRY_JAVA_HOME set: that Java and nothing else (set it to a JDK 17 to force the fallback);
#   - else the first suitable among JAVA_HOME, PATH, /usr/lib/jvm/* (newest first);
#   - APICURIO_VERSION pinned: a Java >= its minimum, or die;
#   - else APICURIO_VERSION (3.3.3) on a Java >= 21 if there is one, otherwise
#     APICURIO_FALLBACK_VERSION (3.0.9) on a Java >= 17, saying which and why.

java_major() {
  local v
  v=$("$1" -version 2>&1 | awk -F'"' '/version "/ { print $2; exit }') || return 1
  v=${v#1.} # 1.8.0 -> 8.0
  echo "${v%%[.+-]*}"
}

min_java_for() {
  case "$1" in
    2.* | 3.0.*) echo 17 ;;
    *) echo 21 ;;
  esac
}

# 3.3.x is built with the Quarkus management interface (health on its own port); 3.0.x is not
# (health on the HTTP port).
registry_has_management_port() {
  case "$APICURIO_VERSION" in
    2.* | 3.0.*) return 1 ;;
    *) return 0 ;;
  esac
}

java_candidates() {
  if [[ -n ${REGISTRY_JAVA_HOME:-} ]]; then
    echo "$REGISTRY_JAVA_HOME/bin/java"
    return 0
  fi
  [[ -n ${JAVA_HOME:-} ]] && echo "$JAVA_HOME/bin/java"
  command -v java 2>/dev/null || true
  # Newest first: sort the JDK folders by the version number in their names.
  ls -d /usr/lib/jvm/*/bin/java /Library/Java/JavaVirtualMachines/*/Contents/Home/bin/java 2>/dev/null |
    sort -t- -k2,2nr -V -r
}

# Prints "<major> <java>" for the first candidate with major >= $1, else fails.
find_java_at_least() {
  local min=$1 candidate major
  while IFS= read -r candidate; do
    [[ -x $candidate ]] || continue
    major=$(java_major "$candidate") || continue
    [[ $major =~ ^[0-9]+$ ]] && ((major >= min)) && { echo "$major $candidate"; return 0; }
  done < <(java_candidates)
  return 1
}

REGISTRY_JAVA=
REGISTRY_JAVA_MAJOR=
REGISTRY_CHOICE=

select_registry() {
  [[ -n $APICURIO_HOME ]] && return 0
  local found min where fallback_min
  if [[ -n ${REGISTRY_JAVA_HOME:-} ]]; then
    [[ -x $REGISTRY_JAVA_HOME/bin/java ]] || die "registry: REGISTRY_JAVA_HOME=$REGISTRY_JAVA_HOME has no bin/java"
    where="REGISTRY_JAVA_HOME=$REGISTRY_JAVA_HOME"
  else
    where="JAVA_HOME, PATH, /usr/lib/jvm"
  fi
  min=$(min_java_for "$APICURIO_VERSION")
  if found=$(find_java_at_least "$min"); then
    REGISTRY_CHOICE="Apicurio Registry $APICURIO_VERSION on Java ${found%% *} (${found#* })"
    [[ -n $APICURIO_VERSION_PINNED ]] && REGISTRY_CHOICE+=", APICURIO_VERSION set"
  elif [[ -n $APICURIO_VERSION_PINNED ]]; then
    die "registry: Apicurio Registry $APICURIO_VERSION (APICURIO_VERSION) needs Java >= $min and none was found in $where. Install a JDK $min+ and set REGISTRY_JAVA_HOME, or unset APICURIO_VERSION to let the stack fall back to $APICURIO_FALLBACK_VERSION (Java $(min_java_for "$APICURIO_FALLBACK_VERSION")+)"
  else
    fallback_min=$(min_java_for "$APICURIO_FALLBACK_VERSION")
    found=$(find_java_at_least "$fallback_min") ||
      die "registry: no Java >= $fallback_min found in $where: Apicurio Registry $APICURIO_VERSION needs Java $min+, the fallback $APICURIO_FALLBACK_VERSION needs Java $fallback_min+"
    REGISTRY_CHOICE="Apicurio Registry $APICURIO_FALLBACK_VERSION on Java ${found%% *} (${found#* }): FALLBACK, no Java >= $min in $where for $APICURIO_VERSION"
    APICURIO_VERSION=$APICURIO_FALLBACK_VERSION
  fi
  REGISTRY_JAVA_MAJOR=${found%% *}
  REGISTRY_JAVA=${found#* }
  APICURIO_HOME=$CACHE_DIR/apicurio-registry-$APICURIO_VERSION
}

# ----------------------------------------------------------------------------------------------
# Starting and readiness.

# Prints a new Kafka cluster id: 16 random bytes in URL-safe base64 without padding. One that
# begins with '-' would be read by the storage tool as an option (Kafka's own random-uuid never
# yields one), so it draws again until it does not (1 draw in 64 would).
new_kafka_cluster_id() {
  local id=-
  while [[ $id == -* ]]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  printf '%s\n' "$id"
}

start_kafka() {
  local conf_dir=$CONF_DIR/kafka data=$DATA_DIR/kafka cluster_id
  need java "Kafka runs on Java 17+"
  mkdir -p "$conf_dir" "$data"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@KAFKA_DATA_DIR@|$data|g" \
    "$SCRIPT_DIR/kafka/server.properties.template" >"$conf_dir/server.properties"
  cp "$SCRIPT_DIR/kafka/log4j2.properties" "$conf_dir/log4j2.properties"
  if [[ ! -f $data/meta.properties ]]; then
    cluster_id=$(new_kafka_cluster_id)
    say "kafka: formatting storage in $data (cluster id $cluster_id)"
    java -Xmx256m -Dlog4j2.configurationFile="file:$conf_dir/log4j2.properties" \
      -cp "$KAFKA_HOME/lib/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$conf_dir/server.properties" --ignore-formatted \
      >"$LOG_DIR/kafka-format.log" 2>&1 ||
      die "kafka: formatting storage failed, see $LOG_DIR/kafka-format.log"
  fi
  rotate_log kafka
  # shellcheck disable=SC2086 # heap options are a list on purpose
  spawn kafka java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "$(signature kafka)" \
    -Dlog4j2.configurationFile="file:$conf_dir/log4j2.properties" \
    -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$conf_dir/server.properties"
}

kafka_ready() {
  port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$(log_file kafka)"
}

start_registry() {
  local jar data=$DATA_DIR/registry management=()
  select_registry
  jar=$(registry_jar_in "$APICURIO_HOME") || die "registry: no quarkus-run.jar or *-runner.jar under $APICURIO_HOME"
  mkdir -p "$data" "$STACK_DIR/tmp"
  check_registry_data "$data"
  say "registry: $REGISTRY_CHOICE"
  if registry_has_management_port; then
    management=(-Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT")
  fi
  rotate_log registry
  printf '%s\n' "$APICURIO_VERSION" "$REGISTRY_JAVA_MAJOR" "$REGISTRY_JAVA" >"$RUN_DIR/registry.version"
  # H2 on a file under .stack/data/registry, so schema ids survive a restart like Kafka's data
  # does (the default is an in-memory H2 database, which would orphan the ids in old records).
  # shellcheck disable=SC2086
  spawn registry "$REGISTRY_JAVA" $REGISTRY_HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "$(signature registry)" \
    -Djava.io.tmpdir="$STACK_DIR/tmp" \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
    "${management[@]}" \
    -Dquarkus.http.access-log.enabled=false \
    -Dapicurio.datasource.url="jdbc:h2:file:$data/registry" \
    -Dapicurio.datasource.jdbc.initial-size=2 -Dapicurio.datasource.jdbc.min-size=2 \
    -Dapicurio.datasource.jdbc.max-size=20 \
    -Dapicurio.storage.snapshot.location="$STACK_DIR/tmp" -Dapicurio.import.work-dir="$STACK_DIR/tmp" \
    -jar "$jar"
}

# The H2 file remembers which Apicurio line created it (data/registry/apicurio-version).
check_registry_data() {
  local data=$1 marker=$1/apicurio-version previous
  if [[ -f $marker ]]; then
    previous=$(<"$marker")
    if [[ $previous != "$APICURIO_VERSION" ]]; then
      say "registry: WARNING: $data was last used by Apicurio $previous, now starting $APICURIO_VERSION on it"
    fi
  fi
  echo "$APICURIO_VERSION" >"$marker"
}

registry_health_port() {
  if registry_has_management_port; then echo "$REGISTRY_MANAGEMENT_PORT"; else echo "$REGISTRY_PORT"; fi
}

registry_ready() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(registry_health_port)/health/ready" 2>/dev/null &&
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects" 2>/dev/null
}

# PostgreSQL refuses to run as root. As root (CI) the cluster runs as POSTGRES_OS_USER (default
# `postgres`, the system user Debian's package creates) through setpriv, which execs (no extra
# process: the recorded pid is the postmaster's); as anyone else it runs as that user. Either way
# .stack/data/postgres and the socket folder .stack/run/postgres belong to the user it runs as.
PG_USER=
PG_AS=()
postgres_user() {
  [[ -n $PG_USER ]] && return 0
  if ((EUID == 0)); then
    PG_USER=${POSTGRES_OS_USER:-postgres}
    [[ $PG_USER != root ]] || die "postgres: PostgreSQL refuses to run as root; set POSTGRES_OS_USER to an unprivileged user"
    id -u "$PG_USER" >/dev/null 2>&1 ||
      die "postgres: running as root, and there is no user '$PG_USER' to run PostgreSQL as (it refuses root). Install Debian's package 'postgresql' (it creates that user) or set POSTGRES_OS_USER to an unprivileged user"
    need setpriv "util-linux: runs PostgreSQL as $PG_USER when the stack runs as root"
    PG_AS=(setpriv --reuid="$(id -u "$PG_USER")" --regid="$(id -g "$PG_USER")" --init-groups --reset-env --)
  else
    PG_USER=$(id -un)
    PG_AS=()
  fi
}

start_postgres() {
  local bindir data=$DATA_DIR/postgres sock=$RUN_DIR/postgres owner major socket_dirs
  bindir=$(postgres_bindir) || install_postgres
  bindir=$(postgres_bindir) || die "postgres: no PostgreSQL server binaries"
  postgres_user
  mkdir -p "$data" "$sock"
  if ((EUID == 0)); then
    owner=$(stat -c %U "$data")
    if [[ $owner != "$PG_USER" ]]; then
      [[ -z $(ls -A "$data") ]] ||
        die "postgres: $data belongs to $owner, not $PG_USER (POSTGRES_OS_USER); chown -R it, or delete it (npm run stack:reset)"
      chown "$PG_USER:" "$data"
    fi
    chown "$PG_USER:" "$sock"
  else
    owner=$(stat -c %U "$data")
    [[ $owner == "$PG_USER" ]] ||
      die "postgres: $data belongs to $owner (the stack ran as root before); run the stack as root, or delete .stack/data as root"
  fi
  chmod 700 "$data"
  chmod 755 "$sock"
  "${PG_AS[@]}" test -w "$data" -a -w "$sock" ||
    die "postgres: user $PG_USER cannot reach $data: every folder above it needs o+x (e.g. chmod o+x on the parents of $STACK_DIR), or set BADGESTREAM_STACK_DIR to a folder $PG_USER can reach"
  major=$("$bindir/postgres" --version | awk '{ split($NF, v, "."); print v[1] }')
  if [[ ! -f $data/PG_VERSION ]]; then
    say "postgres: initdb $data (PostgreSQL $(postgres_version "$bindir"), as $PG_USER, superuser $POSTGRES_SUPERUSER, trust on 127.0.0.1 and the socket only)"
    (cd "$STACK_DIR" && "${PG_AS[@]}" "$bindir/initdb" -D "$data" -U "$POSTGRES_SUPERUSER" --auth=trust --encoding=UTF8 --locale=C) \
      >"$LOG_DIR/postgres-initdb.log" 2>&1 || {
      tail -n 20 "$LOG_DIR/postgres-initdb.log" >&2 || true
      die "postgres: initdb failed, see $LOG_DIR/postgres-initdb.log"
    }
    # Trust, but only for the socket and the loopback addresses (it listens on 127.0.0.1 only).
    printf '%s\n' "# Badgestream local stack (deploy/local/stack.sh): trust, local connections only." \
      "local all all               trust" \
      "host  all all 127.0.0.1/32  trust" \
      "host  all all ::1/128       trust" |
      "${PG_AS[@]}" sh -c 'cat >"$1"' sh "$data/pg_hba.conf"
  elif [[ $(<"$data/PG_VERSION") != "$major" ]]; then
    die "postgres: $data holds a PostgreSQL $(<"$data/PG_VERSION") cluster, the server found is $major ($bindir). Set POSTGRES_BINDIR to a $(<"$data/PG_VERSION") server, or delete the data (npm run stack:reset)"
  fi
  # A Unix socket path is limited to 107 bytes; past that the cluster is reached over TCP only.
  socket_dirs=$sock
  if ((${#sock} + 20 > 107)); then
    say "postgres: $sock is too long for a Unix socket; TCP only"
    socket_dirs=
  fi
  rotate_log postgres
  # Settings on the command line (they override postgresql.conf), sized for a 2-core dev machine.
  # synchronous_commit=off: a commit returns before its WAL is flushed. FerretDB commits every
  # write on its own, and waiting for each flush made consumers crawl (about 40 writes/s here);
  # a crash of PostgreSQL itself may lose the last few hundred milliseconds, which a local
  # test stack can afford. Production runs MongoDB with its own durability settings.
  spawn postgres "${PG_AS[@]}" "$bindir/postgres" -D "$data" \
    -c listen_addresses=127.0.0.1 -c port="$POSTGRES_PORT" -c unix_socket_directories="$socket_dirs" \
    -c shared_buffers=128MB -c max_connections=150 -c work_mem=4MB -c maintenance_work_mem=64MB \
    -c max_wal_size=256MB -c huge_pages=off -c cluster_name=badgestream -c synchronous_commit=off \
    -c log_line_prefix='%m [%p] ' -c log_timezone=UTC
}

postgres_ready() {
  local bindir
  bindir=$(postgres_bindir) || return 1
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U "$POSTGRES_SUPERUSER" -d postgres -t 2 >/dev/null 2>&1
}

postgres_psql() {
  local bindir
  bindir=$(postgres_bindir) || return 1
  PGCONNECT_TIMEOUT=5 "$bindir/psql" -X -q -t -A -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$POSTGRES_PORT" -U "$POSTGRES_SUPERUSER" "$@"
}

# The database FerretDB keeps its collections in (created on first use).
ensure_ferretdb_database() {
  owned_pid postgres >/dev/null && postgres_ready ||
    die "ferretdb: FERRETDB_HANDLER=pg needs the postgres component running and ready (bash deploy/local/stack.sh start postgres), or FERRETDB_HANDLER=sqlite"
  if [[ $(postgres_psql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DATABASE'") != 1 ]]; then
    say "postgres: creating database $POSTGRES_DATABASE"
    postgres_psql -d postgres -c "CREATE DATABASE $POSTGRES_DATABASE" >/dev/null ||
      die "postgres: could not create database $POSTGRES_DATABASE"
  fi
}

start_ferretdb() {
  local backend
  mkdir -p "$DATA_DIR/ferretdb-state"
  if [[ $FERRETDB_HANDLER == pg ]]; then
    ensure_ferretdb_database
    backend=(--handler=pg --postgresql-url="$FERRETDB_POSTGRESQL_URL")
  else
    mkdir -p "$DATA_DIR/ferretdb"
    backend=(--handler=sqlite --sqlite-url="file:$DATA_DIR/ferretdb/")
  fi
  rotate_log ferretdb
  echo "$FERRETDB_HANDLER" >"$RUN_DIR/ferretdb.handler"
  spawn ferretdb "$FERRETDB_HOME/bin/ferretdb" \
    "${backend[@]}" \
    --listen-addr="127.0.0.1:$MONGODB_PORT" \
    "$(signature ferretdb)" \
    --telemetry=disable --debug-addr=- --log-level=warn
}

ferretdb_ready() { port_open "$MONGODB_PORT"; }

# Waits until the component answers; fails with the log's tail if it dies or times out.
wait_ready() {
  local c=$1 started=$2 deadline log
  deadline=$((started + STACK_TIMEOUT))
  log=$(log_file "$c")
  until "${c}_ready"; do
    if ! owned_pid "$c" >/dev/null; then
      sleep 0.5
      owned_pid "$c" >/dev/null || {
        tail -n 30 "$log" >&2 || true
        die "$c exited during start-up; see $log"
      }
    fi
    if (($(now) >= deadline)); then
      tail -n 30 "$log" >&2 || true
      die "$c not ready after ${STACK_TIMEOUT}s (STACK_TIMEOUT); see $log"
    fi
    sleep 0.5
  done
}

prepare_dirs() { mkdir -p "$LOG_DIR" "$RUN_DIR" "$DATA_DIR" "$CONF_DIR"; }

# Returns 0 if the component must be started (not already running); clears stale pid files.
needs_start() {
  local c=$1 pid
  if pid=$(owned_pid "$c"); then
    say "$c: already running (pid $pid), left alone"
    return 1
  fi
  rm -f "$(pid_file "$c")"
  return 0
}

# ----------------------------------------------------------------------------------------------
# Commands.

# The components `up` manages: postgres only when FerretDB runs on it.
wanted_components() {
  local c
  for c in "${COMPONENTS[@]}"; do
    [[ $c == postgres && $FERRETDB_HANDLER != pg ]] && continue
    echo "$c"
  done
}

# `up` leaves a running FerretDB alone; say so when it runs on the other backend.
check_ferretdb_handler() {
  local running=$RUN_DIR/ferretdb.handler
  owned_pid ferretdb >/dev/null && [[ -f $running && $(<"$running") != "$FERRETDB_HANDLER" ]] &&
    say "ferretdb: WARNING: running on $(<"$running"), FERRETDB_HANDLER=$FERRETDB_HANDLER; \`bash deploy/local/stack.sh restart ferretdb\` to switch"
  return 0
}

cmd_up() {
  local t0 c build_pid="" to_start=() ready_said=""
  t0=$(now)
  prepare_dirs
  check_ferretdb_handler
  for c in $(wanted_components); do
    if needs_start "$c"; then
      check_ports_free "$c"
      to_start+=("$c")
    fi
  done
  if ((${#to_start[@]} == 0)); then
    say "all components already running"
    print_env
    return 0
  fi
  local -A started_at=()
  # The FerretDB build is the slowest install: run it alongside the JVM downloads and start-ups.
  if [[ " ${to_start[*]} " == *" ferretdb "* ]]; then
    install_ferretdb >"$LOG_DIR/ferretdb-build.log" 2>&1 &
    build_pid=$!
  fi
  for c in postgres kafka registry; do
    [[ " ${to_start[*]} " == *" $c "* ]] || continue
    install_component "$c"
    say "$c: starting"
    started_at[$c]=$(now)
    "start_$c"
  done
  if [[ -n $build_pid ]]; then
    if ! wait "$build_pid"; then
      tail -n 20 "$LOG_DIR/ferretdb-build.log" >&2 || true
      die "ferretdb: build failed, see $LOG_DIR/ferretdb-build.log"
    fi
    # FerretDB on pg needs its database, so postgres must be ready first.
    if [[ -n ${started_at[postgres]:-} ]]; then
      wait_ready postgres "${started_at[postgres]}"
      say "postgres: ready ($(($(now) - ${started_at[postgres]}))s after start)"
      ready_said=postgres
    fi
    say "ferretdb: starting"
    started_at[ferretdb]=$(now)
    start_ferretdb
  fi
  for c in "${to_start[@]}"; do
    [[ $c == "$ready_said" ]] && continue
    wait_ready "$c" "${started_at[$c]}"
    say "$c: ready ($(($(now) - ${started_at[$c]}))s after start)"
  done
  say "stack up in $(($(now) - t0))s; logs in $LOG_DIR. Use this environment:"
  print_env
}

cmd_start() {
  local c t0
  c=$(canonical_component "${1:-}")
  prepare_dirs
  needs_start "$c" || return 0
  if [[ $c == ferretdb && $FERRETDB_HANDLER == pg ]] && ! owned_pid postgres >/dev/null; then
    say "ferretdb: runs on postgres (FERRETDB_HANDLER=pg), which is not running: starting it first"
    cmd_start postgres
  fi
  check_ports_free "$c"
  install_component "$c"
  t0=$(now)
  say "$c: starting"
  "start_$c"
  wait_ready "$c" "$t0"
  say "$c: ready ($(($(now) - t0))s)"
}

stop_component() {
  local c=$1 pid file deadline
  file=$(pid_file "$c")
  if ! pid=$(owned_pid "$c"); then
    if [[ -f $file ]]; then
      say "$c: not running (stale pid file $(<"$file") removed; that pid is not ours)"
      rm -f "$file"
    else
      say "$c: not running"
    fi
    return 0
  fi
  say "$c: stopping pid $pid"
  # PostgreSQL: SIGINT is its "fast" shutdown (SIGTERM, "smart", waits for every client to leave).
  if [[ $c == postgres ]]; then kill -INT "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
  deadline=$(($(now) + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && [[ $(cmdline_of "$pid") == *"$(signature "$c")"* ]]; do
    if (($(now) >= deadline)); then
      say "$c: still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$file"
  say "$c: stopped"
}

cmd_stop() {
  local c
  c=$(canonical_component "${1:-}")
  if [[ $c == postgres ]] && owned_pid ferretdb >/dev/null && [[ -f $RUN_DIR/ferretdb.handler && $(<"$RUN_DIR/ferretdb.handler") == pg ]]; then
    say "postgres: WARNING: ferretdb runs on it and will fail its requests until postgres is back"
  fi
  stop_component "$c"
}

cmd_down() {
  local c
  for c in ferretdb postgres registry kafka; do stop_component "$c"; done
}

rss_of() {
  local pid=$1 kb
  kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || ps -o rss= -p "$pid" 2>/dev/null || true)
  [[ -n $kb ]] && echo "$((kb / 1024)) MiB" || echo "?"
}

# PostgreSQL is a process per connection sharing shared_buffers: the sum of their PSS (shared
# pages split among the processes that map them) is its real footprint; RSS would count them N times.
pss_of_tree() {
  local pid=$1 p kb total=0 n=0
  for p in "$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    kb=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    [[ -n $kb ]] || continue
    total=$((total + kb))
    n=$((n + 1))
  done
  ((n > 0)) && echo "$((total / 1024)) MiB" || echo "?"
}

# For status: the version and Java recorded when the running registry was started, else the choice
# that `up` would make now.
status_registry() {
  local recorded=$RUN_DIR/registry.version
  if owned_pid registry >/dev/null && [[ -f $recorded ]]; then
    {
      read -r APICURIO_VERSION
      read -r REGISTRY_JAVA_MAJOR
      read -r REGISTRY_JAVA
    } <"$recorded"
    APICURIO_HOME=$CACHE_DIR/apicurio-registry-$APICURIO_VERSION
  else
    select_registry
  fi
}

cmd_status() {
  local c pid ready address handler
  status_registry
  for c in "${COMPONENTS[@]}"; do
    case "$c" in
      kafka) address="127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT), Kafka $KAFKA_VERSION" ;;
      registry) address="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7 (health :$(registry_health_port)), Apicurio $APICURIO_VERSION on Java $REGISTRY_JAVA_MAJOR" ;;
      postgres)
        address="$FERRETDB_POSTGRESQL_URL, PostgreSQL $(postgres_version "$(postgres_bindir)" 2>/dev/null || echo '(not installed)')"
        [[ $FERRETDB_HANDLER == pg ]] || address+=" (not used: FERRETDB_HANDLER=sqlite)"
        ;;
      ferretdb)
        handler=$FERRETDB_HANDLER
        owned_pid ferretdb >/dev/null && [[ -f $RUN_DIR/ferretdb.handler ]] && handler=$(<"$RUN_DIR/ferretdb.handler")
        address="mongodb://127.0.0.1:$MONGODB_PORT, FerretDB $FERRETDB_VERSION on $handler"
        ;;
    esac
    if pid=$(owned_pid "$c"); then
      if "${c}_ready"; then ready=ready; else ready="NOT READY"; fi
      if [[ $c == postgres ]]; then
        address+=", all processes: pss $(pss_of_tree "$pid")"
      fi
      printf '%-9s running  pid %-7s %-9s rss %-9s %s\n' "$c" "$pid" "$ready" "$(rss_of "$pid")" "$address"
    else
      printf '%-9s stopped  %s\n' "$c" "$address"
    fi
  done
  printf 'state: %s   cache: %s\n' "$STACK_DIR" "$CACHE_DIR"
}

cmd_logs() {
  local c
  c=$(canonical_component "${1:-}")
  exec tail -n 100 -F "$(log_file "$c")"
}

cmd_reset() {
  cmd_down
  say "deleting $DATA_DIR"
  rm -rf "$DATA_DIR"
}

cmd_install() {
  local c
  for c in $(wanted_components); do install_component "$c"; done
}

usage() {
  cat >&2 <<EOF
usage: bash deploy/local/stack.sh <command>
  up                      install what is missing, start kafka, registry, postgres, ferretdb; print the env
  down                    stop what up started (SIGTERM, then SIGKILL after \$STOP_TIMEOUT s)
  status                  show each component (pid, readiness, RSS, address)
  env                     print the exports: eval "\$(bash deploy/local/stack.sh env)"
  start|stop|restart <c>  one component: kafka, registry (apicurio), postgres (pg), ferretdb (mongodb)
  logs <c>                follow a component's log
  install                 only download/build/apt-get install what is missing
  reset                   down, then delete $DATA_DIR
See deploy/local/README.md for the options.
EOF
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) print_env ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    restart) cmd_stop "$@" && cmd_start "$@" ;;
    logs) cmd_logs "$@" ;;
    install) prepare_dirs && cmd_install ;;
    reset) cmd_reset ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

# Sourcing the script (its tests do) defines its functions without running a command.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
