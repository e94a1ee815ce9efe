"""Series states in the real PostgreSQL: stored with the scores, never moved backwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api import queries
from stream import state_codec
from stream.engine import stored
from stream.ensemble import build_engine
from stream.incidents import IncidentTracker
from stream.security import SecurityRef, SecurityTracker
from stream.sinks import state_store
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


def payload(seed: int) -> bytes:
    """Bytes the size of a worker's row (the store XORs whatever bytes it is given)."""
    return np.random.default_rng(seed).integers(0, 256, 12_000, dtype=np.uint8).tobytes()


def changed(row: bytes, at: int) -> bytes:
    """`row` with a few bytes changed near `at`, as a point changes a series' row."""
    out = bytearray(row)
    out[at : at + 16] = bytes(16)
    return bytes(out)


async def _deltas(settings) -> dict:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        store = StateStore(pool=pool, group="g1")
        key = "1/cpu_usage"
        base = payload(1)
        seen = {"first": await store.save([StateRow(key, 0, 10, base)])}
        base_id = seen["first"].bases[key]
        # one worker moves the row on twice from the base it stored: each delta onto that base
        for offset, at in ((20, 100), (30, 5000)):
            row = changed(base if offset == 20 else seen["20"], at)
            delta = {key: (base_id, state_codec.encode_delta(base, row))}
            seen[f"checkpoint {offset}"] = await store.save([StateRow(key, 0, offset, row)], delta)
            seen[str(offset)] = row
        seen["read"] = (await store.load([key]))[key]
        async with pool.connection() as conn:
            seen["api"] = await queries.series_state(conn, group="g1", key=key)
            cur = await conn.execute("SELECT length(delta) FROM series_state")
            (seen["delta bytes"],) = await cur.fetchone()
        # a worker that holds another base (one that lost the series and comes back late, or
        # one whose base the store replaced): its delta is not added to the stored base; its
        # row goes whole, where it does not go back
        newer = changed(seen["30"], 9000)
        stale = {key: (base_id + 1000, state_codec.encode_delta(base, newer))}
        seen["other base"] = await store.save([StateRow(key, 0, 40, newer)], stale)
        seen["after other base"] = (await store.load([key]))[key]
        older = {key: (seen["other base"].bases[key], state_codec.encode_delta(newer, base))}
        seen["going back"] = await store.save([StateRow(key, 0, 35, base)], older)
        seen["after going back"] = (await store.load([key]))[key]
        return seen


def test_a_row_stored_as_deltas_onto_its_base_reads_back_whole_and_never_goes_back(settings):
    seen = asyncio.run(_deltas(settings))
    key = "1/cpu_usage"
    assert seen["first"].deltas == set() and seen["first"].bases.keys() == {key}
    assert seen["checkpoint 20"].deltas == {key} and seen["checkpoint 20"].bases == {}
    assert seen["checkpoint 30"].deltas == {key}
    read = seen["read"]
    assert read.payload == seen["30"]  # the base and its last delta: the row as it was last
    assert read.base == payload(1) and read.base_id == seen["first"].bases[key]
    assert seen["api"] == seen["30"]
    assert seen["delta bytes"] < 200  # a few changed bytes, not the 12 KB row
    assert seen["other base"].deltas == set() and seen["other base"].bases.keys() == {key}
    after = seen["after other base"]
    assert after.payload == after.base == changed(seen["30"], 9000)
    assert after.base_id == seen["other base"].bases[key]
    assert seen["going back"].deltas == set() and seen["going back"].bases == {}
    assert seen["after going back"] == after


async def _packed(settings) -> tuple:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    engine = build_engine(settings)
    engine.score_batch(["s"] * 10, np.linspace(1.0, 2.0, 10), 1.7e9 + 60.0 * np.arange(10))
    row = stored.payload(engine, "s", None)
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        store = StateStore(pool=pool, group="g1")
        await store.save([StateRow("1/cpu_usage", 0, 1, row)])
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT length(state) FROM series_state")
            (length,) = await cur.fetchone()
        read = (await store.load(["1/cpu_usage"]))["1/cpu_usage"]
        # the worker's next checkpoint: a delta made from the base as read, packed
        engine.score_batch(["s"], np.array([3.0]), np.array([1.7e9 + 600.0]))
        later = StateRow("1/cpu_usage", 0, 2, stored.payload(engine, "s", None))
        packed, deltas = state_store.prepare([later], {later.key: (read.base_id, read.base)})
        done = await store.save(packed, deltas)
        return length, row, read, later.payload, done, await store.load_payloads([later.key])


def test_a_row_stored_whole_is_packed_and_read_back_as_it_was_and_deltas_made_from_it(settings):
    length, row, read, later, done, after = asyncio.run(_packed(settings))
    assert length < len(row) / 4  # compressed before it is sent, not by PostgreSQL
    assert read.payload == row and len(read.base) == length  # the base held as stored, packed
    assert done.deltas == {"1/cpu_usage"}
    assert after == {"1/cpu_usage": later}


async def _upgrade(settings) -> dict:
    """A `series_state` as versions before deltas made it, with a row stored unpacked."""
    engine = build_engine(settings)
    engine.score_batch(["s"] * 30, np.linspace(1.0, 2.0, 30), 1.7e9 + 60.0 * np.arange(30))
    old = stored.payload(engine, "s", None)
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
        await conn.execute("DROP TABLE series_state")
        await conn.execute(
            "CREATE TABLE series_state (consumer_group TEXT NOT NULL, series_key TEXT NOT NULL, "
            "source_partition INTEGER NOT NULL, source_offset BIGINT NOT NULL, "
            "state BYTEA NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
            "PRIMARY KEY (consumer_group, series_key))"
        )
        await conn.execute(
            "INSERT INTO series_state VALUES ('g1', '1/cpu_usage', 0, 30, %s)", (old,)
        )
        await conn.commit()
        await ensure_schema(conn)  # the upgraded worker's start
    seen = {"old": old}
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        store = StateStore(pool=pool, group="g1")
        seen["read"] = (await store.load(["1/cpu_usage"]))["1/cpu_usage"]
        engine.score_batch(["s"], np.array([3.0]), np.array([1.7e9 + 60.0 * 30]))
        seen["next"] = StateRow("1/cpu_usage", 0, 31, stored.payload(engine, "s", None))
        packed, deltas = state_store.prepare([seen["next"]], {})  # no base: stored whole
        seen["stored"] = await store.save(packed, deltas)
        seen["after"] = (await store.load(["1/cpu_usage"]))["1/cpu_usage"]
    return seen


def test_a_row_stored_before_deltas_is_read_after_the_upgrade_and_stored_on_from(settings):
    seen = asyncio.run(_upgrade(settings))
    assert seen["read"].payload == seen["old"] and seen["read"].base_id is None
    assert seen["stored"].bases.keys() == {"1/cpu_usage"}  # whole, the first base
    assert seen["after"].payload == seen["next"].payload
    assert seen["after"].base_id == seen["stored"].bases["1/cpu_usage"]
