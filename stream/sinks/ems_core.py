"""Delivers the EMS Core outbox: each incident change to EMS Core's events API, exactly once and
in order.

Per incident, only the oldest undelivered row may be sent (the head of its queue): a row waiting
for a retry holds back every later row of its incident, so EMS Core sees open, updates and resolve
in the order they happened. The `open` creates the EMS event (`POST /api/v1/events`), later
`update`/`resolve` rows change it (`PATCH /api/v1/events/{id}`).

No HTTP call runs inside a database transaction: a sender claims due heads with a lease
(`claimed_until`, in one short statement; `FOR UPDATE SKIP LOCKED` keeps two workers off the same
row), makes the calls with no lock held, then marks each row in a short transaction of its own. A
slow EMS Core therefore never holds a lock the score writer needs. A sender that dies holding a
lease leaves the row to be claimed again once the lease runs out; every request carries the row's
`Idempotency-Key`, so a row sent but not marked (a crash between the two, a timeout after EMS Core
stored it) is sent again harmlessly. A failed row waits with exponential backoff and jitter (up to
5 minutes); nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
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
#: HTTP calls in flight at once (each for another incident)
_CONCURRENCY = 8

# The heads of the incidents' queues that are due and not held by a live lease; claimed by
# setting the lease. Row locks (SKIP LOCKED) keep two senders from claiming the same head.
_CLAIM = """
WITH heads AS (
    SELECT DISTINCT ON (incident_id) id, next_attempt_at, claimed_until
    FROM ems_outbox
    WHERE sent_at IS NULL
    ORDER BY incident_id, id
), due AS (
    SELECT o.id FROM ems_outbox o JOIN heads h ON h.id = o.id
    WHERE h.next_attempt_at <= now() AND (h.claimed_until IS NULL OR h.claimed_until < now())
    ORDER BY o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE ems_outbox o SET claimed_until = now() + %(lease)s
FROM due, incidents i
WHERE o.id = due.id AND i.id = o.incident_id
RETURNING o.id, o.kind, o.idempotency_key, o.payload, o.incident_id, o.attempts, i.ems_event_id
"""


class EmsCoreSender:
    """Sends due outbox rows to EMS Core (`deliver_pending`, called by a timer in every worker)."""

    def __init__(
        self,
        *,
        pool: AsyncConnectionPool,
        client: httpx.AsyncClient,
        base_url: str,
        batch: int = 50,
        lease_seconds: float | None = None,
        reports_backlog: Callable[[], bool] = lambda: True,
    ) -> None:
        """`reports_backlog`: whether this worker is the one that reports the outbox backlog
        (one worker of the group, so that a sum over workers counts it once)."""
        self._pool = pool
        self._client = client
        self._base = base_url.rstrip("/")
        self._batch = batch
        self._reports_backlog = reports_backlog
        # a lease outlives the longest call it covers (connect, write, read and pool timeouts)
        timeout = client.timeout
        longest = sum(
            t or 0.0 for t in (timeout.connect, timeout.read, timeout.write, timeout.pool)
        )
        self._lease = timedelta(seconds=lease_seconds or max(10.0, longest + 5.0))

    async def deliver_pending(self, rounds: int = 10) -> int:
        """Send what is due, in up to `rounds` rounds (a round sends each incident's head, the
        next round the row behind it); returns how many rows were delivered."""
        delivered = 0
        try:
            await open_pool(self._pool)
            gate = asyncio.Semaphore(_CONCURRENCY)

            async def deliver(row: dict) -> bool:
                async with gate:
                    return await self._deliver(row)

            for _ in range(rounds):
                rows = await self._claim()
                if not rows:
                    break
                delivered += sum(await asyncio.gather(*(deliver(r) for r in rows)))
            await self._report_backlog()
        except (psycopg.Error, PoolTimeout) as e:
            log.warning("outbox unavailable: %s", e)
        return delivered

    async def _claim(self) -> list[dict]:
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_CLAIM, {"limit": self._batch, "lease": self._lease})
            rows = await cur.fetchall()
        return sorted(rows, key=lambda r: r["id"])

    async def _deliver(self, row: dict) -> bool:
        """Send one claimed row and record the outcome; True when EMS Core took it."""
        headers = {"Idempotency-Key": row["idempotency_key"]}
        try:
            if row["kind"] == "open":
                answer = await self._client.post(
                    f"{self._base}/api/v1/events", json=row["payload"], headers=headers
                )
            elif row["ems_event_id"] is None:  # cannot happen: a later row waits for its open
                raise ValueError(f"{row['kind']} of an incident without an EMS event")
            else:
                answer = await self._client.patch(
                    f"{self._base}/api/v1/events/{row['ems_event_id']}",
                    json=row["payload"],
                    headers=headers,
                )
            answer.raise_for_status()
            event_id = str(answer.json()["id"]) if row["kind"] == "open" else None
        except (httpx.HTTPError, KeyError, ValueError) as e:
            await self._record_failure(row, e)
            return False
        async with self._pool.connection() as conn, conn.transaction():
            # incidents before the outbox: the score writer takes its locks in that order too
            if event_id is not None:
                await conn.execute(
                    "UPDATE incidents SET ems_event_id = %s WHERE id = %s",
                    (event_id, row["incident_id"]),
                )
            await conn.execute(
                "UPDATE ems_outbox SET sent_at = now(), claimed_until = NULL WHERE id = %s",
                (row["id"],),
            )
        metrics.EMS_CORE_DELIVERED.labels(kind=row["kind"]).inc()
        return True

    async def _record_failure(self, row: dict, error: Exception) -> None:
        attempts = row["attempts"] + 1
        delay = min(_BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1), _BACKOFF_MAX_SECONDS)
        delay *= random.uniform(0.5, 1.5)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE ems_outbox SET attempts = %s, next_attempt_at = now() + %s, "
                "last_error = %s, claimed_until = NULL WHERE id = %s",
                (
                    attempts,
                    timedelta(seconds=delay),
                    f"{type(error).__name__}: {error}"[:500],
                    row["id"],
                ),
            )
        metrics.EMS_CORE_FAILURES.inc()
        if attempts > 1:
            metrics.EMS_CORE_RETRIES.inc()
        log.warning("EMS Core refused %s (attempt %d): %s", row["kind"], attempts, error)

    async def _report_backlog(self) -> None:
        if not self._reports_backlog():
            metrics.EMS_CORE_BACKLOG.set(0)  # another worker reports the group's backlog
            return
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM ems_outbox WHERE sent_at IS NULL")
            metrics.EMS_CORE_BACKLOG.set((await cur.fetchone())[0])
