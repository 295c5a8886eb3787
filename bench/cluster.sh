#!/usr/bin/env bash
# What distribution costs: the same remote-write load (examples/ingest_bench)
# against one `--target all` process, then against deploy/local's split
# deployment (1 distributor, 3 ingesters in 3 zones) at replication factor 3
# and at 1. CPU and peak RSS are summed over the distributor and ingesters.
#
#   bench/cluster.sh [--series N] [--samples N]   (defaults 20000 × 30)
#
# Builds the release binary and the example first. Ports: deploy/local's
# (9009 and up); nothing else may be listening there.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

series=20000
samples=30
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series="$2"; shift ;;
    --samples) samples="$2"; shift ;;
    *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

cargo build --release -q --bin cairn --example ingest_bench
bin="$PWD/target/release"
work="$(mktemp -d)"
single=""
cleanup() {
  [ -n "$single" ] && kill "$single" 2>/dev/null && wait "$single" 2>/dev/null
  for d in "$work"/rf*; do
    [ -f "$d/data/pids" ] && CAIRN_BIN="$bin/cairn" "$d/deploy/run.sh" stop --data "$d/data" >/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

# No tenant limits get in the way of the measurement.
limits='limits:
  ingestion_rate: 1000000000
  ingestion_burst_size: 1000000000
  max_global_series_per_user: 0
'

bench() {  # name url pids
  echo "== $1"
  "$bin/examples/ingest_bench" --target "cairn=$2,pid=$3" --series "$series" --samples "$samples" --phases 1
}

cat >"$work/single.yaml" <<YAML
storage:
  filesystem:
    dir: $work/single/bucket
ingester:
  wal_dir: $work/single/wal
$limits
YAML
"$bin/cairn" --config.file "$work/single.yaml" --log.level warn >"$work/single.log" 2>&1 &
single=$!
wait_ready cairn http://127.0.0.1:9009/ready "$single" "$work/single.log"
bench "one process (--target all)" http://127.0.0.1:9009 "$single"
kill "$single"
wait "$single" 2>/dev/null || true
single=""

for rf in 3 1; do
  d="$work/rf$rf"
  mkdir -p "$d/data"
  cp -r deploy/local "$d/deploy"
  sed -i "s/replication_factor: 3/replication_factor: $rf/" "$d/deploy/cairn.yaml"
  printf '%s' "$limits" >>"$d/deploy/cairn.yaml"
  printf 'overrides: {}\n' >"$d/deploy/overrides.yaml"
  CAIRN_BIN="$bin/cairn" "$d/deploy/run.sh" --data "$d/data" >/dev/null
  until [ "$(curl -sf 'http://127.0.0.1:9009/ring?format=json' | grep -o '"healthy":true' | wc -l)" = 3 ]; do
    sleep 0.2
  done
  pids="$(awk '$2 == "distributor" || $2 ~ /^ingester/ {print $1}' "$d/data/pids" | paste -sd+)"
  bench "3 ingesters, replication factor $rf (distributor + ingesters)" http://127.0.0.1:9009 "$pids"
  CAIRN_BIN="$bin/cairn" "$d/deploy/run.sh" stop --data "$d/data" >/dev/null
done
