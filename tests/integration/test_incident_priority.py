"""Flapping stays one incident; each incident's change carries its priority (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from stream.incidents import IncidentTracker
from stream.sinks.postgres import ScoreWriter, ensure_schema
from tests.integration.conftest import scored_point

pytestmark = pytest.mark.integration

T0 = datetime(2026, 7, 1, tzinfo=UTC)
QUIET = 900


async def _write(settings, batches, *, flap_seconds, criticality=None):
    """Write each batch of (asset, minute, score) through the ScoreWriter; every minute of the
    batches' span gets a quiet point too, so incidents resolve by event time as in the stream.
    Returns the queued changes' kinds and payloads."""
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
        if criticality is not None:  # an EMS whose assets table knows how critical each is
            await conn.execute("ALTER TABLE assets ADD COLUMN IF NOT EXISTS criticality TEXT")
            for asset, level in criticality.items():
                await conn.execute(
                    "INSERT INTO assets (id, name, criticality) VALUES (%s, 'a', %s)",
                    (asset, level),
                )
            await conn.commit()
    tracker = IncidentTracker(quiet_seconds=QUIET, flap_seconds=flap_seconds)
    changes = []
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        writer = ScoreWriter(pool=pool, incidents=tracker)
        for batch in batches:
            points = [
                scored_point(
                    asset_id=asset,
                    ts=T0 + timedelta(minutes=minute),
                    value=score * 100,
                    score=score,
                    is_anomaly=score >= 0.7,
                )
                for asset, minute, score in batch
            ]
            changes += await writer.write(points)
    return [(c.body["type"], c.body) for c in changes]


def bursts(asset, starts, *, length=3, score=0.95):
    """One batch per burst: `length` anomalous minutes from each start, then a quiet minute
    long after (which resolves the burst's incident by event time)."""
    return [
        [(asset, s + i, score) for i in range(length)] + [(asset, s + length + 20, 0.1)]
        for s in starts
    ]


def test_an_incident_that_opens_and_closes_repeatedly_is_one_incident(settings):
    # bursts 25 minutes apart: each resolves after 15 quiet minutes, the next comes 7 minutes
    # after that resolution, within the flap period
    changes = asyncio.run(_write(settings, bursts(1, [0, 25, 50]), flap_seconds=900))
    kinds = [kind for kind, _ in changes]
    assert kinds.count("incident.open") == 1
    assert kinds.count("incident.resolve") == 3 and kinds.count("incident.update") == 2
    assert len({body["incident_id"] for _, body in changes}) == 1
    assert changes[-1][1]["details"]["reopened"] == 2
    with psycopg.connect(settings.database_dsn) as conn:
        assert conn.execute("SELECT count(*), max(anomalies) FROM incidents").fetchone() == (1, 9)


def test_without_a_flap_period_each_burst_is_an_incident_of_its_own(settings):
    changes = asyncio.run(_write(settings, bursts(1, [0, 25, 50]), flap_seconds=0))
    assert [kind for kind, _ in changes].count("incident.open") == 3
    # the third has two earlier incidents of its asset this week: recurrence raises it
    opened = [body for kind, body in changes if kind == "incident.open"]
    assert [o["details"]["priority"]["parts"]["recurrence"] for o in opened] == [0.0, 3.0, 6.0]


def test_priority_weighs_severity_breadth_and_the_assets_criticality(settings):
    # three assets within minutes of each other; a priority counts the incidents known when
    # the change is queued, so asset 1 comes last
    batches = [[(2, 0, 0.95), (3, 1, 0.75)], [(1, 2, 0.95)]]
    changes = asyncio.run(
        _write(settings, batches, flap_seconds=900, criticality={1: "high", 3: "low"})
    )
    opened = {body["asset_id"]: body for kind, body in changes if kind == "incident.open"}
    one, three = opened[1]["details"]["priority"], opened[3]["details"]["priority"]
    # asset 1: critical (40), two other assets around it (10), a high-criticality asset (15)
    assert one["parts"] == {
        "severity": 40.0, "duration": 0.0, "metrics": 0.0, "assets": 10.0,
        "criticality": 15.0, "recurrence": 0.0,
    }  # fmt: skip
    assert (one["score"], one["label"], opened[1]["priority"]) == (65, "P2", "P2")
    # asset 3: info (10), asset 2 around it (5), low criticality counts nothing
    assert (three["score"], three["label"]) == (15, "P4")
