"""Fetching the rows a batch is about to score into the processor's caches ahead of the loop.

A feed sends one point of every series before the next point of any, so each point's row is
cold: its series was last touched thousands of rows ago, and at 2,000 series of 12 KB rows the
rows no longer fit the caches. Scoring the same points grouped by series (each row hot) cost
about 2.8 us a point against 4.0-4.4 interleaved before this fetch (README, Benchmarks,
`benchmarks.engine`). The loop therefore asks for
the row of the point `DISTANCE` points ahead while it scores this one, so the fetch overlaps the
work of the points between.

Only the bytes a point reads are asked for (`hot_spans`): a field a component declares `COLD`
(read once a block of points or less) is left to be fetched when it is read. The fetch goes to
the second-level cache, not the first: `DISTANCE` rows of 12 KB would evict the row being scored
from a 32 KB first level.

numba has no prefetch of its own (numba#3769); `prefetch` emits LLVM's `llvm.prefetch`. It
changes no value a loop computes, only when the memory arrives.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: points ahead whose row is fetched: far enough that a row arrives before its point (each
#: point takes a few microseconds, a fetch from memory a fraction of one), near enough that the
#: rows fetched stay in the second-level cache until read
DISTANCE = 4
_LINE = 64
#: llvm.prefetch's locality for the second-level cache (x86 prefetcht1)
_SECOND_LEVEL = 2


@intrinsic
def prefetch(typingctx, array, byte_offset):
    """Ask for the cache line `byte_offset` bytes into `array`'s data to be fetched for a read
    (an offset past the data is harmless: a prefetch never faults)."""
    if not isinstance(array, types.Array) or not isinstance(byte_offset, types.Integer):
        return None
    signature = types.void(array, types.intp)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte = ir.IntType(8).as_pointer()
        address = builder.gep(builder.bitcast(data, byte), [args[1]])
        i32 = ir.IntType(32)
        hint = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte], ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32])
        )
        # (address, 0: for a read, locality, 1: data, not instructions)
        builder.call(hint, [address, i32(0), i32(_SECOND_LEVEL), i32(1)])
        return context.get_dummy_value()

    return signature, codegen


@njit(cache=True)
def row(rows, slot: int, spans) -> None:
    """Ask for the `spans` (byte ranges: a (start, end) row of `spans` each) of row `slot` of
    `rows`, a line at a time."""
    base = slot * rows.itemsize
    for k in range(spans.shape[0]):
        for offset in range(spans[k, 0], spans[k, 1], _LINE):
            prefetch(rows, base + offset)


def hot_spans(dtype: np.dtype, cold: Iterable[str]) -> np.ndarray:
    """The byte ranges of a row of structured `dtype` outside the `cold` fields, neighbours
    merged and padding included, as (start, end) rows in order."""
    cold = set(cold)
    unknown = cold.difference(dtype.names)
    if unknown:
        raise ValueError(f"cold fields {sorted(unknown)} are not fields of the row")
    spans: list[list[int]] = []
    start = 0
    for name, (field, offset, *_) in sorted(dtype.fields.items(), key=lambda f: f[1][1]):
        if name in cold:
            if offset > start:
                spans.append([start, offset])
            start = offset + field.itemsize
    if dtype.itemsize > start:
        spans.append([start, dtype.itemsize])
    return np.array(spans, dtype=np.int64).reshape(-1, 2)
