"""The A/A calibration figure: each rule's false-verdict rate per statistic, one panel per
number of seeds per side, with its interval and the 5% a 95% interval should give (the table
and the splits: :mod:`gair.report.calibration`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gair.evaluation import registry
from gair.report import calibration, read
from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.manifest import Manifest

RULE_COLORS = {"previous": "#b2182b", "today": "#2166ac"}
RULE_WORDS = {"previous": "previous rule", "today": "today's rule"}


def plot_calibration(frame: pd.DataFrame, footer: str = "", computed: str = "") -> Figure:
    """Per panel (seeds per side) and statistic: each rule's rate (dot) and Wilson interval."""
    sides = sorted(set(frame["seeds_per_side"]))
    fig = style.new_figure(4.2 * len(sides) + 1.0, 3.4)
    axes = fig.subplots(1, len(sides), sharey=True, squeeze=False)[0]
    for ax, per_side in zip(axes, sides, strict=True):
        part = frame[frame["seeds_per_side"] == per_side].reset_index(drop=True)
        x = np.arange(len(part))
        for k, rule in enumerate(calibration.RULES):
            shift = (k - 0.5) * 0.25
            rate = part[f"{rule}_rate"].to_numpy()
            err = [rate - part[f"{rule}_low"].to_numpy(), part[f"{rule}_high"].to_numpy() - rate]
            ax.errorbar(x + shift, rate, yerr=err, fmt="o", color=RULE_COLORS[rule],
                        markersize=4, capsize=2, linewidth=1.0)  # fmt: skip
        ax.axhline(5.0, color="black", linestyle="--", linewidth=0.8)
        labels = [f"{registry.title(a)}\n{c}" for a, c in zip(part["attack"], part["checkpoint"],
                                                               strict=True)]  # fmt: skip
        ax.set_xticks(x, labels, fontsize=6)
        splits = int(part["splits"].iloc[0]) if len(part) else 0
        ax.set_title(f"{per_side} seed{'s' if per_side > 1 else ''} per side ({splits} splits)")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("false verdicts (% of splits)")
    handles = [Line2D([], [], color=c, marker="o", label=RULE_WORDS[r])
               for r, c in RULE_COLORS.items()]  # fmt: skip
    handles.append(Line2D([], [], color="black", linestyle="--", label="5%: a 95% interval's"))
    style.legend_figure(fig, handles, [h.get_label() for h in handles])
    note = "one method against itself: every interval that excludes 0 is a false verdict"
    return style.finish(fig, "A/A calibration", footer, note=note, computed=computed)


@figure("calibration")
def calibration_figure(manifest: Manifest) -> Figure:
    """The calibration of the manifest's runs (:func:`plot_calibration`)."""
    frame = calibration.calibration_table(manifest)
    return plot_calibration(
        frame, read.trained_note(manifest.metrics_files()), read.computed_on(manifest.data_files())
    )
