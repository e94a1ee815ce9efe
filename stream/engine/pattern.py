"""The pattern detector, compiled: `stream.detectors.pattern` on a series' row.

A series' row holds its remembered subsequences (uint8, `memory` x `length`), how many it holds
and has stored, and the EW statistics of its log nonconformity. The mean of the `k` nearest
distances is summed in ascending order, the order `np.partition` leaves them in for k <= 3
(numpy selects so few by repeated minimum), so the sum is the Python path's to the bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream.detectors import pattern as py
from stream.engine import contract as c
from stream.engine.scale import z_to_score

_DETECTOR = py.PatternDetector()
LENGTH, MEMORY, K = _DETECTOR.length, _DETECTOR.memory, _DETECTOR.k
if K > 3:
    raise ImportError(
        "the compiled pattern detector sums its nearest distances as numpy does for k <= 3"
    )
_CLIP = py._CLIP
_QUANT = py._QUANT
_SCATTER_MOD = py._SCATTER % MEMORY

FIELDS = [
    ("pattern_mem", "u1", (MEMORY, LENGTH)),
    ("pattern_held", "i8", ()),
    ("pattern_n", "i8", ()),
    ("pattern_cn", "i8", ()),
    ("pattern_mean", "f8", ()),
    ("pattern_var", "f8", ()),
]
INITIAL: dict = {}
#: the columns its step writes (`contract`)
COLUMNS = (py.PatternDetector,)
_VALUE = c.FEATURE["value"]
#: the step's scratch, in bytes: the subsequence (whole words, so what follows stays aligned
#: for the 64-bit view `_nearest_mean` takes), then the distances' room
_SUBSEQUENCE = -(-LENGTH // 8) * 8
_WORK_BYTES = _SUBSEQUENCE + 2 * MEMORY * LENGTH


def work_size(window_size: int) -> int:
    """Scratch words a point needs: the subsequence's bytes and the distances' room."""
    return -(-_WORK_BYTES // 8)


_LOW_BYTES = np.uint64(0x00FF00FF00FF00FF)
_ONES = np.uint64(0x0001000100010001)
_EIGHT, _FORTY_EIGHT = np.uint64(8), np.uint64(48)


#: no subsequence yet: a sum larger than any of `LENGTH` byte differences
_NO_SUM = 1 << 62


@njit(cache=True)
def _distance(byte_sum: int) -> float:
    """The distance of a subsequence whose byte differences sum to `byte_sum` (inf: none)."""
    return np.inf if byte_sum == _NO_SUM else byte_sum / LENGTH / _QUANT


@njit(cache=True)
def _nearest_mean(r, v, work) -> float:
    """The mean of the `K` smallest distances of `v` to the remembered subsequences, summed in
    ascending order (as numpy's partition leaves them). `work`: room for 2 x `MEMORY` x
    `LENGTH` bytes.

    The byte differences are taken in one flat loop and each subsequence's 8 summed as one
    64-bit word, both loops the compiler turns into vector instructions; the `K` smallest are
    then chosen among the integer sums and only they are made distances. A distance is its sum
    scaled, and scaling never reorders, so these are the `K` smallest distances, to the bit."""
    held = r.pattern_held
    size = held * LENGTH
    flat = r.pattern_mem.reshape(-1)
    tiled, diff = work[: MEMORY * LENGTH], work[MEMORY * LENGTH :]
    tiled.view(np.uint64)[:held] = v.view(np.uint64)[0]
    for k in range(size):
        p, q = flat[k], tiled[k]
        diff[k] = p - q if p > q else q - p
    sums = diff.view(np.uint64)  # each subsequence's word becomes its sum, in place
    for row in range(held):
        x = sums[row]
        pairs = (x & _LOW_BYTES) + ((x >> _EIGHT) & _LOW_BYTES)
        sums[row] = (pairs * _ONES) >> _FORTY_EIGHT
    first = second = third = _NO_SUM  # the three smallest sums, ascending
    for row in range(held):
        s = int(sums[row])
        if s < third:
            if s < second:
                third = second
                if s < first:
                    second, first = first, s
                else:
                    second = s
            else:
                third = s
    total = _distance(first)
    if K >= 2:
        total += _distance(second)
    if K >= 3:
        total += _distance(third)
    return total / K


@njit(cache=True)
def score_and_learn(r, signal: float, center: float, spread: float, v, work) -> float:
    """The calibrated score of the subsequence ending with `signal`, then learn it; `v`: room
    for `LENGTH` bytes, `work` for 2 x `MEMORY` x `LENGTH`."""
    if r.hist_n < LENGTH - 1:
        return 0.0
    start = r.hist_n - (LENGTH - 1)
    for j in range(LENGTH):
        s = r.hist[start + j] if j < LENGTH - 1 else signal
        units = min(max((s - center) / spread, -_CLIP), _CLIP)
        v[j] = np.uint8(np.rint((units + _CLIP) * _QUANT))
    has_distance = r.pattern_held >= 2 * K
    score = 0.0
    if has_distance:
        d = _nearest_mean(r, v, work)
        if r.pattern_cn >= 20:
            z = (math.log(d + 0.05) - r.pattern_mean) / max(math.sqrt(r.pattern_var), 0.05)
            score = z_to_score(max(0.0, z))
        a = max(0.01, 1.0 / (r.pattern_cn + 1))
        delta = math.log(d + 0.05) - r.pattern_mean
        r.pattern_mean += a * delta
        r.pattern_var = (1 - a) * (r.pattern_var + a * delta * delta)
        r.pattern_cn += 1
    if r.pattern_held < MEMORY:
        slot = r.pattern_held
        r.pattern_held += 1
    else:
        slot = ((r.pattern_n % MEMORY) * _SCATTER_MOD) % MEMORY
    r.pattern_mem[slot, :] = v
    r.pattern_n += 1
    return score


@njit(cache=True)
def step(r, x, scores, features, work) -> None:
    """The contract's step (`contract`): the score of the subsequence ending with the point's
    signal, then learn it."""
    room = work.view(np.uint8)
    scores[0] = score_and_learn(
        r,
        x[c.SIGNAL],
        x[c.CENTER],
        x[c.SPREAD],
        room[:LENGTH],
        room[_SUBSEQUENCE:_WORK_BYTES],
    )
    features[0] = _VALUE
