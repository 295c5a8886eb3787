#!/usr/bin/env bash
# Cairn against Prometheus and VictoriaMetrics on this machine, in one run:
# installs Debian's `prometheus` and `victoria-metrics` when missing, builds
# Cairn and the load tools (release), starts the three servers on 127.0.0.1
# with their data in a temporary directory, and prints
#   1. metrics ingest: the same remote-write load to each, alternating
#      (samples/s, per CPU-second, RSS per series, disk per sample, ratios);
#   2. PromQL range queries over loaded data: latency per query, ratios;
#   3. logs: push MB/s per core, `|= "literal"` scan GB/s per core on
#      flushed blocks, stored bytes per raw byte (Cairn only);
#   4. traces: spans/s per core, trace-by-ID latency from the bucket (Cairn only).
# Every server it starts is stopped by PID on exit. See README "Performance".
#
# Knobs (environment): SERIES=100000 SAMPLES=120 CONCURRENCY=8 BATCH=2000
# PHASES=4 QUERY_INSTANCES=100 LOG_LINES=1000000 TRACES=50000 SKIP_BUILD=1
# STEP_TIMEOUT=900 (seconds any one step may take).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SERIES=${SERIES:-100000}
SAMPLES=${SAMPLES:-120}
CONCURRENCY=${CONCURRENCY:-8}
BATCH=${BATCH:-2000}
PHASES=${PHASES:-4}
QUERY_INSTANCES=${QUERY_INSTANCES:-100}
LOG_LINES=${LOG_LINES:-1000000}
TRACES=${TRACES:-50000}
STEP_TIMEOUT=${STEP_TIMEOUT:-900}
CAIRN_PORT=19009 PROM_PORT=19090 VM_PORT=18428

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --bin cairn --example ingest_bench --example query_bench \
    --example logs_push_bench --example traces_push_bench
fi
bin=target/release
ex=target/release/examples

work=$(mktemp -d /tmp/cairn-compare.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/cairn.yaml" <<YAML
server:
  http_listen_address: 127.0.0.1
  http_listen_port: $CAIRN_PORT
  grpc_listen_port: 14317
storage:
  backend: filesystem
  filesystem:
    dir: $work/cairn/bucket
ingester:
  wal_dir: $work/cairn/wal
  retain_uploaded_for: 5s
querier:
  blocks:
    block_list_ttl: 2s
limits:
  ingestion_rate: 1000000000
  ingestion_burst_size: 1000000000
  max_global_series_per_user: 0
  ingestion_rate_mb: 4096
  ingestion_burst_size_mb: 4096
  max_global_streams_per_user: 0
  ingestion_rate_limit_bytes: 4000000000
  ingestion_burst_size_bytes: 4000000000
  max_traces_per_user: 0
YAML
printf 'global:\n  scrape_interval: 15s\n' >"$work/prometheus.yml"

"$bin/cairn" --config.file "$work/cairn.yaml" --log.level warn >"$work/cairn.log" 2>&1 &
pids+=($!); cairn_pid=$!
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
  --web.listen-address=127.0.0.1:$PROM_PORT --web.enable-remote-write-receiver \
  --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!); prom_pid=$!
victoria-metrics -httpListenAddr=127.0.0.1:$VM_PORT -storageDataPath="$work/victoria" \
  -search.disableCache -loggerLevel=ERROR >"$work/victoria.log" 2>&1 &
pids+=($!); vm_pid=$!

wait_ready cairn "http://127.0.0.1:$CAIRN_PORT/ready" "$cairn_pid" "$work/cairn.log"
wait_ready prometheus "http://127.0.0.1:$PROM_PORT/-/ready" "$prom_pid" "$work/prometheus.log"
wait_ready victoria "http://127.0.0.1:$VM_PORT/health" "$vm_pid" "$work/victoria.log"

echo "== versions: $(prometheus --version 2>&1 | head -1); victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null); $(nproc) cores"
echo "== 1. metrics ingest (remote write 1.0)"
timeout "$STEP_TIMEOUT" "$ex/ingest_bench" \
  --series "$SERIES" --samples "$SAMPLES" --batch "$BATCH" \
  --concurrency "$CONCURRENCY" --phases "$PHASES" \
  --target "cairn=http://127.0.0.1:$CAIRN_PORT,pid=$cairn_pid,dir=$work/cairn/bucket" \
  --target "prometheus=http://127.0.0.1:$PROM_PORT,pid=$prom_pid,dir=$work/prometheus" \
  --target "victoria=http://127.0.0.1:$VM_PORT,pid=$vm_pid,dir=$work/victoria"
echo "(disk: Cairn = bucket blocks after /ingester/flush, index included; VictoriaMetrics ="
echo " -storageDataPath after /internal/force_flush; Prometheus = TSDB dir: WAL + mmapped head"
echo " chunks, as no block is cut in a short run. RSS = peak (VmHWM) / active series.)"

echo "== 2. PromQL range queries"
timeout "$STEP_TIMEOUT" "$ex/query_bench" --cairn "http://127.0.0.1:$CAIRN_PORT" \
  --prometheus "http://127.0.0.1:$PROM_PORT" --victoria "http://127.0.0.1:$VM_PORT" \
  --instances "$QUERY_INSTANCES" --flush --settle 7

echo "== 3. logs (Loki push protobuf; Cairn)"
timeout "$STEP_TIMEOUT" "$ex/logs_push_bench" --cairn "http://127.0.0.1:$CAIRN_PORT" \
  --cairn-pid "$cairn_pid" --bucket-dir "$work/cairn/bucket" --lines "$LOG_LINES" --settle 7

echo "== 4. traces (OTLP/HTTP protobuf; Cairn)"
timeout "$STEP_TIMEOUT" "$ex/traces_push_bench" --cairn "http://127.0.0.1:$CAIRN_PORT" \
  --cairn-pid "$cairn_pid" --bucket-dir "$work/cairn/bucket" --traces "$TRACES" --settle 7
