"""The detector ensemble: which detectors score a point, and the version that names the set.

The one home of the ensemble: the worker, `ems-ml replay`, the API's detect and train, and the
benchmarks all build their scorer here. A new detector is one module under `detectors/`, with its
role, plus one line in `detectors()`.
"""

from __future__ import annotations

from stream.config import Settings
from stream.detectors.base import Detector
from stream.detectors.flatline import FlatlineDetector
from stream.detectors.hst import HalfSpaceTrees
from stream.detectors.pattern import PatternDetector
from stream.detectors.record import RecordDetector
from stream.detectors.robust import IQRDetector, MADDetector
from stream.detectors.zscore import LevelShiftDetector, VolatilityDetector, ZScoreDetector
from stream.metric_rules import parse_rules
from stream.scoring import Scorer

#: names the detectors, their settings and the combination; stored with every score
MODEL_VERSION = "ensemble-v8"


def detectors() -> list[Detector]:
    """A fresh set of the ensemble's detectors (they keep per-call caches: one set a scorer)."""
    return [
        ZScoreDetector(),
        MADDetector(),
        IQRDetector(),
        LevelShiftDetector(),
        VolatilityDetector(),
        FlatlineDetector(),
        HalfSpaceTrees(),
        PatternDetector(),
        RecordDetector(),
    ]


def build_scorer(settings: Settings, **combination) -> Scorer:
    """The scorer every part of the service runs; `combination`: keyword arguments of `Scorer`
    that override its defaults (benchmarks only)."""
    return Scorer(
        detectors(),
        threshold=settings.anomaly_threshold,
        window_size=settings.window_size,
        warmup_points=settings.warmup_points,
        model_version=MODEL_VERSION,
        rules=parse_rules(settings.metric_rules),
        trend_half_life_hours=settings.capacity_trend_hours,
        **combination,
    )
