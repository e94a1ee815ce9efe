"""Throughput of the worker's batch code (decode, score on the engine, rows to store) and the
size of a series' stored row.

    .venv/bin/python -m benchmarks.scoring_throughput [--series 2000] [--points 100]

Runs the worker's pure batch code (`stream.pipeline.process_batch`) over synthetic JSON messages in
batches of 500, without Kafka or PostgreSQL, as the worker does: rows held in the engine between
batches, and every row a batch changed turned into its stored bytes (`stream.engine.stored`).
Prints points per second beside, measured in the same run, the rate of decoding the same
messages alone (the part of the batch that is per-point Python), the row size per series as
stored and the resident memory of the process, with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from benchmarks.machine import header
from stream.config import Settings
from stream.demo_feed import DEMO_METRICS, synthetic_points
from stream.engine import stored
from stream.engine.core import warm
from stream.ensemble import MODEL_VERSION, build_engine
from stream.pipeline import RawMessage, decode_batch, process_batch


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
    settings = Settings(_env_file=None)
    warm(settings.window_size)
    engine = build_engine(settings)
    rows: dict[str, bytes] = {}

    started = time.perf_counter()
    for i in range(0, len(messages), args.batch):
        result = process_batch(messages[i : i + args.batch], engine, model_version=MODEL_VERSION)
        for key in result.series:
            rows[key] = stored.payload(engine, key, None)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(messages), args.batch):
        decode_batch(messages[i : i + args.batch])
    decoding = time.perf_counter() - started

    sizes = sorted(len(payload) for payload in rows.values())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(header("benchmarks.scoring_throughput"))
    print(f"series: {len(rows)}, points: {len(messages)}, batch: {args.batch}")
    print(f"throughput: {len(messages) / seconds:,.0f} points/s ({seconds:.2f} s, one core)")
    print(
        f"decoding alone: {len(messages) / decoding:,.0f} points/s "
        f"({decoding / seconds:.0%} of the batch's time)"
    )
    print(f"row per series (stored): median {sizes[len(sizes) // 2]} B, max {sizes[-1]} B")
    print(f"peak resident memory: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
