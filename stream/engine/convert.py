"""A series' row to the Python scorer's `SeriesState` and back, field for field.

What the service stores and trains is a `SeriesState` (`stream.state_codec`, `models_store`), so
the engine takes one in (`load`) and gives one back (`dump`) with every number the Python
scorer would hold: the same state scores on either side the same (`tests/unit/engine`). The
trained model a state came from (`model_version`) is not part of the row: the caller keeps it.
"""

from __future__ import annotations

import math

import numpy as np

from stream import scoring as scoring_py
from stream.detectors import flatline as flatline_py
from stream.engine import forecast, tails
from stream.features import SeriesState

_PERIODS = ("daily", "weekly")
_PROFILE = {None: -1, "daily": 0, "weekly": 1}
_PROFILE_NAME = {-1: None, 0: "daily", 1: "weekly"}
_FORECAST_PROFILE = {**_PROFILE, "phasing in": forecast.PROFILE_PHASING}
_FORECAST_PROFILE_NAME = {v: k for k, v in _FORECAST_PROFILE.items()}
_OFFSET = (0, 24)
_TREND = ("s0", "st", "stt", "sy", "sty", "syy", "q0", "qt", "qtt")


def _none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def season_of(row: np.void) -> dict:
    """The row's seasonal profiles, as `SeriesState.season` holds them."""
    # each field read once and as Python numbers: a field of a row read element by element
    # costs about a microsecond a read (this runs for every bounded series a batch scores)
    m, w = row["season_m"], row["season_w"]
    per_period = {
        key: row[f"season_{key}"].tolist() for key in ("s", "ready", "res_s", "res_l", "tot", "t")
    }
    season: dict = {}
    for p, period in enumerate(_PERIODS):
        lo, hi = _OFFSET[p], _OFFSET[p] + (24 if p == 0 else 168)
        season[period] = {
            "m": m[lo:hi].copy(),
            "w": w[lo:hi].copy(),
            "s": float(per_period["s"][p]),
            "ready": bool(per_period["ready"][p]),
            "res_s": float(per_period["res_s"][p]),
            "res_l": float(per_period["res_l"][p]),
            "tot": float(per_period["tot"][p]),
            "t": int(per_period["t"][p]),
        }
    interval, last, active, previous, mix = row[_SEASON_SCALARS].item()
    season.update(
        interval=float(interval),
        last=_none(last),
        active=_PROFILE_NAME[int(active)],
        previous=_PROFILE_NAME[int(previous)],
        mix=float(mix),
    )
    return season


_SEASON_SCALARS = [
    "season_interval",
    "season_last",
    "season_active",
    "season_previous",
    "season_mix",
]
_TREND_FIELDS = ["trend_last", "trend_first", *(f"trend_{key}" for key in _TREND)]


def trend_of(row: np.void) -> dict:
    """The row's capacity line, as `SeriesState.trend` holds it."""
    return _trend(row[_TREND_FIELDS].item())  # one read of the fields, not one each


_TREND_NAMES = ("last", "first", *_TREND)


def _trend(values: tuple[float, ...]) -> dict:
    """The line as `SeriesState.trend` holds it, from its fields' values (Python floats, in
    `_TREND_FIELDS` order): an end not seen yet (NaN) is None."""
    trend = dict(zip(_TREND_NAMES, values, strict=True))
    for end in ("last", "first"):
        if trend[end] != trend[end]:
            trend[end] = None
    return trend


def dump(row: np.void, model_version: str | None = None) -> SeriesState:
    """The `SeriesState` the Python scorer would hold after the same points."""
    if not row["count"]:
        return SeriesState(model_version=model_version)
    season = season_of(row)
    tail = {}
    for c, channel in enumerate(tails.CHANNELS):
        if not row["tail_has"][c]:
            continue
        tail[channel] = {
            key: (float if key in "umq" else int)(row[f"tail_{key}"][c])
            for key in ("u", "m", "q", "n", "k", "quiet")
        }
        if channel in scoring_py.RUN_ROLES:
            tail[channel]["cmax"] = float(row["tail_cmax"][c])
    count = int(row["count"])
    ew = {name: _ew(row, name) for name in ("zscore", "shift", "volatility")}
    ew["volatility"]["magnitude"] = _none(row["volatility_magnitude"])
    held = int(row["pattern_held"])
    has_mem, has_cur = bool(row["record_has_mem"]), bool(row["record_has_cur"])
    detectors = {
        "zscore": ew["zscore"],
        "mad": {},
        "iqr": {},
        "shift": ew["shift"],
        "volatility": ew["volatility"],
        "flatline": {
            "p": float(row["flatline_p"]),
            "run": int(row["flatline_run"]),
            "n": int(row["flatline_n"]),
            "c": float(row["flatline_c"]),
            "m": int(row["flatline_m"]),
            "reached": row["flatline_reached"].tolist(),
            "at": row["flatline_at"].tolist(),
        },
        "hst": {
            "r": row["hst_r"].copy(),
            "l": row["hst_l"].copy(),
            "k": int(row["hst_k"]),
            "ready": bool(row["hst_ready"]),
            "n": int(row["hst_n"]),
            "mean": float(row["hst_mean"]),
            "var": float(row["hst_var"]),
        },
        "pattern": {
            "mem": row["pattern_mem"][:held].copy(),
            "n": int(row["pattern_n"]),
            "cn": int(row["pattern_cn"]),
            "mean": float(row["pattern_mean"]),
            "var": float(row["pattern_var"]),
        },
        "record": {
            "hi": row["record_hi"].copy(),
            "lo": row["record_lo"].copy(),
            "slot": int(row["record_slot"]),
            "mem_hi": row["record_mem_hi"].tolist() if has_mem else [],
            "mem_lo": row["record_mem_lo"].tolist() if has_mem else [],
            "cur_hi": row["record_cur_hi"].tolist() if has_cur else [],
            "cur_lo": row["record_cur_lo"].tolist() if has_cur else [],
            "n": int(row["record_n"]),
            "recent": row["record_recent"][: int(row["record_recent_n"])].tolist(),
            "by_hour": row["record_by_hour"].copy(),
            "counted": bool(row["record_counted"]),
            "block": int(row["record_block"]),
            "fill": int(row["record_fill"]),
        },
    }
    n = int(row["forecast_n"])
    fc = {
        "profile": _FORECAST_PROFILE_NAME.get(int(row["forecast_profile"])),
        "wake": int(row["forecast_wake"]),
        "level": row["forecast_level"].tolist(),
        "trend": row["forecast_trend"].tolist(),
        "n": n,
        "checks": row["forecast_checks"].tolist(),
        "mse": row["forecast_mse"].tolist(),
        "mae": row["forecast_mae"].tolist(),
        "next": row["forecast_next"].tolist(),
        "due": row["forecast_due"].tolist(),
        "base": row["forecast_base"].tolist(),
    }
    trend = trend_of(row)
    return SeriesState(
        count=count,
        window=row["win"][: int(row["win_n"])].tolist(),
        history=row["hist"][: int(row["hist_n"])].tolist(),
        season=season,
        peak=float(row["peak"]),
        evidence=row["evidence"][: int(row["evidence_n"])].tolist(),
        tail=tail,
        long_run={
            "n": int(row["long_n"]),
            "mean": float(row["long_mean"]),
            "var": float(row["long_var"]),
        },
        model_version=model_version,
        last_ts_ms=int(row["last_ms"]),
        resolution=_none(row["resolution"]),
        forecast=fc,
        trend=trend,
        partition=None if row["partition"] < 0 else int(row["partition"]),
        offset=None if row["offset"] < 0 else int(row["offset"]),
        detectors=detectors,
    )


def _ew(row: np.void, name: str) -> dict:
    return {
        "n": int(row[f"{name}_n"]),
        "mean": float(row[f"{name}_mean"]),
        "var": float(row[f"{name}_var"]),
    }


def load(state: SeriesState, row: np.void) -> None:
    """Fill `row` (a fresh one, at its initial values) from `state`, as stored by the Python
    scorer or `dump`. Raises ValueError on a state this engine cannot hold (a window or history
    longer than its rings, a record memory stored before it grew), KeyError on one that lacks a
    detector of the ensemble."""
    row["count"] = state.count
    _ring(row, "win", state.window)
    _ring(row, "hist", state.history)
    row["hist_sorted"][: len(state.history)] = sorted(state.history)
    row["resolution"] = _nan(state.resolution)
    row["long_n"], row["long_mean"], row["long_var"] = (
        state.long_run["n"],
        state.long_run["mean"],
        state.long_run["var"],
    )
    if state.last_ts_ms is not None:
        row["last_ms"] = state.last_ts_ms
    row["partition"] = -1 if state.partition is None else state.partition
    row["offset"] = -1 if state.offset is None else state.offset
    row["peak"] = state.peak
    _ring(row, "evidence", state.evidence)
    if state.season is not None:
        _load_season(state.season, row)
    for c, channel in enumerate(tails.CHANNELS):
        t = (state.tail or {}).get(channel)
        if t is None:
            continue
        row["tail_has"][c] = 1
        for key in ("u", "m", "q", "n", "k", "quiet"):
            row[f"tail_{key}"][c] = t[key]
        row["tail_cmax"][c] = t.get("cmax", 0.0)
    if state.detectors:
        _load_detectors(state.detectors, row)
    if state.forecast is not None:
        _load_forecast(state.forecast, row)
    if state.trend is not None:
        row["trend_last"], row["trend_first"] = (
            _nan(state.trend["last"]),
            _nan(state.trend.get("first")),
        )
        for key in _TREND:
            row[f"trend_{key}"] = state.trend[key]


def _ring(row: np.void, name: str, values: list[float]) -> None:
    size = row[name].shape[0]
    if len(values) > size:
        raise ValueError(f"a state's {name} holds {len(values)} values, the engine's {size}")
    row[name][: len(values)] = values
    row[f"{name}_n"] = len(values)


def _load_season(season: dict, row: np.void) -> None:
    for p, period in enumerate(_PERIODS):
        profile = season[period]
        lo = _OFFSET[p]
        row["season_m"][lo : lo + len(profile["m"])] = profile["m"]
        row["season_w"][lo : lo + len(profile["w"])] = profile["w"]
        for key in ("s", "res_s", "res_l", "tot", "t"):
            row[f"season_{key}"][p] = profile[key]
        row["season_ready"][p] = profile["ready"]
    row["season_interval"] = season["interval"]
    row["season_last"] = _nan(season["last"])
    row["season_active"] = _PROFILE[season["active"]]
    row["season_previous"] = _PROFILE[season["previous"]]
    row["season_mix"] = season["mix"]


def _load_detectors(detectors: dict, row: np.void) -> None:
    for name in ("zscore", "shift", "volatility"):
        for key in ("n", "mean", "var"):
            row[f"{name}_{key}"] = detectors[name][key]
    row["volatility_magnitude"] = _nan(detectors["volatility"]["magnitude"])
    f = detectors["flatline"]
    if "reached" not in f:  # a state stored by ensemble-v6 (`FlatlineDetector.score_one`)
        f = {**f, **flatline_py._run_fields(f["p"])}
    for key in ("p", "run", "n", "c", "m", "reached", "at"):
        row[f"flatline_{key}"] = f[key]
    h = detectors["hst"]
    for key in ("r", "l", "k", "ready", "n", "mean", "var"):
        row[f"hst_{key}"] = h[key]
    pt = detectors["pattern"]
    held = len(pt["mem"])
    row["pattern_mem"][:held] = pt["mem"]
    row["pattern_held"] = held
    for key in ("n", "cn", "mean", "var"):
        row[f"pattern_{key}"] = pt[key]
    rec = detectors["record"]
    if "block" not in rec:
        raise ValueError("a record state stored before its memory grew (ensemble-v7 or older)")
    for key in ("hi", "lo", "slot", "n", "by_hour", "counted", "block", "fill"):
        row[f"record_{key}"] = rec[key]
    if rec["mem_hi"]:
        row["record_mem_hi"], row["record_mem_lo"], row["record_has_mem"] = (
            rec["mem_hi"],
            rec["mem_lo"],
            1,
        )
    if rec["cur_hi"]:
        row["record_cur_hi"], row["record_cur_lo"], row["record_has_cur"] = (
            rec["cur_hi"],
            rec["cur_lo"],
            1,
        )
    _ring(row, "record_recent", rec["recent"])


def _load_forecast(fc: dict, row: np.void) -> None:
    row["forecast_profile"] = _FORECAST_PROFILE[fc["profile"]]
    row["forecast_wake"] = fc.get("wake", 0)
    for key in ("level", "trend", "n", "checks", "mse", "next", "due", "base"):
        row[f"forecast_{key}"] = fc[key]
    if "mae" in fc:
        row["forecast_mae"] = fc["mae"]
