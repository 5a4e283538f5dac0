"""The claims' figure: each claim's effect with its 95% interval, coloured by its verdict,
beside the paper's own value, the zero line and the claim's margin; one panel per unit (the
table: :mod:`gair.report.claims`)."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gair.report import claims
from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.manifest import Manifest

VERDICT_COLORS = {
    "supported": "#1a9850",
    "contradicted": "#d73027",
    "inconclusive": "#7f7f7f",
    "this run": "#6a8ec8",
    "descriptive": "#b5a26a",
    "not run": "#c7c7c7",
}


def plot_claims(frame: pd.DataFrame, footer: str = "") -> Any:
    """One row per claim: the estimate (dot) and its interval (bar) in the verdict's colour,
    the paper's value (open triangle), the claim's margin (a short dashed tick) and zero."""
    units = list(dict.fromkeys(frame["unit"]))
    heights = [max(1, int((frame["unit"] == u).sum())) for u in units]
    fig = style.new_figure(9.0, 1.2 + 0.22 * sum(heights) + 0.5 * len(units))
    grid = fig.add_gridspec(len(units), 1, height_ratios=heights)
    for k, unit in enumerate(units):
        ax = fig.add_subplot(grid[k])
        part = frame[frame["unit"] == unit].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        for yi, r in zip(y, part.to_dict("records"), strict=True):
            color = VERDICT_COLORS[r["verdict"]]
            if not math.isnan(r["effect"]):
                ax.errorbar(
                    r["effect"], yi,
                    xerr=[[r["effect"] - r["low"]], [r["high"] - r["effect"]]],
                    fmt="o", color=color, markersize=4, capsize=2, linewidth=1.0,
                )  # fmt: skip
            else:  # no estimate: say why where the interval would be
                why = "reference gain within noise" if r["verdict"] == "inconclusive" else "not run"
                ax.annotate(why, (0.0, yi), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize=6, color="0.35")  # fmt: skip
            if not math.isnan(r["paper_value"]):
                ax.plot(r["paper_value"], yi, marker="^", markerfacecolor="none",
                        markeredgecolor="black", linestyle="none", markersize=5)  # fmt: skip
            if r["margin"]:
                ax.plot([r["margin"]] * 2, [yi - 0.35, yi + 0.35], color="black",
                        linestyle="--", linewidth=0.8)  # fmt: skip
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(y, list(part["id"]), fontsize=6)
        ax.set_ylim(-0.7, len(part) - 0.3)
        ax.set_xlabel(unit, fontsize=8)
        ax.grid(alpha=0.3, axis="x")
    handles = [
        Line2D([], [], color=c, marker="o", linestyle="-", markersize=4, label=v)
        for v, c in VERDICT_COLORS.items()
        if v in set(frame["verdict"])
    ]
    handles += [
        Line2D([], [], marker="^", markerfacecolor="none", markeredgecolor="black",
               linestyle="none", label="the paper's value"),
        Line2D([], [], color="black", linestyle="--", label="the claim's margin"),
    ]  # fmt: skip
    style.legend_figure(fig, handles, [h.get_label() for h in handles])
    rule = (
        "bars: marginal 95% intervals (over test points and seeds where there are several "
        "seeds, over test points only for 'this run'); verdicts from the multiplicity-adjusted "
        "intervals (q = 0.05 over the claim entries); gains paired by seed and point"
    )
    footer = "\n".join(textwrap.wrap(footer, 140))
    tally = "\n".join(textwrap.wrap(claims.tally(frame), 60))
    title = f"The paper's claims against our runs\n{tally}"
    return style.finish(fig, title, footer, note=rule)


@figure("claims")
def claims_figure(manifest: Manifest) -> Figure:
    """Every claim of the manifest (:func:`plot_claims`)."""
    frame = claims.frame_of(claims.judge_all(manifest))
    return plot_claims(frame, claims.manifest_notes(manifest))
