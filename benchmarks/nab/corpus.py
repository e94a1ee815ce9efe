"""Reads a NAB checkout's data, label windows and profiles (`--nab-dir`, default ../shared/nab)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

#: the corpus beside the repository (../shared/nab), the benchmarks' default `--nab-dir`
DEFAULT_NAB_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "nab"


@dataclass(frozen=True)
class DataFile:
    name: str  # "<category>/<file>.csv", as in the label files
    timestamps: list[datetime]
    values: list[float]
    windows: list[tuple[datetime, datetime]]


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.strip())


def load_profiles(nab_dir: Path) -> dict:
    return json.loads((nab_dir / "config" / "profiles.json").read_text())


def load_windows(nab_dir: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    raw = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    return {name: [(_parse(a), _parse(b)) for a, b in spans] for name, spans in raw.items()}


def load_corpus(nab_dir: Path) -> Iterator[DataFile]:
    windows = load_windows(nab_dir)
    for name in sorted(windows):
        with open(nab_dir / "data" / name, newline="") as f:
            rows = list(csv.DictReader(f))
        yield DataFile(
            name=name,
            timestamps=[_parse(r["timestamp"]) for r in rows],
            values=[float(r["value"]) for r in rows],
            windows=windows[name],
        )
