"""Streaming z-score: distance of a signal from an exponentially weighted mean, in EW deviations."""

from __future__ import annotations

import math

from stream.detectors.calibration import z_to_score
from stream.features import Features, spread_floor


class ZScoreDetector:
    """Exponentially weighted z-score of the signal (the value less its seasonal component).

    `alpha` is the weight of the newest point in the EW mean and variance (0.01 remembers about the
    last 100 points); until 1/alpha points are in, it weighs like a plain average.

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

    def __init__(self, alpha: float = 0.01) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        self.alpha = alpha

    def new_state(self) -> dict:
        return {"n": 0, "mean": 0.0, "var": 0.0}

    def z(self, state: dict, x: Features) -> float:
        if state["n"] < 2:
            return 0.0
        std = spread_floor(state["mean"], math.sqrt(state["var"]))
        return (x.signal - state["mean"]) / std

    def score_one(self, state: dict, x: Features) -> float:
        return z_to_score(self.z(state, x))

    def learn_one(self, state: dict, x: Features) -> None:
        n = state["n"]
        if n == 0:
            state["mean"], state["var"] = x.signal, 0.0
        else:
            a = max(self.alpha, 1.0 / (n + 1))
            delta = x.signal - state["mean"]
            state["mean"] += a * delta
            state["var"] = (1 - a) * (state["var"] + a * delta * delta)
        state["n"] = n + 1
