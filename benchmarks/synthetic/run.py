"""Episode F1 of the service's scorer on the synthetic EMS corpus, beside the rolling z-score.

    .venv/bin/python -m benchmarks.synthetic.run [--half all|even|odd] [--series 32] [--seed 2026]
    .venv/bin/python -m benchmarks.synthetic.run --days 60 [--series 8] [--half ...]

Scores every series of `benchmarks.synthetic.corpus` with the worker's scorer (one fresh series
each, causal) and with the baseline (`benchmarks.baseline`, a causal rolling z-score over 100
points), and prints for each: episode precision, recall, F1 and median detection delay (points)
at the service's threshold 0.7 and at the threshold best for this corpus half, then what share
of each kind of episode was found at 0.7. `--half even` is the tuning half, `--half odd` the check
half: a setting chosen on one must hold on the other.

`--days D` scores the long corpus instead (`corpus.make_long_corpus`: `--series` series, 8 by
default, one a metric, at one minute for D days, four episodes each), where anomalies are as rare
as in a real EMS; its series are scored two at a time (one process a core, at most two).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

from benchmarks.baseline import rolling_z_detector
from benchmarks.machine import header
from benchmarks.nab.run import ems_detector
from benchmarks.synthetic.corpus import make_corpus, make_long_corpus, split
from benchmarks.synthetic.episodes import EMPTY, Counts, count

SERVICE_THRESHOLD = 0.7
SWEEP = [round(0.3 + 0.01 * i, 2) for i in range(66)]


def evaluate(corpus, scores: dict[str, list[float]], threshold: float) -> Counts:
    total = EMPTY
    for s in corpus:
        episodes = [(e.kind, e.start, e.end) for e in s.episodes]
        total = total + count(scores[s.name], episodes, threshold, s.scored_from)
    return total


def best(corpus, scores) -> tuple[float, Counts]:
    return max(((t, evaluate(corpus, scores, t)) for t in SWEEP), key=lambda tc: tc[1].f1)


def line(label: str, c: Counts) -> str:
    return (
        f"  {label:22s} F1 {c.f1:.3f}  precision {c.precision:.3f}  recall {c.recall:.3f}  "
        f"({c.found}/{c.episodes} episodes, {c.alerts} alerts)  median delay {c.median_delay:g}"
    )


def _score_one(job) -> list[float]:
    detector, timestamps, values = job
    return detector(timestamps, values)


def score_all(corpus, detector, processes: int = 1) -> dict[str, list[float]]:
    """Each series' scores by `detector`, in `processes` processes (at most the cores)."""
    jobs = [(detector, s.timestamps, s.values) for s in corpus]
    processes = min(processes, os.cpu_count() or 1, len(jobs))
    if processes <= 1:
        results = [_score_one(job) for job in jobs]
    else:
        with multiprocessing.Pool(processes) as pool:
            results = pool.map(_score_one, jobs, chunksize=1)
    return {s.name: r for s, r in zip(corpus, results, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--half", choices=("all", "even", "odd"), default="all")
    parser.add_argument("--series", type=int, default=None, help="32, or 8 with --days")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--days", type=int, default=None, help="the long corpus, D days a series")
    args = parser.parse_args()
    if args.days is None:
        corpus = split(make_corpus(args.series or 32, args.seed), args.half)
    else:
        corpus = split(make_long_corpus(args.days, args.series or 8, args.seed), args.half)
    print(header("benchmarks.synthetic.run"))
    n_points = sum(len(s.values) for s in corpus)
    n_episodes = sum(len(s.episodes) for s in corpus)
    kind = "corpus" if args.days is None else f"long corpus ({args.days} days at 1 min)"
    print(f"{kind} ({args.half}): {len(corpus)} series, {n_points} points, {n_episodes} episodes")
    processes = 1 if args.days is None else 2
    for name, detector in (("ems", ems_detector), ("rolling z (baseline)", rolling_z_detector)):
        started = time.perf_counter()
        scores = score_all(corpus, detector, processes)
        rate = n_points / (time.perf_counter() - started)
        at_service = evaluate(corpus, scores, SERVICE_THRESHOLD)
        threshold, at_best = best(corpus, scores)
        print(f"{name} ({rate:,.0f} points/s in up to {processes} processes)")
        print(line("at 0.70", at_service))
        print(line(f"at best {threshold:.2f}", at_best))
        kinds = ", ".join(f"{k} {f}/{n}" for k, n, f in at_service.found_by_kind)
        print(f"  found at 0.70: {kinds}")


if __name__ == "__main__":
    main()
