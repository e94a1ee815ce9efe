"""A bounded series' outlook read from its engine row (`stream.engine.capacity.outlooks`) is
`stream.capacity.outlook`'s, to the bit, at every point of series that rise, fall, sit above their
limit, switch seasonal profiles and start young; only the search for a crossing ahead is left to
the Python outlook, and the row says when it is needed."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from stream import capacity
from stream.engine import capacity as compiled
from stream.engine.core import Engine

MONDAY = 1_767_571_200.0  # 2026-01-05 00:00 UTC
HORIZON = 24.0


def series(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of a bounded metric (limit 100), a point every 10 minutes."""
    rng = np.random.default_rng(seed)
    n = 14 * 144
    t = MONDAY + np.arange(n) * 600.0
    hours, day = (t % 86_400) / 3600, (t - MONDAY) / 86_400
    daily = 8 * np.sin(2 * np.pi * hours / 24)
    v = {
        "rising": 40 + 5 * day + daily,  # towards the limit (a search), then over it
        "flat": 50 + daily,  # far below it: no crossing in sight
        "above": 104 + daily,  # over it now
        "falling": 90 - 3 * day + daily,
        "weekend": 60 + 25 * ((day % 7) < 5) * ((hours >= 9) & (hours < 17)),  # profiles switch
        "noise": 70 + rng.standard_t(3, n) * 6,  # no profile
    }[kind] + rng.normal(0, 1.0, n)
    return t, v


def bit(x: float) -> bytes:
    return np.float64(x).tobytes()


@pytest.mark.parametrize("kind", ["rising", "flat", "above", "falling", "weekend", "noise"])
def test_the_rows_outlook_is_the_python_outlook_at_every_point(kind):
    epochs, values = series(kind, seed=len(kind))
    engine = Engine(threshold=0.7, window_size=5, warmup_points=30)
    out = np.empty((1, compiled.OUTLOOK_COLUMNS))
    seen = {"line": 0, "search": 0, "now": 0}
    for k in range(len(values)):
        engine.score_batch(["s"], values[k : k + 1], epochs[k : k + 1])
        if k % 7:  # every seventh point: a few hundred outlooks a series
            continue
        slot = engine.store.slot("s")
        compiled.outlooks(
            engine.store.buffer,
            np.array([slot]),
            epochs[k : k + 1],
            np.array([100.0]),
            HORIZON,
            HORIZON,
            out,
        )
        state = engine.dump("s")
        now = datetime.fromtimestamp(epochs[k], tz=UTC)
        expected = capacity.outlook(state.trend, state.season, now, 100.0, HORIZON, HORIZON)
        o = out[0]
        if expected is None:
            assert o[compiled.HAS_LINE] == 0, k
            continue
        assert o[compiled.HAS_LINE] == 1, k
        seen["line"] += 1
        if o[compiled.SEARCH]:
            seen["search"] += 1
            continue  # the Python outlook searches (and gives every number)
        assert expected.hours_to_crossing == (0.0 if o[compiled.CROSSING_NOW] else None), k
        seen["now"] += bool(o[compiled.CROSSING_NOW])
        assert bit(o[compiled.LEVEL]) == bit(expected.level), k
        assert bit(o[compiled.SLOPE_PER_DAY]) == bit(expected.slope_per_day), k
        assert bit(o[compiled.PROBABILITY]) == bit(expected.probability), k
    assert seen["line"] > 100
    if kind == "rising":
        assert seen["search"] > 0
    if kind == "above":
        assert seen["now"] > 0


@pytest.mark.parametrize("n", [1, 7, 8, 24, 100, 128, 129, 168, 300, 1000])
def test_the_pairwise_sum_is_numpys(n):
    values = np.random.default_rng(n).standard_normal(n) * 1e3
    assert bit(compiled._pairwise_sum(values, 0, n)) == bit(values.sum())
    assert bit(compiled._pairwise_sum(values, 0, n) / n) == bit(values.mean())
