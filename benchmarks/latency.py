"""Latency: from producing a point to its anomaly event on the anomalies topic, at a steady rate.

    .venv/bin/python -m benchmarks.latency [--rate 500] [--series 50] [--seconds 60] [--warmup 5]

Needs the local stack (`ems-ml stack up`). A real `ems-ml worker` on a fresh topic, group and
database; `--series` series get one point each per tick, ticks at `--rate` points a second, for
`--seconds`. After a warm-up of `--warmup` seconds (the worker's first batches create the month's
partition and meet every series for the first time: a start-up, not a steady rate), every tenth
tick one series (in turn) gets a spike of 30 noise deviations, so a series spikes rarely enough
not to learn its spikes as normal within the run. Each spike's latency is the time from its
send to the arrival of its anomaly event (matched by `event_id`) at a consumer of the anomalies
topic. Prints p50/p95/p99 and the share of spikes whose event arrived, with the command and the
machine. Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.deployment import fresh, remove, worker_env
from benchmarks.machine import header
from stream.config import Settings

#: a spike every this many ticks (each series in turn)
SPIKE_EVERY_TICKS = 10


async def run(
    settings: Settings, rate: float, series: int, seconds: float, warmup: float
) -> tuple[dict, dict]:
    """(event id -> send time) of every spike, (event id -> arrival time) of its events."""
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        settings.anomalies_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=5)
    await consumer.start()
    await producer.start()

    async def listen() -> None:
        async for record in consumer:
            body = json.loads(record.value)
            if body.get("type") == "anomaly":
                arrived.setdefault(body["event_id"], time.monotonic())

    listener = asyncio.create_task(listen())
    rng = random.Random(1)
    start = datetime.now(UTC) - timedelta(seconds=seconds)
    ticks = int(seconds * rate / series)
    first_spike = int(warmup * rate / series)
    began = time.monotonic()
    try:
        for tick in range(ticks):
            ts = start + timedelta(seconds=tick * seconds / ticks)
            millis = int(ts.timestamp() * 1000)
            spiked = None
            if tick >= first_spike and tick % SPIKE_EVERY_TICKS == 0:
                spiked = (tick // SPIKE_EVERY_TICKS) % series
            for s in range(series):
                value = 50.0 + rng.gauss(0, 1) + (30.0 if s == spiked else 0.0)
                body = {
                    "asset_id": s + 1,
                    "metric": "cpu_usage",
                    "value": value,
                    "timestamp": millis,
                }
                await producer.send(
                    settings.metrics_topic, key=str(s + 1).encode(), value=json.dumps(body).encode()
                )
                if s == spiked:
                    sent[f"{s + 1}:cpu_usage:{millis}"] = time.monotonic()
            await producer.flush()
            delay = began + (tick + 1) * series / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not sent.keys() <= arrived.keys():
            await asyncio.sleep(0.2)
    finally:
        listener.cancel()
        await producer.stop()
        await consumer.stop()
    return sent, arrived


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500, help="points a second")
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds of the feed before the first spike"
    )
    args = parser.parse_args()

    base, settings = fresh("latency")
    env = worker_env(settings, LOG_LEVEL="WARNING")
    with tempfile.TemporaryFile() as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "ems_ml.cli", "worker"], env=env, stdout=log, stderr=log
        )
        try:
            time.sleep(10)  # the worker joins its group before the clock starts
            sent, arrived = asyncio.run(
                run(settings, args.rate, args.series, args.seconds, args.warmup)
            )
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            remove(settings, base)
    latencies = np.array([arrived[k] - t for k, t in sent.items() if k in arrived]) * 1000
    print(header("benchmarks.latency"))
    print(
        f"rate {args.rate:g} points/s, {args.series} series, {args.seconds:g} s (spikes after "
        f"{args.warmup:g} s), BATCH_TIMEOUT_SECONDS {settings.batch_timeout_seconds:g}"
    )
    print(f"spikes with their event: {len(latencies)} of {len(sent)}")
    if len(latencies):
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
        print(f"produce to anomaly event: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
