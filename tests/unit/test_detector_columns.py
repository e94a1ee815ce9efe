"""The stored layout of detector scores (`anomaly_scores.detector_values`) covers the service."""

from __future__ import annotations

from stream.config import Settings
from stream.engine.core import DETECTORS
from stream.ensemble import build_scorer
from stream.sinks.postgres import DETECTOR_COLUMNS


def test_every_detector_of_the_service_has_a_stored_position():
    assert {d.name for d in build_scorer(Settings()).detectors} <= set(DETECTOR_COLUMNS)
    assert set(DETECTORS) <= set(DETECTOR_COLUMNS)
    # append only: a stored row's positions mean these names for as long as the table lives
    assert DETECTOR_COLUMNS[:9] == (
        *("zscore", "mad", "iqr", "shift", "volatility"),
        *("flatline", "hst", "pattern", "record"),
    )
