"""Scores one point of a series: seasonality out, features, every detector, one combined score.

Pure code: it reads and updates a `SeriesState` and returns numbers; no Kafka, no database.

Combination. Every detector scores on the same tail-probability scale (`detectors.calibration`);
the combined score is their weighted mean (`DEFAULT_WEIGHTS`: the EW z-score carries half, as the
most reliable single detector on NAB; the robust, isolation and pattern detectors add evidence the
z-score misses). Then *repeat damping*: a point that scores no higher than the series' recent peak
(a peak that decays by 0.5% a point, so it fades over a few hundred points) has its score halved.
The onset of an anomaly, and any escalation of it, keep their full score; the hundred points
that follow a level shift do not each raise a new alarm.
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
    #: what drove the score: "<detector>:<feature>", e.g. "mad:level", "hst:volatility"
    driver: str


DEFAULT_WEIGHTS = {"zscore": 0.5, "mad": 0.2, "iqr": 0.1, "hst": 0.1, "pattern": 0.1}
PEAK_DECAY = 0.995
REPEAT_FACTOR = 0.5


def combine(scores: dict[str, float], weights: dict[str, float]) -> float:
    """Weighted mean of the detector scores (equal weights for detectors not in `weights`)."""
    w = {name: weights.get(name, 1.0) for name in scores}
    return sum(scores[name] * w[name] for name in scores) / sum(w.values())


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
        x = window_features(value, state.window, signal=signal, history=tuple(state.history))
        detector_scores = {}
        for detector in self.detectors:
            own = state.detectors.get(detector.name)
            if own is None:
                own = state.detectors[detector.name] = detector.new_state()
            detector_scores[detector.name] = detector.score_one(own, x)
            detector.learn_one(own, x)
        seasonality.learn(state.season, ts, value)
        score = damp_repeats(combine(detector_scores, self.weights), state)
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
            driver=self._driver(detector_scores, x),
        )

    def _driver(self, detector_scores: dict[str, float], x: Features) -> str:
        name = max(detector_scores, key=detector_scores.__getitem__)
        detector = next(d for d in self.detectors if d.name == name)
        explain = getattr(detector, "driver", None)
        return f"{name}:{explain(x) if explain else 'level'}"
