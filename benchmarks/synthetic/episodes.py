"""Episode precision, recall, F1 and detection delay: how an operator judges alerts.

An operator sees alarms, not points: consecutive alarms (gaps of at most `MERGE_GAP` points) are one
alert. An alert is true when one of its alarms falls inside a labelled episode, from its first point
to `TOLERANCE` points after its last (a stuck value or an outage is still being reported when it
ends); every other alert is false. An episode is found when an alarm falls inside it (with the
same tolerance); its delay is the points from its start to the first such alarm. Alarms in the
series' warm-up are not counted.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MERGE_GAP = 10
TOLERANCE = 10


@dataclass(frozen=True)
class Counts:
    episodes: int
    found: int
    alerts: int
    true_alerts: int
    delays: tuple[int, ...]
    found_by_kind: tuple[tuple[str, int, int], ...] = ()

    @property
    def recall(self) -> float:
        return self.found / self.episodes if self.episodes else 0.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_delay(self) -> float:
        return statistics.median(self.delays) if self.delays else float("nan")

    def __add__(self, other: Counts) -> Counts:
        kinds: dict[str, list[int]] = {}
        for kind, n, found in (*self.found_by_kind, *other.found_by_kind):
            k = kinds.setdefault(kind, [0, 0])
            k[0] += n
            k[1] += found
        return Counts(
            self.episodes + other.episodes,
            self.found + other.found,
            self.alerts + other.alerts,
            self.true_alerts + other.true_alerts,
            self.delays + other.delays,
            tuple((k, n, f) for k, (n, f) in sorted(kinds.items())),
        )


EMPTY = Counts(0, 0, 0, 0, ())


def count(
    scores: Sequence[float],
    episodes: Sequence[tuple[str, int, int]],
    threshold: float,
    scored_from: int = 0,
) -> Counts:
    """Alerts and found episodes of one series at `threshold`; `episodes`: (kind, start, end).

    >>> c = count([0, 0.9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.8, 0], [("spike", 13, 13)], 0.7)
    >>> c.alerts, c.true_alerts, c.found, c.delays
    (2, 1, 1, (0,))
    """
    alarms = [i for i in range(scored_from, len(scores)) if scores[i] >= threshold]
    spans = [(start, end + TOLERANCE) for _, start, end in episodes]
    alerts = true_alerts = 0
    group: list[int] = []
    for i in [*alarms, None]:
        if group and (i is None or i - group[-1] > MERGE_GAP):
            alerts += 1
            true_alerts += any(a <= j <= b for j in group for a, b in spans)
            group = []
        if i is not None:
            group.append(i)
    delays = []
    kinds: dict[str, list[int]] = {}
    for kind, start, end in episodes:
        hits = [i for i in alarms if start <= i <= end + TOLERANCE]
        k = kinds.setdefault(kind, [0, 0])
        k[0] += 1
        if hits:
            k[1] += 1
            delays.append(hits[0] - start)
    return Counts(
        episodes=len(episodes),
        found=len(delays),
        alerts=alerts,
        true_alerts=true_alerts,
        delays=tuple(delays),
        found_by_kind=tuple((k, n, f) for k, (n, f) in sorted(kinds.items())),
    )
