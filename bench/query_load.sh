#!/usr/bin/env bash
# Does one tenant's heavy query load hurt another tenant's light queries?
# Starts a release `cairn` (single process, filesystem bucket in a temporary
# directory, the querier config below) and runs examples/query_load against
# it: tenant B's light-query latency unloaded and under tenant A's 20
# concurrent heavy range queries, A's 422s, Cairn's peak RSS.
#
#   bench/query_load.sh [query_load flags, e.g. --seconds 60 --light-runs 300]
#
# Builds the release binary and the example first. Port 9009 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

cargo build --release -q --bin cairn --example query_load
bin="$PWD/target/release"
work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# max_concurrent and the reserved slot are the defaults on a 2-core machine
# (CPUs + 1, 1); max_samples is what turns A's raw-series queries into 422s;
# the ingestion limits only keep the history load from being throttled.
cat > "$work/cairn.yaml" <<YAML
storage:
  filesystem:
    dir: $work/data/bucket
ingester:
  wal_dir: $work/data/wal
querier:
  max_concurrent: 3
  reserved_concurrent_for_idle_tenants: 1
  max_samples: 5000000
limits:
  ingestion_rate: 1000000000
  ingestion_burst_size: 1000000000
  max_global_series_per_user: 0
  reject_old_samples_max_age: 30d
  past_grace_period: 0s
YAML

"$bin/cairn" --config.file "$work/cairn.yaml" > "$work/cairn.log" 2>&1 &
pid=$!
wait_ready cairn http://127.0.0.1:9009/ready "$pid" "$work/cairn.log"
"$bin/examples/query_load" --cairn http://127.0.0.1:9009 --pid "$pid" "$@"
