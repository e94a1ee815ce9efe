"""Capacity: when a bounded metric's trend will cross its threshold, and how sure that is.

A disk that fills, a memory leak, bandwidth growing towards a link's capacity: each is a slow
trend under daily swings. Per series, the worker keeps an exponentially weighted least-squares
line through the deseasonalised signal (the value less the daily/weekly component
`seasonality` learns), with weights halving every `half_life_hours` of event time (the window
an operator would give Prometheus' `predict_linear`, here decaying instead of cut off). The
forecast at t hours ahead is that line plus the seasonal component then, so the daily peak
crosses first:

    f(t) = level + slope * t + component(now + t)

- `hours_to_crossing`: the first t (to a quarter hour, up to `LOOKAHEAD_HOURS`) where f reaches
  the threshold (0 when the level is there already; None when the line never gets there in the
  lookahead, a falling or flat trend included);
- `probability`: that f reaches the threshold within the horizon, from the standard error of
  the line at the horizon (weighted least squares with its sandwich variance; residuals taken
  as independent, so on strongly autocorrelated noise it is optimistic).

Which metrics are bounded, and by what, is configuration (`CAPACITY_RULES`, like
`METRIC_RULES`): a shell-style pattern, the capacity in the metric's unit (100 for a percentage,
a link's Mbit/s) and the share of it that counts as full (default 0.9).

>>> rules = parse_capacity_rules('[{"pattern": "disk_*", "capacity": 100}]')
>>> rules.for_metric("disk_usage").limit, rules.for_metric("latency_ms") is None
(90.0, True)
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from stream import seasonality
from stream.json_setting import parse_json_setting

#: how far ahead a crossing is looked for
LOOKAHEAD_HOURS = 30 * 24.0
#: the step of that search, in hours
SEARCH_STEP_HOURS = 0.25
#: effective points (sum of weights squared over the squared sum) a line needs before it speaks
MIN_EFFECTIVE_POINTS = 30.0
#: hours of history a line needs before it speaks: less than a day cannot tell a trend from the
#: morning's rise of a daily cycle
MIN_SPAN_HOURS = 24.0

#: the rules used when CAPACITY_RULES is not set: the percentages an EMS collects
DEFAULT_CAPACITY_RULES = (
    '[{"pattern": "cpu_*", "capacity": 100}, {"pattern": "memory_*", "capacity": 100},'
    ' {"pattern": "disk_*", "capacity": 100}, {"pattern": "*_percent", "capacity": 100},'
    ' {"pattern": "*utilization*", "capacity": 100}]'
)


class CapacityRule(BaseModel):
    """The metrics matching `pattern` are bounded by `capacity`; `threshold` of it is full."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(min_length=1, description="fnmatch pattern of metric names")
    capacity: float = Field(gt=0, allow_inf_nan=False, description="in the metric's own unit")
    threshold: float = Field(0.9, gt=0, le=1.0, description="share of the capacity that is full")

    @property
    def limit(self) -> float:
        """The value that counts as full, in the metric's unit."""
        return self.capacity * self.threshold


class CapacityRules:
    """The configured rules, looked up by metric name; the first matching rule applies."""

    def __init__(self, rules: list[CapacityRule]) -> None:
        self.rules = list(rules)
        self._by_metric: dict[str, CapacityRule | None] = {}

    def for_metric(self, metric: str) -> CapacityRule | None:
        if metric not in self._by_metric:
            self._by_metric[metric] = next(
                (r for r in self.rules if fnmatch.fnmatchcase(metric, r.pattern)), None
            )
        return self._by_metric[metric]


_RULE_LIST = TypeAdapter(list[CapacityRule])


def parse_capacity_rules(text: str) -> CapacityRules:
    """Rules from `CAPACITY_RULES` (a JSON list; "[]": none). Raises ValueError saying what is
    wrong."""
    rules = parse_json_setting(
        "CAPACITY_RULES", text or "[]", _RULE_LIST, "a list of capacity rules"
    )
    return CapacityRules(rules)


def new_state() -> dict:
    """Weighted sums of the line's fit, with time in hours relative to the last point (so the
    newest point is at t = 0): `s*` of weights w, `q*` of w^2, over 1, t, t^2, y, t y, y^2;
    `first` / `last`: the first and the last point's time (epoch seconds)."""
    return {
        "last": None,
        "first": None,
        **dict.fromkeys(("s0", "st", "stt", "sy", "sty", "syy", "q0", "qt", "qtt"), 0.0),
    }


def learn(state: dict, ts: datetime, signal: float, half_life_hours: float) -> None:
    """Fold the deseasonalised `signal` at `ts` in: older points' weights decay by the time
    passed, and the origin moves to `ts`."""
    now = ts.timestamp()
    if state["last"] is not None:
        dt = max(0.0, (now - state["last"]) / 3600.0)
        s0, st, q0, qt = state["s0"], state["st"], state["q0"], state["qt"]
        # t -> t - dt for every point held
        state["stt"] += -2 * dt * st + dt * dt * s0
        state["st"] = st - dt * s0
        state["sty"] -= dt * state["sy"]
        state["qtt"] += -2 * dt * qt + dt * dt * q0
        state["qt"] = qt - dt * q0
        d = 0.5 ** (dt / half_life_hours)
        for key in ("s0", "st", "stt", "sy", "sty", "syy"):
            state[key] *= d
        for key in ("q0", "qt", "qtt"):
            state[key] *= d * d
    state["last"] = now
    if state.get("first") is None:
        state["first"] = now
    state["s0"] += 1.0
    state["sy"] += signal
    state["syy"] += signal * signal
    state["q0"] += 1.0


@dataclass(frozen=True, slots=True)
class Line:
    """The fitted line: `level` now, `slope` per hour, and the variance of the line's value at
    a given number of hours ahead (`variance_at`)."""

    level: float
    slope: float
    sigma2: float
    state: dict

    def variance_at(self, hours: float) -> float:
        s = self.state
        # st * st, not st ** 2: the C library's pow may round a square otherwise than the
        # product does, and the engine's twin (`stream.engine.capacity.outlooks`) multiplies
        det = s["s0"] * s["stt"] - s["st"] * s["st"]
        # u = A^-1 (1, h); Var = sigma^2 u' B u  (A: sums of w, B: sums of w^2)
        u0 = (s["stt"] - s["st"] * hours) / det
        u1 = (s["s0"] * hours - s["st"]) / det
        quad = s["q0"] * u0 * u0 + 2 * s["qt"] * u0 * u1 + s["qtt"] * u1 * u1
        return self.sigma2 * quad


def fit(state: dict) -> Line | None:
    """The weighted least-squares line, or None while it rests on too few points or on less
    than `MIN_SPAN_HOURS` of history."""
    s0, st, stt = state["s0"], state["st"], state["stt"]
    if state["q0"] <= 0 or s0 * s0 / state["q0"] < MIN_EFFECTIVE_POINTS:
        return None
    first = state.get("first")
    if first is None or (state["last"] - first) / 3600.0 < MIN_SPAN_HOURS:
        return None
    det = s0 * stt - st * st
    if det <= 1e-12 * max(1.0, s0 * stt):
        return None  # every point at one instant: no slope to speak of
    slope = (s0 * state["sty"] - st * state["sy"]) / det
    level = (state["sy"] - slope * st) / s0
    sse = max(0.0, state["syy"] - level * state["sy"] - slope * state["sty"])
    n_eff = s0 * s0 / state["q0"]
    sigma2 = sse / s0 * n_eff / max(n_eff - 2.0, 1.0)
    return Line(level=level, slope=slope, sigma2=sigma2, state=state)


@dataclass(frozen=True, slots=True)
class Outlook:
    """A bounded series' way towards its limit."""

    limit: float
    level: float
    #: change per day of the trend
    slope_per_day: float
    #: hours until the forecast reaches the limit; 0: there now; None: not within the lookahead
    hours_to_crossing: float | None
    #: probability that the forecast reaches the limit within `horizon_hours`
    probability: float
    horizon_hours: float

    def crossing_at(self, now: datetime) -> datetime | None:
        if self.hours_to_crossing is None:
            return None
        return now + timedelta(hours=self.hours_to_crossing)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _peak_component(season: dict) -> float:
    """The highest the seasonal component goes (0 without a profile in use)."""
    period = seasonality.active_profile(season)
    if period is None:
        return 0.0
    means = season[period]["m"]
    return max(0.0, float(means.max() - means.mean()) * season["mix"])


def outlook(
    state: dict,
    season: dict,
    now: datetime,
    limit: float,
    horizon_hours: float,
    lookahead_hours: float = LOOKAHEAD_HOURS,
) -> Outlook | None:
    """Where the series is heading against `limit`, from its line (`state`) and seasonal
    profile (`season`), at `now` (its last point), a crossing looked for up to
    `lookahead_hours` ahead. None while the line rests on too few points or less than a day."""
    line = fit(state)
    if line is None:
        return None
    peak = _peak_component(season)

    def forecast(hours: float) -> float:
        ts = now + timedelta(hours=hours)
        return line.level + line.slope * hours + seasonality.seasonal_component(season, ts)

    hours: float | None = None
    if forecast(0.0) >= limit:
        hours = 0.0
    elif line.slope > 0:
        # before `first` not even the daily peak can reach the limit; within one period after
        # it, a peak does
        first = max(0.0, (limit - line.level - peak) / line.slope)
        if first <= lookahead_hours:
            period = 168.0 if seasonality.active_profile(season) == "weekly" else 24.0
            t = first
            while t <= min(first + period, lookahead_hours):
                if forecast(t) >= limit:
                    hours = t
                    break
                t += SEARCH_STEP_HOURS
    sd = math.sqrt(max(line.variance_at(horizon_hours), 0.0))
    at_horizon = line.level + line.slope * horizon_hours + peak - limit
    if sd > 0:
        probability = _normal_cdf(at_horizon / sd)
    else:
        probability = 1.0 if at_horizon >= 0 else 0.0
    if hours == 0.0:
        probability = 1.0
    return Outlook(
        limit=limit,
        level=line.level + seasonality.seasonal_component(season, now),
        slope_per_day=line.slope * 24.0,
        hours_to_crossing=hours,
        probability=probability,
        horizon_hours=horizon_hours,
    )
