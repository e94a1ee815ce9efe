"""The interface every detector implements, so the scorer can combine any set of them.

Detectors are pure: they take features and their own state (a JSON-serialisable dict they own inside
the series state) and return numbers. River's convention holds: a higher score is more anomalous,
and `learn_one` returns None.
"""

from __future__ import annotations

from typing import Protocol

from stream.features import Features


class Detector(Protocol):
    """A streaming anomaly detector for one series."""

    #: Short stable name; keys its state and its score in `detector_scores`.
    name: str

    def new_state(self) -> dict:
        """The state of a series that has seen nothing yet."""
        ...

    def score_one(self, state: dict, x: Features) -> float:
        """How anomalous `x` is given what was learnt so far, in [0, 1]."""
        ...

    def learn_one(self, state: dict, x: Features) -> None:
        """Fold `x` into `state` (in place)."""
        ...
