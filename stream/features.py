"""Per-series state and the rolling-window features of each point.

The state of a series is small and JSON-serialisable, because it lives in a faust Table whose
changelog topic carries every update: a few counters, the last `window_size` values and each
detector's own state.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Features:
    """The features of one point, over the window that ends with it.

    >>> f = window_features(4.0, [1.0, 2.0, 3.0])
    >>> (f.value, f.mean, f.min, f.max, f.lag1)
    (4.0, 2.5, 1.0, 4.0, 3.0)
    >>> round(f.std, 4)
    1.118
    """

    value: float
    mean: float
    std: float
    min: float
    max: float
    lag1: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def window_features(value: float, previous: list[float]) -> Features:
    """Features of `value` with the points before it in its window (population std).

    `previous` holds the older points of the window, oldest first; for a series's first point it is
    empty and lag-1 is the value itself.
    """
    window = [*previous, value]
    n = len(window)
    mean = math.fsum(window) / n
    variance = math.fsum((x - mean) ** 2 for x in window) / n
    return Features(
        value=value,
        mean=mean,
        std=math.sqrt(variance),
        min=min(window),
        max=max(window),
        lag1=previous[-1] if previous else value,
    )


@dataclass(slots=True)
class SeriesState:
    """What the worker remembers about one (asset, metric) series between points.

    `partition`/`offset` name the last Kafka message applied to this state: a message at or before
    it is a replay after a restart and must not be applied twice.
    """

    count: int = 0
    window: list[float] = field(default_factory=list)
    last_ts_ms: int | None = None
    partition: int | None = None
    offset: int | None = None
    detectors: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> SeriesState:
        """A state built from a table value; a deep copy, so scoring a batch that is later
        abandoned never changes what the table holds."""
        return cls(**copy.deepcopy(data)) if data else cls()

    def already_applied(self, partition: int, offset: int) -> bool:
        """True when the message at (partition, offset) was already folded into this state."""
        return self.partition == partition and self.offset is not None and offset <= self.offset

    def push(self, value: float, window_size: int) -> None:
        """Append a value to the window, keeping the `window_size - 1` newest before the next."""
        self.window.append(value)
        del self.window[: max(0, len(self.window) - (window_size - 1))]
        self.count += 1
