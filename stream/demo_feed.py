"""A synthetic EMS feed: several assets x four metrics with a daily shape, noise and rare spikes.

`ems-ml produce --demo` publishes it live to the input topic; tests use `synthetic_points` to build
reproducible streams. The shape follows simulated time: each tick advances `step_seconds` (default
one minute), so a day passes in 1,440 ticks whatever the publishing rate. The live feed stamps each
tick with the wall clock, so a feed never runs ahead of real time and a second run of it continues
the series instead of colliding with the first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)

# metric -> (base level, daily amplitude, noise std, floor, ceiling)
DEMO_METRICS: dict[str, tuple[float, float, float, float, float]] = {
    "cpu_usage": (35.0, 20.0, 2.0, 0.0, 100.0),
    "memory_usage": (60.0, 8.0, 1.0, 0.0, 100.0),
    "latency_ms": (20.0, 6.0, 1.5, 0.1, 10_000.0),
    "bandwidth_in_mbps": (250.0, 150.0, 10.0, 0.0, 10_000.0),
}


#: ticks over which the demo's filling disk goes from 40% to 98% before it is cleaned up (three
#: days at one tick a minute; at the live feed's default 5 ticks a second, a quarter of an hour)
FILL_CYCLE_TICKS = 3 * 1440


@dataclass(frozen=True)
class DemoPoint:
    asset_id: int
    metric: str
    value: float
    timestamp: datetime
    injected: bool

    def to_json(self) -> dict:
        return {
            "asset_id": self.asset_id,
            "metric": self.metric,
            "value": round(self.value, 4),
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
        }


def synthetic_points(
    *,
    assets: int = 5,
    ticks: int = 1440,
    start: datetime | None = None,
    step_seconds: int = 60,
    anomaly_probability: float = 0.002,
    seed: int = 7,
    first_asset_id: int = 1,
    filling_disk: bool = False,
) -> Iterator[DemoPoint]:
    """Points in time order, tick by tick; `injected` marks the spikes put in on purpose.
    `filling_disk`: the first asset also reports a `disk_usage` that fills from 40% to 98% over
    `FILL_CYCLE_TICKS` ticks and is then cleaned up, again and again: once the feed has run for
    a day of event time (a capacity line speaks after a day), the page shows its limit and
    crossing and predictions open and resolve (README, Forecasts)."""
    rng = random.Random(seed)
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    for tick in range(ticks):
        ts = start + timedelta(seconds=tick * step_seconds)
        # business-hours shape: peak around 14:00, trough around 02:00
        day_phase = (ts.hour * 3600 + ts.minute * 60 + ts.second) / 86400.0
        daily = math.sin(2 * math.pi * (day_phase - 0.33))
        for asset_id in range(first_asset_id, first_asset_id + assets):
            for metric, (base, amplitude, noise, low, high) in DEMO_METRICS.items():
                value = base + amplitude * daily + rng.gauss(0.0, noise)
                injected = rng.random() < anomaly_probability
                if injected:
                    # a spike of 12 to 20 noise deviations, up or (where room) down
                    value += rng.choice((1, 1, -1)) * rng.uniform(12, 20) * noise
                yield DemoPoint(asset_id, metric, min(max(value, low), high), ts, injected)
        if filling_disk:
            fill = (tick % FILL_CYCLE_TICKS) / FILL_CYCLE_TICKS
            value = 40.0 + 58.0 * fill + rng.gauss(0.0, 0.3)
            yield DemoPoint(first_asset_id, "disk_usage", value, ts, False)


async def produce_demo(
    *,
    bootstrap_servers: str,
    topic: str,
    assets: int,
    rate: float,
    duration: float | None,
    anomaly_probability: float,
    ems_dsn: str | None = None,
) -> int:
    """Publish the feed at `rate` ticks per second for `duration` seconds (None: until stopped).

    `ems_dsn`: also record every point in EMS's own `metrics` table there (and the demo assets
    in `assets`), as EMS does with what it collects, so that the API's questions about an
    asset's metrics have answers in the demo too.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=20)
    await producer.start()
    ems = None
    sent = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    start = datetime.now(UTC)
    last_ms = 0
    ticks = None if duration is None else max(1, int(duration * rate))
    points = synthetic_points(
        assets=assets,
        ticks=ticks if ticks is not None else 10**9,
        start=start,
        anomaly_probability=anomaly_probability,
        seed=random.randrange(1 << 30),
        filling_disk=True,
    )
    per_tick = assets * len(DEMO_METRICS) + 1  # and the filling disk
    tick_points: list[tuple[int, str, datetime, float]] = []
    try:
        if ems_dsn is not None:
            ems = await _EmsRecorder.connect(ems_dsn, assets)
        for i, point in enumerate(points):
            if i % per_tick == 0:
                # wall-clock stamp, strictly increasing even at more than 1,000 ticks a second
                last_ms = max(int(datetime.now(UTC).timestamp() * 1000), last_ms + 1)
            body = {**point.to_json(), "timestamp": last_ms}
            await producer.send(
                topic, key=str(point.asset_id).encode(), value=json.dumps(body).encode()
            )
            sent += 1
            stamp = datetime.fromtimestamp(last_ms / 1000, UTC)
            tick_points.append((point.asset_id, point.metric, stamp, round(point.value, 4)))
            if point.injected:
                log.info(
                    "injected spike: asset %d %s = %.2f", point.asset_id, point.metric, point.value
                )
            if (i + 1) % per_tick == 0:
                if ems is not None:
                    await ems.record(tick_points)
                tick_points = []
                tick = (i + 1) // per_tick
                delay = started + tick / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if tick % max(1, int(rate * 10)) == 0:
                    log.info("published %d points (%d ticks)", sent, tick)
        await producer.flush()
    finally:
        await producer.stop()
        if ems is not None:
            await ems.close()
    return sent


class _EmsRecorder:
    """Writes the demo's points into EMS's `metrics` table, one statement a tick."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, dsn: str, assets: int) -> _EmsRecorder:
        from stream.sinks.postgres import ensure_schema  # the sinks import the scorer: not at load

        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        await ensure_schema(conn)
        await conn.execute(
            "INSERT INTO assets (id, name, asset_type) "
            "SELECT i, 'demo-' || i, 'server' FROM generate_series(1, %s) AS i "
            "ON CONFLICT (id) DO NOTHING",
            (assets,),
        )
        return cls(conn)

    async def record(self, points: list[tuple[int, str, datetime, float]]) -> None:
        if points:
            await self._conn.execute(
                'INSERT INTO metrics (asset_id, metric_name, "timestamp", value) '
                "SELECT * FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[], %b::float8[])",
                [list(column) for column in zip(*points, strict=True)],
            )

    async def close(self) -> None:
        await self._conn.close()
