"""The robust detectors, compiled: `stream.detectors.robust` (mad, iqr) from a point's features.

Both read the sorted recent signals, their centre and spread, and the floors the Python
detectors apply; neither has state of its own.
"""

from __future__ import annotations

from numba import njit

from stream.detectors import robust as py
from stream.engine import contract as c
from stream.engine.scale import z_to_score
from stream.engine.window import quantile, spread_floor

FIELDS: list = []
INITIAL: dict = {}
#: the columns its step writes (`contract`)
COLUMNS = (py.MADDetector, py.IQRDetector)
_VALUE = c.FEATURE["value"]

_MIN_HISTORY = py.MIN_HISTORY
_LONG_RUN_SHARE = py.LONG_RUN_SHARE
_IQR_TO_SIGMA = py._IQR_TO_SIGMA
_Q3_Z = py._Q3_Z


def work_size(window_size: int) -> int:
    """Scratch words a point needs: none."""
    return 0


@njit(cache=True)
def score(ordered, n: int, signal, center, spread, long_spread, resolution, out) -> None:
    """mad and iqr of `signal` into `out[0:2]`; `ordered`: the first `n` recent signals,
    sorted; `resolution`: the series' own (0 where none yet)."""
    if n < _MIN_HISTORY:
        out[0] = z_to_score(0.0)
        out[1] = z_to_score(0.0)
        return
    floor = max(_LONG_RUN_SHARE * long_spread, resolution)
    out[0] = z_to_score((signal - center) / max(spread, floor))
    q1, q3 = quantile(ordered, n, 0.25), quantile(ordered, n, 0.75)
    sigma = max(spread_floor((q1 + q3) / 2, (q3 - q1) * _IQR_TO_SIGMA), floor)
    z = 0.0
    if signal > q3:
        z = _Q3_Z + (signal - q3) / sigma
    elif signal < q1:
        z = -(_Q3_Z + (q1 - signal) / sigma)
    out[1] = z_to_score(z)


@njit(cache=True)
def step(r, x, scores, features, work) -> None:
    """The contract's step (`contract`): mad and iqr of the point's signal against the sorted
    history in the window's fields; nothing to learn."""
    score(
        r.hist_sorted,
        r.hist_n,
        x[c.SIGNAL],
        x[c.CENTER],
        x[c.SPREAD],
        x[c.LONG_SPREAD],
        x[c.RESOLUTION],
        scores,
    )
    features[0] = _VALUE
    features[1] = _VALUE
