"""Every series of a worker as one row of a numpy structured array, found by its key.

The row's fields are the union of the components' `FIELDS` (`row_dtype`); a new series gets a
zeroed row with each field at its component's start value (`INITIAL`). The array doubles when it
is full, so a batch of new series costs amortised O(1) a series.
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
        self._rows = np.zeros(max(1, capacity), dtype=dtype)
        self._slot: dict[str, int] = {}

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
        row = self._rows[slot]
        self._rows[slot] = np.zeros((), dtype=self.dtype)
        for name, value in self.initial.items():
            row[name] = value
        return slot

    def clear(self) -> None:
        """Forget every series: the next `slots` starts each from its initial row."""
        self._slot.clear()
        self._rows = np.zeros(len(self._rows), dtype=self.dtype)

    def keys(self) -> list[str]:
        """The key of each row in use, slot order."""
        return list(self._slot)

    def _add(self, key: str) -> int:
        slot = len(self._slot)
        if slot == len(self._rows):
            grown = np.zeros(2 * len(self._rows), dtype=self.dtype)
            grown[:slot] = self._rows
            self._rows = grown
        row = self._rows[slot]
        for name, value in self.initial.items():
            row[name] = value
        self._slot[key] = slot
        return slot
