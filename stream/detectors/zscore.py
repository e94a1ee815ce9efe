"""Streaming z-scores at three time scales: the point, the recent level, the recent volatility.

Each detector follows one measurement of the series with an exponentially weighted mean and
variance, and scores how many EW deviations the newest measurement lies from that mean:

- `ZScoreDetector`: the signal itself (the value less its seasonal component): spikes and dips.
- `LevelShiftDetector`: the median of the last 5 signals: a shift of the level that no single
  point makes extreme, caught within a few points (the median takes most of the noise out, and a
  lone spike does not move it: a spike is the point detectors' to report, once).
- `VolatilityDetector`: the log of the median absolute change over the last 10 steps, upwards
  only: a series that starts to jitter or oscillate where it was calm (a median, so one spike,
  which makes two large changes, does not read as jitter).

Each remembers about the last 1/alpha points (alpha 0.003: about 330 points, a day at 5-minute
intervals); until 1/alpha points are in, it weighs them like a plain average. On NAB, the three
together rank anomalies far better than any one of them (see README, Detection).
"""

from __future__ import annotations

import math

from stream.detectors.calibration import z_to_score
from stream.features import LONG_RUN_ALPHA, Features, ew_update, spread_floor

DEFAULT_ALPHA = LONG_RUN_ALPHA


class EWZScore:
    """EW z-score of `measure(x)`; subclasses say what they measure and whether both tails count."""

    name = "ewz"
    role = "point"
    #: only a rise of the measurement is anomalous (a calmer series is not a problem)
    upper_only = False
    #: what moves the measurement, for the score's explanation (`driver`)
    feature = "value"
    #: smallest EW deviation, in the measurement's units (None: 0.1% of the level, spread_floor)
    min_std: float | None = None

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        self.alpha = alpha

    def measure(self, state: dict, x: Features) -> float:
        raise NotImplementedError

    def driver(self, x: Features) -> str:
        return self.feature

    def new_state(self) -> dict:
        return {"n": 0, "mean": 0.0, "var": 0.0}

    def z(self, state: dict, x: Features) -> float:
        if state["n"] < 2:
            return 0.0
        std = math.sqrt(state["var"])
        std = spread_floor(state["mean"], std) if self.min_std is None else max(std, self.min_std)
        z = (self.measure(state, x) - state["mean"]) / std
        return max(0.0, z) if self.upper_only else z

    def score_one(self, state: dict, x: Features) -> float:
        return z_to_score(self.z(state, x))

    def expectation(self, state: dict) -> tuple[float, float] | None:
        """The measurement's expected value and standard deviation (None before 2 points)."""
        if state["n"] < 2:
            return None
        std = math.sqrt(state["var"])
        std = spread_floor(state["mean"], std) if self.min_std is None else max(std, self.min_std)
        return state["mean"], std

    def learn_one(self, state: dict, x: Features) -> None:
        ew_update(state, self.measure(state, x), self.alpha)


class ZScoreDetector(EWZScore):
    """EW z-score of the signal.

    >>> from stream.features import window_features
    >>> d = ZScoreDetector()
    >>> s = d.new_state()
    >>> for v in [10.0, 11.0, 9.0, 10.5, 9.5] * 10:
    ...     d.learn_one(s, window_features(v, []))
    >>> d.score_one(s, window_features(10.0, [])) < 0.1
    True
    >>> d.score_one(s, window_features(30.0, [])) > 0.95
    True
    """

    name = "zscore"

    def measure(self, state: dict, x: Features) -> float:
        return x.signal


class LevelShiftDetector(EWZScore):
    """EW z-score of the median of the last `span` signals (the newest included)."""

    name = "shift"
    role = "level"
    feature = "level"

    def __init__(self, alpha: float = DEFAULT_ALPHA, span: int = 5) -> None:
        super().__init__(alpha)
        self.span = span

    def measure(self, state: dict, x: Features) -> float:
        recent = sorted((*x.history[-(self.span - 1) :], x.signal)) if self.span > 1 else [x.signal]
        mid = len(recent) // 2
        return recent[mid] if len(recent) % 2 else (recent[mid - 1] + recent[mid]) / 2


class VolatilityDetector(EWZScore):
    """EW z-score of the log median absolute change over the last `span` steps, upwards only.

    The log makes a doubling of the jitter count the same on any series. A change below 1% of the
    series' usual magnitude (its EW mean absolute signal) counts as flat, and the measurement's
    own spread is at least 0.05, so a flat stretch does not make the first small wobble
    infinitely surprising.
    """

    name = "volatility"
    role = "level"
    feature = "volatility"
    upper_only = True
    FLAT_SHARE = 0.01
    # log units: a jitter 5% above usual is the finest change worth a standard unit
    min_std = 0.05

    def __init__(self, alpha: float = DEFAULT_ALPHA, span: int = 10) -> None:
        super().__init__(alpha)
        self.span = span

    def new_state(self) -> dict:
        return {**super().new_state(), "magnitude": None}

    def measure(self, state: dict, x: Features) -> float:
        recent = (*x.history[-self.span :], x.signal)
        changes = sorted(abs(b - a) for a, b in zip(recent, recent[1:], strict=False))
        if changes:
            mid = len(changes) // 2
            typical = changes[mid] if len(changes) % 2 else (changes[mid - 1] + changes[mid]) / 2
        else:
            typical = 0.0
        magnitude = abs(x.signal) if state["magnitude"] is None else state["magnitude"]
        return math.log(typical + self.FLAT_SHARE * magnitude + 1e-9)

    def learn_one(self, state: dict, x: Features) -> None:
        super().learn_one(state, x)
        if state["magnitude"] is None:
            state["magnitude"] = abs(x.signal)
        else:
            a = max(self.alpha, 1.0 / state["n"])
            state["magnitude"] += a * (abs(x.signal) - state["magnitude"])
