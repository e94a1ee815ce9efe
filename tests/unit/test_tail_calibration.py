"""What a series' own tail of evidence learns from its alarms (stream.tail_calibration)."""

import random

from stream import tail_calibration
from stream.detectors.calibration import neg_log10_tail, score_to_l

ALARM_L = score_to_l(0.7)


def observed(evidence):
    """A fresh tail after observing `evidence`, each point alarming as the scorer judges it."""
    tail = tail_calibration.new_tail()
    for L in evidence:
        alarming = tail_calibration.calibrate(tail, L) >= ALARM_L
        tail_calibration.observe(tail, L, alarming=alarming)
    return tail


def gaussian_evidence(n, seed=1):
    rng = random.Random(seed)
    return [neg_log10_tail(abs(rng.gauss(0, 1))) for _ in range(n)]


def test_a_long_incident_teaches_the_tail_once():
    quiet = gaussian_evidence(2000)
    before = observed(quiet)
    after = observed([*quiet, *[9.0] * 1000])
    assert after["n"] == before["n"] + 1
    # so the incident's level still alarms at its end as at its start
    assert tail_calibration.calibrate(after, 9.0) >= ALARM_L


def test_a_spike_train_is_one_episode():
    quiet = gaussian_evidence(2000)
    before = observed(quiet)
    train = [9.0, 0.1] * 20  # alarms two points apart: one episode
    after = observed([*quiet, *train])
    assert after["k"] == before["k"] + 1


def test_alarms_that_keep_coming_teach_the_series_that_they_come():
    # a settled series, then one point in 50 at L 9 (p = 1e-9 were the noise Gaussian): 2% of the
    # series, twice its share of points over the 99th percentile. Leaving every alarm out (SPOT)
    # would cut the tail at the alarm level and keep each of them alarming for good.
    rng = random.Random(2)
    evidence = gaussian_evidence(5000) + [
        9.0 if i % 50 == 49 else neg_log10_tail(abs(rng.gauss(0, 1))) for i in range(5000)
    ]
    first = observed(evidence[:5050])
    assert tail_calibration.calibrate(first, 9.0) >= ALARM_L  # news the first time
    assert tail_calibration.calibrate(observed(evidence), 9.0) < ALARM_L  # not the 100th
