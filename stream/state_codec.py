"""The bytes a series' state is stored as: MessagePack, with numpy arrays as typed extensions.

A state is written for every series a batch touches, so its encoding is on the worker's hot path:
MessagePack (C) encodes a state in about a sixth of the time JSON took through `to_dict` (the
per-element copy and the base64 of every array), and a third smaller (README, Benchmarks). The
format is safe to read from anywhere, unlike pickle: decoding builds only scalars, lists, dicts
and numeric arrays.

`decode` also reads the JSON states older versions stored, so an upgrade keeps every series'
history; the first byte tells the two apart (a JSON object opens with "{", a MessagePack map
never does).

The worker, which scores on the compiled engine (`stream.engine`), stores a series' row itself:
`encode_row` puts a header before the row's bytes (what layout they have, the engine's window,
the trained model the series started from), opened by a byte neither MessagePack nor JSON opens
with; `decode_row` reads it back, and says None for a document of the other two kinds.

A row goes to the table compressed with LZ4 by the worker (`pack_row`), behind a format byte of
its own: given the 12 KB row to compress itself, PostgreSQL spent most of a row's cost taking in
the 12 KB, whatever they compressed to (README, Delivery guarantees).

A checkpoint stores most rows as what changed since the row's base, the row as last stored
whole (`encode_delta`): the two XORed and compressed with LZ4. One point changes about a sixth
of a row's words, so a row one point past its base is a delta of about 1.7 KB against 5.3 KB for
the row compressed whole, and PostgreSQL keeps a value that small in the table's own page
rather than out of line, at about a sixth of the cost (README, Delivery guarantees).
`apply_delta` gives the stored bytes back.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import lz4.block
import msgpack
import numpy as np

from stream.features import SeriesState

#: MessagePack extension type of a numpy array: its payload is [dtype, shape, raw bytes]
_NDARRAY = 1
_JSON_OBJECT = ord("{")
#: the first byte of a stored engine row: "never used" in MessagePack, and not JSON
_ROW = 0xC1
_ROW_FORMAT = 1
#: the format byte of a row compressed with LZ4 (`pack_row`)
_ROW_PACKED = 2
#: after the two bytes above: the 16-byte layout, the window size, the model version's length
_ROW_HEADER = struct.Struct("<16sIH")
#: a delta larger than this share of its row is not made: the row has changed so much since its
#: base that storing it whole, as the next base, costs about as much and makes the next deltas
#: small again (past about 2 KB a value leaves the table's page and costs PostgreSQL several
#: times more, README, Delivery guarantees)
DELTA_MAX_SHARE = 0.25


def _pack_other(obj):
    if isinstance(obj, np.ndarray):
        array = np.ascontiguousarray(obj)
        payload = msgpack.packb([array.dtype.str, list(array.shape), array.tobytes()])
        return msgpack.ExtType(_NDARRAY, payload)
    if isinstance(obj, np.generic):  # a numpy scalar stored in a detector's state
        return obj.item()
    raise TypeError(f"a series state cannot hold {type(obj).__name__}")


def _unpack_ext(code: int, payload: bytes):
    if code != _NDARRAY:
        raise ValueError(f"unknown extension type {code} in a stored series state")
    dtype, shape, raw = msgpack.unpackb(payload)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def encode(state: SeriesState) -> bytes:
    """The stored bytes of `state` (every field; floats exactly, as float64)."""
    return msgpack.packb(
        {name: getattr(state, name) for name in SeriesState.__slots__}, default=_pack_other
    )


def decode(payload: bytes) -> SeriesState:
    """The state `encode` (or an older version's JSON) stored; a new object sharing nothing
    with any other, so scoring a batch that is later abandoned changes no stored state.
    Raises ValueError on bytes that are neither."""
    if payload[:1] == bytes([_JSON_OBJECT]):
        return SeriesState.from_dict(json.loads(payload))
    try:
        fields = msgpack.unpackb(payload, ext_hook=_unpack_ext, strict_map_key=False)
    except (msgpack.UnpackException, ValueError, TypeError) as e:
        raise ValueError(f"not a stored series state: {e}") from e
    if not isinstance(fields, dict):
        raise ValueError("not a stored series state: not a map")
    return SeriesState(**fields)


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A series' engine row as stored (`encode_row`)."""

    #: the engine's `layout` the bytes are in
    layout: bytes
    #: the window size of the engine that stored it
    window_size: int
    #: the trained model the series started from, None for none
    model_version: str | None
    raw: bytes


def encode_row(raw: bytes, layout: bytes, window_size: int, model_version: str | None) -> bytes:
    """The stored bytes of an engine row `raw` of `layout` (`Engine.row_bytes`)."""
    version = (model_version or "").encode()
    header = _ROW_HEADER.pack(layout, window_size, len(version))
    return bytes((_ROW, _ROW_FORMAT)) + header + version + raw


def pack_row(payload: bytes) -> bytes:
    """The bytes a row (`encode_row`) is stored as: compressed with LZ4, behind two bytes of its
    own (`unpack_row` reads it back). Anything else (a document, bytes already packed) as it
    is."""
    if payload[:2] != bytes((_ROW, _ROW_FORMAT)):
        return payload
    return bytes((_ROW, _ROW_PACKED)) + lz4.block.compress(payload, store_size=True)


def unpack_row(stored: bytes) -> bytes:
    """The bytes `pack_row` was given; anything it did not pack as it is. Raises ValueError for
    packed bytes that do not decompress."""
    if stored[:2] != bytes((_ROW, _ROW_PACKED)):
        return stored
    try:
        return lz4.block.decompress(memoryview(stored)[2:])
    except (lz4.block.LZ4BlockError, ValueError) as e:
        raise ValueError(f"a stored series row that does not decompress: {e}") from e


def decode_row(payload: bytes) -> StoredRow | None:
    """The row `encode_row` stored (packed by `pack_row` or not); None for a state stored as a
    document (`decode` reads it). Raises ValueError for a row of a format this version does not
    know, or cut short."""
    payload = unpack_row(payload)
    if payload[:1] != bytes((_ROW,)):
        return None
    if payload[1:2] != bytes((_ROW_FORMAT,)):
        raise ValueError(f"a stored series row of unknown format {payload[1:2].hex()}")
    start = 2 + _ROW_HEADER.size
    if len(payload) < start:
        raise ValueError("a stored series row cut short in its header")
    layout, window_size, n = _ROW_HEADER.unpack_from(payload, 2)
    version = payload[start : start + n].decode() or None
    return StoredRow(layout, window_size, version, payload[start + n :])


def encode_delta(base: bytes, payload: bytes) -> bytes | None:
    """The stored bytes `payload` as what changed since `base` (both stored bytes of one series,
    as `encode_row` gives them): the two XORed, compressed with LZ4. None where that would be
    more than `DELTA_MAX_SHARE` of `payload`, or the two differ in length (a header that
    changed: a model adopted, a new window): then the payload is stored whole."""
    if len(base) != len(payload):
        return None
    changed = np.bitwise_xor(np.frombuffer(base, np.uint8), np.frombuffer(payload, np.uint8))
    delta = lz4.block.compress(changed, store_size=True)
    return delta if len(delta) <= DELTA_MAX_SHARE * len(payload) else None


def apply_delta(base: bytes, delta: bytes) -> bytes:
    """The stored bytes `encode_delta(base, payload)` was made from: `payload`. Raises
    ValueError for a delta that is not one of `base`'s (cut short, another length)."""
    try:
        changed = lz4.block.decompress(delta)
    except (lz4.block.LZ4BlockError, ValueError) as e:
        raise ValueError(f"a stored series delta that does not decompress: {e}") from e
    if len(changed) != len(base):
        raise ValueError(f"a stored series delta of {len(changed)} bytes for a row of {len(base)}")
    return np.bitwise_xor(np.frombuffer(base, np.uint8), np.frombuffer(changed, np.uint8)).tobytes()
