"""Scores one point of a series: seasonality out, features, every detector, one combined score.

Pure code: it reads and updates a `SeriesState` and returns numbers; no Kafka, no database.

Combination, in two parts:

- A weighted mean (`DEFAULT_WEIGHTS`) of the z-scores of the point, of the recent level and of
  the recent volatility, and the robust MAD and IQR scores. Every detector scores on the same
  tail-probability scale (`detectors.calibration`). The robust scores count only up to
  `ROBUST_CAP` (0.7, a z of 4) in the mean: 64 points say little about how rare a far-out point
  is, though they add evidence up to there. Their own scores are reported uncapped.
- *Consensus* (`CONSENSUS`): a group of detectors that all score high vouch for an anomaly the
  mean would dilute, and the lowest score of the group is a floor for the combined score. A
  spike: the EW z-score, MAD, IQR and the volatility all jump (the level-shift detector, which
  averages five points, rightly barely moves). A new shape: the isolation trees and the pattern
  detector, each noisy alone (weight 0 in the mean), agree that the series does something its
  history has not shown, even when no value is extreme.

The weights, the cap and the groups were chosen on NAB (README, Detection) and kept round.

Then *repeat damping*: a point that scores no higher than the series' recent peak (a peak that
decays by 0.5% a point, so it fades over a few hundred points) has its score halved. The onset of
an anomaly, and any escalation of it, keep their full score; the hundred points that follow a
level shift do not each raise a new alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from stream import seasonality
from stream.detectors.base import Detector
from stream.features import Features, SeriesState, window_features


@dataclass(frozen=True, slots=True)
class PointScore:
    """The verdict on one point."""

    score: float
    is_anomaly: bool
    detector_scores: dict[str, float]
    features: Features
    model_version: str
    #: what drove the score: "<detector>:<feature>", e.g. "zscore:value", "shift:level"
    driver: str


DEFAULT_WEIGHTS = {
    "zscore": 0.32,
    "shift": 0.32,
    "volatility": 0.16,
    "mad": 0.1,
    "iqr": 0.1,
    # noisy alone: they count only through their consensus group
    "hst": 0.0,
    "pattern": 0.0,
}
ROBUST_CAP = {"mad": 0.7, "iqr": 0.7}
CONSENSUS = (("zscore", "mad", "iqr", "volatility"), ("hst", "pattern"))
PEAK_DECAY = 0.995
REPEAT_FACTOR = 0.5


def capped(scores: dict[str, float], caps: dict[str, float]) -> dict[str, float]:
    """Each score as far as the combination trusts it (at most its cap)."""
    return {name: min(s, caps.get(name, 1.0)) for name, s in scores.items()}


def combine(
    scores: dict[str, float],
    weights: dict[str, float],
    caps: dict[str, float] | None = None,
    consensus: tuple[tuple[str, ...], ...] = CONSENSUS,
) -> float:
    """Weighted mean of the scores (each capped where `caps` says; weight 1 for detectors not in
    `weights`, equal weights if all are 0), raised to the lowest score of any consensus group
    whose members are all present.

    >>> round(combine({"a": 0.8, "b": 0.4}, {"a": 3, "b": 1}), 6)
    0.7
    >>> combine({"a": 0.9, "b": 0.5}, {"a": 1, "b": 1}, caps={"a": 0.7})
    0.6
    >>> combine({"a": 0.2, "hst": 0.9, "pattern": 0.8}, {"a": 1, "hst": 0, "pattern": 0})
    0.8
    >>> combine({"a": 0.2, "pattern": 0.8}, {"a": 1, "pattern": 0})
    0.2
    """
    point = capped(scores, ROBUST_CAP if caps is None else caps)
    w = {name: weights.get(name, 1.0) for name in point}
    if not any(w.values()):
        w = dict.fromkeys(point, 1.0)
    mean = sum(point[name] * w[name] for name in point) / sum(w.values()) if point else 0.0
    floors = [
        min(scores[name] for name in group)
        for group in consensus
        if all(name in scores for name in group)
    ]
    return max([mean, *floors])


def damp_repeats(score: float, state: SeriesState) -> float:
    """Halve a score that does not beat the series' decaying recent peak; update the peak."""
    peak = state.peak
    state.peak = max(peak * PEAK_DECAY, score)
    return score * REPEAT_FACTOR if score <= peak else score


class Scorer:
    """Scores points with a set of detectors and combines their scores.

    A series raises no anomaly before it has seen `warmup_points` points, though it is scored and
    learns from every one.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        threshold: float,
        window_size: int,
        warmup_points: int,
        model_version: str,
        weights: dict[str, float] | None = None,
    ) -> None:
        if not detectors:
            raise ValueError("a scorer needs at least one detector")
        self.detectors = list(detectors)
        self.weights = DEFAULT_WEIGHTS if weights is None else weights
        self.threshold = threshold
        self.window_size = window_size
        self.warmup_points = warmup_points
        self.model_version = model_version

    def score_and_learn(self, state: SeriesState, value: float, ts: datetime) -> PointScore:
        """Score `value` at `ts` against what the series has seen, then learn it (state updated)."""
        if state.season is None:
            state.season = seasonality.new_state()
        signal = value - seasonality.seasonal_component(state.season, ts)
        x = window_features(
            value,
            state.window,
            signal=signal,
            history=tuple(state.history),
            long_run=state.long_run,
        )
        detector_scores = {}
        for detector in self.detectors:
            own = state.detectors.get(detector.name)
            if own is None:
                own = state.detectors[detector.name] = detector.new_state()
            detector_scores[detector.name] = detector.score_one(own, x)
            detector.learn_one(own, x)
        seasonality.learn(state.season, ts, value)
        combined = combine(detector_scores, self.weights)
        score = damp_repeats(combined, state)
        driver = self._driver(detector_scores, combined, x)
        # rounded for storage and display only: the combination ranks on full precision
        detector_scores = {name: round(s, 6) for name, s in detector_scores.items()}
        warmed_up = state.count >= self.warmup_points
        state.push(value, self.window_size, signal)
        return PointScore(
            score=score,
            is_anomaly=warmed_up and score >= self.threshold,
            detector_scores=detector_scores,
            features=x,
            model_version=state.model_version or self.model_version,
            driver=driver,
        )

    def _driver(self, detector_scores: dict[str, float], combined: float, x: Features) -> str:
        """The detector that weighed most in the combined score, and the feature that moved it:
        the highest (robust scores as capped) of the detectors the mean counts, or of the
        consensus group whose agreement set the score."""
        counted = [n for n in detector_scores if self.weights.get(n, 1.0) > 0]
        for group in CONSENSUS:
            if all(n in detector_scores for n in group):
                if min(detector_scores[n] for n in group) >= combined:
                    counted = list(group)
        effective = capped({n: detector_scores[n] for n in counted or detector_scores}, ROBUST_CAP)
        name = max(effective, key=effective.__getitem__)
        detector = next(d for d in self.detectors if d.name == name)
        explain = getattr(detector, "driver", None)
        return f"{name}:{explain(x) if explain else 'value'}"
