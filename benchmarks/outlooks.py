"""What a batch's capacity outlooks cost the worker once its bounded series are a day old.

    .venv/bin/python -m benchmarks.outlooks [--series 1000] [--days 2]

`--series` bounded series (`cpu_usage`, limit 100) learnt for `--days` days at one point a
minute by the engine: most flat below the limit, a tenth rising towards it, a tenth over it.
Then the outlook of every series after its last point, as a batch gives each bounded series it
scored one: by the worker (`pipeline.batch_outlooks`: the line read from each row by the compiled
twin of `capacity.outlook`, the Python search only for lines rising towards the limit) and, in
the same run, by the way before it (`reference.outlooks_by_state`: each row made a trend and a
seasonal profile as `SeriesState` holds them, then `CapacityWatch.assess_line`). Prints
microseconds a series for each, best of five rounds, and checks they give the same outlooks.
Before any series is a day old, neither has a line to read: the end-to-end benchmarks' feeds
never reach this.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import numpy as np

from benchmarks.machine import header
from stream.capacity import parse_capacity_rules
from stream.config import Settings
from stream.engine.core import Engine
from stream.engine.reference import outlooks_by_state
from stream.events import MetricPoint
from stream.pipeline import batch_outlooks
from stream.predictions import CapacityWatch

MONDAY = 1_767_571_200.0  # 2026-01-05 00:00 UTC
ROUNDS = 5


def learnt(series: int, days: int) -> tuple[Engine, dict[str, MetricPoint]]:
    """An engine holding `series` bounded series of `days` days, and each one's last point."""
    rng = np.random.default_rng(5)
    points = days * 1440
    minutes = np.arange(points)
    epochs = MONDAY + 60.0 * minutes
    hours = (epochs % 86_400) / 3600
    base = rng.uniform(20, 70, series)
    # a tenth rising by 25 a day (the limit ahead), a tenth over it, the rest flat
    slope = np.where(np.arange(series) % 10 == 0, 25.0, 0.0)
    base = np.where(np.arange(series) % 10 == 1, 105.0, base)
    settings = Settings(_env_file=None)
    engine = Engine(
        threshold=settings.anomaly_threshold,
        window_size=settings.window_size,
        warmup_points=settings.warmup_points,
    )
    keys = [f"{s}/cpu_usage" for s in range(series)]
    daily = 6 * np.sin(2 * np.pi * hours / 24)
    for m in range(points):
        values = base + slope * (m / 1440 - days) + daily[m] + rng.normal(0, 1.0, series)
        engine.score_batch(keys, values, np.full(series, epochs[m]))
    at = datetime.fromtimestamp(epochs[-1], tz=UTC)
    last = {
        key: MetricPoint(asset_id=s, metric="cpu_usage", value=0.0, timestamp=at)
        for s, key in enumerate(keys)
    }
    return engine, last


def best_us(make, series: int) -> tuple[float, list]:
    best, made = float("inf"), []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        made = make()
        best = min(best, time.perf_counter() - started)
    return best / series * 1e6, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    print(header("benchmarks.outlooks"))
    settings = Settings(_env_file=None)
    watch = CapacityWatch(
        parse_capacity_rules(settings.capacity_rules),
        horizon_hours=settings.capacity_horizon_hours,
        confidence=settings.capacity_confidence,
    )
    started = time.perf_counter()
    engine, last = learnt(args.series, args.days)
    print(
        f"{args.series:,} bounded series learnt for {args.days} days at a point a minute "
        f"({time.perf_counter() - started:.0f} s)"
    )
    now_us, now = best_us(lambda: batch_outlooks(engine, watch, last), args.series)
    was_us, was = best_us(lambda: outlooks_by_state(engine, watch, last), args.series)
    if now != was:
        raise SystemExit("the two ways gave different outlooks")
    searched = sum(1 for ref in now if ref.outlook.hours_to_crossing not in (None, 0.0))
    print(
        f"outlooks: {len(now):,} ({searched} with a crossing ahead, searched in Python); "
        f"the same from both ways"
    )
    print(
        f"a series' outlook: {now_us:.1f} us (the worker) against {was_us:.1f} us read through a "
        f"SeriesState (the way before, same run): {was_us / now_us:.1f}x"
    )


if __name__ == "__main__":
    main()
