"""The interval a one-seed paired gain must have, for the report tests: the wider of scipy's
paired t interval and Tango's score interval (which tests/test_stats.py checks against a
second implementation), as gair.report.stats.paired_gain promises."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from gair.report import stats


def one_seed_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(low, high) in points for per-point results a, b (0/1 or booleans) of one seed."""
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    t = sps.ttest_rel(100.0 * x, 100.0 * y).confidence_interval(0.95)
    low, high = stats.tango(float((x > y).sum()), float((x < y).sum()), x.size)
    return min(t.low, low), max(t.high, high)
