"""`GET /api/v1/forecast/{assetId}` reads the forecaster the scores were made with."""

from datetime import datetime, timedelta

import pytest

from tests.integration.api.conftest import ASSET, NOW

pytestmark = pytest.mark.integration


def test_a_forecast_steps_at_the_series_interval_with_nested_intervals(client):
    body = client.get(f"/api/v1/forecast/{ASSET}", params={"metric": "cpu_usage", "horizon": 6})
    assert body.status_code == 200, body.text
    forecast = body.json()
    assert forecast["assetId"] == ASSET and forecast["model"] == "forecast-v1"
    assert datetime.fromisoformat(forecast["lastPointAt"]) == NOW
    assert forecast["intervalSeconds"] == pytest.approx(600, rel=0.01)
    points = forecast["points"]
    assert len(points) == 36  # six hours of 10-minute points
    times = [datetime.fromisoformat(p["timestamp"]) for p in points]
    assert times[0] - NOW == pytest.approx(timedelta(minutes=10), abs=timedelta(seconds=10))
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    for p in points:
        assert p["lower95"] <= p["lower80"] <= p["value"] <= p["upper80"] <= p["upper95"]
        assert 10 < p["value"] < 70  # the series swings between 25 and 56
    # cpu_usage is bounded by the default CAPACITY_RULES: 90 of 100, far from a flat series
    outlook = forecast["capacity"]
    assert outlook["limit"] == 90.0 and outlook["capacity"] == 100.0
    assert outlook["probability"] < 0.01 and outlook["horizonHours"] == 168.0


def test_a_long_horizon_widens_the_step_to_at_most_500_points(client):
    forecast = client.get(
        f"/api/v1/forecast/{ASSET}", params={"metric": "memory_usage", "horizon": 720}
    ).json()
    assert 400 < len(forecast["points"]) <= 500
    # 720 hours of 10-minute points are 4,320: every 9th
    assert forecast["stepSeconds"] == pytest.approx(9 * forecast["intervalSeconds"])
    # far beyond what two days of history could check: said, not hidden
    assert forecast["points"][0]["calibrated"] and not forecast["points"][-1]["calibrated"]


def test_what_cannot_be_forecast_is_a_clear_error(client):
    unknown_metric = client.get(f"/api/v1/forecast/{ASSET}", params={"metric": "disk_usage"})
    assert unknown_metric.status_code == 404
    assert "disk_usage" in unknown_metric.json()["detail"]
    assert client.get("/api/v1/forecast/999999", params={"metric": "cpu_usage"}).status_code == 404
    for params in ({}, {"metric": "cpu usage!"}, {"metric": "cpu_usage", "horizon": 0}):
        assert client.get(f"/api/v1/forecast/{ASSET}", params=params).status_code == 422
