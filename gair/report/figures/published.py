"""The published checkpoints' figure: per model, our accuracy under each attack beside the
numbers RobustBench and its paper report (the table: :mod:`gair.report.published`)."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from gair.report.catalogue import figure
from gair.report.manifest import Manifest
from gair.report.published import our_columns, summary


@figure("published")
def published(manifest: Manifest) -> Figure:
    """Every published model of the manifest under every attack it was evaluated with."""
    frame = summary(manifest)
    return plot(frame, our_columns(frame, float(manifest.eps or 0.0)))


def plot(frame: Any, columns: list[tuple[str, str]]) -> Any:
    """Per model, our accuracy under each attack (bars), RobustBench's AutoAttack number (a
    black cross) and the paper's own robust number (an open triangle)."""
    attacks = [c for c, _ in columns]
    titles = dict(columns)
    models = list(frame["model"])
    fig = Figure(figsize=(max(6.0, 1.4 * len(models) + 3), 4.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(attacks))
    shades = matplotlib.colormaps["viridis"](np.linspace(0.05, 0.9, len(attacks)))
    colors = dict(zip(attacks, shades, strict=True))
    x = np.arange(len(models))
    for k, attack in enumerate(attacks):
        ax.bar(x + (k - (len(attacks) - 1) / 2) * width, frame[attack], width=width,
               color=colors[attack], label=f"ours: {titles[attack]}")  # fmt: skip
    ax.scatter(x, frame["robustbench_autoattack"], marker="x", color="black", zorder=3,
               label="RobustBench: AutoAttack")  # fmt: skip
    ax.scatter(x, frame["paper_robust"], marker="^", facecolors="none", edgecolors="black",
               zorder=3, label="paper: its own attack")  # fmt: skip
    ax.set_xticks(x, models, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, frameon=True, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Published checkpoints: our attacks beside the reported numbers", fontsize=10)
    return fig
