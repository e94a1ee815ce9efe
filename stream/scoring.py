"""Scores one point of a series: seasonality out, features, every detector, one combined score.

Pure code: it reads and updates a `SeriesState` and returns numbers; no Kafka, no database.

Every detector's score is on one scale (`detectors.calibration`): L, -log10 of how probable the
evidence is, mapped to [0, 1) with 0.7 at a one-in-16,000 event. The combination works on L, by
the detectors' roles (`detectors.base`), never their names:

1. *Within a role*: the point detectors (EW z-score, MAD, IQR: three views of one value) by their
   median, so a spike they see is not diluted by detectors that look at other things and one
   view's quirk is not enough; the level and shape detectors by the highest; the novelty
   detectors (isolation trees, patterns), each noisy alone, by the lowest, so they count when
   they agree. Each role's evidence is weighted (`ROLE_WEIGHTS`); a detector whose role has no
   weight is refused when the scorer is built, never silently counted.
2. *Persistence*: a run of moderately unusual points is rarer than any one of them. The median
   point evidence of the last `PERSISTENCE_POINTS` (6) points, m, means at least 3 of the 6 lay
   that far out: for independent points about 20 x p^3, so it counts as 3 m - 1.3 (the way an
   alert rule's `for: 30m` weighs a condition that holds).
3. *Between roles*: the strongest evidence (the max), so a spike, a level shift, a stuck value
   each stand on their own.
4. *Long memory* adds, never takes away: a value beyond everything the series did in weeks is
   evidence of its own (`RecordDetector.l_value`, about log10(n / 2) for n points of memory),
   added in full once the other evidence says the point is unusual (L of 1.3, p = 5%), in
   proportion below. A burst the series has shown before is judged on its own evidence, as on
   the first day: a crash that comes every day is still an incident every day.
5. *Tail calibration* (`tail_calibration`): the series' own tail of that evidence, so that 0.7
   means the same false-alarm rate on a series with heavy-tailed noise as on a Gaussian one; an
   episode of alarms (fewer than 6 quiet points between alarms) teaches a channel's tail once,
   at its onset; a shape channel's run (a stuck value) teaches it once, by its peak, when it
   ends (`RUN_ROLES`).
6. *Repeat damping*: a point whose evidence does not beat the series' recent peak by 5% has its
   score halved. The peak fades with a half-life of `PEAK_HALF_LIFE` points, so an anomaly alarms
   at its onset and at each clear escalation, not at every point, and the next episode alarms
   again. Compared on L, which does not saturate near 1 as the score does. A damped point whose
   evidence is over the threshold is `ongoing`: the anomaly goes on, and keeps its incident open.

Each point also gets what it was expected to be: the seasonal component plus the point EW mean,
and a band, the values that would have scored under the threshold on the point evidence
(`expected`, `lower`, `upper`), and the `direction` of the deviation (above/below).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from stream import capacity, forecast, seasonality, tail_calibration
from stream.detectors.base import ROLES, Detector
from stream.detectors.calibration import l_to_score, l_to_z, score_to_l
from stream.features import Features, SeriesState, window_features
from stream.metric_rules import MetricRules


class PointScore(NamedTuple):
    """The verdict on one point. A named tuple, as the worker builds one a point: a frozen
    dataclass of these fields takes several times as long to build."""

    score: float
    is_anomaly: bool
    detector_scores: dict[str, float]
    #: the point's window features (None from the compiled engine, which computes none)
    features: Features | None
    model_version: str
    #: what drove the score: "<detector>:<feature>", e.g. "zscore:value", "shift:level"
    driver: str
    #: what the series was expected to be at this point, and the band of values that would have
    #: scored under the threshold (None while the series is too young to say)
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    #: "above" or "below" the expected value
    direction: str | None = None
    #: the point continues a run over the threshold that already alarmed, but was damped as a
    #: repeat: the anomaly goes on (incidents stay open) though this point raises no alarm
    ongoing: bool = False

    def reported(self) -> dict:
        """What an anomaly tells of its verdict, by the field names of the anomaly events and
        of `/anomaly/detect`'s answer."""
        return {
            "score": self.score,
            "detector_scores": self.detector_scores,
            "driver": self.driver,
            "model_version": self.model_version,
            "expected": self.expected,
            "lower": self.lower,
            "upper": self.upper,
            "direction": self.direction,
        }


#: how the evidence of each role's detectors is combined (see the module docstring)
ROLE_RULES = {
    "point": statistics.median,
    "level": max,
    "shape": max,
    "novelty": min,
}
#: the weight of each role's evidence; a detector of a role not named here is refused
ROLE_WEIGHTS = {"point": 1.0, "level": 1.0, "shape": 1.0, "novelty": 1.0, "long_memory": 1.0}
#: points whose median point evidence counts as persistent evidence
PERSISTENCE_POINTS = 6
#: roles whose evidence grows with every point a condition holds (a stuck value's run): one
#: run is one event, so their tail learns each run once, by its peak (`observe_run`); learnt
#: point by point, a run's own rising evidence taught the tail that such evidence is common and
#: muted the run it came from
RUN_ROLES = frozenset({"shape"})
#: the role whose evidence persistence looks at: it judges each point itself, so it falls back
#: as soon as the series does
PERSISTENT_ROLE = "point"
#: the driver's feature when persistence set the score
PERSISTENCE = "persistence"
#: other evidence (L) at which a record counts in full (p = 5%); below, in proportion
RECORD_GATE_L = 1.3
REPEAT_FACTOR = 0.5
#: how far a score must beat the recent peak to count as an escalation, not a repeat
ESCALATION = 1.05
#: points over which the recent peak halves
PEAK_HALF_LIFE = 30
#: event time over which the capacity trend line's weights halve (`CAPACITY_TREND_HOURS`)
TREND_HALF_LIFE_HOURS = 24.0


def point_features(state: SeriesState, value: float, signal: float, ts: datetime) -> Features:
    """The features of `value` (its `signal` the value less its seasonal component) against what
    the series holds before it."""
    return window_features(
        value,
        state.window,
        signal=signal,
        history=tuple(state.history),
        long_run=state.long_run,
        hour=ts.hour,
        resolution=state.resolution or 0.0,
    )


def persistent_l(median_l: float) -> float:
    """Evidence of at least 3 of 6 independent points beyond -log10 p = `median_l`: 20 p^3.

    >>> round(persistent_l(2.0), 2), persistent_l(0.2)
    (4.7, 0.0)
    """
    return max(0.0, 3 * median_l - math.log10(20))


def damp_repeats(
    evidence: float, state: SeriesState, decay: float, escalation: float = ESCALATION
) -> float:
    """The score of `evidence` (L), halved where it does not beat the series' recent peak of
    evidence (decaying by `decay` a point) by the factor `escalation`; updates the peak. Compared
    on L, not on the score: scores saturate near 1, where no escalation could beat a peak by a
    share of it.

    >>> s = SeriesState()
    >>> [round(damp_repeats(L, s, decay=0.99), 3) for L in (20.0, 20.0, 22.0, 1.0)]
    [0.917, 0.459, 0.924, 0.179]
    """
    peak = state.peak
    state.peak = max(peak * decay, evidence)
    score = l_to_score(evidence)
    return score * REPEAT_FACTOR if evidence <= peak * escalation else score


class Scorer:
    """Scores points with a set of detectors and combines their scores by role.

    Each point also teaches the series' forecaster, and each point that is no anomaly its
    capacity trend line (`stream.forecast`, `stream.capacity`; weights of the line halving every
    `trend_half_life_hours`).

    A series raises no anomaly before it has seen `warmup_points` points, though it is scored and
    learns from every one; nor where the metric's rule (`rules`, by metric name) does not allow
    the deviation. Raises ValueError for a detector whose role has no weight, and for more than
    one long-memory detector (whose evidence is added, not combined).
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        threshold: float,
        window_size: int,
        warmup_points: int,
        model_version: str,
        role_weights: dict[str, float] | None = None,
        persistence_points: int = PERSISTENCE_POINTS,
        escalation: float = ESCALATION,
        peak_half_life: float = PEAK_HALF_LIFE,
        calibrate_tails: bool = True,
        rules: MetricRules | None = None,
        trend_half_life_hours: float = TREND_HALF_LIFE_HOURS,
    ) -> None:
        if not detectors:
            raise ValueError("a scorer needs at least one detector")
        self.role_weights = ROLE_WEIGHTS if role_weights is None else role_weights
        for d in detectors:
            if d.role not in ROLES or d.role not in self.role_weights:
                raise ValueError(
                    f"detector {d.name!r} has role {d.role!r}, which the combiner has no weight "
                    f"for (weights: {sorted(self.role_weights)})"
                )
        long_memory = [d.name for d in detectors if d.role == "long_memory"]
        if len(long_memory) > 1:
            raise ValueError(f"one long-memory detector at most, not {long_memory}")
        self.detectors = list(detectors)
        self.threshold = threshold
        #: the threshold as evidence L, the scale the combination works on
        self.alarm_l = score_to_l(threshold)
        self.window_size = window_size
        self.warmup_points = warmup_points
        self.model_version = model_version
        self.persistence_points = persistence_points
        self.escalation = escalation
        self.peak_decay = 0.5 ** (1.0 / peak_half_life)
        self.calibrate_tails = calibrate_tails
        self.rules = rules
        self.trend_half_life_hours = trend_half_life_hours
        # the detector that states the expected value: the first point detector that can
        self._expecting = next(
            (d for d in self.detectors if d.role == "point" and hasattr(d, "expectation")), None
        )

    def score_and_learn(
        self, state: SeriesState, value: float, ts: datetime, metric: str | None = None
    ) -> PointScore:
        """Score `value` at `ts` against what the series has seen, then learn it (state updated);
        `metric`: the series' metric name, for its rule."""
        if state.season is None:
            state.season = seasonality.new_state()
        if state.tail is None:
            state.tail = {}
        component = seasonality.seasonal_component(state.season, ts)
        signal = value - component
        x = point_features(state, value, signal, ts)
        detector_scores: dict[str, float] = {}
        by_role: dict[str, list[tuple[float, Detector]]] = {}
        record_l, record_detector = 0.0, None
        expectation = None
        for detector in self.detectors:
            own = state.detectors.get(detector.name)
            if own is None:
                own = state.detectors[detector.name] = detector.new_state()
            score = detector.score_one(own, x)
            detector_scores[detector.name] = score
            if detector.role == "long_memory":
                record_l, record_detector = detector.l_value(own, score), detector
            else:
                by_role.setdefault(detector.role, []).append((score_to_l(score), detector))
            if detector is self._expecting:
                expectation = detector.expectation(own)
            detector.learn_one(own, x)
        # the forecaster learns from the same component (`forecast`), so a forecast read later
        # costs no fit
        if state.forecast is None:
            state.forecast = forecast.new_state()
        forecast.learn(state.forecast, value, component, state.season)
        seasonality.learn(state.season, ts, value)

        evidence = {
            role: self.role_weights[role] * ROLE_RULES[role]([evid for evid, _ in members])
            for role, members in by_role.items()
        }
        own_point = evidence.get(PERSISTENT_ROLE, 0.0)
        state.evidence = [*state.evidence[-(self.persistence_points - 1) :], own_point]
        if len(state.evidence) == self.persistence_points:
            evidence[PERSISTENCE] = persistent_l(statistics.median(state.evidence))
        # the strongest of k channels is k times likelier to be extreme by chance
        multiplicity = math.log10(len(evidence)) if evidence else 0.0
        if self.calibrate_tails:
            # each channel against its own tail, so a noisy channel cannot mute the others; an
            # episode of alarms teaches the channel's tail once, at its onset (`observe`)
            alarm_l = self.alarm_l + multiplicity
            for channel, L in evidence.items():
                tail = state.tail.get(channel)
                if tail is None:
                    tail = state.tail[channel] = tail_calibration.new_tail()
                evidence[channel] = tail_calibration.calibrate(tail, L)
                if channel in RUN_ROLES:
                    tail_calibration.observe_run(tail, L)
                else:
                    tail_calibration.observe(tail, L, alarming=evidence[channel] >= alarm_l)
        strongest = max(evidence, key=evidence.__getitem__) if evidence else None
        L = max(0.0, evidence[strongest] - multiplicity) if strongest else 0.0
        bonus = self.role_weights.get("long_memory", 0.0) * record_l * min(1.0, L / RECORD_GATE_L)
        total = L + bonus
        score = damp_repeats(total, state, self.peak_decay, self.escalation)

        driver = self._driver(strongest, by_role, x, bonus > L, record_detector)
        band = self._band(state, component, expectation, value)
        # rounded for storage and display only: the combination ranks on full precision
        detector_scores = {name: round(s, 6) for name, s in detector_scores.items()}
        warmed_up = state.count >= self.warmup_points
        state.push(value, self.window_size, signal)
        # the capacity line is a least-squares fit, which one spike would tilt: an anomalous
        # point does not teach it (a level shift does, once its points are ongoing, not new)
        if state.trend is None:
            state.trend = capacity.new_state()
        if not (warmed_up and score >= self.threshold):
            capacity.learn(state.trend, ts, signal, self.trend_half_life_hours)
        allowed = warmed_up and self._allowed(metric, strongest, band.get("expected"), value)
        is_anomaly = allowed and score >= self.threshold
        return PointScore(
            score=score,
            is_anomaly=is_anomaly,
            ongoing=allowed and not is_anomaly and total >= self.alarm_l,
            detector_scores=detector_scores,
            features=x,
            model_version=state.model_version or self.model_version,
            driver=driver,
            **band,
        )

    def _allowed(
        self, metric: str | None, strongest: str | None, expected: float | None, value: float
    ) -> bool:
        """Whether the metric's rule lets this deviation alarm (a stuck value is no deviation)."""
        if self.rules is None or metric is None or expected is None or strongest == "shape":
            return True
        rule = self.rules.for_metric(metric)
        return rule is None or rule.allows(expected=expected, value=value)

    def _band(
        self,
        state: SeriesState,
        component: float,
        expectation: tuple[float, float] | None,
        value: float,
    ) -> dict:
        """Expected value, the band inside which the point evidence stays under the threshold
        (after the series' tail calibration), and the direction of the deviation."""
        if expectation is None:
            return {}
        mean, std = expectation
        expected = component + mean
        channels = len(state.tail) or 1
        raw_l = self.alarm_l + math.log10(channels)
        if self.calibrate_tails and PERSISTENT_ROLE in state.tail:
            raw_l = tail_calibration.uncalibrate(state.tail[PERSISTENT_ROLE], raw_l)
        half_width = l_to_z(raw_l) * std
        return {
            "expected": expected,
            "lower": expected - half_width,
            "upper": expected + half_width,
            "direction": "above" if value >= expected else "below",
        }

    @staticmethod
    def _driver(
        strongest: str | None,
        by_role: dict[str, list[tuple[float, Detector]]],
        x: Features,
        record_led: bool,
        record_detector: Detector | None,
    ) -> str:
        """The detector that set the score and the feature that moved it: the long-memory
        detector where its evidence outweighed the rest, "<point detector>:persistence" where the
        run of unusual points did, else the highest-scoring detector of the strongest role."""
        if record_led and record_detector is not None:
            return f"{record_detector.name}:{record_detector.driver(x)}"
        if strongest is None:
            return "none:value"
        role = PERSISTENT_ROLE if strongest == PERSISTENCE else strongest
        _, detector = max(by_role[role], key=lambda member: member[0])
        if strongest == PERSISTENCE:
            return f"{detector.name}:{PERSISTENCE}"
        explain = getattr(detector, "driver", None)
        return f"{detector.name}:{explain(x) if explain else 'value'}"
