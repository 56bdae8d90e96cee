"""The ingestor's Prometheus metrics: outcomes per inbox, delivery latency, ingest batch size and duration.

`IngestorMetrics()` builds them on a registry of its own (see intake.shared.metrics); `for_inbox` makes
an inbox's children for every outcome once, at 0, so counting a message is a dict lookup and a call.
Labels carry inbox ids and outcomes, never addresses.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from intake.shared.cleanup_metrics import CleanupMetrics
from intake.shared.contracts import MessageFetched, Outcome
from intake.shared.metrics import LATENCY_BUCKETS, inbox_label, new_registry

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
BATCH_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class IngestorMetrics:
    """Every metric the ingestor exposes on `/metrics`, on `registry` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry if registry is not None else new_registry("ingestor")
        # Pruned dedupe keys and collected blobs (storage_cleanup.py), counted per run.
        self.cleanup = CleanupMetrics(registry, ("tracker.outcomes",), collects_blobs=True)
        self.processed = Counter(
            "intake_messages_processed",
            "Messages whose outcome was committed, per inbox and outcome.",
            ["inbox", "outcome"],
            registry=registry,
        )
        self.delivery_latency = Histogram(
            "intake_delivery_latency_seconds",
            "From a message's arrival in the mailbox (its IMAP INTERNALDATE) to its outcome committed.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "intake_ingest_batch_size",
            "Messages stored in one ingest transaction.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_duration = Histogram(
            "intake_ingest_batch_duration_seconds",
            "Time to decide, store and commit one ingest batch.",
            buckets=BATCH_DURATION_BUCKETS,
            registry=registry,
        )
        self._inboxes: dict[int, dict[Outcome, Counter]] = {}

    def for_inbox(self, inbox_id: int) -> dict[Outcome, Counter]:
        """The inbox's `intake_messages_processed_total` child per outcome, all created at 0 on first sight."""
        found = self._inboxes.get(inbox_id)
        if found is None:
            inbox = inbox_label(inbox_id)
            found = self._inboxes[inbox_id] = {
                outcome: self.processed.labels(inbox, outcome.value) for outcome in Outcome
            }
        return found

    def outcome_committed(self, fetched: MessageFetched, outcome: Outcome, now: float) -> None:
        """Count `fetched`'s outcome, committed at unix time `now`, and its delivery latency: from its
        arrival in the mailbox (INTERNALDATE), when the fetcher sent it and this is not a replay (a
        reprocess from the email log measures nothing about delivery)."""
        self.for_inbox(fetched.inbox_id)[outcome].inc()
        received = fetched.received_at
        if received is not None and not fetched.replay:
            self.delivery_latency.observe(max(0.0, now - received.timestamp()))

    def batch_committed(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_duration.observe(seconds)
