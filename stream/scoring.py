"""Scores one point of a series: seasonality out, features, every detector, one combined score.

Pure code: it reads and updates a `SeriesState` and returns numbers; no Kafka, no database.

Combination, in five steps:

- *Point evidence* (`combine`): a weighted mean (`DEFAULT_WEIGHTS`) of the z-scores of the point,
  of the recent level and of the recent volatility, and the robust MAD and IQR scores, all on the
  same tail-probability scale (`detectors.calibration`). The robust scores count only up to
  `ROBUST_CAP` (0.7, a z of 4) in the mean: 64 points say little about how rare a far-out point
  is. Then *consensus* (`CONSENSUS`): a group of detectors that all score high vouch for an
  anomaly the mean would dilute, and the lowest score of the group is a floor. A spike: the EW
  z-score, MAD, IQR and the volatility all jump. A new shape: the isolation trees and the pattern
  detector, each noisy alone (weight 0 in the mean), agree.
- *Persistence* (`persistent`): the point evidence is raised to 1.3 times the median score of
  the EW z-score detector over the series' last `PERSISTENCE_POINTS` (6) points, this one
  included. Half an hour (at 5-minute data) in which most points sit at z = 3 (0.59 each, 0.77
  together) is rarer than one point at z = 4, though no single point of it is: the way an alert
  rule's `for: 30m` weighs a condition that holds. A median, so one blip, however high, does not
  lift the points after it; and the z-score of the point only, since the window-based detectors
  echo a lone spike for as long as it stays in their window (with them, in a scratch run, the demo
  feed raised 13 alarms besides its spikes instead of 2). On NAB this took the standard score
  from 68.5 to 70.0.
- *Long memory* (`blend`): the point evidence judges against the last few hundred points; the
  record detector (`detectors.record`) says whether the series is beyond everything it did in
  the last ~8,000. The two are averaged (`RECORD_WEIGHT` 0.5), a record counting in full only
  with some point evidence (`RECORD_GATE`). So a point inside its long-run range needs
  overwhelming point evidence to alarm, and a new record needs only some: recurring bursts stop
  alarming once the series has shown them, and drifts to levels never seen alarm. On NAB this
  took the standard score from 55 to 68.5 and cut the false positives from 352 to 93.
- *Repeat damping* (`damp_repeats`): a point that scores no more than 5% above the series' recent
  peak (`ESCALATION`; a peak that decays by 0.1% a point, so it fades over a couple of thousand
  points) has its score halved. The onset of an anomaly, and a clear escalation of it, keep their
  full score; a deviation that creeps up a little each point is one anomaly, not one a point (on
  NAB, with persistence, the 5% took the false positives from 161 to 129).
- *Stretch* (`stretch`): the damped blend is mapped so that the default threshold, 0.7, sits at
  the operating point where the ensemble made its best trade-off on NAB (0.48 before
  stretching). It keeps the order of scores: it changes no ranking, only what 0.7 means.

A young series, whose record detector has too short a memory (under 256 points, or not yet a
whole day), is scored on point evidence alone, without persistence (the first day's rise of a
daily shape is sustained by nature), on the detectors' own scale (0.7 is z = 4) with the faster
damping of ensemble-v2 (0.5% a point, any escalation counting).

The weights, the cap, the groups, the gate, the persistence and the operating point were chosen
on NAB (README, Detection) and kept round; a split of NAB's files in two halves shows the gain on
each.
"""

from __future__ import annotations

import statistics
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
#: the long-memory detector, blended with the point evidence rather than averaged into it
RECORD = "record"
RECORD_WEIGHT = 0.5
#: point evidence at which a record counts in full; below, in proportion
RECORD_GATE = 0.4
PEAK_DECAY = 0.999
#: the same for a young series, scored on point evidence alone as by ensemble-v2
YOUNG_PEAK_DECAY = 0.995
REPEAT_FACTOR = 0.5
#: how far a score must beat the recent peak to count as an escalation, not a repeat
ESCALATION = 1.05
#: the detector whose evidence persistence looks at: one that judges the point itself, so that
#: its score falls back as soon as the series does (the window-based ones echo a lone spike for
#: as long as it stays in their window)
PERSISTENT_DETECTOR = "zscore"
#: points whose median z-score counts as persistent evidence, and the weight it gets
PERSISTENCE_POINTS = 6
PERSISTENCE_GAIN = 1.3
#: the driver's feature when persistence set the point evidence
PERSISTENCE = "persistence"
#: the blended, damped score where the ensemble's NAB optimum lies; `stretch` maps it to 0.7
OPERATING_POINT = 0.48


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


def persistent(
    own: float,
    state: SeriesState,
    points: int = PERSISTENCE_POINTS,
    gain: float = PERSISTENCE_GAIN,
) -> float:
    """`gain` times the median of the evidence `own` over the series' last `points` points, this
    one included (0 until there are that many); remembers this point's.

    >>> s = SeriesState()
    >>> [round(persistent(p, s), 2) for p in (0.1, 0.1, 0.1, 0.1, 0.1, 0.95, 0.1, 0.5, 0.5, 0.5)]
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.13, 0.13, 0.13, 0.39, 0.65]
    """
    state.evidence = [*state.evidence[-(points - 1) :], own]
    if len(state.evidence) < points:
        return 0.0
    return min(1.0, gain * statistics.median(state.evidence))


def blend(point: float, record: float) -> float:
    """Point evidence and the record detector's score, averaged (`RECORD_WEIGHT`). A record
    counts in full only where the point evidence is at least `RECORD_GATE`, else in proportion:
    a series that edges past its old extreme while nothing else about the point is unusual is
    not news.

    >>> blend(0.8, 0.0), blend(0.5, 1.0), blend(0.2, 1.0)
    (0.4, 0.75, 0.35)
    """
    return (1 - RECORD_WEIGHT) * point + record_part(point, record)


def record_part(point: float, record: float) -> float:
    """What the record detector adds to the blend (gated by the point evidence)."""
    return RECORD_WEIGHT * record * min(1.0, point / RECORD_GATE)


def stretch(score: float) -> float:
    """Map [0, 1] onto [0, 1], `OPERATING_POINT` onto 0.7, linearly on each side of it.

    >>> stretch(0.0), round(stretch(OPERATING_POINT), 6), stretch(1.0)
    (0.0, 0.7, 1.0)
    """
    if score <= OPERATING_POINT:
        return score * 0.7 / OPERATING_POINT
    return 0.7 + (score - OPERATING_POINT) * 0.3 / (1 - OPERATING_POINT)


def unstretch(score: float) -> float:
    """The inverse of `stretch`.

    >>> round(unstretch(stretch(0.3)), 6), round(unstretch(stretch(0.9)), 6)
    (0.3, 0.9)
    """
    if score <= 0.7:
        return score * OPERATING_POINT / 0.7
    return OPERATING_POINT + (score - 0.7) * (1 - OPERATING_POINT) / 0.3


def damp_repeats(
    score: float, state: SeriesState, decay: float = PEAK_DECAY, escalation: float = ESCALATION
) -> float:
    """Halve a score that does not beat the series' decaying recent peak by the factor
    `escalation`; update the peak."""
    peak = state.peak
    state.peak = max(peak * decay, score)
    return score * REPEAT_FACTOR if score <= peak * escalation else score


class Scorer:
    """Scores points with a set of detectors and combines their scores.

    A series raises no anomaly before it has seen `warmup_points` points, though it is scored and
    learns from every one. `persistence_points`, `persistence_gain` and `escalation` default to
    the module's settings (`benchmarks.nab.sensitivity` varies them).
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
        persistence_points: int = PERSISTENCE_POINTS,
        persistence_gain: float = PERSISTENCE_GAIN,
        escalation: float = ESCALATION,
    ) -> None:
        if not detectors:
            raise ValueError("a scorer needs at least one detector")
        self.detectors = list(detectors)
        self.weights = DEFAULT_WEIGHTS if weights is None else weights
        self.threshold = threshold
        self.window_size = window_size
        self.warmup_points = warmup_points
        self.model_version = model_version
        self.persistence_points = persistence_points
        self.persistence_gain = persistence_gain
        self.escalation = escalation

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
            hour=ts.hour,
        )
        detector_scores = {}
        record_ready = False
        for detector in self.detectors:
            own = state.detectors.get(detector.name)
            if own is None:
                own = state.detectors[detector.name] = detector.new_state()
            if detector.name == RECORD:
                record_ready = detector.ready(own)
                if detector.first_ready(own):
                    # the recent peak moves from the point evidence's scale to the blend's
                    state.peak = unstretch(state.peak)
            detector_scores[detector.name] = detector.score_one(own, x)
            detector.learn_one(own, x)
        seasonality.learn(state.season, ts, value)
        point_scores = {n: s for n, s in detector_scores.items() if n != RECORD}
        evidence = combine(point_scores, self.weights)
        sustained = persistent(
            point_scores.get(PERSISTENT_DETECTOR, 0.0),
            state,
            self.persistence_points,
            self.persistence_gain,
        )
        if record_ready:
            point = max(evidence, sustained)
            blended = blend(point, detector_scores[RECORD])
            score = stretch(damp_repeats(blended, state, escalation=self.escalation))
        else:  # no long memory yet: the point evidence alone, on its own scale (0.7 is z = 4)
            point = evidence
            score = damp_repeats(point, state, YOUNG_PEAK_DECAY, escalation=1.0)
        record = detector_scores[RECORD] if record_ready else None
        driver = self._driver(point_scores, evidence, x, record, point)
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

    def _driver(
        self,
        detector_scores: dict[str, float],
        evidence: float,
        x: Features,
        record: float | None = None,
        point: float | None = None,
    ) -> str:
        """The detector that weighed most in the score, and the feature that moved it: the record
        detector when its part of the blend outweighs the point evidence's, else the highest
        (robust scores as capped) of the point detectors the mean counts, or of the consensus
        group whose agreement set the point evidence (`evidence`). Where persistence raised the
        point evidence (`point` above `evidence`), "zscore:persistence"."""
        point = evidence if point is None else point
        if record is not None and record_part(point, record) > (1 - RECORD_WEIGHT) * point:
            return f"{RECORD}:{self._detector(RECORD).driver(x)}"
        if point > evidence:
            return f"{PERSISTENT_DETECTOR}:{PERSISTENCE}"
        counted = [n for n in detector_scores if self.weights.get(n, 1.0) > 0]
        for group in CONSENSUS:
            if all(n in detector_scores for n in group):
                if min(detector_scores[n] for n in group) >= evidence:
                    counted = list(group)
        effective = capped({n: detector_scores[n] for n in counted or detector_scores}, ROBUST_CAP)
        name = max(effective, key=effective.__getitem__)
        explain = getattr(self._detector(name), "driver", None)
        return f"{name}:{explain(x) if explain else 'value'}"

    def _detector(self, name: str) -> Detector:
        return next(d for d in self.detectors if d.name == name)
