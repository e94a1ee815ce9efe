"""`ems-ml plot`: a PNG of one series for reports and tickets: its values, the expected value and
band, the anomalies marked, and the score against the threshold below.

The points come from the database (`anomaly_scores`, as the worker stored them) or from a replay
output (`ems-ml replay ... -o scores.csv`); both give the same columns. Drawn with matplotlib's
Agg backend: no display needed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from stream.config import Settings

ANOMALY_COLOUR = "#dc2626"


@dataclass(frozen=True, slots=True)
class PlotPoint:
    timestamp: datetime
    value: float
    score: float
    is_anomaly: bool
    expected: float | None
    lower: float | None
    upper: float | None


class NothingToPlot(Exception):
    """The series has no scored point where it was looked for."""


def from_database(settings: Settings, asset_id: int, metric: str, hours: float) -> list[PlotPoint]:
    """The series' scores of the last `hours`, oldest first."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    with psycopg.connect(settings.database_dsn, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT ts, value, score, is_anomaly, expected, lower_bound, upper_bound "
            "FROM anomaly_scores WHERE asset_id = %s AND metric = %s AND ts >= %s ORDER BY ts",
            (asset_id, metric, since),
        ).fetchall()
    if not rows:
        raise NothingToPlot(f"no scores of asset {asset_id}, metric {metric} in the last {hours} h")
    return [PlotPoint(*row) for row in rows]


def from_replay(path: Path, asset_id: int, metric: str) -> list[PlotPoint]:
    """The series' rows of a replay output (`stream.replay`), in file (time) order."""

    def number(text: str) -> float | None:
        return float(text) if text else None

    points = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["asset_id"] != str(asset_id) or row["metric"] != metric:
                continue
            points.append(
                PlotPoint(
                    timestamp=datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")),
                    value=float(row["value"]),
                    score=float(row["score"]),
                    is_anomaly=row["is_anomaly"] == "1",
                    expected=number(row.get("expected", "")),
                    lower=number(row.get("lower", "")),
                    upper=number(row.get("upper", "")),
                )
            )
    if not points:
        raise NothingToPlot(f"no rows of asset {asset_id}, metric {metric} in {path}")
    return points


def draw(points: list[PlotPoint], output: Path, *, title: str, threshold: float) -> Path:
    """Write the PNG of `points` to `output`; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [p.timestamp for p in points]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(12, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    banded = [p for p in points if p.lower is not None and p.upper is not None]
    if banded:
        top.fill_between(
            [p.timestamp for p in banded],
            [p.lower for p in banded],
            [p.upper for p in banded],
            color="#bfdbfe",
            alpha=0.7,
            linewidth=0,
            label="band (scores under the threshold)",
        )
        top.plot(
            [p.timestamp for p in banded],
            [p.expected for p in banded],
            color="#6b7280",
            linestyle="--",
            linewidth=0.9,
            label="expected",
        )
    top.plot(times, [p.value for p in points], color="#1d4ed8", linewidth=1.1, label="value")
    anomalies = [p for p in points if p.is_anomaly]
    if anomalies:
        top.scatter(
            [p.timestamp for p in anomalies],
            [p.value for p in anomalies],
            color=ANOMALY_COLOUR,
            s=30,
            zorder=3,
            label=f"anomaly ({len(anomalies)})",
        )
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom.plot(times, [p.score for p in points], color="#7c3aed", linewidth=1)
    bottom.axhline(threshold, color=ANOMALY_COLOUR, linestyle=":", linewidth=1)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("score")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output
