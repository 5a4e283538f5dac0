"""Statistics over seeds, one rule for every figure and table: the median, the sample
standard deviation (ddof 1) and the number of seeds; with a single seed the deviation is
undefined (NaN) and drawn as no spread at all."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd


def seed_stats(
    long: pd.DataFrame, keys: Sequence[str], value: str = "accuracy_pct"
) -> pd.DataFrame:
    """Median, sample std (ddof 1; NaN with one seed) and seed count of ``value`` per
    ``keys``, groups in first-seen order."""

    def std(values: pd.Series) -> float:
        return float(values.std(ddof=1)) if len(values) > 1 else math.nan

    grouped = long.groupby(list(keys), sort=False)[value]
    return grouped.agg(median="median", std=std, n_seeds="count").reset_index()


def spread(std: float) -> float:
    """A standard deviation to draw (error bars): NaN, one seed's, draws none."""
    return 0.0 if math.isnan(std) else std
