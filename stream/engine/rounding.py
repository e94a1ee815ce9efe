"""Rounding arrays exactly as Python's `round(x, digits)` rounds each element.

The Python scorer rounds each detector score with `round(x, 6)`, which rounds the double's exact
value half to even; numpy's `np.round` rounds `x * 10**digits` instead, whose own rounding can
move a value across the half between two results (`np.round(0.0000015, 6)` is 2e-06, Python's
1e-06). Both divide the chosen integer by `10**digits` the same way, so the two differ only
for values within a rounding error of such a half: those few are rounded by Python, the rest
by numpy. The same doubles, at a fraction of a call a value.
"""

from __future__ import annotations

import numpy as np

#: how close to a half (in units of the last kept digit) a scaled value must be to be handed
#: to Python: far above the error of the scaling (a few 1e-10 for values below 1e6)
_NEAR_HALF = 1e-6


def round_like_python(x: np.ndarray, digits: int) -> np.ndarray:
    """`round(v, digits)` of each element of the float64 array `x`, as a new array (NaN and
    infinities stay as they are). Exact for |x| * 10**digits below 2**52."""
    scale = 10.0**digits
    scaled = x * scale
    out = np.rint(scaled) / scale
    with np.errstate(invalid="ignore"):
        near = np.abs(scaled - np.floor(scaled) - 0.5) < _NEAR_HALF
    if near.any():
        flat, where = out.reshape(-1), np.flatnonzero(near)
        flat[where] = [round(v, digits) for v in x.reshape(-1)[where].tolist()]
    # infinities scaled and divided come back as themselves, NaN as NaN
    return out
