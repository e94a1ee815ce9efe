"""Per-series tail calibration: a score means the same false-alarm rate on every series.

The detectors state their evidence as L = -log10 of a tail probability computed as if the series'
noise were Gaussian. Real metrics have heavier tails (latency, loss, request rates): there, z = 4
comes far more often than once in 16,000 points, and a fixed threshold would alarm too often on
exactly the series operators learn to ignore. This module learns each series' own tail of L and
maps the evidence to the probability the series itself gives it, the peaks-over-threshold way
(Siffer et al., "Anomaly detection in streams with extreme value theory", KDD 2017): above its
99th percentile u, the excess L - u is modelled as a generalised Pareto distribution, whose shape
xi and scale sigma follow in closed form from the median (m) and the 75th percentile (q) of the
excess: xi = log2(q / m - 1), sigma = m xi / (2^xi - 1). Then, for L above u,

    L_cal = -log10(0.01) + log10(1 + xi (L - u) / sigma) / xi

Gaussian evidence is -log10 of a uniform p, so its excess is exponential (xi = 0, q = 2 m) and
L_cal = L: that is the prior every series starts from, so a new series is scored as before,
without a warm-up. Noise with power-law tails (Student-t with nu degrees of freedom) gives
xi = 2 / nu, and z = 4 is then worth what it is worth there. Percentiles, not means: a burst that
recurs every day is a minority of the excesses and does not teach the series that bursts are
normal. The 99th percentile, not a lower one, because the evidence of heavy-tailed noise
reaches its power-law tail only far out: fitted from the 95th percentile, the shape came out too
light and Student-t noise alarmed several times as often as promised. The calibrated evidence
is never above the raw one (`calibrate` takes the lower): a series with light tails is not made
more sensitive than the Gaussian promise.

The percentiles are tracked by stochastic approximation on their logarithms (a few numbers of
state), with steps that shrink from large to `STEP` as the series is seen, so a series settles
within a few thousand points and one extreme point moves them little.

>>> import random
>>> rng, t = random.Random(3), new_tail()
>>> for _ in range(20000):  # Laplace noise: far heavier tails than its z-scores promise
...     from stream.detectors.calibration import neg_log10_tail
...     learn(t, neg_log10_tail(rng.expovariate(1.0) * rng.choice((-1, 1)) / 1.4142))  # var 1
>>> raw = neg_log10_tail(4.0)  # z = 4: 1 in 16,000 if Gaussian, 1 in 290 (L 2.46) if Laplace
>>> round(raw, 1), round(calibrate(t, raw), 1)
(4.2, 2.5)
"""

from __future__ import annotations

import math

#: the share of points above the base percentile u
TAIL_SHARE = 0.01
_L_TAIL = -math.log10(TAIL_SHARE)
_LN2, _LN10 = math.log(2), math.log(10)
#: the Gaussian prior: u where P(L > u) = 1%; the median and 75th percentile of an exponential
#: excess of mean 1 / ln 10
_PRIOR_U = _L_TAIL
_PRIOR_MEDIAN = _LN2 / _LN10
_PRIOR_Q75 = 2 * _PRIOR_MEDIAN
#: the smallest step of a percentile's logarithm (so a burst moves it little)
STEP = 0.01
#: points without an alarm that end an episode of alarms (a spike train is one episode)
EPISODE_GAP = 6
#: the largest tail shape believed (xi = 2 / nu for Student-t noise: nu = 4/3 at 1.5)
MAX_SHAPE = 1.5


def new_tail() -> dict:
    """u: the 99th percentile of L; m, q: the median and 75th percentile of the excess over u;
    n: points learnt; k: excesses learnt; quiet: points observed since the last alarm (at most
    `EPISODE_GAP`)."""
    return {
        "u": _PRIOR_U,
        "m": _PRIOR_MEDIAN,
        "q": _PRIOR_Q75,
        "n": 0,
        "k": 0,
        "quiet": EPISODE_GAP,
    }


def _shape_scale(tail: dict) -> tuple[float, float]:
    m = tail["m"]
    xi = min(MAX_SHAPE, max(0.0, math.log2(max(tail["q"] / m - 1.0, 1.0))))
    sigma = m / _LN2 if xi < 1e-6 else m * xi / (2.0**xi - 1.0)
    return xi, sigma


def _own(tail: dict, L: float) -> float:
    u = tail["u"]
    if L <= u:
        return L * _L_TAIL / u
    xi, sigma = _shape_scale(tail)
    if xi < 1e-6:
        return _L_TAIL + (L - u) / (sigma * _LN10)
    return _L_TAIL + math.log10(1.0 + xi * (L - u) / sigma) / xi


def calibrate(tail: dict, L: float) -> float:
    """The series' own -log10 probability of evidence L (never above L)."""
    return min(L, _own(tail, L))


def uncalibrate(tail: dict, L_cal: float) -> float:
    """The least raw evidence that `calibrate` maps to `L_cal`."""
    u = tail["u"]
    if L_cal <= _L_TAIL:
        inverse = L_cal * u / _L_TAIL
    else:
        xi, sigma = _shape_scale(tail)
        excess = L_cal - _L_TAIL
        if xi < 1e-6:
            inverse = u + excess * sigma * _LN10
        else:
            inverse = u + sigma * (10.0 ** min(300.0, excess * xi) - 1.0) / xi
    return max(L_cal, inverse)


def _step(count: int) -> float:
    return max(STEP, 1.0 / (10.0 + count / 5.0))


def observe(tail: dict, L: float, alarming: bool) -> None:
    """Fold evidence L into the tail unless it continues an episode of alarms (`alarming`:
    whether it alarms; an episode: alarms with fewer than `EPISODE_GAP` quiet points between
    them). An episode teaches the tail once, at its onset: an incident, however long, must not
    become the series' normal (SPOT leaves every alarm out for that reason), yet a channel whose
    episodes keep coming must learn that they come. Leaving every alarm out would cut the tail
    at the alarm level, fit it lighter than it is, and keep the channel alarming for good.

    >>> t = new_tail()
    >>> for L in (9.0,) * 1000:  # one long incident
    ...     observe(t, L, alarming=True)
    >>> t["n"], t["k"]
    (1, 1)
    """
    quiet = tail.get("quiet", EPISODE_GAP)
    if not alarming or quiet >= EPISODE_GAP:
        learn(tail, L)
    tail["quiet"] = 0 if alarming else min(EPISODE_GAP, quiet + 1)


def observe_run(tail: dict, L: float) -> None:
    """Fold evidence L into the tail where it grows with a run of one condition (a stuck value:
    each point of the run is more evidence of the same event). Runs declustering, as in
    peaks-over-threshold practice (Coles, "An introduction to statistical modeling of extreme
    values", 5.3): excesses over u with fewer than `EPISODE_GAP` points under u between them are
    one cluster, and a cluster teaches the tail once, by its maximum, when it ends; points under
    u teach it as always. Learnt point by point, a run's own rising evidence would move the tail
    up with it and mute the run. `cmax`: the maximum of the cluster going on (0 when none; older
    tails lack it).

    >>> t = new_tail()
    >>> for L in [*range(3, 100), 0, 0, 0, 0, 0]:  # one run, its evidence rising, then quiet
    ...     observe_run(t, float(L))
    >>> t["k"], t["cmax"] > 0  # nothing learnt from the run yet: it goes on
    (0, True)
    >>> observe_run(t, 0.0); t["k"], t["cmax"]
    (1, 0.0)
    """
    cmax = tail.get("cmax", 0.0)
    if L > tail["u"]:
        tail["cmax"] = max(cmax, L)
        tail["quiet"] = 0
        return
    if cmax > 0:
        tail["quiet"] = quiet = tail.get("quiet", 0) + 1
        if quiet >= EPISODE_GAP:
            tail["cmax"] = 0.0
            learn(tail, cmax)
    learn(tail, L)


def learn(tail: dict, L: float) -> None:
    """Fold evidence L into the percentiles."""
    u = tail["u"]
    above = L > u
    # log u moves up by (1 - 1%) steps when L is above it and down by 1% otherwise: P(L > u) = 1%;
    # its step shrinks with every 20 points seen, as m's and q's do with every excess
    tail["u"] = max(
        0.05, u * math.exp(_step(tail["n"] // 20) * ((1 - TAIL_SHARE) if above else -TAIL_SHARE))
    )
    tail["n"] += 1
    if above:
        excess, step = L - u, _step(tail["k"])
        tail["m"] = max(0.01, tail["m"] * math.exp(step * (0.5 if excess > tail["m"] else -0.5)))
        tail["q"] = max(
            tail["m"], tail["q"] * math.exp(step * (0.75 if excess > tail["q"] else -0.25))
        )
        tail["k"] += 1
