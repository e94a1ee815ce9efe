"""A metric history as columns: the stored points a training or a detection reads.

`POST /anomaly/train` reads up to two million points from EMS's `metrics` table, and
`/anomaly/detect` half a million. As Python rows (a tuple, a datetime and a float a point, and a
tuple more a point once grouped by series) they were millions of objects, made, walked by the
cycle collector and freed at once at the end of the request, each step holding the GIL while
the API's other requests waited (README, Benchmarks). Here a point is one entry of three arrays
(its series' code, its time, its value) and a series is named once.

A time is an integer count of microseconds since 1970 (UTC), as PostgreSQL stores it, so it
comes back as the same instant (`timestamp`); `epochs` gives the seconds the engine reads, each
equal to `datetime.timestamp()` of the same instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from stream.events import series_key

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class History:
    """Points in the order read, one entry each: `series` (a code: the point's series is
    `assets[code]`/`metrics[code]`), `micros` (its time, microseconds since 1970 UTC) and
    `values`."""

    series: np.ndarray  # int64
    micros: np.ndarray  # int64
    values: np.ndarray  # float64
    assets: list[int]
    metrics: list[str]

    def __len__(self) -> int:
        return len(self.values)

    @property
    def keys(self) -> list[str]:
        """Each series' key (`asset/metric`, as the engine and a model's states name it), by
        code."""
        return [series_key(a, m) for a, m in zip(self.assets, self.metrics, strict=True)]

    def epochs(self) -> np.ndarray:
        """Each point's time in seconds since 1970, as `datetime.timestamp()` gives it (a
        microsecond count below 2**53 divides exactly as Python's timedelta does)."""
        return self.micros / 1e6

    def per_point(self, names: list, order: np.ndarray | None = None) -> list:
        """`names[code]` for each point (in `order`, if given): a list of references to the
        series' own objects, made in one numpy step, no object a point."""
        codes = self.series if order is None else self.series[order]
        return np.array(names, dtype=object)[codes].tolist() if len(names) else []

    def timestamp(self, i: int) -> datetime:
        """The time of point `i`, as stored (UTC)."""
        return _EPOCH + timedelta(microseconds=int(self.micros[i]))

    def rows(self) -> list[tuple[int, str, datetime, float]]:
        """The points as (asset id, metric, time, value) rows, in order: for tests and small
        reads, not for a whole training's history."""
        return [
            (self.assets[c], self.metrics[c], self.timestamp(i), float(self.values[i]))
            for i, c in enumerate(self.series.tolist())
        ]

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[int, str, datetime, float]]) -> History:
        """The history of (asset id, metric, aware time, value) rows, in their order. Raises
        TypeError for a naive time."""
        builder = HistoryBuilder()
        builder.add((a, m, micros(ts), v) for a, m, ts, v in rows)
        return builder.build()


def micros(ts: datetime) -> int:
    """An aware time as a history counts it: microseconds since 1970 (UTC), exactly. Raises
    TypeError for a naive time."""
    return (ts - _EPOCH) // _MICROSECOND


@dataclass
class HistoryBuilder:
    """A `History` gathered a chunk of rows at a time (each chunk's Python objects can go as
    soon as it is added)."""

    _code: dict[tuple[int, str], int] = field(default_factory=dict)
    _series: list[np.ndarray] = field(default_factory=list)
    _micros: list[np.ndarray] = field(default_factory=list)
    _values: list[np.ndarray] = field(default_factory=list)

    def add(self, rows: Iterable[tuple[int, str, int, float]]) -> None:
        """Append (asset id, metric, microseconds since 1970 UTC, value) rows."""
        rows = list(rows)
        code = self._code
        n = len(rows)
        self._series.append(
            np.fromiter(
                (code.setdefault((a, m), len(code)) for a, m, _, _ in rows), np.int64, count=n
            )
        )
        self._micros.append(np.fromiter((t for _, _, t, _ in rows), np.int64, count=n))
        self._values.append(np.fromiter((v for _, _, _, v in rows), np.float64, count=n))

    def __len__(self) -> int:
        return sum(len(v) for v in self._values)

    def build(self) -> History:
        def joined(parts: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

        return History(
            series=joined(self._series, np.int64),
            micros=joined(self._micros, np.int64),
            values=joined(self._values, np.float64),
            assets=[a for a, _ in self._code],
            metrics=[m for _, m in self._code],
        )
