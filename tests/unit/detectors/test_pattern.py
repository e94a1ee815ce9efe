"""The pattern detector: a new shape alarms though no single value is extreme."""

import json
import math
import random

from stream.detectors.pattern import PatternDetector
from stream.features import SeriesState
from stream.scoring import Scorer


def scorer():
    return Scorer(
        [PatternDetector()],
        threshold=0.7,
        window_size=5,
        warmup_points=30,
        model_version="t",
        role_weights={"novelty": 1.0},
    )


def run(values):
    from datetime import UTC, datetime, timedelta

    s, state = scorer(), SeriesState()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        s.score_and_learn(state, v, t0 + timedelta(minutes=i)).score for i, v in enumerate(values)
    ], state


def test_a_sine_that_turns_into_a_sawtooth_alarms_though_values_stay_in_range():
    rng = random.Random(2)
    sine = [math.sin(2 * math.pi * i / 16) + rng.gauss(0, 0.02) for i in range(1200)]
    square = [1.0 if (i // 3) % 2 else -1.0 for i in range(40)]
    scores, _ = run(sine + square)
    assert max(scores[1200:]) > 0.7
    assert sorted(scores[600:1200])[-10] < 0.7  # the learnt shape stays quiet


def test_memory_is_bounded_and_small():
    rng = random.Random(3)
    _, state = run([rng.gauss(0, 1) for _ in range(2000)])
    assert len(json.dumps(state.to_dict()["detectors"]["pattern"])) < 4 * 1024
