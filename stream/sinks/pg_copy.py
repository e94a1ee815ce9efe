"""A batch's scores as one binary COPY stream of `anomaly_scores` rows, written by a compiled loop.

The writer stores a batch's scores by `COPY anomaly_scores (...) FROM STDIN (FORMAT BINARY)`
(`postgres.insert_scores`): PostgreSQL reads each row's fields as they are, with none of the
work of an `INSERT ... SELECT FROM unnest(...)` over one array a column and of building each
row's array of detector scores (4.4-6.0 us of its CPU a point against 5.6-7.9; README,
Benchmarks). The stream is built here in one pass over the batch's columns, compiled by numba:
no Python object a point or a field.

The format (PostgreSQL's documentation, "COPY", "Binary Format"): a signature and two zero
words, then a row as its number of fields (int16) and each field as its length (int32; -1 for
NULL, with no bytes) and its bytes in the type's binary form (`*_send`), big-endian; then -1
(int16). NULL, as `pg_arrays` sends it: a non-finite float and a None string.

A round trip through the real PostgreSQL is in `tests/integration/test_pg_copy.py`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

import stream.engine  # noqa: F401  (numba's cache directory, set there)
from stream.scored import ScoredPoints
from stream.sinks.pg_arrays import pg_micros

#: the columns a row fills, in the stream's order (the others take their default)
COLUMNS = (
    "asset_id",
    "metric",
    "ts",
    "value",
    "score",
    "is_anomaly",
    "detector_values",
    "driver",
    "model_version",
    "expected",
    "lower_bound",
    "upper_bound",
    "direction",
)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # the signature, the flags and no extension
_FIELDS = len(COLUMNS)
_FLOAT8 = 701  # the element type of `detector_values` (`pg_type`)


def copy_statement(table: str = "anomaly_scores") -> str:
    """The statement that reads `copy_rows`' stream into `table` (trusted: a name of ours)."""
    return f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def copy_rows(batch: ScoredPoints, detector_columns: tuple[str, ...], encoding: str) -> bytes:
    """The batch as a binary COPY stream of `COLUMNS`, whole (signature to trailer).
    `detector_columns`: the detectors of `detector_values`, by position (a detector the batch's
    verdicts do not name is NULL in every row); `encoding`: the connection's client encoding,
    which the server reads a text in. Raises ValueError for a detector of the batch with no
    place in `detector_columns` (the caller names it: `postgres.insert_scores`), TypeError for
    a naive timestamp, OverflowError for an asset id outside int64."""
    v, points = batch.verdicts, batch.points
    n = len(points)
    detectors = np.full((n, len(detector_columns)), np.nan)
    for j, name in enumerate(v.detector_names):
        detectors[:, detector_columns.index(name)] = v.detectors[:, j]
    texts = _Texts(encoding)
    columns = (
        np.array([p.asset_id for p in points], dtype=np.int64),
        texts.codes([p.metric for p in points]),
        pg_micros([p.timestamp for p in points]),
        np.array([p.value for p in points], dtype=np.float64),
        np.ascontiguousarray(v.score, dtype=np.float64),
        np.ascontiguousarray(v.is_anomaly, dtype=np.bool_),
        detectors,
        texts.codes(v.drivers),
        texts.codes(v.model_versions),
        np.ascontiguousarray(v.expected, dtype=np.float64),
        np.ascontiguousarray(v.lower, dtype=np.float64),
        np.ascontiguousarray(v.upper, dtype=np.float64),
        texts.codes(v.directions),
    )
    blob, starts = texts.blob()
    return _SIGNATURE + _rows(*columns, blob, starts).tobytes() + b"\xff\xff"


class _Texts:
    """The distinct strings of a batch's text columns, each encoded once (metric names,
    drivers and versions recur): a code a value (-1 for None) into one blob of their bytes."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._code: dict[str | None, int] = {None: -1}
        self._encoded: list[bytes] = []

    def codes(self, values: list[str | None]) -> np.ndarray:
        code = self._code
        for s in set(values) - code.keys():
            code[s] = len(self._encoded)
            self._encoded.append(s.encode(self._encoding))
        return np.fromiter(map(code.__getitem__, values), dtype=np.int64, count=len(values))

    def blob(self) -> tuple[np.ndarray, np.ndarray]:
        """The strings' bytes end to end, and where each starts (one more: the end)."""
        starts = np.zeros(len(self._encoded) + 1, dtype=np.int64)
        starts[1:] = np.cumsum([len(b) for b in self._encoded])
        return np.frombuffer(b"".join(self._encoded), dtype=np.uint8), starts


# The compiled writer. Each `_put_*` writes a value big-endian at `at` and returns the position
# after it; a float goes as the bits of its IEEE double (`float8send`).


@njit(cache=True, inline="always")
def _put(out, at, value, size):
    for k in range(size):
        out[at + k] = (value >> (8 * (size - 1 - k))) & 0xFF
    return at + size


@njit(cache=True, inline="always")
def _put_float(out, at, x, cell, bits):
    """A float8 field: its length and bits, or NULL if not finite. `cell` is a one-element
    float array, `bits` the same memory as an int64."""
    if not np.isfinite(x):
        return _put(out, at, -1, 4)
    at = _put(out, at, 8, 4)
    cell[0] = x
    return _put(out, at, bits[0], 8)


@njit(cache=True, inline="always")
def _put_text(out, at, code, blob, starts):
    """A text field: its length and bytes, or NULL for code -1."""
    if code < 0:
        return _put(out, at, -1, 4)
    begin, end = starts[code], starts[code + 1]
    at = _put(out, at, end - begin, 4)
    out[at : at + end - begin] = blob[begin:end]
    return at + end - begin


@njit(cache=True)
def _text_size(code, starts):
    return 4 if code < 0 else 4 + starts[code + 1] - starts[code]


@njit(cache=True)
def _float_size(x):
    return 12 if np.isfinite(x) else 4


@njit(cache=True)
def _rows(
    asset, metric, micros, value, score, anomaly, detectors, driver, version, expected, lower,
    upper, direction, blob, starts,
):  # fmt: skip
    """The rows of the stream, without its signature and trailer, as bytes."""
    n, width = detectors.shape
    size = 0
    for i in range(n):
        size += 2 + 12 + _text_size(metric[i], starts) + 12 + _float_size(value[i])
        size += _float_size(score[i]) + 5 + 4 + 20 + 4 * width
        for j in range(width):
            if np.isfinite(detectors[i, j]):
                size += 8
        size += _text_size(driver[i], starts) + _text_size(version[i], starts)
        size += _float_size(expected[i]) + _float_size(lower[i]) + _float_size(upper[i])
        size += _text_size(direction[i], starts)
    out = np.empty(size, dtype=np.uint8)
    cell = np.empty(1, dtype=np.float64)
    bits = cell.view(np.int64)
    at = 0
    for i in range(n):
        at = _put(out, at, _FIELDS, 2)
        at = _put(out, at, 8, 4)
        at = _put(out, at, asset[i], 8)
        at = _put_text(out, at, metric[i], blob, starts)
        at = _put(out, at, 8, 4)
        at = _put(out, at, micros[i], 8)
        at = _put_float(out, at, value[i], cell, bits)
        at = _put_float(out, at, score[i], cell, bits)
        at = _put(out, at, 1, 4)
        out[at] = 1 if anomaly[i] else 0
        at += 1
        # `array_send` of a one-dimensional float8[]: its header, then each element as a field
        nulls = 0
        for j in range(width):
            if not np.isfinite(detectors[i, j]):
                nulls = 1
        elements = 0
        for j in range(width):
            elements += 12 if np.isfinite(detectors[i, j]) else 4
        at = _put(out, at, 20 + elements, 4)
        at = _put(out, at, 1, 4)  # dimensions
        at = _put(out, at, nulls, 4)
        at = _put(out, at, _FLOAT8, 4)
        at = _put(out, at, width, 4)  # the dimension's length
        at = _put(out, at, 1, 4)  # and its lower bound
        for j in range(width):
            at = _put_float(out, at, detectors[i, j], cell, bits)
        at = _put_text(out, at, driver[i], blob, starts)
        at = _put_text(out, at, version[i], blob, starts)
        at = _put_float(out, at, expected[i], cell, bits)
        at = _put_float(out, at, lower[i], cell, bits)
        at = _put_float(out, at, upper[i], cell, bits)
        at = _put_text(out, at, direction[i], blob, starts)
    return out
