"""The Prometheus alert rules and the Grafana dashboard: valid, tested, and about real metrics."""

import json
import re

import yaml

from api import metrics as api_metrics
from stream import metrics as worker_metrics  # noqa: F401 - declares the worker's metrics
from tests.unit.deploy.tools import DEPLOY, run_tool

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ems-ml-service.json"


def exported_metric_names() -> set[str]:
    """Every sample name the worker and the API export (with _total, _bucket, ... suffixes)."""
    from prometheus_client import REGISTRY

    names = set()
    for registry in (REGISTRY, api_metrics.REGISTRY):
        for family in registry.collect():
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
            # a labelled metric has no sample before its first use: name it from its type
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names.update(family.name + s for s in ("_bucket", "_count", "_sum"))
    return names


def ems_metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bems_ml_[a-z_]+\b", expr))


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def test_alert_rules_are_valid_and_their_unit_tests_pass():
    checked = run_tool("promtool", "check", "rules", str(DEPLOY / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run_tool("promtool", "test", "rules", "alerts_test.yml", cwd=DEPLOY)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_prometheus_config_is_valid_and_loads_the_rules():
    checked = run_tool("promtool", "check", "config", str(DEPLOY / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout


def test_the_alerts_the_issue_names_exist():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert {
        "EmsMlWorkerDown",
        "EmsMlConsumerLagGrowing",
        "EmsMlDeadLetterRate",
        "EmsMlEmsCoreBacklog",
        "EmsMlApiErrors",
    } <= names


def test_dashboard_and_alerts_query_only_metrics_the_service_exports():
    exported = exported_metric_names()
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    queries = dashboard_queries() + [(r["alert"], r["expr"]) for r in rules]
    for where, expr in queries:
        unknown = ems_metric_names(expr) - exported
        assert not unknown, f"{where!r} queries {sorted(unknown)}, which nothing exports"


def test_every_dashboard_query_is_valid_promql(tmp_path):
    # promtool has no expression checker: each query becomes a recording rule it parses
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, (_, expr) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = run_tool("promtool", "check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_shows_what_operators_watch():
    text = " ".join(expr for _, expr in dashboard_queries())
    for metric in (
        "ems_ml_points_scored_total",  # throughput
        "ems_ml_consumer_lag_messages",  # lag
        "ems_ml_batch_duration_seconds_bucket",  # batch latency
        "ems_ml_anomalies_total",  # anomalies by metric
        "ems_ml_dead_letters_total",  # DLQ rate
        "ems_ml_ems_core_backlog",  # EMS Core backlog
        "ems_ml_api_request_duration_seconds_bucket",  # API latency
        "ems_ml_api_requests_total",  # API errors
        "ems_ml_checkpoint_rows_stored_total",  # checkpoints: deltas or whole rows
        "ems_ml_checkpoint_base_bytes",  # the memory the bases take
        "ems_ml_scores_already_stored_total",  # replays past a checkpoint
    ):
        assert metric in text, metric
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    uids = {
        t["datasource"]["uid"]
        for p in json.loads(DASHBOARD.read_text())["panels"]
        for t in p["targets"]
    }
    assert uids == {datasource["uid"]}
