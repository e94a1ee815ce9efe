"""Series states in PostgreSQL, stored by the worker's checkpoints (`stream.agents`).

A series' state is the worker's engine row (`stream.engine.stored`) and names the last input
message it includes (its partition and offset). A checkpoint stores the rows after the scores
they led to, and offsets are committed to Kafka only after the checkpoint, so after a crash at
any moment the stored row includes at least every committed message: the messages replayed
after a restart are either already in the row (skipped) or not (scored again from the very row
that scored them first, giving the same scores, which the scores' primary key swallows).

States are keyed by the consumer group: two deployments that share a database keep their own
states.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stream.errors import storage_failure
from stream.sinks import pg_arrays
from stream.sinks.pool import open_pool

SCHEMA = """
CREATE TABLE IF NOT EXISTS series_state (
    consumer_group    TEXT NOT NULL,
    series_key        TEXT NOT NULL,
    source_partition  INTEGER NOT NULL,
    source_offset     BIGINT NOT NULL,
    state             BYTEA NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, series_key)
);
"""

# lz4 compresses a state about as well as PostgreSQL's default pglz at half the server's cost per
# batch (benchmarks in the README); a server built without lz4 keeps pglz.
USE_LZ4 = "ALTER TABLE series_state ALTER COLUMN state SET COMPRESSION lz4"

# A state never goes back on the same partition: a worker that lost the partition in a rebalance
# but finishes its batch late writes an older state than its successor, and is refused here.
_UPSERT = """
INSERT INTO series_state (consumer_group, series_key, source_partition, source_offset, state)
SELECT %s, k, p, o, s
FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::bytea[]) AS u(k, p, o, s)
ON CONFLICT (consumer_group, series_key) DO UPDATE
SET source_partition = EXCLUDED.source_partition,
    source_offset = EXCLUDED.source_offset,
    state = EXCLUDED.state,
    updated_at = now()
WHERE series_state.source_partition <> EXCLUDED.source_partition
   OR series_state.source_offset < EXCLUDED.source_offset
"""

_SELECT = """
SELECT series_key, state FROM series_state
WHERE consumer_group = %s AND series_key = ANY(%s::text[])
"""


@dataclass(frozen=True, slots=True)
class StateRow:
    """One series' state as stored: its key, the input message it includes, its bytes
    (`stream.state_codec`)."""

    key: str
    partition: int
    offset: int
    payload: bytes


#: the most bytes of states one statement of `save` carries: PostgreSQL refuses a message of
#: 1 GB or more ("invalid message length", the connection closed), which a checkpoint of
#: 100,000 series of 12 KB is; a checkpoint is then several statements in one transaction
SAVE_STATEMENT_BYTES = 64 * 1024 * 1024


async def save(conn: psycopg.AsyncConnection, group: str, rows: Sequence[StateRow]) -> None:
    """Upsert `rows` for `group` inside the caller's transaction, in statements of at most
    `SAVE_STATEMENT_BYTES` of states each (one row alone may be more)."""
    start = 0
    while start < len(rows):
        end, size = start, 0
        while end < len(rows) and (
            end == start or size + len(rows[end].payload) <= SAVE_STATEMENT_BYTES
        ):
            size += len(rows[end].payload)
            end += 1
        await _upsert(conn, group, rows[start:end])
        start = end


async def _upsert(conn: psycopg.AsyncConnection, group: str, rows: Sequence[StateRow]) -> None:
    # the arrays go in binary (%b in `_UPSERT`), built by `pg_arrays`: with %s psycopg dumps an
    # array parameter as text, hex-escaping each state in Python (273 ms for 500 states of 9 KB
    # against 16 ms in binary), and its binary dumper still walks each state in Python
    await conn.execute(
        _UPSERT,
        (
            group,
            pg_arrays.text_array([r.key for r in rows], conn.info.encoding),
            pg_arrays.int4_array([r.partition for r in rows]),
            pg_arrays.int8_array([r.offset for r in rows]),
            pg_arrays.bytea_array([r.payload for r in rows]),
        ),
    )


class StateStore:
    """Reads the stored states of a consumer group's series."""

    def __init__(self, *, pool: AsyncConnectionPool, group: str) -> None:
        self._pool = pool
        self.group = group

    async def save(self, rows: Sequence[StateRow]) -> None:
        """Upsert `rows` in one transaction (a row never moves back: `_UPSERT`). Raises
        `StorageError` (retry) or `StorageRefused` (do not)."""
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn, conn.transaction():
                await save(conn, self.group, rows)
        except (psycopg.Error, PoolTimeout) as e:
            raise storage_failure(e, f"storing {len(rows)} series rows") from e

    async def load_payloads(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored bytes of each of `keys` that has a stored state (`stream.state_codec`; the
        worker's rows, or a document of an older version). Raises `StorageError` (retry) or
        `StorageRefused` (do not)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn:
                cur = await conn.execute(_SELECT, (self.group, wanted), binary=True)
                return {key: bytes(payload) for key, payload in await cur.fetchall()}
        except (psycopg.Error, PoolTimeout) as e:
            raise storage_failure(e, f"loading {len(wanted)} series states") from e
