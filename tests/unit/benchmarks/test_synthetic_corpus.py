"""The synthetic EMS corpus: episodes where they were injected, the same on every machine."""

from benchmarks.synthetic.corpus import CLEAN_SHARE, KINDS, make_long_corpus, make_series


def test_the_long_corpus_is_one_minute_series_for_the_days_asked_with_four_late_episodes():
    corpus = make_long_corpus(days=20, n_series=3)
    assert [s.metric for s in corpus] == ["cpu_usage", "memory_usage", "latency_ms"]
    for s in corpus:
        assert s.interval == "1min" and len(s.values) == 20 * 1440
        assert (s.timestamps[1] - s.timestamps[0]).total_seconds() == 60
        assert 3 <= len(s.episodes) <= 4 and {e.kind for e in s.episodes} <= set(KINDS)
        assert all(e.start >= s.scored_from == int(len(s.values) * CLEAN_SHARE) for e in s.episodes)
    # one episode every ~7,000 points, against one every ~2,500 in the main corpus
    assert sum(len(s.episodes) for s in corpus) / sum(len(s.values) for s in corpus) < 1 / 6000


def test_a_series_is_the_same_every_time_and_a_long_one_is_not_a_stretched_short_one():
    assert make_series(5).values == make_series(5).values
    long = make_series(5, interval="1min", points=30 * 1440)
    assert long.values == make_series(5, interval="1min", points=30 * 1440).values
    assert long.values[:100] != make_series(5, interval="1min").values[:100]


def test_an_outage_drops_the_value_to_the_floor_for_its_whole_episode():
    outages = [(s, e) for s in make_long_corpus(days=20) for e in s.episodes if e.kind == "outage"]
    assert outages
    for s, e in outages:
        assert set(s.values[e.start : e.end + 1]) == {0.0}
        assert s.values[e.start - 1] != 0.0
