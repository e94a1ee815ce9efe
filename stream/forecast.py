"""Forecasts of a series, learnt online in the worker: a read costs no fit.

The forecast of a point h steps ahead is the series' seasonal component at that time (the
daily/weekly profile `seasonality` already learns for detection) plus a damped-trend level of
the deseasonalised signal (Holt's method with a damped trend, in error-correction form):

    level' = level + phi * trend + alpha * e          e = signal - (level + phi * trend)
    trend' = phi * trend + alpha * beta * e
    forecast(h) = level + (phi + phi^2 + ... + phi^h) * trend + component(t + h)

No single smoothing suits every series and every horizon (a noisy series wants a long memory, a
wandering one a short one; a forecast an hour ahead wants other weights than one a day ahead), and
an online model cannot refit them. So each series runs a small bank of candidates (`CANDIDATES`,
from fast to slow, with and without a trend), and checks each candidate's forecasts against what
came, at a ladder of horizons (`HORIZONS`, 1 to 4,096 steps): every so often a forecast is set
aside at each rung and compared with the value once it is due. A forecast at horizon h then uses
the candidate with the smallest squared error at the nearest rung, and its 95% and 80% intervals
come from that candidate's own squared and absolute errors there (Gaussian quantiles), so the bands
are as wide as the series' own forecasts have actually missed by, not what a model assumption says.
A rung not checked often enough yet borrows the last checked one, widened as a random walk
(variance in proportion to the horizon), and says so (`calibrated` False).

Pure code: `learn` takes the value and the series' seasonal state; no Kafka, no database. The
state is about 800 bytes.

>>> from datetime import datetime, timedelta, UTC
>>> from stream import seasonality
>>> season, state = seasonality.new_state(), new_state()
>>> t0 = datetime(2026, 3, 2, tzinfo=UTC)
>>> for i in range(500):
...     ts = t0 + timedelta(minutes=5 * i)
...     component = seasonality.seasonal_component(season, ts)
...     learn(state, 10.0 + 0.01 * i, component, season)
...     seasonality.learn(season, ts, 10.0 + 0.01 * i)
>>> [round(p.value, 2) for p in predict(state, season, ts, 300.0, [1, 10])]
[14.99, 15.07]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from stream import seasonality

#: names the forecaster and its settings, in every forecast the API returns
VERSION = "forecast-v1"
#: the candidates: (level weight per point, trend weight relative to the level's; 0: no trend).
#: Three level memories (about 3, 20 and 100 points) without a trend, the best at most horizons
#: on a series without one (a trend learnt from noise runs off), and one with a damped trend
CANDIDATES = ((0.3, 0.0), (0.05, 0.0), (0.01, 0.0), (0.05, 0.1))
#: the rungs of horizons (steps ahead) at which each candidate's forecasts are checked
HORIZONS = (1, 4, 16, 64, 256, 1024, 4096)
#: forecasts set aside per rung at a time: a rung of h steps is checked every h / SLOTS points
SLOTS = 2
#: checks a rung needs before its error variance is trusted
MIN_CHECKS = 5
#: checks a rung's error variance remembers (EW; the first ones weigh as a plain average)
CHECKS_REMEMBERED = 100
#: the candidate used where no rung has been checked enough: the middle memory
DEFAULT_CANDIDATE = 1
Z80 = 1.2815515655446004
Z95 = 1.959963984540054
#: a Gaussian's standard deviation over its mean absolute deviation, sqrt(pi / 2)
MAE_TO_SD = 1.2533141373155001


def _damping(alpha: float) -> float:
    """The trend's damping per point: a candidate's trend fades over about 10 / alpha points, so
    it does not run on for days."""
    return 1.0 - alpha / 10


def damped_sum(phi: float, h: int) -> float:
    """phi + phi^2 + ... + phi^h.

    >>> damped_sum(0.5, 2), damped_sum(1.0, 3)
    (0.75, 3.0)
    """
    return float(h) if phi >= 1.0 else phi * (1.0 - phi**h) / (1.0 - phi)


def new_state() -> dict:
    """`level`/`trend`: per candidate; `n`: signals learnt; per rung `checks` (how many), `mse` and
    `mae` (per candidate, EW squared and absolute error), `next` (the point count at which the
    rung sets a forecast aside next), `due` and `base` (the forecasts set aside: the count at
    which each is due, -1 for a free slot, and each candidate's deseasonalised forecast);
    `profile`: the seasonal profile the checks were made under; `wake`: the next point count
    with a check or a forecast to set aside."""
    k, r = len(CANDIDATES), len(HORIZONS)
    return {
        "profile": None,
        "wake": 0,
        "level": [0.0] * k,
        "trend": [0.0] * k,
        "n": 0,
        "checks": [0] * r,
        "mse": [[0.0] * k for _ in range(r)],
        "mae": [[0.0] * k for _ in range(r)],
        "next": [0] * r,
        "due": [[-1] * SLOTS for _ in range(r)],
        "base": [[[0.0] * k for _ in range(SLOTS)] for _ in range(r)],
    }


def _base(state: dict, candidate: int, h: int) -> float:
    alpha, share = CANDIDATES[candidate]
    if share == 0.0:
        return state["level"][candidate]
    return state["level"][candidate] + damped_sum(_damping(alpha), h) * state["trend"][candidate]


def _restart(state: dict, signal: float, profile: str | None) -> None:
    """Start the levels from `signal` and forget every check: under another seasonal profile the
    signal is another series, and errors measured before say nothing about forecasts now."""
    fresh = new_state()
    fresh["n"], fresh["profile"] = state["n"], profile
    state.update(fresh)
    state["level"] = [signal] * len(CANDIDATES)


def _profile(season: dict) -> str | None:
    """The seasonal profile in use, or "phasing in" while one replaces another."""
    active = seasonality.active_profile(season)
    return active if season["mix"] >= 1.0 else "phasing in"


def learn(state: dict, value: float, component: float, season: dict) -> None:
    """Check the forecasts due at this point against `value`, then learn it; `component`: the
    seasonal component at the point (`seasonality.seasonal_component` of `season`, before the
    profile learns the value: the one the detectors used). When the profile in use changes (or
    starts or ends being phased in), the levels and the checks restart."""
    signal = value - component
    n = state["n"]
    profile = _profile(season)
    if n > 0 and profile != state["profile"]:
        _restart(state, signal, profile)
    # most points neither check nor set aside a forecast: `wake` is the next count that does
    busy = n >= state.get("wake", 0)
    if n == 0:
        state["level"], state["profile"] = [signal] * len(CANDIDATES), profile
    else:
        # the first rung (one step ahead) is checked at every point, against the forecast the
        # levels make now; no need to set it aside
        checks = state["checks"][0] + 1
        w = max(1.0 / checks, 1.0 / CHECKS_REMEMBERED)
        mse, mae = state["mse"][0], state["mae"][0]
        for k in range(len(CANDIDATES)):
            e = value - (_base(state, k, 1) + component)
            mse[k] += w * (e * e - mse[k])
            mae[k] += w * (abs(e) - mae[k])
        state["checks"][0] = checks
        # the forecasts set aside for this point, judged on the value with today's component
        for r, dues in enumerate(state["due"] if busy else ()):
            if r == 0:
                continue
            for s, due in enumerate(dues):
                if due != n:
                    continue
                checks = state["checks"][r] + 1
                w = max(1.0 / checks, 1.0 / CHECKS_REMEMBERED)
                mse, mae, base = state["mse"][r], state["mae"][r], state["base"][r][s]
                for k in range(len(CANDIDATES)):
                    e = value - (base[k] + component)
                    mse[k] += w * (e * e - mse[k])
                    mae[k] += w * (abs(e) - mae[k])
                state["checks"][r] = checks
                dues[s] = -1
        for k, (alpha, share) in enumerate(CANDIDATES):
            level = state["level"][k]
            if share == 0.0:
                state["level"][k] = level + alpha * (signal - level)
                continue
            phi, trend = _damping(alpha), state["trend"][k]
            e = signal - (level + phi * trend)
            state["level"][k] = level + phi * trend + alpha * e
            state["trend"][k] = phi * trend + alpha * share * e
    n += 1
    state["n"] = n
    if not busy:
        return
    # set forecasts aside for the rungs whose turn it is (from the state that includes `value`)
    for r, h in enumerate(HORIZONS):
        if r == 0 or n < state["next"][r]:
            continue
        dues = state["due"][r]
        free = next((s for s, due in enumerate(dues) if due < 0), None)
        if free is None:
            continue
        dues[free] = n + h
        state["base"][r][free] = [_base(state, k, h) for k in range(len(CANDIDATES))]
        state["next"][r] = n + max(1, h // SLOTS)
    # the next count (before its point is learnt) at which a forecast is due or one is set aside
    # (a rung whose slots are full sets one aside only after a check, which wakes it anyway)
    pending = [due for dues in state["due"] for due in dues if due >= 0]
    state["wake"] = min([*pending, *(at - 1 for at in state["next"][1:])])


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """The forecast `steps` ahead: the point forecast and its 80% / 95% intervals."""

    steps: int
    timestamp: datetime
    value: float
    lower80: float
    upper80: float
    lower95: float
    upper95: float
    #: False where the interval borrows a shorter horizon's errors (not checked enough yet)
    calibrated: bool


def _rung(h: int) -> int:
    """The rung nearest to `h` steps on a log scale."""
    return min(range(len(HORIZONS)), key=lambda r: abs(math.log(HORIZONS[r]) - math.log(h)))


def _error_at(state: dict, candidate: int, h: int, key: str = "mse") -> tuple[float, bool] | None:
    """The candidate's squared (`mse`) or absolute (`mae`) error at `h` steps: interpolated (log
    scale) between the checked rungs that enclose it; beyond the last checked rung, grown as a
    random walk's (the squared error in proportion to the horizon, the absolute error to its
    square root). None while no rung is checked enough."""
    checked = [r for r in range(len(HORIZONS)) if state["checks"][r] >= MIN_CHECKS]
    if not checked:
        return None
    points = [(HORIZONS[r], state[key][r][candidate]) for r in checked]
    # a forecast further ahead never misses by less than a nearer one (monotone envelope)
    envelope, top = [], 0.0
    for horizon, mse in points:
        top = max(top, mse)
        envelope.append((horizon, top))
    if h <= envelope[0][0]:
        return envelope[0][1], True
    for (h0, v0), (h1, v1) in zip(envelope, envelope[1:], strict=False):
        if h <= h1:
            frac = (math.log(h) - math.log(h0)) / (math.log(h1) - math.log(h0))
            return v0 + frac * (v1 - v0), True
    h_last, v_last = envelope[-1]
    growth = h / h_last if key == "mse" else math.sqrt(h / h_last)
    return v_last * growth, False


def predict(
    state: dict, season: dict, last_ts: datetime, interval_seconds: float, steps: list[int]
) -> list[ForecastPoint]:
    """The forecast at each of `steps` (points ahead of `last_ts`, the series' last point, at
    `interval_seconds` apart). Empty while no forecast has been checked yet (a young series)."""
    out = []
    for h in steps:
        rung = _rung(h)
        checked = state["checks"][rung] >= MIN_CHECKS
        candidates = range(len(CANDIDATES))
        k = min(candidates, key=lambda c: state["mse"][rung][c]) if checked else DEFAULT_CANDIDATE
        found = _error_at(state, k, h)
        if found is None:
            return []
        variance, calibrated = found
        sd = math.sqrt(max(variance, 0.0))
        # the 80% half-width from the mean absolute error, the 95% one from the squared error:
        # on heavy-tailed errors the large misses set the variance, which makes a Gaussian 80%
        # band too wide, while the absolute error is what the typical miss is (on Gaussian
        # errors both give the same band; MAE <= RMSE keeps the 80% band inside the 95% one)
        spread80 = Z80 * sd
        if "mae" in state:  # states stored before it was kept have the squared error only
            mae, _ = _error_at(state, k, h, "mae")
            spread80 = min(spread80, Z80 * MAE_TO_SD * mae)
        ts = last_ts + timedelta(seconds=h * interval_seconds)
        mean = _base(state, k, h) + seasonality.seasonal_component(season, ts)
        out.append(
            ForecastPoint(
                steps=h,
                timestamp=ts,
                value=mean,
                lower80=mean - spread80,
                upper80=mean + spread80,
                lower95=mean - Z95 * sd,
                upper95=mean + Z95 * sd,
                calibrated=calibrated and checked,
            )
        )
    return out
