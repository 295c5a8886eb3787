"""Exports a metric, a log line and a span with the OpenTelemetry Python SDK
configured the standard way: only OTEL_EXPORTER_OTLP_ENDPOINT and
OTEL_EXPORTER_OTLP_HEADERS, so each exporter appends /v1/<signal> itself.

argv: transport(http|grpc) endpoint tenant; over gRPC with gzip, as the
OpenTelemetry Collector sends.
Prints the three export results.
"""
import logging
import os
import sys

transport, endpoint, tenant = sys.argv[1:4]
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = f"X-Scope-OrgID={tenant}"

if transport == "http":
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
else:
    os.environ["OTEL_EXPORTER_OTLP_INSECURE"] = "true"
    os.environ["OTEL_EXPORTER_OTLP_COMPRESSION"] = "gzip"
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

resource = Resource.create({"service.name": "standard", "service.instance.id": "pod-1"})

reader = InMemoryMetricReader()
meters = MeterProvider(metric_readers=[reader], resource=resource)
meters.get_meter("e2e").create_counter("standard.requests").add(7)
print("metrics", OTLPMetricExporter().export(reader.get_metrics_data()).name, flush=True)

logs = InMemoryLogExporter()
log_provider = LoggerProvider(resource=resource)
log_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
log = logging.getLogger("standard")
log.propagate = False
log.addHandler(LoggingHandler(logger_provider=log_provider))
log.warning("standard endpoint line")
print("logs", OTLPLogExporter().export(logs.get_finished_logs()).name, flush=True)

spans = InMemorySpanExporter()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
tracer_provider.get_tracer("e2e").start_span("standard-span").end()
print("traces", OTLPSpanExporter().export(spans.get_finished_spans()).name, flush=True)
