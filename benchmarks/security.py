"""Security patterns on synthetic network traffic: precision and recall per pattern, and false
alarms per asset-day on normal traffic.

    python -m benchmarks.security [--assets 12] [--days 4] [--seeds 1 2]

A fleet of assets, each with bandwidth_in_mbps, bandwidth_out_mbps and connections at one point
a minute, business-hours daily shapes (quiet nights) and noise, scored tick by tick with the
worker's own code (`score_points`, then `stream.security.SecurityWatch` on each tick's points as
on a batch). After two normal days, injected: 3 scans (connections x4 to x6 for 10 minutes,
bandwidth untouched), 3 exfiltrations (egress up by 12 noise deviations for an hour between 01:00
and 04:00), 2 DDoS (ingress x3 on 8 of 12 assets for 15 minutes), and benign look-alikes that
are no threat: 3 flash crowds (connections x4 with bandwidth x2.5), 3 daytime bulk uploads
(egress up by 12 deviations for an hour in business hours), 3 single-asset big downloads
(ingress x3 for 15 minutes); a detection on one of those is a false alarm. Beside the patterns, the
baseline without them: any upward anomaly of the role's metric (connections for scans, egress
for exfiltration, ingress for DDoS). An injection is found if a detection of its pattern on its
asset comes from its start to 15 minutes after its end; detections are grouped into episodes
(per asset and pattern, gaps up to 15 minutes), and an episode that overlaps no injection of its
pattern and asset is a false alarm. False alarms per asset-day count the second day on (the first
is the detectors' warm-up). Nothing was tuned on this generator: the constants of
`stream.security` were set before its first run.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from benchmarks.machine import header
from stream.config import Settings
from stream.ensemble import build_scorer
from stream.events import MetricPoint
from stream.features import SeriesState
from stream.pipeline import ScoredPoint, apply_point
from stream.security import SecurityWatch, parse_security_metrics

T0 = datetime(2026, 8, 3, tzinfo=UTC)  # a Monday
METRICS = {"bandwidth_in_mbps": (200.0, 120.0, 8.0), "bandwidth_out_mbps": (60.0, 40.0, 3.0),
           "connections": (300.0, 200.0, 12.0)}  # fmt: skip
GAP = timedelta(minutes=15)


def business_hours(minute_of_day: int) -> float:
    """0 at night, 1 in the afternoon: the shape of an office's traffic."""
    hours = minute_of_day / 60
    return max(0.0, math.sin(math.pi * (hours - 7) / 12)) if 7 <= hours <= 19 else 0.0


def fleet(assets: int, days: int, seed: int):
    """Each series' values, and the injections: (pattern, assets, start minute, end minute)."""
    rng = random.Random(seed)
    n = days * 1440
    values = {}
    for a in range(1, assets + 1):
        for metric, (base, amplitude, noise) in METRICS.items():
            values[(a, metric)] = [
                base + amplitude * business_hours(i % 1440) + rng.gauss(0, noise) for i in range(n)
            ]
    injections = []
    day = lambda d, lo, hi: d * 1440 + rng.randint(lo, hi)  # noqa: E731
    for k in range(3):
        a, start = rng.randint(1, assets), day(2 + k % (days - 2), 9 * 60, 16 * 60)
        for i in range(start, start + 10):
            values[(a, "connections")][i] *= rng.uniform(4, 6)
        injections.append(("scan", {a}, start, start + 9))
    for k in range(3):
        a, start = rng.randint(1, assets), day(2 + k % (days - 2), 60, 3 * 60)
        for i in range(start, start + 60):
            values[(a, "bandwidth_out_mbps")][i] += 12 * METRICS["bandwidth_out_mbps"][2]
        injections.append(("exfiltration", {a}, start, start + 59))
    # benign look-alikes, which a pattern must not take for a threat: a flash crowd (connections
    # and bandwidth up together), a daytime bulk upload, one asset's big download
    for k in range(3):
        a, start = rng.randint(1, assets), day(2 + k % (days - 2), 9 * 60, 16 * 60)
        for i in range(start, start + 10):
            values[(a, "connections")][i] *= 4
            values[(a, "bandwidth_in_mbps")][i] *= 2.5
            values[(a, "bandwidth_out_mbps")][i] *= 2.5
        injections.append(("benign", {a}, start, start + 9))
        a, start = rng.randint(1, assets), day(2 + k % (days - 2), 11 * 60, 15 * 60)
        for i in range(start, start + 60):
            values[(a, "bandwidth_out_mbps")][i] += 12 * METRICS["bandwidth_out_mbps"][2]
        injections.append(("benign", {a}, start, start + 59))
        a, start = rng.randint(1, assets), day(2 + k % (days - 2), 9 * 60, 16 * 60)
        for i in range(start, start + 15):
            values[(a, "bandwidth_in_mbps")][i] *= 3
        injections.append(("benign", {a}, start, start + 14))
    for k in range(2):
        hit = set(rng.sample(range(1, assets + 1), max(3, round(assets * 8 / 12))))
        start = day(2 + k % (days - 2), 10 * 60, 15 * 60)
        for a in hit:
            for i in range(start, start + 15):
                values[(a, "bandwidth_in_mbps")][i] *= 3
        injections.append(("ddos", hit, start, start + 14))
    return values, injections, n


def detect(values, n: int):
    """Per tick: the patterns' detections and the baseline's, as (pattern, asset, minute)."""
    scorer = build_scorer(Settings(_env_file=None))
    watch = SecurityWatch(parse_security_metrics(Settings(_env_file=None).security_metrics))
    states = {key: SeriesState() for key in values}
    roles = {"connections": "scan", "bandwidth_out_mbps": "exfiltration",
             "bandwidth_in_mbps": "ddos"}  # fmt: skip
    found, baseline = [], []
    for i in range(n):
        ts = T0 + timedelta(minutes=i)
        scored, seasons = [], {}
        for (a, metric), vs in values.items():
            point = MetricPoint(asset_id=a, metric=metric, timestamp=ts, value=vs[i])
            verdict = apply_point(states[(a, metric)], point, scorer)
            scored.append(ScoredPoint(point, verdict))
            seasons[point.series_key] = states[(a, metric)].season
            if verdict.is_anomaly and verdict.direction == "above":
                baseline.append((roles[metric], a, i))
        found += [(r.pattern, r.asset_id, i) for r in watch.assess(scored, seasons.get)]
    return found, baseline


def episodes(detections) -> list[tuple[str, int, int, int]]:
    """(pattern, asset, first minute, last minute) of each run of detections."""
    by_key = defaultdict(list)
    for pattern, asset, minute in sorted(detections):
        by_key[(pattern, asset)].append(minute)
    out = []
    for (pattern, asset), minutes in by_key.items():
        first = last = minutes[0]
        for m in minutes[1:]:
            if m - last > GAP.total_seconds() / 60:
                out.append((pattern, asset, first, last))
                first = m
            last = m
        out.append((pattern, asset, first, last))
    return out


def evaluate(detections, injections, assets: int, days: int) -> dict[str, tuple]:
    runs = [e for e in episodes(detections) if e[2] >= 1440]  # after the warm-up day
    out = {}
    for pattern in ("scan", "exfiltration", "ddos"):
        mine = [i for i in injections if i[0] == pattern]
        targets = [(a, s, e) for _, hit, s, e in mine for a in hit]
        grace = GAP.total_seconds() / 60
        found = sum(
            any(r[0] == pattern and r[1] == a and s <= r[3] and r[2] <= e + grace for r in runs)
            for a, s, e in targets
        )
        own = [r for r in runs if r[0] == pattern]
        true = [
            r
            for r in own
            if any(r[1] == a and r[2] <= e + grace and s <= r[3] for a, s, e in targets)
        ]
        false_per_asset_day = (len(own) - len(true)) / (assets * (days - 1))
        precision = len(true) / len(own) if own else float("nan")
        out[pattern] = (found / len(targets), precision, false_per_asset_day, len(targets))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=12)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    print(header("benchmarks.security"))
    print("| seed | pattern | injected (asset-episodes) | recall | precision | false alarms / "
          "asset-day | baseline recall | precision | false alarms / asset-day |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        values, injections, n = fleet(args.assets, args.days, seed)
        found, baseline = detect(values, n)
        ours = evaluate(found, injections, args.assets, args.days)
        base = evaluate(baseline, injections, args.assets, args.days)
        for pattern, (recall, precision, fa, count) in ours.items():
            b_recall, b_precision, b_fa, _ = base[pattern]
            print(
                f"| {seed} | {pattern} | {count} | {recall:.0%} | {precision:.0%} | {fa:.3f} | "
                f"{b_recall:.0%} | {b_precision:.0%} | {b_fa:.3f} |"
            )


if __name__ == "__main__":
    main()
