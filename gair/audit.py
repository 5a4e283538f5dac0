"""The robustness audit: every checkpoint under PGD-20, PGD+, CW, LSA and AutoAttack at once.

Input: evaluation summaries of ``python -m gair evaluate`` (docs/outputs.md, one row per
attack plus ``worst_case``) of many runs, and a meta file that names each file's method,
seed and checkpoint kind (``best`` or ``last``)::

    python -m gair audit --evals A.parquet B.parquet ... --meta META.json --baseline at \\
        --out-prefix results/tables/audit --figure figures/audit

Without ``--evals`` the files are the meta file's keys, in its order (what the workflow does).

Per method and checkpoint kind, each attack's accuracy is summarised over seeds by its median
and its sample standard deviation (ddof = 1; NaN with a single seed). The gain over the
baseline under an attack is the method's median minus the baseline's median for the same
checkpoint kind. The surviving fraction is the AutoAttack gain divided by the PGD-20 gain,
defined only where the PGD-20 gain is positive: 1 means the whole PGD-20 gain holds under
AutoAttack, 0 or less that none of it does. The AutoAttack column is ``autoattack`` where any
file has it, else ``autoattack_cheap`` (the smoke setting), and the output names which.

Accuracies are in percent and gains in percentage points throughout (the report layer's unit,
:mod:`gair.report`). Outputs: ``PREFIX.csv``, ``PREFIX.md`` and ``PREFIX.tex``, and with
``--figure`` the figure as PDF and PNG. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gair import report
from gair.errors import ConfigError
from gair.evaluation import registry
from gair.io import read_json_argument

CHECKPOINT_ORDER = ["best", "last"]
PGD = "pgd20"
FRACTION = "surviving_fraction"


# ------------------------------------------------------------------------------ inputs
def read_meta(source: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The meta mapping (JSON text or a JSON file): eval file -> {method, seed, checkpoint}."""
    meta = read_json_argument(str(source), "--meta")
    if not isinstance(meta, dict):
        raise ConfigError("meta must map each evaluation file to {method, seed, checkpoint}")
    out = {}
    for path, entry in meta.items():
        if not isinstance(entry, dict) or {"method", "seed", "checkpoint"} - set(entry):
            raise ConfigError(
                f"meta entry for {path!r} is {entry!r}; it needs keys method, seed, checkpoint"
            )
        seed = entry["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"meta entry for {path!r}: seed {seed!r} must be an integer")
        if not str(entry["method"]) or not str(entry["checkpoint"]):
            raise ConfigError(f"meta entry for {path!r}: method and checkpoint must be non-empty")
        out[os.path.normpath(path)] = {
            "method": str(entry["method"]),
            "seed": seed,
            "checkpoint": str(entry["checkpoint"]),
        }
        if entry.get("metrics"):  # optional: the run's metrics file, for the figure's footer
            out[os.path.normpath(path)]["metrics"] = str(entry["metrics"])
    return out


def collect(
    evals: Sequence[str | os.PathLike[str]], meta: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Long table of every file's accuracies (percent): method, seed, checkpoint, attack,
    accuracy_pct, file."""
    keyed = {os.path.normpath(k): v for k, v in meta.items()}
    records = []
    for path in evals:
        key = os.path.normpath(path)
        if key not in keyed:
            raise ConfigError(f"evaluation file {str(path)!r} has no entry in the meta file")
        entry = keyed[key]
        records.append(
            report.EvalRecord(str(path), entry["method"], entry["seed"], entry["checkpoint"])
        )
    return report.collect_evals(records)


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
    stats = report.seed_stats(long, ["method", "checkpoint", "attack"]).set_index(
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
                    stats.loc[(method, checkpoint, attack)]
                    if (method, checkpoint, attack) in stats.index
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
        cells += [report.cell(r[f"{a}_median"], r[f"{a}_std"]) for a in attacks]
        is_base = r["method"] == baseline
        cells += ["-" if is_base else report.number(r[f"gain_{a}"], signed=True) for a in gains]
        if len(gains) > 1:
            cells.append("-" if is_base else report.number(100 * r[FRACTION], unit="%"))
        rows.append(cells)
    return header, rows


def to_markdown(table: pd.DataFrame, *, baseline: str, note: str = "") -> str:
    """The audit table in Markdown; ``note`` says what was trained (report.trained_note)."""
    header, rows = _display(table, baseline)
    lines = [
        "# Robustness audit",
        "",
        *report.trained_lines(note),
        "Test accuracy (%) under each attack, median ± std over seeds. Worst case: a point counts"
        " only if it survives every attack evaluated on it. Gain: median minus the median of "
        f"`{baseline}` at the same checkpoint, in percentage points. The last column is the "
        "share of the PGD-20 gain that survives AutoAttack (only where the PGD-20 gain is "
        "positive).",
        "",
        *report.markdown_table(header, rows, left=2),
    ]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, *, baseline: str) -> str:
    header, rows = _display(table, baseline)
    lines = [
        "% Robustness audit: test accuracy (%), median $\\pm$ std over seeds; gains over "
        + report.tex_escape(baseline)
        + " in percentage points",
        "% needs \\usepackage{booktabs}",
        *report.latex_table(header, rows, left=2),
        "",
    ]
    return "\n".join(lines)


def write_tables(
    table: pd.DataFrame, prefix: str | Path, *, baseline: str, note: str = ""
) -> list[Path]:
    """Write PREFIX.csv (unformatted numbers), PREFIX.md and PREFIX.tex; their paths."""
    return report.write_table_files(
        prefix,
        csv=table.to_csv(index=False, float_format="%.6g"),
        md=to_markdown(table, baseline=baseline, note=note),
        tex=to_latex(table, baseline=baseline),
    )


# ------------------------------------------------------------------------------ figure
def gain_spread(table: pd.DataFrame, attack: str, baseline: str) -> pd.Series:
    """One standard deviation of a gain over seeds: the method's and the baseline's std at
    the same checkpoint combined as for a difference of independent runs,
    sqrt(std_m^2 + std_b^2); 0 where either has one seed (no spread is known)."""
    col = f"{attack}_std"
    if col not in table:
        return pd.Series(0.0, index=table.index)
    base = table[table["method"] == baseline].set_index("checkpoint")[col]
    combined = (table[col] ** 2 + table["checkpoint"].map(base) ** 2) ** 0.5
    return combined.fillna(0.0)


def plot_audit(table: pd.DataFrame, *, baseline: str, footer: str = "") -> Any:
    """Per method, its PGD-20 gain beside its AutoAttack gain over the baseline, with one
    std over seeds as error bars (:func:`gain_spread`).

    One panel per checkpoint kind; bars in percentage points, the surviving fraction written
    above each pair; ``footer`` says what was trained. Returns a matplotlib Figure (no
    pyplot state is touched).
    """
    from matplotlib.figure import Figure

    from gair import style

    gains = gain_attacks(table)
    others = table[table["method"] != baseline]
    checkpoints = list(dict.fromkeys(table["checkpoint"]))
    fig = Figure(figsize=(3.4 * max(1, len(checkpoints)) + 2.4, 3.8), layout="constrained")
    axes = fig.subplots(1, max(1, len(checkpoints)), squeeze=False)[0]
    colours = dict(zip(gains, ("#1f77b4", "#ff7f0e"), strict=False))
    width = 0.8 / max(1, len(gains))
    for ax, checkpoint in zip(axes, checkpoints or [""], strict=False):
        part = others[others["checkpoint"] == checkpoint]
        methods = list(part["method"])
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.margins(y=0.15)  # room for the fraction written above the bars
        tops = pd.Series(0.0, index=part.index)
        for k, attack in enumerate(gains):
            xs = [i + (k - (len(gains) - 1) / 2) * width for i in range(len(methods))]
            heights = part[f"gain_{attack}"].fillna(0.0)
            errors = gain_spread(table, attack, baseline).loc[part.index]
            ax.bar(
                xs, heights.tolist(), width=width, yerr=errors.tolist(), capsize=2,
                color=colours.get(attack, "#7f7f7f"),
                label=f"{registry.title(attack)} gain",
                error_kw={"linewidth": 0.8},
            )  # fmt: skip
            tops = tops.combine(heights + errors, max)
        if FRACTION in part and len(gains) > 1:
            for i, (frac, top) in enumerate(zip(part[FRACTION], tops, strict=True)):
                if not math.isnan(frac):
                    ax.annotate(
                        f"{frac * 100:.0f}%",
                        (i, max(top, 0.0)),
                        textcoords="offset points",
                        xytext=(0, 3),
                        ha="center",
                        fontsize=8,
                    )
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
        ax.set_title(f"{checkpoint} checkpoint" if checkpoint else "", fontsize=9)
        if ax is axes[0]:
            ax.set_ylabel(f"gain over {baseline} (pp)\nmedian, std over seeds")
        if not methods:
            ax.text(0.5, 0.5, f"no method besides {baseline}", ha="center", transform=ax.transAxes)
    style.legend_figure(fig, *style.unique_handles([axes[0]]))
    robust = registry.title(gains[-1]) if len(gains) > 1 else "AutoAttack"
    return style.finish(fig, f"How much of the PGD-20 gain survives {robust}", footer)


# ------------------------------------------------------------------------------ command line
def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair audit",
        description="Audit table (CSV, Markdown, LaTeX) and figure from evaluation Parquet files.",
    )
    parser.add_argument(
        "--evals", nargs="+", help="evaluation summary files (default: the meta file's keys)"
    )
    parser.add_argument(
        "--meta", required=True, help="JSON file or text: eval file -> {method, seed, checkpoint}"
    )
    parser.add_argument("--baseline", default="at", help="method the gains are measured from")
    parser.add_argument("--out-prefix", required=True, help="e.g. results/tables/audit")
    parser.add_argument("--figure", help="figure prefix, e.g. figures/audit (PDF and PNG)")
    args = parser.parse_args(argv)
    meta = read_meta(args.meta)
    long = collect(args.evals or list(meta), meta)
    table = audit_table(long, baseline=args.baseline)
    note = report.trained_note(dict.fromkeys(m["metrics"] for m in meta.values() if "metrics" in m))
    written = write_tables(table, args.out_prefix, baseline=args.baseline, note=note)
    if args.figure:
        figure = plot_audit(table, baseline=args.baseline, footer=note)
        written += report.save_figure(figure, args.figure)
    print(f"audit: {len(table)} rows ({table['method'].nunique()} methods) -> ", end="")
    print(", ".join(str(p) for p in written))
    return 0
