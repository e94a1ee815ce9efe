"""Robust detectors over the series' recent signals: median/MAD and Tukey's IQR fences.

Both compare a point with the previous `HISTORY_SIZE` (64) signals of its series, a sliding window,
and express the distance as a normal-equivalent z, so `calibration.z_to_score` gives them the same
scale as every other detector. Robust statistics ignore the few outliers inside the window itself,
so one spike does not hide the next.

Their spread is at least a quarter of the series' long-run standard deviation (EW, about 330
points, the `long_spread` feature): 64 near-equal values (a quiet night, a gauge that rarely
moves) have a MAD and an IQR near 0, and without that floor any wobble would score as if it were
infinitely far out.
"""

from __future__ import annotations

from stream.detectors.calibration import z_to_score
from stream.features import Features, quantile, spread_floor

# IQR of a normal distribution is 1.349 sigma; Q3 lies at z = 0.6745.
_IQR_TO_SIGMA = 1.0 / 1.349
_Q3_Z = 0.6745
# Fewest recent signals before the quantiles mean anything.
MIN_HISTORY = 8
# The spread is at least this share of the long-run standard deviation.
LONG_RUN_SHARE = 0.25


class _RobustDetector:
    """What both robust detectors share: a score from their z, nothing to learn."""

    name = "robust"
    role = "point"

    def new_state(self) -> dict:
        return {}

    @staticmethod
    def long_run_floor(x: Features) -> float:
        return max(LONG_RUN_SHARE * x.long_spread, x.resolution)

    def z(self, x: Features) -> float:
        raise NotImplementedError

    def score_one(self, state: dict, x: Features) -> float:
        return z_to_score(self.z(x))

    def learn_one(self, state: dict, x: Features) -> None:
        """Nothing to learn: the recent and long-run signals live in the series state."""


class MADDetector(_RobustDetector):
    """Distance from the recent median in robust standard deviations (1.4826 x MAD).

    >>> from stream.features import window_features
    >>> history = (10.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.0) * 4
    >>> d = MADDetector()
    >>> d.score_one({}, window_features(10.1, [], history=history)) < 0.1
    True
    >>> d.score_one({}, window_features(14.0, [], history=history)) > 0.9
    True
    """

    name = "mad"

    def z(self, x: Features) -> float:
        if len(x.recent) < MIN_HISTORY:
            return 0.0
        return (x.signal - x.center) / max(x.spread, self.long_run_floor(x))


class IQRDetector(_RobustDetector):
    """Distance beyond the quartiles in IQR units, as the normal z it would be.

    Inside [Q1, Q3] the score is 0; above Q3, z = 0.6745 + (x - Q3) / (IQR / 1.349), so Tukey's
    outer fence Q3 + 3 IQR maps to z = 4.7 (score 0.93) and the inner fence (1.5 IQR) to z = 2.7.
    """

    name = "iqr"

    def z(self, x: Features) -> float:
        if len(x.recent) < MIN_HISTORY:
            return 0.0
        q1, q3 = quantile(x.recent, 0.25), quantile(x.recent, 0.75)
        iqr_sigma = spread_floor((q1 + q3) / 2, (q3 - q1) * _IQR_TO_SIGMA)
        sigma = max(iqr_sigma, self.long_run_floor(x))
        if x.signal > q3:
            return _Q3_Z + (x.signal - q3) / sigma
        if x.signal < q1:
            return -(_Q3_Z + (q1 - x.signal) / sigma)
        return 0.0
