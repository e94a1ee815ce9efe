"""`ems-ml replay INPUT.csv -o OUTPUT.csv`: score history offline with the worker's own code.

Input rows are `asset_id,metric,timestamp,value` (a header line names the columns; `timestamp`
is ISO 8601 or epoch milliseconds). Every row is validated by the same wire schema as a Kafka
message and scored by the same step (`pipeline.apply_point`) with the same scorer, so replaying a
stream gives the scores streaming it through Kafka gives. The file is read whole and scored in time
order (rows with equal timestamps keep their file order), one series or thousands at once.

Output: the input columns plus `score` in [0, 1], `is_anomaly` (0/1), `driver`, one column per
detector score, then `expected`, `lower`, `upper` and `direction` (`BAND_COLUMNS`). Rows that
cannot be scored are reported on stderr with their line numbers.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from stream.events import MetricPoint
from stream.features import SeriesState
from stream.pipeline import apply_point
from stream.scoring import PointScore, Scorer

INPUT_COLUMNS = ("asset_id", "metric", "timestamp", "value")
#: the expected value, the band and the direction, after the detectors' columns (empty while a
#: series is too young to say)
BAND_COLUMNS = ("expected", "lower", "upper", "direction")


@dataclass
class ReplayReport:
    scored: int = 0
    anomalies: int = 0
    #: (line number, reason) of every row that was not scored
    rejected: list[tuple[int, str]] = field(default_factory=list)


def _number_or_text(raw: str | None):
    """CSV cells are text; numbers become numbers so the wire schema judges them as JSON would."""
    if raw is None:
        return None
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_points(path: Path, report: ReplayReport) -> list[tuple[int, MetricPoint]]:
    """Valid rows with their line numbers, in time order; invalid rows go to the report."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in INPUT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        points: list[tuple[int, MetricPoint]] = []
        for line, row in enumerate(reader, start=2):
            try:
                point = MetricPoint.model_validate(
                    {
                        "asset_id": _number_or_text(row["asset_id"]),
                        "metric": (row["metric"] or "").strip(),
                        "timestamp": _number_or_text(row["timestamp"]),
                        "value": _number_or_text(row["value"]),
                    }
                )
            except ValidationError as e:
                reason = "; ".join(
                    f"{'.'.join(map(str, err['loc']))}: {err['msg'].removeprefix('Value error, ')}"
                    for err in e.errors()
                )
                report.rejected.append((line, reason))
                continue
            points.append((line, point))
    points.sort(key=lambda item: item[1].timestamp)  # stable: equal times keep file order
    return points


def score_points(
    points: Iterable[MetricPoint],
    scorer: Scorer,
    states: dict[str, SeriesState] | None = None,
) -> Iterator[tuple[MetricPoint, PointScore | str]]:
    """Score time-ordered points of any number of series with the worker's step, from `states`
    (fresh ones by default; updated in place); yields each point with its verdict, or the
    reason it was not scored."""
    states = {} if states is None else states
    for point in points:
        state = states.setdefault(point.series_key, SeriesState())
        yield point, apply_point(state, point, scorer)


def replay(
    input_path: Path, output_path: Path, scorer: Scorer, *, progress: bool = True
) -> ReplayReport:
    report = ReplayReport()
    points = read_points(input_path, report)
    detector_names = [d.name for d in scorer.detectors]
    lines = [line for line, _ in points]
    verdicts = score_points((point for _, point in points), scorer)
    with open(output_path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [*INPUT_COLUMNS, "score", "is_anomaly", "driver", *detector_names, *BAND_COLUMNS]
        )
        progress_bar = tqdm(
            verdicts, total=len(points), disable=not progress, unit="pt", file=sys.stderr
        )
        for line, (point, verdict) in zip(lines, progress_bar, strict=True):
            if isinstance(verdict, str):
                report.rejected.append((line, verdict))
                continue
            report.scored += 1
            report.anomalies += verdict.is_anomaly
            writer.writerow(
                [
                    point.asset_id,
                    point.metric,
                    point.timestamp.isoformat().replace("+00:00", "Z"),
                    repr(point.value),
                    repr(verdict.score),
                    int(verdict.is_anomaly),
                    verdict.driver,
                    *(verdict.detector_scores[name] for name in detector_names),
                    *(
                        "" if v is None else repr(v)
                        for v in (verdict.expected, verdict.lower, verdict.upper)
                    ),
                    verdict.direction or "",
                ]
            )
    report.rejected.sort()
    return report


def iter_report_lines(report: ReplayReport, output_path: Path, limit: int = 10) -> Iterator[str]:
    yield f"scored {report.scored} points, {report.anomalies} anomalies -> {output_path}"
    if report.rejected:
        yield f"{len(report.rejected)} rows not scored:"
        for line, reason in report.rejected[:limit]:
            yield f"  line {line}: {reason}"
        if len(report.rejected) > limit:
            yield f"  ... and {len(report.rejected) - limit} more"
