"""Generates labelled EMS-like streams: the development corpus beside NAB.

Each series is one (asset, metric) of a kind an EMS collects, at one of four sampling intervals
(10 s, 1 min, 5 min, 1 h), with the shapes real infrastructure metrics have (a business-hours
daily shape, a quieter weekend, slow wander) and benign noise with heavy tails (Student-t, and for
some kinds rare benign blips), as gauges (CPU %, memory %, latency, loss) or rates read off
counters (integer counts a step). Into each, after a clean first quarter (the series' warm-up,
never labelled and never counted), labelled episodes of eight kinds are injected:

| kind | what happens |
|---|---|
| spike / dip | one to three points far above / below the usual (6-12 noise deviations) |
| level_shift | the level moves by 4-7 deviations and stays (its first 40 points labelled) |
| variance_burst | the noise grows 4-6 times for 20-80 points |
| flatline | the value sticks at its last reading for 30-150 points (a stuck sensor) |
| drift | a ramp that adds up to 8 deviations over 100-400 points, then stays |
| outage | the value drops to 0 (or the floor of its range) for 10-60 points |
| seasonal_break | one day without its daily shape (the business-hours rise missing) |

Every series is fully determined by (`seed`, its index), so the corpus is the same on every
machine. `split` halves it by index (even: tuning, odd: check).

`make_long_corpus` is the same generator at another base rate: one series per metric at one
minute for weeks, each with the same four episodes. In the main corpus an episode comes every
2,500 points or so; in a real EMS anomalies are far rarer, and there the false alarms of long
normal stretches, not the episodes missed, decide an operator's precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

INTERVALS = {"10s": 10, "1min": 60, "5min": 300, "1h": 3600}
#: points per series at each interval: at least a week, except 10 s (about a day and a half)
POINTS = {"10s": 12_000, "1min": 10_080, "5min": 8_064, "1h": 4_000}
KINDS = (
    "spike",
    "dip",
    "level_shift",
    "variance_burst",
    "flatline",
    "drift",
    "outage",
    "seasonal_break",
)
#: share of each series before its first episode: the detector's warm-up, never scored
CLEAN_SHARE = 0.25
T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


@dataclass(frozen=True)
class Episode:
    """A labelled anomaly: points `start` to `end` (inclusive) of its series."""

    kind: str
    start: int
    end: int


@dataclass
class Series:
    name: str
    metric: str
    interval: str
    timestamps: list[datetime]
    values: list[float]
    episodes: list[Episode] = field(default_factory=list)
    #: points before this index are the warm-up: neither labelled nor counted
    scored_from: int = 0


@dataclass(frozen=True)
class Metric:
    """A metric's normal behaviour: base level, daily amplitude (share of the base), noise
    deviation, noise tails (Student-t degrees of freedom), bounds, and whether it is a count."""

    name: str
    base: float
    daily: float
    noise: float
    tails: float
    low: float = 0.0
    high: float | None = None
    count: bool = False
    resolution: float = 0.0
    blips: float = 0.0  # rate of benign one-point blips (heavy-tailed noise of another kind)


METRICS = (
    Metric("cpu_usage", 35.0, 0.6, 2.5, 5, high=100.0, resolution=0.1),
    Metric("memory_usage", 62.0, 0.08, 0.6, 8, high=100.0, resolution=0.1),
    Metric("latency_ms", 40.0, 0.3, 3.0, 3, resolution=0.1, blips=0.002),
    Metric("bandwidth_in_mbps", 300.0, 0.8, 18.0, 6, resolution=0.01),
    Metric("requests_per_interval", 400.0, 0.7, 0.0, 0, count=True),
    Metric("packet_loss_pct", 0.3, 0.2, 0.08, 3, high=100.0, resolution=0.01, blips=0.004),
    Metric("disk_io_ops", 1200.0, 0.5, 90.0, 4, resolution=1.0),
    Metric("temperature_c", 45.0, 0.1, 0.4, 30, resolution=0.1),
)


def _daily_shape(hours: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """0 at night, 1 in business hours, smooth in between; weekends at a third."""
    rise = 1 / (1 + np.exp(-(hours - 8.5) * 1.5))
    fall = 1 / (1 + np.exp((hours - 18.5) * 1.2))
    return rise * fall * np.where(weekday >= 5, 0.35, 1.0)


def _episode_mask_free(taken: np.ndarray, start: int, end: int, gap: int) -> bool:
    return not taken[max(0, start - gap) : end + gap + 1].any()


def make_series(
    index: int, seed: int = 2026, *, interval: str | None = None, points: int | None = None
) -> Series:
    """Series number `index` of the corpus; `interval` and `points` override the index's."""
    rng = np.random.default_rng([seed, index] if points is None else [seed, index, points])
    metric = METRICS[index % len(METRICS)]
    if interval is None:
        interval = tuple(INTERVALS)[(index // len(METRICS) + index) % len(INTERVALS)]
    step = INTERVALS[interval]
    n = POINTS[interval] if points is None else points
    t = np.arange(n) * step
    stamps = [T0 + timedelta(seconds=int(s)) for s in t]
    hours = (t % 86_400) / 3600.0
    weekday = (t // 86_400) % 7
    shape = _daily_shape(hours, weekday)
    wander = np.cumsum(rng.normal(0, 1, n))
    wander = (wander - np.linspace(wander[0], wander[-1], n)) * metric.base * 0.002
    level = metric.base * (1 + metric.daily * (shape - 0.4)) + wander

    def noise(size: int, scale: float) -> np.ndarray:
        if metric.count:
            return np.zeros(size)
        draw = rng.standard_t(metric.tails, size) / np.sqrt(metric.tails / (metric.tails - 2))
        return draw * scale

    sigma = metric.noise if not metric.count else float(np.sqrt(metric.base))
    episodes: list[Episode] = []
    taken = np.zeros(n, dtype=bool)
    first = int(n * CLEAN_SHARE)
    # what the series would be without anomalies, and the anomalies as changes to it
    values = level.copy()
    extra_noise_scale = np.ones(n)
    stuck: list[tuple[int, int]] = []
    outages: list[tuple[int, int]] = []
    kinds = [str(k) for k in rng.choice(KINDS, size=4, replace=False)]
    if metric.daily < 0.2 or step >= 3600 or step <= 10:
        kinds = [k if k != "seasonal_break" else "spike" for k in kinds]
    for kind in kinds:
        for _ in range(50):
            length = {
                "spike": int(rng.integers(1, 3)),
                "dip": int(rng.integers(1, 3)),
                "level_shift": int(rng.integers(150, 600)),
                "variance_burst": int(rng.integers(20, 80)),
                "flatline": int(rng.integers(30, 150)),
                "drift": int(rng.integers(100, 400)),
                "outage": int(rng.integers(10, 60)),
                "seasonal_break": 86_400 // step,
            }[kind]
            start = int(rng.integers(first, n - length - 20))
            if kind == "seasonal_break":
                start = (start // (86_400 // step)) * (86_400 // step)
                if weekday[start] >= 5 or start < first:
                    continue
            end = min(n - 1, start + length - 1)
            if _episode_mask_free(taken, start, end, gap=300):
                break
        else:
            continue
        taken[start : end + 1] = True
        magnitude = float(rng.uniform(6, 12)) * sigma
        if kind == "spike":
            values[start : end + 1] += magnitude
        elif kind == "dip":
            values[start : end + 1] -= min(magnitude, max(level[start] - metric.low, 0) * 0.9)
        elif kind == "level_shift":
            values[start:] += float(rng.uniform(4, 7)) * sigma * rng.choice((-1, 1))
            end = start + min(length, 40) - 1  # the onset is the anomaly; what follows is normal
        elif kind == "variance_burst":
            extra_noise_scale[start : end + 1] = float(rng.uniform(4, 6))
        elif kind == "flatline":
            stuck.append((start, end))
        elif kind == "drift":
            ramp = np.minimum(np.arange(n - start) / length, 1.0)
            values[start:] += ramp * float(rng.uniform(6, 9)) * sigma * rng.choice((-1, 1))
        elif kind == "outage":
            outages.append((start, end))
        elif kind == "seasonal_break":
            values[start : end + 1] -= metric.base * metric.daily * shape[start : end + 1]
        episodes.append(Episode(kind, start, end))
    if metric.count:
        values = rng.poisson(np.maximum(values, 0) * extra_noise_scale**0).astype(float)
        burst = extra_noise_scale > 1
        values[burst] += rng.normal(0, 1, burst.sum()) * sigma * extra_noise_scale[burst]
        values = np.round(np.maximum(values, 0))
    else:
        values = values + noise(n, sigma) * extra_noise_scale
        if metric.blips:
            hit = rng.random(n) < metric.blips
            hit &= ~taken
            values[hit] += np.abs(rng.standard_t(2, hit.sum())) * sigma * 3
    for start, end in stuck:
        values[start : end + 1] = values[start - 1]
    for start, end in outages:
        values[start : end + 1] = metric.low
    high = metric.high if metric.high is not None else np.inf
    values = np.clip(values, metric.low, high)
    if metric.resolution:
        values = np.round(values / metric.resolution) * metric.resolution
    return Series(
        name=f"{index:02d}_{metric.name}_{interval}",
        metric=metric.name,
        interval=interval,
        timestamps=stamps,
        values=[float(v) for v in values],
        episodes=sorted(episodes, key=lambda e: e.start),
        scored_from=first,
    )


def make_corpus(n_series: int = 32, seed: int = 2026) -> list[Series]:
    return [make_series(i, seed) for i in range(n_series)]


def make_long_corpus(
    days: int = 60, n_series: int = len(METRICS), seed: int = 2026
) -> list[Series]:
    """`n_series` series at one minute for `days` days (the metrics in turn), four episodes each."""
    return [make_series(i, seed, interval="1min", points=days * 1440) for i in range(n_series)]


def split(corpus: list[Series], half: str) -> list[Series]:
    """`all`, or every other series: `even` (tuning) or `odd` (check)."""
    if half == "all":
        return corpus
    return corpus[0 if half == "even" else 1 :: 2]
