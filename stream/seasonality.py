"""Daily and weekly patterns, learnt per series and taken out before detection.

A series keeps a profile of each hour of the day (24 slots) and of each hour of the week (168
slots). Once a profile has seen every slot on a few days (weeks) and explains a real share of the
series' variance, its *seasonal component* (the profile at the point's time minus the profile's
mean) is subtracted from each value: the detectors then see the level and the noise, not the
business-hours peak. A peak that comes every weekday at 09:00 stops alarming after a few days
(the daily profile) or a week (the weekly one); a peak at an hour when the profile expects none
still does.

Correct at any sampling interval:

- A slot's mean averages *whole visits*: its memory is `VISITS_REMEMBERED` days (weeks) whatever
  the number of points a visit brings (6 at 10-minute data, 360 at 10-second data; the sampling
  interval is learnt from the timestamps). A memory counted in points would, at 1-minute data,
  hold only the last minutes of each hour, and the component would jump at every hour boundary.
- Each profile (the plain average of each hour) is read two ways, and the series uses the one
  that predicts it better (EW residual variance, measured before learning): *steps*, the
  slot's mean for the whole hour (right for a series that changes on the hour: a batch job,
  business hours), or *linear*, the means placed at the slots' centres and joined by straight
  lines (right for a smooth daily curve, where steps would add a jump the data does not have at
  every hour boundary).

State: per profile the slot means (float64) and the values each holds (uint16, capped at the
memory), and a few numbers: about 3.2 KB as base64 JSON per series.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

#: visits (days for the daily profile, weeks for the weekly) a slot's mean remembers
VISITS_REMEMBERED = 10.0
#: visits every slot needs before the profile is trusted
MIN_VISITS = 2.0
# Weight of a new value in a profile's residual and total variances.
VARIANCE_ALPHA = 0.01
# A profile is used when its residual variance is at most this share of the variance around its
# level: it must explain at least 30% of what moves the series.
MAX_RESIDUAL_SHARE = 0.7
# Another profile replaces the active one only when its residual share is lower by this factor,
# so the component does not flip between two nearly equal profiles.
SWITCH_MARGIN = 0.8
# Hours over which a profile that comes into use (or replaces another) is phased in: switched on
# at once, the whole component would be a step the data does not have.
PHASE_IN_HOURS = 6.0
# Values a ready profile must have been tested on before it is trusted.
MIN_TESTED = 50
# Weight of a new gap between timestamps in the learnt sampling interval; gaps over a day count
# as a day (an outage is no change of interval).
INTERVAL_ALPHA = 0.05
_MAX_GAP = 86_400.0

# A slot's count is a uint16: 10 visits of 1-second data (36,000) fit; faster data remembers
# fewer visits.
_MAX_COUNT = 65_535

PROFILES = {"daily": 24, "weekly": 168}


def position(ts: datetime, period: str) -> float:
    """Hours since the period's start (midnight; Monday midnight for the week).

    >>> from datetime import datetime
    >>> tuesday = datetime(2026, 1, 6, 9, 30)
    >>> position(tuesday, "daily"), position(tuesday, "weekly")
    (9.5, 33.5)
    """
    hours = ts.hour + ts.minute / 60 + ts.second / 3600
    return hours if period == "daily" else ts.weekday() * 24 + hours


def _linear(pos: float, slots: int) -> tuple[int, int, float]:
    """The two slots whose centres enclose `pos` and the weight of the second."""
    x = pos - 0.5
    lo = math.floor(x)
    return lo % slots, (lo + 1) % slots, x - lo


def new_state() -> dict:
    """Per profile: slot means `m`, the values each averages `w` (capped at the memory), the sum
    of the means `s`, whether every slot has enough visits (`ready`, never unset), the EW
    residual variances of the step and linear readings (`res_s`, `res_l`) and of the values
    around the level (`tot`), over `t` values; `interval`: the learnt sampling interval in
    seconds, `last`: the last timestamp (epoch seconds); `active`: the profile in use,
    `previous`: the one before it, `mix`: the active one's share of the component while it is
    phased in."""
    profiles = {
        period: {
            "m": np.zeros(slots),
            "w": np.zeros(slots, dtype=np.uint16),
            "s": 0.0,
            "ready": False,
            "res_s": 0.0,
            "res_l": 0.0,
            "tot": 0.0,
            "t": 0,
        }
        for period, slots in PROFILES.items()
    }
    return {**profiles, "interval": 0.0, "last": None, "active": None, "previous": None, "mix": 1.0}


def points_per_hour(state: dict) -> float:
    """Points a slot receives on one visit (at least 1)."""
    return max(1.0, 3600.0 / state["interval"]) if state["interval"] > 0 else 1.0


def _ready(state: dict, profile: dict) -> bool:
    if not profile["ready"] and profile["w"].min() >= MIN_VISITS * points_per_hour(state):
        profile["ready"] = True
    return profile["ready"]


def _share(profile: dict) -> float | None:
    if profile["t"] < MIN_TESTED or profile["tot"] <= 0:
        return None
    return min(profile["res_s"], profile["res_l"]) / profile["tot"]


def active_profile(state: dict) -> str | None:
    """The profile in use: the one that explains most of the variance, if one explains enough."""
    return state["active"]


def _choose(state: dict) -> None:
    current = state["active"]
    before = current
    shares = {p: _share(state[p]) for p in PROFILES}
    best = min(
        (p for p, s in shares.items() if s is not None and s < MAX_RESIDUAL_SHARE),
        key=lambda p: shares[p],
        default=None,
    )
    if current is None or shares[current] is None or shares[current] >= MAX_RESIDUAL_SHARE:
        state["active"] = best
    elif best is not None and best != current and shares[best] < SWITCH_MARGIN * shares[current]:
        state["active"] = best
    if state["active"] != before:
        state["previous"], state["mix"] = before, 0.0
    else:
        state["mix"] = min(1.0, state["mix"] + 1.0 / (PHASE_IN_HOURS * points_per_hour(state)))


def _reading(profile: dict, pos: float, linear: bool) -> float:
    means = profile["m"]
    slots = len(means)
    if not linear:
        return float(means[int(pos) % slots])
    lo, hi, frac = _linear(pos, slots)
    return float((1 - frac) * means[lo] + frac * means[hi])


def _uses_linear(profile: dict) -> bool:
    return profile["res_l"] <= profile["res_s"]


def _component(state: dict, period: str | None, ts: datetime) -> float:
    if period is None:
        return 0.0
    profile = state[period]
    pos = position(ts, period)
    return _reading(profile, pos, _uses_linear(profile)) - profile["s"] / len(profile["m"])


def seasonal_component(state: dict, ts: datetime) -> float:
    """What the daily/weekly pattern adds at `ts`: the profile's reading minus its mean (0 while
    no profile is trusted), the profile in use phased in over `PHASE_IN_HOURS`."""
    mix = state["mix"]
    now = _component(state, state["active"], ts)
    return now if mix >= 1.0 else mix * now + (1 - mix) * _component(state, state["previous"], ts)


def learn(state: dict, ts: datetime, value: float) -> None:
    """Fold `value` at `ts` into both profiles and the sampling interval."""
    now = ts.timestamp()
    if state["last"] is not None and now > state["last"]:
        gap = min(now - state["last"], _MAX_GAP)
        a = max(INTERVAL_ALPHA, 0.5) if state["interval"] == 0 else INTERVAL_ALPHA
        state["interval"] = (
            gap if state["interval"] == 0 else state["interval"] + a * (gap - state["interval"])
        )
    state["last"] = now
    cap = min(round(VISITS_REMEMBERED * points_per_hour(state)), _MAX_COUNT)
    for period in PROFILES:
        profile = state[period]
        pos = position(ts, period)
        means, weights = profile["m"], profile["w"]
        if _ready(state, profile):
            level = profile["s"] / len(means)
            res_s = value - _reading(profile, pos, linear=False)
            res_l = value - _reading(profile, pos, linear=True)
            a = max(VARIANCE_ALPHA, 1.0 / (profile["t"] + 1))
            profile["res_s"] = (1 - a) * profile["res_s"] + a * res_s * res_s
            profile["res_l"] = (1 - a) * profile["res_l"] + a * res_l * res_l
            profile["tot"] = (1 - a) * profile["tot"] + a * (value - level) ** 2
            profile["t"] += 1
        # a slot's mean is the plain average of its hour; the linear reading places it at the
        # hour's centre, where a smooth curve's hour average lies
        slot = int(pos) % len(means)
        total = min(int(weights[slot]) + 1, cap)
        step = (value - float(means[slot])) / total
        means[slot] += step
        profile["s"] += step
        weights[slot] = total
    _choose(state)
