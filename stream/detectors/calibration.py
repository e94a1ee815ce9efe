"""One scale for every detector: a deviation in standard units mapped to [0, 1].

Each detector measures how far a point lies from what it learnt, in its own robust standard units
(z for the EW z-score, MAD units for MAD, IQR units beyond the quartiles, standard units of its own
recent scores for the isolation model). `z_to_score` turns such a distance into the same score for
every detector and every series, whatever the metric's scale, through the two-sided normal tail
probability p of the distance: with L = -log10(p), score = 1 - exp(-L / 3.5). So 0.7 (the default
threshold) is a one-in-16,000 deviation (z = 4), 0.8 about z = 4.8, 0.9 about z = 5.8; the score
keeps rising towards 1 and never saturates, so the rarest points still rank above the merely rare.

>>> [round(z_to_score(z), 2) for z in (0, 1, 2, 3, 4, 5, 6, 8)]
[0.0, 0.1, 0.32, 0.52, 0.7, 0.83, 0.92, 0.99]
"""

from __future__ import annotations

import math

# L = -log10(p) at which the score is 1 - 1/e: sets 0.7 at z = 4.
_L_SCALE = 3.5
_LN10 = math.log(10.0)
_HALF_LN_PI_OVER_2 = 0.5 * math.log(math.pi / 2)


def neg_log10_tail(z: float) -> float:
    """-log10 of the two-sided normal tail probability beyond |z|, accurate for large z too."""
    z = abs(z)
    if z < 8.0:
        return -math.log(math.erfc(z / math.sqrt(2.0))) / _LN10
    # asymptotic tail: erfc(z/sqrt2) ~ exp(-z^2/2) sqrt(2/pi) / z
    return (z * z / 2 + math.log(z) + _HALF_LN_PI_OVER_2) / _LN10


def z_to_score(z: float) -> float:
    """Map a deviation in standard units to [0, 1) through its tail probability."""
    return 1.0 - math.exp(-neg_log10_tail(z) / _L_SCALE)
