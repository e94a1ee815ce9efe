"""The combination by role, compiled: the second half of `Scorer.score_and_learn`.

From the detectors' scores of a point: the evidence of each role, persistence, each channel
against its own tail (`tails`), the strongest channel less the multiplicity, the long-memory
bonus, repeat damping, the expected value and band, the warm-up, the metric's rule, and what
drove the score, as `stream.scoring` computes them (see its docstring for why each step is
there). It knows the detectors by their roles only (`registry.LAYOUT`), as `Scorer` does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream import scoring as py
from stream.detectors import calibration as calibration_py
from stream.detectors.base import ROLES
from stream.engine import contract, tails
from stream.engine.registry import LAYOUT
from stream.engine.scale import l_to_score, neg_log10_tail

_L_HALF = calibration_py._L_HALF
_LOG10_20 = math.log10(20)
_SQRT2 = math.sqrt(2.0)
_PERSIST = py.PERSISTENCE_POINTS
_RECORD_GATE = py.RECORD_GATE_L
_REPEAT = py.REPEAT_FACTOR
#: the channels of evidence, as their tails are indexed (`tails.CHANNELS`)
_POINT = tails.CHANNELS.index(py.PERSISTENT_ROLE)
_SHAPE = tails.CHANNELS.index("shape")
_PERSISTENCE = tails.CHANNELS.index(py.PERSISTENCE)
_N_CHANNELS = len(tails.CHANNELS)

#: the detectors as the combination knows them: each column's role (index in `ROLES`), how each
#: role's evidence is combined and weighed, and the long-memory column (-1: none)
_N = len(LAYOUT.names)
_ROLE_OF = LAYOUT.roles
_RULES = LAYOUT.rules
_WEIGHTS = LAYOUT.weights
_LONG_MEMORY = LAYOUT.long_memory
_ROLE_LONG_MEMORY = ROLES.index("long_memory")
#: the role of each channel (-1: persistence, which is no role)
_ROLE_OF_CHANNEL = np.array(
    [ROLES.index(ch) if ch in ROLES else -1 for ch in tails.CHANNELS], dtype=np.int64
)
#: the columns of each channel's role, flat, in the detectors' order: channel c's are
#: `_MEMBERS[_FIRST[c]:_FIRST[c + 1]]`; with how the channel's evidence is combined and weighed
_MEMBERS = np.array(
    [k for role in _ROLE_OF_CHANNEL for k in range(_N) if _ROLE_OF[k] == role], dtype=np.int64
)
_FIRST = np.cumsum([0, *[int((_ROLE_OF == role).sum()) for role in _ROLE_OF_CHANNEL]])
_CHANNEL_RULE = np.array([_RULES[role] if role >= 0 else -1 for role in _ROLE_OF_CHANNEL])
_CHANNEL_WEIGHT = np.array([_WEIGHTS[role] if role >= 0 else 0.0 for role in _ROLE_OF_CHANNEL])
#: the channels of the roles that have detectors, in the order `Scorer` first meets them (its
#: detectors' order; the strongest of equal channels is the first), then with persistence
_MET = [
    tails.CHANNELS.index(ROLES[role])
    for role in dict.fromkeys(LAYOUT.roles.tolist())
    if ROLES[role] != "long_memory"
]
_CHANNELS = np.array(_MET, dtype=np.int64)
_CHANNELS_PERSISTING = np.array([*_MET, _PERSISTENCE], dtype=np.int64)

FIELDS = [
    ("evidence", "f8", (_PERSIST,)),
    ("evidence_n", "i8", ()),
    ("peak", "f8", ()),
]
INITIAL: dict = {}

#: what drove a score, as (detector, feature) codes: the detector is its column in
#: `core.DETECTORS`; the feature one of `FEATURES`
FEATURES = contract.FEATURES
_PERSISTENCE_FEATURE = contract.FEATURE[py.PERSISTENCE]


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
def _within_role(members, held: int, rule: int) -> float:
    """The evidence of a role from its `held` members' evidence (`scoring.ROLE_RULES`); sorts
    `members` in place for the median."""
    if rule == contract.MEDIAN:  # statistics.median: the middle one, or the mean of the two
        for i in range(1, held):
            v = members[i]
            j = i
            while j > 0 and members[j - 1] > v:
                members[j] = members[j - 1]
                j -= 1
            members[j] = v
        half = held // 2
        return members[half] if held % 2 else (members[half - 1] + members[half]) / 2
    combined = members[0]
    for i in range(1, held):
        if (rule == contract.HIGHEST and members[i] > combined) or (
            rule == contract.LOWEST and members[i] < combined
        ):
            combined = members[i]
    return combined


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
#: the scratch numbers `combine` needs: each column's evidence, a role's members, each
#: channel's evidence, the persistence window sorted
WORK = 2 * _N + _N_CHANNELS + _PERSIST


@njit(cache=True)
def _sorted_into(ordered, values) -> None:
    """`values` sorted into `ordered` by insertion, NaN last as numpy's sort leaves it: a few
    numbers a point, which numba's general sort takes several times as long over."""
    for k in range(len(values)):
        v = values[k]
        j = k
        while j > 0 and (ordered[j - 1] > v or (np.isnan(ordered[j - 1]) and not np.isnan(v))):
            ordered[j] = ordered[j - 1]
            j -= 1
        ordered[j] = v


@njit(cache=True)
def combine(r, work, s, explained, x, component, rule, count, params, out) -> None:
    """The verdict on one point into `out` (`VERDICT_COLUMNS`), learning the series' tails,
    evidence and peak. `s`: the detectors' scores and `explained`: the feature that moved each
    (`core.DETECTORS` order); `x`: the point's features, with what its detectors wrote there
    (the expectation, the long-memory evidence; `contract`); `rule`: (direction: 1 up, -1 down,
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
    value = x[contract.VALUE]
    Ls, members = work[:_N], work[_N : 2 * _N]
    evidence = work[2 * _N : 2 * _N + _N_CHANNELS]
    ordered = work[2 * _N + _N_CHANNELS : 2 * _N + _N_CHANNELS + _PERSIST]
    for k in range(_N):
        Ls[k] = score_to_l(s[k])
    evidence[:] = 0.0
    for c in _CHANNELS:
        first, held = _FIRST[c], _FIRST[c + 1] - _FIRST[c]
        for j in range(held):
            members[j] = Ls[_MEMBERS[first + j]]
        evidence[c] = _CHANNEL_WEIGHT[c] * _within_role(members, held, _CHANNEL_RULE[c])
    # the last PERSISTENCE_POINTS point evidences, oldest first
    held = r.evidence_n
    if held == _PERSIST:
        for k in range(_PERSIST - 1):
            r.evidence[k] = r.evidence[k + 1]
        held -= 1
    r.evidence[held] = evidence[_POINT]
    r.evidence_n = held + 1
    channels = _CHANNELS
    if r.evidence_n == _PERSIST:
        _sorted_into(ordered, r.evidence)
        median = (ordered[_PERSIST // 2 - 1] + ordered[_PERSIST // 2]) / 2
        evidence[_PERSISTENCE] = max(0.0, 3 * median - _LOG10_20)
        channels = _CHANNELS_PERSISTING
    multiplicity = math.log10(len(channels))
    channel_alarm = alarm_l + multiplicity
    for c in channels:
        r.tail_has[c] = 1
        raw = evidence[c]
        evidence[c] = tails.calibrate(r, c, raw)
        if tails.RUN[c]:
            tails.observe_run(r, c, raw)
        else:
            tails.observe(r, c, raw, evidence[c] >= channel_alarm)
    strongest = channels[0]
    for c in channels[1:]:
        if evidence[c] > evidence[strongest]:
            strongest = c
    L = max(0.0, evidence[strongest] - multiplicity)
    record_l = x[contract.LONG_MEMORY_L] if _LONG_MEMORY >= 0 else 0.0
    bonus = _WEIGHTS[_ROLE_LONG_MEMORY] * record_l * min(1.0, L / _RECORD_GATE)
    total = L + bonus
    peak = r.peak
    r.peak = max(peak * decay, total)
    score = l_to_score(total)
    if total <= peak * escalation:
        score = score * _REPEAT

    # what drove it: the long-memory detector where its bonus outweighed the rest, else the
    # strongest detector of the strongest role (the point role's where persistence was)
    if bonus > L:
        detector = _LONG_MEMORY
        feature = explained[detector]
    else:
        c = _POINT if strongest == _PERSISTENCE else strongest
        detector = _MEMBERS[_FIRST[c]]
        for j in range(_FIRST[c] + 1, _FIRST[c + 1]):
            if Ls[_MEMBERS[j]] > Ls[detector]:
                detector = _MEMBERS[j]
        feature = _PERSISTENCE_FEATURE if strongest == _PERSISTENCE else explained[detector]

    # the expected value and the band
    expected, lower, upper, direction = np.nan, np.nan, np.nan, 0.0
    expects = x[contract.EXPECTS] > 0
    if expects:
        expected = component + x[contract.EXPECTED_MEAN]
        held_tails = 0
        for c in range(_N_CHANNELS):
            held_tails += r.tail_has[c]
        raw_l = alarm_l + math.log10(max(held_tails, 1))
        if r.tail_has[_POINT]:
            raw_l = tails.uncalibrate(r, _POINT, raw_l)
        half_width = l_to_z(raw_l) * x[contract.EXPECTED_STD]
        lower, upper = expected - half_width, expected + half_width
        direction = 1.0 if value >= expected else -1.0

    warmed_up = count >= warmup
    allowed = warmed_up
    if allowed and expects and strongest != _SHAPE:
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
