"""Every detection figure of a change in one run: both halves of NAB, of the synthetic corpus and
of its long variant, and the false alarms on stationary noise.

    .venv/bin/python -m benchmarks.halves [--processes 2] [--long-days 60]

Scores NAB (58 files), the synthetic EMS corpus (32 series), the long corpus (8 series at one
minute for `--long-days` days; 0 leaves it out) with the service's scorer, and three seeds of
Student-t(4) and Gaussian noise (`benchmarks.false_alarms`), in parallel, then prints one line:
NAB standard at the fixed threshold 0.7 (and at NAB's optimised threshold) on its even and odd
half, synthetic episode F1 (precision, recall) at 0.7 on its tuning (even) and check (odd) half,
the long corpus's F1 at 0.7 on both halves (and its alerts), and false alarms per 10,000 noise
points at 0.7; then what share of each kind of episode the synthetic check half found. A change
is compared by running this before and after it: every half moves at once, so a setting cannot
be chosen on one half unseen by the others. About 6 minutes on 2 cores (3 without the long
corpus). The same evaluations as `benchmarks.nab.run --half even|odd` and
`benchmarks.synthetic.run --half even|odd [--days 60]`, which also print the rolling z-score
baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing
from datetime import timedelta

from benchmarks.false_alarms import T0, noise
from benchmarks.machine import header
from benchmarks.nab import run as nab_run
from benchmarks.nab.corpus import DEFAULT_NAB_DIR, load_corpus, load_profiles
from benchmarks.synthetic import run as synthetic_run
from benchmarks.synthetic.corpus import make_corpus, make_long_corpus, split
from stream.config import Settings
from stream.ensemble import build_scorer
from stream.features import SeriesState

NOISE_SEEDS = (1, 2, 3)
NOISE_POINTS = 20_000
#: noise points before this index are a series' warm-up, not counted
NOISE_COUNTED_FROM = 500


def _score(job: tuple[str, str, list, list]) -> tuple[str, str, list[float]]:
    kind, name, stamps, values = job
    scorer, state = build_scorer(Settings(_env_file=None)), SeriesState()
    scores = [scorer.score_and_learn(state, v, ts) for ts, v in zip(stamps, values, strict=True)]
    if kind == "noise":
        return kind, name, [float(p.is_anomaly) for p in scores]
    return kind, name, [p.score for p in scores]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--long-days", type=int, default=60, help="0: no long corpus")
    args = parser.parse_args()
    print(header("benchmarks.halves"))
    files = list(load_corpus(DEFAULT_NAB_DIR))
    corpus = make_corpus()
    jobs = [("nab", f.name, f.timestamps, f.values) for f in files]
    jobs += [("synthetic", s.name, s.timestamps, s.values) for s in corpus]
    long_corpus = make_long_corpus(args.long_days) if args.long_days > 0 else []
    jobs += [("long", s.name, s.timestamps, s.values) for s in long_corpus]
    for kind in ("t", "gaussian"):
        for seed in NOISE_SEEDS:
            values = noise(kind, NOISE_POINTS, seed)
            stamps = [T0 + timedelta(minutes=i) for i in range(len(values))]
            jobs.append(("noise", f"{kind}{seed}", stamps, values))
    jobs.sort(key=lambda job: -len(job[3]))  # the longest first, so the processes end together
    with multiprocessing.Pool(args.processes) as pool:
        scores = {(kind, name): s for kind, name, s in pool.map(_score, jobs, chunksize=1)}

    profiles = load_profiles(DEFAULT_NAB_DIR)
    parts = []
    for half, files_of_half in (("even", files[0::2]), ("odd", files[1::2])):
        by_file = {f.name: scores[("nab", f.name)] for f in files_of_half}
        standard = nab_run.evaluate(files_of_half, by_file, profiles)["standard"]
        parts.append(f"NAB {half} {standard['at_service']:.1f} ({standard['score']:.1f})")
    check = None
    for half in ("even", "odd"):
        series = split(corpus, half)
        by_series = {s.name: scores[("synthetic", s.name)] for s in series}
        counts = synthetic_run.evaluate(series, by_series, synthetic_run.SERVICE_THRESHOLD)
        parts.append(
            f"synthetic {half} F1 {counts.f1:.3f} (P {counts.precision:.2f}, R {counts.recall:.2f})"
        )
        check = counts
    for half in ("even", "odd") if long_corpus else ():
        series = split(long_corpus, half)
        by_series = {s.name: scores[("long", s.name)] for s in series}
        counts = synthetic_run.evaluate(series, by_series, synthetic_run.SERVICE_THRESHOLD)
        parts.append(f"long {half} F1 {counts.f1:.3f} ({counts.alerts} alerts)")
    counted = len(NOISE_SEEDS) * (NOISE_POINTS - NOISE_COUNTED_FROM)
    for kind in ("t", "gaussian"):
        alarms = sum(
            sum(scores[("noise", f"{kind}{seed}")][NOISE_COUNTED_FROM:]) for seed in NOISE_SEEDS
        )
        parts.append(f"false alarms {kind} {alarms / counted * 1e4:.1f}")
    print(" | ".join(parts))
    print(
        "synthetic check half found at 0.7: "
        + ", ".join(f"{k} {f}/{n}" for k, n, f in check.found_by_kind)
    )


if __name__ == "__main__":
    main()
