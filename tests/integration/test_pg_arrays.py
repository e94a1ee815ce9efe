"""Arrays in PostgreSQL's binary format (`stream.sinks.pg_arrays`) read back by the real server
as the values they were built from: every double to the bit, NULLs where promised, times to the
microsecond, texts in the connection's encoding."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest

from stream.root_cause import epoch_us
from stream.sinks import pg_arrays

pytestmark = pytest.mark.integration

DOUBLES = [0.1, -0.0, 1 / 3, 5e-324, 1.7976931348623157e308, -2.5e-310, 123456.789]


def _back(settings, *arrays):
    """Each array as the server reads it, and the SQL type it took it as."""
    with psycopg.connect(settings.database_dsn) as conn:
        placeholders = ", ".join("%s, pg_typeof(%s)::text" for _ in arrays)
        args = [a for array in arrays for a in (array, array)]
        row = conn.execute(f"SELECT {placeholders}", args, binary=True).fetchone()
    return [(row[k], row[k + 1]) for k in range(0, len(row), 2)]


def test_doubles_come_back_to_the_bit_and_non_finite_ones_as_null(settings):
    values = np.array([*DOUBLES, math.nan, math.inf, -math.inf])
    [(back, kind)] = _back(settings, pg_arrays.float8_array(values))
    assert kind == "double precision[]"
    assert [None if v is None else v.hex() for v in back] == [
        *(v.hex() for v in DOUBLES),
        None,
        None,
        None,
    ]


def test_integers_booleans_and_texts_come_back_as_given(settings):
    bigints = [0, -1, 2**63 - 1, -(2**63), 7]
    flags = np.array([True, False, True])
    texts = ["cpu_usage", "", None, "latência_日本", "cpu_usage", None]
    back = _back(
        settings,
        pg_arrays.int8_array(bigints),
        pg_arrays.bool_array(flags),
        pg_arrays.text_array(texts),
    )
    assert back == [
        (bigints, "bigint[]"),
        ([True, False, True], "boolean[]"),
        (texts, "text[]"),
    ]


def test_bytes_and_small_integers_come_back_as_given(settings):
    rows = [b"", b"\x00\xff" * 3, bytes(range(256)) * 50, b"row"]
    partitions = [0, -1, 2**31 - 1, -(2**31)]
    back = _back(settings, pg_arrays.bytea_array(rows), pg_arrays.int4_array(partitions))
    assert back == [(rows, "bytea[]"), (partitions, "integer[]")]


def test_times_come_back_as_the_same_instants_to_the_microsecond(settings):
    t0 = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)
    times = [
        t0,
        t0,  # a tick's points share their time
        t0.astimezone(timezone(timedelta(hours=-5))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before PostgreSQL's epoch
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    [(back, kind)] = _back(settings, pg_arrays.timestamptz_array(times))
    assert kind == "timestamp with time zone[]"
    assert back == times


def test_times_given_as_epoch_microseconds_come_back_as_those_instants(settings):
    times = [
        datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before PostgreSQL's epoch
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    epochs = [epoch_us(t) for t in times]
    [(back, kind)] = _back(settings, pg_arrays.timestamptz_epoch_us_array(np.array(epochs)))
    assert kind == "timestamp with time zone[]"
    assert back == times


def test_empty_arrays_are_empty(settings):
    back = _back(
        settings,
        pg_arrays.float8_array([]),
        pg_arrays.int8_array([]),
        pg_arrays.bool_array([]),
        pg_arrays.timestamptz_array([]),
        pg_arrays.text_array([]),
        pg_arrays.bytea_array([]),
        pg_arrays.int4_array([]),
    )
    assert [value for value, _ in back] == [[], [], [], [], [], [], []]


def test_values_an_array_cannot_hold_are_refused_before_anything_is_sent():
    with pytest.raises(OverflowError):
        pg_arrays.int8_array([2**63])
    with pytest.raises(OverflowError):
        pg_arrays.int4_array([2**31])
    with pytest.raises(TypeError):
        pg_arrays.timestamptz_array([datetime(2026, 1, 1)])  # naive: which instant?
