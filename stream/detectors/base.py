"""The interface every detector implements, so the scorer can combine any set of them.

Detectors are pure: they take features and their own state (a JSON-serialisable dict they own inside
the series state) and return numbers. River's convention holds: a higher score is more anomalous,
and `learn_one` returns None.

Each detector declares its *role*, what kind of evidence it gives, and the combiner
(`stream.scoring`) weighs roles, never names:

| role | evidence | combined within the role by |
|---|---|---|
| `point` | this value against the recent past (spikes, dips) | the median of the views |
| `level` | the recent level or spread (shifts, variance bursts) | the highest |
| `shape` | how the series moves (stuck values) | the highest |
| `novelty` | never-seen shapes, each too noisy alone | the lowest: all must agree |
| `long_memory` | beyond everything the series did in weeks | added, never taken away |
"""

from __future__ import annotations

from typing import Literal, Protocol

from stream.features import Features

Role = Literal["point", "level", "shape", "novelty", "long_memory"]
ROLES: tuple[Role, ...] = ("point", "level", "shape", "novelty", "long_memory")


class Detector(Protocol):
    """A streaming anomaly detector for one series."""

    #: Short stable name; keys its state and its score in `detector_scores`.
    name: str
    #: What kind of evidence its score is (see the module docstring).
    role: Role

    def new_state(self) -> dict:
        """The state of a series that has seen nothing yet."""
        ...

    def score_one(self, state: dict, x: Features) -> float:
        """How anomalous `x` is given what was learnt so far, in [0, 1]."""
        ...

    def learn_one(self, state: dict, x: Features) -> None:
        """Fold `x` into `state` (in place)."""
        ...


class LongMemoryDetector(Detector, Protocol):
    """A `long_memory` detector also states its score as evidence the combiner can add."""

    def l_value(self, state: dict, score: float) -> float:
        """`score` as -log10 of the probability of seeing it by chance (given `state`)."""
        ...
