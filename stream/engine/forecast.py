"""The online forecaster's learning, compiled: `stream.forecast.learn` on a series' row.

Per candidate its level and trend; per rung of horizons its checks, squared and absolute errors
(per candidate), the count at which it sets a forecast aside next, and the forecasts set aside
(`SLOTS` a rung: when each is due, -1 for a free slot, and each candidate's deseasonalised
forecast); the points learnt, the next count with something to do, and the seasonal profile
the checks were made under (`PROFILE_*` codes). Reading a forecast stays the Python module's
(`forecast.predict`), on a state `convert` builds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from stream import forecast as py

_ALPHAS = np.array([a for a, _ in py.CANDIDATES])
_SHARES = np.array([s for _, s in py.CANDIDATES])
_K = len(py.CANDIDATES)
_HORIZONS = np.array(py.HORIZONS, dtype=np.int64)
_R = len(py.HORIZONS)
_SLOTS = py.SLOTS
_REMEMBERED = py.CHECKS_REMEMBERED
#: the seasonal profile a forecast's checks were made under: none yet, none, daily, weekly, or
#: one phasing in (`forecast._profile`)
PROFILE_UNSET, PROFILE_NONE, PROFILE_DAILY, PROFILE_WEEKLY, PROFILE_PHASING = -2, -1, 0, 1, 2

FIELDS = [
    ("forecast_profile", "i8", ()),
    ("forecast_wake", "i8", ()),
    ("forecast_level", "f8", (_K,)),
    ("forecast_trend", "f8", (_K,)),
    ("forecast_n", "i8", ()),
    ("forecast_checks", "i8", (_R,)),
    ("forecast_mse", "f8", (_R, _K)),
    ("forecast_mae", "f8", (_R, _K)),
    ("forecast_next", "i8", (_R,)),
    ("forecast_due", "i8", (_R, _SLOTS)),
    ("forecast_base", "f8", (_R, _SLOTS, _K)),
]
INITIAL = {"forecast_profile": PROFILE_UNSET, "forecast_due": -1}


@njit(cache=True)
def _damped_sum(phi: float, h: int) -> float:
    return float(h) if phi >= 1.0 else phi * (1.0 - phi ** float(h)) / (1.0 - phi)


@njit(cache=True)
def _base(r, k: int, h: int) -> float:
    if _SHARES[k] == 0.0:
        return r.forecast_level[k]
    phi = 1.0 - _ALPHAS[k] / 10
    return r.forecast_level[k] + _damped_sum(phi, h) * r.forecast_trend[k]


@njit(cache=True)
def _restart(r, signal: float, profile: int) -> None:
    r.forecast_profile = profile
    r.forecast_wake = 0
    r.forecast_level[:] = signal
    r.forecast_trend[:] = 0.0
    r.forecast_checks[:] = 0
    r.forecast_mse[:, :] = 0.0
    r.forecast_mae[:, :] = 0.0
    r.forecast_next[:] = 0
    r.forecast_due[:, :] = -1
    r.forecast_base[:, :, :] = 0.0


@njit(cache=True)
def _check(r, rung: int, forecasts, value: float, component: float) -> None:
    checks = r.forecast_checks[rung] + 1
    w = max(1.0 / checks, 1.0 / _REMEMBERED)
    for k in range(_K):
        e = value - (forecasts[k] + component)
        r.forecast_mse[rung, k] += w * (e * e - r.forecast_mse[rung, k])
        r.forecast_mae[rung, k] += w * (abs(e) - r.forecast_mae[rung, k])
    r.forecast_checks[rung] = checks


@njit(cache=True)
def learn(r, value: float, component: float, profile: int, ahead) -> None:
    """`forecast.learn`: check the forecasts due now against `value`, then learn it;
    `profile`: the code of the seasonal profile in use (`season.profile_code`), `ahead`: room
    for one forecast a candidate."""
    signal = value - component
    n = r.forecast_n
    if n > 0 and profile != r.forecast_profile:
        _restart(r, signal, profile)
    busy = n >= r.forecast_wake
    if n == 0:
        r.forecast_level[:] = signal
        r.forecast_profile = profile
    else:
        for k in range(_K):
            ahead[k] = _base(r, k, 1)
        _check(r, 0, ahead, value, component)
        if busy:
            for rung in range(1, _R):
                for s in range(_SLOTS):
                    if r.forecast_due[rung, s] != n:
                        continue
                    _check(r, rung, r.forecast_base[rung, s], value, component)
                    r.forecast_due[rung, s] = -1
        for k in range(_K):
            alpha, share = _ALPHAS[k], _SHARES[k]
            level = r.forecast_level[k]
            if share == 0.0:
                r.forecast_level[k] = level + alpha * (signal - level)
                continue
            phi, trend = 1.0 - alpha / 10, r.forecast_trend[k]
            e = signal - (level + phi * trend)
            r.forecast_level[k] = level + phi * trend + alpha * e
            r.forecast_trend[k] = phi * trend + alpha * share * e
    n += 1
    r.forecast_n = n
    if not busy:
        return
    for rung in range(1, _R):
        h = _HORIZONS[rung]
        if n < r.forecast_next[rung]:
            continue
        free = -1
        for s in range(_SLOTS):
            if r.forecast_due[rung, s] < 0:
                free = s
                break
        if free < 0:
            continue
        r.forecast_due[rung, free] = n + h
        for k in range(_K):
            r.forecast_base[rung, free, k] = _base(r, k, h)
        r.forecast_next[rung] = n + max(1, h // _SLOTS)
    wake = np.iinfo(np.int64).max
    for rung in range(_R):
        for s in range(_SLOTS):
            if r.forecast_due[rung, s] >= 0:
                wake = min(wake, r.forecast_due[rung, s])
    for rung in range(1, _R):
        wake = min(wake, r.forecast_next[rung] - 1)
    r.forecast_wake = wake
