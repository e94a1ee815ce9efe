"""`GET /api/v1/incidents/{id}`: an incident with its root-cause hints."""

import uuid
from datetime import datetime, timedelta

import pytest

from tests.integration.api.conftest import ASSET, SPIKE_AT

pytestmark = pytest.mark.integration


def test_an_incident_lists_what_moved_first_with_reasons(client):
    (incident,) = [
        i
        for i in client.get(f"/api/v1/assets/{ASSET}/incidents").json()["incidents"]
        if "cpu_usage" in i["metrics"]
    ]
    answer = client.get(f"/api/v1/incidents/{incident['id']}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["assetId"] == ASSET and body["kind"] == "anomaly"
    assert body["priority"] == incident["priority"] and body["priority"] in ("P1", "P2", "P3", "P4")
    assert datetime.fromisoformat(body["windowStart"]) < datetime.fromisoformat(body["startedAt"])
    # the seeded spike is the only thing that moved: its own metric, at the incident's start
    first = body["hints"][0]
    assert (first["assetId"], first["metric"]) == (ASSET, "cpu_usage")
    assert datetime.fromisoformat(first["onset"]) == SPIKE_AT and first["leadSeconds"] == 0
    assert (
        first["correlation"] == 1.0 and "cpu_usage moved at the incident's start" in first["reason"]
    )
    assert all(h["metric"] != "memory_usage" or h["sustained"] < 0.25 for h in body["hints"])


def test_an_unknown_or_malformed_incident_id_is_a_clear_error(client):
    missing = client.get(f"/api/v1/incidents/{uuid.uuid4()}")
    assert missing.status_code == 404 and "no incident" in missing.json()["detail"]
    assert client.get("/api/v1/incidents/not-a-uuid").status_code == 422


def test_the_window_is_half_an_hour_before_the_start_to_a_quarter_after(client):
    (incident,) = client.get(f"/api/v1/assets/{ASSET}/incidents").json()["incidents"][:1]
    body = client.get(f"/api/v1/incidents/{incident['id']}").json()
    started = datetime.fromisoformat(body["startedAt"])
    assert datetime.fromisoformat(body["windowStart"]) == started - timedelta(minutes=30)
    assert datetime.fromisoformat(body["windowEnd"]) == started + timedelta(minutes=15)
