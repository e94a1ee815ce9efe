"""Flatline detector: a value that stops moving where the series normally moves.

A stuck sensor, a dead exporter that keeps reporting its last reading, a counter that stopped:
among the commonest infrastructure failures, and invisible to every detector that looks for
values far from the usual, since the stuck value is usually a normal one.

A run of r repeats is scored by how unlikely the series makes it, as a -log10 probability L
(`calibration.l_to_score` gives it the scale of every other detector), the lower of two views:

- *Repeats as a chain*: how often the series repeats its previous value (`p`) and how often a
  repeat is followed by another (`c`), each an exponentially weighted share over about the last
  330 points, starting from one in `PRIOR_POINTS`: L = -log10 p - (r - 1) log10 c. A noisy
  series whose values never repeat alarms after a few identical readings; a sparse counter that
  sits at 0 in runs (c high) needs a run far longer than its usual ones.
- *Runs it has shown*: how often the series' runs reached each of `RUN_BUCKETS` (3, 6, 12, ...
  points), remembered over about 8,200 points. A run as long as ones the series showed at least
  twice in that time is worth -log10 of their rate: a gauge that sits still for hours every
  night does so every night. The first run of a length is not enough: one stuck episode does not
  make the next one normal.

A value counts as a repeat when it moves less than half the series' resolution (the smallest
step it has made between two different values) and less than 1% of its robust spread (1.4826 x
the MAD of its last 64 values, the `spread` feature): a series with bursts has a wide spread,
and its ordinary moves of a step or two are not standing still. The chain's shares learn from
runs up to `LEARN_RUN` only: the detector judges long runs, so they must not teach it that long
runs are normal (the remembered runs do that, once a length has come back).

>>> from stream.features import window_features
>>> d, s, prev = FlatlineDetector(), FlatlineDetector().new_state(), 0.0
>>> import random; rng = random.Random(1)
>>> for _ in range(500):
...     v = rng.gauss(10, 1); x = window_features(v, [prev]); d.learn_one(s, x); prev = v
>>> scores = []
>>> for _ in range(8):
...     x = window_features(prev, [prev]); scores.append(d.score_one(s, x)); d.learn_one(s, x)
>>> [round(v, 2) for v in scores[:2]], scores[2] >= 0.7, scores[-1] > 0.85
([0.0, 0.0], True, True)
"""

from __future__ import annotations

import bisect
import math

from stream.detectors.calibration import l_to_score
from stream.features import Features

ALPHA = 0.003
#: the prior: one repeat in this many points, before the series has said otherwise
PRIOR_POINTS = 100
#: shortest run of repeats that scores at all (two equal readings happen on any quantised gauge)
MIN_RUN = 3
#: runs are learnt from up to this length; longer ones are what the detector is for
LEARN_RUN = 3
#: a move smaller than this share of the robust spread is no move
STILL_SHARE = 0.01
#: run lengths whose rate the series remembers (each twice the one before)
RUN_BUCKETS = (3, 6, 12, 24, 48, 96, 192, 384, 768, 1536)
#: weight of a point in the remembered rates of runs (about the last 8,200 points, as long as
#: the long-memory detector remembers)
RUN_ALPHA = 1.0 / 8192
_BUCKET_OF = {length: i for i, length in enumerate(RUN_BUCKETS)}


class FlatlineDetector:
    """Scores runs of unchanged values by their improbability under the series' repeat rate."""

    name = "flatline"
    role = "shape"

    def new_state(self) -> dict:
        # p: EW share of repeats; c: EW share of repeats after a repeat, m: points it learnt
        # from; run: repeats in a row up to now; n: points; reached: EW rate (per point) of runs
        # that reached each of RUN_BUCKETS, decayed lazily (each as of point `at`)
        return {"p": 1.0 / PRIOR_POINTS, "run": 0, "n": 0, **_run_fields()}

    @staticmethod
    def _still(state: dict, x: Features) -> bool:
        # no history yet (spread 1.0 by convention): only an exact repeat
        scale = x.spread if x.recent else 0.0
        if x.resolution > 0:
            scale = min(scale, 0.5 * x.resolution / STILL_SHARE)
        return abs(x.value - x.lag1) <= STILL_SHARE * scale

    def run_after(self, state: dict, x: Features) -> int:
        """The run of repeats that `x` makes (0 when it moved)."""
        return state["run"] + 1 if state["n"] > 0 and self._still(state, x) else 0

    def l_value(self, state: dict, x: Features) -> float:
        run = self.run_after(state, x)
        if run < MIN_RUN:
            return 0.0
        chain = -math.log10(_share(state["p"])) - (run - 1) * math.log10(_share(state["c"]))
        return min(chain, _shown(state, bisect.bisect_right(RUN_BUCKETS, run) - 1, run))

    def score_one(self, state: dict, x: Features) -> float:
        if "reached" not in state:  # a state stored by ensemble-v6
            state.update(_run_fields(state["p"]))
        return l_to_score(self.l_value(state, x))

    def learn_one(self, state: dict, x: Features) -> None:
        if "reached" not in state:
            state.update(_run_fields(state["p"]))
        if state["n"] > 0:
            run = self.run_after(state, x)
            if run <= LEARN_RUN:
                a = max(ALPHA, 1.0 / (state["n"] + PRIOR_POINTS))
                state["p"] += a * ((run > 0) - state["p"])
            if 0 < state["run"] < LEARN_RUN:
                # after a repeat: whether the next one repeats too (repeats that come in runs)
                a = max(ALPHA, 1.0 / (state["m"] + PRIOR_POINTS))
                state["c"] += a * ((run > 0) - state["c"])
                state["m"] += 1
            state["run"] = run
            bucket = _BUCKET_OF.get(run)
            if bucket is not None:
                decay = (1.0 - RUN_ALPHA) ** (state["n"] - state["at"][bucket])
                state["reached"][bucket] = state["reached"][bucket] * decay + RUN_ALPHA
                state["at"][bucket] = state["n"]
        state["n"] += 1

    def driver(self, x: Features) -> str:
        return "stuck"


def _run_fields(c: float = 1.0 / PRIOR_POINTS) -> dict:
    return {"c": c, "m": 0, "reached": [0.0] * len(RUN_BUCKETS), "at": [0] * len(RUN_BUCKETS)}


def _share(p: float) -> float:
    return min(0.5, max(p, 1e-6))


def _shown(state: dict, bucket: int, run: int) -> float:
    """-log10 of the rate (per point) of runs reaching RUN_BUCKETS[bucket], from the runs the
    series has shown (inf where it has shown none): the rate itself where runs that long came at
    least twice; beyond the longest such bucket, that rate falling with each doubling as steeply
    as the steeper of two views: as it fell from the bucket before (a long tail of runs goes on
    long), and by the share q of its runs that went on to double (q = (n' + 1/2) / (n + 1) of n
    runs of which n' doubled: a series whose still stretches always end at about the same
    length finds a far longer one rare)."""
    # the runs before this one: the points before this one of the run counted it already
    counts = [
        _count(state, i) - (length < run) for i, length in enumerate(RUN_BUCKETS[: bucket + 1])
    ]
    shown = [i for i, n in enumerate(counts) if n > 1.0]
    if not shown:
        return math.inf
    seen = 1.0 - (1.0 - RUN_ALPHA) ** max(state["n"], 1)
    top = shown[-1]
    at_top = -math.log10(counts[top] * RUN_ALPHA / seen)
    if top == bucket:
        return at_top
    before = (
        -math.log10(counts[top - 1] * RUN_ALPHA / seen)
        if top > 0
        else -math.log10(_share(state["p"]))
    )
    went_on = (counts[top + 1] + 0.5) / (counts[top] + 1.0)
    slope = max(at_top - before, -math.log10(min(1.0, went_on)))
    return at_top + (bucket - top) * slope


def _count(state: dict, bucket: int) -> float:
    """Runs that reached RUN_BUCKETS[bucket] in the remembered time (exponentially weighted)."""
    decay = (1.0 - RUN_ALPHA) ** (state["n"] - state["at"][bucket])
    return state["reached"][bucket] * decay / RUN_ALPHA
