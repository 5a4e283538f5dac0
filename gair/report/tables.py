"""Tables 1-3 of the paper from evaluation Parquet files, our numbers beside the paper's,
and the trade-off table of every method (natural, PGD-20, AutoAttack; no paper numbers).

Input is the target's manifest (``python -m gair table NAME --manifest FILE --out PREFIX``):
method label -> one entry per seed -> {checkpoint: evaluation Parquet}. Every cell is the
median over seeds of the test accuracy in percent, with the standard deviation over seeds
(:func:`gair.report.stats.seed_stats`: ddof 1, none with a single seed). ``Diff.`` is a
method's median minus the baseline's (AT in Table 1, TRADES in Table 2), as the paper prints
it. Each cell also carries the paper's number (:mod:`gair.report.paper_numbers`) and ours
minus the paper's.

Each cell also carries a 95% interval of the mean accuracy over seeds and test points, and
each Diff. the paired gain over the baseline with its 95% interval: runs of the same seed and
the same test points are paired (:mod:`gair.report.stats`, from the per-point files beside
the evaluations, :mod:`gair.report.evidence`). The paper's Diff. is a difference of medians;
``diff`` keeps that one for comparison, ``gain`` is the paired mean.

The manifest's ``columns`` (when given) names the attacks a table shows; Tables 1 and 2 show
the paper's three, while their evaluation files also hold the audit's attacks.

Outputs: ``PREFIX.csv`` (one row per method, checkpoint and attack), ``PREFIX.md`` and
``PREFIX.tex`` (one block per checkpoint, laid out like the paper's table).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from gair.errors import ConfigError, DataError
from gair.evaluation import registry
from gair.report import evidence, read, stats, text, write
from gair.report.catalogue import table
from gair.report.manifest import Item, Manifest
from gair.report.paper_numbers import TABLE3_OTHERS, paper_number

COLUMNS = [
    "table", "method", "checkpoint", "attack", "median", "std", "n_seeds", "diff",
    "paper_median", "paper_std", "paper_diff", "minus_paper", "mean", "low", "high",
    "n_points", "gain", "gain_low", "gain_high", "gain_detectable", "points",
]  # fmt: skip
INTERVALS = COLUMNS[COLUMNS.index("mean") : COLUMNS.index("points")]


def shown(attack: str, columns: list[str] | None) -> bool:
    """Whether a table with these ``columns`` (None: every attack) shows an attack; a column
    ``autoattack`` also shows the cheap setting, under its own name."""
    if attack == registry.WORST_CASE:
        return False
    if not columns:
        return True
    return attack in columns or (attack == "autoattack_cheap" and "autoattack" in columns)


def collect(manifest: Manifest, columns: list[str] | None = None) -> pd.DataFrame:
    """Long table: method, seed, checkpoint, attack, accuracy_pct (percent; best_val's on the
    report split), in manifest order; only the attacks in ``columns`` (when given), never
    worst_case."""
    long = evidence.collect(manifest)
    long = long[[shown(a, columns) for a in long["attack"]]]
    if long.empty:
        raise DataError("the manifest's evaluation files hold none of its columns")
    return long.reset_index(drop=True)


def labels_of(manifest: Manifest) -> dict[str, list[Item]]:
    """Every run label of a manifest and its items (one per seed)."""
    out: dict[str, list[Item]] = {}
    for _, label, item in manifest.items():
        out.setdefault(label, []).append(item)
    return out


def intervals(
    summary: pd.DataFrame, manifest: Manifest | None, baseline: str | None
) -> pd.DataFrame:
    """The summary with each cell's 95% interval (mean over seeds and points) and its paired
    gain over the baseline; NaN where a per-point file is missing."""
    out = summary.copy()
    for col in INTERVALS:
        out[col] = math.nan
    if manifest is None:
        return out
    labels = labels_of(manifest)
    for i, r in out.iterrows():
        items = evidence.evaluated(labels.get(r["method"], []), r["checkpoint"])
        m = evidence.eval_matrix(items, r["checkpoint"], r["attack"])
        if m is None:
            continue
        est = stats.accuracy(m)
        out.loc[i, ["mean", "low", "high", "n_points"]] = [est.value, est.low, est.high, m.shape[1]]
        if baseline is None or r["method"] == baseline or baseline not in labels:
            continue
        theirs = evidence.evaluated(labels[baseline], r["checkpoint"])
        seeds = evidence.common_seeds(items, theirs)
        a = evidence.eval_matrix(evidence.by_seed(items, seeds), r["checkpoint"], r["attack"])
        b = evidence.eval_matrix(evidence.by_seed(theirs, seeds), r["checkpoint"], r["attack"])
        if a is None or b is None or a.shape != b.shape:
            continue
        gain = stats.paired_gain(a, b)
        out.loc[i, ["gain", "gain_low", "gain_high", "gain_detectable"]] = [
            gain.value, gain.low, gain.high, gain.detectable
        ]  # fmt: skip
    return out


def summarize(
    long: pd.DataFrame, table: str, baseline: str | None, manifest: Manifest | None = None
) -> pd.DataFrame:
    """Median and std over seeds, Diff. against the baseline, the paper's numbers, and (with
    the manifest's per-point files) the intervals and paired gains."""
    order = {k: i for i, k in enumerate(dict.fromkeys(long["method"]))}
    ckpt_order = {k: i for i, k in enumerate(dict.fromkeys(long["checkpoint"]))}
    attack_order = {k: i for i, k in enumerate(registry.order(long["attack"]))}
    out = stats.seed_stats(long, ["method", "checkpoint", "attack"])
    out.insert(0, "table", table)
    keys = list(zip(out["checkpoint"], out["attack"], strict=True))
    out["diff"] = math.nan
    if baseline is not None:
        base = out[out["method"] == baseline].set_index(["checkpoint", "attack"])["median"]
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
            k: p for m, k, p in zip(out["method"], keys, out["paper_median"], strict=True)
            if m == baseline
        }  # fmt: skip
        out["paper_diff"] = [
            p - base_paper.get(k, math.nan) for k, p in zip(keys, out["paper_median"], strict=True)
        ]
    out["minus_paper"] = out["median"] - out["paper_median"]
    out = intervals(out, manifest, baseline)
    words = {c: evidence.points_used(manifest, c) if manifest else "" for c in ckpt_order}
    out["points"] = out["checkpoint"].map(words)
    out = out.sort_values(
        ["checkpoint", "method", "attack"],
        key=lambda s: s.map(
            {"checkpoint": ckpt_order, "method": order, "attack": attack_order}[s.name]
        ),
        kind="stable",
    )
    return out[COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------------------ rendering
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
            title = registry.title(attack)
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
                cells.append(text.cell(r["median"], r["std"]) + text.interval(r["low"], r["high"]))
                if baseline:
                    cells.append("-" if method == baseline else gain_cell(r))
                if paper:
                    cells.append(text.cell(r["paper_median"], r["paper_std"]))
                    cells.append(text.number(r["minus_paper"], signed=True))
            rows.append(cells)
        blocks.append((str(checkpoint), header, rows))
    return blocks


def gain_cell(r: pd.Series) -> str:
    """Diff.: the paired gain and its interval where per-point files exist, else the
    difference of medians."""
    if math.isnan(r["gain"]):
        return text.number(r["diff"], signed=True)
    return text.number(r["gain"], signed=True) + text.interval(
        r["gain_low"], r["gain_high"], signed=True
    )


def _others(table: str, attacks: list[str]) -> list[list[str]]:
    """Table 3's context rows: the paper's numbers for methods trained elsewhere."""
    if table != "table3":
        return []
    return [
        [name] + [text.number(vals.get(a, math.nan)) for a in attacks]
        for name, vals in TABLE3_OTHERS.items()
    ]


def to_markdown(
    summary: pd.DataFrame,
    title: str,
    baseline: str | None,
    note: str = "",
    computed: str = "",
) -> str:
    lines = [f"# {title}", "", *text.trained_lines(note), *text.computed_lines(computed)]
    lines += text.selection_lines(summary["checkpoint"])
    paper = " `paper`: the paper's number; `ours - paper`: our median minus it."
    interval = summary["low"].notna().any()
    lines.append(
        "Test accuracy (%), median ± std over seeds"
        + (f" [{interval_of(summary)}]." if interval else ".")
        + (paper if has_paper(summary) else "")
        + (diff_words(baseline, bool(summary["gain"].notna().any())) if baseline else "")
    )
    used = dict(zip(summary["checkpoint"], summary["points"], strict=True))
    for checkpoint, header, rows in _blocks(summary, baseline):
        lines += ["", f"## {checkpoint} checkpoint", ""]
        lines += [f"Points: {used[checkpoint]}.", ""] if used.get(checkpoint) else []
        lines += text.markdown_table(header, rows)
    attacks = list(dict.fromkeys(summary["attack"]))
    others = _others(str(summary["table"].iloc[0]), attacks)
    if others:
        lines += ["", "## Other methods (the paper's numbers, AutoAttack leaderboard)", ""]
        header = ["Method"] + [registry.title(a) for a in attacks]
        lines += text.markdown_table(header, others)
    return "\n".join(lines) + "\n"


def interval_of(summary: pd.DataFrame) -> str:
    """The bracket's words: what the table's intervals cover (text.interval_words)."""
    seeds = int(summary["n_seeds"].max()) if len(summary) else 1
    return text.interval_words(seeds).replace("95% intervals", "95% interval of the mean")


def diff_words(baseline: str, paired: bool) -> str:
    if not paired:
        return f" Diff.: median minus {baseline}'s."
    return (
        f" Diff.: the paired gain over {baseline} (same seeds, same test points; mean over "
        "both) [95% interval]; the paper's Diff. is a difference of medians."
    )


def to_latex(
    summary: pd.DataFrame, title: str, baseline: str | None, note: str = "", computed: str = ""
) -> str:
    lines = ["% " + title, "% median $\\pm$ std over seeds; needs \\usepackage{booktabs}"]
    if note:
        lines.append("% trained here: " + note)
    if computed:
        lines.append("% computed on: " + computed)
    for checkpoint, header, rows in _blocks(summary, baseline):
        lines += [f"% {checkpoint} checkpoint", *text.latex_table(header, rows), ""]
    return "\n".join(lines)


@table("table1", "table2", "table3", "tradeoff")
def write_table(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """Summarise and write PREFIX.csv, .md and .tex; returns the summary."""
    name = manifest.name
    title = manifest.title or name
    baseline = manifest.baseline
    summary = summarize(collect(manifest, manifest.columns), name, baseline, manifest)
    if baseline is not None and baseline not in set(summary["method"]):
        raise ConfigError(
            f"baseline {baseline!r} is not among the methods {sorted(set(summary['method']))}"
        )
    note = read.trained_note(manifest.metrics_files())
    computed = read.computed_on(manifest.data_files())
    write.write_table_files(
        prefix,
        csv=summary.to_csv(index=False, float_format="%.4f"),
        md=to_markdown(summary, title, baseline, note, computed),
        tex=to_latex(summary, title, baseline, note, computed),
    )
    return summary
