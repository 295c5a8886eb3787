#!/usr/bin/env python3
"""LogQL answers from Cairn and from a real Loki, on identical data.

Starts both servers on 127.0.0.1 with their data in a temporary directory,
pushes the same streams to each through the Loki push API (JSON, with
structured metadata), runs every query of `bench/logql_parity_queries.txt`
against both (log queries as range queries returning lines, metric queries
as range and instant queries) and prints, per query, whether the answers
agree, then the share that agrees. Disagreements are written in full to
`--diff-file` so each one can be looked at.

Loki is built from source (see ../shared/PEERS.md); pass its binary with
`--loki`. Cairn's binary defaults to target/debug/cairn.

    python3 bench/logql_parity.py --loki /path/to/loki [--only SUBSTRING]
"""

import json
import random
import sys
import time

from peers import Tally, arguments, keep_up, queries, request, same_value, servers

LOKI_PORT, LOKI_GRPC = 13100, 19096
CAIRN_PORT, CAIRN_GRPC = 13200, 14327
WINDOW_S = 600  # the data spans ten minutes
STEP_S = 60

LOKI_CONFIG = """
auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: {dir}
  storage:
    filesystem:
      chunks_directory: {dir}/chunks
      rules_directory: {dir}/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  allow_structured_metadata: true
  volume_enabled: true
  discover_log_levels: true
  reject_old_samples: false
  max_query_series: 100000
  max_entries_limit_per_query: 100000
  ingestion_rate_mb: 1000
  ingestion_burst_size_mb: 1000
query_range:
  results_cache:
    cache:
      embedded_cache:
        enabled: false
  cache_results: false
pattern_ingester:
  enabled: true
analytics:
  reporting_enabled: false
"""

CAIRN_LIMITS = """limits:
  max_entries_limit_per_query: 100000
"""


# --- the data set ---------------------------------------------------------

USERS = ["alice", "bob", "carol", "dave"]
PATHS = ["/api/users", "/api/orders", "/api/items/42", "/healthz"]
LEVELS = ["info", "info", "info", "warn", "error", "debug"]


def json_line(rnd, i):
    level = rnd.choice(LEVELS)
    rec = {
        "level": level,
        "msg": rnd.choice(["request done", "db timeout", "slow request", "cache miss"]),
        "status": rnd.choice([200, 200, 201, 404, 500, 503]),
        "latency": rnd.choice(["120ms", "2.5s", "80ms", "1m3s", "950us", "15ms"]),
        "size": rnd.choice(["1.5KB", "300B", "2KB", "10MB", "512", "1KiB"]),
        "ratio": rnd.choice([0.5, 1, 1.25, -3, 1e3]),
        "user": {"id": f"u{i % 7}", "name": rnd.choice(USERS)},
        "path": rnd.choice(PATHS),
        "tags": rnd.choice([["a", "b"], [], ["c"]]),
    }
    if i % 11 == 0:
        rec["extra"] = {"deep": {"k": "v" + str(i % 3)}}
    if i % 13 == 0:
        rec["status"] = "not-a-number"
    if i % 17 == 0:
        return "{broken json " + str(i)
    if i % 19 == 0:
        rec["nulled"] = None
        rec["flag"] = True
    return json.dumps(rec, separators=(",", ":"))


def logfmt_line(rnd, i):
    parts = [
        f"level={rnd.choice(LEVELS)}",
        f"method={rnd.choice(['GET', 'POST', 'DELETE'])}",
        f"path={rnd.choice(PATHS)}",
        f"status={rnd.choice([200, 304, 401, 500])}",
        f"duration={rnd.choice(['15ms', '2ms', '1.5s', '30ms'])}",
        f"bytes={rnd.choice([0, 128, 512, 2048, 65536])}",
    ]
    if i % 3 == 0:
        parts.append('msg="bad password for user"')
    if i % 5 == 0:
        parts.append("cached")
    if i % 7 == 0:
        parts.append('user="' + rnd.choice(USERS) + '"')
    if i % 23 == 0:
        parts.append('broken="unterminated')
    return " ".join(parts)


def access_line(rnd, i):
    ip = f"10.0.{i % 3}.{i % 5 + 1}"
    method = rnd.choice(["GET", "POST"])
    path = rnd.choice(["/index.html", "/api/login", "/favicon.ico", "/img/a.png"])
    status = rnd.choice([200, 200, 404, 500, 302])
    size = rnd.choice([612, 0, 33, 10240])
    return f'{ip} - - [14/Nov/2023:22:13:{i % 60:02d} +0000] "{method} {path} HTTP/1.1" {status} {size}'


def ansi_line(rnd, i):
    color, word = rnd.choice([("32", "INFO"), ("31", "ERROR"), ("33", "WARN")])
    return f"\x1b[{color}m{word}\x1b[0m job {rnd.choice(['started', 'failed', 'done'])} id={i} took={rnd.choice(['1m30s', '250ms', '3s'])}"


def text_line(rnd, i):
    return rnd.choice(
        [
            f"connection to db-{i % 4} refused after {i % 9} retries",
            f"ERROR failed to commit txn {1000 + i}: deadlock detected",
            f"checkpoint complete: wrote {i * 3} buffers ({i % 100}.5%)",
            f"WARN slow query took {i % 50}ms: SELECT * FROM t{i % 3}",
            "panic: runtime error: index out of range",
            f"user=alice action=login ok=true latency={i % 70}ms",
        ]
    )


def dataset(base_ns):
    """The streams every server receives: (labels, [(ns, line, metadata)])."""
    rnd = random.Random(42)
    specs = [
        ({"service_name": "api", "env": "prod", "cluster": "eu"}, json_line, 3),
        ({"service_name": "api", "env": "dev", "cluster": "us"}, json_line, 7),
        ({"service_name": "web", "env": "prod"}, logfmt_line, 3),
        ({"service_name": "web", "env": "dev"}, access_line, 5),
        ({"service_name": "worker", "env": "prod"}, ansi_line, 9),
        ({"service_name": "db", "env": "prod"}, text_line, 4),
        ({"service_name": "billing", "env": "prod", "level": "warn"}, text_line, 11),
    ]
    streams = []
    for labels, gen, every_s in specs:
        values = []
        for i, s in enumerate(range(1, WINDOW_S, every_s)):
            ns = base_ns + s * 1_000_000_000 + (i % 1000) * 1000
            meta = {}
            if labels["service_name"] in ("db", "web") and i % 2 == 0:
                meta = {"trace_id": f"{i:016x}", "pod": f"{labels['service_name']}-{i % 3}"}
            values.append((ns, gen(rnd, i), meta))
        streams.append((labels, values))
    return streams


def push(base, streams):
    body = {
        "streams": [
            {
                "stream": labels,
                "values": [[str(ns), line, meta] if meta else [str(ns), line] for ns, line, meta in values],
            }
            for labels, values in streams
        ]
    }
    status, answer = request(base, "/loki/api/v1/push", body=body)
    if status not in (200, 204):
        sys.exit(f"push to {base} failed: {status} {answer}")


# --- comparing answers ----------------------------------------------------


def normalise(answer):
    """An answer as a comparable value: errors by status class only."""
    status, body = answer
    if status != 200 or not isinstance(body, dict):
        return ("error", status // 100)
    data = body.get("data", {})
    kind = data.get("resultType")
    if kind == "scalar":
        return (kind, {(): [(float(data["result"][0]), data["result"][1])]})
    out = {}
    for r in data.get("result", []):
        if kind == "streams":
            key = tuple(sorted(r["stream"].items()))
            out.setdefault(key, []).extend((int(ts), line) for ts, line, *_ in r["values"])
        elif kind == "matrix":
            key = tuple(sorted(r["metric"].items()))
            out[key] = [(float(t), v) for t, v in r["values"]]
        elif kind == "vector":
            key = tuple(sorted(r["metric"].items()))
            out[key] = [(float(r["value"][0]), r["value"][1])]
    for k in out:
        out[k].sort()
    return (kind, out)


def agree(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return a == b
    if set(a[1]) != set(b[1]):
        return False
    for k, xs in a[1].items():
        ys = b[1][k]
        if len(xs) != len(ys):
            return False
        for (t1, v1), (t2, v2) in zip(xs, ys):
            if t1 != t2 or not same_value(v1, v2):
                return False
    return True


def explain(a, b, n=4):
    """What differs between two normalised answers, briefly."""
    if a[0] != b[0] or a[0] == "error":
        return f"loki {a[0]} {a[1] if a[0] == 'error' else ''} / cairn {b[0]} {b[1] if b[0] == 'error' else ''}"
    out = []
    only_a = [k for k in a[1] if k not in b[1]]
    only_b = [k for k in b[1] if k not in a[1]]
    for k in only_a[:n]:
        out.append(f"only loki:  {dict(k)} {a[1][k][:2]}")
    for k in only_b[:n]:
        out.append(f"only cairn: {dict(k)} {b[1][k][:2]}")
    for k in [k for k in a[1] if k in b[1]]:
        pairs = [(x, y) for x, y in zip(a[1][k], b[1][k]) if x[0] != y[0] or not same_value(x[1], y[1])]
        if pairs or len(a[1][k]) != len(b[1][k]):
            out.append(f"in {dict(k)}: {len(a[1][k])} vs {len(b[1][k])} points; first differing {pairs[:2]}")
            if len(out) > 2 * n:
                break
    return f"({len(only_a)} keys only in loki, {len(only_b)} only in cairn)\n" + "\n".join(out)


def is_metric(q):
    return not q.lstrip().startswith("{")


def main():
    args = arguments(__doc__, "loki", "logql_parity").parse_args()
    peer = (
        "loki",
        (LOKI_PORT, LOKI_GRPC),
        lambda d: LOKI_CONFIG.format(http=LOKI_PORT, grpc=LOKI_GRPC, dir=d),
        lambda cfg: [args.loki, "-config.file", cfg],
        "/ready",
    )
    with servers("logql-parity", peer, args.cairn, (CAIRN_PORT, CAIRN_GRPC), CAIRN_LIMITS) as (loki, cairn):
        base_s = (int(time.time()) // 60) * 60 - 3600
        streams = dataset(base_s * 1_000_000_000)
        for b in (loki, cairn):
            push(b, streams)
        time.sleep(1)
        start_s, end_s = base_s, base_s + WINDOW_S
        with open(args.diff_file, "w") as diff:
            tally = Tally("loki", diff)
            for q, wrong in queries(args.queries):
                if args.only and args.only not in q:
                    continue
                if is_metric(q):
                    calls = [
                        ("/loki/api/v1/query_range", {"query": q, "start": start_s, "end": end_s, "step": STEP_S}),
                        ("/loki/api/v1/query", {"query": q, "time": end_s}),
                    ]
                else:
                    calls = [
                        (
                            "/loki/api/v1/query_range",
                            {"query": q, "start": start_s, "end": end_s, "limit": 100000, "direction": "forward"},
                        )
                    ]
                for path, params in calls:
                    na = normalise(request(loki, path, params))
                    nb = normalise(request(cairn, path, params))
                    tally.record(path, q, agree(na, nb), wrong, lambda: explain(na, nb))
        tally.summary(args.diff_file)
        if args.keep:
            keep_up([f"loki {loki}", f"cairn {cairn}", f"base {base_s}"])


if __name__ == "__main__":
    main()
