"""The fetcher's metric catalogue (dashboards and alert rules are written against these names) and its
per-inbox children starting at 0."""

from __future__ import annotations

from intake.fetcher.health import ERROR_KINDS
from intake.fetcher.metrics import FetcherMetrics
from intake.shared.metrics import metric_names

CATALOGUE = {
    "intake_build_info",
    "intake_messages_fetched_total",
    "intake_fetch_errors_total",
    "intake_fetcher_leases_held",
    "intake_fetcher_lease_held",
    "intake_fetcher_lease_acquisitions_total",
    "intake_fetcher_lease_losses_total",
    "intake_fetcher_last_cycle_timestamp_seconds",
    "intake_cleanup_runs_total",
    "intake_cleanup_deleted_rows_total",
}


def test_the_fetcher_exposes_exactly_the_catalogue() -> None:
    names = {name for name in metric_names(FetcherMetrics().registry) if name.startswith("intake_")}
    assert names == CATALOGUE


def test_an_inbox_seen_once_has_every_series_at_zero() -> None:
    metrics = FetcherMetrics()
    assert metrics.for_inbox(7) is metrics.for_inbox(7)
    registry = metrics.registry
    assert registry.get_sample_value("intake_messages_fetched_total", {"inbox": "7"}) == 0
    for kind in ERROR_KINDS:
        assert registry.get_sample_value("intake_fetch_errors_total", {"inbox": "7", "kind": kind}) == 0
    for name in ("intake_fetcher_lease_acquisitions_total", "intake_fetcher_lease_losses_total"):
        assert registry.get_sample_value(name, {"inbox": "7"}) == 0
    assert registry.get_sample_value("intake_fetcher_lease_held", {"inbox": "7"}) == 0


def test_leases_claimed_lost_and_released_are_counted_apart() -> None:
    metrics = FetcherMetrics()
    metrics.leases_changed(frozenset(), frozenset({1, 2}), frozenset())
    metrics.leases_changed(frozenset({1, 2}), frozenset({2}), frozenset())  # 1 lost
    metrics.leases_changed(frozenset({2}), frozenset(), frozenset({2}))  # 2 released on stop

    def value(name: str, inbox: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"inbox": inbox})

    assert metrics.registry.get_sample_value("intake_fetcher_leases_held") == 0
    assert value("intake_fetcher_lease_acquisitions_total", "1") == 1
    assert value("intake_fetcher_lease_losses_total", "1") == 1
    assert value("intake_fetcher_lease_losses_total", "2") == 0
    assert value("intake_fetcher_lease_held", "1") == 0
    assert value("intake_fetcher_lease_held", "2") == 0
