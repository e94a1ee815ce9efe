"""A metric history as columns (`stream.history`): the points come back as they went in, each
time as the same instant and the same seconds the engine read from a datetime before."""

import random
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from stream.history import History, HistoryBuilder

T0 = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)


def _rows(n=500, seed=3):
    rng = random.Random(seed)
    return [
        (
            rng.choice([1, 2, 2**63 - 1]),
            rng.choice(["cpu_usage", "latência", "mem"]),
            T0 + timedelta(microseconds=rng.randrange(-(10**15), 10**15)),
            rng.choice([rng.gauss(0, 1e6), float("nan"), -0.0, 5e-324]),
        )
        for _ in range(n)
    ]


def test_rows_come_back_as_they_went_in_each_series_named_once():
    rows = _rows()
    rows.append((7, "cpu_usage", datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC), 1.0))
    rows.append((7, "cpu_usage", T0.astimezone(timezone(timedelta(hours=-5))), 2.0))
    history = History.of_rows(rows)
    back = history.rows()
    assert [r[:3] for r in back] == [r[:3] for r in rows]
    assert [np.float64(r[3]).tobytes() for r in back] == [np.float64(r[3]).tobytes() for r in rows]
    pairs = list(dict.fromkeys((a, m) for a, m, _, _ in rows))
    assert list(zip(history.assets, history.metrics, strict=True)) == pairs
    assert history.keys == [f"{a}/{m}" for a, m in pairs]
    assert history.per_point(history.keys) == [f"{a}/{m}" for a, m, _, _ in rows]


def test_each_time_is_the_seconds_a_datetime_gives_to_the_bit():
    rows = _rows(2000, seed=5)
    epochs = History.of_rows(rows).epochs()
    assert epochs.tobytes() == np.array([ts.timestamp() for _, _, ts, _ in rows]).tobytes()


def test_a_history_gathered_in_chunks_equals_it_gathered_at_once():
    rows = _rows(1000, seed=7)
    whole = History.of_rows(rows)
    builder = HistoryBuilder()
    for k in range(0, len(rows), 37):  # a series first seen in a later chunk keeps its code
        builder.add(
            (a, m, (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1), v)
            for a, m, ts, v in rows[k : k + 37]
        )
    chunked = builder.build()
    assert len(builder) == len(chunked) == len(rows)
    assert (chunked.assets, chunked.metrics) == (whole.assets, whole.metrics)
    assert chunked.series.tolist() == whole.series.tolist()
    assert chunked.micros.tolist() == whole.micros.tolist()
    assert chunked.values.tobytes() == whole.values.tobytes()
    order = np.argsort(whole.micros, kind="stable")
    assert whole.per_point(whole.metrics, order) == [rows[i][1] for i in order]


def test_an_empty_history_is_empty():
    history = History.of_rows([])
    assert len(history) == 0 and history.rows() == [] and history.keys == []
    assert history.per_point(history.keys) == [] and len(history.epochs()) == 0
