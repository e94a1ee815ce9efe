"""The compiled scoring engine (issue #12): series states as rows of one array, scored in batches.

The Python scorer (`stream.scoring`) keeps each series' state as a tree of dicts and lists and
walks nine detectors point by point, about 350 us a point. The engine keeps every series of a
worker as one row of a numpy structured array (`store.SeriesStore`), a row being fixed-size
fields and rings, and scores a batch in one loop compiled by numba (no compiler needed on a
user's machine), a few microseconds a point. A row is one contiguous block of bytes, so a
checkpoint of a series is a copy of its row.

Each component is one module that declares its fields (`FIELDS`: name, dtype, shape; `COLD`:
those a point does not read, which the loop does not fetch ahead of it, `prefetch`) and its
compiled steps, and reproduces one module of the Python path, which stays the reference the tests
hold the engine to (`reference`). A detector module also keeps the typed detector contract
(`contract`): it declares the Python detectors it reproduces (each a score column with its
role), the scratch its step needs, and one compiled `step` of one signature; the loop
(`core`) calls the steps of `registry.MODULES` in turn and the combination (`combine`) reads
their roles, so neither names a detector, and a new one is one module plus one line there:

| engine module | reproduces |
|---|---|
| `season` | `stream.seasonality` (daily and weekly profiles, the component) |
| `window` | `stream.features` (the window, the history of signals, the robust centre and spread) |
| `ewz` | `stream.detectors.zscore` (zscore, shift, volatility) |
| `robust` | `stream.detectors.robust` (mad, iqr) |
| `flatline` | `stream.detectors.flatline` (stuck values) |
| `hst` | `stream.detectors.hst` (half-space trees) |
| `pattern` | `stream.detectors.pattern` (never-seen shapes) |
| `record` | `stream.detectors.record` (beyond the long memory) |
| `tails`, `combine` | `stream.tail_calibration`, `stream.scoring` (the verdict) |
| `forecast` | `stream.forecast.learn` |
| `capacity` | `stream.capacity.learn`, and `outlook` but for its search ahead |
| `scale` | `stream.detectors.calibration` (a deviation as evidence and as a score) |
| `prefetch` | (none: asks for the rows of the points ahead while the loop scores one) |

`convert` turns a row into the Python scorer's `SeriesState` and back, field for field, so a
trained state scores on in the engine as it would in Python; `stored` turns a row into the bytes
the worker stores and back (and reads the `SeriesState` documents older versions stored). The
worker (`stream.pipeline.process_batch`), `ems-ml replay`, `POST /anomaly/detect` and
`/anomaly/train` score with the engine (`ensemble.build_engine`, `engine_for`).

The compiled code is cached on disk, so a worker does not compile at every start. numba checks a
cached function against its own file only, not the files of what it calls nor the constants it
took from the Python modules, so an edit there would leave stale code in use: the cache lives in
a directory named by a digest of every file the compiled steps are built from (`SOURCES`), under
`$NUMBA_CACHE_DIR` or `~/.cache/ems-ml/numba`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

_HERE = Path(__file__).parent
_STREAM = _HERE.parent
#: the files whose code or constants the compiled steps hold: the engine and the Python modules
#: it takes its constants from
SOURCES = (
    *sorted(_HERE.glob("*.py")),
    _STREAM / "ensemble.py",  # the detectors' order, which the columns follow (`registry`)
    _STREAM / "detectors" / "base.py",  # the roles
    _STREAM / "seasonality.py",
    _STREAM / "features.py",
    _STREAM / "detectors" / "calibration.py",
    _STREAM / "detectors" / "zscore.py",
    _STREAM / "detectors" / "robust.py",
    _STREAM / "detectors" / "flatline.py",
    _STREAM / "detectors" / "hst.py",
    _STREAM / "detectors" / "pattern.py",
    _STREAM / "detectors" / "record.py",
    _STREAM / "tail_calibration.py",
    _STREAM / "scoring.py",
    _STREAM / "forecast.py",
    _STREAM / "capacity.py",
)


def cache_dir() -> Path:
    """Where the compiled steps of this exact code are cached."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES)).hexdigest()[:16]
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(xdg, "ems-ml", "numba")
    return Path(base) / digest


# read when each compiled function is declared, so before the modules below are imported
numba.config.CACHE_DIR = str(cache_dir())
