"""The detector ensemble: which detectors score a point, and the version that names the set.

The one home of the ensemble: the worker, `ems-ml replay`, the API's detect and train, and the
benchmarks all build their scorer here, the Python one (`build_scorer`) or the compiled engine
that gives the same verdicts (`build_engine`; `ems-ml replay`, detect and train run it). A new
detector is one module under `detectors/`, with its role, plus one line in `detectors()` (and,
while both scorers run, its compiled twin under `engine/` plus one line in
`engine.registry.MODULES`; `engine.contract` says what the twin declares).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from stream.engine.core import Engine

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


def build_engine(settings: Settings) -> Engine:
    """The compiled engine with the service's settings: the verdicts of `build_scorer`'s scorer
    (`tests/unit/engine`), for every series of a run at once."""
    return engine_for(build_scorer(settings))


def engine_for(scorer: Scorer) -> Engine:
    """The compiled engine that gives `scorer`'s verdicts: its threshold, window, warm-up, metric
    rules and trend half-life. Raises ValueError for a scorer the engine cannot reproduce (other
    detectors, or a combination a benchmark changed). Imported here, not at the top: numba
    loads only in a process that uses the engine."""
    from stream import scoring
    from stream.engine.core import DETECTORS as ENGINE_DETECTORS
    from stream.engine.core import Engine

    names = tuple(d.name for d in scorer.detectors)
    if names != ENGINE_DETECTORS:  # a detector added to one and not the other
        raise ValueError(f"the engine scores {ENGINE_DETECTORS}, the scorer {names}")
    compiled = {
        "role_weights": scoring.ROLE_WEIGHTS,
        "persistence_points": scoring.PERSISTENCE_POINTS,
        "escalation": scoring.ESCALATION,
        "peak_decay": 0.5 ** (1.0 / scoring.PEAK_HALF_LIFE),
        "calibrate_tails": True,
    }
    changed = [k for k, v in compiled.items() if getattr(scorer, k) != v]
    if changed:
        raise ValueError(f"the engine is compiled with the default {', '.join(changed)}")
    return Engine(
        threshold=scorer.threshold,
        window_size=scorer.window_size,
        warmup_points=scorer.warmup_points,
        rules=scorer.rules,
        trend_half_life_hours=scorer.trend_half_life_hours,
    )
