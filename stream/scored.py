"""What a batch scored, as columns: its verdicts (`Verdicts`) and its points with them
(`ScoredPoints`).

The compiled engine scores a batch into arrays (`stream.engine`). The consumers that read every
point (the score writer, the counters, the security patterns' roles) read the columns; a
`PointScore`, with its detector scores by name, is built only for the points read by index (the
anomalies: their events, incidents and patterns). One `PointScore` and one `ScoredPoint` a point
took more of the worker's time than scoring the batch (README, Benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from stream.events import MetricPoint
from stream.scoring import PointScore

_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class ScoredPoint:
    point: MetricPoint
    verdict: PointScore


class Verdicts(Sequence[PointScore]):
    """The verdicts of a batch's points, one entry a point, as arrays: NaN where a
    `PointScore` field is None (or a detector gave no score). Indexing builds the
    `PointScore` (once an entry); `of` holds `PointScore`s built elsewhere, and gives them back."""

    __slots__ = (
        "score",
        "is_anomaly",
        "ongoing",
        "detector_names",
        "detectors",
        "expected",
        "lower",
        "upper",
        "drivers",
        "directions",
        "model_versions",
        "_built",
    )

    def __init__(
        self,
        *,
        score: np.ndarray,
        is_anomaly: np.ndarray,
        ongoing: np.ndarray,
        detector_names: tuple[str, ...],
        detectors: np.ndarray,
        expected: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        drivers: list[str],
        directions: list[str | None],
        model_versions: list[str],
        built: list[PointScore | None] | None = None,
    ) -> None:
        """Arrays of one entry a point (`detectors`: a row a point, a column for each of
        `detector_names`); raises ValueError where they differ in length."""
        n = len(score)
        lengths = {
            len(x)
            for x in (
                is_anomaly,
                ongoing,
                detectors,
                expected,
                lower,
                upper,
                drivers,
                directions,
                model_versions,
            )
        }
        if lengths - {n} or detectors.shape != (n, len(detector_names)):
            raise ValueError("every column of the verdicts must have one entry a point")
        self.score = score
        self.is_anomaly = is_anomaly
        self.ongoing = ongoing
        self.detector_names = detector_names
        self.detectors = detectors
        self.expected = expected
        self.lower = lower
        self.upper = upper
        self.drivers = drivers
        self.directions = directions
        self.model_versions = model_versions
        self._built = built if built is not None else [None] * n

    @classmethod
    def of(cls, verdicts: Sequence[PointScore]) -> Verdicts:
        """`verdicts` (of the Python scorer, or a test's) as columns; the detectors are those
        any verdict names, in the order they first appear."""
        names = tuple(dict.fromkeys(k for v in verdicts for k in v.detector_scores))
        detectors = np.full((len(verdicts), len(names)), _NAN)
        for row, v in zip(detectors, verdicts, strict=True):
            for j, name in enumerate(names):
                x = v.detector_scores.get(name)
                if x is not None:
                    row[j] = x

        def column(field: str) -> np.ndarray:
            return np.array(
                [_NAN if getattr(v, field) is None else getattr(v, field) for v in verdicts],
                dtype=np.float64,
            )

        return cls(
            score=column("score"),
            is_anomaly=np.array([v.is_anomaly for v in verdicts], dtype=bool),
            ongoing=np.array([v.ongoing for v in verdicts], dtype=bool),
            detector_names=names,
            detectors=detectors,
            expected=column("expected"),
            lower=column("lower"),
            upper=column("upper"),
            drivers=[v.driver for v in verdicts],
            directions=[v.direction for v in verdicts],
            model_versions=[v.model_version for v in verdicts],
            built=list(verdicts),
        )

    def __len__(self) -> int:
        return len(self.score)

    @overload
    def __getitem__(self, i: int) -> PointScore: ...
    @overload
    def __getitem__(self, i: slice) -> list[PointScore]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        built = self._built[i]
        if built is None:
            built = self._built[i] = self._build(i)
        return built

    def __iter__(self) -> Iterator[PointScore]:
        return (self[i] for i in range(len(self)))

    def _build(self, i: int) -> PointScore:
        scores = self.detectors[i].tolist()
        return PointScore(
            score=float(self.score[i]),
            is_anomaly=bool(self.is_anomaly[i]),
            detector_scores={
                n: x for n, x in zip(self.detector_names, scores, strict=True) if x == x
            },
            features=None,
            model_version=self.model_versions[i],
            driver=self.drivers[i],
            expected=_or_none(self.expected[i]),
            lower=_or_none(self.lower[i]),
            upper=_or_none(self.upper[i]),
            direction=self.directions[i],
            ongoing=bool(self.ongoing[i]),
        )

    def alarming(self) -> np.ndarray:
        """The indices of the anomalies and of the points that carry one on (`ongoing`)."""
        return np.flatnonzero(self.is_anomaly | self.ongoing)


class ScoredPoints(Sequence[ScoredPoint]):
    """A batch's scored points and their verdicts, one entry a point; indexing builds the
    `ScoredPoint` (and its `PointScore`, `Verdicts`) of that entry only."""

    __slots__ = ("points", "verdicts")

    def __init__(self, points: list[MetricPoint], verdicts: Verdicts) -> None:
        """Raises ValueError unless there is one verdict a point."""
        if len(points) != len(verdicts):
            raise ValueError(f"{len(points)} points with {len(verdicts)} verdicts")
        self.points = points
        self.verdicts = verdicts

    @classmethod
    def of(cls, scored: Sequence[ScoredPoint]) -> ScoredPoints:
        """`scored` as columns; `scored` itself when it already is."""
        if isinstance(scored, ScoredPoints):
            return scored
        return cls([s.point for s in scored], Verdicts.of([s.verdict for s in scored]))

    @classmethod
    def empty(cls) -> ScoredPoints:
        return cls.of([])

    def __len__(self) -> int:
        return len(self.points)

    @overload
    def __getitem__(self, i: int) -> ScoredPoint: ...
    @overload
    def __getitem__(self, i: slice) -> list[ScoredPoint]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return ScoredPoint(self.points[i], self.verdicts[i])

    def __iter__(self) -> Iterator[ScoredPoint]:
        return (self[i] for i in range(len(self)))

    def anomalies(self) -> list[ScoredPoint]:
        """The entries whose verdict is an anomaly, in order."""
        return [self[i] for i in np.flatnonzero(self.verdicts.is_anomaly).tolist()]


def _or_none(number: float) -> float | None:
    return None if number != number else float(number)
