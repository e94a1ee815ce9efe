"""Root-cause hints on synthetic incidents whose cause is known: top-1 and top-3 accuracy.

    python -m benchmarks.root_cause [--scenarios 40]
    python -m benchmarks.root_cause --timing [--lists 60]

Each scenario: 4 assets x 2 metrics at one point a minute, a day and a half of normal behaviour (a
daily shape, Gaussian noise) scored by the worker's own scorer; then one series, the cause, shifts
(by 6 noise deviations, or a ramp to 8 over 20 minutes) and 2 or 3 others follow what it does 3 to
15 minutes later (up to 5 deviations), on its asset or others; every other series has, with
probability 0.4, one unrelated spike of 8 deviations within half an hour of the cause. The incident
looked at is the one the last follower's first anomaly belongs to (grouped as `stream.incidents`
does), with its peak metric, and the candidates are those the API gives `stream.root_cause.rank`:
the asset's own metrics and every series of another asset with an anomaly in the window. Beside it,
the baseline an operator has without hints: the candidates ordered by their first anomaly.
Scenarios are split by index (even / odd); nothing in `stream.root_cause` was tuned on either.

`--timing`: the ranking's time a list instead, on lists of the size a dense feed gives the
worker (`TIMING_CANDIDATES` series of a window's points at one a minute, some of them moving
before the incident): the worker's three hints (`rank(..., limit=3)`, what an EMS event names)
beside every hint worded (what `GET /api/v1/incidents/{id}` returns), in the same run,
alternating; prints the median and the 90th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from benchmarks.machine import header
from stream import root_cause
from stream.config import Settings
from stream.ensemble import build_scorer
from stream.events import MetricPoint
from stream.replay import score_points
from stream.root_cause import SeriesScores

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ASSETS = (11, 12, 13, 14)
METRICS = ("cpu_usage", "latency_ms")
MINUTES = 36 * 60
CAUSE_AT = MINUTES - 90  # the cause, 90 minutes before the end


def scenario(index: int) -> tuple[dict, dict[tuple[int, str], list[float]], tuple[int, str]]:
    """(what was injected, each series' values, the series whose incident is looked at)."""
    rng = random.Random(index)
    series = [(a, m) for a in ASSETS for m in METRICS]
    values = {}
    for a, m in series:
        phase = rng.random()
        values[(a, m)] = [
            50 + 10 * math.sin(2 * math.pi * (i / 1440 + phase)) + rng.gauss(0, 1)
            for i in range(MINUTES)
        ]
    cause = rng.choice(series)
    followers = rng.sample([s for s in series if s != cause], rng.choice((2, 3)))
    lags = {s: rng.randint(3, 15) for s in followers}
    ramp = rng.random() < 0.5

    def deviation(step: int) -> float:
        if step < 0:
            return 0.0
        return min(8.0, 8.0 * step / 20) if ramp else 6.0

    for i in range(CAUSE_AT, MINUTES):
        step = i - CAUSE_AT
        values[cause][i] += deviation(step)
        for s, lag in lags.items():  # an effect follows what the cause does, 5/8 of it
            values[s][i] += 5.0 / 8.0 * deviation(step - lag) * (8.0 / 6.0 if not ramp else 1.0)
    spikes = {}
    for s in series:
        if s != cause and s not in lags and rng.random() < 0.4:
            at = CAUSE_AT + rng.randint(-30, 30)
            values[s][at] += 8.0
            spikes[s] = at
    last = max(lags, key=lags.get)
    return {"cause": cause, "lags": lags, "spikes": spikes, "ramp": ramp}, values, last


def score(values: dict[tuple[int, str], list[float]]) -> dict[tuple[int, str], tuple]:
    """Each series' timestamps, scores and anomaly flags, from the worker's scorer."""
    scorer = build_scorer(Settings(_env_file=None))
    points = [
        MetricPoint(asset_id=a, metric=m, timestamp=T0 + timedelta(minutes=i), value=v)
        for i in range(MINUTES)
        for (a, m), vs in values.items()
        for v in (vs[i],)
    ]
    out: dict[tuple[int, str], tuple[list, list, list]] = {k: ([], [], []) for k in values}
    for point, verdict in score_points(points, scorer):
        ts, scores, flags = out[(point.asset_id, point.metric)]
        ts.append(point.timestamp)
        scores.append(verdict.score)
        flags.append(verdict.is_anomaly)
    return out


def incident_of(asset: int, follower: tuple[int, str], scored) -> tuple[datetime, str] | None:
    """The start and peak metric of the incident the follower's first anomaly after the cause is
    part of, as `stream.incidents` groups them: the asset's anomalies back from it while no gap
    between them exceeds the quiet period (15 minutes); the peak metric is the one with the
    highest score from the start to the follower's first anomaly."""
    cause_at = T0 + timedelta(minutes=CAUSE_AT)
    ts, _, flags = scored[follower]
    first = next((t for t, f in zip(ts, flags, strict=True) if f and t >= cause_at), None)
    if first is None:
        return None
    alarms = sorted(
        t
        for m in METRICS
        for t, f in zip(scored[(asset, m)][0], scored[(asset, m)][2], strict=True)
        if f and t <= first
    )
    started = first
    for t in reversed(alarms):
        if (started - t) > timedelta(minutes=15):
            break
        started = t

    def peak(m):
        ts, scores, _ = scored[(asset, m)]
        return max(s for t, s in zip(ts, scores, strict=True) if started <= t <= first)

    return started, max(METRICS, key=peak)


def evaluate(indices: Sequence[int]) -> dict[str, float]:
    hits = {"hints top-1": 0, "hints top-3": 0, "first anomaly top-1": 0, "first anomaly top-3": 0}
    counted = 0
    for index in indices:
        truth, values, last = scenario(index)
        scored = score(values)
        found = incident_of(last[0], last, scored)
        if found is None:
            continue  # the follower's asset never alarmed: no incident to explain
        counted += 1
        started, peak_metric = found
        start, end = root_cause.window(started)
        series, firsts = [], {}
        for key, (ts, scores, flags) in scored.items():
            inside = [i for i, t in enumerate(ts) if start <= t <= end]
            alarmed = [ts[i] for i in inside if flags[i]]
            if key[0] != last[0] and not alarmed:
                continue
            series.append(
                SeriesScores.of(
                    key[0], key[1], [ts[i] for i in inside], [scores[i] for i in inside]
                )
            )
            if alarmed:
                firsts[key] = alarmed[0]
        hints = root_cause.rank(series, asset_id=last[0], metric=peak_metric, started_at=started)
        ranked = [(h.asset_id, h.metric) for h in hints]
        baseline = sorted(firsts, key=firsts.get)
        cause = truth["cause"]
        hits["hints top-1"] += ranked[:1] == [cause]
        hits["hints top-3"] += cause in ranked[:3]
        hits["first anomaly top-1"] += baseline[:1] == [cause]
        hits["first anomaly top-3"] += cause in baseline[:3]
    return {"incidents": counted, **{k: v / counted if counted else 0.0 for k, v in hits.items()}}


#: candidates of a timed list: what `benchmarks.e2e --series 2000 --points 100` gave a list
TIMING_CANDIDATES = 117


def timing_list(seed: int) -> tuple[list[SeriesScores], dict]:
    """A hint list's candidates (as `stream.hints` reads them) and the incident they explain:
    quiet series, a fifth of which move to anomalous scores 1 to 20 minutes before the start."""
    rng = np.random.default_rng(seed)
    started = T0 + timedelta(hours=12)
    start, end = root_cause.window(started)
    minutes = int((end - start).total_seconds() // 60) + 1
    epochs = np.array(
        [root_cause.epoch_us(start + timedelta(minutes=i)) for i in range(minutes)],
        dtype=np.int64,
    )
    series = []
    for k in range(TIMING_CANDIDATES):
        scores = rng.uniform(0.0, 0.5, minutes)
        if k == 0 or rng.random() < 0.2:  # the incident's own series, and the movers
            onset = (started - start).total_seconds() // 60 - (0 if k == 0 else rng.integers(1, 20))
            scores[int(onset) :] = rng.uniform(0.7, 0.99, minutes - int(onset))
        series.append(SeriesScores(1 + k // 5, METRICS[k % 2], epochs, scores))
    incident = {"asset_id": 1, "metric": METRICS[0], "started_at": started}
    return series, incident


def timing(lists: int) -> None:
    times: dict[int | None, list[float]] = {3: [], None: []}
    hints: dict[int | None, int] = {3: 0, None: 0}
    for n in range(lists):
        series, incident = timing_list(n)
        for limit in (3, None) if n % 2 == 0 else (None, 3):
            began = time.perf_counter()
            hints[limit] += len(root_cause.rank(series, limit=limit, **incident))
            times[limit].append((time.perf_counter() - began) * 1000)
    for limit, label in ((3, "three hints (the worker)"), (None, "every hint (the API)")):
        ms = sorted(times[limit])
        print(
            f"{label}: median {statistics.median(ms):.2f} ms, 90th percentile "
            f"{ms[int(0.9 * (len(ms) - 1))]:.2f} ms a list of {TIMING_CANDIDATES} candidates "
            f"({hints[limit] / lists:.1f} hints a list)"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", type=int, default=40)
    parser.add_argument("--timing", action="store_true", help="time the ranking instead")
    parser.add_argument("--lists", type=int, default=60, help="lists timed (--timing)")
    args = parser.parse_args(argv)
    print(header("benchmarks.root_cause"))
    if args.timing:
        timing(args.lists)
        return
    print("| half | incidents | hints top-1 | hints top-3 | first anomaly top-1 | top-3 |")
    print("|---|---|---|---|---|---|")
    for half in ("even", "odd"):
        r = evaluate(range(0 if half == "even" else 1, args.scenarios, 2))
        print(
            f"| {half} | {r['incidents']} | {r['hints top-1']:.0%} | {r['hints top-3']:.0%} | "
            f"{r['first anomaly top-1']:.0%} | {r['first anomaly top-3']:.0%} |"
        )


if __name__ == "__main__":
    main()
