"""Half-space trees: isolation of new regions, small state, River-compatible behaviour."""

import json
import random

import numpy as np

from stream.detectors.hst import HalfSpaceTrees
from stream.features import SeriesState, window_features


def features(rng, level=0.0):
    history = tuple(rng.gauss(0, 1) for _ in range(64))
    return window_features(level + rng.gauss(0, 1), [0.0, 0.1, -0.1, 0.0], history=history)


def trained(n=600, seed=3):
    rng = random.Random(seed)
    hst = HalfSpaceTrees()
    state = hst.new_state()
    for _ in range(n):
        x = features(rng)
        hst.score_one(state, x)
        hst.learn_one(state, x)
    return hst, state, rng


def test_a_point_in_a_new_region_scores_above_usual_points():
    hst, state, rng = trained()
    usual = [hst.score_one(state, features(rng)) for _ in range(50)]
    far = hst.score_one(state, features(rng, level=30.0))
    assert far > 0.7
    assert far > max(usual)
    assert np.percentile(usual, 90) < 0.5


def test_state_is_json_and_well_under_16_kb_and_round_trips():
    hst, state, rng = trained()
    stored = SeriesState(detectors={"hst": state}).to_dict()
    assert len(json.dumps(stored["detectors"]["hst"])) < 4 * 1024
    restored = SeriesState.from_dict(json.loads(json.dumps(stored))).detectors["hst"]
    assert np.array_equal(restored["r"], state["r"]) and state["r"].sum() > 0
    x = features(rng, level=5.0)
    assert hst.score_one(restored, x) == hst.score_one(state, x)


def test_no_score_before_a_reference_window():
    hst = HalfSpaceTrees(window_size=50)
    state = hst.new_state()
    rng = random.Random(0)
    assert hst.score_one(state, features(rng, level=100.0)) == 0.0


def test_batch_scoring_matches_one_by_one():
    hst, state, rng = trained()
    xs = [features(rng) for _ in range(20)] + [features(rng, level=20.0)]
    one_by_one = [hst.score_one(state, x) for x in xs]
    assert np.allclose(hst.score_many(state, xs), one_by_one)


def test_learning_a_batch_equals_learning_one_at_a_time():
    rng = random.Random(5)
    xs = [features(rng) for _ in range(300)]
    a, b = HalfSpaceTrees(), HalfSpaceTrees()
    sa, sb = a.new_state(), b.new_state()
    a.learn_many(sa, np.array([a.vector(x) for x in xs]))
    for x in xs:
        b.learn_many(sb, b.vector(x))
    assert np.array_equal(sa["r"], sb["r"]) and np.array_equal(sa["l"], sb["l"])
    assert sa["k"] == sb["k"]


def test_masses_agree_with_a_plain_walk_of_the_same_trees():
    # An independent, loop-based walk of the shared structure must land in the nodes counted.
    hst = HalfSpaceTrees(n_trees=3, height=4, window_size=10)
    state = hst.new_state()
    rng = np.random.default_rng(1)
    points = rng.uniform(size=(10, 3))
    hst.learn_many(state, points)
    expected = np.zeros((3, hst.n_nodes), dtype=int)
    for u in points:
        for t in range(3):
            node = 0
            expected[t, node] += 1
            for _ in range(4):
                go_right = u[hst.feature[t, node]] >= hst.split[t, node]
                node = 2 * node + 1 + int(go_right)
                expected[t, node] += 1
    assert (state["r"] == expected).all()


def test_the_driver_names_the_feature_that_moved():
    hst, _, rng = trained()
    x = window_features(
        0.0, [0.0, 0.0, 0.0, -25.0], history=tuple(rng.gauss(0, 1) for _ in range(64))
    )
    assert hst.driver(x) == "change"


def test_the_one_point_path_is_the_batch_path_exactly():
    # score_one/learn_one walk in plain Python; the numpy batch path is the reference
    rng = random.Random(9)
    fast, reference = HalfSpaceTrees(), HalfSpaceTrees()
    sf, sr = fast.new_state(), reference.new_state()
    for i in range(1_000):
        x = features(rng, level=rng.gauss(0, 3) if i % 97 else 25.0)
        fast.score_one(sf, x)
        raw = fast._last[2]  # the raw score of the walk score_one made
        assert raw == float(reference.raw_score_many(sr, reference.vector(x))[0])
        fast.learn_one(sf, x)
        reference.learn_many(sr, reference.vector(x))
        assert np.array_equal(sf["l"], sr["l"]) and np.array_equal(sf["r"], sr["r"])
    assert sf["ready"] and sf["k"] == sr["k"]
