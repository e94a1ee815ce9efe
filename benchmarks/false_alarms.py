"""False alarms and found spikes on synthetic series, beside the threshold that decides them.

    .venv/bin/python -m benchmarks.false_alarms [--noise-points 20000] [--demo-minutes 6000]

Two kinds of series the scorer meets besides NAB's:

- pure Gaussian noise (three seeds, one point a minute): every anomaly is a false alarm. Counted
  after the first 100 points, at several thresholds;
- the demo feed (`stream.demo_feed.synthetic_points`: 4 assets x 4 metrics with daily shapes,
  noise, and spikes of 12 to 20 noise deviations about three times a day per series): how many of
  the injected spikes are flagged at the default threshold, and how many other points are.

Prints the command and the machine.
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta

from benchmarks.machine import header
from stream.config import Settings
from stream.demo_feed import synthetic_points
from stream.ensemble import build_scorer
from stream.features import SeriesState

THRESHOLDS = (0.6, 0.7, 0.75, 0.8)
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def noise_scores(points: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    scorer, state = build_scorer(Settings(_env_file=None)), SeriesState()
    return [
        scorer.score_and_learn(state, 50.0 + rng.gauss(0, 1), T0 + timedelta(minutes=i)).score
        for i in range(points)
    ]


def demo_counts(minutes: int) -> tuple[int, int, int]:
    """(injected spikes, of them flagged, other points flagged) at the default threshold."""
    scorer, states = build_scorer(Settings(_env_file=None)), {}
    injected = found = other = 0
    for p in synthetic_points(assets=4, ticks=minutes, seed=3):
        state = states.setdefault((p.asset_id, p.metric), SeriesState())
        verdict = scorer.score_and_learn(state, p.value, p.timestamp)
        injected += p.injected
        found += p.injected and verdict.is_anomaly
        other += verdict.is_anomaly and not p.injected
    return injected, found, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noise-points", type=int, default=20000)
    parser.add_argument("--demo-minutes", type=int, default=6000)
    args = parser.parse_args()
    print(header("benchmarks.false_alarms"))
    print(f"Gaussian noise, {args.noise_points} points a seed; anomalies after the first 100:")
    runs = [noise_scores(args.noise_points, seed)[100:] for seed in (1, 2, 3)]
    for t in THRESHOLDS:
        counts = ", ".join(str(sum(s >= t for s in run)) for run in runs)
        print(f"  threshold {t:.2f}: seeds 1-3: {counts}")
    injected, found, other = demo_counts(args.demo_minutes)
    print(f"demo feed, 16 series x {args.demo_minutes} minutes, threshold 0.7:")
    print(f"  injected spikes flagged: {found} of {injected}; other points flagged: {other}")


if __name__ == "__main__":
    main()
