"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/):
realistic valid inputs for each decoder, so fuzzing starts from inputs
that reach deep into the parsers. Run from the repository root:
python3 fuzz/make_seeds.py. (The `on_disk` seeds are files a running
Cairn wrote: a metrics and a traces WAL segment, a block index, and a logs
WAL segment whose stream has an 80 KiB label value of two-byte characters,
written with the label length limits off. The `histogram_chunk` seeds are
chunks common::chunk::histogram's encoder wrote: 120 scrapes of a schema-3
histogram, a single sample, and a run of layout, hint and integer/float
changes.)"""
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

# Remote write 2.0 (the same target decodes every input both ways): a
# symbols table, then a series of labels by reference with a sample, a
# histogram, an exemplar and metadata.
symbols = b"".join(string(4, s) for s in ["", "__name__", "up", "job", "api", "trace_id", "abc", "Help.", "seconds"])
packed = lambda num, refs: msg(num, b"".join(varint(r) for r in refs))
v2_histogram = msg(3, field(1, 0, varint(4)) + field(3, 1, struct.pack("<d", 2.5)) + field(4, 0, varint(6))
                   + msg(11, field(1, 0, varint(0)) + field(2, 0, varint(2))) + packed(12, [2, 2]))
v2_exemplar = msg(4, packed(1, [5, 6]) + field(2, 1, struct.pack("<d", 1.0)) + field(3, 0, varint(1700000000000)))
v2_metadata = msg(5, field(1, 0, varint(1)) + field(3, 0, varint(7)) + field(4, 0, varint(8)))
v2_series = msg(5, packed(1, [3, 4, 1, 2]) + sample + v2_histogram + v2_exemplar + v2_metadata)
write("remote_write", "v2_request", snappy_literal(symbols + v2_series))

entry = msg(2, msg(1, field(1, 0, varint(1700000000)) + field(2, 0, varint(5))) + string(2, "GET /api 200"))
stream = msg(1, string(1, '{app="api", env="prod"}') + entry)
write("loki_push", "protobuf", snappy_literal(stream))
write("loki_push", "json", '{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000000","line",{"trace_id":"abc"}]]}]}')
write("loki_push", "otlp_json", '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityText":"INFO","body":{"stringValue":"hello"},"attributes":[{"key":"user","value":{"intValue":"7"}}]}]}]}]}')

write("otlp", "traces_json", '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"00f067aa0ba902b7","name":"GET /","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"http.response.status_code","value":{"intValue":"200"}}],"events":[{"timeUnixNano":"1","name":"e"}],"links":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7"}],"status":{"code":2,"message":"boom"}}]}]}]}')
write("otlp", "metrics_json", '{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeMetrics":[{"metrics":[{"name":"requests","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"5"}]}},{"name":"latency","unit":"s","histogram":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":"1700000000000000000","count":"3","sum":1.5,"bucketCounts":["1","2"],"explicitBounds":[0.5]}]}}]}]}]}')

# Bodies that decode far larger than they weigh (issue 17, item 5): each
# passes the fuzz targets' 1 MiB decoded-size limit only in estimate.
write("remote_write", "empty_labels", snappy_literal(msg(1, bytes([0x0a, 0x00]) * 30000)))
# One long symbol referenced over and over: small on the wire, gigabytes
# once the references are resolved into labels.
write("remote_write", "v2_symbol_amplification", snappy_literal(
    string(4, "") + string(4, "__name__") + string(4, "x" * 60000) + msg(5, packed(1, [1, 2] * 20000))))
write("loki_push", "empty_entries", snappy_literal(msg(1, string(1, '{a="b"}') + bytes([0x12, 0x00]) * 30000)))
write("loki_push", "otlp_json_empty_records", '{"resourceLogs":[{"resource":{"attributes":[' + ",".join('{"key":"k%d"}' % i for i in range(300)) + ']},"scopeLogs":[{"logRecords":[' + ",".join(["{}"] * 3000) + ']}]}]}')
write("otlp", "traces_empty_spans", msg(1, msg(2, bytes([0x12, 0x00]) * 30000)))
point = bytes([0x4a, 0x00]) * 500 + field(6, 2, struct.pack("<Q", 1) * 2000)
write("otlp", "metrics_buckets_times_attributes", msg(1, msg(2, msg(2, string(1, "h") + msg(9, msg(1, point))))))

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
    '({nestedSetParent<0 && status = error} &>> { status = error }) || ({nestedSetParent<0}) | select(nestedSetLeft, nestedSetRight)',
    '{ event:name = "exception" && event.exception.type =~ "IO.*" } !~ { link.reason != nil } &< { instrumentation:version = "1.0" }',
]):
    write("traceql", f"q{i}", q)
# Deep nesting and long operator chains, at and just past the limits the
# parsers enforce (querier::promql::complexity): each must parse, print and
# drop, or be refused, without exhausting the stack.
for name, q in {
    "deep-sum": "sum(" * 300 + "up" + ")" * 300,
    "deep-sum-at-limit": "sum(" * 256 + "up" + ")" * 256,
    "long-sum": "+".join(["1"] * 1100),
    "long-sum-at-limit": "+".join(["up"] * 1025),
    "parens": "(" * 10000 + "1" + ")" * 10000,
    "unary-minus": "-" * 2000 + "1",
    "deep-subquery": "(" * 300 + "up" + ")[5m:1m]" * 300,
    "deep-negation-at-limit": "-(" * 255 + "+".join(["1"] * 770) + ")" * 255,
}.items():
    write("promql", name, q)
LOG = 'count_over_time({app="api"}[1m])'
for name, q in {
    "deep-sum": "sum(" * 300 + LOG + ")" * 300,
    "deep-sum-at-limit": "sum(" * 254 + LOG + ")" * 254,
    "long-sum": " + ".join([LOG] * 600),
    "long-sum-at-limit": "+".join([LOG] * 512),
    "label-filter-and": '{app="api"} | ' + " and ".join(['x="1"'] * 600),
    "label-filter-juxtaposed": '{app="api"} | ' + " ".join(['x="1"'] * 1100),
    "label-filter-parens": '{app="api"} | ' + "(" * 300 + 'x="1"' + ")" * 300,
    "unary-minus": "-" * 2000 + LOG,
}.items():
    write("logql", name, q)
for name, q in {
    "parens": "(" * 1000 + "{}" + ")" * 1000,
    "long-and": "{ " + " && ".join([".a = 1"] * 300) + " }",
    "not-chain": "{ " + "!" * 1000 + "true }",
    "structural-chain": " >> ".join(["{}"] * 300),
    "union-and-negated-chain": " &>> ".join(["{}"] * 100) + " !< " + " !~ ".join(["{}"] * 100),
}.items():
    write("traceql", name, q)
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
