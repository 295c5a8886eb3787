"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/):
realistic valid inputs for each decoder, so fuzzing starts from inputs
that reach deep into the parsers. Run from the repository root:
python3 fuzz/make_seeds.py. (The `on_disk` seeds are files a running
Cairn wrote: a metrics and a traces WAL segment, a block index, and a logs
WAL segment whose stream has an 80 KiB label value of two-byte characters,
written with the label length limits off.)"""
import os
import struct


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def msg(num, payload):
    return field(num, 2, payload)


def string(num, s):
    return field(num, 2, s.encode())


def snappy_literal(data):
    """A valid snappy block holding `data` as literals only."""
    out = varint(len(data))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out += bytes([n << 2])
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return out


def write(target, name, data):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def label(n, v):
    return msg(1, string(1, n) + string(2, v))


sample = msg(2, field(1, 1, struct.pack("<d", 1.5)) + field(2, 0, varint(1700000000000)))
series = msg(1, label("__name__", "http_requests_total") + label("job", "api") + sample)
write("remote_write", "write_request", snappy_literal(series))
write("remote_write", "empty", snappy_literal(b""))

entry = msg(2, msg(1, field(1, 0, varint(1700000000)) + field(2, 0, varint(5))) + string(2, "GET /api 200"))
stream = msg(1, string(1, '{app="api", env="prod"}') + entry)
write("loki_push", "protobuf", snappy_literal(stream))
write("loki_push", "json", '{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000000","line",{"trace_id":"abc"}]]}]}')
write("loki_push", "otlp_json", '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityText":"INFO","body":{"stringValue":"hello"},"attributes":[{"key":"user","value":{"intValue":"7"}}]}]}]}]}')

write("otlp", "traces_json", '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"00f067aa0ba902b7","name":"GET /","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"http.response.status_code","value":{"intValue":"200"}}],"events":[{"timeUnixNano":"1","name":"e"}],"links":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7"}],"status":{"code":2,"message":"boom"}}]}]}]}')
write("otlp", "metrics_json", '{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeMetrics":[{"metrics":[{"name":"requests","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"5"}]}},{"name":"latency","unit":"s","histogram":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":"1700000000000000000","count":"3","sum":1.5,"bucketCounts":["1","2"],"explicitBounds":[0.5]}]}}]}]}]}')

for i, q in enumerate([
    'sum by (job) (rate(http_requests_total{job=~"api|web"}[5m])) > 0.5',
    'histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m] offset 5m @ end())))',
    'max_over_time(up[1h:5m]) or on(instance) vector(1) unless absent(foo)',
]):
    write("promql", f"q{i}", q)
for i, q in enumerate([
    'sum by (app) (rate({app="api"} |= "error" | json | level="error" | line_format "{{.msg}}" [1m])) > 1',
    '{env="prod"} |~ "GET|POST" | logfmt | duration > 10ms | unwrap bytes',
    'topk(3, count_over_time({app=~".+"} != "debug" [5m]))',
]):
    write("logql", f"q{i}", q)
for i, q in enumerate([
    '{ resource.service.name = "api" && status = error } >> { kind = client } | by(span.http.route) | count() > 1',
    '{ duration > 100ms || span.http.response.status_code >= 500 } | select(span.db.system)',
    '{ .a =~ "x.*" } ~ { name != "b" } | avg(duration) > 1s',
]):
    write("traceql", f"q{i}", q)
write("rule_group", "group", """name: api
interval: 30s
rules:
  - record: job:requests:rate5m
    expr: sum by (job) (rate(http_requests_total[5m]))
  - alert: HighErrors
    expr: job:requests:rate5m > 10
    for: 5m
    keep_firing_for: 1m
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.job }} at {{ $value | humanize }}"
""")
write("tenant_header", "one", "team-aBasic dGVhbS1hOnNlY3JldA==")
write("tenant_header", "several", "a|b|cBearer token")
