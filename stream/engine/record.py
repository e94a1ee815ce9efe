"""The record detector, compiled: `stream.detectors.record` on a series' row.

Per blocked measurement (value, 5-point level, jump, 20-point level) the extremes of each
finished block in a ring (`record_hi`, `record_lo`; -inf / +inf where a slot is empty), their
extremes over the ring, and the extremes of the block filling now (`record_cur_*`, with whether
it has any point); the last 20 values; per hour of the day the highest and lowest value and the
count; the block size and the points in the block filling now.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream.detectors import record as py
from stream.engine import contract as c
from stream.engine.window import fsum

_DETECTOR = py.RecordDetector()
_BLOCKS = _DETECTOR.n_blocks
_HALF = _BLOCKS // 2
_FIRST_BLOCK = _DETECTOR.block_size
_WARMUP = _DETECTOR.warmup
_M = py._BLOCKED
_RECENT = py._RECENT
_WEIGHTS = np.array(py._WEIGHTS)
_HOUR_MIN = py.HOUR_MIN_OBSERVATIONS
_TOLERANCE = py.VALUE_TOLERANCE

FIELDS = [
    ("record_hi", "f8", (_M, _BLOCKS)),
    ("record_lo", "f8", (_M, _BLOCKS)),
    ("record_slot", "i8", ()),
    ("record_mem_hi", "f8", (_M,)),
    ("record_mem_lo", "f8", (_M,)),
    ("record_has_mem", "u1", ()),
    ("record_cur_hi", "f8", (_M,)),
    ("record_cur_lo", "f8", (_M,)),
    ("record_has_cur", "u1", ()),
    ("record_n", "i8", ()),
    ("record_recent", "f8", (_RECENT,)),
    ("record_recent_n", "i8", ()),
    ("record_by_hour", "f8", (3, 24)),
    ("record_counted", "u1", ()),
    ("record_block", "i8", ()),
    ("record_fill", "i8", ()),
]
_BY_HOUR = np.zeros((3, 24))
_BY_HOUR[0], _BY_HOUR[1] = -np.inf, np.inf
INITIAL = {
    "record_hi": -np.inf,
    "record_lo": np.inf,
    "record_by_hour": _BY_HOUR,
    "record_block": _FIRST_BLOCK,
}
#: fields a point does not read (the finished blocks' ring: read when a block finishes), left
#: out of the fetch ahead of a point (`prefetch`)
COLD = ("record_hi", "record_lo")
#: the columns its step writes (`contract`)
COLUMNS = (py.RecordDetector,)
#: the measurements at a record (bits of its flags, in the order of `record._NAMES`) in the
#: order its driver prefers them: by weight, then by name, as `RecordDetector.driver` takes the
#: max of (weight, name)
_PREFERENCE = np.array(
    sorted(range(len(py._NAMES)), key=lambda b: (py._WEIGHTS[b], py._NAMES[b]), reverse=True)
)
_FEATURE_OF_BIT = np.array([c.FEATURE[name] for name in py._NAMES])
_VALUE = c.FEATURE["value"]


def work_size(window_size: int) -> int:
    """Scratch words a point needs: the measurements, the recent values and their partial
    sums."""
    return _M + _RECENT + _RECENT + 2


@njit(cache=True)
def _ready(r) -> bool:
    if r.record_counted:
        return True
    if r.record_n < _WARMUP:
        return False
    seen_all, seen_any = True, False
    for h in range(24):
        seen = r.record_by_hour[2, h] != 0
        seen_all = seen_all and seen
        seen_any = seen_any or seen
        if seen_any and not seen_all:  # the answer is no, whatever the hours left say
            return False
    return seen_all or not seen_any


@njit(cache=True)
def _filled(r) -> int:
    filled = 0
    for b in range(_BLOCKS):
        filled += np.isfinite(r.record_hi[0, b])
    return filled


@njit(cache=True)
def _memory(r) -> int:
    return min(r.record_n, max(_filled(r) * r.record_block, _BLOCKS * _FIRST_BLOCK))


@njit(cache=True)
def _merge_pairs(r) -> None:
    ring_hi = np.empty((_M, _BLOCKS))
    ring_lo = np.empty((_M, _BLOCKS))
    for j in range(_BLOCKS):
        b = (r.record_slot + j) % _BLOCKS
        ring_hi[:, j] = r.record_hi[:, b]
        ring_lo[:, j] = r.record_lo[:, b]
    for i in range(_M):
        for j in range(_HALF):
            r.record_hi[i, j] = max(ring_hi[i, 2 * j], ring_hi[i, 2 * j + 1])
            r.record_lo[i, j] = min(ring_lo[i, 2 * j], ring_lo[i, 2 * j + 1])
        for j in range(_HALF, _BLOCKS):
            r.record_hi[i, j] = -np.inf
            r.record_lo[i, j] = np.inf
    r.record_slot = _HALF
    r.record_block *= 2


@njit(cache=True)
def score_and_learn(r, value: float, lag1: float, hour: int, m, scratch, partials):
    """(score, evidence L of the score: `RecordDetector.l_value`, the measurements at a record
    as bits in the order of `record._NAMES`) of the point, then learn it;
    `m`: room for the four blocked measurements, `scratch` and
    `partials` for `_RECENT` numbers and one more."""
    held = min(r.record_recent_n, _RECENT - 1)
    start = r.record_recent_n - held
    for k in range(held):
        scratch[k] = r.record_recent[start + k]
    scratch[held] = value
    count = held + 1
    last5 = min(5, count)
    m[0] = value
    m[1] = fsum(scratch[count - last5 : count], last5, partials) / last5
    m[2] = value - lag1
    m[3] = fsum(scratch, count, partials) / count
    ready = _ready(r)
    # the weights of the measurements at a record, summed exactly in their order (math.fsum),
    # gathered in `scratch` once the measurements are read
    at_record = scratch
    chosen = 0
    flags = 0
    if ready:
        for i in range(_M):
            hi, lo = -np.inf, np.inf
            if r.record_has_mem:
                hi, lo = r.record_mem_hi[i], r.record_mem_lo[i]
            if r.record_has_cur:
                hi, lo = max(hi, r.record_cur_hi[i]), min(lo, r.record_cur_lo[i])
            margin = _TOLERANCE * (hi - lo) if i == 0 else 0.0
            if hi > lo and (m[i] > hi + margin or m[i] < lo - margin):
                at_record[chosen] = _WEIGHTS[i]
                chosen += 1
                flags |= 1 << i
        if hour >= 0:
            hi, lo, seen = (
                r.record_by_hour[0, hour],
                r.record_by_hour[1, hour],
                r.record_by_hour[2, hour],
            )
            if seen >= _HOUR_MIN and hi > lo and (value > hi or value < lo):
                at_record[chosen] = _WEIGHTS[_M]
                chosen += 1
                flags |= 1 << _M
    score = fsum(at_record, chosen, partials)
    evidence = 0.0
    if score > 0.0:
        evidence = score * math.log10(max(_memory(r), 2) / 2)

    if not r.record_counted and ready:
        r.record_counted = 1
    if r.record_has_cur:
        for i in range(_M):
            r.record_cur_hi[i] = max(r.record_cur_hi[i], m[i])
            r.record_cur_lo[i] = min(r.record_cur_lo[i], m[i])
    else:
        r.record_cur_hi[:] = m[:_M]
        r.record_cur_lo[:] = m[:_M]
        r.record_has_cur = 1
    if hour >= 0:
        r.record_by_hour[0, hour] = max(r.record_by_hour[0, hour], value)
        r.record_by_hour[1, hour] = min(r.record_by_hour[1, hour], value)
        r.record_by_hour[2, hour] += 1
    r.record_n += 1
    if r.record_recent_n < _RECENT:
        r.record_recent[r.record_recent_n] = value
        r.record_recent_n += 1
    else:
        for k in range(_RECENT - 1):
            r.record_recent[k] = r.record_recent[k + 1]
        r.record_recent[_RECENT - 1] = value
    r.record_fill += 1
    if r.record_fill == r.record_block:
        slot = r.record_slot
        r.record_hi[:, slot] = r.record_cur_hi
        r.record_lo[:, slot] = r.record_cur_lo
        r.record_slot = (slot + 1) % _BLOCKS
        r.record_has_cur = 0
        r.record_fill = 0
        if _filled(r) == _BLOCKS and r.record_n >= 2 * _BLOCKS * r.record_block:
            _merge_pairs(r)
        for i in range(_M):
            r.record_mem_hi[i] = r.record_hi[i].max()
            r.record_mem_lo[i] = r.record_lo[i].min()
        r.record_has_mem = 1
    return score, evidence, flags


@njit(cache=True)
def feature(flags: int) -> int:
    """`RecordDetector.driver` from the measurements at a record (`flags`, bits of
    `record._NAMES`), as a code of `contract.FEATURES`: the weightiest, "value" when none is."""
    for bit in _PREFERENCE:
        if flags & (1 << bit):
            return _FEATURE_OF_BIT[bit]
    return _VALUE


@njit(cache=True)
def step(r, x, scores, features, work) -> None:
    """The contract's step (`contract`): the record's score of the point and its evidence L
    (the long-memory detector's), and the measurement at a record that drove it, then learn
    it."""
    measured, recent, partials = work[:_M], work[_M : _M + _RECENT], work[_M + _RECENT :]
    score, evidence, flags = score_and_learn(
        r, x[c.VALUE], x[c.LAG1], int(x[c.HOUR]), measured, recent, partials
    )
    scores[0] = score
    x[c.LONG_MEMORY_L] = evidence
    features[0] = feature(flags)
