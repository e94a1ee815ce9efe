"""Half-Space Trees (Tan, Ting & Liu 2011), vectorised with numpy, with small per-series state.

The same algorithm as River's `anomaly.HalfSpaceTrees` (random half-space splits of a [0, 1]
feature space, masses counted over alternating reference and latest windows, a point's score from
the reference masses along its path), built for many small series:

- The trees' structure (split feature and split value of every node) depends only on the seed, so
  it is built once and shared by every series; a series stores only its node masses, as uint8
  arrays (`window_size` is at most 255). At the defaults (8 trees of height 6) that is
  2 x 8 x 127 = 2,032 bytes, about 2.8 KB as base64 JSON in the stored state, where a River model
  holds Python node objects (about 370 MB at 25 trees of height 15).
- A batch walks all trees at once (one numpy step per level): `score_many` scores a whole array
  of points against the same reference window in one pass. One point at a time (the stream) walks
  in plain Python over memoryviews of the masses, which for arrays this small is cheaper than
  numpy's per-call cost; the tests hold the two to the same scores and masses.

Input features are the series' level, change and volatility in robust standard units, squashed
into (0, 1); the raw score (River's `1 - mass score`) is then calibrated against the series' own
recent raw scores, so a point is anomalous when it is far rarer than what this series usually shows.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from stream.detectors.calibration import z_to_score
from stream.features import Features

FEATURE_NAMES = ("level", "change", "volatility")


@lru_cache(maxsize=8)
def _structure(n_trees: int, height: int, n_features: int, seed: int):
    """Split feature and split value of every internal node, heap-ordered, per tree."""
    rng = np.random.default_rng(seed)
    n_internal = 2**height - 1
    feature = np.empty((n_trees, n_internal), dtype=np.intp)
    split = np.empty((n_trees, n_internal), dtype=np.float64)
    for t in range(n_trees):
        # River's work range: each feature's root range is s +/- 2 max(s, 1 - s), s ~ U(0, 1),
        # so splits are not all at 0.5 and values slightly outside [0, 1] still separate.
        s = rng.uniform(size=n_features)
        r = 2 * np.maximum(s, 1 - s)
        lows = {0: s - r}
        highs = {0: s + r}
        for node in range(n_internal):
            lo, hi = lows.pop(node), highs.pop(node)
            f = int(rng.integers(n_features))
            mid = (lo[f] + hi[f]) / 2
            feature[t, node], split[t, node] = f, mid
            left_hi, right_lo = hi.copy(), lo.copy()
            left_hi[f], right_lo[f] = mid, mid
            lows[2 * node + 1], highs[2 * node + 1] = lo, left_hi
            lows[2 * node + 2], highs[2 * node + 2] = right_lo, hi
    feature.setflags(write=False)
    split.setflags(write=False)
    return feature, split


def squash(z: float) -> float:
    """A value in robust standard units mapped into (0, 1); 0 -> 0.5, +/-4 -> 0.88/0.12."""
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)) / 2.0))


class HalfSpaceTrees:
    """Online isolation by half-space trees; `learn_one`/`score_one` like River, plus batches."""

    name = "hst"
    role = "novelty"

    def __init__(
        self,
        *,
        n_trees: int = 8,
        height: int = 6,
        window_size: int = 128,
        seed: int = 42,
        n_features: int = len(FEATURE_NAMES),
    ) -> None:
        if not 1 <= window_size <= 255:
            raise ValueError("window_size must be in 1..255 (masses are stored as uint8)")
        self.n_trees, self.height, self.window_size = n_trees, height, window_size
        self.n_nodes = 2 ** (height + 1) - 1
        self.feature, self.split = _structure(n_trees, height, n_features, seed)
        self._tree_index = np.arange(n_trees)[None, :, None]
        n_internal = 2**height - 1
        self._row_offset = np.arange(n_trees)[None, :] * n_internal
        self._feature_flat = self.feature.ravel()
        self._split_flat = self.split.ravel()
        # (features, walked path, raw score) of the last score_one: learn_one reuses the walk
        self._last: tuple[Features, np.ndarray, float] | None = None
        self._depth_weight = 2.0 ** np.arange(height + 1)
        self._size_limit = 0.1 * window_size
        self._max_score = n_trees * window_size * self.n_nodes
        # the same structure as plain lists, for the one-point walk (numpy's per-call overhead
        # on arrays this small costs more than the walk itself)
        self._features_list = self.feature.tolist()
        self._splits_list = self.split.tolist()

    # ----------------------------------------------------------------- state

    def new_state(self) -> dict:
        # r/l: reference and latest masses (uint8 arrays, stored as base64 by SeriesState);
        # k: points in the latest window; ready: a reference window exists;
        # n/mean/var: EW statistics of the raw scores, for calibration.
        shape = (self.n_trees, self.n_nodes)
        return {
            "r": np.zeros(shape, dtype=np.uint8),
            "l": np.zeros(shape, dtype=np.uint8),
            "k": 0,
            "ready": False,
            "n": 0,
            "mean": 0.0,
            "var": 0.0,
        }

    # ----------------------------------------------------------------- core

    @staticmethod
    def vector(x: Features) -> np.ndarray:
        """Level, change and volatility of the point, in robust units, squashed into (0, 1)."""
        level = (x.signal - x.center) / x.spread
        change = (x.value - x.lag1) / x.spread
        volatility = x.std / x.spread
        return np.array([squash(level), squash(change), squash(2.0 * (volatility - 1.0))])

    def _paths(self, u: np.ndarray) -> np.ndarray:
        """Node indices along every tree's path, shape (n_points, n_trees, height + 1).

        All points and all trees step down together: one gather and one comparison per level.
        """
        u = np.atleast_2d(u)
        n = u.shape[0]
        nodes = np.zeros((n, self.n_trees), dtype=np.intp)
        paths = np.zeros((n, self.n_trees, self.height + 1), dtype=np.intp)
        rows = np.arange(n)[:, None]
        for depth in range(self.height):
            flat = self._row_offset + nodes
            go_right = u[rows, self._feature_flat[flat]] >= self._split_flat[flat]
            nodes = 2 * nodes + 1 + go_right
            paths[:, :, depth + 1] = nodes
        return paths

    def _raw_scores(self, reference: np.ndarray, paths: np.ndarray) -> np.ndarray:
        mass = reference[self._tree_index, paths].astype(np.float64)
        below = mass < self._size_limit
        # River stops a walk at the first node lighter than the size limit, counting that node.
        counted = (np.cumsum(below, axis=2) - below) == 0
        score = (mass * self._depth_weight * counted).sum(axis=(1, 2))
        return 1.0 - score / self._max_score

    def raw_score_many(self, state: dict, u: np.ndarray) -> np.ndarray:
        """River-style raw scores (higher is more anomalous) of points against the reference."""
        if not state["ready"]:
            return np.zeros(np.atleast_2d(u).shape[0])
        return self._raw_scores(state["r"], self._paths(u))

    def _learn_paths(self, state: dict, paths: np.ndarray) -> None:
        """Count walked paths into the latest window, swapping windows every `window_size`."""
        start = 0
        while start < len(paths):
            take = min(len(paths) - start, self.window_size - state["k"])
            chunk = paths[start : start + take]
            trees = np.broadcast_to(self._tree_index, chunk.shape)
            np.add.at(state["l"], (trees.ravel(), chunk.ravel()), 1)
            state["k"] += take
            start += take
            if state["k"] == self.window_size:
                state["r"], state["l"] = state["l"], np.zeros_like(state["l"])
                state["k"], state["ready"] = 0, True

    def learn_many(self, state: dict, u: np.ndarray) -> None:
        """Count points into the latest window, swapping windows every `window_size` points."""
        self._learn_paths(state, self._paths(u))

    # ----------------------------------------------------------------- detector interface

    def _calibrated(self, state: dict, raw: float) -> float:
        if state["n"] < 10:
            return 0.0
        std = max(math.sqrt(state["var"]), 1e-6)
        return z_to_score(max(0.0, (raw - state["mean"]) / std))  # only rarer than usual counts

    def _learn_calibration(self, state: dict, raw: float) -> None:
        n = state["n"]
        a = max(0.01, 1.0 / (n + 1))
        delta = raw - state["mean"]
        state["mean"] += a * delta
        state["var"] = (1 - a) * (state["var"] + a * delta * delta)
        state["n"] = n + 1

    def _walk_one(self, state: dict, x: Features) -> tuple[list[list[int]], float]:
        """One point's path (per tree, the `height + 1` nodes from the root) and raw score: the
        streaming fast path, in plain Python. The same walk and score as `_paths` and
        `_raw_scores` (the batch path, which the tests hold it to): masses times powers of two
        are whole numbers, so their sum is exact in any order."""
        u = self.vector(x).tolist()
        paths = []
        for features, splits in zip(self._features_list, self._splits_list, strict=True):
            node, path = 0, [0]
            for _ in range(self.height):
                node = 2 * node + (2 if u[features[node]] >= splits[node] else 1)
                path.append(node)
            paths.append(path)
        if not state["ready"]:
            return paths, 0.0
        # a memoryview reads single uint8 masses as ints at a fraction of numpy's indexing cost
        masses = memoryview(np.ascontiguousarray(state["r"]).reshape(-1))
        limit, total, width = self._size_limit, 0.0, self.n_nodes
        for tree, path in enumerate(paths):
            weight, base = 1.0, tree * width
            for node in path:
                mass = masses[base + node]
                total += mass * weight
                if mass < limit:  # River stops at the first node lighter than the limit
                    break
                weight *= 2.0
        return paths, 1.0 - total / self._max_score

    def score_one(self, state: dict, x: Features) -> float:
        paths, raw = self._walk_one(state, x)
        self._last = (x, paths, raw)
        return self._calibrated(state, raw)

    def learn_one(self, state: dict, x: Features) -> None:
        if self._last is not None and self._last[0] is x:
            _, paths, raw = self._last
        else:
            paths, raw = self._walk_one(state, x)
        self._last = None
        if state["ready"]:
            self._learn_calibration(state, raw)
        # one point: each of its nodes once per tree (masses never pass window_size <= 255)
        latest = state["l"]
        if not latest.flags.c_contiguous:
            latest = state["l"] = np.ascontiguousarray(latest)
        counts, width = memoryview(latest.reshape(-1)), self.n_nodes
        for tree, path in enumerate(paths):
            base = tree * width
            for node in path:
                counts[base + node] += 1
        state["k"] += 1
        if state["k"] == self.window_size:
            state["r"], state["l"] = state["l"], np.zeros_like(state["l"])
            state["k"], state["ready"] = 0, True

    def score_many(self, state: dict, xs: list[Features]) -> np.ndarray:
        """Calibrated scores of points that share one reference window (no learning between)."""
        raws = self.raw_score_many(state, np.array([self.vector(x) for x in xs]))
        return np.array([self._calibrated(state, float(r)) for r in raws])

    def driver(self, x: Features) -> str:
        """The input feature farthest from usual: what made this point stand out."""
        u = self.vector(x)
        return FEATURE_NAMES[int(np.argmax(np.abs(u - 0.5)))]
