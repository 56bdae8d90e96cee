"""The ingestor's metric catalogue (dashboards and alert rules are written against these names) and its
per-inbox outcome counters starting at 0."""

from __future__ import annotations

from intake.ingestor.metrics import IngestorMetrics
from intake.shared.contracts import Outcome
from intake.shared.metrics import metric_names

CATALOGUE = {
    "intake_build_info",
    "intake_messages_processed_total",
    *(f"intake_delivery_latency_seconds{s}" for s in ("_bucket", "_count", "_sum")),
    *(f"intake_ingest_batch_size{s}" for s in ("_bucket", "_count", "_sum")),
    *(f"intake_ingest_batch_duration_seconds{s}" for s in ("_bucket", "_count", "_sum")),
    "intake_cleanup_runs_total",
    "intake_cleanup_deleted_rows_total",
    "intake_cleanup_deleted_blobs_total",
    "intake_cleanup_deleted_bytes_total",
}


def test_the_ingestor_exposes_exactly_the_catalogue() -> None:
    names = {name for name in metric_names(IngestorMetrics().registry) if name.startswith("intake_")}
    assert names == CATALOGUE


def test_an_inbox_seen_once_has_every_outcome_at_zero() -> None:
    metrics = IngestorMetrics()
    children = metrics.for_inbox(3)
    assert set(children) == set(Outcome)
    children[Outcome.ISSUE_CREATED].inc()
    for outcome in Outcome:
        value = metrics.registry.get_sample_value(
            "intake_messages_processed_total", {"inbox": "3", "outcome": outcome.value}
        )
        assert value == (1 if outcome is Outcome.ISSUE_CREATED else 0)
