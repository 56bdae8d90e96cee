"""deploy/monitoring: the alert rules pass promtool's check and unit tests, the dashboard's queries parse,
and every metric either names is one the services really expose (their registries, built without a server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import metric_names
from tests.deploy.tools import REPO, run, system_command

MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yaml"
RULE_TESTS = MONITORING / "alerts.test.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
# The alerts issue 12 asks for.
REQUIRED_ALERTS = {
    "IntakeInboxInError",
    "IntakeInboxNeedsReauth",
    "IntakeDeadLetterQueueNotEmpty",
    "IntakeDeliveryLatencyHigh",
    "IntakeInboxLeaseCountNotOne",
    "IntakeInboxNotFetched",
}
# What Grafana substitutes in a query, with a value promtool accepts.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$inbox": ".*"}


def promtool() -> str:
    return system_command("promtool", "prometheus")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_queries() -> list[str]:
    queries = [target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])]
    queries += [variable["definition"] for variable in dashboard()["templating"]["list"] if variable["type"] == "query"]
    return queries


def exposed_metric_names() -> set[str]:
    """Every series name the three services can expose, from their real registries."""
    from intake.config_api.metrics import ConfigApiMetrics
    from intake.fetcher.metrics import FetcherMetrics
    from intake.ingestor.metrics import IngestorMetrics
    from intake.shared.metrics import metric_names as registry_names

    names: set[str] = set()
    for metrics in (ConfigApiMetrics(), FetcherMetrics(), IngestorMetrics()):
        names |= registry_names(metrics.registry)
    return names


def test_the_rules_pass_promtool_check() -> None:
    result = run(promtool(), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    result = run(promtool(), "test", "rules", RULE_TESTS.name, cwd=MONITORING)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_asked_for_is_there_and_tested_firing_and_quiet() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts >= REQUIRED_ALERTS
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    for alert in alerts:
        outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == alert}
        assert outcomes == {True, False}, f"{alert} needs a case where it fires and one where it does not"
    for rule in rules():
        assert rule["annotations"]["runbook"].startswith("docs/operations.md#"), rule["alert"]
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert f"### {rule['alert']}" in (REPO / "docs" / "operations.md").read_text(), anchor


def test_the_dashboard_queries_parse(tmp_path: Path) -> None:
    """promtool has no query linter of its own: each query becomes a recording rule and is checked as one."""
    records = []
    for index, query in enumerate(dashboard_queries()):
        if query.startswith("label_values("):
            continue
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        records.append({"record": f"dashboard:query_{index}", "expr": query})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = run(promtool(), "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_well_formed() -> None:
    board = dashboard()
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    assert board["uid"] == "intake-overview"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
            assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


@pytest.mark.parametrize("source", ["alerts.yaml", "grafana-dashboard.json"])
def test_every_metric_named_is_one_the_services_expose(source: str) -> None:
    queries = [rule["expr"] for rule in rules()] if source == "alerts.yaml" else dashboard_queries()
    named = set().union(*(metric_names(query) for query in queries))
    assert named, "no metric names found: the PromQL tokenizer is broken"
    unknown = named - exposed_metric_names()
    assert not unknown, f"{source} names metrics no service exposes: {sorted(unknown)}"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ('histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{x="y"}[5m])))', {"a_seconds_bucket"}),
        ("sum(rate(b_total[1m])) by (inbox) / ignoring(x) group_left(y) c", {"b_total", "c"}),
        ('time() - max(d{inbox=~"$inbox", s!="a{b}"}) > 3 * e offset 1h30m', {"d", "e"}),
        ("f == bool 1e3 or g unless on(inbox) h and inf", {"f", "g", "h"}),
        ("label_values(intake_inbox_active, inbox)", {"intake_inbox_active"}),
        ("max_over_time(i[10m:1m]) @ end()", {"i"}),
    ],
)
def test_the_promql_tokenizer_finds_every_metric_name(query: str, names: set[str]) -> None:
    assert metric_names(query) == names
