"""The typed detector contract of the compiled engine: what a detector module declares.

A detector module of the engine (`registry.MODULES`) reproduces one or more Python detectors
(`stream.detectors`) and declares:

- `FIELDS`, `INITIAL`: its state in a series' row (name, dtype, shape; initial values), as every
  component of the row does (`store.row_dtype`);
- `COLUMNS`: the Python detector classes it reproduces, one a score column, in the order its step
  writes them; each class gives the column's `name` and its `role` (`ROLES`), which is all the
  combination (`combine`) knows of it;
- `work_size(window_size)`: the float64 words of scratch its step needs for a point (given to
  it as one contiguous slice; a step that needs bytes or integers views it);
- `step(r, x, scores, features, work)`, compiled: score the point whose features are `x` (the
  `POINT` layout below) against the series' row `r`, then learn it into `r`. It writes the
  score of its j-th column into `scores[j]` (in [0, 1), higher is more anomalous) and the
  feature that moved it into `features[j]` (a code of `FEATURES`). A `point` detector that
  states what it expected writes `x[EXPECTS]`, `x[EXPECTED_MEAN]`, `x[EXPECTED_STD]` (the first
  one to do so is the one the band uses, as `Scorer` takes the first point detector with an
  expectation); a `long_memory` detector writes the evidence L of its score into
  `x[LONG_MEMORY_L]` (one long-memory detector at most: its evidence is added, not combined).

A step reads only `x`, its own fields and the window's (`window.fields`: the history the
features came from), so the order of the steps changes no score; it only decides which point
detector's expectation is the band's (the first).

`layout(modules, names)` checks the declarations and places every column: a module whose role
the combination has no weight for, a name declared twice, a detector the Python ensemble has
and the engine does not (or the other way round) is refused with ImportError at start-up,
never scored silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stream import scoring as scoring_py
from stream.detectors.base import ROLES

#: the features of a point, the numbers a step reads from `x` (and the few it writes)
(
    VALUE,  # the value
    SIGNAL,  # the value less its seasonal component
    EPOCH,  # its time, epoch seconds
    HOUR,  # its hour of the day, 0-23
    CENTER,  # the robust centre of the recent signals (the value itself before any)
    SPREAD,  # their robust spread (1 before any)
    LONG_SPREAD,  # the long-run standard deviation of the signals
    RESOLUTION,  # the series' resolution, 0 before two values differed
    HELD,  # recent signals the history holds
    LAG1,  # the value before (the value itself at a series' first point)
    LEVEL,  # (signal - centre) / spread
    CHANGE,  # (value - lag1) / spread
    VOLATILITY,  # the window's standard deviation / spread
    EXPECTS,  # written by a point detector: 1 where it states an expectation
    EXPECTED_MEAN,  # ... its expected signal
    EXPECTED_STD,  # ... and the spread about it
    LONG_MEMORY_L,  # written by the long-memory detector: its evidence L
) = range(17)
POINT = 17

#: what drove a score, the feature codes a step writes (`PointScore.driver` names them)
FEATURES = (
    "value",
    "level",
    "volatility",
    "stuck",
    "persistence",
    "change",
    "jump",
    "level5",
    "level20",
    "hour",
)
FEATURE = {name: code for code, name in enumerate(FEATURES)}

#: how the evidence of a role's detectors is combined (`scoring.ROLE_RULES`), as codes
MEDIAN, HIGHEST, LOWEST, ADDED = range(4)
_RULE_OF = {"median": MEDIAN, "max": HIGHEST, "min": LOWEST}


def _rule_code(role: str) -> int:
    if role == "long_memory":
        return ADDED
    rule = scoring_py.ROLE_RULES[role]
    return _RULE_OF[getattr(rule, "__name__", "")]


@dataclass(frozen=True)
class Layout:
    """Where each declared column goes, and what the combination knows of it; every array is
    indexed by the column's place in `names` (the Python ensemble's order, which the scores,
    the replay's CSV and the stored columns follow)."""

    #: the columns, in the order of the scores
    names: tuple[str, ...]
    #: the role of each column, as its index in `stream.detectors.base.ROLES`
    roles: np.ndarray
    #: each module's columns, flat in module order: `columns[starts[m]:starts[m + 1]]` are the
    #: places of module m's columns
    columns: np.ndarray
    starts: np.ndarray
    #: the long-memory column, -1 without one
    long_memory: int
    #: how each role's evidence is combined (MEDIAN, HIGHEST, LOWEST, ADDED), by role
    rules: np.ndarray
    #: each role's weight (`scoring.ROLE_WEIGHTS`), by role
    weights: np.ndarray


def layout(modules: Sequence, names: Sequence[str]) -> Layout:
    """The layout of `modules`' columns in the order of `names` (the Python ensemble's
    detectors). Raises ImportError where a declaration breaks the contract (see the module
    docstring)."""
    placed: dict[str, int] = {}
    roles = np.full(len(names), -1, dtype=np.int64)
    columns, starts = [], [0]
    for module in modules:
        for cls in module.COLUMNS:
            name, role = cls.name, cls.role
            if name in placed:
                raise ImportError(f"detector {name!r} is declared by two engine modules")
            if name not in names:
                raise ImportError(
                    f"the engine's {module.__name__} scores {name!r}, which the Python "
                    f"ensemble does not have ({', '.join(names)})"
                )
            if role not in ROLES or role not in scoring_py.ROLE_WEIGHTS:
                raise ImportError(
                    f"detector {name!r} has role {role!r}, which the combination has no weight "
                    f"for (weights: {sorted(scoring_py.ROLE_WEIGHTS)})"
                )
            if role != "long_memory" and role not in scoring_py.ROLE_RULES:
                raise ImportError(f"role {role!r} of {name!r} has no rule in scoring.ROLE_RULES")
            placed[name] = names.index(name)
            roles[placed[name]] = ROLES.index(role)
            columns.append(placed[name])
        starts.append(len(columns))
    missing = [name for name in names if name not in placed]
    if missing:
        raise ImportError(f"no engine module scores {', '.join(missing)}")
    long_memory = [i for i, r in enumerate(roles) if ROLES[r] == "long_memory"]
    if len(long_memory) > 1:
        raise ImportError(
            f"one long-memory detector at most, not {[names[i] for i in long_memory]}"
        )
    return Layout(
        names=tuple(names),
        roles=roles,
        columns=np.array(columns, dtype=np.int64),
        starts=np.array(starts, dtype=np.int64),
        long_memory=long_memory[0] if long_memory else -1,
        rules=np.array([_rule_code(role) for role in ROLES], dtype=np.int64),
        weights=np.array([scoring_py.ROLE_WEIGHTS.get(role, 0.0) for role in ROLES]),
    )


def work_offsets(modules: Sequence, window_size: int) -> np.ndarray:
    """Where each module's scratch lies in a point's work array for rows of `window_size`:
    module m's is `work[offsets[m]:offsets[m + 1]]`, whole float64 words (so a step may view
    its slice as 8-byte integers or bytes)."""
    offsets = [0]
    for module in modules:
        # each slice starts on a cache line (8 words)
        offsets.append(offsets[-1] + -(-int(module.work_size(window_size)) // 8) * 8)
    return np.array(offsets, dtype=np.int64)
