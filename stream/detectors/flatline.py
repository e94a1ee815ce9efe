"""Flatline detector: a value that stops moving where the series normally moves.

A stuck sensor, a dead exporter that keeps reporting its last reading, a counter that stopped:
among the commonest infrastructure failures, and invisible to every detector that looks for
values far from the usual, since the stuck value is usually a normal one.

The detector learns how often the series repeats its previous value (`p`, an exponentially
weighted share over about the last 330 points, starting from one repeat in `PRIOR_POINTS`), and
scores a run of r repeats by how unlikely it is, L = r x -log10(p): a noisy series whose values
never repeat alarms after a few identical readings, a gauge that often sits still (packet loss at
0.0) needs a very long run, and one that always sits still never alarms. L is a -log10
probability, so `calibration.l_to_score` gives it the same scale as every other detector.

A value counts as a repeat when it moves less than 1% of the series' robust spread (1.4826 x the
MAD of its last 64 values, the `spread` feature) from the previous one, or not at all: robust, so
a burst, however large, does not make every ordinary move afterwards look like standing still.
Runs longer than `LEARN_RUN` are not learnt from: the detector judges long runs, so they must
not teach it that long runs are normal.

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


class FlatlineDetector:
    """Scores runs of unchanged values by their improbability under the series' repeat rate."""

    name = "flatline"
    role = "shape"

    def new_state(self) -> dict:
        # p: EW share of repeats; run: repeats in a row up to now; n: points
        return {"p": 1.0 / PRIOR_POINTS, "run": 0, "n": 0}

    @staticmethod
    def _still(state: dict, x: Features) -> bool:
        # no history yet (spread 1.0 by convention): only an exact repeat
        scale = x.spread if x.recent else 0.0
        return abs(x.value - x.lag1) <= STILL_SHARE * scale

    def run_after(self, state: dict, x: Features) -> int:
        """The run of repeats that `x` makes (0 when it moved)."""
        return state["run"] + 1 if state["n"] > 0 and self._still(state, x) else 0

    def l_value(self, state: dict, x: Features) -> float:
        run = self.run_after(state, x)
        if run < MIN_RUN:
            return 0.0
        return run * -math.log10(min(0.5, max(state["p"], 1e-6)))

    def score_one(self, state: dict, x: Features) -> float:
        return l_to_score(self.l_value(state, x))

    def learn_one(self, state: dict, x: Features) -> None:
        if state["n"] > 0:
            run = self.run_after(state, x)
            if run <= LEARN_RUN:
                a = max(ALPHA, 1.0 / (state["n"] + PRIOR_POINTS))
                state["p"] += a * ((run > 0) - state["p"])
            state["run"] = run
        state["n"] += 1

    def driver(self, x: Features) -> str:
        return "stuck"
