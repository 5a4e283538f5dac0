"""The sensitivity figure: each pair's gain per variation with its 95% interval, coloured by
its verdict, one panel per pair and attack; factors are blocks of rows, the paper's setting
drawn as a diamond (the table and the rules: :mod:`gair.report.sensitivity`)."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gair.evaluation import registry
from gair.report import sensitivity, text
from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.figures.claims import VERDICT_COLORS
from gair.report.manifest import Manifest


def row_positions(frame: pd.DataFrame) -> tuple[dict[tuple[str, str], float], list[float]]:
    """(factor, level) -> y, top to bottom in the table's order with a gap between factors,
    and the y of each gap (drawn as a rule)."""
    keys = list(dict.fromkeys(zip(frame["factor"], frame["level"], strict=True)))
    y, positions, rules = 0.0, {}, []
    previous = None
    for factor, level in keys:
        if previous is not None and factor != previous:
            rules.append(y + 0.25)
            y -= 0.5
        positions[factor, level] = y
        y -= 1.0
        previous = factor
    return positions, rules


def plot_sensitivity(
    frame: pd.DataFrame, *, title: str, footer: str = "", note: str = "", computed: str = ""
) -> Any:
    """One panel per (pair, attack): per variation its gain (dot; diamond where the setting
    is the paper's for that pair) and 95% interval in its verdict's colour, zero marked."""
    panels = list(dict.fromkeys(zip(frame["method"], frame["baseline"], frame["attack"],
                                    strict=True)))  # fmt: skip
    positions, rules = row_positions(frame)
    height = 1.6 + 0.24 * (len(positions) + len(rules))
    fig = style.new_figure(2.6 * max(1, len(panels)) + 1.8, height)
    axes = fig.subplots(1, max(1, len(panels)), sharey=True, squeeze=False)[0]
    for ax, (method, baseline, attack) in zip(axes, panels, strict=False):
        part = frame[
            (frame["method"] == method)
            & (frame["baseline"] == baseline)
            & (frame["attack"] == attack)
        ]
        for r in part.to_dict("records"):
            yi = positions[r["factor"], r["level"]]
            color = VERDICT_COLORS[r["verdict"]]
            marker = "D" if r["paper"] else "o"
            if math.isnan(r["gain"]):
                ax.annotate(r["verdict"], (0.0, yi), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize=6, color="0.35")  # fmt: skip
                continue
            ax.errorbar(
                r["gain"], yi, xerr=[[r["gain"] - r["low"]], [r["high"] - r["gain"]]],
                fmt=marker, color=color, markersize=4, capsize=2, linewidth=1.0,
                markeredgecolor="black" if r["paper"] else color,
            )  # fmt: skip
        ax.axvline(0.0, color="black", linewidth=0.8)
        for y in rules:
            ax.axhline(y, color="0.8", linewidth=0.6)
        ax.set_title(f"{method} - {baseline}\n{registry.title(attack)}", fontsize=8)
        ax.set_xlabel("gain (accuracy points)", fontsize=8)
        ax.grid(alpha=0.3, axis="x")
    labels = [f"{factor}: {level}" for factor, level in positions]
    axes[0].set_yticks(list(positions.values()), labels, fontsize=6)
    low = min(positions.values(), default=0.0)
    axes[0].set_ylim(low - 0.7, 0.7)
    present = set(frame["verdict"])
    handles = [
        Line2D([], [], color=c, marker="o", linestyle="-", markersize=4, label=v)
        for v, c in VERDICT_COLORS.items()
        if v in present
    ]
    handles.append(Line2D([], [], color="0.4", marker="D", markeredgecolor="black",
                          linestyle="none", label="the paper's setting"))  # fmt: skip
    style.legend_figure(fig, handles, [h.get_label() for h in handles])
    seeds = int(frame["n_seeds"].max()) if len(frame) else 1
    rule = f"{text.interval_words(seeds)}, paired by seed and point"
    footer = "\n".join(textwrap.wrap(footer, 150))
    note = "\n".join([rule, *textwrap.wrap(note, 150)])
    return style.finish(fig, title, footer, note=note, computed=computed)


@figure("sensitivity")
def sensitivity_figure(manifest: Manifest) -> Figure:
    """Every variation's gains of the manifest (:func:`plot_sensitivity`)."""
    frame, footer, computed = sensitivity.sensitivity_of(manifest)
    title = "\n".join(textwrap.wrap(manifest.title or manifest.name, 90))
    return plot_sensitivity(
        frame, title=title, footer=footer, note=manifest.note, computed=computed
    )
