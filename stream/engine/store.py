"""Every series of a worker as one row of a numpy structured array, found by its key.

The row's fields are the union of the components' `FIELDS` (`row_dtype`); a new series gets a
zeroed row with each field at its component's start value (`INITIAL`). The array doubles when it
is full, so a batch of new series costs amortised O(1) a series.

Whole rows are copied as bytes (a new row from one made ready once, a stored row put back, the
array when it grows): numpy copies a structured row field by field, 26 us for one of this
engine's rows against 1.2 us for its bytes, and a worker restarted beside 100,000 series puts
back every one of them (README, Benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: a field: (name, numpy dtype, shape of one series' value; () for a scalar)
Field = tuple[str, str, tuple[int, ...]]


def row_dtype(fields: Iterable[Field]) -> np.dtype:
    """The structured dtype of one series' row; raises ValueError on a name declared twice."""
    seen: set[str] = set()
    spec = []
    for name, dtype, shape in fields:
        if name in seen:
            raise ValueError(f"field {name!r} is declared twice")
        seen.add(name)
        spec.append((name, dtype, shape) if shape else (name, dtype))
    return np.dtype(spec, align=True)


class SeriesStore:
    """Rows of `dtype`, one a series key; `initial`: the start value of fields that do not start
    at zero (e.g. NaN for "not seen yet").

    >>> store = SeriesStore(row_dtype([("n", "i8", ()), ("last", "f8", ())]), {"last": np.nan})
    >>> store.slots(["a", "b", "a"]).tolist(), len(store), float(store.rows["last"][1])
    ([0, 1, 0], 2, nan)
    """

    def __init__(self, dtype: np.dtype, initial: dict[str, float] | None = None, capacity=1024):
        self.dtype = dtype
        self.initial = dict(initial or {})
        fresh = np.zeros(1, dtype=dtype)
        for name, value in self.initial.items():
            fresh[name] = value
        #: a new row's bytes
        self._fresh = fresh.view(np.uint8)
        self._slot: dict[str, int] = {}
        self._allocate(max(1, capacity))

    def __len__(self) -> int:
        return len(self._slot)

    @property
    def rows(self) -> np.ndarray:
        """The rows in use, slot order (a view: the compiled steps write into it)."""
        return self._rows[: len(self._slot)]

    @property
    def buffer(self) -> np.ndarray:
        """Every allocated row, in use or not (what a compiled step is handed)."""
        return self._rows

    def slots(self, keys: Sequence[str]) -> np.ndarray:
        """The slot of each key, a new row for a key not seen before."""
        slot_of = self._slot
        found = [slot_of.get(key) for key in keys]
        if None in found:  # new series: each gets one row, however often it comes in the batch
            for i, slot in enumerate(found):
                if slot is None:
                    slot = slot_of.get(keys[i])
                    found[i] = self._add(keys[i]) if slot is None else slot
        return np.array(found, dtype=np.int64)

    def slot(self, key: str) -> int | None:
        """The slot of `key`, None for a key not seen."""
        return self._slot.get(key)

    def reset(self, key: str) -> int:
        """The slot of `key` with its row back at the initial values (a new one if unseen)."""
        slot = self._slot.get(key)
        if slot is None:
            return self._add(key)
        self._bytes[slot] = self._fresh
        return slot

    def put(self, key: str, raw: bytes) -> int:
        """The slot of `key` (a new one if unseen), its row set to `raw`: a row's bytes, as
        `row_bytes` of a store of this dtype gives them. Raises ValueError for bytes of another
        size."""
        if len(raw) != self.dtype.itemsize:
            raise ValueError(f"a row of {len(raw)} bytes, these rows have {self.dtype.itemsize}")
        slot = self._slot.get(key)
        if slot is None:
            slot = self._add(key, initialise=False)
        self._bytes[slot] = np.frombuffer(raw, dtype=np.uint8)
        return slot

    def row_bytes(self, slot: int) -> bytes:
        """The row at `slot` as bytes (a copy)."""
        return self._bytes[slot].tobytes()

    def clear(self) -> None:
        """Forget every series: the next `slots` starts each from its initial row."""
        self._slot.clear()
        self._allocate(len(self._rows))

    def keys(self) -> list[str]:
        """The key of each row in use, slot order."""
        return list(self._slot)

    def _allocate(self, capacity: int) -> None:
        """Zeroed rows for `capacity` series, and their bytes a row (`_bytes`, a view)."""
        self._rows = np.zeros(capacity, dtype=self.dtype)
        self._bytes = self._rows.view(np.uint8).reshape(capacity, self.dtype.itemsize)

    def _add(self, key: str, *, initialise: bool = True) -> int:
        """A new slot for `key`, its row at the initial values (or as it is, zeroed, for a
        caller that writes the whole row)."""
        slot = len(self._slot)
        if slot == len(self._rows):
            held = self._bytes
            self._allocate(2 * len(self._rows))
            self._bytes[:slot] = held
        if initialise:
            self._bytes[slot] = self._fresh
        self._slot[key] = slot
        return slot
