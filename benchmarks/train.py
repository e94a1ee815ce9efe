"""Training a model over many points (`models_store.train`, what `POST /anomaly/train` runs once
the history is read), beside the Python scorer on part of the same history, in the same run.

    .venv/bin/python -m benchmarks.train [--series 1000] [--points 2000] [--reference-points 20000]

Builds `--series` series x `--points` points at one minute (`benchmarks.engine.feed`), trains on
them (the compiled engine, every state dumped as the Python scorer holds it) and prints the
time; then scores the first `--reference-points` points of the same series with the Python
scorer (`replay.score_points`) and prints its rate, with the command and the machine. Reading the
history from PostgreSQL and writing the model file are not timed.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from benchmarks.engine import feed
from benchmarks.machine import header
from stream import models_store
from stream.config import Settings
from stream.ensemble import build_scorer
from stream.events import MetricPoint
from stream.history import History
from stream.replay import score_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=2000, help="points a series")
    parser.add_argument("--reference-points", type=int, default=20_000)
    args = parser.parse_args()
    print(header("benchmarks.train"))
    keys, values, epochs = feed(args.series, args.points)
    rows = [
        (int(key.split("-")[1].split("/")[0]) + 1, "cpu_usage", datetime.fromtimestamp(e, UTC), v)
        for key, v, e in zip(keys, values.tolist(), epochs.tolist(), strict=True)
    ]
    history = History.of_rows(rows)
    scorer = build_scorer(Settings(_env_file=None))
    models_store.train(History.of_rows(rows[:2]), scorer, contamination=0.01)
    started = time.perf_counter()
    model = models_store.train(history, scorer, contamination=0.01)
    seconds = time.perf_counter() - started
    print(
        f"train over {len(keys):,} points of {model.quality['series']:,} series: {seconds:.1f} s "
        f"({len(keys) / seconds:,.0f} points/s)"
    )
    subset = [
        MetricPoint(asset_id=asset, metric=metric, timestamp=ts, value=v)
        for asset, metric, ts, v in rows
        if asset <= max(1, args.reference_points // args.points)
    ]
    started = time.perf_counter()
    for _ in score_points(sorted(subset, key=lambda p: p.timestamp), scorer):
        pass
    rate = len(subset) / (time.perf_counter() - started)
    print(
        f"in the same run, the Python scorer on {len(subset):,} of the points: {rate:,.0f} "
        f"points/s (the whole history would take {len(keys) / rate:,.0f} s)"
    )


if __name__ == "__main__":
    main()
