"""A batch's scores written by a binary COPY (`stream.sinks.pg_copy`, the writer's path) are
stored by the real server exactly as the statement of a replay's batch stores them from arrays
(`postgres._INSERT_SCORES`): every double to the bit, NULLs where promised, times to the
microsecond, texts in the connection's encoding, detectors by position."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest

from stream.events import MetricPoint
from stream.scored import ScoredPoints, Verdicts
from stream.sinks import postgres

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)
#: edge cases a row at a time: asset, metric, time, value
POINTS = [
    (1, "cpu_usage", T0, 0.1),
    (2**63 - 1, "latência", T0.astimezone(timezone(timedelta(hours=-5))), -0.0),
    (-7, "", datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 5e-324),
    (3, "cpu_usage", T0 + timedelta(microseconds=1), 1.7976931348623157e308),
]
# the batch's detectors, in an order of their own and without some of `DETECTOR_COLUMNS`
NAMES = ("record", "zscore", "hst")
DETECTORS = np.array(
    [
        [0.25, math.nan, 1 / 3],
        [math.nan, math.nan, math.nan],
        [-2.5e-310, 1.0, math.inf],
        [0.0, -0.0, 0.5],
    ]
)


def _batch(wide: str) -> ScoredPoints:
    """The batch of `POINTS`, the second metric's name ending in `wide`."""
    points = [MetricPoint(asset_id=a, metric=m, value=v, timestamp=t) for a, m, t, v in POINTS]
    points[1] = points[1]._replace(metric=points[1].metric + wide)
    verdicts = Verdicts(
        score=np.array([0.9, 0.0, 5e-324, 1.0]),
        is_anomaly=np.array([True, False, False, True]),
        ongoing=np.zeros(4, dtype=bool),
        detector_names=NAMES,
        detectors=DETECTORS,
        expected=np.array([1.5, math.nan, -math.inf, 2.0]),
        lower=np.array([1.0, math.nan, 0.0, -1e300]),
        upper=np.array([2.0, math.inf, 1 / 7, 3.0]),
        drivers=["zscore:value", "", "ñ", "hst:value"],
        directions=["up", None, "down", None],
        model_versions=["v1", "v1", "v2-é", "v1"],
    )
    return ScoredPoints(points, verdicts)


_ROWS = (
    "SELECT asset_id, metric, ts, value, score, is_anomaly, detector_values, driver, "
    "model_version, expected, lower_bound, upper_bound, direction FROM anomaly_scores "
    "ORDER BY ts, asset_id"
)


def _stored(settings, by_copy: bool, client_encoding: str, wide: str) -> list[tuple]:
    """The batch stored by the writer's COPY or by a replay's statement, as read back."""

    async def store() -> None:
        dsn = f"{settings.database_dsn} options='-c client_encoding={client_encoding}'"
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await postgres.ensure_schema(conn)
            await postgres.ensure_month_partitions(
                conn, {postgres.month_start(t) for _, _, t, _ in POINTS}
            )
            batch = _batch(wide)
            async with conn.transaction():
                await conn.execute("TRUNCATE anomaly_scores")
                if by_copy:
                    assert await postgres.insert_scores(conn, batch) == set()
                else:
                    columns = postgres._columns(batch, conn.info.encoding)
                    await conn.execute(postgres._INSERT_SCORES, columns, binary=True)

    asyncio.run(store())
    with psycopg.connect(settings.database_dsn) as conn:
        return conn.execute(_ROWS).fetchall()


def _bits(x: float | None) -> str | None:
    return None if x is None else x.hex()


# a name beyond Latin-1 where the connection's encoding holds it
@pytest.mark.parametrize(("client_encoding", "wide"), [("UTF8", "_日本"), ("LATIN1", "_°C")])
def test_a_copied_batch_is_stored_exactly_as_a_replays_statement_stores_it(
    settings, client_encoding, wide
):
    copied = _stored(settings, True, client_encoding, wide)
    assert copied == _stored(settings, False, client_encoding, wide)
    # and each row holds what it was given, by value and by bit
    by_asset = {row[0]: row for row in copied}
    names = [m + wide if a == 2**63 - 1 else m for a, m, _, _ in POINTS]
    assert sorted(r[:3] for r in copied) == sorted(
        (a, name, t) for (a, _, t, _), name in zip(POINTS, names, strict=True)
    )
    row = by_asset[2**63 - 1]
    assert row[1] == "latência" + wide and _bits(row[3]) == _bits(-0.0)
    assert row[6] == [None] * len(postgres.DETECTOR_COLUMNS)  # an array of NULLs, not NULL
    assert (row[7], row[9], row[10], row[11], row[12]) == ("", None, None, None, None)
    row = by_asset[-7]
    assert _bits(row[3]) == _bits(5e-324) and row[8] == "v2-é" and row[7] == "ñ"
    assert row[9] is None and row[10] == 0.0 and _bits(row[11]) == _bits(1 / 7)
    values = dict(zip(postgres.DETECTOR_COLUMNS, row[6], strict=True))
    assert _bits(values["record"]) == _bits(-2.5e-310) and values["zscore"] == 1.0
    assert values["hst"] is None and values["mad"] is None
    row = by_asset[1]
    assert row[4:6] == (0.9, True) and row[12] == "up"
    values = dict(zip(postgres.DETECTOR_COLUMNS, row[6], strict=True))
    assert (values["record"], values["zscore"], _bits(values["hst"])) == (
        0.25,
        None,
        _bits(1 / 3),
    )
