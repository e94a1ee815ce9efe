"""Incident changes reach the anomalies topic even when a worker dies right after committing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from stream.incidents import IncidentTracker
from stream.sinks.postgres import ScoreWriter, ensure_schema
from tests.integration.conftest import consume_all, scored_point, wait_until

pytestmark = pytest.mark.integration

ASSET = 4242


def anomaly():
    ts = datetime(2026, 5, 1, tzinfo=UTC)
    return scored_point(asset_id=ASSET, ts=ts, value=99.0, score=0.95, is_anomaly=True)


async def commit_like_a_worker_that_then_dies(settings) -> list:
    """What a worker has done when it is killed between its commit and its publish."""
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    pool = AsyncConnectionPool(settings.database_dsn, min_size=1, max_size=1, open=False)
    try:
        tracker = IncidentTracker(quiet_seconds=900, queue_outbox=False)
        return await ScoreWriter(pool=pool, incidents=tracker).write([anomaly()])
    finally:
        await pool.close()


def left_in_outbox(settings) -> int:
    with psycopg.connect(settings.database_dsn) as conn:
        return conn.execute("SELECT count(*) FROM incident_topic_outbox").fetchone()[0]


def test_a_change_committed_but_never_published_is_published_by_any_worker(settings, start_worker):
    (change,) = asyncio.run(commit_like_a_worker_that_then_dies(settings))
    assert change.body["type"] == "incident.open"
    assert left_in_outbox(settings) == 1, "the change is durable with the incident"
    with psycopg.connect(settings.database_dsn) as conn:  # left long enough to count as stale
        conn.execute("UPDATE incident_topic_outbox SET created_at = now() - interval '1 minute'")

    start_worker().wait_ready()
    assert wait_until(lambda: left_in_outbox(settings) == 0, timeout=60)
    published = [
        json.loads(r.value) for r in asyncio.run(consume_all(settings, settings.anomalies_topic))
    ]
    assert [(m["type"], m["event_id"], m["asset_id"]) for m in published] == [
        ("incident.open", change.body["event_id"], ASSET)
    ]
