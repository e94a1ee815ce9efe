"""Our NAB scorer against hand-worked cases and NAB's published baselines."""

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.nab.corpus import load_corpus, load_profiles
from benchmarks.nab.run import evaluate, null_detector, random_detector
from benchmarks.nab.scorer import CostMatrix, best_threshold, scaled_sigmoid, score_at, sweep_rows

STANDARD = CostMatrix(tp=1.0, fp=0.11, fn=1.0)
NAB_DIR = Path(__file__).resolve().parents[4] / "shared" / "nab"
T0 = datetime(2026, 1, 1)


def series(n):
    return [T0 + timedelta(minutes=i) for i in range(n)]


def test_scaled_sigmoid_matches_nab_reference_points():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == -1.0


def test_earliest_detection_in_a_window_scores_near_one_and_later_ones_add_nothing():
    ts = series(1000)
    window = [(ts[500], ts[599])]
    scores = [0.0] * 1000
    scores[500] = 1.0
    at_left_edge = score_at(sweep_rows("f", ts, scores, window, STANDARD), STANDARD, 0.5)
    assert at_left_edge == pytest.approx(1.0)
    scores[550] = 1.0
    assert score_at(sweep_rows("f", ts, scores, window, STANDARD), STANDARD, 0.5) == at_left_edge
    scores[500] = 0.0  # only the later detection: less credit, still positive
    assert 0 < score_at(sweep_rows("f", ts, scores, window, STANDARD), STANDARD, 0.5) < 1


def test_a_missed_window_costs_the_fn_weight_and_a_far_false_positive_the_fp_weight():
    ts = series(1000)
    window = [(ts[500], ts[599])]
    scores = [0.0] * 1000
    scores[300] = 1.0  # before any window: a full-weight false positive
    rows = sweep_rows("f", ts, scores, window, STANDARD)
    assert score_at(rows, STANDARD, 0.5) == pytest.approx(-1.0 - 0.11)


def test_probationary_rows_are_not_scored():
    ts = series(1000)
    scores = [0.0] * 1000
    scores[10] = 1.0  # inside the first 15%
    rows = sweep_rows("f", ts, scores, [], STANDARD)
    assert score_at(rows, STANDARD, 0.5) == 0.0


def test_the_best_threshold_is_the_one_with_the_highest_total():
    ts = series(1000)
    window = [(ts[500], ts[599])]
    rng = random.Random(0)
    scores = [rng.random() * 0.5 for _ in range(1000)]
    scores[520] = 0.9
    rows = sweep_rows("f", ts, scores, window, STANDARD)
    best = best_threshold(rows, STANDARD)
    assert best.threshold == 0.9 and best.fp == 0 and best.tp == 1
    assert best.score == pytest.approx(score_at(rows, STANDARD, 0.9))


@pytest.fixture(scope="module")
def corpus():
    if not NAB_DIR.exists():
        pytest.skip(f"no NAB corpus at {NAB_DIR}")
    return list(load_corpus(NAB_DIR)), load_profiles(NAB_DIR)


def test_null_detector_scores_zero_on_every_profile(corpus):
    files, profiles = corpus
    results = evaluate(
        files, {f.name: null_detector(f.timestamps, f.values) for f in files}, profiles
    )
    assert [round(r["score"], 6) for r in results.values()] == [0.0, 0.0, 0.0]


def test_random_detector_lands_where_nab_publishes_it(corpus):
    # NAB's scoreboard: Random 11.0 / 1.2 / 19.5; seeds move it by a few points
    files, profiles = corpus
    runs = []
    for seed in range(3):
        detector = random_detector(seed)
        scores = {f.name: detector(f.timestamps, f.values) for f in files}
        runs.append(evaluate(files, scores, profiles))
    standard = sum(r["standard"]["score"] for r in runs) / 3
    low_fp = sum(r["reward_low_FP_rate"]["score"] for r in runs) / 3
    low_fn = sum(r["reward_low_FN_rate"]["score"] for r in runs) / 3
    assert 5 < standard < 20
    assert 0 <= low_fp < 6
    assert 15 < low_fn < 30
