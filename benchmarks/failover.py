"""Failover and restart: how long points wait when a worker is killed, and when it comes back.

    .venv/bin/python -m benchmarks.failover [--assets 40] [--session-timeout S] [--static]

Needs the local stack (`ems-ml stack up`). Two `ems-ml worker` processes share a fresh topic
(METRICS_PARTITIONS partitions) and consumer group; after both score, one is killed with SIGKILL
and a tick of points (one per asset, so on every partition) is produced at once:
- failover: from the kill until the survivor has stored every point of that tick;
- restart: the killed worker is started again (with its old group instance id under
  `--static`), a tick produced every half second: from its start until it scores a point itself.
Prints both with the command and the machine. Topics and the database are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx

from benchmarks.deployment import fresh, produce, remove, stored, worker_env
from benchmarks.machine import header
from stream.config import Settings


def tick(assets: int, at: datetime) -> list[tuple[bytes, bytes]]:
    return [
        (
            str(a).encode(),
            json.dumps(
                {"asset_id": a, "metric": "cpu_usage", "value": 50.0, "timestamp": at.isoformat()}
            ).encode(),
        )
        for a in range(1, assets + 1)
    ]


def wait_for(settings: Settings, count: int, timeout: float = 300) -> float:
    """Seconds until `anomaly_scores` holds `count` rows (raises SystemExit past `timeout`)."""
    started = time.monotonic()
    while stored(settings) < count:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"only {stored(settings)} of {count} scores after {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scored_by(port: int) -> float:
    """The points a worker has scored, from its Prometheus endpoint (0 while it cannot say)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    found = re.findall(r"^ems_ml_points_scored_total\{[^}]*\} ([0-9.e+]+)$", text, re.MULTILINE)
    return sum(float(v) for v in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=40)
    parser.add_argument(
        "--session-timeout", type=float, default=None, help="CONSUMER_SESSION_TIMEOUT_SECONDS"
    )
    parser.add_argument("--static", action="store_true", help="static group membership")
    args = parser.parse_args()

    base, settings = fresh("failover")
    session = args.session_timeout or settings.consumer_session_timeout_seconds
    env = worker_env(
        settings, CONSUMER_SESSION_TIMEOUT_SECONDS=str(session), BATCH_TIMEOUT_SECONDS="0.1"
    )
    logs = tempfile.mkdtemp(prefix="failover-")

    def start(name: str, **extra: str) -> subprocess.Popen:
        own = {**env, **extra}
        if args.static:
            own["CONSUMER_INSTANCE_ID"] = name
        with open(f"{logs}/{name}.log", "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "ems_ml.cli", "worker"], env=own, stdout=out, stderr=out
            )

    t0 = datetime.now(UTC) - timedelta(hours=1)
    workers = []
    try:
        workers = [start("a"), start("b")]
        asyncio.run(produce(settings, tick(args.assets, t0)))
        wait_for(settings, args.assets)
        time.sleep(2 * session)  # both members settled in the group
        asyncio.run(produce(settings, tick(args.assets, t0 + timedelta(minutes=1))))
        wait_for(settings, 2 * args.assets)

        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        killed_at = time.monotonic()
        asyncio.run(produce(settings, tick(args.assets, t0 + timedelta(minutes=2))))
        wait_for(settings, 3 * args.assets)
        failover = time.monotonic() - killed_at

        restarted_at = time.monotonic()
        port = free_port()
        workers[0] = start("a", WORKER_METRICS_PORT=str(port))
        minute = 3
        while scored_by(port) == 0:  # a tick every half second until the restarted one scores
            if time.monotonic() - restarted_at > 300:
                raise SystemExit("the restarted worker scored nothing in 300 s")
            asyncio.run(produce(settings, tick(args.assets, t0 + timedelta(minutes=minute))))
            minute += 1
            time.sleep(0.5)
        restart = time.monotonic() - restarted_at
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(timeout=60)
        remove(settings, base)
    print(header("benchmarks.failover"))
    membership = "static (CONSUMER_INSTANCE_ID)" if args.static else "dynamic"
    print(f"session timeout {session:g} s, {membership} membership, {args.assets} assets")
    print(f"failover: the survivor stored every point {failover:.1f} s after the SIGKILL")
    print(f"restart: the killed worker, started again, scored again after {restart:.1f} s")


if __name__ == "__main__":
    main()
