"""The engine's exact sum (`stream.engine.window.fsum`) is `math.fsum` to the bit: on the sums a
series' window makes, and on sums built to sit at or next to a half-way point between doubles,
where a sum that is only nearly exact rounds the other way."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream.engine.window import fsum


def same(a: float, b: float) -> bool:
    """Equal to the bit (the sign of a zero too), NaN equal to NaN."""
    return np.float64(a).tobytes() == np.float64(b).tobytes() or (math.isnan(a) and math.isnan(b))


def engine_fsum(values: list[float]) -> float:
    array = np.array(values, dtype=np.float64)
    return fsum(array, len(array), np.empty(len(array) + 1))


def cases(rng: np.random.Generator):
    for n in (1, 2, 3, 5, 20, 64):
        for _ in range(300):
            yield np.round(rng.uniform(0, 1000, n), 2).tolist()  # a metric with two decimals
            yield (rng.standard_t(3, n) * 10.0 ** rng.integers(-8, 9)).tolist()
            yield (rng.standard_normal(n) * 2.0 ** rng.integers(-60, 60, n)).tolist()
            x = rng.standard_normal(n)
            yield [*x.tolist(), *(-x).tolist(), float(rng.standard_normal())]  # cancellation
    for k in (53, 54, 60):
        for a in (1.0, 3.0, 1.5, 2.0**30):
            tiny = a * 2.0**-k
            # at a half-way point, and a hair either side of it (each rounds differently)
            yield [a, tiny]
            yield [a, tiny, tiny * 2.0**-60]
            yield [a, tiny, -tiny * 2.0**-60]
            yield [-a, -tiny, tiny * 2.0**-60]
            yield [a, tiny, tiny]
            yield [tiny * 2.0**-60, tiny, a]
    # the compensated sum loses the small terms (each under half a unit of the error it is
    # added to) and their total decides the rounding: only the error bound sees it
    yield [1.0, 2.0**-53 - 2.0**-106, *[2.0**-110] * 20]
    # ... at a power of two, where the spacing below is half the spacing above
    yield [1.0, -(2.0**-54 - 2.0**-107), *[-(2.0**-111)] * 32]
    yield [1e308, 1e308, -1e308]
    yield [math.inf, 1.0]
    yield [math.inf, -math.inf]
    yield [math.nan, 1.0]
    yield [0.0]
    yield [-0.0, -0.0]
    yield [5e-324, 5e-324, -1e-320]
    yield [2.0**-1000, 2.0**-1000 * 3]
    yield [1.0, 1e100, 1.0, -1e100]


def test_the_engines_sum_is_math_fsum_to_the_bit():
    rng = np.random.default_rng(12)
    checked = 0
    for values in cases(rng):
        try:
            expected = math.fsum(values)
        except (OverflowError, ValueError):
            continue  # math.fsum raises where the partials overflow or meet inf - inf
        got = engine_fsum(values)
        assert same(got, expected), (values, got, expected)
        checked += 1
    assert checked > 7000


@pytest.mark.parametrize("values", [[], [0.0, -0.0]])
def test_an_empty_or_zero_sum_is_zero(values):
    assert same(engine_fsum(values), math.fsum(values))
