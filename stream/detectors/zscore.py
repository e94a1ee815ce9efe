"""Streaming z-score: distance of a value from an exponentially weighted mean, in EW deviations."""

from __future__ import annotations

import math

from stream.features import Features

# The z at which the score reaches 0.7, the default threshold: a 4-sigma deviation.
Z_AT_DEFAULT_THRESHOLD = 4.0
_SCALE_SQUARED = Z_AT_DEFAULT_THRESHOLD**2 * (1 - 0.7) / 0.7
# Relative floor on the deviation so a perfectly flat series does not make every wiggle infinite.
_MIN_STD_FRACTION = 1e-3
_MIN_STD_ABSOLUTE = 1e-9


def z_to_score(z: float) -> float:
    """Map |z| to [0, 1): 0 at the mean, 0.7 at 4 sigma, 0.9 at about 7.9 sigma.

    >>> [round(z_to_score(z), 3) for z in (0, 2, 4, 8)]
    [0.0, 0.368, 0.7, 0.903]
    """
    z2 = z * z
    return z2 / (z2 + _SCALE_SQUARED)


class ZScoreDetector:
    """Exponentially weighted z-score of the raw value.

    `alpha` is the weight of the newest point in the EW mean and variance (0.02 remembers about the
    last 100 points).

    >>> from stream.features import window_features
    >>> d = ZScoreDetector()
    >>> s = d.new_state()
    >>> for v in [10.0, 11.0, 9.0, 10.5, 9.5] * 10:
    ...     d.learn_one(s, window_features(v, []))
    >>> d.score_one(s, window_features(10.0, [])) < 0.1
    True
    >>> d.score_one(s, window_features(30.0, [])) > 0.9
    True
    """

    name = "zscore"

    def __init__(self, alpha: float = 0.02) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        self.alpha = alpha

    def new_state(self) -> dict:
        return {"n": 0, "mean": 0.0, "var": 0.0}

    def score_one(self, state: dict, x: Features) -> float:
        if state["n"] < 2:
            return 0.0
        floor = max(abs(state["mean"]) * _MIN_STD_FRACTION, _MIN_STD_ABSOLUTE)
        std = max(math.sqrt(state["var"]), floor)
        return z_to_score(abs(x.value - state["mean"]) / std)

    def learn_one(self, state: dict, x: Features) -> None:
        n = state["n"]
        if n == 0:
            state["mean"], state["var"] = x.value, 0.0
        else:
            # Until 1/alpha points are in, weigh like a plain average so the start is not biased.
            a = max(self.alpha, 1.0 / (n + 1))
            delta = x.value - state["mean"]
            state["mean"] += a * delta
            state["var"] = (1 - a) * (state["var"] + a * delta * delta)
        state["n"] = n + 1
