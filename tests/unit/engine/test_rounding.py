"""`round_like_python` gives the doubles Python's `round(x, 6)` gives, where numpy's differ."""

from __future__ import annotations

import math

import numpy as np

from stream.engine.rounding import round_like_python


def python(values: np.ndarray, digits: int) -> list[float]:
    return [round(v, digits) if math.isfinite(v) else v for v in values.tolist()]


def same(a: list[float], b: list[float]) -> bool:
    return all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))


def test_scores_round_as_python_rounds_them_even_next_to_a_half():
    rng = np.random.default_rng(12)
    # halves of the sixth digit, and the doubles either side of them: where numpy's rounding
    # of x * 1e6 picks the other neighbour
    halves = (np.arange(0, 1_000_000, 13) + 0.5) / 1e6
    values = np.concatenate(
        [
            rng.random(200_000),
            rng.random(20_000) * 1e-4,
            halves,
            np.nextafter(halves, 1.0),
            np.nextafter(halves, 0.0),
            [0.0, -0.0, 1.0, 0.0000015, 0.1234565, 0.9999995, math.nan, math.inf, -math.inf],
        ]
    )
    assert (np.round(values, 6) != np.array(python(values, 6))).sum() > 1000  # numpy's differ
    got = round_like_python(values, 6)
    assert same(got.tolist(), python(values, 6))
    assert math.copysign(1.0, got[-8]) == -1.0  # -0.0 stays -0.0, as Python keeps it


def test_a_matrix_keeps_its_shape_and_other_digits_round_too():
    values = np.array([[0.125, 0.135, 2.675], [1.005, math.nan, 0.0]])
    got = round_like_python(values, 2)
    assert got.shape == (2, 3)
    assert same(got.reshape(-1).tolist(), python(values.reshape(-1), 2))
    assert got[0, 2] == 2.67  # 2.675 is a little below the half as a double: Python's answer
