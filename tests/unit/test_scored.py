"""A batch's verdicts as columns: what the score writer reads, and the PointScores given back."""

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from stream.events import MetricPoint
from stream.scored import ScoredPoint, ScoredPoints, Verdicts
from stream.scoring import PointScore


def verdict(score, *, anomaly=False, expected=None, detectors=None, direction=None):
    return PointScore(
        score=score,
        is_anomaly=anomaly,
        detector_scores=detectors if detectors is not None else {"zscore": score},
        features=None,
        model_version="m1",
        driver="zscore:value",
        expected=expected,
        direction=direction,
    )


def point(i):
    return MetricPoint(1, "cpu_usage", float(i), datetime(2026, 1, 1, 0, i, tzinfo=UTC))


def test_verdicts_of_point_scores_hold_none_as_nan_and_give_the_same_ones_back():
    given = [
        verdict(0.2, expected=10.0, detectors={"zscore": 0.2, "mad": 0.1}),
        verdict(0.9, anomaly=True, detectors={"hst": 0.95}, direction="above"),
    ]
    columns = Verdicts.of(given)
    assert columns.detector_names == ("zscore", "mad", "hst")
    assert np.array_equal(
        columns.detectors, [[0.2, 0.1, math.nan], [math.nan, math.nan, 0.95]], equal_nan=True
    )
    assert np.array_equal(columns.expected, [10.0, math.nan], equal_nan=True)
    assert columns.is_anomaly.tolist() == [False, True]
    assert columns.alarming().tolist() == [1]
    assert list(columns) == given and columns[1] is given[1]


def columns_like(columns, **changed):
    """A `Verdicts` of `columns`' arrays, but for those `changed`."""
    fields = (
        "score is_anomaly ongoing detector_names detectors expected lower upper drivers "
        "directions model_versions"
    ).split()
    return Verdicts(**{f: changed.get(f, getattr(columns, f)) for f in fields})


def test_a_verdict_built_from_columns_names_only_the_detectors_that_scored():
    columns = Verdicts.of([verdict(0.5, detectors={"zscore": 0.5, "mad": 0.4})])
    built = columns_like(columns, detectors=np.array([[0.5, math.nan]]))
    assert built[0].detector_scores == {"zscore": 0.5}
    assert built[0].expected is None and built[0].score == 0.5


def test_columns_of_different_lengths_are_refused():
    columns = Verdicts.of([verdict(0.5)])
    with pytest.raises(ValueError, match="one entry a point"):
        columns_like(columns, score=np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="2 points with 1 verdicts"):
        ScoredPoints([point(0), point(1)], columns)


def test_scored_points_index_slice_and_pick_the_anomalies():
    given = [ScoredPoint(point(i), verdict(0.1 * i, anomaly=i == 3)) for i in range(5)]
    batch = ScoredPoints.of(given)
    assert ScoredPoints.of(batch) is batch
    assert batch[2] == given[2] and batch[-1] == given[-1]
    assert batch[1:3] == given[1:3]
    assert batch.anomalies() == [given[3]]
    assert len(ScoredPoints.empty()) == 0
