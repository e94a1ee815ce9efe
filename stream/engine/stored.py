"""A series' row to the bytes the worker stores (`stream.state_codec.encode_row`), and back from
whatever a version of the service stored.

A row goes out as its own bytes (2 us, against about 270 us to turn it into a `SeriesState` and
encode that; README, Benchmarks). Coming back, a row of the engine's layout is copied in as it
is. A row stored by an engine with another window (`WINDOW_SIZE` changed) is read with that
window's layout and carried over field by field through `convert`, as the Python scorer carries a
state over (the newest values of the window kept). A `SeriesState` document (MessagePack or
JSON, from a version before the engine) is loaded through `convert` too, so an upgrade keeps
every series' history.
"""

from __future__ import annotations

from stream import state_codec
from stream.engine import convert
from stream.engine.core import Engine
from stream.features import SeriesState


def payload(engine: Engine, key: str, model_version: str | None) -> bytes:
    """The stored bytes of the series `key`'s row; raises KeyError for a key not held."""
    return state_codec.encode_row(
        engine.row_bytes(key), engine.layout, engine.window_size, model_version
    )


def restore(engine: Engine, key: str, stored: bytes) -> str | None:
    """Hold the state `stored` (any form above) as the series `key`'s row; returns the trained
    model the series started from (None for none). Raises ValueError for bytes that are none of
    those forms, or a row of a layout no engine of its window has (an older engine's fields)."""
    row = state_codec.decode_row(stored)
    if row is None:
        state = state_codec.decode(stored)
        engine.load(key, state)
        return state.model_version
    if row.layout == engine.layout:
        engine.restore_row(key, row.raw)
        return row.model_version
    if row.window_size == engine.window_size:
        raise ValueError(f"the row of {key} was stored by an engine of another layout")
    state = _as_state(row)
    # the newest values the smaller window holds, as `SeriesState.push` would keep them
    del state.window[: max(0, len(state.window) - (engine.window_size - 1))]
    engine.load(key, state)
    return row.model_version


def as_state(stored: bytes) -> SeriesState:
    """The state `stored` holds (any form above), as the Python scorer would hold it: what the
    API reads a stored series with. Raises ValueError as `restore` does."""
    row = state_codec.decode_row(stored)
    return state_codec.decode(stored) if row is None else _as_state(row)


def _as_state(row: state_codec.StoredRow) -> SeriesState:
    """A stored row as a `SeriesState`, read with the layout of its own window."""
    reader = _engine_like(row.window_size)
    if row.layout != reader.layout:
        raise ValueError("a series row stored by an engine of another layout")
    reader.restore_row("read", row.raw)
    state = convert.dump(reader.store.buffer[reader.store.slot("read")], row.model_version)
    reader.store.clear()
    return state


_OTHER_WINDOWS: dict[int, Engine] = {}


def _engine_like(window_size: int) -> Engine:
    """An engine whose rows have `window_size`, to read rows with (only its layout is used, and
    no settings matter: it scores nothing). Not shared across threads."""
    other = _OTHER_WINDOWS.get(window_size)
    if other is None:
        other = _OTHER_WINDOWS[window_size] = Engine(
            threshold=0.7, window_size=window_size, warmup_points=1, capacity=1
        )
    return other
