"""The engine's detectors: the one list a compiled detector joins.

A new detector is one module under `stream/detectors/` with its role, one line in
`stream.ensemble.detectors()`, and, while both scorers run, its compiled twin: one module here
that keeps the contract (`contract`) and one line in `MODULES`. The scoring loop
(`core._score_rows`) and the combination (`combine`) read the layout, never a detector's name.
"""

from __future__ import annotations

from stream.engine import contract, ewz, flatline, hst, pattern, record, robust
from stream.ensemble import detectors

#: the engine's detector modules, each declaring its columns, fields, scratch and step
MODULES = (ewz, robust, flatline, hst, pattern, record)
#: their steps, in the order of `MODULES` (the loop calls each in turn)
STEPS = tuple(module.step for module in MODULES)
#: the columns of the scores, in the Python ensemble's order (the replay's CSV and the stored
#: columns follow it)
DETECTORS = tuple(d.name for d in detectors())
LAYOUT = contract.layout(MODULES, DETECTORS)
