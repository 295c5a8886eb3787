#!/usr/bin/env bash
# Cairn's distributed mode on one machine: every service its own process of
# the cairn binary on 127.0.0.1, sharing one bucket (a directory, or S3).
#
#   deploy/local/run.sh [--data DIR] [--s3 URL]   start, wait until all are /ready
#   deploy/local/run.sh stop [--data DIR]         stop the processes started there
#
#   --data DIR  pids, logs, WALs and the filesystem bucket (default ./data/local)
#   --s3 URL    use a running S3 endpoint and bucket instead, e.g. http://127.0.0.1:8333/cairn
#   CAIRN_BIN   the binary (default target/release/cairn, else target/debug/cairn)
#
# Processes (name target http-port grpc-port zone); see README.md for the topology.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# Ingesters first, so the others find them on their first probe of the ring.
PROCESSES=(
  "ingester-a ingester 9011 9111 zone-a"
  "ingester-b ingester 9012 9112 zone-b"
  "ingester-c ingester 9013 9113 zone-c"
  "distributor distributor 9009 4317 -"
  "querier querier 9020 9120 -"
  "compactor compactor 9030 9130 -"
  "ruler ruler 9040 9140 -"
)
READY_TIMEOUT_SECONDS=60
STOP_TIMEOUT_SECONDS=120 # ingesters flush their heads on SIGTERM

die() {
  echo "run.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

command=start
data=./data/local
s3=""
while [ $# -gt 0 ]; do
  case "$1" in
    start | stop) command="$1" ;;
    --data) data="${2:?--data needs a directory}"; shift ;;
    --s3) s3="${2:?--s3 needs a URL like http://127.0.0.1:8333/bucket}"; shift ;;
    -h | --help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage 2 ;;
  esac
  shift
done
[ "$command" = start ] && mkdir -p "$data"
[ -d "$data" ] || die "no directory $data"
data="$(cd "$data" && pwd)"
pids="$data/pids"

# True when PID is alive and is a cairn process (not a recycled PID).
is_cairn() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q cairn
}

stop_all() {
  [ -f "$pids" ] || die "no $pids: nothing started with --data $data"
  local pid name alive
  while read -r pid name; do
    if is_cairn "$pid"; then
      echo "stopping $name (pid $pid)"
      kill -TERM "$pid"
    fi
  done <"$pids"
  for _ in $(seq "$STOP_TIMEOUT_SECONDS"); do
    alive=0
    while read -r pid name; do
      is_cairn "$pid" && alive=1
    done <"$pids"
    [ "$alive" = 0 ] && break
    sleep 1
  done
  while read -r pid name; do
    if is_cairn "$pid"; then
      echo "$name (pid $pid) still running after ${STOP_TIMEOUT_SECONDS}s: SIGKILL (its WAL is replayed on the next start)"
      kill -KILL "$pid"
    fi
  done <"$pids"
  rm -f "$pids"
}

find_binary() {
  if [ -n "${CAIRN_BIN:-}" ]; then
    [ -x "$CAIRN_BIN" ] || die "CAIRN_BIN=$CAIRN_BIN is not an executable"
    echo "$CAIRN_BIN"
  elif [ -x "$root/target/release/cairn" ]; then
    echo "$root/target/release/cairn"
  elif [ -x "$root/target/debug/cairn" ]; then
    echo "$root/target/debug/cairn"
  else
    die "no cairn binary: run 'cargo build --release' or set CAIRN_BIN"
  fi
}

# Polls every process's /ready; on a process that exits or a timeout, shows
# its log, stops everything and fails.
wait_ready() {
  local name target http grpc zone pid
  for spec in "${PROCESSES[@]}"; do
    read -r name target http grpc zone <<<"$spec"
    pid="$(awk -v n="$name" '$2 == n { print $1 }' "$pids")"
    for i in $(seq $((READY_TIMEOUT_SECONDS * 4))); do
      curl -fsS -o /dev/null "http://127.0.0.1:$http/ready" 2>/dev/null && break
      if ! is_cairn "$pid" || [ "$i" = $((READY_TIMEOUT_SECONDS * 4)) ]; then
        echo "run.sh: $name is not ready on 127.0.0.1:$http; last lines of $data/$name.log:" >&2
        tail -n 20 "$data/$name.log" >&2
        stop_all
        exit 1
      fi
      sleep 0.25
    done
    echo "$name ready: http://127.0.0.1:$http (gRPC $grpc)"
  done
}

start_all() {
  command -v curl >/dev/null || die "curl is needed to wait for /ready"
  if [ -f "$pids" ]; then
    while read -r pid name; do
      is_cairn "$pid" && die "$name (pid $pid) from an earlier start is still running: run.sh stop --data $data"
    done <"$pids"
    rm -f "$pids"
  fi
  local bin backend=filesystem endpoint="" bucket=""
  bin="$(find_binary)"
  if [ -n "$s3" ]; then
    s3="${s3%/}"
    bucket="${s3##*/}"
    endpoint="${s3%/*}"
    case "$endpoint" in
      http://?* | https://?*) ;;
      *) die "--s3 wants http(s)://host:port/bucket, got $s3" ;;
    esac
    [ -n "$bucket" ] || die "--s3 URL names no bucket: $s3"
    backend=s3
  fi
  local name target http grpc zone port
  for spec in "${PROCESSES[@]}"; do # another server there would answer /ready for ours
    read -r name target http grpc zone <<<"$spec"
    for port in "$http" "$grpc"; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port ($name) is in use on 127.0.0.1"
      fi
    done
  done
  for spec in "${PROCESSES[@]}"; do
    read -r name target http grpc zone <<<"$spec"
    [ "$zone" = - ] && zone=""
    CAIRN_INSTANCE="$name" CAIRN_HTTP_PORT="$http" CAIRN_GRPC_PORT="$grpc" CAIRN_ZONE="$zone" \
      CAIRN_DATA="$data" CAIRN_OVERRIDES="$here/overrides.yaml" CAIRN_STORAGE_BACKEND="$backend" \
      CAIRN_S3_ENDPOINT="$endpoint" CAIRN_S3_BUCKET="$bucket" \
      "$bin" --config.file "$here/cairn.yaml" --target "$target" >>"$data/$name.log" 2>&1 &
    echo "$! $name" >>"$pids"
  done
  wait_ready
  echo "all ready (storage: ${s3:-$data/bucket}); logs in $data/<name>.log; stop with: $0 stop --data $data"
}

case "$command" in
  start) start_all ;;
  stop) stop_all ;;
esac
