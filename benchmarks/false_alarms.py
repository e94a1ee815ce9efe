"""False alarms on normal data and found spikes, beside the threshold and the baseline.

    .venv/bin/python -m benchmarks.false_alarms [--noise-points 20000] [--seeds 3]
        [--demo-minutes 6000]

Series the scorer meets besides NAB's:

- pure noise, one point a minute, `--seeds` seeds each (3): Gaussian, and Student-t with 4 degrees
  of freedom (heavy tails: z = 5 comes about once in 500 points, not once in 2 million). Every
  anomaly is a false alarm, counted after the first 500 points at several thresholds, for the
  service, the service without its per-series tail calibration, and the rolling z-score baseline
  (`benchmarks.baseline`). By construction 0.7 is a one-in-16,000 event per channel of evidence,
  about 0.6 per 10,000 points. The rate at 0.7 is also printed by the series' age (`AGES`): a series
  learns its own tail from its most extreme 1% of points, so heavy-tailed noise alarms more often
  while the series is young, which is where NAB's series (40 of its 58 have 4,032 points or fewer)
  and any newly added asset spend their first days;
- benign shapes an EMS meets that are not noise around a level (`benign_shapes`): sparse and
  low counts, quantised values, a random walk, hourly steps, a daily sine, a sawtooth (memory
  that grows and is collected), log-normal latency, a flat value with rare small blips; every
  alarm at 0.7 counted, for the service and the baseline;
- the demo feed (`stream.demo_feed.synthetic_points`: 4 assets x 4 metrics with daily shapes,
  noise, and spikes of 12 to 20 noise deviations about three times a day per series): how many of
  the injected spikes are flagged at the default threshold, and how many other points are.

Prints the command and the machine.
"""

from __future__ import annotations

import argparse
import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np

from benchmarks.baseline import rolling_z_detector
from benchmarks.machine import header
from stream.config import Settings
from stream.demo_feed import synthetic_points
from stream.ensemble import build_scorer
from stream.features import SeriesState

THRESHOLDS = (0.6, 0.7, 0.75, 0.8)
T0 = datetime(2026, 1, 5, tzinfo=UTC)
SKIP = 500
#: the bounds of the age buckets (points since the series began) of the rate by age; points
#: past the last bound (with --noise-points over 20,000) are in no bucket
AGES = (SKIP, 2_000, 5_000, 10_000, 20_000)


def noise(kind: str, points: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    if kind == "gaussian":
        return [50.0 + rng.gauss(0, 1) for _ in range(points)]
    # Student-t(4), unit variance: a normal over the root of a chi-square(4) / 4
    return [50.0 + rng.gauss(0, 1) / math.sqrt(rng.gammavariate(2, 0.5)) for _ in range(points)]


def rate_by_age(
    runs: list[list[float]], threshold: float, ages: tuple[int, ...] = AGES
) -> list[tuple[int, int, float | None]]:
    """(from, to, scores >= `threshold` per 10,000 points) for each age bucket of `runs` (whole
    series, from their first point); None for a bucket no run reaches.

    >>> rate_by_age([[0.9] * 4 + [0.0] * 6], 0.7, ages=(0, 5, 10, 20))
    [(0, 5, 8000.0), (5, 10, 0.0), (10, 20, None)]
    """
    rates = []
    for lo, hi in zip(ages, ages[1:], strict=False):
        parts = [run[lo:hi] for run in runs if len(run) > lo]
        counted = sum(len(part) for part in parts)
        alarms = sum(s >= threshold for part in parts for s in part)
        rates.append((lo, hi, 10_000 * alarms / counted if counted else None))
    return rates


def ems_scores(values: list[float], **combination) -> list[float]:
    scorer, state = build_scorer(Settings(_env_file=None), **combination), SeriesState()
    stamps = [T0 + timedelta(minutes=i) for i in range(len(values))]
    return [
        scorer.score_and_learn(state, v, ts).score for v, ts in zip(values, stamps, strict=True)
    ]


def benign_shapes(points: int, seed: int = 1) -> dict[str, list[float]]:
    """Series without anomalies whose shape is not noise around a level, one point a minute."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    flat = np.full(points, 5.0)
    blips = rng.choice(points, points // 200, replace=False)
    flat[blips] += rng.normal(0, 1, len(blips))
    shapes = {
        "sparse counts (Poisson 0.05)": rng.poisson(0.05, points),
        "low counts (Poisson 3)": rng.poisson(3, points),
        "quantised (steps of 1)": np.round(50 + rng.normal(0, 0.4, points)),
        "random walk": 100 + np.cumsum(rng.normal(0, 0.1, points)),
        "hourly steps": np.repeat(rng.normal(10, 2, points // 60 + 1), 60)[:points],
        "daily sine": 50 + 20 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 1, points),
        "sawtooth (grow, collect)": (t % 300) * 0.2 + rng.normal(0, 0.5, points),
        "log-normal latency": rng.lognormal(3, 0.6, points),
        "flat with rare blips": flat,
    }
    return {name: [float(v) for v in values] for name, values in shapes.items()}


def demo_counts(minutes: int) -> tuple[int, int, int]:
    """(injected spikes, of them flagged, other points flagged) at the default threshold."""
    scorer, states = build_scorer(Settings(_env_file=None)), {}
    injected = found = other = 0
    for p in synthetic_points(assets=4, ticks=minutes, seed=3):
        state = states.setdefault((p.asset_id, p.metric), SeriesState())
        verdict = scorer.score_and_learn(state, p.value, p.timestamp, p.metric)
        injected += p.injected
        found += p.injected and verdict.is_anomaly
        other += verdict.is_anomaly and not p.injected
    return injected, found, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noise-points", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=3, help="noise series of each kind")
    parser.add_argument("--demo-minutes", type=int, default=6000)
    parser.add_argument("--shape-points", type=int, default=12000)
    args = parser.parse_args()
    print(header("benchmarks.false_alarms"))
    detectors = {
        "ems": ems_scores,
        "ems, no tail calibration": lambda v: ems_scores(v, calibrate_tails=False),
        "rolling z (baseline)": lambda v: rolling_z_detector([], v),
    }
    counted = args.noise_points - SKIP
    for kind in ("gaussian", "student-t(4)"):
        print(
            f"{kind} noise, {args.noise_points} points a seed, seeds 1-{args.seeds}, after {SKIP}:"
        )
        series = [noise(kind, args.noise_points, seed) for seed in range(1, args.seeds + 1)]
        for name, detector in detectors.items():
            whole = [detector(values) for values in series]
            runs = [run[SKIP:] for run in whole]
            for t in THRESHOLDS:
                counts = [sum(s >= t for s in run) for run in runs]
                rate = 10_000 * sum(counts) / (len(series) * counted)
                print(
                    f"  {name:26s} threshold {t:.2f}: {', '.join(map(str, counts)):>14s}"
                    f"  ({rate:.1f} per 10,000 points)"
                )
            by_age = ", ".join(
                f"{lo:,}-{hi:,}: {rate:.1f}"
                for lo, hi, rate in rate_by_age(whole, 0.7)
                if rate is not None
            )
            print(f"  {name:26s} at 0.70 per 10,000 by the series' age: {by_age}")
    print(f"benign shapes, {args.shape_points} points each, after {SKIP}, threshold 0.7:")
    for name, values in benign_shapes(args.shape_points).items():
        counts = [
            sum(s >= 0.7 for s in detector(values)[SKIP:])
            for detector in (ems_scores, lambda v: rolling_z_detector([], v))
        ]
        per = 10_000 / (args.shape_points - SKIP)
        print(
            f"  {name:30s} ems {counts[0]:4d} ({counts[0] * per:5.1f} per 10,000)"
            f"   rolling z {counts[1]:5d} ({counts[1] * per:6.1f} per 10,000)"
        )
    injected, found, other = demo_counts(args.demo_minutes)
    print(f"demo feed, 16 series x {args.demo_minutes} minutes, threshold 0.7:")
    print(f"  injected spikes flagged: {found} of {injected}; other points flagged: {other}")


if __name__ == "__main__":
    main()
