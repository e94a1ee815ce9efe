"""Maintenance windows: planned work during which anomalies are scored but alert nobody.

A window mutes an asset (or every asset), a metric name pattern (`fnmatch`, or every metric) or
both, from `starts_at` to `ends_at`. A point whose *event time* falls inside a window it matches
is scored and stored as usual (`anomaly_scores.is_anomaly` says what the detectors saw), but it
opens, joins or keeps open no incident, publishes no anomaly event and feeds no capacity
prediction: nothing is sent. Windows are created, listed and cancelled through the API
(`/api/v1/maintenance`) and kept in `maintenance_windows`; each worker reads the ones that can
still matter (not cancelled, not ended more than `BACKLOG_SECONDS` ago, so a backlog replayed
after an outage is muted as it was meant to be) every `MAINTENANCE_POLL_SECONDS`.

>>> from datetime import datetime, UTC
>>> two, four = datetime(2026, 1, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, 4, tzinfo=UTC)
>>> w = Window("w1", asset_id=7, metric_pattern="cpu_*", starts_at=two, ends_at=four)
>>> at3 = datetime(2026, 1, 1, 3, tzinfo=UTC)
>>> w.mutes(7, "cpu_usage", at3), w.mutes(7, "latency_ms", at3), w.mutes(8, "cpu_usage", at3)
(True, False, False)
>>> w.mutes(7, "cpu_usage", four)  # the end is not included
False
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS maintenance_windows (
    id              UUID PRIMARY KEY,
    asset_id        BIGINT,              -- null: every asset
    metric_pattern  TEXT,                -- null: every metric
    starts_at       TIMESTAMPTZ NOT NULL,
    ends_at         TIMESTAMPTZ NOT NULL,
    reason          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    cancelled_at    TIMESTAMPTZ,
    CHECK (ends_at > starts_at)
);
CREATE INDEX IF NOT EXISTS maintenance_windows_live ON maintenance_windows (ends_at)
    WHERE cancelled_at IS NULL;
"""

#: how long after its end a window is still read by the workers (a backlog's points)
BACKLOG_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Window:
    id: str
    asset_id: int | None
    metric_pattern: str | None
    starts_at: datetime
    ends_at: datetime

    def mutes(self, asset_id: int, metric: str, ts: datetime) -> bool:
        """Whether a point of (`asset_id`, `metric`) at `ts` is inside this window."""
        return (
            self.starts_at <= ts < self.ends_at
            and (self.asset_id is None or self.asset_id == asset_id)
            and (self.metric_pattern is None or fnmatch.fnmatchcase(metric, self.metric_pattern))
        )


class Windows:
    """The windows a worker knows of, read from the database at `dsn`; `mutes` answers for one
    point."""

    def __init__(self, windows: Sequence[Window] = (), *, dsn: str | None = None) -> None:
        self.windows = list(windows)
        self.dsn = dsn
        #: False until the first read: the worker's first batch waits for it
        self.loaded = dsn is None

    def mutes(self, asset_id: int, metric: str, ts: datetime) -> bool:
        return any(w.mutes(asset_id, metric, ts) for w in self.windows)

    async def refresh(self) -> None:
        """Read the windows that can still matter; a database that is down keeps the ones
        known (said in the log)."""
        if self.dsn is None:
            return
        try:
            async with await psycopg.AsyncConnection.connect(self.dsn) as conn:
                self.windows = await live_windows(conn)
            self.loaded = True
        except psycopg.Error as e:
            log.warning("cannot read the maintenance windows, keeping %d: %s", len(self.windows), e)


async def live_windows(conn: AsyncConnection) -> list[Window]:
    """The windows not cancelled and not ended more than BACKLOG_SECONDS ago."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, asset_id, metric_pattern, starts_at, ends_at FROM maintenance_windows "
        "WHERE cancelled_at IS NULL AND ends_at > now() - %s * interval '1 second' "
        "ORDER BY starts_at",
        (BACKLOG_SECONDS,),
    )
    return [Window(**{**row, "id": str(row["id"])}) for row in await cur.fetchall()]
