"""The simple baseline every detection figure is printed beside: a causal rolling z-score.

Each point is scored by its distance from the mean of the previous `window` (100) points, in their
standard deviations, mapped to [0, 1] by the same tail-probability scale as the service's detectors
(`stream.detectors.calibration.z_to_score`), so thresholds read alike. A change to the ensemble
that loses to this on a corpus is a loss, however well it does elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from stream.detectors.calibration import z_to_score

WINDOW = 100


def rolling_z(values: Sequence[float], window: int = WINDOW) -> np.ndarray:
    """|z| of each value against the `window` values before it (0 until there are 2 of them).

    >>> [round(float(z), 2) for z in rolling_z([1.0, 2.0, 1.0, 2.0, 10.0], window=4)]
    [0.0, 0.0, 1.0, 1.41, 17.0]
    """
    x = np.asarray(values, dtype=float)
    z = np.zeros(len(x))
    c1 = np.concatenate(([0.0], np.cumsum(x)))
    c2 = np.concatenate(([0.0], np.cumsum(x * x)))
    for i in range(2, len(x)):
        lo = max(0, i - window)
        n = i - lo
        mean = (c1[i] - c1[lo]) / n
        var = max((c2[i] - c2[lo]) / n - mean * mean, 0.0)
        std = max(np.sqrt(var), 1e-9 * max(1.0, abs(mean)))
        z[i] = abs(x[i] - mean) / std
    return z


def rolling_z_detector(timestamps: Sequence[datetime], values: Sequence[float]) -> list[float]:
    """Baseline scores of one series, on the detectors' [0, 1] scale."""
    return [z_to_score(float(z)) for z in rolling_z(values)]
