"""Per-channel tail calibration, compiled: `stream.tail_calibration` on a series' row.

One tail a channel of evidence (`CHANNELS`, in the order the scorer first meets them), each the
numbers of `tail_calibration.new_tail` in a field of its own, indexed by the channel, and whether
the channel has a tail yet (persistence has none before the series' sixth point).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream import scoring as scoring_py
from stream import tail_calibration as py

#: the channels of evidence, in the order `Scorer` creates their tails
CHANNELS = ("point", "level", "shape", "novelty", scoring_py.PERSISTENCE)
_N = len(CHANNELS)
#: channels whose tail learns each run once, by its peak (`scoring.RUN_ROLES`)
RUN = np.array([c in scoring_py.RUN_ROLES for c in CHANNELS])

FIELDS = [
    ("tail_u", "f8", (_N,)),
    ("tail_m", "f8", (_N,)),
    ("tail_q", "f8", (_N,)),
    ("tail_n", "i8", (_N,)),
    ("tail_k", "i8", (_N,)),
    ("tail_quiet", "i8", (_N,)),
    ("tail_cmax", "f8", (_N,)),
    ("tail_has", "u1", (_N,)),
    # the fit's shape and scale, a function of m and q kept until they move (about 1 point in
    # 100), and whether it is kept; not part of the Python state
    ("tail_xi", "f8", (_N,)),
    ("tail_sigma", "f8", (_N,)),
    ("tail_fitted", "u1", (_N,)),
]
INITIAL = {
    "tail_u": py._PRIOR_U,
    "tail_m": py._PRIOR_MEDIAN,
    "tail_q": py._PRIOR_Q75,
    "tail_quiet": py.EPISODE_GAP,
}

_TAIL_SHARE = py.TAIL_SHARE
_L_TAIL = py._L_TAIL
_LN2, _LN10 = py._LN2, py._LN10
_STEP = py.STEP
_GAP = py.EPISODE_GAP
_MAX_SHAPE = py.MAX_SHAPE


@njit(cache=True)
def _shape_scale(r, c: int):
    if r.tail_fitted[c]:
        return r.tail_xi[c], r.tail_sigma[c]
    m = r.tail_m[c]
    xi = min(_MAX_SHAPE, max(0.0, math.log2(max(r.tail_q[c] / m - 1.0, 1.0))))
    sigma = m / _LN2 if xi < 1e-6 else m * xi / (2.0**xi - 1.0)
    r.tail_xi[c], r.tail_sigma[c], r.tail_fitted[c] = xi, sigma, 1
    return xi, sigma


@njit(cache=True)
def calibrate(r, c: int, L: float) -> float:
    """`tail_calibration.calibrate`: the series' own -log10 probability of evidence L."""
    u = r.tail_u[c]
    if L <= u:
        own = L * _L_TAIL / u
    else:
        xi, sigma = _shape_scale(r, c)
        if xi < 1e-6:
            own = _L_TAIL + (L - u) / (sigma * _LN10)
        else:
            own = _L_TAIL + math.log10(1.0 + xi * (L - u) / sigma) / xi
    return min(L, own)


@njit(cache=True)
def uncalibrate(r, c: int, L_cal: float) -> float:
    """`tail_calibration.uncalibrate`: the least raw evidence that calibrates to `L_cal`."""
    u = r.tail_u[c]
    if L_cal <= _L_TAIL:
        inverse = L_cal * u / _L_TAIL
    else:
        xi, sigma = _shape_scale(r, c)
        excess = L_cal - _L_TAIL
        if xi < 1e-6:
            inverse = u + excess * sigma * _LN10
        else:
            inverse = u + sigma * (10.0 ** min(300.0, excess * xi) - 1.0) / xi
    return max(L_cal, inverse)


@njit(cache=True)
def _step(count: int) -> float:
    return max(_STEP, 1.0 / (10.0 + count / 5.0))


# once a tail has seen enough points its step is the smallest, and the 99th percentile moves by
# one of two factors: computed once, by the same expression as each point's
_UP_AT_SMALLEST = math.exp(_STEP * (1 - _TAIL_SHARE))
_DOWN_AT_SMALLEST = math.exp(_STEP * -_TAIL_SHARE)


@njit(cache=True)
def learn(r, c: int, L: float) -> None:
    """`tail_calibration.learn`."""
    u = r.tail_u[c]
    above = L > u
    step = _step(r.tail_n[c] // 20)
    if step == _STEP:
        factor = _UP_AT_SMALLEST if above else _DOWN_AT_SMALLEST
    else:
        factor = math.exp(step * ((1 - _TAIL_SHARE) if above else -_TAIL_SHARE))
    r.tail_u[c] = max(0.05, u * factor)
    r.tail_n[c] += 1
    if above:
        excess, step = L - u, _step(r.tail_k[c])
        m = r.tail_m[c]
        m = max(0.01, m * math.exp(step * (0.5 if excess > m else -0.5)))
        r.tail_m[c] = m
        q = r.tail_q[c]
        r.tail_q[c] = max(m, q * math.exp(step * (0.75 if excess > q else -0.25)))
        r.tail_k[c] += 1
        r.tail_fitted[c] = 0


@njit(cache=True)
def observe(r, c: int, L: float, alarming: bool) -> None:
    """`tail_calibration.observe`: an episode of alarms teaches the tail once, at its onset."""
    quiet = r.tail_quiet[c]
    if not alarming or quiet >= _GAP:
        learn(r, c, L)
    r.tail_quiet[c] = 0 if alarming else min(_GAP, quiet + 1)


@njit(cache=True)
def observe_run(r, c: int, L: float) -> None:
    """`tail_calibration.observe_run`: a run teaches the tail once, by its peak, when it ends."""
    cmax = r.tail_cmax[c]
    if L > r.tail_u[c]:
        r.tail_cmax[c] = max(cmax, L)
        r.tail_quiet[c] = 0
        return
    if cmax > 0:
        r.tail_quiet[c] += 1
        if r.tail_quiet[c] >= _GAP:
            r.tail_cmax[c] = 0.0
            learn(r, c, cmax)
    learn(r, c, L)
