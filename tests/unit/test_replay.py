"""`ems-ml replay`: the worker's scores, offline, from a CSV."""

import csv
import io
import json
import subprocess
import sys

import pytest

from stream.config import Settings
from stream.demo_feed import synthetic_points
from stream.ensemble import MODEL_VERSION, build_engine
from stream.pipeline import RawMessage, process_batch
from stream.replay import _number_or_text, replay


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["asset_id", "metric", "timestamp", "value"])
        w.writerows(rows)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_replay_gives_the_scores_of_the_worker_pipeline(tmp_path):
    points = list(synthetic_points(assets=3, ticks=200, anomaly_probability=0.01, seed=8))
    # shuffled input: replay orders by time itself
    wire = [p.to_json() for p in points]
    rows = [(w["asset_id"], w["metric"], w["timestamp"], w["value"]) for w in wire][::-1]
    write_csv(tmp_path / "in.csv", rows)
    settings = Settings(_env_file=None)
    report = replay(
        tmp_path / "in.csv", tmp_path / "out.csv", build_engine(settings), progress=False
    )

    messages = [
        RawMessage("t", 0, i, None, json.dumps(p.to_json()).encode()) for i, p in enumerate(points)
    ]
    expected = process_batch(messages, build_engine(settings), model_version=MODEL_VERSION)
    want = {
        (s.point.asset_id, s.point.metric, s.point.timestamp.isoformat().replace("+00:00", "Z")): s
        for s in expected.scored
    }
    out = read_csv(tmp_path / "out.csv")
    assert report.scored == len(out) == len(points)
    for row in out:
        verdict = want[(int(row["asset_id"]), row["metric"], row["timestamp"])].verdict
        assert float(row["score"]) == verdict.score
        assert int(row["is_anomaly"]) == verdict.is_anomaly
        assert row["driver"] == verdict.driver
        assert all(float(row[d]) == s for d, s in verdict.detector_scores.items())
        for name in ("expected", "lower", "upper"):
            want_band = getattr(verdict, name)
            assert row[name] == ("" if want_band is None else repr(want_band))
        assert row["direction"] == (verdict.direction or "")
    assert report.anomalies == sum(int(r["is_anomaly"]) for r in out) > 0


def test_bad_rows_are_reported_with_their_line_and_the_rest_scored(tmp_path):
    write_csv(
        tmp_path / "in.csv",
        [
            (1, "cpu", "2026-01-01T00:00:00Z", "5"),
            (1, "cpu", "2026-01-01T00:01:00Z", "NaN"),
            ("x", "cpu", "2026-01-01T00:02:00Z", "5"),
            (1, "cpu", "1767225780000", "6"),  # epoch ms: 00:03
            (1, "cpu", "2026-01-01T00:03:00Z", "7"),  # same time again: out of order
        ],
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ems_ml.cli",
            "replay",
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "out.csv"),
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "scored 2 points" in result.stderr
    assert "line 3: value: value must be finite" in result.stderr
    assert "line 4: asset_id" in result.stderr
    assert "line 6: out of order" in result.stderr
    assert [r["value"] for r in read_csv(tmp_path / "out.csv")] == ["5.0", "6.0"]


def test_a_bad_row_is_reported_at_its_line_in_the_file_after_blank_lines(tmp_path):
    (tmp_path / "in.csv").write_text(
        "asset_id,metric,timestamp,value\n"
        "1,cpu,2026-01-01T00:00:00Z,5\n"
        "\n"
        "\n"
        "1,cpu,2026-01-01T00:01:00Z,oops\n"
        "1,cpu,2026-01-01T00:02:00Z,6\n"
    )
    report = replay(
        tmp_path / "in.csv",
        tmp_path / "out.csv",
        build_engine(Settings(_env_file=None)),
        progress=False,
    )
    assert report.scored == 2
    assert [line for line, _ in report.rejected] == [5]


def test_the_output_is_what_csv_writer_writes_of_its_cells(tmp_path):
    points = list(synthetic_points(assets=4, ticks=300, anomaly_probability=0.02, seed=3))
    wire = [p.to_json() for p in points]
    rows = [(w["asset_id"], w["metric"], w["timestamp"], w["value"]) for w in wire]
    rows += [(1, "cpu_usage", wire[0]["timestamp"], 1.0)]  # refused: out of order
    write_csv(tmp_path / "in.csv", rows)
    report = replay(
        tmp_path / "in.csv",
        tmp_path / "out.csv",
        build_engine(Settings(_env_file=None)),
        progress=False,
    )
    written = (tmp_path / "out.csv").read_bytes()
    with open(tmp_path / "out.csv", newline="") as f:
        cells = list(csv.reader(f))
    again = io.StringIO(newline="")
    csv.writer(again).writerows(cells)
    assert written == again.getvalue().encode()
    assert len(cells) == 1 + report.scored == 1 + len(points)
    assert any(row[cells[0].index("expected")] == "" for row in cells[1:])  # young series
    assert report.anomalies == sum(row[cells[0].index("is_anomaly")] == "1" for row in cells[1:])


@pytest.mark.parametrize(
    "cell",
    [
        "5",
        " 5 ",
        "+5",
        "-5",
        "007",
        "1_000",
        "5.5",
        "1e3",
        "1E-3",
        "-0.0",
        "nan",
        "inf",
        "0x10",
        "٣",
        "2026-01-01",
        "2026-01-01T00:00:00Z",
        "10:30",
        "1.2.3",
        "",
        "  ",
        "abc",
        None,
    ],
)
def test_a_cell_reads_as_int_then_float_then_text(cell):
    def reference(raw):
        if raw is None:
            return None
        for kind in (int, float):
            try:
                return kind(raw.strip())
            except ValueError:
                pass
        return raw.strip()

    got, want = _number_or_text(cell), reference(cell)
    assert type(got) is type(want) and (got == want or got != got and want != want)
