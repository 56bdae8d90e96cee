"""The fetcher's Prometheus metrics: messages fetched, IMAP errors by kind, leases, last cycle per inbox.

`FetcherMetrics()` builds them on a registry of its own (see intake.shared.metrics); `for_inbox` hands a
poller the labelled children of its inbox, made once and every one starting at 0, so counting on the
hot path is one method call. Labels carry inbox ids, never addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from intake.fetcher.health import ERROR_KINDS
from intake.shared.cleanup_metrics import CleanupMetrics
from intake.shared.metrics import inbox_label, new_registry


@dataclass(frozen=True)
class InboxMetrics:
    """One inbox's children of the fetcher's metrics."""

    fetched: Counter
    errors: dict[str, Counter]  # by kind (health.ERROR_KINDS)
    lease_held: Gauge
    lease_acquisitions: Counter
    lease_losses: Counter
    last_cycle: Gauge


class FetcherMetrics:
    """Every metric the fetcher exposes on `/metrics`, on `registry` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry if registry is not None else new_registry("fetcher")
        # Pruning of the fetcher's own records (record_retention.py), counted per run.
        self.cleanup = CleanupMetrics(registry, ("fetcher.messages", "fetcher.fetch_attempts"))
        self.fetched = Counter(
            "intake_messages_fetched", "Messages fetched and published, per inbox.", ["inbox"], registry=registry
        )
        self.fetch_errors = Counter(
            "intake_fetch_errors",
            "Failed IMAP sessions and access-token requests, per inbox and kind of error.",
            ["inbox", "kind"],
            registry=registry,
        )
        self.leases_held = Gauge("intake_fetcher_leases_held", "Inbox leases this replica holds.", registry=registry)
        self.lease_held = Gauge(
            "intake_fetcher_lease_held", "1 while this replica holds the inbox's lease.", ["inbox"], registry=registry
        )
        self.lease_acquisitions = Counter(
            "intake_fetcher_lease_acquisitions", "Inbox leases this replica claimed.", ["inbox"], registry=registry
        )
        self.lease_losses = Counter(
            "intake_fetcher_lease_losses",
            "Inbox leases this replica lost without releasing them (taken over or expired).",
            ["inbox"],
            registry=registry,
        )
        self.last_cycle = Gauge(
            "intake_fetcher_last_cycle_timestamp_seconds",
            "Unix time of the last successful check of the inbox's mailbox for new mail.",
            ["inbox"],
            registry=registry,
        )
        self._inboxes: dict[int, InboxMetrics] = {}

    def for_inbox(self, inbox_id: int) -> InboxMetrics:
        """The inbox's children, created at 0 the first time the inbox is seen."""
        found = self._inboxes.get(inbox_id)
        if found is None:
            inbox = inbox_label(inbox_id)
            found = self._inboxes[inbox_id] = InboxMetrics(
                fetched=self.fetched.labels(inbox),
                errors={kind: self.fetch_errors.labels(inbox, kind) for kind in ERROR_KINDS},
                lease_held=self.lease_held.labels(inbox),
                lease_acquisitions=self.lease_acquisitions.labels(inbox),
                lease_losses=self.lease_losses.labels(inbox),
                last_cycle=self.last_cycle.labels(inbox),
            )
        return found

    def leases_changed(self, before: frozenset[int], after: frozenset[int], released: frozenset[int]) -> None:
        """The supervisor's held leases went from `before` to `after`; `released` were given up on purpose,
        every other dropped lease was lost (taken over, or not renewed in time)."""
        self.leases_held.set(len(after))
        for inbox_id in after - before:
            inbox = self.for_inbox(inbox_id)
            inbox.lease_acquisitions.inc()
            inbox.lease_held.set(1)
        for inbox_id in before - after:
            inbox = self.for_inbox(inbox_id)
            inbox.lease_held.set(0)
            if inbox_id not in released:
                inbox.lease_losses.inc()
