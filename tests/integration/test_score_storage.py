"""Scores in the real PostgreSQL: detector scores stored by position and read back by name, and a
table of the JSONB era upgraded in place with its rows still readable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from api import queries
from stream.incidents import IncidentTracker
from stream.pipeline import ScoredPoint
from stream.sinks.postgres import (
    DETECTOR_COLUMNS,
    ScoreWriter,
    ensure_month_partitions,
    ensure_schema,
    month_start,
)
from tests.integration.conftest import scored_point

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 5, 12, tzinfo=UTC)
# every detector the service has, with scores that only read back equal if stored exactly
EVERY_DETECTOR = {name: 1 / (i + 3) for i, name in enumerate(DETECTOR_COLUMNS)}

# `anomaly_scores` as the first releases created it: the scores as one JSONB object, required
OLD_TABLE = """
CREATE TABLE anomaly_scores (
    asset_id BIGINT NOT NULL, metric TEXT NOT NULL, ts TIMESTAMPTZ NOT NULL,
    value DOUBLE PRECISION NOT NULL, score DOUBLE PRECISION NOT NULL,
    is_anomaly BOOLEAN NOT NULL, detector_scores JSONB NOT NULL, model_version TEXT NOT NULL,
    scored_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (asset_id, metric, ts)
) PARTITION BY RANGE (ts)
"""


async def _page(conn) -> dict:
    """The stored detector scores of asset 1 by time, as `/anomaly/scores` reads them."""
    _, rows = await queries.score_page(
        conn,
        asset_id=1,
        since=T0 - timedelta(days=1),
        metric=None,
        only_anomalies=False,
        limit=100,
        offset=0,
    )
    return {row["timestamp"]: row["detector_scores"] for row in rows}


async def _write(settings, points) -> None:
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        await ScoreWriter(pool=pool, incidents=IncidentTracker(quiet_seconds=900)).write(points)


def point_at(minutes: int, detector_scores: dict):
    ts = T0 + timedelta(minutes=minutes)
    point = scored_point(asset_id=1, ts=ts, value=1.0, score=0.2, is_anomaly=False)
    return ScoredPoint(point.point, point.verdict._replace(detector_scores=detector_scores))


async def _round_trip(settings) -> tuple[dict, dict]:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    await _write(settings, [point_at(0, EVERY_DETECTOR), point_at(1, {"zscore": 0.25})])
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        page = await _page(conn)
        cur = await conn.execute(
            "SELECT detector_values, detector_scores FROM anomaly_scores WHERE ts = %s", (T0,)
        )
        stored = await cur.fetchone()
    return page, {"values": stored[0], "json": stored[1]}


def test_detector_scores_are_stored_by_position_and_read_back_by_name(settings):
    page, stored = asyncio.run(_round_trip(settings))
    assert page[T0] == EVERY_DETECTOR  # exactly: the same doubles
    assert stored == {"values": list(EVERY_DETECTOR.values()), "json": None}
    # a detector that gave no score is absent, not zero
    assert page[T0 + timedelta(minutes=1)] == {"zscore": 0.25}


async def _unknown_detector(settings) -> tuple[str, int]:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    good = point_at(0, {"zscore": 0.5})
    bad = point_at(1, {"zscore": 0.5, "novelty": 0.9})
    with pytest.raises(ValueError) as refused:
        await _write(settings, [good, bad])
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        count = (await (await conn.execute("SELECT count(*) FROM anomaly_scores")).fetchone())[0]
    return str(refused.value), count


def test_a_detector_with_no_stored_position_is_refused_and_the_batch_not_written(settings):
    reason, count = asyncio.run(_unknown_detector(settings))
    assert "novelty" in reason and "DETECTOR_COLUMNS" in reason
    assert count == 0


async def _upgrade(settings) -> dict:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await conn.execute(OLD_TABLE)
        await ensure_month_partitions(conn, {month_start(T0)})
        await conn.execute(
            "INSERT INTO anomaly_scores (asset_id, metric, ts, value, score, is_anomaly, "
            "detector_scores, model_version) VALUES (1, 'cpu_usage', %s, 1, 0.9, true, "
            """'{"zscore": 0.9, "mad": 0.125}', 'ensemble-v1')""",
            (T0,),
        )
        await conn.commit()
        await ensure_schema(conn)
    await _write(settings, [point_at(1, EVERY_DETECTOR)])
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        return await _page(conn)


def test_a_table_of_jsonb_scores_is_upgraded_and_its_old_rows_still_read(settings):
    page = asyncio.run(_upgrade(settings))
    assert page == {
        T0: {"zscore": 0.9, "mad": 0.125},
        T0 + timedelta(minutes=1): EVERY_DETECTOR,
    }


def test_a_batch_with_points_already_stored_keeps_them_and_counts_only_the_new(settings):
    # a replay after a crash: the plain insert fails on the key, and the batch goes in by the
    # insert that skips what is stored, in the same transaction as the incident it feeds
    def anomaly(minutes: int, value: float):
        ts = T0 + timedelta(minutes=minutes)
        return scored_point(asset_id=1, ts=ts, value=value, score=0.95, is_anomaly=True)

    async def run():
        async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
            await ensure_schema(conn)
            await ensure_month_partitions(conn, {month_start(T0)})
            await conn.commit()
        await _write(settings, [anomaly(0, 10.0), anomaly(1, 11.0)])
        await _write(settings, [anomaly(1, 99.0), anomaly(2, 12.0)])  # minute 1 again
        await _write(settings, [anomaly(3, 13.0)])  # and a batch of new points only
        async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
            cur = await conn.execute("SELECT value FROM anomaly_scores ORDER BY ts")
            values = [v for (v,) in await cur.fetchall()]
            cur = await conn.execute("SELECT anomalies FROM incidents WHERE asset_id = 1")
            counts = [n for (n,) in await cur.fetchall()]
        return values, counts

    already = "ems_ml_scores_already_stored_total"
    before = REGISTRY.get_sample_value(already)
    values, counts = asyncio.run(run())
    assert values == [10.0, 11.0, 12.0, 13.0]  # the stored point kept, not overwritten
    assert counts == [4]  # one incident, each anomaly counted once
    assert REGISTRY.get_sample_value(already) - before == 1  # minute 1, for operators to see
