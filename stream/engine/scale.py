"""`stream.detectors.calibration`, compiled: a deviation as evidence L and as a score in [0, 1)."""

from __future__ import annotations

import math

from numba import njit

from stream.detectors import calibration as py

_LN10 = math.log(10.0)
_HALF_LN_PI_OVER_2 = 0.5 * math.log(math.pi / 2)
_SQRT2 = math.sqrt(2.0)
_L_HALF = py._L_HALF


@njit(cache=True)
def neg_log10_tail(z: float) -> float:
    """-log10 of the two-sided normal tail beyond |z| (`calibration.neg_log10_tail`)."""
    z = abs(z)
    if z < 8.0:
        return -math.log(math.erfc(z / _SQRT2)) / _LN10
    return (z * z / 2 + math.log(z) + _HALF_LN_PI_OVER_2) / _LN10


@njit(cache=True)
def l_to_score(L: float) -> float:
    L = max(0.0, L)
    return L / (L + _L_HALF)


@njit(cache=True)
def z_to_score(z: float) -> float:
    # no deviation (a point inside the quartiles, a calm series for an upward-only detector)
    # scores 0 whatever the route: skip its tail's logarithm and error function
    if z == 0.0:
        return 0.0
    return l_to_score(neg_log10_tail(z))
