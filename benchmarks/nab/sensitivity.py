"""How the NAB score moves around the combination's persistence and repeat-damping settings.

    .venv/bin/python -m benchmarks.nab.sensitivity [--nab-dir ../shared/nab] [--points 5 6 7]
        [--escalation 1.03 1.05 1.08] [--workers 2]

The settings are round values, not searched on NAB; this shows how much the score depends on
them. This runs the worker's scorer (`stream.ensemble.build_scorer`, the only change being
the settings named) over the whole corpus for every combination of the values given, and prints
each one's standard, low-FP and low-FN scores and the standard score of each half of the files
(`run.py --half`), then the spread. About a minute of one core a setting: the default grid of 9
takes some 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

from benchmarks.machine import header
from benchmarks.nab.corpus import DEFAULT_NAB_DIR, DataFile, load_corpus, load_profiles
from benchmarks.nab.run import ems_detector, evaluate
from stream import scoring


@cache
def _corpus(nab_dir: Path) -> list[DataFile]:
    return list(load_corpus(nab_dir))


def score_corpus(nab_dir: Path, points: int, escalation: float) -> dict:
    """Every file's scores with the given combination settings: {file name: scores}."""
    return {
        f.name: ems_detector(
            f.timestamps,
            f.values,
            persistence_points=points,
            escalation=escalation,
        )
        for f in _corpus(nab_dir)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nab-dir", type=Path, default=DEFAULT_NAB_DIR)
    parser.add_argument("--points", type=int, nargs="+", default=[5, 6, 7])
    parser.add_argument("--escalation", type=float, nargs="+", default=[1.03, 1.05, 1.08])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    files = _corpus(args.nab_dir)
    profiles = load_profiles(args.nab_dir)
    halves = files[0::2], files[1::2]
    grid = list(itertools.product(args.points, args.escalation))
    chosen = (scoring.PERSISTENCE_POINTS, scoring.ESCALATION)
    print(header("benchmarks.nab.sensitivity"))
    print(f"{len(grid)} settings; the service's own: points {chosen[0]}, escalation {chosen[1]}")
    print("points  escalation   standard  low FP  low FN   even half  odd half")
    standard = []
    with ProcessPoolExecutor(args.workers) as pool:
        runs = pool.map(score_corpus, *zip(*((args.nab_dir, *g) for g in grid), strict=True))
        for setting, scores in zip(grid, runs, strict=True):
            whole = evaluate(files, scores, profiles)
            even, odd = (evaluate(h, scores, profiles)["standard"]["score"] for h in halves)
            standard.append(whole["standard"]["score"])
            mark = "  <- the service's" if setting == chosen else ""
            print(
                f"{setting[0]:6d}  {setting[1]:10.2f}   "
                f"{whole['standard']['score']:8.1f}  {whole['reward_low_FP_rate']['score']:6.1f}"
                f"  {whole['reward_low_FN_rate']['score']:6.1f}   {even:9.1f}  {odd:8.1f}{mark}",
                flush=True,
            )
    print(
        f"standard: {min(standard):.1f} to {max(standard):.1f}, "
        f"median {statistics.median(standard):.1f}"
    )


if __name__ == "__main__":
    main()
