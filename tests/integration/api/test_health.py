"""`/api/v1/health` and `/metrics` against the real database and broker."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def test_healthy_when_database_and_kafka_answer_in_the_seeds_shape(settings):
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    # the seed's answer, field for field: a client written against it keeps working
    assert list(body) == ["status", "timestamp", "database", "redis", "models", "details"]
    assert body["status"] == "healthy" and body["database"] is True and body["redis"] is None
    assert body["models"] == {"anomaly_detection": True}
    datetime.fromisoformat(body["timestamp"])
    details = body["details"]
    assert details["database"]["status"] == "up" and details["kafka"]["status"] == "up"
    assert details["emsCore"]["status"] == "up" and details["emsCoreBacklog"] == 0
    assert details["reasons"] == []


def test_degraded_without_kafka(settings):
    elsewhere = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    with TestClient(create_app(elsewhere)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["database"] is True
    assert body["details"]["kafka"]["status"] == "down"
    assert "kafka unreachable" in body["details"]["reasons"][0]


def test_unhealthy_503_without_database(settings):
    elsewhere = settings.model_copy(update={"database_port": free_port()})
    with TestClient(create_app(elsewhere)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and body["database"] is False
    assert body["details"]["database"]["status"] == "down"


def test_prometheus_metrics_and_docs_are_served(settings):
    with TestClient(create_app(settings)) as client:
        client.get("/api/v1/health")
        metrics = client.get("/metrics", follow_redirects=False)
        assert metrics.status_code == 200
        assert "python_info" in metrics.text
        assert client.get("/docs").status_code == 200
        assert client.get("/redoc").status_code == 200
        assert "/api/v1/health" in client.get("/openapi.json").json()["paths"]


def test_degraded_without_ems_core_and_models_reported(settings):
    elsewhere = settings.model_copy(update={"ems_core_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(elsewhere)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    details = body["details"]
    assert details["emsCore"]["status"] == "down"
    assert any("EMS Core unreachable" in r for r in details["reasons"])
    models = details["models"]
    assert models["streaming"] == {"loaded": True, "version": "ensemble-v8", "detail": None}
    assert models["anomaly_detection"] == {"loaded": False, "version": None, "detail": None}
    # no trained model, yet the streaming ensemble detects: the seed's flag says detection works
    assert body["models"] == {"anomaly_detection": True}


def test_rate_limit_per_client_address_spares_health_and_metrics(settings):
    limited = settings.model_copy(
        update={"rate_limit": "3/minute", "trusted_client_header": "X-Forwarded-For"}
    )

    def models(address, **headers):
        forwarded = {"X-Forwarded-For": f"10.9.9.9, {address}", **headers}
        return client.get("/api/v1/models", headers=forwarded)

    with TestClient(create_app(limited)) as client:
        codes = [models("192.0.2.1").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert int(models("192.0.2.1").headers["Retry-After"]) >= 1
        # a key of its own does not buy a client a fresh budget (random keys would bypass it)
        assert models("192.0.2.1", **{"X-API-Key": "other"}).status_code == 429
        # another address (the last one the trusted proxy appended) has its own
        assert models("192.0.2.2").status_code == 200
        assert all(client.get("/api/v1/health").status_code == 200 for _ in range(5))
        assert all(client.get("/metrics").status_code == 200 for _ in range(5))


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_api_metrics_count_its_requests_by_route_and_not_the_workers_metrics(settings):
    limited = settings.model_copy(update={"api_key": SecretStr("s3cret")})
    with TestClient(create_app(limited)) as client:
        before = client.get("/metrics").text
        key = {"X-API-Key": "s3cret"}
        for asset in (1, 2, 3):  # three paths, one route (known assets or not: 200 or 404)
            client.get(f"/api/v1/metrics/{asset}", params={"hours": 1}, headers=key)
        client.get("/api/v1/metrics/1", params={"hours": -1}, headers=key)  # 422
        client.get("/api/v1/models")  # no key: refused by the guard before the route, 401
        client.get("/no/such/path", headers=key)
        client.request("FOOBAR", "/api/v1/health")  # a made-up method is no new label
        after = client.get("/metrics").text

    def delta(**labels):
        name = "ems_ml_api_requests_total"
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    route = "/api/v1/metrics/{asset_id}"
    assert sum(delta(method="GET", route=route, status=code) for code in ("200", "404")) == 3
    assert delta(method="GET", route=route, status="422") == 1
    assert delta(method="GET", route="/api/v1/models", status="401") == 1
    assert delta(method="GET", route="unmatched", status="404") == 1
    assert _sample(after, "ems_ml_api_request_duration_seconds_count", method="GET", route=route)
    assert "/api/v1/metrics/1" not in after  # raw paths never become labels
    assert "FOOBAR" not in after
    assert delta(method="other", route="/api/v1/health", status="405") == 1
    # the worker's metrics are the workers' to export: from the API they would read 0
    assert "ems_ml_points_scored" not in after and "ems_ml_batch_duration" not in after
    assert "process_resident_memory_bytes" in after and "python_info" in after
