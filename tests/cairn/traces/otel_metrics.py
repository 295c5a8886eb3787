"""Exports OTLP metrics with the OpenTelemetry Python SDK.

argv: transport(http|grpc) endpoint tenant
Prints the export result.
"""
import sys

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

transport, endpoint, tenant = sys.argv[1:4]
if transport == "http":
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    exporter = OTLPMetricExporter(endpoint=f"{endpoint}/otlp/v1/metrics", headers={"X-Scope-OrgID": tenant})
else:
    from grpc import Compression
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    # gzip, as the OpenTelemetry Collector sends by default.
    exporter = OTLPMetricExporter(
        endpoint=endpoint, insecure=True, headers=(("x-scope-orgid", tenant),), compression=Compression.Gzip
    )

reader = InMemoryMetricReader()
provider = MeterProvider(
    metric_readers=[reader],
    resource=Resource.create({"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-1"}),
)
meter = provider.get_meter("e2e")
meter.create_counter("orders", unit="{order}").add(5, {"region": "eu"})
meter.create_histogram("http.server.duration", unit="s").record(0.25, {"http.route": "/pay"})
meter.create_up_down_counter("queue.size").add(3)
data = reader.get_metrics_data()
print(exporter.export(data).name, flush=True)
