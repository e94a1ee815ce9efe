"""The capacity trend line's learning, compiled: `stream.capacity.learn` on a series' row.

The weighted sums of the line's fit (time in hours relative to the last point) and the first and
last point's time (NaN until the first point). `outlooks` reads a bounded series' line and
seasonal profile against its limit as `capacity.outlook` does, to the bit, but for the search of
a crossing ahead (the Python outlook's, on a state `convert` builds).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream import capacity as py
from stream.engine import season

SUMS = ("s0", "st", "stt", "sy", "sty", "syy", "q0", "qt", "qtt")
FIELDS = [("trend_last", "f8", ()), ("trend_first", "f8", ())] + [
    (f"trend_{key}", "f8", ()) for key in SUMS
]
INITIAL = {"trend_last": np.nan, "trend_first": np.nan}


@njit(cache=True)
def learn(r, epoch: float, signal: float, half_life_hours: float) -> None:
    """`capacity.learn`: older points' weights decay by the time passed, the origin moves to
    `epoch`, and the signal is folded in."""
    if not np.isnan(r.trend_last):
        dt = max(0.0, (epoch - r.trend_last) / 3600.0)
        s0, st, q0, qt = r.trend_s0, r.trend_st, r.trend_q0, r.trend_qt
        r.trend_stt += -2 * dt * st + dt * dt * s0
        r.trend_st = st - dt * s0
        r.trend_sty -= dt * r.trend_sy
        r.trend_qtt += -2 * dt * qt + dt * dt * q0
        r.trend_qt = qt - dt * q0
        d = 0.5 ** (dt / half_life_hours)
        r.trend_s0 *= d
        r.trend_st *= d
        r.trend_stt *= d
        r.trend_sy *= d
        r.trend_sty *= d
        r.trend_syy *= d
        r.trend_q0 *= d * d
        r.trend_qt *= d * d
        r.trend_qtt *= d * d
    r.trend_last = epoch
    if np.isnan(r.trend_first):
        r.trend_first = epoch
    r.trend_s0 += 1.0
    r.trend_sy += signal
    r.trend_syy += signal * signal
    r.trend_q0 += 1.0


# The outlook of a bounded series against its limit (`stream.capacity.outlook`), on its row: the
# columns `outlooks` writes, a row a series
(HAS_LINE, LEVEL, SLOPE_PER_DAY, CROSSING_NOW, PROBABILITY, SEARCH) = range(6)
OUTLOOK_COLUMNS = 6
_MIN_EFFECTIVE_POINTS = py.MIN_EFFECTIVE_POINTS
_MIN_SPAN_HOURS = py.MIN_SPAN_HOURS
_SQRT2 = math.sqrt(2.0)
#: numpy's pairwise summation: blocks of this many are summed by eight running sums
_PAIRWISE_BLOCK = 128


@njit(cache=True)
def _pairwise_sum(a, lo: int, n: int) -> float:
    """numpy's sum of the `n` numbers of `a` from `lo` (its pairwise summation, so `mean` is
    numpy's to the bit)."""
    if n < 8:
        total = 0.0
        for k in range(n):
            total += a[lo + k]
        return total
    if n <= _PAIRWISE_BLOCK:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        k = 8
        while k < n - n % 8:
            r0 += a[lo + k]
            r1 += a[lo + k + 1]
            r2 += a[lo + k + 2]
            r3 += a[lo + k + 3]
            r4 += a[lo + k + 4]
            r5 += a[lo + k + 5]
            r6 += a[lo + k + 6]
            r7 += a[lo + k + 7]
            k += 8
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while k < n:
            total += a[lo + k]
            k += 1
        return total
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, lo, half) + _pairwise_sum(a, lo + half, n - half)


@njit(cache=True)
def _max(a: float, b: float) -> float:
    """Python's `max(a, b)`: `a` unless `b` is greater (a NaN `b` never is)."""
    return b if b > a else a


@njit(cache=True)
def _peak_component(r) -> float:
    """`capacity._peak_component`: the highest the seasonal component goes."""
    p = r.season_active
    if p < 0:
        return 0.0
    lo, slots = season.OFFSET[p], season.SLOTS[p]
    highest = r.season_m[lo : lo + slots].max()
    return _max(0.0, (highest - _pairwise_sum(r.season_m, lo, slots) / slots) * r.season_mix)


@njit(cache=True)
def outlooks(rows, slots, epochs, limits, horizon: float, lookahead: float, out) -> None:
    """`capacity.outlook` of the row at each of `slots` at its last point (`epochs`) against
    its limit, a crossing looked for up to `lookahead` hours, as columns of `out`: HAS_LINE 0
    where the line is too young (the rest undefined); LEVEL, SLOPE_PER_DAY, PROBABILITY as the
    outlook has them; CROSSING_NOW 1 where the forecast is at the limit now (hours 0). SEARCH 1
    where the line rises towards the limit within `lookahead`: the hours to the crossing are
    searched for by the Python outlook (it steps through future times by `timedelta`), the
    other columns then undefined. Elsewhere no crossing is in sight (hours None)."""
    for i in range(len(slots)):
        r = rows[slots[i]]
        o = out[i]
        o[:] = 0.0
        s0, st, stt = r.trend_s0, r.trend_st, r.trend_stt
        q0 = r.trend_q0
        if q0 <= 0 or s0 * s0 / q0 < _MIN_EFFECTIVE_POINTS:
            continue
        first = r.trend_first
        if np.isnan(first) or (r.trend_last - first) / 3600.0 < _MIN_SPAN_HOURS:
            continue
        det = s0 * stt - st * st
        if det <= 1e-12 * _max(1.0, s0 * stt):
            continue
        sy, sty, syy = r.trend_sy, r.trend_sty, r.trend_syy
        slope = (s0 * sty - st * sy) / det
        level = (sy - slope * st) / s0
        sse = _max(0.0, syy - level * sy - slope * sty)
        n_eff = s0 * s0 / q0
        sigma2 = sse / s0 * n_eff / _max(n_eff - 2.0, 1.0)
        o[HAS_LINE] = 1.0
        peak = _peak_component(r)
        limit = limits[i]
        component = season.component(r, epochs[i])
        if level + slope * 0.0 + component >= limit:
            o[CROSSING_NOW] = 1.0
        elif slope > 0 and _max(0.0, (limit - level - peak) / slope) <= lookahead:
            o[SEARCH] = 1.0
            continue
        u0 = (stt - st * horizon) / det
        u1 = (s0 * horizon - st) / det
        quad = q0 * u0 * u0 + 2 * r.trend_qt * u0 * u1 + r.trend_qtt * u1 * u1
        sd = math.sqrt(_max(sigma2 * quad, 0.0))
        at_horizon = level + slope * horizon + peak - limit
        if o[CROSSING_NOW]:
            probability = 1.0
        elif sd > 0:
            probability = 0.5 * math.erfc(-(at_horizon / sd) / _SQRT2)
        else:
            probability = 1.0 if at_horizon >= 0 else 0.0
        o[LEVEL] = level + component
        o[SLOPE_PER_DAY] = slope * 24.0
        o[PROBABILITY] = probability
