"""The incidents' changes on their way to the anomalies topic: an outbox, so none is lost.

A change (`incident.open`, `incident.update`, `incident.resolve`) is written to
`incident_topic_outbox` in the same transaction as the incident itself; the worker publishes it
right after that commit and deletes the row once the broker has acknowledged it. A worker that
dies in between leaves the row behind, and the sweep of any worker (`TopicOutbox.sweep`)
publishes every row older than `STALE_SECONDS`. So each change reaches the topic at least once,
with the same `event_id` each time, whatever fails when.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stream.errors import StorageError, storage_failure
from stream.incidents import IncidentEvent
from stream.sinks.pool import open_pool

SCHEMA = """
CREATE TABLE IF NOT EXISTS incident_topic_outbox (
    id          BIGSERIAL PRIMARY KEY,
    asset_id    BIGINT NOT NULL,
    body        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

#: a row this old was left by a worker that did not get to publish it
STALE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class TopicMessage:
    """One queued change: its outbox row, its key (the asset id) and the JSON body published."""

    row_id: int
    asset_id: int
    body: dict


def message_body(change: IncidentEvent, row_id: int) -> dict:
    """What the anomalies topic carries for an incident's change (README, EMS Core)."""
    return {
        "type": f"{change.category}.{change.kind}",
        "event_id": f"{change.category}:{change.incident_id}:{row_id}",
        "incident_id": change.incident_id,
        **change.payload,
    }


async def queue(conn: psycopg.AsyncConnection, changes: Sequence[IncidentEvent]) -> list:
    """Inside the caller's transaction: write each change as an outbox row; returns them as
    `TopicMessage`s, in order."""
    queued = []
    for change in changes:
        cur = await conn.execute(
            "INSERT INTO incident_topic_outbox (asset_id, body) VALUES (%s, '{}') RETURNING id",
            (change.payload["asset_id"],),
        )
        (row_id,) = await cur.fetchone()
        body = message_body(change, row_id)
        await conn.execute(
            "UPDATE incident_topic_outbox SET body = %s WHERE id = %s", (Jsonb(body), row_id)
        )
        queued.append(TopicMessage(row_id, change.payload["asset_id"], body))
    return queued


class TopicOutbox:
    """Deletes published rows and publishes the ones a worker left behind."""

    def __init__(self, *, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def done(self, messages: Sequence[TopicMessage]) -> None:
        """The broker has `messages`: drop their rows. Raises `StorageError` or `StorageRefused`."""
        if not messages:
            return
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "DELETE FROM incident_topic_outbox WHERE id = ANY(%s)",
                    ([m.row_id for m in messages],),
                )
        except (psycopg.Error, PoolTimeout) as e:
            raise storage_failure(e, f"clearing {len(messages)} published incident changes") from e

    async def sweep(
        self, publish: Callable[[Sequence[TopicMessage]], Awaitable[None]], limit: int = 500
    ) -> int:
        """Publish (in order) and drop the rows older than `STALE_SECONDS`; returns how many.
        Rows another worker is sweeping are skipped. Raises `StorageError`, or what `publish`
        raises (the rows then stay for the next sweep)."""
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    "SELECT id, asset_id, body FROM incident_topic_outbox "
                    "WHERE created_at < now() - %s * interval '1 second' "
                    "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                    (STALE_SECONDS, limit),
                )
                stale = [TopicMessage(*row) for row in await cur.fetchall()]
                if not stale:
                    return 0
                # a Kafka round trip, not an HTTP call: these rows are locked by nobody else
                await publish(stale)
                await conn.execute(
                    "DELETE FROM incident_topic_outbox WHERE id = ANY(%s)",
                    ([m.row_id for m in stale],),
                )
                return len(stale)
        except (psycopg.Error, PoolTimeout) as e:
            raise StorageError(f"sweeping the incident topic outbox: {e}") from e
