"""An API on a fresh database holding one asset's metrics and scores."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import AsyncConnectionPool

from api.main import create_app
from stream.ensemble import build_scorer
from stream.events import MetricPoint
from stream.features import SeriesState
from stream.incidents import IncidentTracker
from stream.pipeline import ScoredPoint
from stream.replay import score_points
from stream.sinks.postgres import ScoreWriter, ensure_schema
from tests.integration.conftest import stored_row

ASSET = 7
NOW = datetime.now(UTC).replace(microsecond=0)
STEP = timedelta(minutes=10)
# two days of a daily-shaped cpu_usage plus a flat memory_usage; one spike 30 minutes ago
SPIKE_AT = NOW - timedelta(minutes=30)


def history() -> list[tuple[int, str, datetime, float]]:
    rows = []
    t = NOW - timedelta(days=2)
    i = 0
    while t <= NOW:
        cpu = 40 + 15 * math.sin(2 * math.pi * i / 144) + (i * 7919 % 13) / 13
        if t == SPIKE_AT:
            cpu = 99.0
        rows.append((ASSET, "cpu_usage", t, cpu))
        rows.append((ASSET, "memory_usage", t, 60 + (i * 104729 % 7) / 7))
        t += STEP
        i += 1
    return rows


async def _seed(settings) -> None:
    rows = history()
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
        await conn.execute("INSERT INTO assets (id, name) VALUES (%s, 'web-01')", (ASSET,))
        async with conn.cursor() as cur:
            await cur.executemany(
                'INSERT INTO metrics (asset_id, metric_name, "timestamp", value) '
                "VALUES (%s, %s, %s, %s)",
                rows,
            )
        await conn.commit()
    points = [MetricPoint(asset_id=a, metric=m, timestamp=t, value=v) for a, m, t, v in rows]
    states: dict[str, SeriesState] = {}
    scored = [ScoredPoint(p, v) for p, v in score_points(points, build_scorer(settings), states)]
    for offset, state in enumerate(states.values()):  # as a worker would have stored them
        state.partition, state.offset = 0, offset
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        await ScoreWriter(
            pool=pool,
            incidents=IncidentTracker(quiet_seconds=900),
            state_group=settings.consumer_group,
        ).write(scored, [stored_row(settings, key, state) for key, state in states.items()])


@pytest.fixture
def seeded(settings):
    asyncio.run(_seed(settings))
    return settings


@pytest.fixture
def client(seeded):
    with TestClient(create_app(seeded)) as client:
        yield client
