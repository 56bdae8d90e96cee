"""Cleanup reports add up, and each run is counted on the service's registry with every series at 0 first."""

from __future__ import annotations

import pytest

from intake.fetcher.metrics import FetcherMetrics
from intake.fetcher.record_retention import PRUNED_TABLES as FETCHER_TABLES
from intake.ingestor.metrics import IngestorMetrics
from intake.ingestor.outcome_retention import PRUNED_TABLES as INGESTOR_TABLES
from intake.shared.cleanup import clean_up_logged
from intake.shared.cleanup_metrics import CleanupReport


def test_reports_add_up_per_table() -> None:
    total = CleanupReport({"a": 1}, 2, 30) + CleanupReport({"a": 2, "b": 5}, 1, 12)
    assert total == CleanupReport({"a": 3, "b": 5}, 3, 42)


@pytest.mark.parametrize(("metrics", "tables"), [(FetcherMetrics, FETCHER_TABLES), (IngestorMetrics, INGESTOR_TABLES)])
def test_every_series_starts_at_zero(
    metrics: type[FetcherMetrics] | type[IngestorMetrics], tables: tuple[str, ...]
) -> None:
    registry = metrics().registry
    for outcome in ("ok", "failed"):
        assert registry.get_sample_value("intake_cleanup_runs_total", {"outcome": outcome}) == 0
    for table in tables:
        assert registry.get_sample_value("intake_cleanup_deleted_rows_total", {"table": table}) == 0


def test_a_run_is_counted() -> None:
    metrics = IngestorMetrics()
    metrics.cleanup.observe("ok", CleanupReport({"tracker.outcomes": 4}, blobs=3, bytes=9000))
    metrics.cleanup.observe("failed", None)
    value = metrics.registry.get_sample_value
    assert value("intake_cleanup_runs_total", {"outcome": "ok"}) == 1
    assert value("intake_cleanup_runs_total", {"outcome": "failed"}) == 1
    assert value("intake_cleanup_deleted_rows_total", {"table": "tracker.outcomes"}) == 4
    assert value("intake_cleanup_deleted_blobs_total") == 3
    assert value("intake_cleanup_deleted_bytes_total") == 9000


async def test_a_failed_run_is_logged_and_counted_and_the_next_one_still_runs() -> None:
    seen: list[tuple[str, CleanupReport | None]] = []
    runs = iter([OSError("connection refused"), CleanupReport({"fetcher.messages": 2})])

    async def clean_once() -> CleanupReport:
        result = next(runs)
        if isinstance(result, Exception):
            raise result
        return result

    def observe(outcome: str, report: CleanupReport | None) -> None:
        seen.append((outcome, report))

    assert await clean_up_logged("test", clean_once, observe) is None
    assert await clean_up_logged("test", clean_once, observe) == CleanupReport({"fetcher.messages": 2})
    assert seen == [("failed", None), ("ok", CleanupReport({"fetcher.messages": 2}))]
