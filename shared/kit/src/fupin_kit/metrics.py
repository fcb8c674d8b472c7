"""Prometheus metrics shared by the kit's components."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "fupin_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "fupin_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("fupin_outbox_backlog", "Unpublished outbox rows", ["service"])
OUTBOX_PUBLISHED = Counter("fupin_outbox_published_total", "Events published", ["service"])
OUTBOX_PARKED = Counter(
    "fupin_outbox_parked_total", "Outbox rows Kafka refused for good, set aside", ["service"]
)
INBOX_PROCESSED = Counter("fupin_inbox_processed_total", "Events consumed", ["consumer", "outcome"])
CONSUMER_LAG = Gauge("fupin_consumer_lag", "Consumer lag", ["consumer", "topic", "partition"])
