"""The fetch ahead of a point (`stream.engine.prefetch`): the bytes asked for are every byte a
point reads, and the compiled loop really asks for them."""

from __future__ import annotations

import platform

import numpy as np
import pytest
from numba import njit

from stream.engine import prefetch
from stream.engine.core import Engine
from stream.engine.store import row_dtype

DTYPE = row_dtype(
    [("n", "i8", ()), ("ring", "f8", (100,)), ("flag", "u1", ()), ("tail", "f8", (9,))]
)


def test_the_spans_are_the_row_less_its_cold_fields():
    assert prefetch.hot_spans(DTYPE, []).tolist() == [[0, DTYPE.itemsize]]
    ring = DTYPE.fields["ring"][1]
    flag = DTYPE.fields["flag"][1]
    assert prefetch.hot_spans(DTYPE, ["ring"]).tolist() == [[0, ring], [flag, DTYPE.itemsize]]
    # a cold field at either end leaves no empty span
    assert prefetch.hot_spans(DTYPE, ["n", "tail"]).tolist() == [
        [DTYPE.fields["ring"][1], DTYPE.fields["tail"][1]]
    ]


def test_a_cold_field_the_row_does_not_have_is_refused():
    with pytest.raises(ValueError, match="hist_old"):
        prefetch.hot_spans(DTYPE, ["hist_old"])


def test_the_engine_fetches_every_field_a_point_reads():
    """Every field but the record's finished blocks (read once a block) is in a span."""
    engine = Engine(threshold=0.7, window_size=5, warmup_points=2)
    dtype = engine.store.dtype
    spans = engine._hot.tolist()
    outside = {
        name
        for name, (field, offset, *_) in dtype.fields.items()
        if not any(start <= offset and offset + field.itemsize <= end for start, end in spans)
    }
    assert outside == {"record_hi", "record_lo"}


def test_the_compiled_fetch_is_a_prefetch_instruction_of_each_line():
    rows = np.zeros(4, dtype=DTYPE)
    spans = np.array([[0, 200]], dtype=np.int64)
    prefetch.row(rows, 3, spans)  # asks, changes nothing
    assert not rows.view(np.uint8).any()
    # the same function compiled afresh (numba does not show the code of a cached one)
    fresh = njit(prefetch.row.py_func)
    fresh(rows, 3, spans)
    signature = fresh.signatures[0]
    calls = [
        line for line in fresh.inspect_llvm(signature).splitlines() if "@llvm.prefetch" in line
    ]
    # for a read (0), into the second-level cache (2), of data (1): the first level is left to
    # the row being scored
    assert any("call void" in line and "i32 0, i32 2, i32 1)" in line for line in calls)
    if platform.machine() in ("x86_64", "AMD64"):
        assert "prefetcht1" in fresh.inspect_asm(signature)
