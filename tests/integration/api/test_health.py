"""`/api/v1/health` and `/metrics` against the real database and broker."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def test_healthy_when_database_and_kafka_answer(settings):
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["database"]["status"] == "up" and body["kafka"]["status"] == "up"
    assert body["reasons"] == []


def test_degraded_without_kafka(settings):
    elsewhere = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    with TestClient(create_app(elsewhere)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["kafka"]["status"] == "down"
    assert "kafka unreachable" in body["reasons"][0]


def test_unhealthy_503_without_database(settings):
    elsewhere = settings.model_copy(update={"database_port": free_port()})
    with TestClient(create_app(elsewhere)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"]["status"] == "down"


def test_prometheus_metrics_and_docs_are_served(settings):
    with TestClient(create_app(settings)) as client:
        client.get("/api/v1/health")
        metrics = client.get("/metrics", follow_redirects=False)
        assert metrics.status_code == 200
        assert "python_info" in metrics.text
        assert client.get("/docs").status_code == 200
        assert client.get("/redoc").status_code == 200
        assert "/api/v1/health" in client.get("/openapi.json").json()["paths"]
