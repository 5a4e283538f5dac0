"""The A/A calibration: one method trained with many seeds and compared with itself.

The seeds of one label are split into two sides, and the two sides are compared exactly as a
method's gain over a baseline is (rows paired by position, the same test points; natural,
PGD-20 and AutoAttack accuracy at the held-out best_val and the last checkpoint). The true
gain is zero, so every split whose interval excludes zero is a false verdict; the share of
such splits estimates the false-verdict rate of a rule, which a 95% interval should hold near
5%. Splits: every pair of single seeds (one seed per side) and every split of the seeds into
two halves (all of them; with 10 seeds, 126). The splits share runs, so the binomial interval
of each rate (Wilson's) is approximate: it treats them as independent.

Two rules are measured on the same splits: **today's** (the interval of
:mod:`gair.report.stats`: its score pivot) and the **previous** one (the crossed interval with
truncated variance components, widened to Tango's score interval of the seed x point pairs
pooled as if independent: :func:`previous_interval`), so that the table shows what the change
of rule did on real runs. The claims add multiplicity control on top, and call a one-seed
comparison "this run" without a verdict: its row shows what that rule avoids.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from gair.errors import DataError
from gair.evaluation import registry
from gair.report import evidence, read, stats, tables, text, write
from gair.report.catalogue import table
from gair.report.manifest import Manifest

# (attack, checkpoint) compared; autoattack is read as autoattack_cheap where only that ran.
STATISTICS = (
    ("natural", "best_val"), ("pgd20", "best_val"), ("autoattack", "best_val"),
    ("natural", "last"), ("pgd20", "last"), ("autoattack", "last"),
)  # fmt: skip
RULES = ("previous", "today")
COLUMNS = [
    "attack", "checkpoint", "seeds_per_side", "splits", "points",
    *(f"{r}_{c}" for r in RULES for c in ("false", "rate", "low", "high")),
]  # fmt: skip


def previous_interval(d: np.ndarray) -> tuple[float, float]:
    """The interval of a paired gain (percent) by the rule before today's: crossed variance
    components from the mean squares, each truncated at zero (the seed term dropped with its
    degrees of freedom when its mean square is below the residual one), a t interval at
    Satterthwaite's df, widened to Tango's score interval over the S n pairs pooled as if
    independent (z, no design effect)."""
    m = 100.0 * np.atleast_2d(np.asarray(d, dtype=float))
    s, n = m.shape
    ms = stats.mean_squares(m)
    sn = s * n
    res_coef = 1.0 if ms.df_res else 0.0
    terms: list[tuple[float, int]] = []
    for big, df in ((ms.seed, ms.df_seed), (ms.point, ms.df_point)):
        if df and big > ms.res:
            terms.append((big / sn, df))
            res_coef -= 1.0
    if ms.df_res and res_coef:
        terms.append((res_coef * ms.res / sn, ms.df_res))
    var = max(sum(v for v, _ in terms), 0.0)
    denominator = sum(v * v / df for v, df in terms if df)
    df = var * var / denominator if var > 0 and denominator > 0 else math.inf
    t = float(sps.t.ppf(0.975, df)) if math.isfinite(df) else float(sps.norm.ppf(0.975))
    mean = float(m.mean())
    raw = m / 100.0
    pooled = stats.ScorePivot(
        "difference", float((raw > 0).sum()), float((raw < 0).sum()), float(raw.size), 1.0,
        math.inf,
    ).interval()  # fmt: skip
    half = t * math.sqrt(var)
    return min(mean - half, pooled[0]), max(mean + half, pooled[1])


def splits(seeds: Sequence[int], per_side: int) -> Iterator[tuple[list[int], list[int]]]:
    """Every split of ``seeds`` into two disjoint sides of ``per_side`` seeds, each unordered
    split once: one seed per side, every pair; half the seeds per side, the halves that
    hold the first seed against the rest."""
    seeds = list(seeds)
    if per_side == 1:
        for a, b in itertools.combinations(seeds, 2):
            yield [a], [b]
        return
    first, rest = seeds[0], seeds[1:]
    for others in itertools.combinations(rest, per_side - 1):
        side = [first, *others]
        yield side, [s for s in seeds if s not in side][:per_side]


def _rate(false: int, total: int) -> tuple[float, float, float]:
    """The false-verdict rate (percent) and its Wilson interval over the splits."""
    low, high = stats.ScorePivot(
        "proportion", false, total - false, total, 1.0, math.inf
    ).interval()
    return 100.0 * false / total, low, high


def calibration_table(manifest: Manifest) -> pd.DataFrame:
    """One row per statistic and seeds per side: splits, points, and each rule's false
    verdicts, rate and its interval (percent)."""
    labels = tables.labels_of(manifest)
    if len(labels) != 1:
        raise DataError(f"a calibration compares one label with itself, not {sorted(labels)}")
    (items,) = labels.values()
    rows = []
    for attack, checkpoint in STATISTICS:
        mine = evidence.evaluated(items, checkpoint)
        if len(mine) < 2:
            continue
        name = evidence.evaluated_attack(mine, attack, checkpoint)
        matrix = evidence.eval_matrix(mine, checkpoint, name)
        if matrix is None:
            continue
        by_seed = {item.seed: row for item, row in zip(mine, matrix, strict=True)}
        seeds = sorted(by_seed)
        for per_side in sorted({1, len(seeds) // 2}):
            false = {rule: 0 for rule in RULES}
            total = 0
            for a, b in splits(seeds, per_side):
                d = np.vstack([by_seed[s] for s in a]) - np.vstack([by_seed[s] for s in b])
                today = stats.paired_difference(d)
                intervals = {"previous": previous_interval(d), "today": (today.low, today.high)}
                for rule, (low, high) in intervals.items():
                    false[rule] += not low <= 0.0 <= high
                total += 1
            row = {"attack": name, "checkpoint": checkpoint, "seeds_per_side": per_side,
                   "splits": total, "points": matrix.shape[1]}  # fmt: skip
            for rule in RULES:
                rate, low, high = _rate(false[rule], total)
                row |= {f"{rule}_false": false[rule], f"{rule}_rate": rate,
                        f"{rule}_low": low, f"{rule}_high": high}  # fmt: skip
            rows.append(row)
    if not rows:
        raise DataError(
            f"manifest {manifest.name!r}: no checkpoint with per-point files of 2 seeds"
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def to_markdown(frame: pd.DataFrame, note: str = "", computed: str = "") -> str:
    header = ["Statistic", "Checkpoint", "Seeds per side", "Splits", "Points",
              "Previous rule: false verdicts (rate [95%])", "Today's rule"]  # fmt: skip
    rows = []
    for r in frame.to_dict("records"):
        cells = [registry.title(r["attack"]), r["checkpoint"], str(r["seeds_per_side"]),
                 str(r["splits"]), f"{r['points']:,}"]  # fmt: skip
        for rule in RULES:
            cells.append(
                f"{r[f'{rule}_false']} ({r[f'{rule}_rate']:.1f}% "
                f"[{r[f'{rule}_low']:.1f}, {r[f'{rule}_high']:.1f}])"
            )
        rows.append(cells)
    lines = [
        "# A/A calibration: one method against itself",
        "",
        *text.trained_lines(note),
        *text.computed_lines(computed),
        "The seeds of one method are split into two sides and compared as a gain is (paired by "
        "position, the same test points). The true gain is 0: every interval that excludes 0 "
        "is a false verdict, and a 95% interval should give about 5%. The previous rule: the "
        "crossed interval with truncated components widened to Tango's pooled score interval; "
        "today's: the score pivot on design-effect-scaled counts with the crossed df. The "
        "claims call a one-seed comparison 'this run' (no verdict) and add multiplicity "
        "control on top. Rates in percent, Wilson intervals over the splits (approximate: "
        "splits share runs).",
        "",
        *text.markdown_table(header, rows, left=2),
    ]
    return "\n".join(lines) + "\n"


def to_latex(frame: pd.DataFrame) -> str:
    header = ["Statistic", "Checkpoint", "Per side", "Splits", "Previous (%)", "Today (%)"]
    rows = [
        [registry.title(r["attack"]), r["checkpoint"], str(r["seeds_per_side"]),
         str(r["splits"]), f"{r['previous_rate']:.1f}", f"{r['today_rate']:.1f}"]
        for r in frame.to_dict("records")
    ]  # fmt: skip
    return "\n".join(
        ["% A/A calibration: false-verdict rates; needs \\usepackage{booktabs}",
         *text.latex_table(header, rows, left=2), ""]
    )  # fmt: skip


@table("calibration")
def write_calibration(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv, .md and .tex: every statistic's false-verdict rates by both rules."""
    frame = calibration_table(manifest)
    write.write_table_files(
        prefix,
        csv=frame.to_csv(index=False, float_format="%.6g"),
        md=to_markdown(
            frame,
            read.trained_note(manifest.metrics_files()),
            read.computed_on(manifest.data_files()),
        ),
        tex=to_latex(frame),
    )
    return frame
