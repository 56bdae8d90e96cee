"""config-api's Prometheus metrics: inbox state from the database, OAuth2 refreshes, the email log's write
lag, HTTP requests by route template, and the dead-letter queue's depth.

`ConfigApiMetrics()` builds them on a registry of its own (see intake.shared.metrics). The inbox gauges
are set from the database by `metrics_refresh`, so every replica reports the same truth; labels carry
inbox ids, states, outcomes and route templates, never addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from intake.shared.cleanup_metrics import CleanupMetrics
from intake.shared.contracts import InboxState
from intake.shared.metrics import LATENCY_BUCKETS, inbox_label, new_registry

OAUTH2_REFRESH_OUTCOMES = ("ok", "refused", "unavailable")
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class InboxRow:
    """What the inbox gauges show of one inbox."""

    inbox_id: int
    state: str  # as the API shows it: ok, error, needs_reauth, disabled, or unknown (no state is 1)
    active: bool
    poll_interval_seconds: float


class ConfigApiMetrics:
    """Every metric config-api exposes on `/metrics`, on `registry` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry if registry is not None else new_registry("config-api")
        # The email log's retention (email_log_retention.py), counted per run.
        self.cleanup = CleanupMetrics(registry, ("config.email_log",))
        self.inbox_state = Gauge(
            "intake_inbox_state",
            "1 for the inbox's current state, 0 for the others.",
            ["inbox", "state"],
            registry=registry,
        )
        self.inbox_active = Gauge("intake_inbox_active", "1 while the inbox is active.", ["inbox"], registry=registry)
        self.poll_interval = Gauge(
            "intake_inbox_poll_interval_seconds", "The inbox's poll interval.", ["inbox"], registry=registry
        )
        self.oauth2_refresh = Counter(
            "intake_oauth2_refresh",
            "OAuth2 access-token requests to the provider, per inbox and outcome (ok, refused, unavailable).",
            ["inbox", "outcome"],
            registry=registry,
        )
        self.email_log_write_lag = Histogram(
            "intake_email_log_write_lag_seconds",
            "From an event's time (fetched_at, processed_at) to its email log row written.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "intake_http_requests",
            "HTTP requests answered, per route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "intake_http_request_duration_seconds",
            "Time to answer an HTTP request, per route template and method.",
            ["route", "method"],
            buckets=HTTP_DURATION_BUCKETS,
            registry=registry,
        )
        self.dead_letters = Gauge(
            "intake_dead_letter_messages", "Messages waiting in the dead-letter queue.", registry=registry
        )
        self._known: set[int] = set()

    def refresh_inboxes(self, rows: Iterable[InboxRow]) -> None:
        """Set the inbox gauges to `rows`, the database's current truth; inboxes no longer there disappear."""
        seen: set[int] = set()
        for row in rows:
            inbox = inbox_label(row.inbox_id)
            seen.add(row.inbox_id)
            for state in InboxState:
                self.inbox_state.labels(inbox, state.value).set(1 if state.value == row.state else 0)
            self.inbox_active.labels(inbox).set(1 if row.active else 0)
            self.poll_interval.labels(inbox).set(row.poll_interval_seconds)
            if row.inbox_id not in self._known:
                for outcome in OAUTH2_REFRESH_OUTCOMES:
                    self.oauth2_refresh.labels(inbox, outcome)
        for gone in self._known - seen:
            inbox = inbox_label(gone)
            for state in InboxState:
                self.inbox_state.remove(inbox, state.value)
            self.inbox_active.remove(inbox)
            self.poll_interval.remove(inbox)
            for outcome in OAUTH2_REFRESH_OUTCOMES:
                self.oauth2_refresh.remove(inbox, outcome)
        self._known = seen

    def record_oauth2_refresh(self, inbox_id: int, outcome: str) -> None:
        self.oauth2_refresh.labels(inbox_label(inbox_id), outcome).inc()
