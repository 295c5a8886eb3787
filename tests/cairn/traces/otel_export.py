"""Sends one trace per tenant over OTLP with the OpenTelemetry Python SDK.

argv: http_base grpc_endpoint tenant_http tenant_grpc [expected.json]
Prints one line per export: "<transport> <tenant> <result> <spans>". With
expected.json, appends what was sent (tenant, trace ID, the OTLP request
the SDK encodes) for otel_check.py to compare with what Cairn returns.
"""
import base64
import json
import os
import sys

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

http_base, grpc_endpoint, tenant_http, tenant_grpc = sys.argv[1:5]
expected_path = sys.argv[5] if len(sys.argv) > 5 else None
expected = []
if expected_path and os.path.exists(expected_path):
    with open(expected_path) as f:
        expected = json.load(f)


def spans(service):
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("e2e", "1.0")
    with tracer.start_as_current_span("root", kind=trace.SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "GET")
        root.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("child", links=[trace.Link(root.get_span_context(), {"l": 1})]) as child:
            child.add_event("exception", {"exception.type": "E"})
            child.set_attribute("db.system", "postgresql")
    return memory.get_finished_spans()


for transport, exporter, tenant in [
    ("http", HttpExporter(endpoint=f"{http_base}/v1/traces", headers={"X-Scope-OrgID": tenant_http}), tenant_http),
    ("grpc", GrpcExporter(endpoint=grpc_endpoint, insecure=True, headers=(("x-scope-orgid", tenant_grpc),)), tenant_grpc),
]:
    batch = spans(f"svc-{tenant}")
    result = exporter.export(batch)
    print(transport, tenant, result.name, len(batch), flush=True)
    exporter.shutdown()
    expected.append({
        "tenant": tenant,
        "trace_id": format(batch[0].context.trace_id, "032x"),
        "request": base64.b64encode(encode_spans(batch).SerializeToString()).decode(),
    })

if expected_path:
    with open(expected_path, "w") as f:
        json.dump(expected, f)
