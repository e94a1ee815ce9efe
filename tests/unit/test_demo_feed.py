"""The demo feed's filling disk, which the live demo shows a capacity prediction with."""

from stream.demo_feed import DEMO_METRICS, FILL_CYCLE_TICKS, synthetic_points


def test_the_first_asset_s_disk_fills_towards_its_limit_then_is_cleaned_up():
    ticks = FILL_CYCLE_TICKS + 10
    points = list(synthetic_points(assets=2, ticks=ticks, filling_disk=True, seed=1))
    disk = [p.value for p in points if p.metric == "disk_usage"]
    assert {p.asset_id for p in points if p.metric == "disk_usage"} == {1}
    assert len(disk) == ticks and len(points) == ticks * (2 * len(DEMO_METRICS) + 1)
    assert disk[0] < 42 and disk[FILL_CYCLE_TICKS - 1] > 96  # over 90% before the clean-up
    assert disk[FILL_CYCLE_TICKS] < 42  # cleaned up, and filling again


def test_the_feed_without_the_disk_is_unchanged():
    assert not any(p.metric == "disk_usage" for p in synthetic_points(assets=2, ticks=50))
