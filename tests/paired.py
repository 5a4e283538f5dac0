"""The interval a one-seed paired gain must have, for the report tests: Tango's score
interval (a second implementation here: the restricted maximum likelihood found numerically,
bounds by bisection) on the counts scaled by the design effect n / (n - 1) (1 where no pair
is discordant), with Student's t at n - 1 df, as gair.report.stats.paired_gain promises
(tests/test_stats.py checks it for several seeds)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def profile_score_interval(
    b: float, c: float, n: float, z: float = float(sps.norm.ppf(0.975))
) -> tuple[float, float]:
    """A second implementation of Tango's interval: the restricted maximum likelihood found
    numerically (not from the quadratic), each bound by bisection on the score test."""
    from scipy import optimize

    def accepts(d: float) -> bool:
        lo, hi = max(0.0, -d), (1 - d) / 2
        if hi - lo < 1e-14:
            q = lo
        else:

            def nll(q: float) -> float:
                terms = [(b, q + d), (c, q), (n - b - c, 1 - 2 * q - d)]
                return -sum(k * math.log(max(p, 1e-300)) for k, p in terms if k)

            q = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded",
                                         options={"xatol": 1e-12}).x  # fmt: skip
        return abs(b - c - n * d) <= z * math.sqrt(max(n * (2 * q + d - d * d), 0.0)) + 1e-12

    def bound(edge: float) -> float:
        inside, out = (b - c) / n, edge
        if accepts(edge):
            return edge
        for _ in range(50):
            mid = (inside + out) / 2
            inside, out = (mid, out) if accepts(mid) else (inside, mid)
        return inside

    return 100 * bound(-1.0), 100 * bound(1.0)


def one_seed_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(low, high) in points for per-point results a, b (0/1 or booleans) of one seed."""
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    n = x.size
    plus, minus = float((x > y).sum()), float((x < y).sum())
    deff = n / (n - 1) if plus + minus else 1.0  # no discordant pair: no variance to scale
    return profile_score_interval(plus / deff, minus / deff, n / deff, sps.t.ppf(0.975, n - 1))
