"""Prometheus metrics: request latency by route and responses by status code, counted by
every process, plus readings other features register (the job queue's depth) and the
job runner's failure counter.

Under gunicorn each worker is its own process. With PROMETHEUS_MULTIPROC_DIR set (as
gunicorn.conf.py does) every process writes its figures to files there and a scrape,
whichever worker answers it, adds them all up; without it (`flask run`, tests) the
figures are this process's own.
"""

import os
from collections.abc import Callable

from flask import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Routes are Flask endpoint names ("incidents.detail"), never raw paths: a path holds ids
# and whatever a client typed, and every distinct label value is a new time series.
UNMATCHED_ROUTE = "unmatched"
# A `_created` series beside each counter doubles the scrape for a figure nobody graphs.
disable_created_metrics()

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "fieldsvc_http_request_duration_seconds",
    "Time from the start of a request to its response, by route.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESPONSES = Counter(
    "fieldsvc_http_responses",
    "Responses sent, by route and status code.",
    ["route", "method", "status"],
)
# Incremented by the job runner when a job fails (after its last retry or not).
JOB_FAILURES = Counter("fieldsvc_job_failures", "Background jobs that failed, by job.", ["job"])

_readings: dict[str, tuple[str, Callable[[], float]]] = {}


def register_gauge(name: str, documentation: str, read: Callable[[], float]) -> None:
    """A figure read when Prometheus scrapes, e.g. the job queue's depth from Redis: it
    belongs to the queue, not to one process, so it is asked for, not counted."""
    _readings[name] = (documentation, read)


class _Readings(Collector):
    def collect(self):
        for name, (documentation, read) in _readings.items():
            yield GaugeMetricFamily(name, documentation, value=float(read()))


def route_label(endpoint: str | None) -> str:
    return endpoint or UNMATCHED_ROUTE


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def observe(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """Count one response of the route `endpoint`."""
    route, method = route_label(endpoint), method_label(method)
    REQUEST_SECONDS.labels(route=route, method=method).observe(seconds)
    RESPONSES.labels(route=route, method=method, status=str(status)).inc()


def exposition() -> bytes:
    """Every figure in Prometheus' text format: all processes' in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    readings = CollectorRegistry()
    readings.register(_Readings())
    return generate_latest(counted) + generate_latest(readings)


def response() -> Response:
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)
