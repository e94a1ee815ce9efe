"""Series states in the real PostgreSQL: stored with the scores, never moved backwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from stream.features import SeriesState
from stream.incidents import IncidentTracker
from stream.sinks.postgres import ScoreWriter, ensure_schema
from stream.sinks.state_store import StateRow, StateStore
from tests.integration.conftest import scored_point

pytestmark = pytest.mark.integration


def state_at(offset: int, count: int) -> SeriesState:
    state = SeriesState(count=count, window=[float(count)], last_ts_ms=count * 1000)
    state.partition, state.offset = 0, offset
    return state


def scored(ts_s: int):
    ts = datetime.fromtimestamp(ts_s, UTC)
    return scored_point(asset_id=1, ts=ts, value=1.0, score=0.1, is_anomaly=False)


async def _exercise(settings) -> dict:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    pool = AsyncConnectionPool(settings.database_dsn, min_size=1, max_size=2, open=False)
    try:
        tracker = IncidentTracker(quiet_seconds=900)
        writer = ScoreWriter(pool=pool, incidents=tracker, state_group="g1")
        store = StateStore(pool=pool, group="g1")
        other = StateStore(pool=pool, group="g2")
        seen = {"never stored": await store.load(["1/cpu_usage"])}
        await writer.write([scored(10)], [StateRow.of("1/cpu_usage", state_at(10, 5))])
        seen["after the write"] = await store.load(["1/cpu_usage"])
        # a late writer (a worker that lost the partition) with an older state is refused
        await writer.write([scored(11)], [StateRow.of("1/cpu_usage", state_at(7, 3))])
        seen["after an older write"] = await store.load(["1/cpu_usage"])
        seen["another group"] = await other.load(["1/cpu_usage"])
        return seen
    finally:
        await pool.close()


def test_states_round_trip_belong_to_their_group_and_never_go_back(settings):
    seen = asyncio.run(_exercise(settings))
    assert seen["never stored"]["1/cpu_usage"] == SeriesState()
    stored = seen["after the write"]["1/cpu_usage"]
    assert stored == state_at(10, 5)
    assert stored.already_applied(0, 10) and not stored.already_applied(0, 11)
    assert seen["after an older write"]["1/cpu_usage"] == state_at(10, 5)
    assert seen["another group"]["1/cpu_usage"] == SeriesState()
