"""Daily and weekly patterns, learnt per series and taken out before detection.

A series keeps the mean of each hour of the day (24 slots) and of each hour of the week (168
slots). Once a profile has seen every slot a few times and explains a real share of the series'
variance, its *seasonal component* (a slot's mean minus the mean of all slots) is subtracted from
each value: the detectors then see the level and the noise, not the business-hours peak. A peak
that comes every weekday at 09:00 stops alarming after a few days (the daily profile) or a week
(the weekly one); a peak at an hour when the profile expects none still does.

State: slot means (float64) and counts (int32) for 24 + 168 slots, numpy arrays, about 2.6 KB as
base64 JSON per series.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

# Observations a slot needs before its mean is trusted.
MIN_SLOT_OBSERVATIONS = 3
# Weight of a new value in its slot's mean once the slot has that many: recent weeks count most.
SLOT_ALPHA = 0.1
# Weight of a new value in a profile's residual and total variances.
VARIANCE_ALPHA = 0.01
# A profile is used when its residual variance is at most this share of the variance around its
# level: it must explain at least 30% of what moves the series.
MAX_RESIDUAL_SHARE = 0.7
# Values a ready profile must have been tested on before it is trusted.
MIN_TESTED = 50

PROFILES = {"daily": 24, "weekly": 168}


def slot_of(ts: datetime, period: str) -> int:
    hour = ts.hour
    return hour if period == "daily" else ts.weekday() * 24 + hour


def new_state() -> dict:
    """Per profile: slot means `m`, slot counts `c`, the sum of the means `s`, whether every slot
    has enough observations (`ready`, never unset), and the EW residual (`res`) and total (`tot`)
    variances measured on values before the profile learnt them, over `t` values."""
    return {
        period: {
            "m": np.zeros(slots),
            "c": np.zeros(slots, dtype=np.int32),
            "s": 0.0,
            "ready": False,
            "res": 0.0,
            "tot": 0.0,
            "t": 0,
        }
        for period, slots in PROFILES.items()
    }


def _ready(profile: dict) -> bool:
    if not profile["ready"] and profile["c"].min() >= MIN_SLOT_OBSERVATIONS:
        profile["ready"] = True
    return profile["ready"]


def active_profile(state: dict) -> str | None:
    """The profile that explains most of the variance, if one explains enough."""
    best, best_share = None, MAX_RESIDUAL_SHARE
    for period in PROFILES:
        profile = state[period]
        if profile["t"] >= MIN_TESTED and profile["tot"] > 0:
            share = profile["res"] / profile["tot"]
            if share < best_share:
                best, best_share = period, share
    return best


def seasonal_component(state: dict, ts: datetime) -> float:
    """What the daily/weekly pattern adds at `ts`: its slot mean minus the mean of all slots
    (0 while no profile is trusted)."""
    period = active_profile(state)
    if period is None:
        return 0.0
    profile = state[period]
    return float(profile["m"][slot_of(ts, period)]) - profile["s"] / len(profile["m"])


def learn(state: dict, ts: datetime, value: float) -> None:
    for period in PROFILES:
        profile = state[period]
        slot = slot_of(ts, period)
        means, counts = profile["m"], profile["c"]
        if _ready(profile):
            residual = value - float(means[slot])
            around_level = value - profile["s"] / len(means)
            a = max(VARIANCE_ALPHA, 1.0 / (profile["t"] + 1))
            profile["res"] = (1 - a) * profile["res"] + a * residual * residual
            profile["tot"] = (1 - a) * profile["tot"] + a * around_level * around_level
            profile["t"] += 1
        count = int(counts[slot])
        step = max(SLOT_ALPHA, 1.0 / (count + 1)) * (value - float(means[slot]))
        means[slot] += step
        profile["s"] += step
        counts[slot] = count + 1
