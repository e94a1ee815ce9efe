"""Series states in PostgreSQL, stored by the worker's checkpoints (`stream.agents`).

A series' state is the worker's engine row (`stream.engine.stored`) and names the last input
message it includes (its partition and offset). A checkpoint stores the rows after the scores
they led to, and offsets are committed to Kafka only after the checkpoint, so after a crash at
any moment the stored row includes at least every committed message: the messages replayed
after a restart are either already in the row (skipped) or not (scored again from the very row
that scored them first, giving the same scores, which the scores' primary key swallows).

A row is stored whole (`state`, its base, with a `base_id` drawn for it; compressed by
`stream.state_codec.pack_row`) or, once it has a
base, as what changed since (`delta`, `stream.state_codec.encode_delta`): a delta is stored only
onto the very base it was made from (its `base_id`), so a worker that holds another base than
the one stored (one that lost the series in a rebalance) never has its delta added to a base it
was not made from; such a row is stored whole instead, in the same transaction, under the rule
that a row never goes back. Reading a row adds its delta to its base (`load`).

States are keyed by the consumer group: two deployments that share a database keep their own
states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stream import state_codec
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
ALTER TABLE series_state ADD COLUMN IF NOT EXISTS delta BYTEA;
ALTER TABLE series_state ADD COLUMN IF NOT EXISTS base_id BIGINT;
-- rows and deltas are LZ4 already: not compressed again; in the row's page while the row is
-- under 2 KB (rows stored by older versions stay compressed as they were)
ALTER TABLE series_state ALTER COLUMN state SET STORAGE EXTERNAL;
ALTER TABLE series_state ALTER COLUMN delta SET STORAGE EXTERNAL;
CREATE SEQUENCE IF NOT EXISTS series_state_base_id;
"""

# lz4 compresses a state about as well as PostgreSQL's default pglz at half the server's cost per
# batch (benchmarks in the README); a server built without lz4 keeps pglz.
USE_LZ4 = "ALTER TABLE series_state ALTER COLUMN state SET COMPRESSION lz4"

# A state never goes back on the same partition: a worker that lost the partition in a rebalance
# but finishes its batch late writes an older state than its successor, and is refused here.
# Each row written is a new base, under a new `base_id` (returned).
_UPSERT = """
INSERT INTO series_state
    (consumer_group, series_key, source_partition, source_offset, state, base_id)
SELECT %s, k, p, o, s, nextval('series_state_base_id')
FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::bytea[]) AS u(k, p, o, s)
ON CONFLICT (consumer_group, series_key) DO UPDATE
SET source_partition = EXCLUDED.source_partition,
    source_offset = EXCLUDED.source_offset,
    state = EXCLUDED.state,
    delta = NULL,
    base_id = EXCLUDED.base_id,
    updated_at = now()
WHERE series_state.source_partition <> EXCLUDED.source_partition
   OR series_state.source_offset < EXCLUDED.source_offset
RETURNING series_key, base_id
"""

# A delta onto the base it was made from only, and never going back (the rule above). The base
# stays as it is: PostgreSQL keeps the stored value it points to, and writes only the new row.
_UPDATE_DELTA = """
UPDATE series_state AS t
SET source_partition = u.p, source_offset = u.o, delta = u.d, updated_at = now()
FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::int8[], %b::bytea[]) AS u(k, p, o, b, d)
WHERE t.consumer_group = %s AND t.series_key = u.k AND t.base_id = u.b
  AND (t.source_partition <> u.p OR t.source_offset < u.o)
RETURNING t.series_key
"""

_SELECT = """
SELECT series_key, state, delta, base_id FROM series_state
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


@dataclass(frozen=True, slots=True)
class Stored:
    """A series' state as read: its bytes (the base with its delta added), and the base as
    stored (packed, `stream.state_codec.pack_row`) with its `base_id`: what a delta written
    next is made from and stored onto."""

    payload: bytes
    base: bytes
    base_id: int | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a checkpoint stored: the rows stored whole, each with the `base_id` it got, and
    the keys stored as deltas. A row in neither was refused (a worker's older state)."""

    bases: dict[str, int]
    deltas: set[str]


#: the most bytes of states one statement of `save` carries: PostgreSQL refuses a message of
#: 1 GB or more ("invalid message length", the connection closed), which a checkpoint of
#: 100,000 series of 12 KB is; a checkpoint is then several statements in one transaction
SAVE_STATEMENT_BYTES = 64 * 1024 * 1024


def _statements(sizes: Sequence[int]) -> Iterable[tuple[int, int]]:
    """(start, end) of consecutive items whose `sizes` add up to at most `SAVE_STATEMENT_BYTES`
    (one item alone may be more)."""
    start = 0
    while start < len(sizes):
        end, size = start, 0
        while end < len(sizes) and (end == start or size + sizes[end] <= SAVE_STATEMENT_BYTES):
            size += sizes[end]
            end += 1
        yield start, end
        start = end


def prepare(
    rows: Sequence[StateRow], bases: Mapping[str, tuple[int, bytes]]
) -> tuple[list[StateRow], dict[str, tuple[int, bytes]]]:
    """What `save_checkpoint` is given for `rows`: each row worth storing as what changed since
    its base in `bases` (its `base_id`, its bytes as stored) as its (`base_id`, delta),
    `stream.state_codec.encode_delta`; and the rows, in the order given, the others packed as
    they are stored whole (`pack_row`). Pure code that holds no lock (XOR and LZ4 release the
    GIL): callers run it beside the event loop."""
    packed, deltas = [], {}
    for row in rows:
        base = bases.get(row.key)
        if base is not None and (
            delta := state_codec.encode_delta(state_codec.unpack_row(base[1]), row.payload)
        ):
            deltas[row.key] = (base[0], delta)
            packed.append(row)  # stored whole only if its delta is refused: `save` packs it
        else:
            packed.append(_packed(row))
    return packed, deltas


def _packed(row: StateRow) -> StateRow:
    """`row` with its bytes as they are stored whole (`pack_row`; as they are if packed)."""
    payload = state_codec.pack_row(row.payload)
    return row if payload is row.payload else StateRow(row.key, row.partition, row.offset, payload)


async def save(
    conn: psycopg.AsyncConnection, group: str, rows: Sequence[StateRow]
) -> dict[str, int]:
    """Upsert `rows` whole for `group` inside the caller's transaction, in statements of at
    most `SAVE_STATEMENT_BYTES` of states each; the `base_id` of each row stored (a row that
    would go back is not)."""
    bases: dict[str, int] = {}
    rows = [_packed(r) for r in rows]  # each as it is where `prepare` packed it
    for start, end in _statements([len(r.payload) for r in rows]):
        part = rows[start:end]
        # the arrays go in binary (%b), built by `pg_arrays`: with %s psycopg dumps an array
        # parameter as text, hex-escaping each state in Python (273 ms for 500 states of 9 KB
        # against 16 ms in binary), and its binary dumper still walks each state in Python
        cur = await conn.execute(
            _UPSERT,
            (
                group,
                pg_arrays.text_array([r.key for r in part], conn.info.encoding),
                pg_arrays.int4_array([r.partition for r in part]),
                pg_arrays.int8_array([r.offset for r in part]),
                pg_arrays.bytea_array([r.payload for r in part]),
            ),
        )
        bases.update(await cur.fetchall())
    return bases


async def save_checkpoint(
    conn: psycopg.AsyncConnection,
    group: str,
    rows: Sequence[StateRow],
    deltas: Mapping[str, tuple[int, bytes]],
) -> Checkpoint:
    """Store `rows` for `group` inside the caller's transaction: as the delta `deltas` gives for
    its key (the `base_id` it was made from, its bytes) where that base is the one stored, and
    whole otherwise (`save`)."""
    delta_rows = [r for r in rows if r.key in deltas]
    stored: set[str] = set()
    for start, end in _statements([len(deltas[r.key][1]) for r in delta_rows]):
        part = delta_rows[start:end]
        cur = await conn.execute(
            _UPDATE_DELTA,
            (
                pg_arrays.text_array([r.key for r in part], conn.info.encoding),
                pg_arrays.int4_array([r.partition for r in part]),
                pg_arrays.int8_array([r.offset for r in part]),
                pg_arrays.int8_array([deltas[r.key][0] for r in part]),
                pg_arrays.bytea_array([deltas[r.key][1] for r in part]),
                group,
            ),
        )
        stored.update(key for (key,) in await cur.fetchall())
    whole = [r for r in rows if r.key not in stored]
    return Checkpoint(await save(conn, group, whole), stored)


class StateStore:
    """Reads the stored states of a consumer group's series."""

    def __init__(self, *, pool: AsyncConnectionPool, group: str) -> None:
        self._pool = pool
        self.group = group

    async def save(
        self, rows: Sequence[StateRow], deltas: Mapping[str, tuple[int, bytes]] | None = None
    ) -> Checkpoint:
        """Store `rows` in one transaction, as deltas where `deltas` has one made from the base
        stored (`save_checkpoint`); a row never moves back (`_UPSERT`). Raises `StorageError`
        (retry) or `StorageRefused` (do not)."""
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn, conn.transaction():
                return await save_checkpoint(conn, self.group, rows, deltas or {})
        except (psycopg.Error, PoolTimeout) as e:
            raise storage_failure(e, f"storing {len(rows)} series rows") from e

    async def load(self, keys: Iterable[str]) -> dict[str, Stored]:
        """The stored state of each of `keys` that has one (`stream.state_codec`: the worker's
        rows, or a document of an older version). Raises `StorageError` (retry),
        `StorageRefused` (do not) or ValueError (a delta that is not its base's)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        try:
            await open_pool(self._pool)
            async with self._pool.connection() as conn:
                keys_array = pg_arrays.text_array(wanted, conn.info.encoding)
                cur = await conn.execute(_SELECT, (self.group, keys_array), binary=True)
                found = await cur.fetchall()
        except (psycopg.Error, PoolTimeout) as e:
            raise storage_failure(e, f"loading {len(wanted)} series states") from e
        return {key: as_stored(state, delta, base_id) for key, state, delta, base_id in found}

    async def load_payloads(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored bytes of each of `keys` that has a stored state (`load`)."""
        return {key: stored.payload for key, stored in (await self.load(keys)).items()}


def as_stored(state: bytes, delta: bytes | None, base_id: int | None) -> Stored:
    """A row of `series_state` as read (its `state`, `delta` and `base_id` columns)."""
    base = bytes(state)
    payload = state_codec.unpack_row(base)
    if delta is not None:
        payload = state_codec.apply_delta(payload, bytes(delta))
    return Stored(payload, base, base_id)
