"""`GET /api/v1/assets/{assetId}/health` and `/assets/health` over real incidents and scores."""

import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.api.conftest import ASSET, NOW

pytestmark = pytest.mark.integration

OTHER = 8


def add_incident(settings, asset, kind, severity, *, metric, details=None):
    with psycopg.connect(settings.database_dsn) as conn:
        conn.execute(
            "INSERT INTO incidents (id, asset_id, kind, status, severity, metrics, anomalies, "
            "peak_score, peak_metric, started_at, last_anomaly_at, details) "
            "VALUES (%s, %s, %s, 'open', %s, %s, 1, 0.95, %s, %s, %s, %s)",
            (
                uuid.uuid4(),
                asset,
                kind,
                severity,
                [metric],
                metric,
                NOW - timedelta(hours=4),
                NOW,
                None if details is None else Jsonb(details),
            ),
        )


def test_an_assets_health_lists_what_took_points_off(client):
    answer = client.get(f"/api/v1/assets/{ASSET}/health")
    assert answer.status_code == 200, answer.text
    health = answer.json()
    # the seeded spike 30 minutes ago: anomalous points and an incident resolved since
    causes = {r["cause"] for r in health["reasons"]}
    assert {"anomaly_rate", "past_incidents"} <= causes
    assert 100 - health["score"] == pytest.approx(
        sum(r["points"] for r in health["reasons"]), abs=0.5
    )
    assert health["openIncident"] is None and health["predictedCrossing"] is None
    assert client.get("/api/v1/assets/999999/health").status_code == 404


def test_the_health_list_puts_the_worst_asset_first(client, seeded):
    add_incident(seeded, OTHER, "anomaly", "critical", metric="latency_ms")
    add_incident(
        seeded,
        OTHER,
        "prediction",
        "warning",
        metric="disk_usage",
        details={"metrics": {"disk_usage": {"hours_to_crossing": 50.0}}},
    )
    listed = client.get("/api/v1/assets/health").json()["assets"]
    assert [a["assetId"] for a in listed] == [OTHER, ASSET]
    worst = listed[0]
    # 100 - 40 (open critical) - 20 (warning prediction) - 5 (4 of 24 hours in an incident)
    assert worst["score"] == 35 and worst["status"] == "poor"
    causes = [r["cause"] for r in worst["reasons"]]
    assert causes == ["open_incident", "predicted_crossing", "time_in_incident"]
    assert "in 2.1 days" in worst["reasons"][1]["text"]


def test_prometheus_gets_health_as_aggregates_not_one_series_per_asset(client):
    exposition = client.get("/metrics").text
    by_status = [line for line in exposition.splitlines() if line.startswith("ems_ml_assets_by_")]
    assert len(by_status) == 4  # one per status, however many assets
    assert f'asset_id="{ASSET}"' not in exposition
    assert any(line.startswith("ems_ml_asset_health_lowest ") for line in exposition.splitlines())
