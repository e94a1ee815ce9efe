"""Half-space trees, compiled: `stream.detectors.hst` on a series' row.

The trees' structure is the Python detector's (built once from its seed, shared by every
series); a series' row holds its reference and latest masses (uint8, trees x nodes), the points
in the latest window, whether a reference exists, and the EW statistics of its raw scores.
"""

from __future__ import annotations

import math

from numba import njit

from stream.detectors import hst as py
from stream.engine import contract as c
from stream.engine.scale import z_to_score

_DETECTOR = py.HalfSpaceTrees()
_N_TREES, _HEIGHT = _DETECTOR.n_trees, _DETECTOR.height
_N_NODES = _DETECTOR.n_nodes
_WINDOW = _DETECTOR.window_size
_FEATURE = _DETECTOR.feature.copy()
_SPLIT = _DETECTOR.split.copy()
_SIZE_LIMIT = _DETECTOR._size_limit
_MAX_SCORE = float(_DETECTOR._max_score)

FIELDS = [
    ("hst_r", "u1", (_N_TREES, _N_NODES)),
    ("hst_l", "u1", (_N_TREES, _N_NODES)),
    ("hst_k", "i8", ()),
    ("hst_ready", "u1", ()),
    ("hst_n", "i8", ()),
    ("hst_mean", "f8", ()),
    ("hst_var", "f8", ()),
]
INITIAL: dict = {}
#: the columns its step writes (`contract`)
COLUMNS = (py.HalfSpaceTrees,)
_LEVEL, _CHANGE, _VOLATILITY = c.FEATURE["level"], c.FEATURE["change"], c.FEATURE["volatility"]


def work_size(window_size: int) -> int:
    """Scratch words a point needs: none (each tree is walked once)."""
    return 0


@njit(cache=True)
def squash(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)) / 2.0))


@njit(cache=True)
def score_and_learn(r, u0: float, u1: float, u2: float) -> float:
    """The calibrated score of the point whose squashed inputs (`HalfSpaceTrees.vector`) are
    u0, u1, u2, then learn it. Each tree is walked once, reading the reference masses and
    counting the point into the latest ones, which the reading never looks at."""
    ready = r.hst_ready
    total = 0.0
    for tree in range(_N_TREES):
        node = 0
        weight = 1.0
        adding = ready  # River stops adding at the first node lighter than the limit
        for depth in range(_HEIGHT + 1):
            if adding:
                mass = float(r.hst_r[tree, node])
                total += mass * weight
                if mass < _SIZE_LIMIT:
                    adding = False
                weight *= 2.0
            r.hst_l[tree, node] += 1
            if depth < _HEIGHT:
                f = _FEATURE[tree, node]
                u = u0 if f == 0 else (u1 if f == 1 else u2)
                node = 2 * node + (2 if u >= _SPLIT[tree, node] else 1)
    raw = 1.0 - total / _MAX_SCORE if ready else 0.0
    score = 0.0
    if r.hst_n >= 10:
        std = max(math.sqrt(r.hst_var), 1e-6)
        score = z_to_score(max(0.0, (raw - r.hst_mean) / std))
    if ready:
        a = max(0.01, 1.0 / (r.hst_n + 1))
        delta = raw - r.hst_mean
        r.hst_mean += a * delta
        r.hst_var = (1 - a) * (r.hst_var + a * delta * delta)
        r.hst_n += 1
    r.hst_k += 1
    if r.hst_k == _WINDOW:
        r.hst_r[:, :] = r.hst_l
        r.hst_l[:, :] = 0
        r.hst_k = 0
        r.hst_ready = 1
    return score


@njit(cache=True)
def feature(u0: float, u1: float, u2: float) -> int:
    """`HalfSpaceTrees.driver`: the squashed input farthest from usual (the first of equals), as
    a code of `contract.FEATURES`."""
    far_level, far_change, far_volatility = abs(u0 - 0.5), abs(u1 - 0.5), abs(u2 - 0.5)
    if far_level >= far_change and far_level >= far_volatility:
        return _LEVEL
    return _CHANGE if far_change >= far_volatility else _VOLATILITY


@njit(cache=True)
def step(r, x, scores, features, work) -> None:
    """The contract's step (`contract`): the trees' score of the point's level, change and
    volatility, and which of them is farthest from usual, then learn it."""
    u0 = squash(x[c.LEVEL])
    u1 = squash(x[c.CHANGE])
    u2 = squash(2.0 * (x[c.VOLATILITY] - 1.0))
    scores[0] = score_and_learn(r, u0, u1, u2)
    features[0] = feature(u0, u1, u2)
