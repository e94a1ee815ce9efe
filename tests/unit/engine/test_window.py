"""The compiled window's robust centre and spread against `stream.features`, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from stream import features
from stream.engine import pattern, window


def _histories(seed: int):
    """Sorted histories of 1 to 64 values: noise, few distinct values, coarse heavy tails,
    mostly one value (a stuck gauge), and every value the same."""
    rng = np.random.default_rng(seed)
    for trial in range(3000):
        n = int(rng.integers(1, features.HISTORY_SIZE + 1))
        kind = trial % 5
        if kind == 0:
            values = rng.normal(50, 10, n)
        elif kind == 1:
            values = rng.integers(0, 4, n).astype(float)
        elif kind == 2:
            values = np.round(rng.standard_t(2, n), 1)
        elif kind == 3:
            values = np.full(n, 7.0)
            stuck = int(rng.integers(0, n + 1))
            values[:stuck] = rng.normal(7, 1, stuck)
        else:
            values = np.full(n, 3.25)
        yield np.sort(values)


@pytest.mark.parametrize("resolution", [0.0, 0.01, 5.0])
def test_the_centre_and_spread_are_the_python_paths(resolution):
    # the spread's shortcuts (the deviations' rank found by bisection, the least step's search
    # skipped where the MAD cannot be raised by it) must not move a bit
    for ordered in _histories(seed=int(resolution * 100)):
        room = np.full(features.HISTORY_SIZE, np.nan)
        room[: len(ordered)] = ordered
        got = window.center_spread(room, len(ordered), resolution)
        want = features.robust_center_spread(tuple(ordered.tolist()), resolution)
        assert got == want, (ordered.tolist(), resolution)


def test_the_nearest_subsequences_mean_is_the_sorted_distances():
    rng = np.random.default_rng(3)
    rows = np.zeros(
        1, dtype=[("pattern_mem", "u1", (pattern.MEMORY, pattern.LENGTH)), ("pattern_held", "i8")]
    )
    work = np.zeros(2 * pattern.MEMORY * pattern.LENGTH, dtype=np.uint8)
    for held in (pattern.K, 2 * pattern.K, 40, pattern.MEMORY):
        for _ in range(50):
            # few distinct bytes: many equal distances, where an order could slip
            memory = rng.integers(0, 4, (pattern.MEMORY, pattern.LENGTH)).astype(np.uint8)
            query = rng.integers(0, 4, pattern.LENGTH).astype(np.uint8)
            rows["pattern_mem"][0], rows["pattern_held"][0] = memory, held
            got = pattern._nearest_mean(rows[0], query, work)
            sums = np.abs(memory[:held].astype(int) - query.astype(int)).sum(axis=1)
            distances = np.sort(sums / pattern.LENGTH / pattern._QUANT)[: pattern.K]
            want = 0.0
            for d in distances:  # ascending, as numpy's partition leaves them for k <= 3
                want += d
            assert got == want / pattern.K
