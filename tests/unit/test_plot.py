"""`ems-ml plot` from a replay output: the PNG shows the series and marks its anomalies."""

import csv
import math
from datetime import UTC, datetime, timedelta

import numpy as np
from matplotlib.image import imread

from ems_ml import plot
from ems_ml.cli import main

START = datetime(2026, 3, 2, tzinfo=UTC)


def replayed(tmp_path, spike: bool):
    """A replay output of one noisy daily series, with one spike or none."""
    rows = tmp_path / "in.csv"
    with open(rows, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["asset_id", "metric", "timestamp", "value"])
        for i in range(1500):
            value = 50 + 10 * math.sin(i / 60) + ((i * 7919) % 11) / 11
            if spike and i == 1200:
                value = 140.0
            w.writerow([3, "cpu_usage", (START + timedelta(minutes=i)).isoformat(), value])
    out = tmp_path / "scores.csv"
    assert main(["replay", str(rows), "-o", str(out), "-q"]) == 0
    return out


def red_pixels(png) -> int:
    image = imread(png)[..., :3]
    red = np.array([0xDC, 0x26, 0x26]) / 255
    return int((np.abs(image - red).max(axis=2) < 0.08).sum())


def test_a_plot_from_a_replay_marks_the_anomaly(tmp_path):
    scores = replayed(tmp_path, spike=True)
    points = plot.from_replay(scores, 3, "cpu_usage")
    assert len(points) == 1500 and any(p.is_anomaly for p in points)
    assert any(p.upper is not None for p in points)  # the replay output carries the band
    png = tmp_path / "plot.png"
    assert main(["plot", "--asset", "3", "--metric", "cpu_usage", "--from-replay", str(scores),
                 "-o", str(png)]) == 0  # fmt: skip
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    quiet = tmp_path / "quiet.png"
    plot.draw([p for p in points if not p.is_anomaly], quiet, title="no anomaly", threshold=0.7)
    # the anomaly markers are the red on the image (the threshold line is dotted and thin)
    assert red_pixels(png) > red_pixels(quiet) + 40


def test_a_series_that_is_not_there_is_a_clear_error(tmp_path, capsys):
    scores = replayed(tmp_path, spike=False)
    code = main(["plot", "--asset", "9", "--metric", "cpu_usage", "--from-replay", str(scores),
                 "-o", str(tmp_path / "x.png")])  # fmt: skip
    assert code == 1
    assert "no rows of asset 9, metric cpu_usage" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
