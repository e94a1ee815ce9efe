"""Trained models: built from history, saved as versioned snapshots, listed, loaded by workers.

A model of type `anomaly_detection` is the warmed-up state of every series it was trained on: the
history of each series replayed through the streaming scorer (its compiled engine), so a worker
that adopts it scores that series from then on as if it had streamed all of that history, with
seasonal profiles and detector windows already learnt. A snapshot is one gzip'd JSON-lines file
under `MODELS_DIR/<type>/<version>.jsonl.gz` (a header line, then one line per series), described by
a row of `model_metadata`; training makes the new version the active one.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from stream.errors import EmsMlError
from stream.history import History
from stream.scoring import Scorer

MODEL_TYPE = "anomaly_detection"


class TrainingError(EmsMlError):
    """The history cannot train a model; the message names the series and why."""


@dataclass
class TrainedModel:
    version: str
    states: dict[str, dict]  # series key -> SeriesState.to_dict()
    samples: int
    parameters: dict
    quality: dict = field(default_factory=dict)


def new_version(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"ad-{now:%Y%m%dT%H%M%S}-{os.urandom(2).hex()}"


def check_history(history: History, min_samples: int) -> History:
    """`history` if it can train; else raises TrainingError naming every offending series
    (too few points, or a value NaN or infinite), in the order of their keys."""
    if not len(history):
        raise TrainingError("no metrics in the requested range")
    counts = np.bincount(history.series, minlength=len(history.assets))
    bad = np.bincount(history.series[~np.isfinite(history.values)], minlength=len(counts))
    problems = []
    for key, n, nonfinite in sorted(zip(history.keys, counts.tolist(), bad.tolist(), strict=True)):
        if nonfinite:
            problems.append(f"{key}: {nonfinite} NaN or infinite values")
        elif n < min_samples:
            problems.append(f"{key}: {n} points, fewer than {min_samples}")
    if problems:
        raise TrainingError("cannot train on " + "; ".join(problems))
    return history


def train(
    history: History,
    scorer: Scorer,
    *,
    contamination: float,
    version: str | None = None,
) -> TrainedModel:
    """Replay each series' `history` (checked by `check_history`) through `scorer` (its compiled
    engine, `ensemble.engine_for`, which gives its verdicts), in time order; the end states are
    the model.

    Quality figures: points and anomalies seen, the anomaly rate, score quantiles, and the
    threshold that would flag the top `contamination` share of the training points.
    """
    from stream.engine import combine
    from stream.ensemble import engine_for

    version = version or new_version()
    # In time order, equal times in the order read: numpy sorts with the GIL released, where
    # sorting Python rows held it for 0.2 s a million points and the API's requests waited.
    order = np.argsort(history.micros, kind="stable")
    engine = engine_for(scorer)
    verdicts = engine.score_batch(
        history.per_point(history.keys, order),
        history.values[order],
        history.epochs()[order],
        history.per_point(history.metrics, order),
    ).verdicts
    # a duplicate timestamp in the history is refused: not learnt twice
    learnt = verdicts[verdicts[:, combine.REFUSED] != verdicts[:, combine.REFUSED]]
    scores = learnt[:, combine.SCORE]
    anomalies = int((learnt[:, combine.IS_ANOMALY] > 0).sum())
    samples = len(history)
    # stream positions (partition, offset) belong to the live state: a dump has none
    states = {key: engine.dump(key, model_version=version) for key in history.keys}
    q = np.quantile(scores, [0.5, 0.95, 0.99, 1 - contamination]) if scores.size else [0.0] * 4
    return TrainedModel(
        version=version,
        states={key: state.to_dict() for key, state in states.items()},
        samples=samples,
        parameters={
            "detectors": [d.name for d in scorer.detectors],
            "role_weights": scorer.role_weights,
            "window_size": scorer.window_size,
            "warmup_points": scorer.warmup_points,
            "base_version": scorer.model_version,
        },
        quality={
            "series": len(states),
            "anomalies": anomalies,
            "anomaly_rate": anomalies / samples if samples else 0.0,
            "score_p50": float(q[0]),
            "score_p95": float(q[1]),
            "score_p99": float(q[2]),
            "threshold_at_contamination": float(q[3]),
            "contamination": contamination,
        },
    )


def save(model: TrainedModel, models_dir: Path) -> Path:
    path = snapshot_path(models_dir, model.version)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with gzip.open(partial, "wt") as f:
        header = {"version": model.version, "type": MODEL_TYPE, "parameters": model.parameters}
        f.write(json.dumps(header) + "\n")
        for key, state in model.states.items():
            f.write(json.dumps({"series": key, "state": state}) + "\n")
    partial.rename(path)  # a worker never sees half a file
    return path


def snapshot_path(models_dir: Path, version: str) -> Path:
    """Where a version's snapshot lives under `MODELS_DIR` (as `save` writes it)."""
    return models_dir / MODEL_TYPE / f"{version}.jsonl.gz"


def locate(models_dir: Path, version: str, recorded: str | None) -> Path:
    """The snapshot of `version`: under this process's `MODELS_DIR`, else at the path the trainer
    recorded (which may be relative to another working directory). Raises FileNotFoundError
    naming both."""
    own = snapshot_path(models_dir, version)
    if own.is_file():
        return own
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    raise FileNotFoundError(f"no snapshot of model {version} at {own} (nor at {recorded})")


def load(path: Path) -> tuple[dict, dict[str, dict]]:
    """(header, series key -> state dict) of a saved snapshot."""
    with gzip.open(path, "rt") as f:
        header = json.loads(f.readline())
        states = {}
        for line in f:
            item = json.loads(line)
            states[item["series"]] = item["state"]
    return header, states


async def register(conn: AsyncConnection, model: TrainedModel, path: Path) -> None:
    """Record the model and make it the active version of its type, in one transaction."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE model_metadata SET is_active = false WHERE model_type = %s AND is_active",
            (MODEL_TYPE,),
        )
        await conn.execute(
            "INSERT INTO model_metadata (model_type, version, series, samples, parameters, "
            "quality, path, is_active) VALUES (%s, %s, %s, %s, %s, %s, %s, true)",
            (
                MODEL_TYPE,
                model.version,
                ",".join(sorted(model.states))[:10_000],
                model.samples,
                Jsonb(model.parameters),
                Jsonb(model.quality),
                str(path),
            ),
        )


async def active(conn: AsyncConnection) -> tuple[str, str] | None:
    """(version, path) of the active model, if any."""
    cur = await conn.execute(
        "SELECT version, path FROM model_metadata WHERE model_type = %s AND is_active "
        "ORDER BY trained_at DESC LIMIT 1",
        (MODEL_TYPE,),
    )
    return await cur.fetchone()
