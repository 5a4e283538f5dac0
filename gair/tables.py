"""Tables 1-3 of the paper from evaluation Parquet files, our numbers beside the paper's,
and the trade-off table of every method (natural, PGD-20, AutoAttack; no paper numbers).

Input is the workflow's manifest (``python -m gair table NAME --manifest JSON --out PREFIX``):
method label -> one entry per seed -> {checkpoint: evaluation Parquet}. Every cell is the
median over seeds of the test accuracy in percent, with the standard deviation over seeds
(sample std, ddof = 1; empty with a single seed). ``Diff.`` is a method's median minus the
baseline's (AT in Table 1, TRADES in Table 2), as the paper prints it. Each cell also carries
the paper's number (:mod:`gair.paper_numbers`) and ours minus the paper's.

The manifest's ``columns`` (when given) names the attacks a table shows; Tables 1 and 2 show
the paper's three, while their evaluation files also hold the audit's attacks.

Outputs: ``PREFIX.csv`` (one row per method, checkpoint and attack), ``PREFIX.md`` and
``PREFIX.tex`` (one block per checkpoint, laid out like the paper's table).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from gair.atomic import write_text
from gair.errors import ConfigError, DataError
from gair.paper_numbers import TABLE3_OTHERS, paper_number

COLUMNS = [
    "table", "method", "checkpoint", "attack", "median", "std", "n_seeds", "diff",
    "paper_median", "paper_std", "paper_diff", "minus_paper",
]  # fmt: skip


def attack_title(attack: str) -> str:
    """The paper's column name for an attack."""
    names = {
        "natural": "Natural",
        "pgd_plus": "PGD+",
        "autoattack": "AA",
        "autoattack_cheap": "AA (cheap)",
        "cw": "CW",
        "lsa": "LSA",
    }
    if attack in names:
        return names[attack]
    if attack.startswith("pgd") and attack[3:].isdigit():
        return f"PGD-{attack[3:]}"
    return attack


def load_manifest(text: str) -> dict[str, Any]:
    """A manifest given inline (JSON text) or as a path to a JSON file."""
    raw = text if text.lstrip().startswith("{") else Path(text).read_text()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--manifest is not valid JSON ({err})") from None
    if "groups" not in manifest:
        raise ConfigError("--manifest has no 'groups': it must come from the workflow")
    return manifest


def read_eval(path: str) -> pd.DataFrame:
    """One evaluation file: a row per attack with its accuracy in [0, 1]."""
    if not Path(path).is_file():
        raise DataError(f"evaluation file {path!r} does not exist; run its `evaluate` job first")
    frame = pd.read_parquet(path)
    missing = {"attack", "accuracy"} - set(frame.columns)
    if missing:
        raise DataError(f"evaluation file {path!r} lacks columns {sorted(missing)}")
    return frame


def shown(attack: str, columns: list[str] | None) -> bool:
    """Whether a table with these ``columns`` (None: every attack) shows an attack; a column
    ``autoattack`` also shows the cheap setting, under its own name."""
    if attack == "worst_case":
        return False
    if not columns:
        return True
    return attack in columns or (attack == "autoattack_cheap" and "autoattack" in columns)


def collect(manifest: dict[str, Any]) -> pd.DataFrame:
    """Long table: method, seed, checkpoint, attack, accuracy (percent), in manifest order.

    Only the attacks in the manifest's ``columns`` (when given) are kept, never worst_case.
    """
    columns = manifest.get("columns")
    rows = []
    for labels in manifest["groups"].values():
        for method, items in labels.items():
            for item in items:
                for checkpoint, path in item.get("evals", {}).items():
                    frame = read_eval(path)
                    for attack, accuracy in zip(frame["attack"], frame["accuracy"], strict=True):
                        if not shown(attack, columns):
                            continue
                        rows.append(
                            {
                                "method": method,
                                "seed": item["seed"],
                                "checkpoint": checkpoint,
                                "attack": attack,
                                "accuracy": 100.0 * float(accuracy),
                            }
                        )
    if not rows:
        raise DataError("the manifest lists no evaluation files: nothing to tabulate")
    return pd.DataFrame(rows)


def trained_note(manifest: dict[str, Any]) -> str:
    """What was trained (data, models, epochs, seeds), read from the runs' metrics metadata, so
    that a table made at smoke scale says so beside the paper's numbers."""
    import pyarrow.parquet as pq

    specs = []
    for labels in manifest["groups"].values():
        for items in labels.values():
            for item in items:
                path = item.get("metrics")
                if path and Path(path).is_file():
                    meta = pq.read_schema(path).metadata or {}
                    specs.append(json.loads(meta.get(b"gair.spec", b"{}")))
    if not specs:
        return ""

    def model(spec: dict[str, Any]) -> str:
        if spec.get("model") == "wrn":
            return f"WRN-{spec.get('depth')}-{spec.get('width')}"
        return str(spec.get("model")) + (f"(w{spec['width']})" if spec.get("width") else "")

    def distinct(key: Any) -> str:
        return ", ".join(sorted({str(key(s)) for s in specs}))

    seeds = len({s.get("seed") for s in specs})
    return (
        f"Trained here: data {distinct(lambda s: s.get('dataset'))}; "
        f"models {distinct(model)}; epochs {distinct(lambda s: s.get('epochs'))}; "
        f"{seeds} seed{'s' if seeds != 1 else ''}."
    )


def _std(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def summarize(long: pd.DataFrame, table: str, baseline: str | None) -> pd.DataFrame:
    """Median and std over seeds, Diff. against the baseline, and the paper's numbers."""
    order = {k: i for i, k in enumerate(dict.fromkeys(long["method"]))}
    ckpt_order = {k: i for i, k in enumerate(dict.fromkeys(long["checkpoint"]))}
    attack_order = {k: i for i, k in enumerate(dict.fromkeys(long["attack"]))}
    grouped = long.groupby(["method", "checkpoint", "attack"], sort=False)["accuracy"]
    out = grouped.agg(median="median", std=_std, n_seeds="count").reset_index()
    out.insert(0, "table", table)
    out["diff"] = math.nan
    if baseline is not None:
        base = out[out["method"] == baseline].set_index(["checkpoint", "attack"])["median"]
        keys = list(zip(out["checkpoint"], out["attack"], strict=True))
        out["diff"] = [m - base.get(k, math.nan) for m, k in zip(out["median"], keys, strict=True)]
    paper = [
        paper_number(table, m, c, a)
        for m, c, a in zip(out["method"], out["checkpoint"], out["attack"], strict=True)
    ]
    out["paper_median"] = [math.nan if p is None else p[0] for p in paper]
    out["paper_std"] = [math.nan if p is None or p[1] is None else p[1] for p in paper]
    out["paper_diff"] = math.nan
    if baseline is not None:
        base_paper = {
            (c, a): p
            for m, c, a, p in zip(
                out["method"], out["checkpoint"], out["attack"], out["paper_median"], strict=True
            )
            if m == baseline
        }
        out["paper_diff"] = [
            p - base_paper.get((c, a), math.nan)
            for c, a, p in zip(out["checkpoint"], out["attack"], out["paper_median"], strict=True)
        ]
    out["minus_paper"] = out["median"] - out["paper_median"]
    out = out.sort_values(
        ["checkpoint", "method", "attack"],
        key=lambda s: s.map(
            {"checkpoint": ckpt_order, "method": order, "attack": attack_order}[s.name]
        ),
        kind="stable",
    )
    return out[COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------------------ rendering
def _num(value: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _cell(median: float, std: float) -> str:
    return _num(median) if math.isnan(std) else f"{median:.2f} ± {std:.2f}"


def has_paper(summary: pd.DataFrame) -> bool:
    """Whether any cell has a paper number (tables beyond the paper's have none)."""
    return bool(summary["paper_median"].notna().any())


def _blocks(
    summary: pd.DataFrame, baseline: str | None
) -> list[tuple[str, list[str], list[list[str]]]]:
    """(checkpoint, header, rows) per checkpoint, cells as the paper prints them; the paper
    columns are left out where no cell has a paper number."""
    paper = has_paper(summary)
    per_attack = 1 + bool(baseline) + 2 * paper
    blocks = []
    for checkpoint, part in summary.groupby("checkpoint", sort=False):
        attacks = list(dict.fromkeys(part["attack"]))
        header = ["Method"]
        for attack in attacks:
            title = attack_title(attack)
            header += [title] + (["Diff."] if baseline else [])
            header += [f"{title} paper", "ours - paper"] if paper else []
        rows = []
        for method, rows_of in part.groupby("method", sort=False):
            cells = [method]
            by_attack = rows_of.set_index("attack")
            for attack in attacks:
                if attack not in by_attack.index:
                    cells += ["-"] * per_attack
                    continue
                r = by_attack.loc[attack]
                cells.append(_cell(r["median"], r["std"]))
                if baseline:
                    cells.append("-" if method == baseline else _num(r["diff"], signed=True))
                if paper:
                    cells.append(_cell(r["paper_median"], r["paper_std"]))
                    cells.append(_num(r["minus_paper"], signed=True))
            rows.append(cells)
        blocks.append((str(checkpoint), header, rows))
    return blocks


def _others(table: str, attacks: list[str]) -> list[list[str]]:
    """Table 3's context rows: the paper's numbers for methods trained elsewhere."""
    if table != "table3":
        return []
    return [
        [name] + [_num(vals.get(a, math.nan)) for a in attacks]
        for name, vals in TABLE3_OTHERS.items()
    ]


def to_markdown(summary: pd.DataFrame, title: str, baseline: str | None, note: str = "") -> str:
    lines = [f"# {title}", ""]
    if note:
        lines += [note, ""]
    paper = " `paper`: the paper's number; `ours - paper`: our median minus it."
    lines.append(
        "Test accuracy (%), median ± std over seeds."
        + (paper if has_paper(summary) else "")
        + (f" Diff.: median minus {baseline}'s." if baseline else "")
    )
    for checkpoint, header, rows in _blocks(summary, baseline):
        lines += ["", f"## {checkpoint} checkpoint", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    attacks = list(dict.fromkeys(summary["attack"]))
    others = _others(str(summary["table"].iloc[0]), attacks)
    if others:
        lines += ["", "## Other methods (the paper's numbers, AutoAttack leaderboard)", ""]
        lines.append("| Method | " + " | ".join(attack_title(a) for a in attacks) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * len(attacks)) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in others]
    return "\n".join(lines) + "\n"


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters and write ± as $\\pm$."""
    out = text.replace("\\", r"\textbackslash{}")
    for ch in "&%$#_{}":
        out = out.replace(ch, "\\" + ch)
    return out.replace("±", r"$\pm$")


def to_latex(summary: pd.DataFrame, title: str, baseline: str | None, note: str = "") -> str:
    lines = ["% " + title, "% median $\\pm$ std over seeds; needs \\usepackage{booktabs}"]
    if note:
        lines.append("% " + note)
    for checkpoint, header, rows in _blocks(summary, baseline):
        lines += [
            f"% {checkpoint} checkpoint",
            "\\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
            "\\toprule",
            " & ".join(tex_escape(h) for h in header) + " \\\\",
            "\\midrule",
        ]
        lines += [" & ".join(tex_escape(c) for c in r) + " \\\\" for r in rows]
        lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


TITLES = {
    "table1": "Table 1: test accuracy of WRN-32-10 on CIFAR-10 (AT, FAT, GAIRAT, GAIR-FAT)",
    "table2": "Table 2: test accuracy of TRADES and GAIR-TRADES (WRN-34-10) on CIFAR-10",
    "table3": "Table 3: GAIR-RST with 500K pseudo-labelled images (WRN-28-10)",
    "tradeoff": "Trade-off: natural, PGD-20 and AutoAttack accuracy of every method, "
    "one dataset, model and schedule",
}


def write_table(manifest: dict[str, Any], prefix: str | Path) -> pd.DataFrame:
    """Summarise and write PREFIX.csv, .md and .tex; returns the summary."""
    name = manifest.get("name", "")
    if name not in TITLES:
        raise ConfigError(f"table {name!r} is unknown; valid tables are: {', '.join(TITLES)}")
    baseline = manifest.get("baseline")
    summary = summarize(collect(manifest), name, baseline)
    if baseline is not None and baseline not in set(summary["method"]):
        raise ConfigError(
            f"baseline {baseline!r} is not among the methods {sorted(set(summary['method']))}"
        )
    title = TITLES[name]
    note = trained_note(manifest)
    write_text(f"{prefix}.csv", summary.to_csv(index=False, float_format="%.4f"))
    write_text(f"{prefix}.md", to_markdown(summary, title, baseline, note))
    write_text(f"{prefix}.tex", to_latex(summary, title, baseline, note))
    return summary


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair table",
        description="Render one of the paper's tables (CSV, Markdown, LaTeX) from Parquet files.",
    )
    parser.add_argument("name", choices=sorted(TITLES))
    parser.add_argument("--manifest", required=True, help="JSON text or file from the workflow")
    parser.add_argument("--out", required=True, help="output prefix, e.g. results/tables/table1")
    args = parser.parse_args(argv)
    manifest = load_manifest(args.manifest)
    manifest.setdefault("name", args.name)
    if manifest["name"] != args.name:
        raise ConfigError(f"--manifest is for {manifest['name']!r}, not {args.name!r}")
    summary = write_table(manifest, args.out)
    print(f"{args.name}: {len(summary)} rows -> {args.out}.csv, .md, .tex")
    return 0
