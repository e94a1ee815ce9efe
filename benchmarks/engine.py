"""The compiled engine's cost a point, beside the Python scorer it reproduces and River's HST.

    .venv/bin/python -m benchmarks.engine [--series 2000] [--points 200] [--reference-points 4000]

Scores `--series` series of one point a minute (a daily curve, heavy-tailed noise, quantised),
interleaved as a feed sends them (one point of every series, then the next), in batches of 500
through `stream.engine.core.Engine`. In the same run, on `--reference-points` points of the same
data: River's `HalfSpaceTrees(n_trees=10, height=8)` (the reference issue #12 names) and the
Python scorer the worker runs today (`Scorer`). Prints microseconds a point and the ratios, the row
size of a series, the same points scored grouped by series (what reading each row cold costs),
what making a series' state storable costs (a row to `SeriesState` and its MessagePack, against
the row's own bytes), and the time of the first batch (compiling, or loading the compiled code
from its cache), with the command and the machine.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, datetime

import numpy as np

from benchmarks.machine import header
from stream import state_codec
from stream.config import Settings
from stream.engine.core import DETECTORS, Engine
from stream.ensemble import build_scorer
from stream.features import SeriesState

BATCH = 500
#: River HST points learnt before it is timed (its first window of 250 is slower)
RIVER_WARM = 500
#: series whose state is converted for the store's timing
CONVERTED = 500
MONDAY = 1_767_571_200.0  # 2026-01-05 00:00 UTC


def feed(series: int, points: int, seed: int = 7) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(keys, values, epochs) of `series` series x `points` minutes, interleaved."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(points)
    epochs = MONDAY + 60.0 * np.repeat(minutes, series)
    hours = (epochs % 86_400) / 3600
    level = np.tile(rng.uniform(10, 1000, series), points)
    values = level * (1 + 0.3 * np.sin(2 * np.pi * hours / 24)) + level * 0.02 * rng.standard_t(
        4, series * points
    )
    keys = [f"asset-{s}/cpu" for s in range(series)] * points
    return keys, np.round(values, 2), epochs


def per_point(seconds: float, points: int) -> float:
    return seconds / points * 1e6


def grouped(settings: Settings, keys: list[str], values, epochs, series: int) -> float:
    """Microseconds a point of the same points in the same batches, a series' points
    consecutive (its row stays in the caches between them) instead of interleaved."""
    order = np.argsort(np.tile(np.arange(series), len(values) // series), kind="stable")
    keys = [keys[i] for i in order]
    values, epochs = values[order], epochs[order]
    engine = Engine(
        threshold=settings.anomaly_threshold,
        window_size=settings.window_size,
        warmup_points=settings.warmup_points,
    )
    engine.score_batch(keys[:BATCH], values[:BATCH], epochs[:BATCH])
    started = time.perf_counter()
    for i in range(BATCH, len(values), BATCH):
        engine.score_batch(keys[i : i + BATCH], values[i : i + BATCH], epochs[i : i + BATCH])
    return per_point(time.perf_counter() - started, len(values) - BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--points", type=int, default=200, help="points a series")
    parser.add_argument("--reference-points", type=int, default=4000, help="at least 1,000")
    args = parser.parse_args()
    print(header("benchmarks.engine"))
    settings = Settings(_env_file=None)
    keys, values, epochs = feed(args.series, args.points)
    n = len(values)
    print(f"series: {args.series}, points: {n:,}, batch: {BATCH}")

    engine = Engine(
        threshold=settings.anomaly_threshold,
        window_size=settings.window_size,
        warmup_points=settings.warmup_points,
    )
    started = time.perf_counter()
    engine.score_batch(keys[:BATCH], values[:BATCH], epochs[:BATCH])
    first = time.perf_counter() - started
    # what start-up made (the compiled engine, numba's objects, the feed) set aside from the
    # cycle collector before the batches, as the worker does (`stream.worker.run_worker`): its
    # full passes would walk it all, a cost of this process's start-up, not of the engine
    gc.freeze()
    started = time.perf_counter()
    for i in range(BATCH, n, BATCH):
        engine.score_batch(keys[i : i + BATCH], values[i : i + BATCH], epochs[i : i + BATCH])
    engine_us = per_point(time.perf_counter() - started, n - BATCH)
    print(
        f"engine ({', '.join(DETECTORS)}, with seasonality, the combination, the forecaster "
        f"and the capacity line): "
        f"{engine_us:.2f} us a point "
        f"({1e6 / engine_us:,.0f} points/s); first batch {first:.1f} s (compile or cache load)"
    )
    print(f"row of a series: {engine.store.dtype.itemsize:,} B")
    grouped_us = grouped(settings, keys, values, epochs, args.series)
    print(
        f"the same points grouped by series (each row read while it is in the caches, where "
        f"the feed's order reads each cold): {grouped_us:.2f} us a point; what the rows' "
        f"memory costs the feed: {engine_us - grouped_us:.2f} us a point"
    )
    keys_held = list(dict.fromkeys(keys))[:CONVERTED]
    started = time.perf_counter()
    states = [engine.dump(key) for key in keys_held]
    dump_us = per_point(time.perf_counter() - started, len(states))
    started = time.perf_counter()
    for state in states:
        state_codec.encode(state)
    encode_us = per_point(time.perf_counter() - started, len(states))
    rows = engine.store.buffer
    started = time.perf_counter()
    for key in keys_held:
        rows[engine.store.slot(key)].tobytes()
    row_us = per_point(time.perf_counter() - started, len(states))
    print(
        f"a series' state for the store, over {len(states)} series: a row to a SeriesState "
        f"{dump_us:.0f} us and its MessagePack {encode_us:.0f} us, against {row_us:.1f} us for "
        f"the row's own bytes"
    )

    # whole series (each its own points, in order) until the references have enough points
    per_series = [
        (values[s :: args.series], epochs[s :: args.series])
        for s in range(min(args.series, -(-args.reference_points // args.points)))
    ]
    m = sum(len(v) for v, _ in per_series)

    from river.anomaly import HalfSpaceTrees as RiverHST

    # one model over every reference point, with as many features as the service's own HST reads
    # (level, change, volatility), each series scaled to [0, 1] as HST expects; the first window
    # (slower: River fills its first reference window) learnt before the clock starts
    river = RiverHST(n_trees=10, height=8, window_size=250, seed=42)
    xs = []
    for v, _ in per_series:
        u = (v - v.min()) / (np.ptp(v) or 1.0)
        change = np.diff(u, prepend=u[0])
        xs += [
            {"level": float(a), "change": float(b), "volatility": float(abs(b))}
            for a, b in zip(u, change, strict=True)
        ]
    for x in xs[:RIVER_WARM]:
        river.score_one(x)
        river.learn_one(x)
    started = time.perf_counter()
    for x in xs[RIVER_WARM:]:
        river.score_one(x)
        river.learn_one(x)
    river_us = per_point(time.perf_counter() - started, len(xs) - RIVER_WARM)

    started = time.perf_counter()
    for v, e in per_series:
        scorer, state = build_scorer(settings), SeriesState()
        for u, ts in zip(v.tolist(), e.tolist(), strict=True):
            scorer.score_and_learn(state, u, datetime.fromtimestamp(ts, tz=UTC))
    ensemble_us = per_point(time.perf_counter() - started, m)

    print(f"in the same run, {m:,} points of {len(per_series)} of the series, one at a time:")
    print(
        f"  River HST, 10 trees of height 8: {river_us:.1f} us a point "
        f"(the engine {river_us / engine_us:.1f}x faster: issue #12 asks for 10x)"
    )
    print(
        f"  the Python scorer (what the worker runs today): {ensemble_us:.1f} us a point "
        f"(the engine {ensemble_us / engine_us:.0f}x faster)"
    )


if __name__ == "__main__":
    main()
