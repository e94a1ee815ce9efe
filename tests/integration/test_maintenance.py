"""Maintenance windows: scores stored, nothing sent; created, listed, cancelled through the API."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.integration.conftest import consume_all, produce, wait_for_count, wait_until
from tests.integration.test_ems_core import (  # noqa: F401 (standin is a fixture)
    T0,
    asset_ids,
    incident_feed,
    outbox,
    quick,
    standin,
    start,
)

pytestmark = pytest.mark.integration


def shifted(value: bytes, by: timedelta) -> bytes:
    body = json.loads(value)
    body["timestamp"] = (datetime.fromisoformat(body["timestamp"]) + by).isoformat()
    return json.dumps(body).encode()


def test_a_muted_asset_is_scored_but_opens_and_sends_nothing(
    quick,  # noqa: F811
    start_worker,
    standin,  # noqa: F811
):
    _, events = standin
    muted, alerting = asset_ids(2)
    # the feed of the EMS Core tests, moved to the last few hours: workers read the windows that
    # have not ended more than a day ago
    start_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    messages = [(k, shifted(v, start_at - T0)) for k, v in incident_feed([muted, alerting])]
    with TestClient(create_app(quick)) as api:
        window = api.post(
            "/api/v1/maintenance",
            json={
                "assetId": muted,
                "metricPattern": "cpu_*",
                "startsAt": start_at.isoformat(),
                "endsAt": (start_at + timedelta(hours=8)).isoformat(),
                "reason": "disk replacement",
            },
        )
    assert window.status_code == 201, window.text
    start(start_worker, quick)
    keys, values = zip(*messages, strict=True)
    asyncio.run(produce(quick, list(values), list(keys)))
    assert wait_for_count(quick, len(messages)) == len(messages)
    assert wait_until(lambda: outbox(quick)[0] > 0 and outbox(quick)[1] == 0, timeout=60)

    with psycopg.connect(quick.database_dsn) as conn:

        def count(sql, asset):
            return conn.execute(sql, (asset,)).fetchone()[0]

        scored = "SELECT count(*) FROM anomaly_scores WHERE asset_id = %s"
        flagged = "SELECT count(*) FROM anomaly_scores WHERE asset_id = %s AND is_anomaly"
        opened = "SELECT count(*) FROM incidents WHERE asset_id = %s"
        # the same feed: both scored in full, both with anomalies seen
        assert count(scored, muted) == count(scored, alerting) == len(messages) // 2
        assert count(flagged, muted) > 0 and count(flagged, alerting) > 0
        assert count(opened, muted) == 0 and count(opened, alerting) >= 1
    assert events(muted) == [] and len(events(alerting)) >= 1
    published = [
        json.loads(r.value) for r in asyncio.run(consume_all(quick, quick.anomalies_topic))
    ]
    assert not [b for b in published if b.get("asset_id") == muted]
    assert [b for b in published if b.get("asset_id") == alerting and b.get("type") == "anomaly"]


def test_windows_are_listed_cancelled_and_refused_when_they_make_no_sense(settings):
    with TestClient(create_app(settings)) as api:
        made = api.post(
            "/api/v1/maintenance",
            json={"endsAt": "2099-01-01T00:00:00Z", "reason": "everything, for a while"},
        )
        assert made.status_code == 422  # more than 31 days from now
        made = api.post(
            "/api/v1/maintenance",
            json={"endsAt": "2099-01-01T00:00:00Z", "startsAt": "2098-12-31T00:00:00Z",
                  "reason": "upgrade"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        window = made.json()
        assert window["status"] == "upcoming" and window["assetId"] is None
        listed = api.get("/api/v1/maintenance").json()["windows"]
        assert [w["id"] for w in listed] == [window["id"]]

        cancelled = api.delete(f"/api/v1/maintenance/{window['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = api.delete(f"/api/v1/maintenance/{window['id']}").json()
        assert again["cancelledAt"] == cancelled.json()["cancelledAt"]
        assert api.get("/api/v1/maintenance").json()["windows"] == []
        past = api.get("/api/v1/maintenance", params={"ended": "true"}).json()["windows"]
        assert [w["status"] for w in past] == ["cancelled"]

        for bad in (
            {"endsAt": "2099-01-01T00:00:00", "startsAt": "2098-12-31T00:00:00Z", "reason": "x"},
            {"endsAt": "2098-12-30T00:00:00Z", "startsAt": "2098-12-31T00:00:00Z", "reason": "x"},
            {"endsAt": "2098-12-31T01:00:00Z", "startsAt": "2098-12-31T00:00:00Z", "reason": ""},
            {"endsAt": "2098-12-31T01:00:00Z", "startsAt": "2098-12-31T00:00:00Z",
             "reason": "x", "metricPattern": "cpu usage; drop"},
            {"endsAt": "2098-12-31T01:00:00Z", "startsAt": "2098-12-31T00:00:00Z",
             "reason": "a\u0000b"},
        ):  # fmt: skip
            assert api.post("/api/v1/maintenance", json=bad).status_code == 422, bad
        assert api.delete(f"/api/v1/maintenance/{uuid.uuid4()}").status_code == 404
        assert api.delete("/api/v1/maintenance/not-an-id").status_code == 422
