"""The API's read and detect endpoints on real PostgreSQL data."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from tests.integration.api.conftest import ASSET, SPIKE_AT, history
from tests.integration.conftest import env_for

pytestmark = pytest.mark.integration


def test_metrics_give_per_metric_statistics(client):
    body = client.get(f"/api/v1/metrics/{ASSET}", params={"hours": 24}).json()
    stats = {m["metric"]: m for m in body["metrics"]}
    assert set(stats) == {"cpu_usage", "memory_usage"}
    cpu = stats["cpu_usage"]
    day = [v for a, m, t, v in history() if m == "cpu_usage"][-cpu["count"] :]
    assert cpu["count"] == len(day)
    assert cpu["max"] == 99.0 and cpu["min"] == pytest.approx(min(day))
    assert cpu["mean"] == pytest.approx(sum(day) / len(day))
    assert cpu["p50"] <= cpu["p95"] <= cpu["p99"] <= cpu["max"]
    assert cpu["lastValue"] == day[-1]


def test_scores_are_paginated_and_filterable(client):
    first = client.get(f"/api/v1/anomaly/scores/{ASSET}", params={"limit": 5}).json()
    assert first["total"] > 5 and len(first["items"]) == 5
    second = client.get(f"/api/v1/anomaly/scores/{ASSET}", params={"limit": 5, "offset": 5}).json()
    assert first["items"][-1]["timestamp"] >= second["items"][0]["timestamp"]
    anomalies = client.get(
        f"/api/v1/anomaly/scores/{ASSET}", params={"only_anomalies": True, "metric": "cpu_usage"}
    ).json()["items"]
    assert anomalies and all(a["isAnomaly"] and a["metric"] == "cpu_usage" for a in anomalies)
    assert any(datetime.fromisoformat(a["timestamp"]) == SPIKE_AT for a in anomalies)


def test_detect_finds_the_spike_in_stored_history(client):
    response = client.post(
        "/api/v1/anomaly/detect",
        json={"assetId": ASSET, "metricNames": ["cpu_usage"], "timeRange": 7200, "threshold": 0.7},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["threshold"] == 0.7 and body["pointsScored"] > 0
    spikes = [a for a in body["anomalies"] if datetime.fromisoformat(a["timestamp"]) == SPIKE_AT]
    assert spikes and spikes[0]["value"] == 99.0 and spikes[0]["driver"]
    assert body["countsPerAsset"] == {str(ASSET): len(body["anomalies"])}


def test_a_higher_threshold_reports_fewer_anomalies(client):
    def count(threshold):
        body = client.post(
            "/api/v1/anomaly/detect", json={"timeRange": 86400, "threshold": threshold}
        ).json()
        return len(body["anomalies"])

    assert count(0.99) <= count(0.7) <= count(0.3)


def test_models_lists_the_streaming_version(client):
    body = client.get("/api/v1/models").json()
    assert body["streamingVersion"] == "ensemble-v8"
    assert body["models"] == []


@pytest.mark.parametrize("path", ["/api/v1/metrics/999", "/api/v1/anomaly/scores/999"])
def test_unknown_asset_is_404_with_a_message(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "asset 999 is unknown" in response.json()["detail"]


def test_unknown_asset_in_detect_is_404(client):
    response = client.post("/api/v1/anomaly/detect", json={"assetId": 999})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "says"),
    [
        (
            "get",
            f"/api/v1/metrics/{ASSET}",
            {"params": {"hours": 10_000}},
            "less than or equal to 720",
        ),
        ("get", f"/api/v1/metrics/{ASSET}", {"params": {"hours": -1}}, "hours"),
        ("get", f"/api/v1/anomaly/scores/{ASSET}", {"params": {"limit": 5000}}, '"limit"'),
        ("get", "/api/v1/anomaly/scores/0", {}, "asset_id"),
        ("post", "/api/v1/anomaly/detect", {"json": {"timeRange": 10**9}}, '"timeRange"'),
        ("post", "/api/v1/anomaly/detect", {"json": {"threshold": 2}}, "threshold"),
        ("post", "/api/v1/anomaly/detect", {"json": {"metricNames": ["bad name!"]}}, "metricNames"),
        ("post", "/api/v1/anomaly/detect", {"json": {"bogus": 1}}, "bogus"),
    ],
)
def test_bad_parameters_are_422_saying_which(client, method, path, kwargs, says):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 422
    assert says in response.text


def test_api_key_is_required_when_set_but_health_and_metrics_stay_open(seeded):
    keyed = seeded.model_copy(update={"api_key": SecretStr("s3cret")})
    with TestClient(create_app(keyed)) as client:
        assert client.get(f"/api/v1/metrics/{ASSET}").status_code == 401
        wrong = client.get(f"/api/v1/metrics/{ASSET}", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        right = client.get(f"/api/v1/metrics/{ASSET}", headers={"X-API-Key": "s3cret"})
        assert right.status_code == 200
        assert client.get("/api/v1/health").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_cors_allows_the_configured_front_end_only(seeded):
    configured = seeded.model_copy(update={"cors_origins": "http://ems.example"})
    with TestClient(create_app(configured)) as client:
        ok = client.options(
            "/api/v1/models",
            headers={"Origin": "http://ems.example", "Access-Control-Request-Method": "GET"},
        )
        assert ok.headers.get("access-control-allow-origin") == "http://ems.example"
        other = client.options(
            "/api/v1/models",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in other.headers


def test_the_demo_feed_records_its_points_as_ems_does_so_the_metrics_endpoint_answers(settings):
    done = subprocess.run(
        [sys.executable, "-m", "ems_ml.cli", "produce", "--demo", "--ems-metrics",
         "--assets", "2", "--rate", "10", "--duration", "1"],
        env=env_for(settings), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # 2 assets x 4 metrics x 10 ticks, and the first asset's filling disk
    assert "published 90 points" in done.stdout
    with psycopg.connect(settings.database_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 90
        assert conn.execute("SELECT count(*) FROM assets").fetchone()[0] == 2
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/v1/metrics/1", params={"hours": 1}).json()
    counts = {m["metric"]: m["count"] for m in body["metrics"]}
    assert counts == {
        "cpu_usage": 10,
        "memory_usage": 10,
        "latency_ms": 10,
        "bandwidth_in_mbps": 10,
        "disk_usage": 10,
    }


def test_assets_list_counts_each_assets_scores_and_incidents(client):
    listed = client.get("/api/v1/assets", params={"hours": 24}).json()["assets"]
    assert [a["assetId"] for a in listed] == [ASSET]
    scores = client.get(f"/api/v1/anomaly/scores/{ASSET}", params={"hours": 24, "limit": 1000})
    items = scores.json()["items"]
    incidents = client.get(f"/api/v1/assets/{ASSET}/incidents", params={"hours": 24}).json()
    asset = listed[0]
    assert asset["points"] == len(items) and asset["metrics"] == 2
    assert asset["anomalies"] == sum(i["isAnomaly"] for i in items) >= 1
    assert asset["anomalyRate"] == asset["anomalies"] / asset["points"]
    assert asset["openIncidents"] == sum(i["status"] == "open" for i in incidents["incidents"])
    assert client.get("/api/v1/assets/424242/incidents").status_code == 404
    assert client.get("/api/v1/assets", params={"hours": 0}).status_code == 422
