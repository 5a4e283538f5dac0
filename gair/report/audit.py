"""The robustness audit: every checkpoint under PGD-20, PGD+, CW, LSA and AutoAttack at once.

Input: the audit target's manifest (``python -m gair table audit_table1 --manifest FILE
--out PREFIX``; the figure: ``python -m gair figure ...``): every run of the audited table
with its evaluation files (``python -m gair evaluate``'s summaries, docs/outputs.md) per
checkpoint kind, and the baseline label.

Per method and checkpoint kind, each attack's accuracy is summarised over seeds by its median
and its sample standard deviation (ddof = 1; NaN with a single seed). The gain over the
baseline under an attack is the method's median minus the baseline's median for the same
checkpoint kind. The surviving fraction is the AutoAttack gain divided by the PGD-20 gain,
defined only where the PGD-20 gain is positive: 1 means the whole PGD-20 gain holds under
AutoAttack, 0 or less that none of it does. The AutoAttack column is ``autoattack`` where any
file has it, else ``autoattack_cheap`` (the smoke setting), and the output names which.

Accuracies are in percent and gains in percentage points throughout (the report layer's unit,
:mod:`gair.report`). Outputs: ``PREFIX.csv``, ``PREFIX.md`` and ``PREFIX.tex``; the figure
(:mod:`gair.report.figures.audit`) draws the gains. Every file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.report import read, stats, text, write
from gair.report.catalogue import table
from gair.report.manifest import Manifest

CHECKPOINT_ORDER = ["best", "last"]
PGD = "pgd20"
FRACTION = "surviving_fraction"


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
def audit_table(long: pd.DataFrame, *, baseline: str) -> pd.DataFrame:
    """One row per method and checkpoint kind: median and std over seeds, gains, fraction.

    Columns: ``method``, ``checkpoint``, ``n_seeds``, ``{attack}_median`` and ``{attack}_std``
    per attack present, ``gain_pgd20``, ``gain_{aa}`` and ``surviving_fraction`` (see the
    module docstring). Accuracies in percent, gains in percentage points.
    """
    methods = list(dict.fromkeys(long["method"]))
    if baseline not in methods:
        raise ConfigError(
            f"baseline {baseline!r} is not among the audited methods: {', '.join(methods)}"
        )
    methods = [baseline] + [m for m in methods if m != baseline]
    checkpoints = _ordered(long["checkpoint"], CHECKPOINT_ORDER)
    attacks = registry.order(long["attack"])
    aa = autoattack_name(attacks)
    cells = stats.seed_stats(long, ["method", "checkpoint", "attack"]).set_index(
        ["method", "checkpoint", "attack"]
    )
    seeds = long.groupby(["method", "checkpoint"], sort=False)["seed"].nunique()
    rows = []
    for method in methods:
        for checkpoint in checkpoints:
            if (method, checkpoint) not in seeds.index:
                continue
            row: dict[str, Any] = {
                "method": method,
                "checkpoint": checkpoint,
                "n_seeds": int(seeds[(method, checkpoint)]),
            }
            for attack in attacks:
                cell = (
                    cells.loc[(method, checkpoint, attack)]
                    if (method, checkpoint, attack) in cells.index
                    else None
                )
                row[f"{attack}_median"] = math.nan if cell is None else float(cell["median"])
                row[f"{attack}_std"] = math.nan if cell is None else float(cell["std"])
            rows.append(row)
    table = pd.DataFrame(rows)
    gain_names = [PGD] + ([aa] if aa else [])
    for attack in gain_names:
        col = f"{attack}_median"
        if col not in table:
            table[f"gain_{attack}"] = math.nan
            continue
        base = table[table["method"] == baseline].set_index("checkpoint")[col]
        table[f"gain_{attack}"] = table[col] - table["checkpoint"].map(base)
    if aa and f"gain_{PGD}" in table:
        pgd_gain, aa_gain = table[f"gain_{PGD}"], table[f"gain_{aa}"]
        table[FRACTION] = (aa_gain / pgd_gain).where(pgd_gain > 0)
    else:
        table[FRACTION] = math.nan
    return table


def table_attacks(table: pd.DataFrame) -> list[str]:
    """The attacks summarised in an audit table, in display order."""
    return [c.removesuffix("_median") for c in table.columns if c.endswith("_median")]


def gain_attacks(table: pd.DataFrame) -> list[str]:
    """The attacks whose gain over the baseline the table holds (PGD-20, then AutoAttack)."""
    return [c.removeprefix("gain_") for c in table.columns if c.startswith("gain_")]


# ------------------------------------------------------------------------------ writers
def _display(table: pd.DataFrame, baseline: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows with accuracies in percent and gains in percentage points."""
    attacks = table_attacks(table)
    gains = gain_attacks(table)
    title = registry.title
    header = ["Method", "Checkpoint", "Seeds"] + [title(a) for a in attacks]
    header += [f"Gain {title(a)}" for a in gains]
    header += [f"{title(gains[-1])} / PGD-20 gain"] if len(gains) > 1 else []
    rows = []
    for _, r in table.iterrows():
        cells = [str(r["method"]), str(r["checkpoint"]), str(int(r["n_seeds"]))]
        cells += [text.cell(r[f"{a}_median"], r[f"{a}_std"]) for a in attacks]
        is_base = r["method"] == baseline
        cells += ["-" if is_base else text.number(r[f"gain_{a}"], signed=True) for a in gains]
        if len(gains) > 1:
            cells.append("-" if is_base else text.number(100 * r[FRACTION], unit="%"))
        rows.append(cells)
    return header, rows


def to_markdown(table: pd.DataFrame, *, baseline: str, note: str = "") -> str:
    """The audit table in Markdown; ``note`` says what was trained (read.trained_note)."""
    header, rows = _display(table, baseline)
    lines = [
        "# Robustness audit",
        "",
        *text.trained_lines(note),
        "Test accuracy (%) under each attack, median ± std over seeds. Worst case: a point counts"
        " only if it survives every attack evaluated on it. Gain: median minus the median of "
        f"`{baseline}` at the same checkpoint, in percentage points. The last column is the "
        "share of the PGD-20 gain that survives AutoAttack (only where the PGD-20 gain is "
        "positive).",
        "",
        *text.markdown_table(header, rows, left=2),
    ]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, *, baseline: str) -> str:
    header, rows = _display(table, baseline)
    lines = [
        "% Robustness audit: test accuracy (%), median $\\pm$ std over seeds; gains over "
        + text.tex_escape(baseline)
        + " in percentage points",
        "% needs \\usepackage{booktabs}",
        *text.latex_table(header, rows, left=2),
        "",
    ]
    return "\n".join(lines)


def write_tables(
    table: pd.DataFrame, prefix: str | Path, *, baseline: str, note: str = ""
) -> list[Path]:
    """Write PREFIX.csv (unformatted numbers), PREFIX.md and PREFIX.tex; their paths."""
    return write.write_table_files(
        prefix,
        csv=table.to_csv(index=False, float_format="%.6g"),
        md=to_markdown(table, baseline=baseline, note=note),
        tex=to_latex(table, baseline=baseline),
    )


def audit_of(manifest: Manifest) -> tuple[pd.DataFrame, str]:
    """The audit table of a manifest (its evaluation files, its baseline) and the note of
    what was trained."""
    if not manifest.baseline:
        raise ConfigError(f"manifest {manifest.name!r} names no baseline to measure gains from")
    long = read.collect_evals(read.records_of(manifest))
    note = read.trained_note(manifest.metrics_files())
    return audit_table(long, baseline=manifest.baseline), note


@table("audit")
def write_audit(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv, .md and .tex of the audit of a table's checkpoints."""
    frame, note = audit_of(manifest)
    write_tables(frame, prefix, baseline=str(manifest.baseline), note=note)
    return frame
