"""`POST /anomaly/train` on real data, and a running worker that adopts the trained model."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.integration.api.conftest import ASSET, NOW
from tests.integration.conftest import produce, wait_for_count, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def trainable(seeded, tmp_path):
    return seeded.model_copy(update={"models_dir": str(tmp_path / "models")})


def train(client, **body):
    return client.post("/api/v1/anomaly/train", json={"modelType": "anomaly_detection", **body})


def test_training_saves_a_versioned_active_model(trainable):
    with TestClient(create_app(trainable)) as client:
        response = train(client, timeRange=3 * 86400, assetId=ASSET)
        assert response.status_code == 201, response.text
        model = response.json()
        assert model["series"] == 2 and model["samples"] > 500
        assert model["version"].startswith("ad-") and model["isActive"]
        assert model["quality"]["contamination"] == trainable.anomaly_contamination
        listed = client.get("/api/v1/models").json()["models"]
        assert [(m["version"], m["isActive"]) for m in listed] == [(model["version"], True)]

        second = train(client, timeRange=3 * 86400).json()
        listed = {
            m["version"]: m["isActive"] for m in client.get("/api/v1/models").json()["models"]
        }
        assert listed == {model["version"]: False, second["version"]: True}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"timeRange": 600}, 422, "fewer than 100"),
        ({"assetId": 999}, 404, "asset 999 is unknown"),
        ({"modelType": "forecast"}, 422, "anomaly_detection"),
        ({"timeRange": 0}, 422, "timeRange"),
        ({"metricNames": ["no_such_metric"]}, 422, "no metrics in the requested range"),
    ],
)
def test_training_refusals_say_why(trainable, body, status, says):
    with TestClient(create_app(trainable)) as client:
        response = client.post("/api/v1/anomaly/train", json=body)
    assert response.status_code == status
    assert says in response.text


def test_non_finite_history_is_refused_naming_the_series(trainable):
    with psycopg.connect(trainable.database_dsn) as conn:
        conn.execute(
            'INSERT INTO metrics (asset_id, metric_name, "timestamp", value) '
            "VALUES (%s, 'cpu_usage', %s, 'NaN')",
            (ASSET, NOW - timedelta(minutes=5)),
        )
    with TestClient(create_app(trainable)) as client:
        response = train(client, timeRange=3 * 86400)
    assert response.status_code == 422
    assert f"{ASSET}/cpu_usage: 1 NaN or infinite values" in response.text


def test_a_running_worker_adopts_a_new_model_and_scores_record_its_version(trainable, start_worker):
    worker = start_worker(MODELS_DIR=trainable.models_dir, MODEL_POLL_SECONDS="1")
    worker.wait_ready()
    with TestClient(create_app(trainable)) as client:
        version = train(client, timeRange=3 * 86400, assetId=ASSET).json()["version"]
    # the worker polls every second
    assert wait_until(lambda: f"adopted model {version}" in worker.log(), timeout=15)

    start = NOW + timedelta(minutes=10)
    points = [
        # a trained series: its very first streamed point is a spike, caught at once
        {"asset_id": ASSET, "metric": "cpu_usage", "value": 250.0, "timestamp": start.isoformat()},
        # a series the model does not cover: cold, warming up
        {"asset_id": ASSET, "metric": "disk_usage", "value": 250.0, "timestamp": start.isoformat()},
    ]
    asyncio.run(produce(trainable, [json.dumps(p).encode() for p in points], [b"7", b"7"]))
    # the seeded scores are there already; wait for the two new ones
    with psycopg.connect(trainable.database_dsn) as conn:
        before = conn.execute("SELECT count(*) FROM anomaly_scores").fetchone()[0]
    assert wait_for_count(trainable, before + 2) == before + 2
    with psycopg.connect(trainable.database_dsn) as conn:
        rows = dict(
            (m, (v, a))
            for m, v, a in conn.execute(
                "SELECT metric, model_version, is_anomaly FROM anomaly_scores WHERE ts = %s",
                (start,),
            ).fetchall()
        )
    assert rows["cpu_usage"] == (version, True)
    assert rows["disk_usage"] == ("ensemble-v8", False)


def test_train_then_detect_finds_an_injected_anomaly_with_the_trained_model(trainable):
    with TestClient(create_app(trainable)) as client:
        version = train(client, timeRange=3 * 86400, assetId=ASSET).json()["version"]
        # new history after the training: two ordinary points and an injected spike
        new = [(NOW + timedelta(minutes=m), v) for m, v in ((10, 41.0), (20, 42.0), (30, 180.0))]
        with psycopg.connect(trainable.database_dsn) as conn:
            for ts, value in new:
                conn.execute(
                    'INSERT INTO metrics (asset_id, metric_name, "timestamp", value) '
                    "VALUES (%s, 'cpu_usage', %s, %s)",
                    (ASSET, ts, value),
                )
        # a range that starts after the model's last point (NOW): the model scores it
        assert wait_until(lambda: datetime.now(UTC) - timedelta(seconds=1) > NOW, timeout=5)
        response = client.post(
            "/api/v1/anomaly/detect",
            json={"assetId": ASSET, "metricNames": ["cpu_usage"], "timeRange": 1},
        )
    assert response.status_code == 200, response.text
    found = response.json()["anomalies"]
    assert [(a["value"], a["modelVersion"]) for a in found] == [(180.0, version)]
