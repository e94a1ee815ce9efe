"""The EW z-score detectors, compiled: `stream.detectors.zscore` on a series' row.

`zscore` (the signal), `shift` (the median of the last `SHIFT_SPAN` signals) and `volatility`
(the log of the median absolute change over the last `VOLATILITY_SPAN` steps, upwards only),
each with its EW mean and variance; the volatility detector also keeps the series' usual
magnitude (NaN until its first point).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream.detectors import zscore as py
from stream.engine import contract as c
from stream.engine.scale import z_to_score
from stream.engine.window import ew_update, insert_sorted, spread_floor

ALPHA = py.DEFAULT_ALPHA
SHIFT_SPAN = py.LevelShiftDetector().span
VOLATILITY_SPAN = py.VolatilityDetector().span
_FLAT_SHARE = py.VolatilityDetector.FLAT_SHARE
_VOLATILITY_MIN_STD = py.VolatilityDetector.min_std

FIELDS = [
    (f"{name}_{part}", dtype, ())
    for name in ("zscore", "shift", "volatility")
    for part, dtype in (("n", "i8"), ("mean", "f8"), ("var", "f8"))
] + [("volatility_magnitude", "f8", ())]
INITIAL = {"volatility_magnitude": np.nan}
#: the columns its step writes (`contract`)
COLUMNS = (py.ZScoreDetector, py.LevelShiftDetector, py.VolatilityDetector)
_VALUE, _LEVEL, _VOLATILITY = c.FEATURE["value"], c.FEATURE["level"], c.FEATURE["volatility"]


def work_size(window_size: int) -> int:
    """Scratch words a point needs: the spans the shift and volatility measures read."""
    return max(SHIFT_SPAN, VOLATILITY_SPAN)


@njit(cache=True)
def _z(n: int, mean: float, var: float, m: float) -> float:
    if n < 2:
        return 0.0
    return (m - mean) / spread_floor(mean, math.sqrt(var))


@njit(cache=True)
def _median(ordered, n: int) -> float:
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@njit(cache=True)
def _shift_measure(r, signal: float, scratch) -> float:
    """The median of the last `SHIFT_SPAN` signals, the newest included (`scratch`: room for
    them)."""
    held = min(SHIFT_SPAN - 1, r.hist_n)
    start = r.hist_n - held
    for k in range(held):
        insert_sorted(scratch, k, r.hist[start + k])
    insert_sorted(scratch, held, signal)
    return _median(scratch, held + 1)


@njit(cache=True)
def _volatility_measure(r, signal: float, scratch) -> float:
    held = min(VOLATILITY_SPAN, r.hist_n)
    start = r.hist_n - held
    for k in range(held):
        after = r.hist[start + k + 1] if k + 1 < held else signal
        insert_sorted(scratch, k, abs(after - r.hist[start + k]))
    typical = _median(scratch, held) if held > 0 else 0.0
    magnitude = abs(signal) if np.isnan(r.volatility_magnitude) else r.volatility_magnitude
    return math.log(typical + _FLAT_SHARE * magnitude + 1e-9)


@njit(cache=True)
def score_and_learn(r, signal: float, out, scratch) -> None:
    """The three scores of `signal` into `out[0:3]` (zscore, shift, volatility), then learn it;
    `scratch`: room for `VOLATILITY_SPAN` numbers."""
    out[0] = z_to_score(_z(r.zscore_n, r.zscore_mean, r.zscore_var, signal))
    r.zscore_n, r.zscore_mean, r.zscore_var = ew_update(
        r.zscore_n, r.zscore_mean, r.zscore_var, signal, ALPHA
    )

    level = _shift_measure(r, signal, scratch)
    out[1] = z_to_score(_z(r.shift_n, r.shift_mean, r.shift_var, level))
    r.shift_n, r.shift_mean, r.shift_var = ew_update(
        r.shift_n, r.shift_mean, r.shift_var, level, ALPHA
    )

    jitter = _volatility_measure(r, signal, scratch)
    z = 0.0
    if r.volatility_n >= 2:
        std = max(math.sqrt(r.volatility_var), _VOLATILITY_MIN_STD)
        z = max(0.0, (jitter - r.volatility_mean) / std)
    out[2] = z_to_score(z)
    r.volatility_n, r.volatility_mean, r.volatility_var = ew_update(
        r.volatility_n, r.volatility_mean, r.volatility_var, jitter, ALPHA
    )
    if np.isnan(r.volatility_magnitude):
        r.volatility_magnitude = abs(signal)
    else:
        a = max(ALPHA, 1.0 / r.volatility_n)
        r.volatility_magnitude += a * (abs(signal) - r.volatility_magnitude)


@njit(cache=True)
def step(r, x, scores, features, work) -> None:
    """The contract's step (`contract`): zscore, shift and volatility of the point's signal,
    after stating what the z-score expects of it (it is the ensemble's expecting point
    detector), then learn it."""
    if x[c.EXPECTS] < 0:
        x[c.EXPECTS] = 1.0 if r.zscore_n >= 2 else 0.0
        x[c.EXPECTED_MEAN] = r.zscore_mean
        x[c.EXPECTED_STD] = spread_floor(r.zscore_mean, math.sqrt(r.zscore_var))
    score_and_learn(r, x[c.SIGNAL], scores, work)
    features[0] = _VALUE
    features[1] = _LEVEL
    features[2] = _VOLATILITY
