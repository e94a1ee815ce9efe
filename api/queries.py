"""The SQL the API runs: one function a question, values always bound as parameters."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from stream.history import History, HistoryBuilder
from stream.sinks import state_store
from stream.sinks.postgres import stored_detector_scores

#: rows of a metric history fetched and made into columns at once: a few ms of the event loop,
#: which a request waiting for it needs several turns of
_HISTORY_CHUNK_ROWS = 5_000

_ASSET_KNOWN = """
SELECT EXISTS (SELECT 1 FROM assets WHERE id = %(a)s)
    OR EXISTS (SELECT 1 FROM metrics WHERE asset_id = %(a)s)
    OR EXISTS (SELECT 1 FROM anomaly_scores WHERE asset_id = %(a)s)
"""


async def asset_known(conn: AsyncConnection, asset_id: int) -> bool:
    """An asset is known when EMS lists it or it has metrics or scores."""
    row = await (await conn.execute(_ASSET_KNOWN, {"a": asset_id})).fetchone()
    return bool(row[0])


async def score_page(
    conn: AsyncConnection,
    *,
    asset_id: int,
    since: datetime,
    metric: str | None,
    only_anomalies: bool,
    limit: int,
    offset: int,
) -> tuple[int, list[dict]]:
    """Total matching rows, and one page of them, newest first."""
    where = "asset_id = %(a)s AND ts >= %(since)s"
    if metric is not None:
        where += " AND metric = %(m)s"
    if only_anomalies:
        where += " AND is_anomaly"
    params = {"a": asset_id, "since": since, "m": metric, "limit": limit, "offset": offset}
    total = await (
        await conn.execute(f"SELECT count(*) FROM anomaly_scores WHERE {where}", params)
    ).fetchone()
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT asset_id, metric, ts AS timestamp, value, score, is_anomaly, detector_values, "
        "detector_scores, "
        f"driver, model_version, expected, lower_bound, upper_bound, direction "
        f"FROM anomaly_scores WHERE {where} "
        "ORDER BY ts DESC, metric LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    rows = await cur.fetchall()
    for row in rows:
        row["detector_scores"] = stored_detector_scores(
            row.pop("detector_values"), row["detector_scores"]
        )
    return total[0], rows


async def metric_statistics(conn: AsyncConnection, *, asset_id: int, since: datetime) -> list[dict]:
    """Per metric of the asset since `since`: count, mean, std, min, max, p50/p95/p99, last."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT metric_name AS metric,
               count(*) AS count,
               avg(value) AS mean,
               coalesce(stddev_samp(value), 0) AS std,
               min(value) AS min,
               max(value) AS max,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS p95,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY value) AS p99,
               (array_agg(value ORDER BY "timestamp" DESC))[1] AS last_value,
               max("timestamp") AS last_timestamp
        FROM metrics
        WHERE asset_id = %(a)s AND "timestamp" >= %(since)s
        GROUP BY metric_name
        ORDER BY metric_name
        """,
        {"a": asset_id, "since": since},
    )
    return await cur.fetchall()


async def metric_history(
    conn: AsyncConnection,
    *,
    since: datetime,
    asset_id: int | None,
    metric_names: list[str] | None,
    limit: int,
) -> History:
    """The stored points since `since`, in time order, at most `limit`, as columns.

    A training reads up to two million points. Read whole and then made into Python rows, they
    took the API's every other request seconds to wait for; as rows they were millions of
    objects to walk and free. So they are read through a server-side cursor a chunk at a time,
    each chunk made into columns at once. Each chunk is a round trip in which the event loop
    waits on the socket, and that wait is what lets the API's threads have the GIL: a loop that
    only yields (`asyncio.sleep(0)`) between chunks of a result already received takes the GIL
    back before a waiting thread can, chunk after chunk, and a request served in a thread
    waited for the whole read (README, Benchmarks)."""
    where = '"timestamp" >= %(since)s'
    if asset_id is not None:
        where += " AND asset_id = %(a)s"
    if metric_names:
        where += " AND metric_name = ANY(%(names)s)"
    # the time as PostgreSQL stores it, microseconds (since 1970 here): no datetime a row
    async with conn.cursor(name="metric_history") as cur:
        await cur.execute(
            "SELECT asset_id, metric_name, "
            '(extract(epoch FROM "timestamp") * 1000000)::int8, value '
            f'FROM metrics WHERE {where} ORDER BY "timestamp", id LIMIT %(limit)s',
            {"since": since, "a": asset_id, "names": metric_names, "limit": limit},
        )
        history = HistoryBuilder()
        while chunk := await cur.fetchmany(_HISTORY_CHUNK_ROWS):
            history.add(chunk)
    return history.build()


async def models(conn: AsyncConnection) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, model_type, version, series, samples, parameters, quality, path, is_active, "
        "trained_at FROM model_metadata ORDER BY model_type, trained_at DESC"
    )
    return await cur.fetchall()


_ASSET_OVERVIEW = """
WITH recent AS (
    SELECT asset_id, count(*) AS points, count(*) FILTER (WHERE is_anomaly) AS anomalies,
           count(DISTINCT metric) AS metrics, max(ts) AS last_seen
    FROM anomaly_scores WHERE ts >= %(since)s GROUP BY asset_id
), open_incidents AS (
    SELECT asset_id, count(*) AS open_incidents FROM incidents WHERE status = 'open'
    GROUP BY asset_id
)
SELECT r.asset_id, r.points, r.anomalies, r.metrics, r.last_seen,
       coalesce(o.open_incidents, 0) AS open_incidents
FROM recent r LEFT JOIN open_incidents o USING (asset_id)
ORDER BY coalesce(o.open_incidents, 0) DESC, r.anomalies::float / r.points DESC, r.asset_id
LIMIT %(limit)s
"""


async def asset_overview(conn: AsyncConnection, *, since: datetime, limit: int) -> list[dict]:
    """The assets scored since `since`: points, anomalies, metrics, last score and open
    incidents each; those with open incidents first, then by anomaly rate."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ASSET_OVERVIEW, {"since": since, "limit": limit})
    return await cur.fetchall()


async def asset_incidents(conn: AsyncConnection, *, asset_id: int, since: datetime) -> list[dict]:
    """The asset's incidents open now or active since `since`, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, kind, status, severity, metrics, anomalies, peak_score, peak_metric, "
        "started_at, last_anomaly_at, resolved_at, details FROM incidents "
        "WHERE asset_id = %(a)s AND (status = 'open' OR last_anomaly_at >= %(since)s) "
        "ORDER BY started_at DESC LIMIT 500",
        {"a": asset_id, "since": since},
    )
    return await cur.fetchall()


async def series_state(conn: AsyncConnection, *, group: str, key: str) -> bytes | None:
    """The stored state of one series of the workers' consumer group (`stream.state_codec`), its
    delta added to its base (`stream.sinks.state_store`). Raises ValueError for a delta that is
    not its base's."""
    row = await (
        await conn.execute(
            "SELECT state, delta, base_id FROM series_state "
            "WHERE consumer_group = %s AND series_key = %s",
            (group, key),
        )
    ).fetchone()
    return None if row is None else state_store.as_stored(*row).payload


async def health_inputs(
    conn: AsyncConnection, *, since: datetime, asset_id: int | None = None
) -> tuple[list[dict], list[dict]]:
    """Per asset with scores since `since` (or one asset): points and anomalies; and the
    incidents of those assets open now or active since `since`, of both kinds."""
    one = " AND asset_id = %(a)s" if asset_id is not None else ""
    params = {"since": since, "a": asset_id}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT asset_id, count(*) AS points, count(*) FILTER (WHERE is_anomaly) AS anomalies "
        f"FROM anomaly_scores WHERE ts >= %(since)s{one} GROUP BY asset_id",
        params,
    )
    counts = await cur.fetchall()
    await cur.execute(
        "SELECT asset_id, kind, status, severity, peak_metric, started_at, last_anomaly_at, "
        "resolved_at, details FROM incidents "
        f"WHERE (status = 'open' OR last_anomaly_at >= %(since)s){one}",
        params,
    )
    return counts, await cur.fetchall()


async def incident(conn: AsyncConnection, incident_id) -> dict | None:
    """One incident by id, of either kind."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, asset_id, kind, status, severity, metrics, anomalies, peak_score, peak_metric, "
        "started_at, last_anomaly_at, resolved_at, details FROM incidents WHERE id = %s",
        (incident_id,),
    )
    return await cur.fetchone()
