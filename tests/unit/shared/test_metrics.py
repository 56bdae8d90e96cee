"""The shared metric helpers: a registry per service instance with its build info, and the names it can expose."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from intake.shared.metrics import LATENCY_BUCKETS, metric_names, new_registry


def test_each_registry_is_its_own_so_several_apps_live_in_one_process() -> None:
    first, second = new_registry("fetcher"), new_registry("fetcher")
    Counter("intake_things", "Things.", registry=first).inc()
    Counter("intake_things", "Things.", registry=second)  # no duplicate-name error: nothing is global
    assert first.get_sample_value("intake_things_total") == 1
    assert second.get_sample_value("intake_things_total") == 0
    assert first.get_sample_value("intake_build_info", {"service": "fetcher", "version": "0.1.0"}) == 1


def test_metric_names_include_labelled_metrics_without_children_and_the_type_suffixes() -> None:
    registry = new_registry("ingestor")
    Counter("intake_done", "Done.", ["inbox"], registry=registry)
    Histogram("intake_wait_seconds", "Wait.", registry=registry)
    names = metric_names(registry)
    assert {"intake_done_total", "intake_wait_seconds_bucket", "intake_wait_seconds_count"} <= names
    assert "intake_build_info" in names
    assert not any(name.endswith("_created") for name in names)


def test_latency_buckets_run_from_a_tenth_of_a_second_to_six_hours() -> None:
    assert LATENCY_BUCKETS[0] == 0.1
    assert LATENCY_BUCKETS[-1] == 6 * 3600
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)
