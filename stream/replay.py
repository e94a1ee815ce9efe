"""`ems-ml replay INPUT.csv -o OUTPUT.csv`: score history offline with the worker's own code.

Input rows are `asset_id,metric,timestamp,value` (a header line names the columns; `timestamp`
is ISO 8601 or epoch milliseconds). Every row is validated by the same wire schema as a Kafka
message and scored by the compiled engine (`stream.engine`), which gives the verdicts of the
worker's scorer to the bit (`tests/unit/engine`), so replaying a stream gives the scores
streaming it through Kafka gives. The file is read whole and scored in time order (rows with
equal timestamps keep their file order), one series or thousands at once, in chunks of `CHUNK`
points. A point not after its series' last one is refused, as the worker refuses it.

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
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ValidationError
from tqdm import tqdm

from stream.events import MetricPoint
from stream.features import SeriesState
from stream.pipeline import apply_point, out_of_order
from stream.scoring import PointScore, Scorer

if TYPE_CHECKING:
    from stream.engine.core import Engine

INPUT_COLUMNS = ("asset_id", "metric", "timestamp", "value")
#: the expected value, the band and the direction, after the detectors' columns (empty while a
#: series is too young to say)
BAND_COLUMNS = ("expected", "lower", "upper", "direction")
#: points scored by the engine in one call
CHUNK = 50_000


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


def _cell(number: float) -> str:
    return "" if number != number else repr(number)  # NaN: none


def replay(
    input_path: Path, output_path: Path, engine: Engine, *, progress: bool = True
) -> ReplayReport:
    # imported here: numba loads only in a process that replays (the API imports this module)
    from stream.engine import combine, rounding
    from stream.engine.core import DETECTORS, DIRECTIONS

    report = ReplayReport()
    points = read_points(input_path, report)
    with open(output_path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [*INPUT_COLUMNS, "score", "is_anomaly", "driver", *DETECTORS, *BAND_COLUMNS]
        )
        progress_bar = tqdm(total=len(points), disable=not progress, unit="pt", file=sys.stderr)
        # the points of a tick share their time, and most detectors' scores are 0 most of the
        # time: each time's text and epoch, and each driver's name, are made once
        stamps: dict = {}
        drivers: dict = {}
        for start in range(0, len(points), CHUNK):
            chunk = points[start : start + CHUNK]
            times = []
            for _, p in chunk:
                known = stamps.get(p.timestamp)
                if known is None:
                    known = stamps[p.timestamp] = (
                        p.timestamp.timestamp(),
                        p.timestamp.isoformat().replace("+00:00", "Z"),
                    )
                times.append(known)
            scored = engine.score_batch(
                [p.series_key for _, p in chunk],
                np.array([p.value for _, p in chunk]),
                np.array([epoch for epoch, _ in times]),
                [p.metric for _, p in chunk],
            )
            verdicts = scored.verdicts.tolist()
            # rounded as `PointScore.detector_scores` is, the chunk at once
            scores = rounding.round_like_python(scored.scores, 6).tolist()
            for i, (line, point) in enumerate(chunk):
                v = verdicts[i]
                if v[combine.REFUSED] == v[combine.REFUSED]:  # refused: not NaN
                    report.rejected.append((line, out_of_order(point, int(v[combine.REFUSED]))))
                    continue
                report.scored += 1
                report.anomalies += v[combine.IS_ANOMALY] > 0
                code = (v[combine.DRIVER], v[combine.FEATURE])
                driver = drivers.get(code)
                if driver is None:
                    driver = drivers[code] = scored.driver(i)
                writer.writerow(
                    [
                        point.asset_id,
                        point.metric,
                        times[i][1],
                        repr(point.value),
                        repr(v[combine.SCORE]),
                        int(v[combine.IS_ANOMALY]),
                        driver,
                        *scores[i],
                        _cell(v[combine.EXPECTED]),
                        _cell(v[combine.LOWER]),
                        _cell(v[combine.UPPER]),
                        DIRECTIONS.get(v[combine.DIRECTION], ""),
                    ]
                )
            progress_bar.update(len(chunk))
        progress_bar.close()
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
