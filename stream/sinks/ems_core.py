"""Delivers the EMS Core outbox: each incident change to EMS Core's events API, exactly once.

Rows are claimed with `FOR UPDATE SKIP LOCKED` (two workers never send the same row at once) and
sent in order per incident: the `open` creates the EMS event (`POST /api/v1/events`), later
`update`/`resolve` rows change it (`PATCH /api/v1/events/{id}`). Every request carries the row's
`Idempotency-Key`, so a row sent but not marked (a crash between the two, a timeout after EMS Core
stored it) is sent again harmlessly. A failed row waits with exponential backoff and jitter (up to
5 minutes) and keeps the rows behind it, for that incident, waiting too; nothing is dropped.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stream import metrics
from stream.sinks.pool import open_pool

log = logging.getLogger(__name__)

_BACKOFF_FIRST_SECONDS = 1.0
_BACKOFF_MAX_SECONDS = 300.0

_CLAIM = """
SELECT o.id, o.kind, o.idempotency_key, o.payload, o.incident_id, o.attempts, i.ems_event_id
FROM ems_outbox o JOIN incidents i ON i.id = o.incident_id
WHERE o.sent_at IS NULL AND o.next_attempt_at <= now()
ORDER BY o.id
LIMIT %s
FOR UPDATE OF o SKIP LOCKED
"""


class EmsCoreSender:
    def __init__(
        self,
        *,
        pool: AsyncConnectionPool,
        client: httpx.AsyncClient,
        base_url: str,
        batch: int = 50,
    ) -> None:
        self._pool = pool
        self._client = client
        self._base = base_url.rstrip("/")
        self._batch = batch

    async def deliver_pending(self) -> int:
        """Send what is due; returns how many rows were delivered."""
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn, conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(_CLAIM, (self._batch,))
                rows = await cur.fetchall()
                delivered = 0
                blocked: set = set()  # incidents with an earlier row not delivered now
                for row in rows:
                    if row["incident_id"] in blocked:
                        continue
                    if row["kind"] != "open" and row["ems_event_id"] is None:
                        blocked.add(row["incident_id"])  # its open row is not delivered yet
                        continue
                    if await self._deliver(conn, row):
                        delivered += 1
                    else:
                        blocked.add(row["incident_id"])
                await self._report_backlog(conn)
                return delivered
        except (psycopg.Error, PoolTimeout) as e:
            log.warning("outbox unavailable: %s", e)
            return 0

    async def _deliver(self, conn, row: dict) -> bool:
        headers = {"Idempotency-Key": row["idempotency_key"]}
        try:
            if row["kind"] == "open":
                answer = await self._client.post(
                    f"{self._base}/api/v1/events", json=row["payload"], headers=headers
                )
            else:
                answer = await self._client.patch(
                    f"{self._base}/api/v1/events/{row['ems_event_id']}",
                    json=row["payload"],
                    headers=headers,
                )
            answer.raise_for_status()
            event_id = str(answer.json()["id"]) if row["kind"] == "open" else None
        except (httpx.HTTPError, KeyError, ValueError) as e:
            attempts = row["attempts"] + 1
            delay = min(_BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1), _BACKOFF_MAX_SECONDS)
            delay *= random.uniform(0.5, 1.5)
            await conn.execute(
                "UPDATE ems_outbox SET attempts = %s, next_attempt_at = now() + %s, "
                "last_error = %s WHERE id = %s",
                (attempts, timedelta(seconds=delay), f"{type(e).__name__}: {e}"[:500], row["id"]),
            )
            metrics.EMS_CORE_FAILURES.inc()
            if attempts > 1:
                metrics.EMS_CORE_RETRIES.inc()
            log.warning("EMS Core refused %s (attempt %d): %s", row["kind"], attempts, e)
            return False
        await conn.execute("UPDATE ems_outbox SET sent_at = now() WHERE id = %s", (row["id"],))
        if event_id is not None:
            await conn.execute(
                "UPDATE incidents SET ems_event_id = %s WHERE id = %s",
                (event_id, row["incident_id"]),
            )
        metrics.EMS_CORE_DELIVERED.labels(kind=row["kind"]).inc()
        return True

    @staticmethod
    async def _report_backlog(conn) -> None:
        cur = await conn.execute("SELECT count(*) FROM ems_outbox WHERE sent_at IS NULL")
        metrics.EMS_CORE_BACKLOG.set((await cur.fetchone())[0])
