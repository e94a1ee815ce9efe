"""Episode F1 of the service's scorer on the synthetic EMS corpus, beside the rolling z-score.

    .venv/bin/python -m benchmarks.synthetic.run [--half all|even|odd] [--series 32] [--seed 2026]

Scores every series of `benchmarks.synthetic.corpus` with the worker's scorer (one fresh series
each, causal) and with the baseline (`benchmarks.baseline`, a causal rolling z-score over 100
points), and prints for each: episode precision, recall, F1 and median detection delay (points)
at the service's threshold 0.7 and at the threshold best for this corpus half, then what share
of each kind of episode was found at 0.7. `--half even` is the tuning half, `--half odd` the check
half: a setting chosen on one must hold on the other.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.baseline import rolling_z_detector
from benchmarks.machine import header
from benchmarks.nab.run import ems_detector
from benchmarks.synthetic.corpus import make_corpus, split
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--half", choices=("all", "even", "odd"), default="all")
    parser.add_argument("--series", type=int, default=32)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    corpus = split(make_corpus(args.series, args.seed), args.half)
    print(header("benchmarks.synthetic.run"))
    n_points = sum(len(s.values) for s in corpus)
    n_episodes = sum(len(s.episodes) for s in corpus)
    print(f"corpus ({args.half}): {len(corpus)} series, {n_points} points, {n_episodes} episodes")
    for name, detector in (("ems", ems_detector), ("rolling z (baseline)", rolling_z_detector)):
        started = time.perf_counter()
        scores = {s.name: detector(s.timestamps, s.values) for s in corpus}
        rate = n_points / (time.perf_counter() - started)
        at_service = evaluate(corpus, scores, SERVICE_THRESHOLD)
        threshold, at_best = best(corpus, scores)
        print(f"{name} ({rate:,.0f} points/s)")
        print(line("at 0.70", at_service))
        print(line(f"at best {threshold:.2f}", at_best))
        kinds = ", ".join(f"{k} {f}/{n}" for k, n, f in at_service.found_by_kind)
        print(f"  found at 0.70: {kinds}")


if __name__ == "__main__":
    main()
