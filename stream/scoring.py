"""Scores one point of a series: features, every detector, one combined score.

Pure code: it reads and updates a `SeriesState` and returns numbers; no Kafka, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


class Scorer:
    """Scores points with a set of detectors and combines their scores.

    The combined score is the highest detector score (#3 brings a calibrated ensemble). A series
    raises no anomaly before it has seen `warmup_points` points, though it is scored and learns.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        threshold: float,
        window_size: int,
        warmup_points: int,
        model_version: str,
    ) -> None:
        if not detectors:
            raise ValueError("a scorer needs at least one detector")
        self.detectors = list(detectors)
        self.threshold = threshold
        self.window_size = window_size
        self.warmup_points = warmup_points
        self.model_version = model_version

    def score_and_learn(self, state: SeriesState, value: float) -> PointScore:
        """Score `value` against what the series has seen, then learn it (state is updated)."""
        x = window_features(value, state.window)
        detector_scores = {}
        for detector in self.detectors:
            own = state.detectors.get(detector.name)
            if own is None:
                own = state.detectors[detector.name] = detector.new_state()
            detector_scores[detector.name] = round(detector.score_one(own, x), 6)
            detector.learn_one(own, x)
        score = max(detector_scores.values())
        warmed_up = state.count >= self.warmup_points
        state.push(value, self.window_size)
        return PointScore(
            score=score,
            is_anomaly=warmed_up and score >= self.threshold,
            detector_scores=detector_scores,
            features=x,
            model_version=self.model_version,
        )
