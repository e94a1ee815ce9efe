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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ValidationError
from tqdm import tqdm

from stream.events import MetricPoint, plain_fields
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
    # int() refuses any text with a "." and float() any with a ":" (every ISO time): those are
    # not tried, as a refusal's exception costs more than the rest of a cell's reading
    if "." not in text and ":" not in text:
        try:
            return int(text)
        except ValueError:
            pass
    if ":" not in text:
        try:
            return float(text)
        except ValueError:
            pass
    return text


@dataclass
class ReplayInput:
    """The valid rows of a replay's input, in time order (equal times in file order): one list
    entry a row, with the fields `MetricPoint` gives them."""

    lines: list[int] = field(default_factory=list)
    asset_ids: list[int] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    timestamps: list[datetime] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def point(self, i: int) -> MetricPoint:
        """Row `i` as a `MetricPoint`."""
        return MetricPoint(
            asset_id=self.asset_ids[i],
            metric=self.metrics[i],
            value=self.values[i],
            timestamp=self.timestamps[i],
        )


def read_points(path: Path, report: ReplayReport) -> ReplayInput:
    """Valid rows with their line numbers, in time order; invalid rows go to the report. Each
    row is judged by the wire schema, without a pydantic object for a plainly valid one
    (`plain_fields`)."""
    rows = ReplayInput()
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        missing = [c for c in INPUT_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        # a column named twice: its last one counts, as it did when csv.DictReader read the rows
        at = [len(header) - 1 - header[::-1].index(c) for c in INPUT_COLUMNS]
        for cells in reader:
            if not cells:  # a blank line
                continue
            line = reader.line_num
            asset_id, metric, timestamp, value = (cells[i] if i < len(cells) else None for i in at)
            raw = {
                "asset_id": _number_or_text(asset_id),
                "metric": (metric or "").strip(),
                "timestamp": _number_or_text(timestamp),
                "value": _number_or_text(value),
            }
            fields = plain_fields(raw["asset_id"], raw["metric"], raw["value"], raw["timestamp"])
            if fields is None:
                try:
                    point = MetricPoint.parse(raw)
                except ValidationError as e:
                    reason = "; ".join(
                        f"{'.'.join(map(str, err['loc']))}: "
                        f"{err['msg'].removeprefix('Value error, ')}"
                        for err in e.errors()
                    )
                    report.rejected.append((line, reason))
                    continue
                fields = (point.asset_id, point.metric, point.value, point.timestamp)
            rows.lines.append(line)
            rows.asset_ids.append(fields[0])
            rows.metrics.append(fields[1])
            rows.values.append(fields[2])
            rows.timestamps.append(fields[3])
    order = sorted(range(len(rows)), key=rows.timestamps.__getitem__)  # stable
    return ReplayInput(**{name: [column[i] for i in order] for name, column in vars(rows).items()})


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
    from stream.engine.core import DETECTORS, DIRECTIONS, driver_name

    report = ReplayReport()
    rows = read_points(input_path, report)
    with open(output_path, "w", newline="") as out:
        header = [*INPUT_COLUMNS, "score", "is_anomaly", "driver", *DETECTORS, *BAND_COLUMNS]
        # each row as csv.writer writes it (its cells need no quoting: the wire schema's metric
        # names, ISO times, numbers and the drivers' names), at a fraction of its cost
        out.write(",".join(header) + _EOL)
        progress_bar = tqdm(total=len(rows), disable=not progress, unit="pt", file=sys.stderr)
        # the points of a tick share their time, and most detectors' scores are 0 most of the
        # time: each time's text and epoch, and each driver's name, are made once
        stamps: dict = {}
        drivers: dict = {}
        for start in range(0, len(rows), CHUNK):
            end = min(start + CHUNK, len(rows))
            times = []
            for ts in rows.timestamps[start:end]:
                known = stamps.get(ts)
                if known is None:
                    known = stamps[ts] = (ts.timestamp(), ts.isoformat().replace("+00:00", "Z"))
                times.append(known)
            assets, metrics = rows.asset_ids[start:end], rows.metrics[start:end]
            values = rows.values[start:end]
            scored = engine.score_batch(
                [f"{a}/{m}" for a, m in zip(assets, metrics, strict=True)],
                np.array(values),
                np.array([epoch for epoch, _ in times]),
                metrics,
            )
            verdicts = scored.verdicts
            refused = verdicts[:, combine.REFUSED]
            for i in np.flatnonzero(refused == refused).tolist():  # refused: not NaN
                why = out_of_order(rows.point(start + i), int(refused[i]))
                report.rejected.append((rows.lines[start + i], why))
            kept = np.flatnonzero(refused != refused)
            if len(kept) < end - start:
                verdicts, keep = verdicts[kept], kept.tolist()
                scores, assets = scored.scores[kept], [assets[i] for i in keep]
                metrics, values = [metrics[i] for i in keep], [values[i] for i in keep]
                times = [times[i] for i in keep]
            else:
                scores = scored.scores
            anomalous = (verdicts[:, combine.IS_ANOMALY] > 0).tolist()
            report.scored += len(anomalous)
            report.anomalies += sum(anomalous)
            # the rows column by column, each cell's text as csv.writer makes it
            columns = [
                map(str, assets),
                metrics,
                [text for _, text in times],
                map(repr, values),
                map(repr, verdicts[:, combine.SCORE].tolist()),
                ["1" if a else "0" for a in anomalous],
                [
                    drivers.get(code) or drivers.setdefault(code, driver_name(*code))
                    for code in zip(
                        verdicts[:, combine.DRIVER].tolist(),
                        verdicts[:, combine.FEATURE].tolist(),
                        strict=True,
                    )
                ],
                # rounded as `PointScore.detector_scores` is, the chunk at once
                *(map(repr, c) for c in rounding.round_like_python(scores, 6).T.tolist()),
                *(
                    map(_cell, verdicts[:, c].tolist())
                    for c in (combine.EXPECTED, combine.LOWER, combine.UPPER)
                ),
                [DIRECTIONS.get(d, "") for d in verdicts[:, combine.DIRECTION].tolist()],
            ]
            lines = [",".join(cells) + _EOL for cells in zip(*columns, strict=True)]
            out.write("".join(lines))
            progress_bar.update(end - start)
        progress_bar.close()
    report.rejected.sort()
    return report


#: the line ending csv.writer writes
_EOL = "\r\n"


def iter_report_lines(report: ReplayReport, output_path: Path, limit: int = 10) -> Iterator[str]:
    yield f"scored {report.scored} points, {report.anomalies} anomalies -> {output_path}"
    if report.rejected:
        yield f"{len(report.rejected)} rows not scored:"
        for line, reason in report.rejected[:limit]:
            yield f"  line {line}: {reason}"
        if len(report.rejected) > limit:
            yield f"  ... and {len(report.rejected) - limit} more"
