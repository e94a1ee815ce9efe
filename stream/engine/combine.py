"""The combination by role, compiled: the second half of `Scorer.score_and_learn`.

From the detectors' scores of a point: the evidence of each role, persistence, each channel
against its own tail (`tails`), the strongest channel less the multiplicity, the record's bonus,
repeat damping, the expected value and band, the warm-up, the metric's rule, and what drove the
score, as `stream.scoring` computes them (see its docstring for why each step is there).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream import scoring as py
from stream.detectors import calibration as calibration_py
from stream.engine import hst, tails
from stream.engine.scale import l_to_score, neg_log10_tail

_L_HALF = calibration_py._L_HALF
_LOG10_20 = math.log10(20)
_SQRT2 = math.sqrt(2.0)
_PERSIST = py.PERSISTENCE_POINTS
_RECORD_GATE = py.RECORD_GATE_L
_REPEAT = py.REPEAT_FACTOR
_POINT, _LEVEL, _SHAPE, _NOVELTY, _PERSISTENCE = range(5)

FIELDS = [
    ("evidence", "f8", (_PERSIST,)),
    ("evidence_n", "i8", ()),
    ("peak", "f8", ()),
]
INITIAL: dict = {}

#: what drove a score, as (detector, feature) codes: the detector is its column in
#: `core.DETECTORS`; the feature one of `FEATURES`
FEATURES = (
    "value",
    "level",
    "volatility",
    "stuck",
    "persistence",
    "change",
    "jump",
    "level5",
    "level20",
    "hour",
)


@njit(cache=True)
def score_to_l(score: float) -> float:
    score = max(0.0, score)
    return _L_HALF * score / (1.0 - score) if score < 1.0 else 1e6


@njit(cache=True)
def l_to_z(L: float) -> float:
    """`calibration.l_to_z` (Newton's method from the asymptotic form), each step's tail
    computed once for both the value and the slope (the same numbers the Python path computes
    twice)."""
    if L <= 0:
        return 0.0
    z = max(0.1, math.sqrt(2 * L * tails._LN10))
    for _ in range(30):
        if z < 8.0:
            tail = math.erfc(z / _SQRT2)
            f = -math.log(tail) / tails._LN10 - L
        else:
            f = neg_log10_tail(z) - L
        if abs(f) < 1e-10:
            break
        if z < 8.0:
            density = math.sqrt(2 / math.pi) * math.exp(-z * z / 2)
            slope = density / (tail * tails._LN10)
        else:
            slope = (z + 1 / z) / tails._LN10
        z = max(1e-6, z - f / slope)
    return z


@njit(cache=True)
def _median3(a: float, b: float, c: float) -> float:
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return max(a, b)


#: the columns of a point's verdict (`combine`'s `out`); REFUSED: NaN for a point scored, the
#: series' last time (epoch ms) for one refused as out of order (`core`); REPLAYED: 1 for a point
#: whose Kafka message the series' row already includes (not scored again), else 0
(
    SCORE,
    TOTAL,
    IS_ANOMALY,
    ONGOING,
    EXPECTED,
    LOWER,
    UPPER,
    DIRECTION,
    DRIVER,
    FEATURE,
    REFUSED,
    REPLAYED,
) = range(12)
VERDICT_COLUMNS = 12
#: the scratch numbers `combine` needs
WORK = 9 + 5 + _PERSIST
_RECORD = 8  # the record detector's column in `core.DETECTORS`
#: each detector's own feature (`driver`), by column of `core.DETECTORS`; -1: the trees say
_OWN_FEATURE = np.array([0, 0, 0, 1, 2, 3, -1, 0, 0])
#: the record's measurements (bits of its flags) in the order its driver prefers them: by
#: weight, then by name, as `RecordDetector.driver` takes the max of (weight, name)
_RECORD_PREFERENCE = np.array([0, 1, 3, 2, 4])  # value, level5, level20, jump, hour
_RECORD_FEATURE = np.array([0, 7, 6, 8, 9])  # value, level5, jump, level20, hour in FEATURES


@njit(cache=True)
def record_feature(flags: int) -> int:
    """`RecordDetector.driver` from the measurements at a record (bits of `record._NAMES`), as a
    code of `FEATURES`: the weightiest, "value" when none is."""
    for bit in _RECORD_PREFERENCE:
        if flags & (1 << bit):
            return _RECORD_FEATURE[bit]
    return 0


@njit(cache=True)
def combine(
    r,
    work,
    s,
    record_l,
    record_flags,
    hst_inputs,
    value,
    component,
    expectation,
    rule,
    count,
    params,
    out,
) -> None:
    """The verdict on one point into `out` (`VERDICT_COLUMNS`), learning the series' tails,
    evidence and peak. `s`: the detectors' scores (`core.DETECTORS` order); `hst_inputs`: the
    trees' level, change and volatility inputs (before squashing); `expectation`:
    (has, mean, std) of the point detector that states one; `rule`: (direction: 1 up, -1 down,
    0 both; the least deviation that may alarm); `count`: points the series saw before;
    `params`: (alarm L, threshold, warm-up points, peak decay a point, escalation, ...); `work`:
    room for `WORK` numbers."""
    alarm_l, threshold, warmup, decay, escalation = (
        params[0],
        params[1],
        params[2],
        params[3],
        params[4],
    )
    Ls, evidence, ordered = work[:9], work[9:14], work[14 : 14 + _PERSIST]
    for k in range(9):
        Ls[k] = score_to_l(s[k])
    evidence[_POINT] = 1.0 * _median3(Ls[0], Ls[1], Ls[2])
    evidence[_LEVEL] = 1.0 * max(Ls[3], Ls[4])
    evidence[_SHAPE] = 1.0 * Ls[5]
    evidence[_NOVELTY] = 1.0 * min(Ls[6], Ls[7])
    # the last PERSISTENCE_POINTS point evidences, oldest first
    held = r.evidence_n
    if held == _PERSIST:
        for k in range(_PERSIST - 1):
            r.evidence[k] = r.evidence[k + 1]
        held -= 1
    r.evidence[held] = evidence[_POINT]
    r.evidence_n = held + 1
    channels = 4
    if r.evidence_n == _PERSIST:
        ordered[:] = r.evidence
        ordered.sort()
        median = (ordered[_PERSIST // 2 - 1] + ordered[_PERSIST // 2]) / 2
        evidence[_PERSISTENCE] = max(0.0, 3 * median - _LOG10_20)
        channels = 5
    multiplicity = math.log10(channels)
    channel_alarm = alarm_l + multiplicity
    for c in range(channels):
        r.tail_has[c] = 1
        raw = evidence[c]
        evidence[c] = tails.calibrate(r, c, raw)
        if tails.RUN[c]:
            tails.observe_run(r, c, raw)
        else:
            tails.observe(r, c, raw, evidence[c] >= channel_alarm)
    strongest = 0
    for c in range(1, channels):
        if evidence[c] > evidence[strongest]:
            strongest = c
    L = max(0.0, evidence[strongest] - multiplicity)
    bonus = 1.0 * record_l * min(1.0, L / _RECORD_GATE)
    total = L + bonus
    peak = r.peak
    r.peak = max(peak * decay, total)
    score = l_to_score(total)
    if total <= peak * escalation:
        score = score * _REPEAT

    # what drove it
    if bonus > L:
        detector, feature = _RECORD, record_feature(record_flags)
    else:
        role = _POINT if strongest == _PERSISTENCE else strongest
        first, last = (
            (0, 2)
            if role == _POINT
            else ((3, 4) if role == _LEVEL else ((5, 5) if role == _SHAPE else (6, 7)))
        )
        detector = first
        for k in range(first + 1, last + 1):
            if Ls[k] > Ls[detector]:
                detector = k
        if strongest == _PERSISTENCE:
            feature = 4
        elif _OWN_FEATURE[detector] >= 0:
            feature = _OWN_FEATURE[detector]
        else:  # the trees: the input farthest from usual, read only when they drove the score
            feature = hst.feature(hst_inputs[0], hst_inputs[1], hst_inputs[2])

    # the expected value and the band
    expected, lower, upper, direction = np.nan, np.nan, np.nan, 0.0
    if expectation[0] > 0:
        expected = component + expectation[1]
        held_tails = 0
        for c in range(5):
            held_tails += r.tail_has[c]
        raw_l = alarm_l + math.log10(max(held_tails, 1))
        if r.tail_has[_POINT]:
            raw_l = tails.uncalibrate(r, _POINT, raw_l)
        half_width = l_to_z(raw_l) * expectation[2]
        lower, upper = expected - half_width, expected + half_width
        direction = 1.0 if value >= expected else -1.0

    warmed_up = count >= warmup
    allowed = warmed_up
    if allowed and expectation[0] > 0 and strongest != _SHAPE:
        deviation = value - expected
        if (rule[0] > 0 and deviation < 0) or (rule[0] < 0 and deviation > 0):
            allowed = False
        elif abs(deviation) < rule[1]:
            allowed = False
    is_anomaly = allowed and score >= threshold
    out[SCORE] = score
    out[TOTAL] = total
    out[IS_ANOMALY] = 1.0 if is_anomaly else 0.0
    out[ONGOING] = 1.0 if allowed and not is_anomaly and total >= alarm_l else 0.0
    out[EXPECTED], out[LOWER], out[UPPER], out[DIRECTION] = expected, lower, upper, direction
    out[DRIVER], out[FEATURE] = detector, feature
    out[REFUSED] = np.nan
    out[REPLAYED] = 0.0
