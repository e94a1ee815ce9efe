"""The false-alarm benchmark's rate by the series' age."""

from benchmarks.false_alarms import rate_by_age


def test_alarms_are_counted_in_the_age_bucket_they_fall_in_over_the_points_that_reach_it():
    young_alarms = [0.9, 0.0, 0.8, 0.0] + [0.0] * 6  # 2 alarms in the first 4 points
    short = [0.0] * 6  # reaches the second bucket with 2 points of its 6
    rates = rate_by_age([young_alarms, short], 0.7, ages=(0, 4, 10, 20))
    assert rates == [(0, 4, 10_000 * 2 / 8), (4, 10, 0.0), (10, 20, None)]


def test_a_score_at_the_threshold_is_an_alarm():
    assert rate_by_age([[0.7, 0.69]], 0.7, ages=(0, 2)) == [(0, 2, 5_000.0)]
