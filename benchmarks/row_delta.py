"""What a checkpoint of a row's changed parts stores, against the whole row (issue #12).

    .venv/bin/python -m benchmarks.row_delta [--learnt 1500] [--series 20]

Sizes the checkpoint's deltas (README, Delivery guarantees; `benchmarks.checkpoint` times them
on PostgreSQL): each series a demo-like feed would send (a daily shape, Gaussian noise, one
point a minute; `--series` of them, seeds 0, 1, ...) learns `--learnt` points on the worker's
engine (its settings' defaults), and its row is kept as if stored. After 1, 2, 3, 8, 20, 80, 380
and 1,380 more points the row is compared with the stored one word by word (8 bytes): the words
changed, the row XORed with the stored one and compressed with LZ4 (what a checkpoint sends,
`stream.state_codec.encode_delta`) and with zlib at level 1, beside the whole row compressed
with zlib the same way (a row stored whole is packed with LZ4 by the worker, README, Delivery
guarantees). Prints the median over the series, in bytes.
"""

from __future__ import annotations

import argparse
import statistics
import zlib

import lz4.block
import numpy as np

from benchmarks.machine import header
from stream.config import Settings
from stream.ensemble import build_engine

_AFTER = (1, 2, 3, 8, 20, 80, 380, 1380)
_MINUTE = 60.0
_START = 1.7e9


def _feed(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    minutes = np.arange(n)
    return 50 + 10 * np.sin(minutes * 2 * np.pi / 1440) + rng.normal(0, 2, n)


def measure(seed: int, learnt: int) -> list[tuple[int, int, int, int, int]]:
    """(points since stored, words changed, XOR with LZ4, XOR with zlib, whole row with zlib) for
    one series."""
    engine = build_engine(Settings())
    values = _feed(seed, learnt + _AFTER[-1])
    stamps = _START + _MINUTE * np.arange(len(values))

    def learn(start: int, end: int) -> None:
        n = end - start
        engine.score_batch(["s"] * n, values[start:end], stamps[start:end], ["cpu_usage"] * n)

    learn(0, learnt)
    stored = np.frombuffer(engine.row_bytes("s"), dtype=np.uint8).copy()
    found, done = [], 0
    for after in _AFTER:
        learn(learnt + done, learnt + after)
        done = after
        row = np.frombuffer(engine.row_bytes("s"), dtype=np.uint8)
        xor = np.bitwise_xor(row, stored)
        changed = int(np.count_nonzero(xor.view(np.uint64)))
        found.append(
            (
                after,
                changed,
                len(lz4.block.compress(xor, store_size=True)),
                len(zlib.compress(xor.tobytes(), 1)),
                len(zlib.compress(row.tobytes(), 1)),
            )
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learnt", type=int, default=1500, help="points before the row is kept")
    parser.add_argument("--series", type=int, default=20)
    args = parser.parse_args()
    print(header("benchmarks.row_delta"))
    runs = [measure(seed, args.learnt) for seed in range(args.series)]
    row_bytes = len(_row_of_a_new_engine())
    print(
        f"{args.series} series, each row kept after {args.learnt} points; a row is {row_bytes:,} B "
        f"({row_bytes // 8:,} words); medians over the series"
    )
    print(
        "| points since kept | words changed | changed parts: XOR, LZ4 (sent) | XOR, zlib 1 "
        "| whole row, zlib 1 |"
    )
    print("|---|---|---|---|---|")
    for k, after in enumerate(_AFTER):
        changed, sent, xor, whole = (
            statistics.median(run[k][i] for run in runs) for i in (1, 2, 3, 4)
        )
        print(f"| {after:,} | {changed:,.0f} | {sent:,.0f} B | {xor:,.0f} B | {whole:,.0f} B |")


def _row_of_a_new_engine() -> bytes:
    engine = build_engine(Settings())
    engine.score_batch(["s"], np.array([1.0]), np.array([_START]))
    return engine.row_bytes("s")


if __name__ == "__main__":
    main()
