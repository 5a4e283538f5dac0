"""The audit's figure: per method, its PGD-20 gain beside its gains under the stronger attacks
over the baseline, one panel per checkpoint kind, with 95% intervals (the table:
:mod:`gair.report.audit`)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from gair.evaluation import registry
from gair.report.audit import PGD, WITHIN_NOISE, audit_of, gain_attacks, paired
from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.manifest import Manifest


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


def gain_errors(table: pd.DataFrame, attack: str, baseline: str) -> tuple[list, list]:
    """(below, above) error-bar lengths of a gain: its 95% interval where per-point files gave
    one, else one std over seeds (:func:`gain_spread`)."""
    gain = table[f"gain_{attack}"].fillna(0.0)
    if f"gain_{attack}_low" in table and table[f"gain_{attack}_low"].notna().any():
        below = (gain - table[f"gain_{attack}_low"]).fillna(0.0).clip(lower=0.0)
        above = (table[f"gain_{attack}_high"] - gain).fillna(0.0).clip(lower=0.0)
        return below.tolist(), above.tolist()
    spread = gain_spread(table, attack, baseline)
    return spread.tolist(), spread.tolist()


def plot_audit(table: pd.DataFrame, *, baseline: str, footer: str = "", computed: str = "") -> Any:
    """Per method, its PGD-20 gain beside its gains under the stronger attacks over the
    baseline, with their 95% intervals as error bars (one std over seeds where no per-point
    files exist: :func:`gain_errors`).

    One panel per checkpoint kind; bars in percentage points; above each group the share of
    the PGD-20 gain kept under the first stronger attack (AutoAttack), "n/a" where the
    PGD-20 gain is within noise; ``footer`` says what was trained, ``computed`` where.
    Returns a matplotlib Figure (no pyplot state is touched).
    """
    gains = [a for a in gain_attacks(table) if f"gain_{a}" in table]
    others = table[table["method"] != baseline]
    checkpoints = list(dict.fromkeys(table["checkpoint"]))
    fig = Figure(figsize=(3.4 * max(1, len(checkpoints)) + 2.4, 3.8), layout="constrained")
    axes = fig.subplots(1, max(1, len(checkpoints)), squeeze=False)[0]
    colours = dict(zip(gains, ("#1f77b4", "#ff7f0e", "#2ca02c", "#7f3c8d"), strict=False))
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
            below, above = gain_errors(table, attack, baseline)
            position = [table.index.get_loc(i) for i in part.index]
            low = [below[j] for j in position]
            high = [above[j] for j in position]
            ax.bar(
                xs, heights.tolist(), width=width, yerr=[low, high], capsize=2,
                color=colours.get(attack, "#7f7f7f"),
                label=f"{registry.title(attack)} gain",
                error_kw={"linewidth": 0.8},
            )  # fmt: skip
            tops = tops.combine(heights + pd.Series(high, index=part.index), max)
        if len(gains) > 1 and paired(table):
            first = gains[1]
            for i, (r, top) in enumerate(zip(part.to_dict("records"), tops, strict=True)):
                share = r.get(f"share_{first}", math.nan)
                words = "n/a" if math.isnan(share) else f"{share:.0f}%"
                if math.isnan(r.get(f"gain_{PGD}_low", math.nan)):
                    continue
                ax.annotate(
                    words,
                    (i, max(top, 0.0)),
                    textcoords="offset points",
                    xytext=(0, 3),
                    ha="center",
                    fontsize=8,
                )
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
        ax.set_title(f"{checkpoint} checkpoint" if checkpoint else "", fontsize=9)
        if ax is axes[0]:
            ax.set_ylabel(
                f"gain over {baseline} (pp)\n"
                + ("paired mean, 95% interval" if paired(table) else "median, std over seeds")
            )
        if not methods:
            ax.text(0.5, 0.5, f"no method besides {baseline}", ha="center", transform=ax.transAxes)
    style.legend_figure(fig, *style.unique_handles([axes[0]]))
    robust = registry.title(gains[1]) if len(gains) > 1 else "AutoAttack"
    if paired(table):
        footer = "\n".join(x for x in (footer, f"share above the bars; {WITHIN_NOISE}: n/a") if x)
    return style.finish(
        fig, f"How much of the PGD-20 gain survives {robust}", footer, computed=computed
    )


@figure("audit")
def audit(manifest: Manifest) -> Figure:
    """The gains of an audit target's manifest (:func:`plot_audit`)."""
    frame, note, computed = audit_of(manifest)
    return plot_audit(frame, baseline=str(manifest.baseline), footer=note, computed=computed)
