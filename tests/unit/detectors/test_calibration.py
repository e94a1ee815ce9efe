from stream.detectors.calibration import neg_log10_tail, z_to_score


def test_four_sigma_is_exactly_the_default_threshold():
    assert abs(z_to_score(4.0) - 0.7) < 1e-12


def test_score_rises_with_distance_and_never_reaches_one():
    scores = [z_to_score(z / 4) for z in range(0, 400)]
    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores), "the rarest points must still rank apart"
    assert scores[0] == 0.0 and scores[-1] < 1.0


def test_sign_does_not_matter():
    assert z_to_score(-5.0) == z_to_score(5.0)


def test_tail_is_continuous_where_the_asymptotic_form_takes_over():
    assert abs(neg_log10_tail(7.999999) - neg_log10_tail(8.0)) < 0.01
