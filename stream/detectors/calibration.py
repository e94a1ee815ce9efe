"""One scale for every detector: a deviation in standard units mapped to [0, 1].

Each detector measures how far a point lies from what it learnt, in its own robust standard units
(z for the EW z-score, MAD units for MAD, IQR units beyond the quartiles, standard units of its own
recent scores for the isolation model). `z_to_score` turns such a distance into the same score for
every detector and every series, whatever the metric's scale, through the two-sided normal tail
probability p of the distance: with L = -log10(p), score = L / (L + 1.8). So 0.7 (the default
threshold) is a one-in-16,000 deviation (z = 4), 0.8 about z = 5.2, 0.9 about z = 7.4; the score
keeps rising towards 1 without reaching it, so the rarest points still rank above the merely rare.

>>> [round(z_to_score(z), 2) for z in (0, 1, 2, 3, 4, 5, 6, 8, 20)]
[0.0, 0.22, 0.43, 0.59, 0.7, 0.78, 0.83, 0.89, 0.98]
"""

from __future__ import annotations

import math

_LN10 = math.log(10.0)
_HALF_LN_PI_OVER_2 = 0.5 * math.log(math.pi / 2)
# The z that scores exactly 0.7, the default ANOMALY_THRESHOLD.
Z_AT_DEFAULT_THRESHOLD = 4.0


def neg_log10_tail(z: float) -> float:
    """-log10 of the two-sided normal tail probability beyond |z|, accurate for large z too."""
    z = abs(z)
    if z < 8.0:
        return -math.log(math.erfc(z / math.sqrt(2.0))) / _LN10
    # asymptotic tail: erfc(z/sqrt2) ~ exp(-z^2/2) sqrt(2/pi) / z
    return (z * z / 2 + math.log(z) + _HALF_LN_PI_OVER_2) / _LN10


# L = -log10(p) at which the score is 0.5 (about 1.8), so that z = 4 scores 0.7.
L_AT_DEFAULT_THRESHOLD = neg_log10_tail(Z_AT_DEFAULT_THRESHOLD)
_L_HALF = L_AT_DEFAULT_THRESHOLD * (1 - 0.7) / 0.7


def z_to_score(z: float) -> float:
    """Map a deviation in standard units to [0, 1) through its tail probability."""
    return l_to_score(neg_log10_tail(z))


def l_to_score(L: float) -> float:
    """Map L = -log10(tail probability) to [0, 1): 0.7 at a one-in-16,000 event.

    >>> round(l_to_score(L_AT_DEFAULT_THRESHOLD), 6)
    0.7
    """
    L = max(0.0, L)
    return L / (L + _L_HALF)


def score_to_l(score: float) -> float:
    """The inverse of `l_to_score` (scores of 1 or more map to a very large L).

    >>> round(score_to_l(l_to_score(3.2)), 6)
    3.2
    """
    score = max(0.0, score)
    return _L_HALF * score / (1.0 - score) if score < 1.0 else 1e6


def l_to_z(L: float) -> float:
    """The deviation in standard units whose two-sided tail has -log10 probability L (Newton's
    method from the asymptotic form; a few steps reach float precision).

    >>> round(l_to_z(neg_log10_tail(4.0)), 6), round(l_to_z(neg_log10_tail(30.0)), 4)
    (4.0, 30.0)
    >>> round(l_to_z(neg_log10_tail(0.5)), 6)
    0.5
    """
    if L <= 0:
        return 0.0
    z = max(0.1, math.sqrt(2 * L * _LN10))
    for _ in range(30):
        f = neg_log10_tail(z) - L
        if abs(f) < 1e-10:
            break
        if z < 8.0:
            density = math.sqrt(2 / math.pi) * math.exp(-z * z / 2)
            slope = density / (math.erfc(z / math.sqrt(2.0)) * _LN10)
        else:
            slope = (z + 1 / z) / _LN10
        z = max(1e-6, z - f / slope)
    return z
