"""Multiplicity control of the claims: which of many claims may be called supported or
contradicted, and at what confidence level each is then reported.

The families are the config's claim entries (one entry: one sentence of the paper, expanded
into claims per pair, checkpoint and attack). Two levels (Benjamini and Bogomolov, 2014):

1. each family's p-value is Simes' combination of its claims' p-values (:func:`simes`), and
   Benjamini-Hochberg at ``q`` over the m families selects R of them (:func:`bh`);
2. within each selected family of m_i claims, Benjamini-Hochberg at ``q R / m`` selects R_i
   claims, and each selected claim is reported with the false-coverage-rate interval of
   Benjamini and Yekutieli (2005), at level 1 - (q R / m) R_i / m_i (:func:`two_level`).

This controls the expected average false discovery proportion over the selected families at
q; a claim that is not selected is inconclusive. Each claim's p-value and interval come from
the same pivot (:func:`gair.report.stats.claim_p_value`), so that a selected claim's adjusted
interval excludes its margin. Everything here is plain numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Q = 0.05  # the false discovery rate every claims table controls


def simes(p: Sequence[float]) -> float:
    """Simes' p-value of a family: min over k of m p_(k) / k (1 for an empty family)."""
    values = np.sort(np.asarray(p, dtype=float))
    if not values.size:
        return 1.0
    ranks = np.arange(1, values.size + 1)
    return float(min(1.0, (values.size * values / ranks).min()))


def bh(p: Sequence[float], q: float) -> np.ndarray:
    """Benjamini-Hochberg's rejections at level ``q``: reject the k smallest p-values, k the
    largest rank with p_(k) <= q k / m (a boolean per p-value, in the given order)."""
    values = np.asarray(p, dtype=float)
    m = values.size
    out = np.zeros(m, dtype=bool)
    if not m:
        return out
    order = np.argsort(values, kind="stable")
    passed = np.flatnonzero(values[order] <= q * np.arange(1, m + 1) / m)
    if passed.size:
        out[order[: passed[-1] + 1]] = True
    return out


@dataclass(frozen=True)
class Family:
    """One family's outcome: its Simes p-value, whether it was selected, the level its claims
    were tested at (q R / m), which of its claims were selected, and the confidence level of
    each claim's adjusted interval."""

    simes: float
    selected: bool
    q_within: float
    claims: tuple[bool, ...]
    levels: tuple[float, ...]


def two_level(families: Mapping[str, Sequence[float]], q: float = Q) -> dict[str, Family]:
    """Benjamini and Bogomolov's two-level selection with Benjamini and Yekutieli's intervals
    (module docstring), for ``families`` {name: its claims' p-values}. A claim not selected
    gets the level its family's procedure would have needed to select one more (1 - q' (R_i +
    1) / m_i in a selected family, 1 - (q max(R, 1) / m) / m_i in another): the interval the
    table prints beside its inconclusive verdict."""
    names = list(families)
    m = len(names)
    combined = [simes(families[name]) for name in names]
    chosen = bh(combined, q)
    r = int(chosen.sum())
    out: dict[str, Family] = {}
    for name, simes_p, selected in zip(names, combined, chosen, strict=True):
        p = list(families[name])
        m_i = max(len(p), 1)
        if selected:
            q_within = q * r / m
            picked = bh(p, q_within)
            r_i = int(picked.sum())
            levels = tuple(
                1 - q_within * (r_i if hit else r_i + 1) / m_i for hit in picked
            )  # fmt: skip
        else:
            q_within = q * max(r, 1) / m
            picked = np.zeros(len(p), dtype=bool)
            levels = tuple(1 - q_within / m_i for _ in p)
        out[name] = Family(simes_p, bool(selected), q_within, tuple(map(bool, picked)), levels)
    return out
