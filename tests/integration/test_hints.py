"""Root-cause hints read from the real PostgreSQL (`stream.hints.for_incident`): which series are
candidates, and that only the window's points count."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from stream import hints
from stream.sinks.postgres import ensure_month_partitions, ensure_schema, month_start

pytestmark = pytest.mark.integration

STARTED = datetime(2026, 10, 5, 12, tzinfo=UTC)
QUIET, MOVED, ALARM = 0.1, 0.65, 0.9


def _minutes(m: float) -> datetime:
    return STARTED + timedelta(minutes=m)


async def _hints(
    settings, rows: list[tuple], elsewhen: list[tuple] = ()
) -> list[tuple[int, str, datetime, float]]:
    """The hints of an incident of asset 1 on cpu_usage starting at STARTED, with `rows`
    (asset, metric, minutes from STARTED, score) stored, each series quiet every minute of the
    window otherwise, and `elsewhen` stored as they are."""
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
        await ensure_month_partitions(conn, {month_start(_minutes(-24 * 60))})
        given = {(a, m, t): s for a, m, t, s in rows}
        for asset, metric in {(a, m) for a, m, _, _ in rows}:
            for t in range(-45, 20):
                given.setdefault((asset, metric, t), QUIET)
        given.update({(a, m, t): s for a, m, t, s in elsewhen})
        await conn.cursor().executemany(
            "INSERT INTO anomaly_scores (asset_id, metric, ts, value, score, is_anomaly, "
            "model_version) VALUES (%s, %s, %s, 1.0, %s, %s, 'test')",
            [(a, m, _minutes(t), s, s >= 0.7) for (a, m, t), s in given.items()],
        )
        await conn.commit()
        incident = {"asset_id": 1, "started_at": STARTED, "peak_metric": "cpu_usage"}
        found = await hints.for_incident(conn, incident)
    return [(h.asset_id, h.metric, h.onset, h.peak_score) for h in found]


def test_candidates_are_the_assets_own_metrics_and_other_assets_anomalous_series(settings):
    found = asyncio.run(
        _hints(
            settings,
            [
                (1, "cpu_usage", 0, ALARM),
                (1, "memory_usage", -5, MOVED),  # the asset's own: moved without an alarm
                (2, "latency_ms", -10, ALARM),  # another asset's anomaly in the window
                (3, "errors", -10, MOVED),  # another asset moved, but no anomaly: no candidate
                (4, "cpu_usage", -90, ALARM),  # an anomaly before the window
                (4, "cpu_usage", -8, MOVED),  # and a move inside it: still no candidate
            ],
        )
    )
    assert {(a, m) for a, m, _, _ in found} == {
        (1, "cpu_usage"),
        (1, "memory_usage"),
        (2, "latency_ms"),
    }


def test_only_the_windows_points_are_read(settings):
    found = asyncio.run(
        _hints(
            settings,
            [
                (1, "cpu_usage", 0, ALARM),
                (2, "latency_ms", -40, 0.99),  # before the window (it opens 30 min before)
                (2, "latency_ms", -20, ALARM),
                (2, "latency_ms", 16, 0.99),  # after it (it closes 15 min after)
            ],
        )
    )
    # the move inside the window, and its peak, not the higher scores outside it
    assert (2, "latency_ms", _minutes(-20), ALARM) in found


def test_at_most_max_other_series_of_other_assets_the_most_anomalous_first(settings, monkeypatch):
    monkeypatch.setattr(hints, "MAX_OTHER_SERIES", 2)
    found = asyncio.run(
        _hints(
            settings,
            [
                (1, "cpu_usage", 0, ALARM),
                *[(2, "latency_ms", t, ALARM) for t in (-12, -11, -10)],
                (3, "errors", -10, ALARM),  # the fewest anomalies: left out
                *[(4, "cpu_usage", t, ALARM) for t in (-9, -8)],
            ],
        )
    )
    assert {(a, m) for a, m, _, _ in found} == {
        (1, "cpu_usage"),
        (2, "latency_ms"),
        (4, "cpu_usage"),
    }


def test_an_own_metric_with_no_point_in_the_window_is_no_candidate(settings):
    # the asset reported disk_usage hours ago and no longer; after the incident, a metric whose
    # name sorts between the others ("gpu") came: neither has a point in the window
    found = asyncio.run(
        _hints(
            settings,
            [(1, "cpu_usage", 0, ALARM), (1, "memory_usage", -5, MOVED)],
            elsewhen=[(1, "disk_usage", -600, ALARM), (1, "gpu", 60, ALARM)],
        )
    )
    assert {(a, m) for a, m, _, _ in found} == {(1, "cpu_usage"), (1, "memory_usage")}


def _hint_fields(found) -> list[tuple]:
    return [
        (h.asset_id, h.metric, h.onset, h.lead_seconds, h.correlation, h.peak_score, h.sustained)
        for h in found
    ]


async def _store_minute(conn, minute: int, scores: dict[tuple[int, str], float]) -> None:
    await conn.cursor().executemany(
        "INSERT INTO anomaly_scores (asset_id, metric, ts, value, score, is_anomaly, "
        "model_version) VALUES (%s, %s, %s, 1.0, %s, %s, 'test')",
        [(a, m, _minutes(minute), s, s >= 0.7) for (a, m), s in scores.items()],
    )


def test_lists_read_on_from_held_scores_give_the_hints_of_a_whole_read(settings):
    """A worker's hint lists, fed tick by tick as it stores scores, with incidents starting now
    and then and changing later (windows still open, closed, and far back), held to the lists
    read whole from PostgreSQL at the same moment: every field of every hint the same, with a
    held-points budget small enough that series are forgotten and read again."""
    rng = np.random.default_rng(5)
    series = [(a, m) for a in range(1, 7) for m in ("cpu_usage", "latency_ms")]

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
            await ensure_schema(conn)
            await ensure_month_partitions(conn, {month_start(_minutes(-24 * 60))})
            cache = hints.ScoreCache(max_points=900, held_seconds=3 * 3600)
            starts = [-60]
            compared = 0
            for minute in range(-60, 240):
                scores = {k: float(rng.uniform(0.0, 0.5)) for k in series}
                for k in series:
                    if rng.random() < 0.04:
                        scores[k] = float(rng.uniform(0.6, 0.99))
                await _store_minute(conn, minute, scores)
                if minute % 7 == 0:
                    starts.append(minute)
                if minute % 3:
                    continue
                # an incident that starts now, and a change of one started earlier
                for start in sorted({minute, starts[int(rng.integers(len(starts)))]}):
                    asset, metric = series[int(rng.integers(len(series)))]
                    incident = {
                        "asset_id": asset,
                        "started_at": _minutes(start),
                        "peak_metric": metric,
                    }
                    held = await hints.for_incident(conn, incident, cache=cache)
                    whole = await hints.for_incident(conn, incident)
                    assert _hint_fields(held) == _hint_fields(whole), (minute, start)
                    compared += bool(whole)
                assert cache.points <= 900 + 12 * 46
            await conn.rollback()
            return compared

    assert asyncio.run(run()) > 100


def test_a_window_held_whole_is_not_read_again(settings):
    async def run() -> tuple[list, list, list]:
        async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
            await ensure_schema(conn)
            await ensure_month_partitions(conn, {month_start(_minutes(-24 * 60))})
            for minute in range(-40, 30):
                moved = minute >= -5
                await _store_minute(
                    conn,
                    minute,
                    {
                        (1, "cpu_usage"): ALARM if minute >= 0 else QUIET,
                        (2, "latency_ms"): ALARM if moved else QUIET,
                    },
                )
            incident = {"asset_id": 1, "started_at": STARTED, "peak_metric": "cpu_usage"}
            cache = hints.ScoreCache()
            first = await hints.for_incident(conn, incident, cache=cache)
            # the other asset's quiet points change (no worker does this: a stored score
            # stays): a list that read them again would find it moving from the window's start
            await conn.execute(
                "UPDATE anomaly_scores SET score = %s WHERE asset_id = 2 AND NOT is_anomaly",
                (MOVED,),
            )
            again = await hints.for_incident(conn, incident, cache=cache)
            whole = await hints.for_incident(conn, incident)
            await conn.rollback()
            return first, again, whole

    first, again, whole = asyncio.run(run())
    assert (2, "latency_ms") in {(h.asset_id, h.metric) for h in first}
    assert _hint_fields(again) == _hint_fields(first)
    onsets = {(h.asset_id, h.metric): h.onset for h in whole}
    assert onsets[(2, "latency_ms")] == _minutes(-30)  # the read proves the change was there


def test_the_worker_reports_the_scores_it_holds_for_its_hint_lists(settings):
    """`ems_ml_hint_scores_held`: after an incident's change, the scores its hint list read."""
    from prometheus_client import REGISTRY
    from psycopg_pool import AsyncConnectionPool

    from stream.incidents import IncidentTracker
    from stream.sinks.postgres import ScoreWriter
    from tests.integration.conftest import scored_point

    async def run() -> list:
        async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
            await ensure_schema(conn)
        async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
            writer = ScoreWriter(pool=pool, incidents=IncidentTracker(quiet_seconds=900))
            quiet = [
                scored_point(asset_id=a, ts=_minutes(m), value=1.0, score=QUIET, is_anomaly=False)
                for m in range(-20, 0)
                for a in (1, 2)
            ]
            await writer.write(quiet)
            alarm = [
                scored_point(asset_id=a, ts=_minutes(0), value=9.0, score=ALARM, is_anomaly=True)
                for a in (1, 2)
            ]
            return await writer.write(alarm)

    changes = asyncio.run(run())
    assert [c.body["type"] for c in changes] == ["incident.open", "incident.open"]
    # each asset's own series and the other's, 21 points each, read by the first list and
    # held for the second
    assert REGISTRY.get_sample_value("ems_ml_hint_scores_held") == 42
