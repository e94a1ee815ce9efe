"""Pattern detector: is the shape of the last few points like any shape this series has shown?

Catches what point detectors cannot: a change of pattern (a periodic series that stops, a noisy one
gone flat, a new oscillation) where no single value is extreme. The series keeps a memory of
`memory` past subsequences of `length` signals, each in robust units of its time and quantised to
bytes (256 x 8 = 2 KB, about 2.7 KB as base64 JSON); a point's nonconformity is the mean distance of
its subsequence to the `k` nearest remembered ones (kNN, as in NAB's KNN-CAD), calibrated
against the series' own recent nonconformities. Once the memory is full, slots are overwritten in
a scattered, deterministic order, so the memory spans far more history than its size.
"""

from __future__ import annotations

import math

import numpy as np

from stream.detectors.calibration import z_to_score
from stream.features import Features

_CLIP = 8.0  # robust units kept: beyond 8 the shape is "very far" whatever the exact value
_QUANT = 255.0 / (2 * _CLIP)
_SCATTER = 2654435761  # Knuth's multiplicative hash: visits every slot, in scattered order


class PatternDetector:
    """kNN distance of the latest subsequence to remembered ones, calibrated per series."""

    name = "pattern"
    role = "novelty"

    def __init__(self, *, length: int = 8, memory: int = 256, k: int = 3) -> None:
        self.length, self.memory, self.k = length, memory, k
        # (features, vector, distance) of the last score_one: learn_one reuses them
        self._last: tuple[Features, np.ndarray | None, float | None] | None = None

    def new_state(self) -> dict:
        # mem: remembered subsequences (uint8 array, base64 in the stored state); n: subsequences
        # stored; cn/mean/var: EW statistics of log nonconformity, for calibration.
        return {
            "mem": np.zeros((0, self.length), dtype=np.uint8),
            "n": 0,
            "cn": 0,
            "mean": 0.0,
            "var": 0.0,
        }

    def _vector(self, x: Features) -> np.ndarray | None:
        if len(x.history) < self.length - 1:
            return None
        shape = np.array([*x.history[-(self.length - 1) :], x.signal])
        units = np.clip((shape - x.center) / x.spread, -_CLIP, _CLIP)
        return np.rint((units + _CLIP) * _QUANT).astype(np.uint8)

    def _distance(self, state: dict, v: np.ndarray) -> float | None:
        mem = state["mem"]
        if len(mem) < 2 * self.k:
            return None
        d = np.abs(mem.astype(np.int16) - v.astype(np.int16)).mean(axis=1) / _QUANT
        return float(np.partition(d, self.k - 1)[: self.k].mean())

    def _measure(self, state: dict, x: Features) -> tuple[np.ndarray | None, float | None]:
        if self._last is not None and self._last[0] is x:
            return self._last[1], self._last[2]
        v = self._vector(x)
        d = None if v is None else self._distance(state, v)
        self._last = (x, v, d)
        return v, d

    def score_one(self, state: dict, x: Features) -> float:
        _, d = self._measure(state, x)
        if d is None or state["cn"] < 20:
            return 0.0
        z = (math.log(d + 0.05) - state["mean"]) / max(math.sqrt(state["var"]), 0.05)
        return z_to_score(max(0.0, z))

    def learn_one(self, state: dict, x: Features) -> None:
        v, d = self._measure(state, x)
        self._last = None
        if v is None:
            return
        if d is not None:
            n = state["cn"]
            a = max(0.01, 1.0 / (n + 1))
            delta = math.log(d + 0.05) - state["mean"]
            state["mean"] += a * delta
            state["var"] = (1 - a) * (state["var"] + a * delta * delta)
            state["cn"] = n + 1
        if len(state["mem"]) < self.memory:
            state["mem"] = np.vstack([state["mem"], v[None, :]])
        else:
            state["mem"][(state["n"] * _SCATTER) % self.memory] = v
        state["n"] += 1
