from stream.features import SeriesState, window_features


def test_features_cover_the_window_ending_with_the_point():
    f = window_features(10.0, [2.0, 4.0])
    assert (f.mean, f.min, f.max, f.lag1) == (16 / 3, 2.0, 10.0, 4.0)


def test_first_point_has_itself_as_lag():
    f = window_features(5.0, [])
    assert (f.std, f.lag1) == (0.0, 5.0)


def test_state_keeps_only_the_window_it_needs():
    state = SeriesState()
    for v in range(20):
        state.push(float(v), window_size=5)
    assert state.window == [16.0, 17.0, 18.0, 19.0]
    assert state.count == 20


def test_state_round_trips_and_copies():
    state = SeriesState(count=3, window=[1.0, 2.0], last_ts_ms=5, partition=1, offset=9)
    stored = state.to_dict()
    loaded = SeriesState.from_dict(stored)
    loaded.window.append(3.0)
    assert stored["window"] == [1.0, 2.0]  # the stored value is not changed through the copy
    assert SeriesState.from_dict(stored) == state


def test_replay_detection_is_per_partition_and_offset():
    state = SeriesState(partition=2, offset=100)
    assert state.already_applied(2, 100)
    assert state.already_applied(2, 5)
    assert not state.already_applied(2, 101)
    assert not state.already_applied(1, 5)
