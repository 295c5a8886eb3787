"""Exports metrics, a log line and a span with the OpenTelemetry Python SDK
configured the standard way: only OTEL_EXPORTER_OTLP_ENDPOINT and
OTEL_EXPORTER_OTLP_HEADERS, so each exporter appends /v1/<signal> itself.

Metrics: a counter (7), a gauge (21.5), an explicit-bucket histogram
(bounds 1, 10; observations 0.5, 5, 50), an exponential histogram
(observations 0, 1, 2, 4) in one cumulative export, then a delta counter
exported twice (3, then 4: a running total of 7).

argv: transport(http|grpc) endpoint tenant; over gRPC with gzip, as the
OpenTelemetry Collector sends.
Prints each export's result.
"""
import logging
import os
import sys
import time

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
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

resource = Resource.create({"service.name": "standard", "service.instance.id": "pod-1"})

reader = InMemoryMetricReader()
meters = MeterProvider(
    metric_readers=[reader],
    resource=resource,
    views=[
        View(
            instrument_name="standard.size",
            aggregation=ExplicitBucketHistogramAggregation(boundaries=[1, 10]),
        ),
        View(
            instrument_name="standard.latency",
            aggregation=ExponentialBucketHistogramAggregation(),
        ),
    ],
)
meter = meters.get_meter("e2e")
meter.create_counter("standard.requests").add(7)
meter.create_gauge("standard.temperature").set(21.5)
size = meter.create_histogram("standard.size", unit="By")
for v in (0.5, 5, 50):
    size.record(v)
latency = meter.create_histogram("standard.latency", unit="s")
for v in (0, 1, 2, 4):
    latency.record(v)
print("metrics", OTLPMetricExporter().export(reader.get_metrics_data()).name, flush=True)

delta_reader = InMemoryMetricReader(
    preferred_temporality={Counter: AggregationTemporality.DELTA}
)
delta_meters = MeterProvider(metric_readers=[delta_reader], resource=resource)
deltas = delta_meters.get_meter("e2e").create_counter("standard.delta.requests")
for v in (3, 4):
    time.sleep(0.01)  # the two points a millisecond apart at least: distinct samples
    deltas.add(v)
    print("delta", OTLPMetricExporter().export(delta_reader.get_metrics_data()).name, flush=True)

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
