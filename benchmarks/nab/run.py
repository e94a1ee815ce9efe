"""Runs a detector over the NAB corpus and prints its standard, low-FP and low-FN scores.

    .venv/bin/python -m benchmarks.nab.run [--nab-dir ../shared/nab] [--detector ems|null|random]
                                           [--half all|even|odd] [--per-file] [--by-category]

`ems` is the service's own scorer, the code the worker runs, one fresh series per file, causal (each
point is scored before it is learnt), one configuration for the whole corpus. `null` and `random`
are NAB's baselines, to check this scorer against NAB's published figures (0 and about 11);
`rollingz` is the simple baseline printed beside every figure (`benchmarks.baseline`). Each
profile's score is printed at NAB's optimised threshold and at the service's fixed 0.7.
`--half even|odd` scores every other file (in sorted order, so every category is in both halves):
the configuration was chosen on the whole corpus, and a change that helps only one half is
probably fitted to NAB's files rather than better. `--by-category` adds the standard score of each
category with labelled anomalies (`realAWSCloudwatch`, `realTweets`, ...), each at its own best
threshold: which kinds of series a change helps.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from benchmarks.baseline import rolling_z_detector
from benchmarks.machine import header
from benchmarks.nab.corpus import DEFAULT_NAB_DIR, DataFile, load_corpus, load_profiles
from benchmarks.nab.scorer import CostMatrix, best_threshold, normalised, score_at, sweep_rows

#: the service's default ANOMALY_THRESHOLD: what it really does, beside NAB's optimised threshold
SERVICE_THRESHOLD = 0.7

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
PUBLISHED = {  # NAB scoreboard: standard / low FP / low FN
    "ARTime": (74.9, 65.1, 80.4),
    "Numenta HTM": (70.5, 62.6, 75.2),
    "CAD OSE": (69.9, 67.0, 73.2),
    "KNN CAD": (58.0, 43.4, 64.8),
    "Random Cut Forest": (51.7, 38.4, 59.7),
    "Windowed Gaussian": (39.6, 20.9, 47.4),
    "Random": (11.0, 1.2, 19.5),
    "Null": (0.0, 0.0, 0.0),
}

Detector = Callable[[Sequence[datetime], Sequence[float]], list[float]]


def null_detector(timestamps, values) -> list[float]:
    return [0.0] * len(values)


def random_detector(seed: int = 42) -> Detector:
    rng = random.Random(seed)
    return lambda timestamps, values: [rng.random() for _ in values]


def ems_detector(timestamps, values, **combination) -> list[float]:
    """The worker's scores of one fresh series; `combination`: `Scorer` settings to override."""
    from stream.config import Settings
    from stream.ensemble import build_scorer
    from stream.features import SeriesState

    scorer = build_scorer(Settings(_env_file=None), **combination)
    state = SeriesState()
    return [
        scorer.score_and_learn(state, v, ts).score for ts, v in zip(timestamps, values, strict=True)
    ]


DETECTORS: dict[str, Callable[[], Detector]] = {
    "ems": lambda: ems_detector,
    "null": lambda: null_detector,
    "rollingz": lambda: rolling_z_detector,
    "random": random_detector,
}


def evaluate(files: Sequence[DataFile], scores: dict[str, list[float]], profiles: dict) -> dict:
    """Normalised NAB score and corpus threshold per profile."""
    n_windows = sum(len(f.windows) for f in files)
    results = {}
    for profile in PROFILES:
        costs = CostMatrix.from_profile(profiles[profile])
        rows = []
        for f in files:
            rows.extend(sweep_rows(f.name, f.timestamps, scores[f.name], f.windows, costs))
        best = best_threshold(rows, costs)
        null_best = best_threshold([r.__class__(0.0, r.sweep_value, r.window) for r in rows], costs)
        results[profile] = {
            "score": normalised(
                best.score, n_windows=n_windows, costs=costs, null_raw=null_best.score
            ),
            "at_service": normalised(
                score_at(rows, costs, SERVICE_THRESHOLD),
                n_windows=n_windows,
                costs=costs,
                null_raw=null_best.score,
            ),
            "threshold": best.threshold,
            "tp": best.tp,
            "fp": best.fp,
            "missed_windows": best.fn_windows,
        }
    return results


def per_file(
    files: Sequence[DataFile], scores: dict[str, list[float]], costs: CostMatrix, threshold: float
) -> list[tuple[str, int, int, int]]:
    """Per file at `threshold`: (name, windows, windows detected, detections outside windows),
    probationary rows left out as the scorer does."""
    table = []
    for f in files:
        rows = sweep_rows(f.name, f.timestamps, scores[f.name], f.windows, costs)
        fired = [r for r in rows if r.window != "" and r.anomaly_score >= threshold]
        detected = {r.window for r in fired if r.window is not None}
        outside = sum(r.window is None for r in fired)
        table.append((f.name, len(f.windows), len(detected), outside))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nab-dir", type=Path, default=DEFAULT_NAB_DIR)
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="ems")
    parser.add_argument("--half", choices=("all", "even", "odd"), default="all")
    parser.add_argument(
        "--per-file", action="store_true", help="windows found and false positives per file"
    )
    parser.add_argument(
        "--by-category", action="store_true", help="standard score per category of files"
    )
    args = parser.parse_args()

    files = list(load_corpus(args.nab_dir))
    if args.half != "all":
        files = files[0 if args.half == "even" else 1 :: 2]
    detector = DETECTORS[args.detector]()
    started = time.perf_counter()
    scores = {f.name: detector(f.timestamps, f.values) for f in files}
    seconds = time.perf_counter() - started
    profiles = load_profiles(args.nab_dir)
    results = evaluate(files, scores, profiles)

    n_points = sum(len(f.values) for f in files)
    n_windows = sum(len(f.windows) for f in files)
    print(header("benchmarks.nab.run"))
    print(f"corpus ({args.half}): {len(files)} files, {n_points} points, {n_windows} windows")
    print(f"detector: {args.detector}, {n_points / seconds:,.0f} points/s")
    for profile, r in results.items():
        print(
            f"{profile:20s} {r['score']:6.1f}  (threshold {r['threshold']:.4f}, "
            f"{r['tp']} detections in windows, {r['fp']} outside, "
            f"{r['missed_windows']} windows missed); at {SERVICE_THRESHOLD}: {r['at_service']:.1f}"
        )
    print("published:", "; ".join(f"{k} {v[0]}/{v[1]}/{v[2]}" for k, v in PUBLISHED.items()))
    if args.per_file:
        standard = CostMatrix.from_profile(profiles["standard"])
        threshold = results["standard"]["threshold"]
        print(f"per file, standard profile at {threshold:.4f}: windows, found, false positives")
        for name, windows, found, outside in per_file(files, scores, standard, threshold):
            print(f"  {name:60s} {windows:3d} {found:3d} {outside:4d}")
    if args.by_category:
        print("per category, standard profile, each at its own best threshold:")
        for category in sorted({f.name.split("/")[0] for f in files if f.windows}):
            members = [f for f in files if f.name.startswith(f"{category}/")]
            score = evaluate(members, scores, profiles)["standard"]["score"]
            print(f"  {category:30s} {score:6.1f}")


if __name__ == "__main__":
    main()
