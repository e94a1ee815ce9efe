"""Series states in the real PostgreSQL: stored with the scores, never moved backwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from stream.incidents import IncidentTracker
from stream.security import SecurityRef, SecurityTracker
from stream.sinks.postgres import ScoreWriter, ensure_schema
from stream.sinks.state_store import StateRow, StateStore
from tests.integration.conftest import scored_point

pytestmark = pytest.mark.integration


def row_at(offset: int) -> StateRow:
    """A series' stored row naming the message at `offset` of partition 0 (the store keeps
    whatever bytes it is given: what they hold is `stream.engine.stored`'s)."""
    return StateRow("1/cpu_usage", 0, offset, f"row at {offset}".encode())


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
        seen = {"never stored": await store.load_payloads(["1/cpu_usage"])}
        await writer.write([scored(10)], [row_at(10)])
        seen["after the write"] = await store.load_payloads(["1/cpu_usage", "2/cpu_usage"])
        # a late writer (a worker that lost the partition) with an older state is refused
        await writer.write([scored(11)], [row_at(7)])
        seen["after an older write"] = await store.load_payloads(["1/cpu_usage"])
        seen["another group"] = await other.load_payloads(["1/cpu_usage"])
        return seen
    finally:
        await pool.close()


def test_states_round_trip_belong_to_their_group_and_never_go_back(settings):
    seen = asyncio.run(_exercise(settings))
    assert seen["never stored"] == {}
    assert seen["after the write"] == {"1/cpu_usage": b"row at 10"}
    assert seen["after an older write"] == {"1/cpu_usage": b"row at 10"}
    assert seen["another group"] == {}


async def _write_twice(settings) -> list:
    """One batch written twice, as a worker killed after the scores but before the checkpoint
    writes it again from the rows before: with an anomaly and a scan detection."""
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    ts = datetime(2026, 9, 1, 10, tzinfo=UTC)
    point = scored_point(asset_id=7, ts=ts, value=99.0, score=0.95, is_anomaly=True)
    scan = SecurityRef(7, "scan", ts, "cpu_usage", {"connections": 99.0})
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        writer = ScoreWriter(
            pool=pool,
            incidents=IncidentTracker(quiet_seconds=900),
            state_group="g1",
            security=SecurityTracker(quiet_seconds=900),
        )
        changes = [await writer.write([point], threats=[scan]) for _ in range(2)]
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT kind, anomalies, details FROM incidents WHERE asset_id = 7 ORDER BY kind"
            )
            return [changes, await cur.fetchall()]


def test_a_batch_written_again_after_a_crash_counts_nothing_twice(settings):
    (first, again), incidents = asyncio.run(_write_twice(settings))
    assert len(first) == 2  # the anomaly's incident and the scan's, opened
    assert again == []
    by_kind = {kind: (anomalies, details) for kind, anomalies, details in incidents}
    assert by_kind["anomaly"][0] == 1
    assert by_kind["scan"][1]["detections"] == 1


async def _save_in_statements(settings, monkeypatch) -> dict:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    # a statement carries at most 20 bytes of states here (64 MB in a worker): 7 rows of 5
    # bytes and one of 30 (more than a statement's room, alone) make three statements
    monkeypatch.setattr("stream.sinks.state_store.SAVE_STATEMENT_BYTES", 20)
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        store = StateStore(pool=pool, group="g1")
        rows = [StateRow(f"{i}/cpu_usage", 0, 5, f"row {i}".encode()) for i in range(7)]
        rows.append(StateRow("big/cpu_usage", 0, 5, b"x" * 30))
        await store.save(rows)
        saved = await store.load_payloads([r.key for r in rows])
        # a statement after the first fails (an offset beyond bigint): none of them is stored
        later = [StateRow(f"{i}/mem", 0, 5, f"row {i}".encode()) for i in range(6)]
        later.append(StateRow("6/mem", 0, 2**70, b"bad"))
        try:
            await store.save(later)
            refused = None
        except Exception as e:  # noqa: BLE001 - whichever error the store raises
            refused = e
        return {
            "saved": saved,
            "refused": refused,
            "after the refusal": await store.load_payloads([r.key for r in later]),
        }


def test_a_checkpoint_larger_than_a_statement_is_stored_whole_or_not_at_all(settings, monkeypatch):
    seen = asyncio.run(_save_in_statements(settings, monkeypatch))
    assert seen["saved"] == {
        **{f"{i}/cpu_usage": f"row {i}".encode() for i in range(7)},
        "big/cpu_usage": b"x" * 30,
    }
    assert seen["refused"] is not None
    assert seen["after the refusal"] == {}
