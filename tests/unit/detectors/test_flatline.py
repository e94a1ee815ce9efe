"""The flatline detector's run models, on known sequences."""

import random

from stream.detectors.flatline import FlatlineDetector
from stream.features import window_features


def feed(detector, state, values):
    """Scores then learns each value; returns the scores."""
    scores, previous = [], None
    history: list[float] = []
    for v in values:
        x = window_features(
            v, [] if previous is None else [previous], history=tuple(history[-64:]), resolution=0.1
        )
        scores.append(detector.score_one(state, x))
        detector.learn_one(state, x)
        previous = v
        history.append(v)
    return scores


def noisy(n, rng):
    return [round(50 + rng.gauss(0, 1), 1) for _ in range(n)]


def test_a_state_stored_before_the_run_models_keeps_scoring_and_learns_them():
    rng = random.Random(1)
    d = FlatlineDetector()
    state = d.new_state()
    feed(d, state, noisy(500, rng))
    for key in ("c", "m", "reached", "at"):  # what ensemble-v6 stored had none of these
        del state[key]
    scores = feed(d, state, [50.0] * 10)
    assert scores[-1] > 0.85
    assert state["reached"][0] > 0 and state["m"] > 0


def test_repeats_that_come_in_runs_make_a_run_of_their_usual_length_ordinary():
    rng = random.Random(2)
    d = FlatlineDetector()
    chained, lone = d.new_state(), d.new_state()
    # the same share of repeats; in the first series they follow one another
    runs = []
    for _ in range(400):
        runs += [0.0] * 4 + [round(rng.uniform(1, 9), 1) for _ in range(6)]
    lone_values = [0.0 if i % 10 == 0 else round(rng.uniform(1, 9), 1) for i in range(4000)]
    feed(d, chained, runs)
    feed(d, lone, lone_values)
    assert feed(d, chained, [0.0] * 5)[-1] < 0.5
    assert feed(d, lone, [0.0] * 5)[-1] > 0.7
