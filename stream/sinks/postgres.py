"""PostgreSQL: the schema we own (and EMS's tables for development), and batched score writes.

`anomaly_scores` is range-partitioned by month on `ts`, so months of points stay cheap to query
and old months can be dropped whole (`DROP TABLE anomaly_scores_y2026m01`) instead of deleted row by
row. Partitions are created on demand for the months a batch touches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import numpy as np
import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stream import maintenance, metrics
from stream.errors import StorageError, storage_failure
from stream.events import MetricPoint
from stream.incidents import SCHEMA as INCIDENT_TABLES
from stream.incidents import AnomalyRef, IncidentTracker
from stream.predictions import PredictionRef, PredictionTracker
from stream.scored import ScoredPoint, ScoredPoints
from stream.security import SecurityRef, SecurityTracker
from stream.sinks import pg_arrays, pg_copy, state_store, topic_outbox
from stream.sinks.pg_arrays import PgArray
from stream.sinks.pool import open_pool
from stream.sinks.state_store import StateRow
from stream.sinks.topic_outbox import TopicMessage

log = logging.getLogger(__name__)

# Two workers starting together would race on CREATE TABLE IF NOT EXISTS (it is not atomic on the
# catalog); every schema change takes this transaction-scoped advisory lock first.
_SCHEMA_LOCK_ID = 0x454D534D4C  # "EMSML"

# EMS's own tables, created only when absent (development and tests; EMS Core owns them in
# production). Columns are those the ML service reads or writes.
EMS_TABLES = """
CREATE TABLE IF NOT EXISTS assets (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    asset_type  TEXT,
    ip_address  TEXT,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS metrics (
    id           BIGSERIAL PRIMARY KEY,
    asset_id     BIGINT NOT NULL,
    metric_name  TEXT NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    "timestamp"  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS metrics_asset_name_time ON metrics (asset_id, metric_name, "timestamp");
CREATE TABLE IF NOT EXISTS events (
    id           BIGSERIAL PRIMARY KEY,
    asset_id     BIGINT,
    severity     TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT,
    source       TEXT,
    status       TEXT NOT NULL DEFAULT 'open',
    metadata     JSONB,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at  TIMESTAMPTZ
);
"""

SERVICE_TABLES = """
CREATE TABLE IF NOT EXISTS anomaly_scores (
    asset_id         BIGINT NOT NULL,
    metric           TEXT NOT NULL,
    ts               TIMESTAMPTZ NOT NULL,
    value            DOUBLE PRECISION NOT NULL,
    score            DOUBLE PRECISION NOT NULL,
    is_anomaly       BOOLEAN NOT NULL,
    -- each detector's score, by position in `DETECTOR_COLUMNS` (NULL: the detector gave none)
    detector_values  DOUBLE PRECISION[],
    -- the scores as one JSON object, in rows written before `detector_values` existed
    detector_scores  JSONB,
    driver           TEXT,
    expected         DOUBLE PRECISION,
    lower_bound      DOUBLE PRECISION,
    upper_bound      DOUBLE PRECISION,
    direction        TEXT,
    model_version    TEXT NOT NULL,
    scored_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_id, metric, ts)
) PARTITION BY RANGE (ts);
-- added after the first schema; databases created before it gain the column here
ALTER TABLE anomaly_scores ADD COLUMN IF NOT EXISTS driver TEXT;
ALTER TABLE anomaly_scores ADD COLUMN IF NOT EXISTS expected DOUBLE PRECISION;
ALTER TABLE anomaly_scores ADD COLUMN IF NOT EXISTS lower_bound DOUBLE PRECISION;
ALTER TABLE anomaly_scores ADD COLUMN IF NOT EXISTS upper_bound DOUBLE PRECISION;
ALTER TABLE anomaly_scores ADD COLUMN IF NOT EXISTS direction TEXT;
ALTER TABLE anomaly_scores ADD COLUMN IF NOT EXISTS detector_values DOUBLE PRECISION[];
ALTER TABLE anomaly_scores ALTER COLUMN detector_scores DROP NOT NULL;
CREATE INDEX IF NOT EXISTS anomaly_scores_anomalies ON anomaly_scores (asset_id, ts)
    WHERE is_anomaly;
-- the anomalies of every asset in a stretch of time: the candidates of root-cause hints
CREATE INDEX IF NOT EXISTS anomaly_scores_anomalies_by_time ON anomaly_scores (ts)
    WHERE is_anomaly;
CREATE TABLE IF NOT EXISTS model_metadata (
    id          BIGSERIAL PRIMARY KEY,
    model_type  TEXT NOT NULL,
    version     TEXT NOT NULL,
    series      TEXT,
    samples     BIGINT,
    parameters  JSONB NOT NULL DEFAULT '{}'::jsonb,
    quality     JSONB,
    path        TEXT,
    is_active   BOOLEAN NOT NULL DEFAULT false,
    trained_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (model_type, version)
);
"""

#: The detectors whose scores `anomaly_scores.detector_values` holds, by position. Append only:
#: a stored row's i-th value is the score of the i-th name for as long as the table lives, so a
#: retired detector keeps its place (NULL in newer rows) and a new one goes at the end.
DETECTOR_COLUMNS = tuple("zscore mad iqr shift volatility flatline hst pattern record".split())
_KNOWN_DETECTORS = frozenset(DETECTOR_COLUMNS)

# A replay's batch (below): the batch's columns in as arrays (unnested into rows by PostgreSQL).
# The arrays go in PostgreSQL's binary format, built by numpy (`pg_arrays`): the server reads
# their elements as they are instead of parsing a float or a time from text for each (as it did
# with the one JSON document a batch sent before: 13-15 us of its CPU a point against 9-10,
# for about the same client CPU; README, Benchmarks), and psycopg's own array dumper, which
# walks the elements in Python, is not used. The detector scores go in as one array a
# detector, gathered into each row's float8[]: PostgreSQL builds no JSONB a row, and they take
# 96 bytes of a row instead of 224 (README, Benchmarks).
_DETECTOR_KEYS = [f"d{j}" for j in range(len(DETECTOR_COLUMNS))]
_BATCH = f"""
WITH batch AS (
    SELECT * FROM unnest(
        %(a)s::int8[], %(m)s::text[], %(t)s::timestamptz[], %(v)s::float8[], %(s)s::float8[],
        %(i)s::bool[], {", ".join(f"%({d})s::float8[]" for d in _DETECTOR_KEYS)},
        %(dr)s::text[], %(mv)s::text[], %(e)s::float8[], %(lo)s::float8[], %(hi)s::float8[],
        %(di)s::text[]
    ) WITH ORDINALITY AS u(a, m, t, v, s, i, {", ".join(_DETECTOR_KEYS)},
                           dr, mv, e, lo, hi, di, n)
)"""
_INSERT = f"""
    INSERT INTO anomaly_scores ({", ".join(pg_copy.COLUMNS)})
    SELECT a, m, t, v, s, i, ARRAY[{", ".join(_DETECTOR_KEYS)}], dr, mv, e, lo, hi, di
    FROM batch"""
# A batch none of whose points is stored yet, the rule: its rows go in by a binary COPY
# (`pg_copy`), which PostgreSQL reads field by field as they are: no unnesting of the arrays
# above nor building of each row's array of detector scores (4.4-6.0 us of its CPU a point
# against 5.6-7.9; README, Benchmarks). A point already stored fails the COPY on the key, and
# the batch then takes the next statement.
_COPY_SCORES = pg_copy.copy_statement()
# A batch of a replay (after a crash or a rebalance: the points a checkpoint did not yet
# include): a point already stored hits the key and is skipped, and the positions of the
# skipped points come out.
_INSERT_SCORES = f"""{_BATCH}, inserted AS ({_INSERT}
    ON CONFLICT (asset_id, metric, ts) DO NOTHING
    RETURNING asset_id, metric, ts
)
SELECT b.n - 1 FROM batch b
WHERE NOT EXISTS (
    SELECT FROM inserted i WHERE (i.asset_id, i.metric, i.ts) = (b.a, b.m, b.t)
)
"""


async def insert_scores(
    conn: AsyncConnection, batch: ScoredPoints, sending: asyncio.Event | None = None
) -> set[int]:
    """Insert a batch's scores in the open transaction of `conn`; the positions of the points
    already stored, which are skipped. The batch goes in whole by a binary COPY, inside a
    savepoint; only where a point of it is stored already does that fail on the key, and the
    batch goes in again by the insert that skips and names what is stored. `sending`, if given,
    is set once the rows are handed to the connection: a waiter runs when the insert next waits
    on PostgreSQL. Raises ValueError for a detector with no place in `DETECTOR_COLUMNS`."""
    _refuse_unplaced(batch.verdicts.detector_names)
    rows = pg_copy.copy_rows(batch, DETECTOR_COLUMNS, conn.info.encoding)
    try:
        async with conn.transaction():  # a savepoint: a failed insert undoes only itself
            async with conn.cursor().copy(_COPY_SCORES) as copy:
                await copy.write(rows)
                if sending is not None:
                    # set() does not yield: the stream's end is sent (`PQputCopyEnd` flushes
                    # the rows) before a waiter runs
                    sending.set()
        return set()
    except psycopg.errors.UniqueViolation:
        columns = _columns(batch, conn.info.encoding)
        cur = await conn.execute(_INSERT_SCORES, columns, binary=True)
        return {n for (n,) in await cur.fetchall()}


def month_start(ts: datetime) -> datetime:
    ts = ts.astimezone(UTC)
    return datetime(ts.year, ts.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def partition_name(start: datetime) -> str:
    return f"anomaly_scores_y{start.year:04d}m{start.month:02d}"


async def ensure_schema(conn: psycopg.AsyncConnection, *, with_ems_tables: bool = True) -> None:
    """Create our tables (and EMS's, when asked) if they do not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        if with_ems_tables:
            await conn.execute(EMS_TABLES)
        await conn.execute(SERVICE_TABLES)
        await conn.execute(INCIDENT_TABLES)
        await conn.execute(state_store.SCHEMA)
        try:
            async with conn.transaction():  # a savepoint: a refusal leaves the schema's intact
                await conn.execute(state_store.USE_LZ4)
        except psycopg.errors.FeatureNotSupported as e:
            log.info("series states keep PostgreSQL's default compression: %s", e)
        await conn.execute(topic_outbox.SCHEMA)
        await conn.execute(maintenance.SCHEMA)


async def ensure_month_partitions(
    conn: psycopg.AsyncConnection, months: Iterable[datetime]
) -> None:
    """Create the monthly partitions of `anomaly_scores` that the given month starts need."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        for start in sorted(set(months)):
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF anomaly_scores "
                    "FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(partition_name(start)),
                    sql.Literal(start),
                    sql.Literal(next_month(start)),
                )
            )


class ScoreWriter:
    """Writes scored points to `anomaly_scores`, one statement per batch, idempotently, and in the
    same transaction the incidents their new anomalies cause and the outbox rows of those
    incidents' changes (for EMS Core and for the anomalies topic); the series states too when
    given (the worker stores them by checkpoints instead, `stream.agents`)."""

    def __init__(
        self,
        *,
        pool: AsyncConnectionPool,
        incidents: IncidentTracker,
        state_group: str = "",
        predictions: PredictionTracker | None = None,
        security: SecurityTracker | None = None,
    ) -> None:
        self._pool = pool
        self._incidents = incidents
        self._predictions = predictions
        self._security = security
        #: the consumer group whose series states `write` stores (`state_store`)
        self._state_group = state_group
        self._known_months: set[datetime] = set()

    async def write(
        self,
        scored: Sequence[ScoredPoint],
        states: Sequence[StateRow] = (),
        outlooks: Sequence[PredictionRef] = (),
        muted: Callable[[MetricPoint], bool] | None = None,
        threats: Sequence[SecurityRef] = (),
        sending: asyncio.Event | None = None,
    ) -> list[TopicMessage]:
        """Make the batch durable: its scores, the series `states` that produced them, the
        incidents their new anomalies cause, the prediction incidents the `outlooks` of its
        bounded series open or close (`stream.predictions`) and those incidents' changes for the
        anomalies topic (`topic_outbox`), in one transaction; returns the changes once it is
        committed. The security patterns found (`threats`) open or feed their incidents
        (`stream.security`). Only what is new counts: a point already stored (a replay after a
        restart) touches no incident, nor do the outlooks and patterns of a series with no new
        point in the batch. A point `muted` says is in a maintenance window
        (`stream.maintenance`) is stored but touches no incident. `sending`, if given, is set
        as the scores' statement goes out: a caller waiting for it runs once PostgreSQL has
        the batch's rows to insert. `scored` is read as columns (`ScoredPoints`; a list of
        `ScoredPoint`s is turned into them). Raises `StorageError` (retry) or `StorageRefused`
        (do not)."""
        batch = ScoredPoints.of(scored)
        if not batch:
            return []
        points, verdicts = batch.points, batch.verdicts
        # a batch holds few distinct instants (ticks of a feed): a month for each of those
        months = {month_start(ts) for ts in {p.timestamp for p in points}}
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn:
                missing = months - self._known_months
                if missing:
                    await ensure_month_partitions(conn, missing)
                    self._known_months |= missing
                async with conn.transaction():
                    await state_store.save(conn, self._state_group, states)
                    skipped = await insert_scores(conn, batch, sending)
                    # only new rows count: a replayed batch changes no incident twice
                    anomalies = [
                        AnomalyRef(
                            points[i].asset_id,
                            points[i].metric,
                            points[i].timestamp,
                            float(verdicts.score[i]),
                            counts=bool(verdicts.is_anomaly[i]),
                        )
                        for i in verdicts.alarming().tolist()
                        if i not in skipped and not (muted and muted(points[i]))
                    ]
                    if outlooks or threats:
                        # outlooks and security patterns too: those of series with no new
                        # point come from a replay, and were applied when the points were
                        # first stored
                        fresh = {
                            (p.asset_id, p.metric) for i, p in enumerate(points) if i not in skipped
                        }
                        outlooks = [o for o in outlooks if (o.asset_id, o.metric) in fresh]
                        threats = [t for t in threats if (t.asset_id, t.metric) in fresh]
                    latest: dict[int, datetime] = {}
                    for p in points:
                        latest[p.asset_id] = max(latest.get(p.asset_id, p.timestamp), p.timestamp)
                    changes = await self._incidents.apply(conn, anomalies, latest)
                    if self._predictions is not None:
                        changes += await self._predictions.apply(conn, outlooks)
                    if self._security is not None:
                        changes += await self._security.apply(conn, threats, latest)
                    queued = await topic_outbox.queue(conn, changes)
        except (psycopg.Error, PoolTimeout) as e:
            raise storage_failure(e, f"writing {len(batch)} scores") from e
        metrics.SCORES_ALREADY_STORED.inc(len(skipped))
        return queued

    async def resolve_silent_incidents(self) -> list[TopicMessage]:
        """Resolve the incidents of assets gone silent; returns their changes for the anomalies
        topic once committed. Raises `StorageError`."""
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn, conn.transaction():
                changes = await self._incidents.resolve_silent(conn)
                return await topic_outbox.queue(conn, changes)
        except (psycopg.Error, PoolTimeout) as e:
            raise StorageError(f"resolving silent incidents failed: {e}") from e


def stored_detector_scores(values: Sequence[float | None] | None, legacy: dict | None) -> dict:
    """A stored row's detector scores by name: from its `detector_values`, or from the JSON
    object `detector_scores` of a row written before those existed."""
    if values is None:
        return legacy or {}
    return {name: v for name, v in zip(DETECTOR_COLUMNS, values, strict=False) if v is not None}


def _columns(batch: ScoredPoints, encoding: str) -> dict[str, PgArray]:
    """The batch's columns as the arrays `_INSERT_SCORES` reads (floats and times exactly; a
    NaN is NULL; texts in the connection's `encoding`). Raises ValueError for a detector with no
    place in `DETECTOR_COLUMNS`."""
    verdicts = batch.verdicts
    _refuse_unplaced(verdicts.detector_names)
    by_name = dict(zip(verdicts.detector_names, verdicts.detectors.T, strict=True))
    nothing = np.full(len(batch), np.nan)  # a stored detector the batch's verdicts do not name
    points = batch.points
    return {
        "a": pg_arrays.int8_array([p.asset_id for p in points]),
        "m": pg_arrays.text_array([p.metric for p in points], encoding),
        "t": pg_arrays.timestamptz_array([p.timestamp for p in points]),
        "v": pg_arrays.float8_array([p.value for p in points]),
        "s": pg_arrays.float8_array(verdicts.score),
        "i": pg_arrays.bool_array(verdicts.is_anomaly),
        **{
            key: pg_arrays.float8_array(by_name.get(name, nothing))
            for key, name in zip(_DETECTOR_KEYS, DETECTOR_COLUMNS, strict=True)
        },
        "dr": pg_arrays.text_array(verdicts.drivers, encoding),
        "mv": pg_arrays.text_array(verdicts.model_versions, encoding),
        "e": pg_arrays.float8_array(verdicts.expected),
        "lo": pg_arrays.float8_array(verdicts.lower),
        "hi": pg_arrays.float8_array(verdicts.upper),
        "di": pg_arrays.text_array(verdicts.directions, encoding),
    }


def _refuse_unplaced(detector_names: Iterable[str]) -> None:
    """Raises ValueError for a detector with no place in `DETECTOR_COLUMNS`."""
    unknown = sorted(set(detector_names) - _KNOWN_DETECTORS)
    if unknown:
        raise ValueError(f"detectors {unknown} have no place in DETECTOR_COLUMNS")
