"""The robustness audit: every checkpoint under PGD-20, PGD+, CW, LSA and AutoAttack at once.

Input: evaluation summaries of ``python -m gair evaluate`` (docs/outputs.md, one row per
attack plus ``worst_case``) of many runs, and a meta file that names each file's method,
seed and checkpoint kind (``best`` or ``last``)::

    python -m gair audit --evals A.parquet B.parquet ... --meta META.json --baseline at \\
        --out-prefix results/tables/audit --figure figures/audit

Per method and checkpoint kind, each attack's accuracy is summarised over seeds by its median
and its sample standard deviation (ddof = 1; NaN with a single seed). The gain over the
baseline under an attack is the method's median minus the baseline's median for the same
checkpoint kind. The surviving fraction is the AutoAttack gain divided by the PGD-20 gain,
defined only where the PGD-20 gain is positive: 1 means the whole PGD-20 gain holds under
AutoAttack, 0 or less that none of it does. The AutoAttack column is ``autoattack`` where any
file has it, else ``autoattack_cheap`` (the smoke setting), and the output names which.

Outputs: ``PREFIX.csv`` (numbers as fractions in [0, 1]), ``PREFIX.md`` and ``PREFIX.tex``
(percent), and with ``--figure`` the figure as PDF and PNG. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gair.atomic import atomic_path, write_text
from gair.errors import ConfigError, DataError
from gair.tables import tex_escape

ATTACK_ORDER = [
    "natural", "pgd20", "pgd_plus", "cw", "lsa", "autoattack", "autoattack_cheap", "worst_case",
]  # fmt: skip
TITLES = {
    "natural": "Natural",
    "pgd20": "PGD-20",
    "pgd_plus": "PGD+",
    "cw": "CW",
    "lsa": "LSA",
    "autoattack": "AA",
    "autoattack_cheap": "AA (cheap)",
    "worst_case": "Worst case",
}
CHECKPOINT_ORDER = ["best", "last"]
PGD = "pgd20"
FRACTION = "surviving_fraction"


# ------------------------------------------------------------------------------ inputs
def read_meta(source: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The meta mapping (JSON text or a JSON file): eval file -> {method, seed, checkpoint}."""
    text = str(source)
    if text.lstrip().startswith("{"):
        raw = text
    elif Path(text).is_file():
        raw = Path(text).read_text()
    else:
        raise DataError(f"meta file {text!r} does not exist")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"meta {text[:60]!r} is not valid JSON ({err})") from None
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
    return out


def collect(
    evals: Sequence[str | os.PathLike[str]], meta: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Long table of every file's accuracies: method, seed, checkpoint, attack, accuracy, file."""
    keyed = {os.path.normpath(k): v for k, v in meta.items()}
    rows, seen = [], {}
    for path in evals:
        key = os.path.normpath(path)
        if key not in keyed:
            raise ConfigError(f"evaluation file {str(path)!r} has no entry in the meta file")
        entry = keyed[key]
        ident = (entry["method"], entry["seed"], entry["checkpoint"])
        if ident in seen:
            raise DataError(
                f"{str(path)!r} and {seen[ident]!r} are both method {ident[0]!r}, seed "
                f"{ident[1]}, checkpoint {ident[2]!r}"
            )
        seen[ident] = str(path)
        if not Path(path).is_file():
            raise DataError(f"evaluation file {str(path)!r} does not exist")
        frame = pd.read_parquet(path)
        missing = {"attack", "accuracy"} - set(frame.columns)
        if missing:
            raise DataError(f"evaluation file {str(path)!r} lacks columns {sorted(missing)}")
        for attack, accuracy in zip(frame["attack"], frame["accuracy"], strict=True):
            rows.append(
                {
                    "method": entry["method"],
                    "seed": entry["seed"],
                    "checkpoint": entry["checkpoint"],
                    "attack": str(attack),
                    "accuracy": float(accuracy),
                    "file": str(path),
                }
            )
    if not rows:
        raise DataError("no evaluation rows to audit: --evals names no file with rows")
    return pd.DataFrame(rows)


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
    module docstring). Accuracies are fractions in [0, 1]; gains are differences of them.
    """
    methods = list(dict.fromkeys(long["method"]))
    if baseline not in methods:
        raise ConfigError(
            f"baseline {baseline!r} is not among the audited methods: {', '.join(methods)}"
        )
    methods = [baseline] + [m for m in methods if m != baseline]
    checkpoints = _ordered(long["checkpoint"], CHECKPOINT_ORDER)
    attacks = _ordered(long["attack"], ATTACK_ORDER)
    aa = autoattack_name(attacks)
    wide = long.pivot_table(
        index=["method", "checkpoint", "seed"], columns="attack", values="accuracy", aggfunc="first"
    )
    rows = []
    for method in methods:
        for checkpoint in checkpoints:
            if (method, checkpoint) not in wide.index.droplevel("seed"):
                continue
            part = wide.loc[(method, checkpoint)]
            row: dict[str, Any] = {
                "method": method,
                "checkpoint": checkpoint,
                "n_seeds": len(part),
            }
            for attack in attacks:
                values = part[attack].dropna() if attack in part else pd.Series(dtype=float)
                row[f"{attack}_median"] = float(values.median()) if len(values) else math.nan
                row[f"{attack}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
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
def _num(value: float, *, scale: float = 100.0, signed: bool = False, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    return (f"{value * scale:+.2f}" if signed else f"{value * scale:.2f}") + unit


def _cell(median: float, std: float) -> str:
    if math.isnan(std):
        return _num(median)
    return f"{median * 100:.2f} ± {std * 100:.2f}"


def _display(table: pd.DataFrame, baseline: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows with accuracies in percent and gains in percentage points."""
    attacks = table_attacks(table)
    gains = gain_attacks(table)
    header = ["Method", "Checkpoint", "Seeds"] + [TITLES.get(a, a) for a in attacks]
    header += [f"Gain {TITLES.get(a, a)}" for a in gains]
    header += [f"{TITLES.get(gains[-1], gains[-1])} / PGD-20 gain"] if len(gains) > 1 else []
    rows = []
    for _, r in table.iterrows():
        cells = [str(r["method"]), str(r["checkpoint"]), str(int(r["n_seeds"]))]
        cells += [_cell(r[f"{a}_median"], r[f"{a}_std"]) for a in attacks]
        is_base = r["method"] == baseline
        cells += ["-" if is_base else _num(r[f"gain_{a}"], signed=True) for a in gains]
        if len(gains) > 1:
            cells.append("-" if is_base else _num(r[FRACTION], scale=100.0, unit="%"))
        rows.append(cells)
    return header, rows


def to_csv(table: pd.DataFrame) -> str:
    """The table as CSV text, numbers unformatted (accuracies as fractions)."""
    return table.to_csv(index=False, float_format="%.6g")


def to_markdown(table: pd.DataFrame, *, baseline: str) -> str:
    header, rows = _display(table, baseline)
    lines = [
        "# Robustness audit",
        "",
        "Test accuracy (%) under each attack, median ± std over seeds. Worst case: a point counts"
        " only if it survives every attack evaluated on it. Gain: median minus the median of "
        f"`{baseline}` at the same checkpoint, in percentage points. The last column is the "
        "share of the PGD-20 gain that survives AutoAttack (only where the PGD-20 gain is "
        "positive).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, *, baseline: str) -> str:
    header, rows = _display(table, baseline)
    lines = [
        "% Robustness audit: test accuracy (%), median $\\pm$ std over seeds; gains over "
        + tex_escape(baseline)
        + " in percentage points",
        "% needs \\usepackage{booktabs}",
        "\\begin{tabular}{ll" + "r" * (len(header) - 2) + "}",
        "\\toprule",
        " & ".join(tex_escape(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join(tex_escape(c) for c in r) + " \\\\" for r in rows]
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def write_tables(table: pd.DataFrame, prefix: str | Path, *, baseline: str) -> list[Path]:
    """Write PREFIX.csv, PREFIX.md and PREFIX.tex atomically; return their paths."""
    paths = [Path(f"{prefix}.{ext}") for ext in ("csv", "md", "tex")]
    write_text(paths[0], to_csv(table))
    write_text(paths[1], to_markdown(table, baseline=baseline))
    write_text(paths[2], to_latex(table, baseline=baseline))
    return paths


# ------------------------------------------------------------------------------ figure
def plot_audit(table: pd.DataFrame, *, baseline: str) -> Any:
    """Per method, its PGD-20 gain beside its AutoAttack gain over the baseline.

    One panel per checkpoint kind; bars in percentage points, the surviving fraction written
    above each pair. Returns a matplotlib Figure (no pyplot state is touched).
    """
    from matplotlib.figure import Figure

    gains = gain_attacks(table)
    others = table[table["method"] != baseline]
    checkpoints = list(dict.fromkeys(table["checkpoint"]))
    fig = Figure(figsize=(3.2 * max(1, len(checkpoints)) + 1.0, 3.4), layout="constrained")
    axes = fig.subplots(1, max(1, len(checkpoints)), squeeze=False)[0]
    colours = {PGD: "#1f77b4", "autoattack": "#d62728", "autoattack_cheap": "#ff7f0e"}
    width = 0.8 / max(1, len(gains))
    for ax, checkpoint in zip(axes, checkpoints or [""], strict=False):
        part = others[others["checkpoint"] == checkpoint]
        methods = list(part["method"])
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.margins(y=0.12)  # room for the fraction written above the bars
        for k, attack in enumerate(gains):
            xs = [i + (k - (len(gains) - 1) / 2) * width for i in range(len(methods))]
            heights = (part[f"gain_{attack}"] * 100).fillna(0.0).tolist()
            ax.bar(
                xs,
                heights,
                width=width,
                color=colours.get(attack, "#7f7f7f"),
                label=f"{TITLES.get(attack, attack)} gain",
            )
        if FRACTION in part and len(gains) > 1:
            tops = (part[[f"gain_{a}" for a in gains]].max(axis=1) * 100).fillna(0.0)
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
        ax.set_title(f"{checkpoint} checkpoint" if checkpoint else "")
        ax.set_ylabel(f"gain over {baseline} (pp)")
        if not methods:
            ax.text(0.5, 0.5, f"no method besides {baseline}", ha="center", transform=ax.transAxes)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle("How much of the PGD-20 gain survives AutoAttack", fontsize=10)
    return fig


def save_figure(fig: Any, prefix: str | Path) -> list[Path]:
    """Write PREFIX.pdf and PREFIX.png atomically; return their paths."""
    paths = []
    for ext in ("pdf", "png"):
        path = Path(f"{prefix}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------ command line
def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair audit",
        description="Audit table (CSV, Markdown, LaTeX) and figure from evaluation Parquet files.",
    )
    parser.add_argument("--evals", nargs="+", required=True, help="evaluation summary files")
    parser.add_argument(
        "--meta", required=True, help="JSON file or text: eval file -> {method, seed, checkpoint}"
    )
    parser.add_argument("--baseline", default="at", help="method the gains are measured from")
    parser.add_argument("--out-prefix", required=True, help="e.g. results/tables/audit")
    parser.add_argument("--figure", help="figure prefix, e.g. figures/audit (PDF and PNG)")
    args = parser.parse_args(argv)
    long = collect(args.evals, read_meta(args.meta))
    table = audit_table(long, baseline=args.baseline)
    written = write_tables(table, args.out_prefix, baseline=args.baseline)
    if args.figure:
        written += save_figure(plot_audit(table, baseline=args.baseline), args.figure)
    print(f"audit: {len(table)} rows ({table['method'].nunique()} methods) -> ", end="")
    print(", ".join(str(p) for p in written))
    return 0
