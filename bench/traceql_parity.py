#!/usr/bin/env python3
"""TraceQL answers from Cairn and from a real Tempo, on identical spans.

Starts both servers on 127.0.0.1 with their data in a temporary directory,
sends the same traces to each over OTLP/HTTP (JSON), waits until Tempo can
search them, then runs every query of `bench/traceql_parity_queries.txt`
against both: searches (`/api/search`, compared as the set of traces and,
per trace, of matched spans) and metrics queries (`/api/metrics/query_range`,
compared series by series). Prints per query whether the answers agree and
the share that agrees; disagreements go in full to `--diff-file`. Also times
each metrics query on both, best of three.

Tempo is built from source (see ../shared/PEERS.md); pass its binary with
`--tempo`. Cairn's binary defaults to target/debug/cairn.

    python3 bench/traceql_parity.py --tempo /path/to/tempo [--only SUBSTRING]
"""

import json
import random
import time

from peers import Tally, arguments, keep_up, queries, request, same_value, servers

TEMPO_PORT, TEMPO_GRPC, TEMPO_OTLP = 13300, 19098, 14319
CAIRN_PORT, CAIRN_GRPC = 13400, 14337
# Tempo takes spans only near the present, and its search leaves out the
# last 30 s: the traces span two minutes just before the run.
WINDOW_S = 120

TEMPO_CONFIG = """
stream_over_http_enabled: true
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  log_level: warn
distributor:
  receivers:
    otlp:
      protocols:
        http:
          endpoint: 127.0.0.1:{otlp}
storage:
  trace:
    backend: local
    wal:
      path: {dir}/wal
    local:
      path: {dir}/blocks
memberlist:
  bind_addr: [127.0.0.1]
usage_report:
  reporting_enabled: false
"""


SERVICES = {
    "frontend": {"region": "eu", "scope": ("frontend-sdk", "1.2.0")},
    "api": {"region": "eu", "scope": ("api-instr", "0.9.1")},
    "db": {"region": "us", "scope": ("sql-instr", "3.0.0")},
    "cache": {"region": "us", "scope": ("cache-instr", "1.0.0")},
}
ROUTES = ["/users", "/orders", "/items/{id}", "/health"]
KINDS = {"server": 2, "client": 3, "internal": 1, "producer": 4, "consumer": 5}


def attr(k, v):
    if isinstance(v, bool):
        val = {"boolValue": v}
    elif isinstance(v, int):
        val = {"intValue": str(v)}
    elif isinstance(v, float):
        val = {"doubleValue": v}
    else:
        val = {"stringValue": v}
    return {"key": k, "value": val}


def dataset(base_ns, n_traces=200):
    """Spans grouped by service: {service: [span dicts]}. Each trace is a
    small tree: frontend -> api -> (db | cache)*, with events on errors."""
    rnd = random.Random(7)
    by_service = {s: [] for s in SERVICES}
    for t in range(n_traces):
        trace_id = f"{rnd.getrandbits(128):032x}"
        t0 = base_ns + rnd.randrange(0, (WINDOW_S - 30) * 10**9)
        route = rnd.choice(ROUTES)
        failing = rnd.random() < 0.2

        def span(service, name, kind, parent, start, dur_ms, attrs, status=0, events=()):
            sid = f"{rnd.getrandbits(64):016x}"
            s = {
                "traceId": trace_id,
                "spanId": sid,
                "name": name,
                "kind": KINDS[kind],
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + int(dur_ms * 1e6)),
                "attributes": [attr(k, v) for k, v in attrs.items()],
                "status": {"code": status, **({"message": "boom"} if status == 2 else {})},
                "events": [
                    {"timeUnixNano": str(start + 1000), "name": e, "attributes": [attr("exception.type", "Timeout")]}
                    for e in events
                ],
            }
            if parent:
                s["parentSpanId"] = parent
            by_service[service].append(s)
            return sid

        root_ms = rnd.choice([20, 45, 120, 300, 900])
        root = span("frontend", f"GET {route}", "server", None, t0, root_ms,
                    {"http.method": "GET", "http.route": route, "http.status_code": 500 if failing else 200},
                    status=2 if failing else 1)
        api = span("api", f"handle {route}", "server", root, t0 + 10**6, root_ms * 0.8,
                   {"http.route": route, "retries": rnd.randrange(0, 3), "sampled": rnd.random() < 0.5},
                   status=2 if failing else 0, events=("exception",) if failing else ())
        for i in range(rnd.randrange(1, 4)):
            if rnd.random() < 0.6:
                span("db", "SELECT", "client", api, t0 + (2 + i) * 10**6, rnd.choice([1.5, 7, 40, 250]),
                     {"db.system": rnd.choice(["postgresql", "mysql"]), "db.rows": rnd.randrange(0, 500)},
                     status=2 if failing and i == 0 else 0)
            else:
                span("cache", rnd.choice(["GET", "SET"]), "client", api, t0 + (2 + i) * 10**6,
                     rnd.choice([0.2, 0.9, 3.0]), {"cache.hit": rnd.random() < 0.7, "ratio": rnd.random()})
    return by_service


def otlp_body(by_service):
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [attr("service.name", svc), attr("region", SERVICES[svc]["region"])]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": SERVICES[svc]["scope"][0], "version": SERVICES[svc]["scope"][1]},
                        "spans": spans,
                    }
                ],
            }
            for svc, spans in by_service.items()
        ]
    }


def trace_id(t):
    return t.lstrip("0").lower()


def normalise_search(answer):
    status, body = answer
    if status != 200 or not isinstance(body, dict):
        return ("error", status // 100)
    out = {}
    for t in body.get("traces") or []:
        spans = set()
        sets = t.get("spanSets") or ([t["spanSet"]] if t.get("spanSet") else [])
        for ss in sets:
            for sp in ss.get("spans") or []:
                spans.add(sp["spanID"].lstrip("0"))
        out[trace_id(t["traceID"])] = spans
    return ("traces", out)


def normalise_metrics(answer):
    status, body = answer
    if status != 200 or not isinstance(body, dict):
        return ("error", status // 100)
    out = {}
    for s in body.get("series") or []:
        labels = tuple(sorted((l["key"], json.dumps(l["value"], sort_keys=True)) for l in s.get("labels") or []))
        out[labels] = sorted((int(p.get("timestampMs", 0)), p.get("value", 0)) for p in s.get("samples") or [])
    return ("series", out)


def agree(a, b):
    if a[0] != b[0]:
        return False
    if a[0] != "series":
        return a == b
    if set(a[1]) != set(b[1]):
        return False
    for k, xs in a[1].items():
        ys = dict(b[1][k])
        xs = dict(xs)
        for t in set(xs) | set(ys):
            if not same_value(xs.get(t, 0), ys.get(t, 0)):
                return False
    return True


def explain(a, b, n=4):
    if a[0] != b[0] or a[0] == "error":
        return f"tempo {a[0]} {a[1] if a[0] == 'error' else ''} / cairn {b[0]} {b[1] if b[0] == 'error' else ''}"
    only_a = [k for k in a[1] if k not in b[1]]
    only_b = [k for k in b[1] if k not in a[1]]
    out = [f"({len(a[1])} in tempo, {len(b[1])} in cairn; {len(only_a)} only tempo, {len(only_b)} only cairn)"]
    out += [f"only tempo: {k} {str(a[1][k])[:200]}" for k in only_a[:n]]
    out += [f"only cairn: {k} {str(b[1][k])[:200]}" for k in only_b[:n]]
    for k in [k for k in a[1] if k in b[1] and a[1][k] != b[1][k]][:n]:
        out.append(f"differ {k}: tempo {str(a[1][k])[:200]} / cairn {str(b[1][k])[:200]}")
    return "\n".join(out)


def best_of(fn, n=3):
    best = None
    for _ in range(n):
        t = time.perf_counter()
        fn()
        d = time.perf_counter() - t
        best = d if best is None else min(best, d)
    return best


def main():
    ap = arguments(__doc__, "tempo", "traceql_parity")
    ap.add_argument("--traces", type=int, default=200)
    args = ap.parse_args()
    peer = (
        "tempo",
        (TEMPO_PORT, TEMPO_GRPC, TEMPO_OTLP),
        lambda d: TEMPO_CONFIG.format(http=TEMPO_PORT, grpc=TEMPO_GRPC, otlp=TEMPO_OTLP, dir=d),
        lambda cfg: [args.tempo, "-config.file", cfg],
        "/ready",
    )
    with servers("traceql-parity", peer, args.cairn, (CAIRN_PORT, CAIRN_GRPC)) as (tempo, cairn):
        base_s = int(time.time()) - WINDOW_S - 5
        now = base_s + WINDOW_S + 40
        body = otlp_body(dataset(base_s * 10**9, args.traces))
        for url in (f"http://127.0.0.1:{TEMPO_OTLP}/v1/traces", cairn + "/v1/traces"):
            status, answer = request(url, "", body=body, tenant="single-tenant")
            if status not in (200, 204):
                raise SystemExit(f"push to {url} failed: {status} {answer}")
        # Tempo searches recent spans after a delay and up to 30 s ago; wait
        # until the window is past that and it finds every trace.
        time.sleep(max(0.0, now + 1 - time.time()))
        total = args.traces
        for _ in range(60):
            st, ans = request(tempo, "/api/search", {"q": "{}", "start": base_s, "end": now, "limit": 10000})
            if st == 200 and len(ans.get("traces") or []) >= total:
                break
            time.sleep(2)
        start_s, end_s = base_s, now
        timings = []
        with open(args.diff_file, "w") as diff:
            tally = Tally("tempo", diff)
            for q, wrong in queries(args.queries):
                if args.only and args.only not in q:
                    continue
                metric = "| rate()" in q or "_over_time(" in q or "compare(" in q
                if metric:
                    path = "/api/metrics/query_range"
                    params = {"q": q, "start": start_s, "end": end_s, "step": "15s"}
                    norm = normalise_metrics
                else:
                    path = "/api/search"
                    params = {"q": q, "start": start_s, "end": end_s, "limit": 10000, "spss": 100}
                    norm = normalise_search
                a = request(tempo, path, params, tenant="single-tenant")
                b = request(cairn, path, params, tenant="single-tenant")
                na, nb = norm(a), norm(b)
                tally.record(path, q, agree(na, nb), wrong, lambda: explain(na, nb))
                if metric and b[0] == 200:
                    tt = best_of(lambda: request(tempo, path, params, tenant="single-tenant"))
                    tc = best_of(lambda: request(cairn, path, params, tenant="single-tenant"))
                    timings.append((q, tt, tc))
        if timings:
            print("\nmetrics latency, best of 3 (tempo / cairn):")
            for q, tt, tc in timings:
                print(f"  {tt * 1000:7.1f} ms / {tc * 1000:7.1f} ms  {q}")
        tally.summary(args.diff_file)
        if args.keep:
            keep_up([f"tempo {tempo}", f"cairn {cairn}", f"window [{start_s}, {end_s}]"])


if __name__ == "__main__":
    main()
