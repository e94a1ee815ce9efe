"""Daily and weekly profiles, compiled: `stream.seasonality` on a series' row.

The same profiles, the same choice between them and the same component, step for step: the
daily profile's 24 slots and the weekly one's 168 share one array (`season_m`, `season_w`; the
weekly profile's slots start at `OFFSET[1]`), and each per-profile number is a pair indexed by
the profile (0 daily, 1 weekly). A timestamp is epoch seconds (UTC); its position in the day or
week is read, as `seasonality.position` reads it, to the whole second.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream import seasonality as py

SLOTS = (py.PROFILES["daily"], py.PROFILES["weekly"])
OFFSET = (0, SLOTS[0])
_TOTAL = SLOTS[0] + SLOTS[1]
_NONE = -1

FIELDS = [
    ("season_m", "f8", (_TOTAL,)),
    ("season_w", "u2", (_TOTAL,)),
    ("season_s", "f8", (2,)),
    ("season_ready", "u1", (2,)),  # 0 or 1: numba has no nested bool arrays
    ("season_res_s", "f8", (2,)),
    ("season_res_l", "f8", (2,)),
    ("season_tot", "f8", (2,)),
    ("season_t", "i8", (2,)),
    ("season_interval", "f8", ()),
    ("season_last", "f8", ()),
    ("season_active", "i8", ()),
    ("season_previous", "i8", ()),
    ("season_mix", "f8", ()),
]
INITIAL = {
    "season_last": np.nan,
    "season_active": _NONE,
    "season_previous": _NONE,
    "season_mix": 1.0,
}

_VISITS = py.VISITS_REMEMBERED
_MIN_VISITS = py.MIN_VISITS
_VARIANCE_ALPHA = py.VARIANCE_ALPHA
_MAX_SHARE = py.MAX_RESIDUAL_SHARE
_SWITCH = py.SWITCH_MARGIN
_PHASE_IN = py.PHASE_IN_HOURS
_MIN_TESTED = py.MIN_TESTED
_INTERVAL_ALPHA = py.INTERVAL_ALPHA
_MAX_GAP = py._MAX_GAP
_MAX_COUNT = py._MAX_COUNT
_SLOTS = SLOTS
_OFFSET = OFFSET


@njit(cache=True)
def position(epoch: float, p: int) -> float:
    """Hours since midnight (p 0) or Monday midnight (p 1), read to the whole second."""
    seconds = int(math.floor(epoch))
    day = seconds // 86_400
    of_day = seconds - day * 86_400
    hours = of_day // 3600 + ((of_day % 3600) // 60) / 60 + (of_day % 60) / 3600
    if p == 0:
        return hours
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    return weekday * 24 + hours


@njit(cache=True)
def _points_per_hour(r) -> float:
    interval = r.season_interval
    return max(1.0, 3600.0 / interval) if interval > 0 else 1.0


@njit(cache=True)
def _ready(r, p: int) -> bool:
    """Whether every slot of profile `p` has had its visits (`seasonality._ready`), kept once
    true. Asked every point while it is not, so it stops at the first slot short of them."""
    if not r.season_ready[p]:
        needed = _MIN_VISITS * _points_per_hour(r)
        for k in range(_OFFSET[p], _OFFSET[p] + _SLOTS[p]):
            if r.season_w[k] < needed:
                return False
        r.season_ready[p] = 1
    return True


@njit(cache=True)
def _share(r, p: int) -> float:
    """The profile's residual share, NaN where `seasonality._share` says None."""
    if r.season_t[p] < _MIN_TESTED or r.season_tot[p] <= 0:
        return np.nan
    return min(r.season_res_s[p], r.season_res_l[p]) / r.season_tot[p]


@njit(cache=True)
def _reading(r, p: int, pos: float, linear: bool) -> float:
    slots, base = _SLOTS[p], _OFFSET[p]
    if not linear:
        return r.season_m[base + int(pos) % slots]
    x = pos - 0.5
    lo = int(math.floor(x))
    frac = x - lo
    return (1 - frac) * r.season_m[base + lo % slots] + frac * r.season_m[base + (lo + 1) % slots]


@njit(cache=True)
def _component(r, p: int, epoch: float) -> float:
    if p == _NONE:
        return 0.0
    linear = r.season_res_l[p] <= r.season_res_s[p]
    return _reading(r, p, position(epoch, p), linear) - r.season_s[p] / _SLOTS[p]


@njit(cache=True)
def component(r, epoch: float) -> float:
    """`seasonality.seasonal_component`: the pattern's part of the value at `epoch`."""
    mix = r.season_mix
    now = _component(r, r.season_active, epoch)
    if mix >= 1.0:
        return now
    return mix * now + (1 - mix) * _component(r, r.season_previous, epoch)


@njit(cache=True)
def _choose(r) -> None:
    current = r.season_active
    before = current
    share0, share1 = _share(r, 0), _share(r, 1)
    best = _NONE
    best_share = np.inf
    # the first of equal shares wins, as `min` does in the Python path
    if not np.isnan(share0) and share0 < _MAX_SHARE:
        best, best_share = 0, share0
    if not np.isnan(share1) and share1 < _MAX_SHARE and share1 < best_share:
        best, best_share = 1, share1
    current_share = np.nan if current == _NONE else (share0 if current == 0 else share1)
    if current == _NONE or np.isnan(current_share) or current_share >= _MAX_SHARE:
        r.season_active = best
    elif best != _NONE and best != current and best_share < _SWITCH * current_share:
        r.season_active = best
    if r.season_active != before:
        r.season_previous = before
        r.season_mix = 0.0
    else:
        r.season_mix = min(1.0, r.season_mix + 1.0 / (_PHASE_IN * _points_per_hour(r)))


@njit(cache=True)
def learn(r, epoch: float, value: float) -> None:
    """`seasonality.learn`: fold `value` at `epoch` into both profiles and the interval."""
    last = r.season_last
    if not np.isnan(last) and epoch > last:
        gap = min(epoch - last, _MAX_GAP)
        if r.season_interval == 0:
            r.season_interval = gap
        else:
            r.season_interval = r.season_interval + _INTERVAL_ALPHA * (gap - r.season_interval)
    r.season_last = epoch
    # Python's round() rounds half to even, as rint does
    cap = min(int(np.rint(_VISITS * _points_per_hour(r))), _MAX_COUNT)
    for p in range(2):
        pos = position(epoch, p)
        slots, base = _SLOTS[p], _OFFSET[p]
        if _ready(r, p):
            level = r.season_s[p] / slots
            res_s = value - _reading(r, p, pos, False)
            res_l = value - _reading(r, p, pos, True)
            a = max(_VARIANCE_ALPHA, 1.0 / (r.season_t[p] + 1))
            r.season_res_s[p] = (1 - a) * r.season_res_s[p] + a * res_s * res_s
            r.season_res_l[p] = (1 - a) * r.season_res_l[p] + a * res_l * res_l
            r.season_tot[p] = (1 - a) * r.season_tot[p] + a * (value - level) ** 2
            r.season_t[p] += 1
        k = base + int(pos) % slots
        total = min(int(r.season_w[k]) + 1, cap)
        step = (value - r.season_m[k]) / total
        r.season_m[k] += step
        r.season_s[p] += step
        r.season_w[k] = total
    _choose(r)
