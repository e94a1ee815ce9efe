"""Columns of a batch as PostgreSQL arrays in the binary wire format, built by numpy.

A batch's scores reach PostgreSQL as one array a column, unnested into rows by the statement
itself. Sent as text (or as JSON), every element is parsed again by the server (a float by
`float8in`, a time by `timestamptz_in`); psycopg's own array dumper walks the elements in
Python. Here an array of fixed-size elements is one numpy buffer (each element's length and its
big-endian bytes), and a text array is made of each distinct string's bytes, made once: the
client spends about what a JSON document cost it and the server reads the elements as they are
(README, Benchmarks).

Each function returns a `PgArray`, which psycopg sends as a binary parameter of the array's type
once this module is imported (`psycopg.adapters`: every connection made after it). NULL: a
non-finite float (NaN: no value, as the service's columns hold it) and a None string.

A round trip through the real PostgreSQL is in `tests/integration/test_pg_arrays.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

# the element and array type OIDs (fixed in PostgreSQL's catalog, `pg_type`)
_BOOL, _BOOL_ARRAY = 16, 1000
_BYTEA, _BYTEA_ARRAY = 17, 1001
_INT8, _INT8_ARRAY = 20, 1016
_INT4, _INT4_ARRAY = 23, 1007
_TEXT, _TEXT_ARRAY = 25, 1009
_FLOAT8, _FLOAT8_ARRAY = 701, 1022
_TIMESTAMPTZ, _TIMESTAMPTZ_ARRAY = 1184, 1185

#: what PostgreSQL's binary times count microseconds from
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_US = (_PG_EPOCH - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
_NULL_LENGTH = (-1).to_bytes(4, "big", signed=True)


@dataclass(frozen=True, slots=True)
class PgArray:
    """A one-dimensional array in PostgreSQL's binary format (`array_send`), and the OID of its
    array type."""

    data: bytes
    oid: int


class _PgArrayDumper(Dumper):
    """Sends a `PgArray`'s bytes as they are, typed by its OID (one dumper an array type)."""

    format = Format.BINARY

    def get_key(self, obj: PgArray, format) -> tuple:
        return (PgArray, obj.oid)

    def upgrade(self, obj: PgArray, format) -> _PgArrayDumper:
        dumper = _PgArrayDumper(PgArray, self.connection)
        dumper.oid = obj.oid
        return dumper

    def dump(self, obj: PgArray) -> bytes:
        return obj.data


psycopg.adapters.register_dumper(PgArray, _PgArrayDumper)


def _header(n: int, element_oid: int, has_nulls: bool) -> bytes:
    if n == 0:  # PostgreSQL's empty array has no dimension
        return np.array([0, 0, element_oid], dtype=">i4").tobytes()
    # dimensions, the NULL flag, the element type, then the one dimension's length and its
    # lower bound
    return np.array([1, int(has_nulls), element_oid, n, 1], dtype=">i4").tobytes()


def _fixed(values: np.ndarray, element_oid: int, nulls: np.ndarray | None) -> bytes:
    """`values` (big-endian, one element each) as an array; the elements where `nulls` is true
    are NULL."""
    n, size = len(values), values.dtype.itemsize
    cells = np.empty(n, dtype=[("length", ">i4"), ("value", values.dtype)])
    cells["length"] = size
    cells["value"] = values
    if nulls is None or not nulls.any():
        return _header(n, element_oid, False) + cells.tobytes()
    # a NULL is its length (-1) alone: the element's bytes are dropped from the buffer
    cells["length"][nulls] = -1
    keep = np.ones((n, 4 + size), dtype=bool)
    keep[nulls, 4:] = False
    return _header(n, element_oid, True) + cells.view(np.uint8).reshape(n, 4 + size)[keep].tobytes()


def float8_array(values: Sequence[float] | np.ndarray) -> PgArray:
    """A float8[]; a NaN or infinite value is NULL."""
    values = np.asarray(values, dtype=np.float64)
    return PgArray(_fixed(values.astype(">f8"), _FLOAT8, ~np.isfinite(values)), _FLOAT8_ARRAY)


def int8_array(values: Sequence[int] | np.ndarray) -> PgArray:
    """An int8[] (bigint); raises OverflowError for a value outside int64."""
    return PgArray(_fixed(np.asarray(values, dtype=">i8"), _INT8, None), _INT8_ARRAY)


def int4_array(values: Sequence[int] | np.ndarray) -> PgArray:
    """An int4[] (integer); raises OverflowError for a value outside int32."""
    return PgArray(_fixed(np.asarray(values, dtype=">i4"), _INT4, None), _INT4_ARRAY)


def bytea_array(values: Sequence[bytes]) -> PgArray:
    """A bytea[] of the bytes as they are (each copied once, into the array): what a checkpoint
    sends its rows in, where psycopg's own dumper walked each row in Python."""
    cells = [part for b in values for part in (len(b).to_bytes(4, "big"), b)]
    return PgArray(_header(len(values), _BYTEA, False) + b"".join(cells), _BYTEA_ARRAY)


def bool_array(values: Sequence[bool] | np.ndarray) -> PgArray:
    """A bool[]."""
    return PgArray(
        _fixed(np.asarray(values, dtype=np.bool_).view(np.uint8), _BOOL, None), _BOOL_ARRAY
    )


def timestamptz_array(values: Sequence[datetime]) -> PgArray:
    """A timestamptz[] of aware datetimes, to the microsecond; each distinct instant is
    converted once (a batch holds a few ticks). Raises TypeError for a naive datetime."""
    return PgArray(_fixed(pg_micros(values).astype(">i8"), _TIMESTAMPTZ, None), _TIMESTAMPTZ_ARRAY)


def pg_micros(values: Sequence[datetime]) -> np.ndarray:
    """Aware datetimes as PostgreSQL's binary times count them: microseconds since 2000 (int64);
    each distinct instant is converted once (a batch holds a few ticks). Raises TypeError for a
    naive datetime."""
    micros = {ts: (ts - _PG_EPOCH) // timedelta(microseconds=1) for ts in set(values)}
    return np.fromiter(map(micros.__getitem__, values), dtype=np.int64, count=len(values))


def timestamptz_epoch_us_array(epochs_us: Sequence[int] | np.ndarray) -> PgArray:
    """A timestamptz[] of instants given as microseconds since 1970 (as `root_cause.epoch_us`
    counts them), exactly."""
    counts = np.asarray(epochs_us, dtype=np.int64) - _PG_EPOCH_US
    return PgArray(_fixed(counts.astype(">i8"), _TIMESTAMPTZ, None), _TIMESTAMPTZ_ARRAY)


def text_array(values: Sequence[str | None], encoding: str = "utf-8") -> PgArray:
    """A text[]; None is NULL. `encoding`: the connection's client encoding
    (`conn.info.encoding`), which the server reads a binary text in. Each distinct string is
    encoded once (metric names, drivers and versions recur)."""
    cells = {
        s: _NULL_LENGTH if s is None else len(b := s.encode(encoding)).to_bytes(4, "big") + b
        for s in set(values)
    }
    return PgArray(
        _header(len(values), _TEXT, None in cells) + b"".join(map(cells.__getitem__, values)),
        _TEXT_ARRAY,
    )
