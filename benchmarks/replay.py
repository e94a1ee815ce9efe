"""`ems-ml replay` from CSV to CSV, beside the Python scorer it replaced, in the same run.

    .venv/bin/python -m benchmarks.replay [--series 2000] [--points 100] [--reference-points 20000]

Writes a CSV of `--series` series x `--points` points at one minute (`benchmarks.engine.feed`),
replays it with the compiled engine (`stream.replay.replay`, what `ems-ml replay` runs) and
prints its points/s from reading the file to the last row written, with the time of its parts
(reading and validating the rows, scoring, the rest: writing); then, on the first
`--reference-points` points, the Python scorer the replay ran before (`replay.score_points`,
scoring only, no file written: a lower bound of the old replay's time), with the command and the
machine.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.engine import feed
from benchmarks.machine import header
from stream.config import Settings
from stream.ensemble import build_engine, build_scorer
from stream.replay import ReplayReport, read_points, replay, score_points


def write_input(path: Path, series: int, points: int) -> None:
    keys, values, epochs = feed(series, points)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["asset_id", "metric", "timestamp", "value"])
        for key, value, epoch in zip(keys, values.tolist(), epochs.tolist(), strict=True):
            asset = int(key.split("-")[1].split("/")[0]) + 1
            writer.writerow([asset, "cpu_usage", int(epoch * 1000), value])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--points", type=int, default=100, help="points a series")
    parser.add_argument("--reference-points", type=int, default=20_000)
    args = parser.parse_args()
    print(header("benchmarks.replay"))
    settings = Settings(_env_file=None)
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        write_input(source, args.series, args.points)
        n = args.series * args.points
        print(f"series: {args.series}, points: {n:,}")
        engine = build_engine(settings)
        engine.score_batch(["warm"], np.array([1.0]), np.array([0.0]))  # load the compiled code

        started = time.perf_counter()
        report = replay(source, target, engine, progress=False)
        total = time.perf_counter() - started
        started = time.perf_counter()
        rows = read_points(source, ReplayReport())
        reading = time.perf_counter() - started
        fresh = build_engine(settings)
        started = time.perf_counter()
        fresh.score_batch(
            [f"{a}/{m}" for a, m in zip(rows.asset_ids, rows.metrics, strict=True)],
            np.array(rows.values),
            np.array([ts.timestamp() for ts in rows.timestamps]),
            rows.metrics,
        )
        scoring = time.perf_counter() - started
        print(
            f"replay with the engine, CSV to CSV: {report.scored / total:,.0f} points/s "
            f"({total:.1f} s: reading and validating {reading:.1f} s, scoring {scoring:.1f} s, "
            f"the rest {total - reading - scoring:.1f} s)"
        )

        subset = [rows.point(i) for i in range(min(args.reference_points, len(rows)))]
        scorer = build_scorer(settings)
        started = time.perf_counter()
        for _ in score_points(subset, scorer):
            pass
        python = time.perf_counter() - started
        print(
            f"in the same run, the Python scorer alone on {len(subset):,} of the points: "
            f"{len(subset) / python:,.0f} points/s (the engine's replay, with its file "
            f"reading and writing, {report.scored / total / (len(subset) / python):.1f}x that)"
        )


if __name__ == "__main__":
    main()
