"""A scan through Kafka, the worker and the EMS Core stand-in: its own incident, sent once."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.integration.conftest import consume_all, produce, wait_for_count, wait_until
from tests.integration.test_ems_core import asset_ids, outbox, standin  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, 10, tzinfo=UTC)


def scan_feed(asset: int) -> list[tuple[bytes, bytes]]:
    """Two quiet hours of connections and bandwidth, then connections x5 for ten minutes with
    the bandwidth as it was, then 40 quiet minutes; the same noise on every run."""
    rng = random.Random(3)
    messages = []
    for i in range(120 + 10 + 40):
        surge = 120 <= i < 130
        values = {
            "connections": (300 + rng.gauss(0, 10)) * (5 if surge else 1),
            "bandwidth_in_mbps": 200 + rng.gauss(0, 8),
            "bandwidth_out_mbps": 60 + rng.gauss(0, 3),
        }
        for metric, value in values.items():
            body = {
                "asset_id": asset,
                "metric": metric,
                "value": value,
                "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
            }
            messages.append((str(asset).encode(), json.dumps(body).encode()))
    return messages


def test_a_connection_surge_with_flat_bandwidth_is_a_scan_incident_sent_once(
    settings,
    start_worker,
    standin,  # noqa: F811
):
    _, events = standin
    (asset,) = asset_ids(1)
    messages = scan_feed(asset)
    start_worker().wait_ready()
    keys, values = zip(*messages, strict=True)
    asyncio.run(produce(settings, list(values), list(keys)))
    assert wait_for_count(settings, len(messages)) == len(messages)
    assert wait_until(lambda: outbox(settings)[0] > 0 and outbox(settings)[1] == 0, timeout=60)

    with psycopg.connect(settings.database_dsn) as conn:
        rows = conn.execute(
            "SELECT status, started_at, ems_event_id, details, last_anomaly_at FROM incidents "
            "WHERE asset_id = %s AND kind = 'scan'",
            (asset,),
        ).fetchall()
    ((status, started_at, event_id, details, last),) = rows
    assert status == "resolved", (started_at, last, details)
    assert T0 + timedelta(minutes=120) <= started_at <= T0 + timedelta(minutes=125)
    assert details["evidence"]["connections"] > 1000
    (event,) = [e for e in events(asset) if e["details"].get("kind") == "security"]
    assert str(event["id"]) == str(event_id) and event["details"]["pattern"] == "scan"
    assert event["status"] == "resolved" and "scan" in event["title"]

    bodies = [
        json.loads(r.value) for r in asyncio.run(consume_all(settings, settings.anomalies_topic))
    ]
    kinds = [b["type"] for b in bodies if str(b.get("type", "")).startswith("security.")]
    assert kinds == ["security.open", "security.resolve"]
