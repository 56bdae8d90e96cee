"""What one storage cleanup run deleted (`CleanupReport`), and its counters on a service's registry.

Pure: no I/O; the services' metrics modules build `CleanupMetrics` next to their other metrics, and
`intake.shared.cleanup` hands each run's report to `CleanupMetrics.observe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True)
class CleanupReport:
    """What one run deleted: rows per table (`schema.table`), blobs and their bytes."""

    rows: Mapping[str, int] = field(default_factory=dict)
    blobs: int = 0
    bytes: int = 0

    def __add__(self, other: CleanupReport) -> CleanupReport:
        rows = dict(self.rows)
        for table, count in other.rows.items():
            rows[table] = rows.get(table, 0) + count
        return CleanupReport(rows, self.blobs + other.blobs, self.bytes + other.bytes)


class CleanupMetrics:
    """`intake_cleanup_runs_total{outcome}`, `intake_cleanup_deleted_rows_total{table}` and, where blobs
    are collected, `intake_cleanup_deleted_blobs_total` and `intake_cleanup_deleted_bytes_total`, on the
    service's registry; every outcome and each of the service's `tables` starts at 0."""

    OUTCOMES = ("ok", "failed")

    def __init__(self, registry: CollectorRegistry, tables: Sequence[str], *, collects_blobs: bool = False) -> None:
        self.runs = Counter("intake_cleanup_runs", "Storage cleanup runs, by outcome.", ["outcome"], registry=registry)
        self.deleted_rows = Counter(
            "intake_cleanup_deleted_rows", "Rows deleted by storage cleanup, per table.", ["table"], registry=registry
        )
        for outcome in self.OUTCOMES:
            self.runs.labels(outcome)
        for table in tables:
            self.deleted_rows.labels(table)
        self.deleted_blobs: Counter | None = None
        self.deleted_bytes: Counter | None = None
        if collects_blobs:
            self.deleted_blobs = Counter(
                "intake_cleanup_deleted_blobs", "Blobs deleted because nothing referred to them.", registry=registry
            )
            self.deleted_bytes = Counter(
                "intake_cleanup_deleted_bytes", "Content bytes of the blobs deleted.", registry=registry
            )

    def observe(self, outcome: str, report: CleanupReport | None) -> None:
        """The `RunObserver` to hand to `run_cleanups`."""
        self.runs.labels(outcome).inc()
        if report is None:
            return
        for table, count in report.rows.items():
            self.deleted_rows.labels(table).inc(count)
        if self.deleted_blobs is not None and self.deleted_bytes is not None:
            self.deleted_blobs.inc(report.blobs)
            self.deleted_bytes.inc(report.bytes)
