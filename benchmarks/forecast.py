"""Forecast accuracy: a rolling-origin backtest of the worker's forecaster beside two references.

    python -m benchmarks.forecast [--nab-dir ../shared/nab] [--synthetic 40] [--hw-origins 3]

Each series is learnt point by point with the worker's own code (`stream.seasonality` and
`stream.forecast`, as `Scorer.score_and_learn` runs them); from 40% of the series on, at
`--origins` evenly spaced origins, it forecasts 1 step, 1 hour, 6 hours and 1 day ahead (in
points at the series' median interval) and is compared with what came. Beside it, at the same
origins:

- *seasonal naive*: the value one day (`m` points) before the target, the baseline a forecast
  must beat to be worth reading;
- *Holt-Winters* (statsmodels `ExponentialSmoothing`, additive damped trend and additive daily
  season, fitted offline on the last 4 days of history at each origin): what a user would reach
  for. Fitting is slow, so it runs at the last `--hw-origins` origins of each series; its line
  compares both on exactly those.

Printed per corpus and horizon: the median over series of MASE (mean absolute error over the
in-sample mean absolute error of the one-day seasonal naive forecast), the share of series
where ours beats seasonal naive, and the share of actual values inside our 80% and 95%
intervals (pooled over every origin). Corpora: NAB's realTraffic and realAWSCloudwatch files
and the synthetic EMS corpus (`benchmarks.synthetic.corpus`, anomalies and all).
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.machine import header
from benchmarks.nab.corpus import DEFAULT_NAB_DIR, load_corpus
from benchmarks.synthetic.corpus import make_corpus
from stream import forecast, seasonality

HORIZONS = {"1 step": 0.0, "1 h": 3600.0, "6 h": 6 * 3600.0, "1 d": 86400.0}
NAB_CATEGORIES = ("realTraffic", "realAWSCloudwatch")
HW_HISTORY_DAYS = 4


@dataclass
class SeriesResult:
    name: str
    #: per horizon: absolute errors of ours, seasonal naive, and (at the Holt-Winters origins)
    #: ours, seasonal naive and Holt-Winters again
    ours: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    naive: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    hw_ours: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    hw: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    inside80: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    inside95: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    scale: float = 1.0


def horizon_steps(interval: float) -> dict[str, int]:
    return {name: max(1, round(seconds / interval)) for name, seconds in HORIZONS.items()}


def holt_winters(history: np.ndarray, m: int, steps: int) -> np.ndarray | None:
    """statsmodels' additive damped Holt-Winters, fitted on `history`; None where it fails or
    the history holds fewer than two seasons."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = "add" if len(history) >= 2 * m and m >= 2 else None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            model = ExponentialSmoothing(
                history,
                trend="add",
                damped_trend=True,
                seasonal=seasonal,
                seasonal_periods=m if seasonal else None,
                initialization_method="heuristic" if seasonal else "estimated",
            ).fit()
        return np.asarray(model.forecast(steps))
    except (ValueError, np.linalg.LinAlgError):
        return None


def backtest(
    name: str,
    timestamps: Sequence[datetime],
    values: Sequence[float],
    *,
    origins: int,
    hw_origins: int,
) -> SeriesResult | None:
    """The backtest of one series; None when it is too short for a day-ahead forecast."""
    y = np.asarray(values, dtype=float)
    interval = float(np.median(np.diff([t.timestamp() for t in timestamps])))
    m = max(1, round(86400.0 / interval))
    steps = horizon_steps(interval)
    longest = max(steps.values())
    first = int(0.4 * len(y))
    if len(y) - first <= longest or first <= m:
        return None
    at = set(np.linspace(first, len(y) - longest - 1, origins).astype(int).tolist())
    hw_at = set(sorted(at)[-hw_origins:]) if hw_origins else set()
    result = SeriesResult(name)
    # the in-sample error of the one-day seasonal naive forecast, up to the first origin
    result.scale = float(np.mean(np.abs(y[m:first] - y[: first - m]))) or 1.0
    season, state = seasonality.new_state(), forecast.new_state()
    for i, (ts, v) in enumerate(zip(timestamps, y, strict=True)):
        component = seasonality.seasonal_component(season, ts)
        forecast.learn(state, float(v), component, season)
        seasonality.learn(season, ts, float(v))
        if i not in at:
            continue
        ahead = forecast.predict(state, season, ts, interval, list(steps.values()))
        if not ahead:
            continue
        hw = (
            holt_winters(y[max(0, i + 1 - HW_HISTORY_DAYS * m) : i + 1], m, longest)
            if (i in hw_at)
            else None
        )
        for (label, h), point in zip(steps.items(), ahead, strict=True):
            actual = y[i + h]
            naive = y[i + h - m * -(-h // m)]
            ours = abs(point.value - actual)
            result.ours[label].append(ours)
            result.naive[label].append(abs(naive - actual))
            result.inside80[label].append(point.lower80 <= actual <= point.upper80)
            result.inside95[label].append(point.lower95 <= actual <= point.upper95)
            if hw is not None:
                result.hw_ours[label].append(ours)
                result.hw[label].append(abs(hw[h - 1] - actual))
    return result


def nab_series(nab_dir: Path):
    for f in load_corpus(nab_dir):
        if f.name.split("/")[0] in NAB_CATEGORIES:
            yield f.name, f.timestamps, f.values


def synthetic_series(count: int):
    for s in make_corpus(count):
        yield s.name, s.timestamps, s.values


def report(corpus: str, results: list[SeriesResult]) -> None:
    print(f"\n{corpus}: {len(results)} series")
    print(
        "| horizon | MASE ours | MASE seasonal naive | ours < naive | "
        "MASE ours / Holt-Winters (same origins) | ours < HW | 80% inside | 95% inside |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label in HORIZONS:
        rows = [r for r in results if r.ours[label]]
        ours = [np.mean(r.ours[label]) / r.scale for r in rows]
        naive = [np.mean(r.naive[label]) / r.scale for r in rows]
        beats = np.mean([a < b for a, b in zip(ours, naive, strict=True)])
        hw_rows = [r for r in rows if r.hw[label]]
        hw_ours = [np.mean(r.hw_ours[label]) / r.scale for r in hw_rows]
        hw = [np.mean(r.hw[label]) / r.scale for r in hw_rows]
        hw_beats = np.mean([a < b for a, b in zip(hw_ours, hw, strict=True)]) if hw else np.nan
        inside80 = np.mean([x for r in rows for x in r.inside80[label]])
        inside95 = np.mean([x for r in rows for x in r.inside95[label]])
        hw_text = f"{statistics.median(hw_ours):.3f} / {statistics.median(hw):.3f}" if hw else "n/a"
        print(
            f"| {label} | {statistics.median(ours):.3f} | {statistics.median(naive):.3f} | "
            f"{beats:.0%} | {hw_text} | {hw_beats:.0%} | {inside80:.1%} | {inside95:.1%} |"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nab-dir", type=Path, default=DEFAULT_NAB_DIR)
    parser.add_argument("--synthetic", type=int, default=40, help="synthetic series (0: none)")
    parser.add_argument("--origins", type=int, default=20, help="forecast origins per series")
    parser.add_argument(
        "--hw-origins", type=int, default=3, help="origins per series Holt-Winters is fitted at"
    )
    args = parser.parse_args(argv)
    print(header("benchmarks.forecast"))
    corpora = {"NAB realTraffic + realAWSCloudwatch": nab_series(args.nab_dir)}
    if args.synthetic:
        corpora["synthetic EMS corpus"] = synthetic_series(args.synthetic)
    for corpus, series in corpora.items():
        results = [
            r
            for name, ts, values in series
            if (r := backtest(name, ts, values, origins=args.origins, hw_origins=args.hw_origins))
        ]
        report(corpus, results)


if __name__ == "__main__":
    main()
