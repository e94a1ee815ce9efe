"""The flatline detector, compiled: `stream.detectors.flatline` on a series' row.

The repeat chain (`flatline_p`, `flatline_c`, over `flatline_m` points after a repeat), the run
going on, the points seen, and the remembered rate of runs reaching each of `RUN_BUCKETS` with
the point it was last decayed at.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream.detectors import flatline as py
from stream.engine import contract as c
from stream.engine.scale import l_to_score

_BUCKETS = np.array(py.RUN_BUCKETS, dtype=np.int64)
_N_BUCKETS = len(py.RUN_BUCKETS)
_ALPHA = py.ALPHA
_PRIOR = py.PRIOR_POINTS
_MIN_RUN = py.MIN_RUN
_LEARN_RUN = py.LEARN_RUN
_STILL_SHARE = py.STILL_SHARE
_RUN_ALPHA = py.RUN_ALPHA
_KEEP = 1.0 - py.RUN_ALPHA

FIELDS = [
    ("flatline_p", "f8", ()),
    ("flatline_c", "f8", ()),
    ("flatline_m", "i8", ()),
    ("flatline_run", "i8", ()),
    ("flatline_n", "i8", ()),
    ("flatline_reached", "f8", (_N_BUCKETS,)),
    ("flatline_at", "i8", (_N_BUCKETS,)),
]
INITIAL = {"flatline_p": 1.0 / _PRIOR, "flatline_c": 1.0 / _PRIOR}
#: the columns its step writes (`contract`)
COLUMNS = (py.FlatlineDetector,)
_STUCK = c.FEATURE["stuck"]


def work_size(window_size: int) -> int:
    """Scratch words a point needs: none."""
    return 0


@njit(cache=True)
def _share(p: float) -> float:
    return min(0.5, max(p, 1e-6))


@njit(cache=True)
def _decay(points: int) -> float:
    # a float exponent, as Python's float ** int computes it (C pow), not numba's integer power
    return _KEEP ** float(points)


@njit(cache=True)
def _count(r, bucket: int) -> float:
    return r.flatline_reached[bucket] * _decay(r.flatline_n - r.flatline_at[bucket]) / _RUN_ALPHA


@njit(cache=True)
def _shown(r, bucket: int, run: int) -> float:
    """`flatline._shown`: -log10 of the rate of runs reaching `RUN_BUCKETS[bucket]`."""
    counts = np.empty(_N_BUCKETS)
    top = -1
    for i in range(bucket + 1):
        counts[i] = _count(r, i) - (1.0 if _BUCKETS[i] < run else 0.0)
        if counts[i] > 1.0:
            top = i
    if top < 0:
        return np.inf
    seen = 1.0 - _decay(max(r.flatline_n, 1))
    at_top = -math.log10(counts[top] * _RUN_ALPHA / seen)
    if top == bucket:
        return at_top
    if top > 0:
        before = -math.log10(counts[top - 1] * _RUN_ALPHA / seen)
    else:
        before = -math.log10(_share(r.flatline_p))
    went_on = (counts[top + 1] + 0.5) / (counts[top] + 1.0)
    slope = max(at_top - before, -math.log10(min(1.0, went_on)))
    return at_top + (bucket - top) * slope


@njit(cache=True)
def score_and_learn(r, still: bool) -> float:
    """The score of the point (`still`: it did not move, as `FlatlineDetector._still` judges),
    then learn it."""
    run = r.flatline_run + 1 if r.flatline_n > 0 and still else 0
    L = 0.0
    if run >= _MIN_RUN:
        chain = -math.log10(_share(r.flatline_p)) - (run - 1) * math.log10(_share(r.flatline_c))
        bucket = np.searchsorted(_BUCKETS, run, side="right") - 1
        L = min(chain, _shown(r, bucket, run))
    if r.flatline_n > 0:
        repeat = 1.0 if run > 0 else 0.0
        if run <= _LEARN_RUN:
            a = max(_ALPHA, 1.0 / (r.flatline_n + _PRIOR))
            r.flatline_p += a * (repeat - r.flatline_p)
        if 0 < r.flatline_run < _LEARN_RUN:
            a = max(_ALPHA, 1.0 / (r.flatline_m + _PRIOR))
            r.flatline_c += a * (repeat - r.flatline_c)
            r.flatline_m += 1
        r.flatline_run = run
        for b in range(_N_BUCKETS):
            if _BUCKETS[b] == run:
                decay = _decay(r.flatline_n - r.flatline_at[b])
                r.flatline_reached[b] = r.flatline_reached[b] * decay + _RUN_ALPHA
                r.flatline_at[b] = r.flatline_n
    r.flatline_n += 1
    return l_to_score(L)


@njit(cache=True)
def still(value: float, lag1: float, spread: float, has_history: bool, resolution: float):
    """`FlatlineDetector._still`: the value moved less than the series can resolve."""
    scale = spread if has_history else 0.0
    if resolution > 0:
        scale = min(scale, 0.5 * resolution / _STILL_SHARE)
    return abs(value - lag1) <= _STILL_SHARE * scale


@njit(cache=True)
def step(r, x, scores, features, work) -> None:
    """The contract's step (`contract`): the stuck-value score of the point, then learn it."""
    moved_little = still(x[c.VALUE], x[c.LAG1], x[c.SPREAD], x[c.HELD] > 0, x[c.RESOLUTION])
    scores[0] = score_and_learn(r, moved_little)
    features[0] = _STUCK
