"""The audit's figure: per method, its PGD-20 gain beside its AutoAttack gain over the
baseline, one panel per checkpoint kind (the table: :mod:`gair.report.audit`)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from gair.evaluation import registry
from gair.report.audit import FRACTION, audit_of, gain_attacks
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


def plot_audit(table: pd.DataFrame, *, baseline: str, footer: str = "") -> Any:
    """Per method, its PGD-20 gain beside its AutoAttack gain over the baseline, with one
    std over seeds as error bars (:func:`gain_spread`).

    One panel per checkpoint kind; bars in percentage points, the surviving fraction written
    above each pair; ``footer`` says what was trained. Returns a matplotlib Figure (no
    pyplot state is touched).
    """
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


@figure("audit")
def audit(manifest: Manifest) -> Figure:
    """The gains of an audit target's manifest (:func:`plot_audit`)."""
    frame, note = audit_of(manifest)
    return plot_audit(frame, baseline=str(manifest.baseline), footer=note)
