"""The rows of `stream.engine.store.SeriesStore`: new rows at their start values, rows put back
as bytes, rows that outlive the array's growth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream.engine.store import SeriesStore, row_dtype

DTYPE = row_dtype([("n", "i8", ()), ("last", "f8", ()), ("ring", "f4", (5,)), ("flag", "u1", ())])


def store(capacity: int = 2) -> SeriesStore:
    return SeriesStore(DTYPE, {"last": math.nan, "flag": 3}, capacity=capacity)


def a_row(n: int) -> bytes:
    row = np.zeros(1, dtype=DTYPE)
    row["n"], row["last"], row["ring"], row["flag"] = n, n / 7, np.arange(5) * n, n % 256
    return row.tobytes()


def test_a_new_row_starts_at_its_start_values_and_reset_brings_a_row_back_to_them():
    s = store()
    slot = s.slots(["a"])[0]
    new = s.rows[slot]
    assert (new["n"], new["flag"], new["ring"].tolist()) == (0, 3, [0.0] * 5)
    assert math.isnan(new["last"])
    # the row's own bytes, padding included (a structured scalar's copy leaves padding unset)
    fresh = s.row_bytes(slot)
    s.put("a", a_row(9))
    assert s.reset("a") == slot
    assert s.row_bytes(slot) == fresh


def test_rows_put_back_read_back_as_the_same_bytes_and_outlive_growth():
    s = store(capacity=2)
    slots = [s.put(f"series-{i}", a_row(i)) for i in range(100)]  # the array doubles six times
    assert slots == list(range(100)) and len(s) == 100
    assert [s.row_bytes(slot) for slot in slots] == [a_row(i) for i in range(100)]
    assert s.rows["n"].tolist() == list(range(100))  # the fields see the bytes
    # a key held already keeps its slot; its row is replaced whole
    assert s.put("series-3", a_row(500)) == 3
    assert s.row_bytes(3) == a_row(500) and s.row_bytes(4) == a_row(4)


def test_a_row_of_another_size_is_refused_and_nothing_is_added():
    s = store()
    with pytest.raises(ValueError, match="bytes"):
        s.put("a", a_row(1)[:-1])
    assert len(s) == 0 and s.slot("a") is None


def test_new_rows_after_a_clear_start_afresh():
    s = store()
    s.put("a", a_row(5))
    s.clear()
    assert len(s) == 0 and s.slot("a") is None
    slot = s.slots(["a"])[0]
    assert s.rows["n"][slot] == 0 and s.rows["flag"][slot] == 3
