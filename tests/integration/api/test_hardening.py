"""Hostile and unlucky requests (issue #13): no 5xx but a 503 for a database that is down, the
key and the budget checked before a body is read, trained models that cannot be loaded."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from tests.integration.api.conftest import ASSET
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def test_a_database_outage_is_a_503_with_a_reason_not_a_hang_or_a_500(settings):
    down = settings.model_copy(update={"database_port": free_port(), "database_wait_seconds": 1})
    with TestClient(create_app(down)) as client:
        for response in (
            client.get(f"/api/v1/anomaly/scores/{ASSET}"),
            client.get(f"/api/v1/metrics/{ASSET}"),
            client.get("/api/v1/models"),
            client.post("/api/v1/anomaly/detect", json={"timeRange": 3600}),
        ):
            assert response.status_code == 503, response.text
            assert "database unavailable" in response.json()["detail"]
            assert response.headers["Retry-After"] == "5"


def test_requests_that_once_made_500s_get_clear_4xx_answers(seeded):
    keyed = seeded.model_copy(update={"api_key": SecretStr("s3cret")})
    with TestClient(create_app(keyed)) as client:
        odd_key = client.get("/api/v1/models", headers={"X-API-Key": "clé-ü".encode()})
        assert odd_key.status_code == 401
    with TestClient(create_app(seeded)) as client:
        nul = client.get(f"/api/v1/anomaly/scores/{ASSET}", params={"metric": "cpu\x00usage"})
        assert nul.status_code == 422 and "metric" in nul.text
        nan = client.post(
            "/api/v1/anomaly/detect",
            content=b'{"timeRange": NaN, "threshold": Infinity}',
            headers={"Content-Type": "application/json"},
        )
        assert nan.status_code == 422, nan.text
        assert "timeRange" in nan.text


def test_a_large_body_is_refused_before_it_is_read_and_a_keyless_one_before_that(seeded):
    small = seeded.model_copy(update={"max_body_bytes": 4096})
    body = b'{"timeRange": 3600, "pad": "' + b"x" * 10_000 + b'"}'
    json_type = {"Content-Type": "application/json"}
    with TestClient(create_app(small)) as client:
        declared = client.post("/api/v1/anomaly/detect", content=body, headers=json_type)
        assert declared.status_code == 413 and "MAX_BODY_BYTES" in declared.text

        def chunks():  # no Content-Length: counted while read
            yield body[:3000]
            yield body[3000:]

        chunked = client.post("/api/v1/anomaly/detect", content=chunks(), headers=json_type)
        assert chunked.status_code == 413
        fits = client.post("/api/v1/anomaly/detect", json={"timeRange": 3600})
        assert fits.status_code == 200
    keyed = small.model_copy(update={"api_key": SecretStr("s3cret")})
    with TestClient(create_app(keyed)) as client:
        no_key = client.post("/api/v1/anomaly/detect", content=body, headers=json_type)
        assert no_key.status_code == 401


def test_guessing_keys_is_throttled_per_address(seeded):
    keyed = seeded.model_copy(
        update={"api_key": SecretStr("s3cret"), "auth_failure_limit": "3/minute"}
    )
    with TestClient(create_app(keyed)) as client:
        guesses = [
            client.get("/api/v1/models", headers={"X-API-Key": f"guess-{i}"}).status_code
            for i in range(5)
        ]
        assert guesses == [401, 401, 401, 429, 429]
        # past its budget of failures, the address is not even compared, right key or not
        right = client.get("/api/v1/models", headers={"X-API-Key": "s3cret"})
        assert right.status_code == 429 and "Retry-After" in right.headers


def test_health_says_when_the_api_is_open(seeded):
    with TestClient(create_app(seeded)) as client:
        body = client.get("/api/v1/health").json()["details"]
    assert body["apiKeyRequired"] is False
    assert any("API_KEY is not set" in w for w in body["warnings"])
    keyed = seeded.model_copy(update={"api_key": SecretStr("s3cret")})
    with TestClient(create_app(keyed)) as client:
        body = client.get("/api/v1/health").json()["details"]
    assert body["apiKeyRequired"] is True and body["warnings"] == []


def test_a_model_whose_snapshot_is_missing_falls_back_to_the_streaming_ensemble(seeded, tmp_path):
    with psycopg.connect(seeded.database_dsn) as conn:
        conn.execute(
            "INSERT INTO model_metadata (model_type, version, path, is_active) "
            "VALUES ('anomaly_detection', 'ad-gone', '.cache/models/elsewhere/ad-gone.jsonl.gz', "
            "true)"
        )
    elsewhere = seeded.model_copy(update={"models_dir": str(tmp_path / "models")})
    with TestClient(create_app(elsewhere)) as client:
        detect = client.post("/api/v1/anomaly/detect", json={"assetId": ASSET, "timeRange": 3600})
        assert detect.status_code == 200, detect.text
        found = detect.json()["anomalies"]
        assert found and all(a["modelVersion"] == "ensemble-v8" for a in found)
        health = client.get("/api/v1/health").json()["details"]
    trained = health["models"]["anomaly_detection"]
    assert trained["loaded"] is False and trained["version"] == "ad-gone"
    assert "no snapshot of model ad-gone" in trained["detail"]
    assert any("active model not loaded" in w for w in health["warnings"])
