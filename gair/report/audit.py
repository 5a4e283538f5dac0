"""The robustness audit: every checkpoint under PGD-20, PGD+, CW, LSA and AutoAttack at once.

Input: the audit target's manifest (``python -m gair table audit_table1 --manifest FILE
--out PREFIX``; the figure: ``python -m gair figure ...``): every run of the audited table
with its evaluation files (``python -m gair evaluate``'s summaries, docs/outputs.md) per
checkpoint kind, and the baseline label.

Per method and checkpoint kind, each attack's accuracy is summarised over seeds by its median
and its sample standard deviation (ddof = 1; NaN with a single seed), and by a 95% interval of
the mean over seeds and test points. The gain over the baseline under an attack is paired:
the mean over seeds and test points of the method's per-point result minus the baseline's,
same seed, same point, with its 95% interval (:mod:`gair.report.stats`, from the per-point
files beside the evaluations). The share of the PGD-20 gain that survives a stronger attack
(AutoAttack, LSA, the worst case over every attack) is that attack's gain divided by the
PGD-20 gain, with a delta-method interval; it is printed only where the PGD-20 gain is
distinguishable from zero ("n/a (gain within noise)" otherwise: a share of noise means
nothing). Without per-point files the gains are differences of medians and no share is
printed. The AutoAttack column is ``autoattack`` where any file has it, else
``autoattack_cheap`` (the smoke setting), and the output names which.

Accuracies are in percent and gains in percentage points throughout (the report layer's unit,
:mod:`gair.report`). Outputs: ``PREFIX.csv``, ``PREFIX.md`` and ``PREFIX.tex``; the figure
(:mod:`gair.report.figures.audit`) draws the gains. Every file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.report import evidence, read, stats, text, write
from gair.report.catalogue import table
from gair.report.manifest import Item, Manifest

CHECKPOINT_ORDER = ["best", "best_val", "last"]
PGD = "pgd20"
WITHIN_NOISE = "n/a (gain within noise)"


def autoattack_name(attacks: Iterable[str]) -> str | None:
    """The AutoAttack column to use: the standard version where present, else the cheap one."""
    present = set(attacks)
    for name in ("autoattack", "autoattack_cheap"):
        if name in present:
            return name
    return None


def _ordered(values: Iterable[str], first: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(values))
    return [v for v in first if v in unique] + [v for v in unique if v not in first]


# ------------------------------------------------------------------------------ table
def strong_attacks(attacks: Sequence[str]) -> list[str]:
    """The attacks a PGD-20 gain is checked against, in display order: AutoAttack, LSA and
    the worst case over every attack, where evaluated."""
    aa = autoattack_name(attacks)
    return [a for a in (aa, "lsa", registry.WORST_CASE) if a and a in attacks]


def audit_table(
    long: pd.DataFrame, *, baseline: str, manifest: Manifest | None = None
) -> pd.DataFrame:
    """One row per method and checkpoint kind: median and std over seeds, intervals, gains,
    shares.

    Columns: ``method``, ``checkpoint``, ``n_seeds``; per attack present ``{attack}_median``,
    ``{attack}_std``, ``{attack}_low``, ``{attack}_high``; ``gain_{a}`` (and ``_low``,
    ``_high``) for PGD-20 and each strong attack; ``share_{a}`` (and ``_low``, ``_high``) for
    each strong attack (see the module docstring). Accuracies in percent, gains in
    percentage points, shares in percent.
    """
    methods = list(dict.fromkeys(long["method"]))
    if baseline not in methods:
        raise ConfigError(
            f"baseline {baseline!r} is not among the audited methods: {', '.join(methods)}"
        )
    methods = [baseline] + [m for m in methods if m != baseline]
    checkpoints = _ordered(long["checkpoint"], CHECKPOINT_ORDER)
    attacks = registry.order(long["attack"])
    strong = strong_attacks(attacks)
    cells = stats.seed_stats(long, ["method", "checkpoint", "attack"]).set_index(
        ["method", "checkpoint", "attack"]
    )
    seeds = long.groupby(["method", "checkpoint"], sort=False)["seed"].nunique()
    labels = _labels(manifest)
    rows = []
    for method in methods:
        for checkpoint in checkpoints:
            if (method, checkpoint) not in seeds.index:
                continue
            row: dict[str, Any] = {
                "method": method,
                "checkpoint": checkpoint,
                "n_seeds": int(seeds[(method, checkpoint)]),
                "points": evidence.points_used(manifest, checkpoint) if manifest else "",
            }
            for attack in attacks:
                key = (method, checkpoint, attack)
                cell = cells.loc[key] if key in cells.index else None
                row[f"{attack}_median"] = math.nan if cell is None else float(cell["median"])
                row[f"{attack}_std"] = math.nan if cell is None else float(cell["std"])
                mine = evidence.evaluated(labels.get(method, []), checkpoint)
                m = evidence.eval_matrix(mine, checkpoint, attack)
                est = stats.accuracy(m) if m is not None else None
                row[f"{attack}_low"] = est.low if est else math.nan
                row[f"{attack}_high"] = est.high if est else math.nan
            row.update(_gains(labels, method, baseline, checkpoint, strong))
            rows.append(row)
    table = pd.DataFrame(rows)
    for attack in [PGD, *strong]:  # without per-point files: differences of medians
        col = f"{attack}_median"
        if col not in table:
            table[f"gain_{attack}"] = math.nan
            continue
        base = table[table["method"] == baseline].set_index("checkpoint")[col]
        median_gain = table[col] - table["checkpoint"].map(base)
        table[f"gain_{attack}"] = table.get(f"gain_{attack}", median_gain).fillna(median_gain)
    return table


def _labels(manifest: Manifest | None) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for _, label, item in manifest.items() if manifest is not None else ():
        out.setdefault(label, []).append(item)
    return out


def _gains(
    labels: dict[str, list[Item]], method: str, baseline: str, checkpoint: str, strong: list[str]
) -> dict[str, float]:
    """Paired gains over the baseline (same seeds, same points) and the shares of the PGD-20
    gain kept by each strong attack; empty where per-point files are missing."""
    if method == baseline or method not in labels or baseline not in labels:
        return {}
    mine = evidence.evaluated(labels[method], checkpoint)
    theirs = evidence.evaluated(labels[baseline], checkpoint)
    seeds = evidence.common_seeds(mine, theirs)
    mine, theirs = evidence.by_seed(mine, seeds), evidence.by_seed(theirs, seeds)

    def difference(attack: str) -> np.ndarray | None:
        a = evidence.eval_matrix(mine, checkpoint, attack)
        b = evidence.eval_matrix(theirs, checkpoint, attack)
        return None if a is None or b is None or a.shape != b.shape else a - b

    out: dict[str, float] = {}
    pgd = difference(PGD)
    for attack in [PGD, *strong]:
        d = pgd if attack == PGD else difference(attack)
        if d is None:
            continue
        gain = stats.paired_difference(d)
        out |= {f"gain_{attack}": gain.value, f"gain_{attack}_low": gain.low,
                f"gain_{attack}_high": gain.high}  # fmt: skip
        if attack == PGD or pgd is None:
            continue
        _, _, share = stats.gain_share(d, pgd)
        if share is not None:
            out |= {f"share_{attack}": share.value, f"share_{attack}_low": share.low,
                    f"share_{attack}_high": share.high}  # fmt: skip
    return out


def table_attacks(table: pd.DataFrame) -> list[str]:
    """The attacks summarised in an audit table, in display order."""
    return [c.removesuffix("_median") for c in table.columns if c.endswith("_median")]


def gain_attacks(table: pd.DataFrame) -> list[str]:
    """The attacks whose gain over the baseline the table holds (PGD-20, then the strong
    ones: AutoAttack, LSA, the worst case)."""
    return [PGD, *strong_attacks(table_attacks(table))]


def share_attacks(table: pd.DataFrame) -> list[str]:
    """The strong attacks whose share of the PGD-20 gain the table can hold."""
    return strong_attacks(table_attacks(table))


def paired(table: pd.DataFrame) -> bool:
    """Whether the gains are paired estimates from per-point files (intervals present)."""
    return f"gain_{PGD}_low" in table and bool(table[f"gain_{PGD}_low"].notna().any())


def _share_cell(r: pd.Series, attack: str) -> str:
    value = r.get(f"share_{attack}", math.nan)
    if not math.isnan(value):
        return text.number(value, unit="%") + text.interval(
            r[f"share_{attack}_low"], r[f"share_{attack}_high"]
        )
    low = r.get(f"gain_{PGD}_low", math.nan)
    if math.isnan(low):
        return "-"
    return WITHIN_NOISE


# ------------------------------------------------------------------------------ writers
def _display(table: pd.DataFrame, baseline: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows with accuracies in percent and gains in percentage points."""
    attacks = table_attacks(table)
    gains = [a for a in gain_attacks(table) if f"gain_{a}" in table]
    shares = share_attacks(table) if paired(table) else []
    title = registry.title
    header = ["Method", "Checkpoint", "Seeds"] + [title(a) for a in attacks]
    header += [f"Gain {title(a)}" for a in gains]
    header += [f"Share of the PGD-20 gain kept: {title(a)}" for a in shares]
    rows = []
    for _, r in table.iterrows():
        cells = [str(r["method"]), str(r["checkpoint"]), str(int(r["n_seeds"]))]
        cells += [
            text.cell(r[f"{a}_median"], r[f"{a}_std"])
            + text.interval(r.get(f"{a}_low", math.nan), r.get(f"{a}_high", math.nan))
            for a in attacks
        ]
        is_base = r["method"] == baseline
        for a in gains:
            interval = text.interval(
                r.get(f"gain_{a}_low", math.nan), r.get(f"gain_{a}_high", math.nan), signed=True
            )
            cells.append("-" if is_base else text.number(r[f"gain_{a}"], signed=True) + interval)
        cells += ["-" if is_base else _share_cell(r, a) for a in shares]
        rows.append(cells)
    return header, rows


def points_lines(table: pd.DataFrame) -> list[str]:
    """Which test points each checkpoint's rows read (evidence.points_used), one line each."""
    used = dict(zip(table["checkpoint"], table.get("points", ""), strict=True))
    lines = [f"- {ckpt}: {words}." for ckpt, words in used.items() if words]
    return ["Points per checkpoint:", "", *lines, ""] if lines else []


def to_markdown(table: pd.DataFrame, *, baseline: str, note: str = "", computed: str = "") -> str:
    """The audit table in Markdown; ``note`` says what was trained (read.trained_note),
    ``computed`` where (read.computed_on)."""
    header, rows = _display(table, baseline)
    if paired(table):
        words = (
            "Test accuracy (%) under each attack, median ± std over seeds [95% interval of the "
            "mean over seeds and test points]. Worst case: a point counts only if it survives "
            "every attack evaluated on it. Gain: the paired mean (same seed, same test point) "
            f"minus `{baseline}` at the same checkpoint, in percentage points [95% interval]. "
            "Share: the part of the PGD-20 gain that a stronger attack leaves [95% interval], "
            f"only where the PGD-20 gain is distinguishable from zero, else {WITHIN_NOISE}."
        )
    else:
        words = (
            "Test accuracy (%) under each attack, median ± std over seeds. Worst case: a point "
            "counts only if it survives every attack evaluated on it. Gain: median minus the "
            f"median of `{baseline}` at the same checkpoint, in percentage points. No per-point "
            "results were found, so no interval and no share of a gain is given."
        )
    lines = [
        "# Robustness audit",
        "",
        *text.trained_lines(note),
        *text.computed_lines(computed),
        *text.selection_lines(table["checkpoint"]),
        words,
        "",
        *points_lines(table),
        *text.markdown_table(header, rows, left=2),
    ]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, *, baseline: str, computed: str = "") -> str:
    header, rows = _display(table, baseline)
    lines = [
        "% Robustness audit: test accuracy (%), median $\\pm$ std over seeds; gains over "
        + text.tex_escape(baseline)
        + " in percentage points",
        "% needs \\usepackage{booktabs}",
        *(["% computed on: " + computed] if computed else []),
        *text.latex_table(header, rows, left=2),
        "",
    ]
    return "\n".join(lines)


def write_tables(
    table: pd.DataFrame,
    prefix: str | Path,
    *,
    baseline: str,
    note: str = "",
    computed: str = "",
) -> list[Path]:
    """Write PREFIX.csv (unformatted numbers), PREFIX.md and PREFIX.tex; their paths."""
    return write.write_table_files(
        prefix,
        csv=table.to_csv(index=False, float_format="%.6g"),
        md=to_markdown(table, baseline=baseline, note=note, computed=computed),
        tex=to_latex(table, baseline=baseline, computed=computed),
    )


def audit_of(manifest: Manifest) -> tuple[pd.DataFrame, str, str]:
    """The audit table of a manifest (its evaluation files, its baseline), the note of what
    was trained and the line saying where it was computed."""
    if not manifest.baseline:
        raise ConfigError(f"manifest {manifest.name!r} names no baseline to measure gains from")
    long = evidence.collect(manifest)
    note = read.trained_note(manifest.metrics_files())
    computed = read.computed_on(manifest.data_files())
    return audit_table(long, baseline=manifest.baseline, manifest=manifest), note, computed


@table("audit")
def write_audit(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv, .md and .tex of the audit of a table's checkpoints."""
    frame, note, computed = audit_of(manifest)
    write_tables(frame, prefix, baseline=str(manifest.baseline), note=note, computed=computed)
    return frame
