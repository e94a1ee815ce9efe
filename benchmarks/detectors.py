"""Cost per point and state size of each detector, beside River's Half-Space Trees.

    .venv/bin/python -m benchmarks.detectors [--points 20000]

Every detector scores then learns each point of one noisy series (warm: timed after the first
2,000 points). Our half-space trees run on the same three squashed features as River's model, one
point at a time and in batches of 250 (`score_many`, one reference window). River's model is timed
at 10 trees of height 8 and at 25 trees of height 15 (fewer points: it is slow), its memory taken by
tracemalloc while it is built and trained. Prints the command and the machine.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import numpy as np

from benchmarks.machine import header
from stream import state_codec
from stream.config import Settings
from stream.detectors.hst import FEATURE_NAMES, HalfSpaceTrees
from stream.ensemble import build_scorer
from stream.features import SeriesState

WARM = 2000


def series(n: int) -> list[tuple[datetime, float]]:
    rng = random.Random(1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        (t0 + timedelta(minutes=i), 50 + 10 * np.sin(i / 200) + rng.gauss(0, 1)) for i in range(n)
    ]


def features_of(points):
    """The Features objects the scorer builds, recorded from a real run."""
    scorer, state = build_scorer(Settings(_env_file=None)), SeriesState()
    return [scorer.score_and_learn(state, v, ts).features for ts, v in points]


def time_per_point(fn, items) -> float:
    started = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - started) / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--skip-river-large", action="store_true")
    args = parser.parse_args()
    points = series(args.points)
    print(header("benchmarks.detectors"))
    print(f"points: {args.points} (timed after {WARM})\n")
    print(f"{'what':44s} {'us/point':>9s} {'state bytes':>12s}")

    # the whole scorer, as the worker runs it
    scorer, state = build_scorer(Settings(_env_file=None)), SeriesState()
    for ts, v in points[:WARM]:
        scorer.score_and_learn(state, v, ts)
    us = time_per_point(lambda p: scorer.score_and_learn(state, p[1], p[0]), points[WARM:])
    size = len(state_codec.encode(state))
    print(f"{'ensemble (all detectors, seasonality)':44s} {us:9.1f} {size:12d}")

    xs = features_of(points)
    for detector in build_scorer(Settings(_env_file=None)).detectors:
        own = detector.new_state()
        for x in xs[:WARM]:
            detector.score_one(own, x)
            detector.learn_one(own, x)

        def step(x, d=detector, s=own):
            d.score_one(s, x)
            d.learn_one(s, x)

        us = time_per_point(step, xs[WARM:])
        # the detector's share of a stored state: a state holding it less an empty one
        stored = len(state_codec.encode(SeriesState(detectors={detector.name: own})))
        stored -= len(state_codec.encode(SeriesState()))
        print(f"{'  ' + detector.name:44s} {us:9.1f} {stored:12d}")

    hst = HalfSpaceTrees()
    own = hst.new_state()
    u = np.array([hst.vector(x) for x in xs])
    hst.learn_many(own, u[:WARM])
    started = time.perf_counter()
    for i in range(WARM, len(u), 250):
        hst.raw_score_many(own, u[i : i + 250])
        hst.learn_many(own, u[i : i + 250])
    us = (time.perf_counter() - started) / (len(u) - WARM) * 1e6
    print(f"{'  hst, batches of 250 (score_many/learn_many)':44s} {us:9.1f}")

    from river.anomaly import HalfSpaceTrees as RiverHST

    dicts = [dict(zip(FEATURE_NAMES, row, strict=True)) for row in u.tolist()]
    configs = [(10, 8, len(dicts))]
    if not args.skip_river_large:
        configs.append((25, 15, min(len(dicts), WARM + 1000)))
    for n_trees, height, n in configs:
        tracemalloc.start()
        model = RiverHST(n_trees=n_trees, height=height, window_size=250, seed=42)
        for d in dicts[:WARM]:
            model.score_one(d)
            model.learn_one(d)

        def river_step(d, m=model):
            m.score_one(d)
            m.learn_one(d)

        us = time_per_point(river_step, dicts[WARM:n])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        label = f"  River HST, {n_trees} trees of height {height}"
        print(f"{label:44s} {us:9.1f} {peak:12d}  (peak traced memory)")


if __name__ == "__main__":
    main()
