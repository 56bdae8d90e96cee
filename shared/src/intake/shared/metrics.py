"""The parts of every service's Prometheus metrics that are the same everywhere: a registry of its own
with `intake_build_info`, and the label value an inbox gets.

Each service builds its metrics in its own `metrics.py` on a registry made here, once per app (tests
build several apps in one process, so nothing is registered in prometheus-client's global registry).
Labels carry inbox ids and outcomes, never addresses, subjects or message ids.
"""

from __future__ import annotations

from importlib import metadata

import prometheus_client
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector

# Delivery latency runs from a fraction of a second (a message fetched by IDLE) to hours (an inbox that
# was down): 0.1 s … 6 h.
LATENCY_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    10800.0,
    21600.0,
)


def service_version(service: str) -> str:
    """The installed version of the service's package (`intake-fetcher`, …), or "unknown" outside a install."""
    try:
        return metadata.version(f"intake-{service}")
    except metadata.PackageNotFoundError:
        return "unknown"


def new_registry(service: str) -> CollectorRegistry:
    """A registry for one service instance, with `intake_build_info{service,version} 1` and the process's
    own CPU, memory and file descriptor metrics (`process_*`)."""
    # Counters and histograms would each get a `_created` series too: twice the series for a value no
    # dashboard or alert here reads.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=True)
    build_info = Gauge(
        "intake_build_info", "Always 1: which service and version this is.", ["service", "version"], registry=registry
    )
    build_info.labels(service=service, version=service_version(service)).set(1)
    ProcessCollector(registry=registry)
    return registry


def inbox_label(inbox_id: int) -> str:
    """The `inbox` label value of an inbox: its id, never its address.

    >>> inbox_label(7)
    '7'
    """
    return str(inbox_id)


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum", "")}


def metric_names(registry: CollectorRegistry) -> set[str]:
    """Every series name `registry` can expose (counters with `_total`, histograms with `_bucket`,
    `_count`, `_sum`), also for labelled metrics that have no child yet: for tests that compare the
    names in dashboards and alert rules with what a service really exposes."""
    return {family.name + suffix for family in registry.collect() for suffix in _SUFFIXES.get(family.type, ("",))}
