"""Record detector: does the series go somewhere it has not been for weeks?

Every other detector judges a point against recent memory (about 330 points for the EW
z-scores, 64 for MAD and IQR), so a burst that recurs every few days looks new each time and a
slow drift to a level last seen a month ago does not look new at all. This one has a long memory
and a plain question: is the measurement *beyond every value of its kind in its memory*? For data
with no trend, the chance that the newest of n points is a new high or low is 2/n, so records are
rare by construction, on any scale.

The memory grows with the series: `n_blocks x block_size` points at first (8,192 by default: 28
days at 5-minute intervals, under 6 at 1 minute), and at least half the series' life once it is
older than twice that. A memory of fixed length makes a record every n / 2 points however long the
series has behaved (at 1-minute data one every 3 days per series, on noise alone); one that grows
with the series makes them rarer the longer it behaves, and each is worth more (`l_value`), while
an extreme of long ago still leaves the memory in time. When the ring of blocks is full and holds
under half the series' life, each pair of neighbouring blocks is merged into one of twice the size
(highest of the highs, lowest of the lows), which frees half the ring and keeps every extreme.

Five measurements are followed, each of raw values (records of a deseasonalised signal were worse
on NAB: the seasonal profile itself drifts): the value, the level of the last 5 and of the last
20 values, the jump from the previous value, and the value at its hour of the day ("never this
high at 03:00": against everything ever seen at that hour of the timestamp's day, once the hour
has 30 values; this one never forgets). The score is
the weighted share of them at a record (`MEASURES`), in [0, 1]: the value weighs as much as the
three others of its kind together, since a value beyond its range is the plainest sign (on NAB,
ranked by how far they pass the old extreme, the records of the value alone score 59; those of
the 5- and 20-point levels and of the jump 47, 38 and 50; adding the hour of day took the
ensemble from 67.5 to 68.4).

State is small although the memory is long: per measurement, the highest and lowest value of each
finished block (of `block_size` points at first, doubling as the memory grows), in a ring of
`n_blocks` blocks, and of the block filling now. At the defaults that is 4 x 2 x 32 float64 =
2 KB, plus the last 20 values for the levels and 24 x 3 float64 (highest, lowest, count) for the
hours: about 4.5 KB as JSON, whatever the memory's length.

A series whose memory is flat (highest = lowest) has no records: the first wobble of a gauge that
never moved is the z-score detectors' to judge, with their spread floor. The value must clear its
old range by 5% of that range (`VALUE_TOLERANCE`): a new extreme by a hair is what noise makes
now and then.

No record counts before `warmup` points (256), since among n points a record by luck has a chance
of about 2/n, nor before the series has been seen at every hour of the day, since on the first day
of a daily shape every rise is a new high. Until then the detector scores 0, and the scorer
judges the series on its other evidence.

>>> from stream.features import window_features
>>> d = RecordDetector(block_size=4, n_blocks=4, warmup=8)
>>> s = d.new_state()
>>> previous = None
>>> for v in [5.0, 6.0, 4.0, 5.5] * 4:
...     x = window_features(v, [] if previous is None else [previous])
...     d.learn_one(s, x)
...     previous = v
>>> d.score_one(s, window_features(5.0, [previous]))
0.0
>>> spike = window_features(9.0, [previous])
>>> round(d.score_one(s, spike), 2)  # the value, the 5-point level and the jump are records
0.71
>>> d.driver(spike)
'value'
"""

from __future__ import annotations

import math

import numpy as np

from stream.features import Features

#: measurement -> weight in the score (the weights sum to 1); "hour": the value at its hour of day
MEASURES = {"value": 3 / 7, "level5": 1 / 7, "jump": 1 / 7, "level20": 1 / 7, "hour": 1 / 7}
_NAMES = tuple(MEASURES)
_WEIGHTS = tuple(MEASURES[m] for m in _NAMES)
_BLOCKED = 4  # the first four measurements are remembered in blocks; "hour" per hour of day
_RECENT = 20  # values kept for the longest level
#: values an hour of the day needs before a value beyond its range there counts as a record
HOUR_MIN_OBSERVATIONS = 30
#: how far beyond its remembered range, as a share of that range, the value must go to be a
#: record (NAB's Numenta detector uses the same 5% for its "spatial" anomalies): on noise, a new
#: extreme by a hair comes with the chance 2/n by construction; one that clears the range by 5%
#: is far rarer (`benchmarks.false_alarms`: 3 alarms at 0.7 instead of 22 on 3 x 20,000 points
#: of Gaussian noise; NAB 71.6 -> 71.5)
VALUE_TOLERANCE = 0.05


class RecordDetector:
    """Share of the series' measurements that lie beyond their long-memory range."""

    name = "record"
    role = "long_memory"

    def __init__(self, *, block_size: int = 256, n_blocks: int = 32, warmup: int = 256) -> None:
        if block_size < 1 or n_blocks < 2 or n_blocks % 2:
            raise ValueError("block_size must be at least 1, n_blocks even and at least 2")
        self.block_size, self.n_blocks, self.warmup = block_size, n_blocks, warmup
        # (features, measurements, records) of the last score_one: learn_one reuses them
        self._last: tuple[Features, list[float], list[bool]] | None = None
        # (features, records) of the last score_one, kept after learning for `driver`
        self._explained: tuple[Features, list[bool]] | None = None

    def new_state(self) -> dict:
        # hi/lo: per measurement (rows) and finished block (columns, a ring; `slot` is the next
        # to overwrite), the block's extremes; mem_hi/mem_lo: their extremes over the ring
        # (recomputed when a block is done, so that a point need not scan the ring);
        # cur_hi/cur_lo: the extremes of the block filling now ([] when it is empty); n: points
        # learnt; recent: the last values, oldest first; by_hour: per hour of the day (columns)
        # the highest and lowest value and the count; counted: records have counted (`ready`);
        # block: the points of a block now; fill: the points of the block filling now (states
        # stored before the memory grew lack both: `_block_fill` reads them).
        shape = (_BLOCKED, self.n_blocks)
        by_hour = np.zeros((3, 24))
        by_hour[0], by_hour[1] = -np.inf, np.inf
        return {
            "hi": np.full(shape, -np.inf),
            "lo": np.full(shape, np.inf),
            "slot": 0,
            "mem_hi": [],
            "mem_lo": [],
            "cur_hi": [],
            "cur_lo": [],
            "n": 0,
            "recent": [],
            "by_hour": by_hour,
            "counted": False,
            "block": self.block_size,
            "fill": 0,
        }

    def _block_fill(self, state: dict) -> tuple[int, int]:
        """The block size and the points in the block filling now; for a state stored before the
        memory grew, what its fixed blocks imply."""
        if "block" in state:
            return state["block"], state["fill"]
        return self.block_size, state["n"] % self.block_size

    @staticmethod
    def _filled(state: dict) -> int:
        """The finished blocks in the ring (an empty slot's highest value is -inf)."""
        return int(np.isfinite(state["hi"][0]).sum())

    @staticmethod
    def measurements(state: dict, x: Features) -> list[float]:
        """Value, level of the last 5, jump from the previous value, level of the last 20."""
        recent = [*state["recent"][-(_RECENT - 1) :], x.value]
        last5 = recent[-5:]
        return [
            x.value,
            math.fsum(last5) / len(last5),
            x.value - x.lag1,
            math.fsum(recent) / len(recent),
        ]

    def ready(self, state: dict) -> bool:
        """Whether the memory is long enough for a record to mean something: `warmup` points
        (among n points, a record by luck has a chance of about 2/n) and, where the points have
        timestamps, every hour of the day (in the first day of a daily-shaped series every rise
        makes a new high; that is no news)."""
        if state["counted"]:
            return True  # once ready, always: the memory only grows until it is full
        if state["n"] < self.warmup:
            return False
        seen = state["by_hour"][2]
        return bool(seen.all() or not seen.any())

    def _records(self, state: dict, m: list[float], hour: int) -> list[bool]:
        if not self.ready(state):
            return [False] * len(_NAMES)
        # plain floats: for five numbers a point, numpy's per-call cost would dominate
        his = [h for h in (state["mem_hi"], state["cur_hi"]) if h]
        los = [lo for lo in (state["mem_lo"], state["cur_lo"]) if lo]
        records = []
        for i, v in enumerate(m):
            hi, lo = max(h[i] for h in his), min(lo[i] for lo in los)
            margin = VALUE_TOLERANCE * (hi - lo) if i == 0 else 0.0
            records.append(hi > lo and (v > hi + margin or v < lo - margin))
        records.append(self._hour_record(state, m[0], hour))
        return records

    @staticmethod
    def _hour_record(state: dict, value: float, hour: int) -> bool:
        if hour < 0:
            return False
        hi, lo, count = state["by_hour"][:, hour].tolist()
        return count >= HOUR_MIN_OBSERVATIONS and hi > lo and (value > hi or value < lo)

    def _measure(self, state: dict, x: Features) -> tuple[list[float], list[bool]]:
        if self._last is not None and self._last[0] is x:
            return self._last[1], self._last[2]
        m = self.measurements(state, x)
        records = self._records(state, m, x.hour)
        self._last = (x, m, records)
        return m, records

    def score_one(self, state: dict, x: Features) -> float:
        _, records = self._measure(state, x)
        self._explained = (x, records)
        return math.fsum(w for w, r in zip(_WEIGHTS, records, strict=True) if r)

    def learn_one(self, state: dict, x: Features) -> None:
        m, _ = self._measure(state, x)
        self._last = None
        if not state["counted"] and self.ready(state):
            state["counted"] = True
        if state["cur_hi"]:
            state["cur_hi"] = [max(a, b) for a, b in zip(state["cur_hi"], m, strict=True)]
            state["cur_lo"] = [min(a, b) for a, b in zip(state["cur_lo"], m, strict=True)]
        else:
            state["cur_hi"], state["cur_lo"] = list(m), list(m)
        if x.hour >= 0:
            at_hour = state["by_hour"][:, x.hour]
            at_hour[0], at_hour[1] = max(at_hour[0], x.value), min(at_hour[1], x.value)
            at_hour[2] += 1
        block, fill = self._block_fill(state)
        state["n"] += 1
        state["recent"] = [*state["recent"][-(_RECENT - 1) :], x.value]
        fill += 1
        if fill == block:
            # the block is done: it takes the place of the oldest in the ring
            slot = state["slot"]
            state["hi"][:, slot], state["lo"][:, slot] = state["cur_hi"], state["cur_lo"]
            state["slot"] = (slot + 1) % self.n_blocks
            state["cur_hi"], state["cur_lo"] = [], []
            fill = 0
            full = self._filled(state) == self.n_blocks
            if full and state["n"] >= 2 * self.n_blocks * block:
                block = self._merge_pairs(state, block)
            state["mem_hi"] = state["hi"].max(axis=1).tolist()
            state["mem_lo"] = state["lo"].min(axis=1).tolist()
        state["block"], state["fill"] = block, fill

    def _merge_pairs(self, state: dict, block: int) -> int:
        """Merges each pair of neighbouring blocks of the full ring into one of twice the size,
        oldest first, into the first half of the ring; returns the new block size."""
        order = [(state["slot"] + j) % self.n_blocks for j in range(self.n_blocks)]
        half = self.n_blocks // 2
        for key, merge, empty in (("hi", np.maximum, -np.inf), ("lo", np.minimum, np.inf)):
            ring = state[key][:, order]
            state[key][:, :half] = merge(ring[:, 0::2], ring[:, 1::2])
            state[key][:, half:] = empty
        state["slot"] = half
        return 2 * block

    def memory(self, state: dict) -> int:
        """The points the memory is worth: those of the ring's finished blocks, or the ring's
        first capacity (`n_blocks x block_size`) if more, as before the memory grew, and never
        more than the series' age."""
        block, _ = self._block_fill(state)
        return min(state["n"], max(self._filled(state) * block, self.n_blocks * self.block_size))

    def l_value(self, state: dict, score: float) -> float:
        """Score as evidence, -log10 of a probability: a record among n points of a series with no
        trend happens by chance 2/n, so a full record is worth log10(n / 2), n the memory's length.
        """
        if score <= 0.0:
            return 0.0
        return score * math.log10(max(self.memory(state), 2) / 2)

    def driver(self, x: Features) -> str:
        """The weightiest measurement at a record when `x` was scored ("value" if none was)."""
        if self._explained is not None and self._explained[0] is x and any(self._explained[1]):
            records = self._explained[1]
            return max(
                (w, name) for w, name, r in zip(_WEIGHTS, _NAMES, records, strict=True) if r
            )[1]
        return "value"
