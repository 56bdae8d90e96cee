"""config-api's metric catalogue (dashboards and alert rules are written against these names) and the
inbox gauges following the database's rows."""

from __future__ import annotations

from intake.config_api.metrics import OAUTH2_REFRESH_OUTCOMES, ConfigApiMetrics, InboxRow
from intake.shared.contracts import InboxState
from intake.shared.metrics import metric_names

CATALOGUE = {
    "intake_build_info",
    "intake_inbox_state",
    "intake_inbox_active",
    "intake_inbox_poll_interval_seconds",
    "intake_oauth2_refresh_total",
    *(f"intake_email_log_write_lag_seconds{s}" for s in ("_bucket", "_count", "_sum")),
    "intake_http_requests_total",
    *(f"intake_http_request_duration_seconds{s}" for s in ("_bucket", "_count", "_sum")),
    "intake_dead_letter_messages",
    "intake_cleanup_runs_total",
    "intake_cleanup_deleted_rows_total",
}


def test_config_api_exposes_exactly_the_catalogue() -> None:
    names = {name for name in metric_names(ConfigApiMetrics().registry) if name.startswith("intake_")}
    assert names == CATALOGUE


def state_of(metrics: ConfigApiMetrics, inbox: str) -> dict[str, float | None]:
    return {
        s.value: metrics.registry.get_sample_value("intake_inbox_state", {"inbox": inbox, "state": s.value})
        for s in InboxState
    }


def test_the_inbox_gauges_follow_the_rows_and_forget_a_deleted_inbox() -> None:
    metrics = ConfigApiMetrics()
    metrics.refresh_inboxes(
        [InboxRow(1, "ok", True, 60), InboxRow(2, "error", False, 30), InboxRow(3, "unknown", True, 5)]
    )
    assert state_of(metrics, "1") == {"ok": 1, "error": 0, "needs_reauth": 0, "disabled": 0}
    assert state_of(metrics, "2")["error"] == 1
    assert metrics.registry.get_sample_value("intake_inbox_active", {"inbox": "2"}) == 0
    assert metrics.registry.get_sample_value("intake_inbox_poll_interval_seconds", {"inbox": "1"}) == 60
    for outcome in OAUTH2_REFRESH_OUTCOMES:
        assert metrics.registry.get_sample_value("intake_oauth2_refresh_total", {"inbox": "1", "outcome": outcome}) == 0

    assert state_of(metrics, "3") == {"ok": 0, "error": 0, "needs_reauth": 0, "disabled": 0}

    metrics.refresh_inboxes([InboxRow(1, "needs_reauth", True, 60)])
    assert state_of(metrics, "1")["needs_reauth"] == 1
    assert state_of(metrics, "1")["ok"] == 0
    assert state_of(metrics, "2") == {"ok": None, "error": None, "needs_reauth": None, "disabled": None}
