"""`ems-ml`: the one command line of the service.

ems-ml stack up|down|status   Kafka, PostgreSQL and the EMS Core stand-in on this machine
ems-ml worker                 the stream worker
ems-ml api                    the REST API
ems-ml produce --demo         a live synthetic EMS feed into the input topic
ems-ml run                    all of the above at once, until Ctrl-C
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stream.config import Settings, configure_logging
from stream.errors import EmsMlError

log = logging.getLogger("ems_ml.cli")


def _stack(args: argparse.Namespace, settings: Settings) -> int:
    from deploy import stack

    action = {"up": stack.up, "down": stack.down, "status": stack.status}[args.action]
    for line in action(settings):
        print(line, flush=True)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from stream.worker import run_worker

    run_worker(settings)
    return 0


def _api(args: argparse.Namespace, settings: Settings) -> int:
    from api.main import run_api

    run_api(settings)
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from stream.demo_feed import produce_demo
    from stream.topics import ensure_topics

    if not args.demo:
        print(
            "only --demo is available: producers publish JSON to the input topic", file=sys.stderr
        )
        return 2
    asyncio.run(ensure_topics(settings))
    sent = asyncio.run(
        produce_demo(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.metrics_topic,
            assets=args.assets,
            rate=args.rate,
            duration=args.duration,
            anomaly_probability=args.anomaly_probability,
            ems_dsn=settings.database_dsn if args.ems_metrics else None,
        )
    )
    print(f"published {sent} points to {settings.metrics_topic}")
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from stream.ensemble import build_engine
    from stream.replay import iter_report_lines, replay

    report = replay(args.input, args.output, build_engine(settings), progress=not args.quiet)
    for line in iter_report_lines(report, args.output):
        print(line, file=sys.stderr)
    return 0 if report.scored or not report.rejected else 1


def _plot(args: argparse.Namespace, settings: Settings) -> int:
    from ems_ml import plot

    try:
        if args.from_replay is not None:
            points = plot.from_replay(args.from_replay, args.asset, args.metric)
        else:
            points = plot.from_database(settings, args.asset, args.metric, args.hours)
    except plot.NothingToPlot as e:
        print(e, file=sys.stderr)
        return 1
    title = f"asset {args.asset}, {args.metric}: {len(points)} points"
    plot.draw(points, args.output, title=title, threshold=settings.anomaly_threshold)
    print(
        f"wrote {args.output} ({len(points)} points, {sum(p.is_anomaly for p in points)} anomalies)"
    )
    return 0


def _run_all(args: argparse.Namespace, settings: Settings) -> int:
    """Stack, worker, API and demo feed together; Ctrl-C stops what this command started."""
    from deploy import stack

    for line in stack.up(settings):
        print(line, flush=True)
    me = [sys.executable, "-m", "ems_ml.cli"]
    children = {
        "worker": subprocess.Popen([*me, "worker"]),
        "api": subprocess.Popen([*me, "api"]),
        "demo feed": subprocess.Popen(
            [*me, "produce", "--demo", "--ems-metrics", "--rate", str(args.rate)]
            + ["--assets", str(args.assets)]
        ),
    }
    print(
        f"\nrunning: the page http://127.0.0.1:{settings.port}/ui/, API "
        f"http://127.0.0.1:{settings.port}/docs, worker metrics "
        f"http://127.0.0.1:{settings.worker_metrics_port}/metrics, anomalies on "
        f"{settings.anomalies_topic}. Ctrl-C stops.\n",
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None and name != "demo feed":
                    print(f"{name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep_stack:
            for line in stack.down(settings):
                print(line, flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ems-ml", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="local Kafka, PostgreSQL and EMS Core stand-in")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=_stack)

    sub.add_parser("worker", help="run the stream worker").set_defaults(func=_worker)
    sub.add_parser("api", help="run the REST API").set_defaults(func=_api)

    def feed_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--assets", type=int, default=5, help="assets in the feed (default 5)")
        p.add_argument(
            "--rate",
            type=float,
            default=5.0,
            help="ticks (one point per asset and metric) a second",
        )

    p = sub.add_parser("produce", help="publish metrics to the input topic")
    p.add_argument("--demo", action="store_true", help="the synthetic EMS feed")
    feed_options(p)
    p.add_argument("--duration", type=float, default=None, help="seconds to run (default: forever)")
    p.add_argument(
        "--anomaly-probability", type=float, default=0.002, help="chance of a spike per point"
    )
    p.add_argument(
        "--ems-metrics",
        action="store_true",
        help="also record the points in EMS's metrics table, as EMS does (demo)",
    )
    p.set_defaults(func=_produce)

    p = sub.add_parser("replay", help="score a CSV of metrics offline, as the worker would")
    p.add_argument("input", type=Path, help="CSV with asset_id,metric,timestamp,value")
    p.add_argument("-o", "--output", type=Path, required=True, help="CSV to write the scores to")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_replay)

    p = sub.add_parser("plot", help="a PNG of one series: values, band, score, anomalies")
    p.add_argument("--asset", type=int, required=True, help="asset id")
    p.add_argument("--metric", required=True, help="metric name")
    p.add_argument("--hours", type=float, default=24, help="from the database: how far back")
    p.add_argument(
        "--from-replay",
        type=Path,
        default=None,
        help="read a replay output instead of the database",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    p.set_defaults(func=_plot)

    p = sub.add_parser("run", help="stack, worker, API and demo feed together, until Ctrl-C")
    feed_options(p)
    p.add_argument("--keep-stack", action="store_true", help="leave Kafka and PostgreSQL running")
    p.set_defaults(func=_run_all)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        return args.func(args, settings)
    except EmsMlError as e:
        log.error("%s", e)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
