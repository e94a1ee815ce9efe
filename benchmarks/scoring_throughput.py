"""Throughput of the scoring path (decode, features, detectors) and per-series state size.

    .venv/bin/python -m benchmarks.scoring_throughput [--series 2000] [--points 100]

Runs the worker's pure batch code (`stream.pipeline.process_batch`) over synthetic JSON messages in
batches of 500, without Kafka or PostgreSQL, as the worker does: states held in memory between
batches, and every state a batch changed encoded for the database (`StateRow`). Prints points per
second, the state size per series as stored (`stream.state_codec`) and the resident memory of the
process, with the command and the machine, so a result can be reproduced.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from benchmarks.machine import header
from stream.config import Settings
from stream.demo_feed import DEMO_METRICS, synthetic_points
from stream.ensemble import build_scorer
from stream.features import SeriesState
from stream.pipeline import RawMessage, process_batch
from stream.sinks.state_store import StateRow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=2000, help="series (multiple of 4)")
    parser.add_argument("--points", type=int, default=100, help="points per series")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    assets = max(1, args.series // len(DEMO_METRICS))
    messages = [
        RawMessage("bench", 0, i, None, json.dumps(p.to_json()).encode())
        for i, p in enumerate(synthetic_points(assets=assets, ticks=args.points, seed=1))
    ]
    states: dict[str, SeriesState] = {}
    stored: dict[str, bytes] = {}
    scorer = build_scorer(Settings(_env_file=None))

    def load(key: str) -> SeriesState:
        return states.setdefault(key, SeriesState())

    started = time.perf_counter()
    for i in range(0, len(messages), args.batch):
        result = process_batch(messages[i : i + args.batch], load, scorer)
        for key, (_, state) in result.states.items():
            stored[key] = StateRow.of(key, state).payload
    seconds = time.perf_counter() - started

    sizes = sorted(len(payload) for payload in stored.values())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(header("benchmarks.scoring_throughput"))
    print(f"series: {len(states)}, points: {len(messages)}, batch: {args.batch}")
    print(f"throughput: {len(messages) / seconds:,.0f} points/s ({seconds:.2f} s, one core)")
    print(f"state per series (stored): median {sizes[len(sizes) // 2]} B, max {sizes[-1]} B")
    print(f"peak resident memory: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
