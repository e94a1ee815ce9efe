"""The capacity trend line's learning, compiled: `stream.capacity.learn` on a series' row.

The weighted sums of the line's fit (time in hours relative to the last point) and the first and
last point's time (NaN until the first point). Fitting and reading the line stay the Python
module's, on a state `convert` builds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
