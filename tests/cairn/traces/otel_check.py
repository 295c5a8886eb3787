"""Fetches every trace otel_export.py recorded from Cairn's Tempo API
(`GET /api/traces/<id>`, protobuf) and compares it with what the SDK sent:
the same spans, each once, every field (attributes, events, links, status,
flags) byte for byte, under the same resource and scope.

argv: http_base expected.json [as_tenant]
With as_tenant, asks as that tenant instead and expects 404 for traces of
other tenants. Prints "ok <tenant> <trace_id> <spans>" per trace.
"""
import base64
import json
import sys
import urllib.error
import urllib.request

from google.protobuf import text_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, TracesData

http_base, expected_path = sys.argv[1:3]
as_tenant = sys.argv[3] if len(sys.argv) > 3 else None


def flatten(resource_spans):
    """span ID -> (resource, resource schema, scope, scope schema, span), serialized."""
    out = {}
    for rs in resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                key = sp.span_id.hex()
                assert key not in out, f"span {key} returned twice"
                out[key] = tuple(
                    m.SerializeToString(deterministic=True) if hasattr(m, "SerializeToString") else m
                    for m in (rs.resource, rs.schema_url, ss.scope, ss.schema_url, sp)
                )
    return out


def describe(sent, got):
    """The differing parts of two flattened traces, readable."""
    parts = ["resource", "resource schema", "scope", "scope schema", "span"]
    kinds = [Resource, None, InstrumentationScope, None, Span]
    out = []
    for key in sorted(set(sent) | set(got)):
        if key not in got or key not in sent:
            out.append(f"span {key}: only {'sent' if key in sent else 'returned'}")
            continue
        for name, kind, a, b in zip(parts, kinds, sent[key], got[key]):
            if a != b:
                show = (lambda v: text_format.MessageToString(kind.FromString(v))) if kind else repr
                out.append(f"span {key} {name}:\n--- sent\n{show(a)}--- got\n{show(b)}")
    return "\n".join(out)


with open(expected_path) as f:
    expected = json.load(f)

failed = False
for want in expected:
    tenant = as_tenant or want["tenant"]
    req = urllib.request.Request(
        f"{http_base}/api/traces/{want['trace_id']}",
        headers={"X-Scope-OrgID": tenant, "Accept": "application/protobuf"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            got = TracesData.FromString(r.read()).resource_spans
    except urllib.error.HTTPError as e:
        if e.code == 404 and tenant != want["tenant"]:
            print("notfound", tenant, want["trace_id"])
            continue
        print("FAIL", tenant, want["trace_id"], e.code, e.read()[:200])
        failed = True
        continue
    if tenant != want["tenant"]:
        print("LEAK", tenant, want["trace_id"], "returned", len(flatten(got)), "spans")
        failed = True
        continue
    sent = ExportTraceServiceRequest.FromString(base64.b64decode(want["request"])).resource_spans
    if flatten(got) != flatten(sent):
        print("FAIL", tenant, want["trace_id"], "differs\n" + describe(flatten(sent), flatten(got)))
        failed = True
        continue
    print("ok", tenant, want["trace_id"], len(flatten(got)))

sys.exit(1 if failed else 0)
