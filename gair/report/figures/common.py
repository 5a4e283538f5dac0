"""What every figure of the paper draws with: a label's runs and their per-epoch curves
(median over seeds, a band of its 95% interval over seeds and points), colours, markers,
legends, the weight panel and the footer saying what was trained. Figures read Parquet only
(:mod:`gair.report.read`)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from gair.errors import ConfigError
from gair.methods import method_info
from gair.paper.weights import raw_weights
from gair.report import evidence, read, stats, text
from gair.report.figures import style
from gair.report.manifest import Item, Manifest

SEED_KEYS = ["method", "checkpoint", "attack"]


CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# Methods drawn as the red baseline when a figure compares others with them.
BASELINE_METHODS = ("at", "st", "fat", "trades", "mart")


class Curves:
    """One label's runs (every seed) and the first seed's resolved spec."""

    def __init__(self, label: str, items: list[Item]) -> None:
        if not items:
            raise ConfigError(f"run label {label!r} has no runs in the manifest")
        self.label = label
        self.items = items
        self.item = items[0]
        loaded = [read.read_metrics(item.metrics) for item in items]
        self.spec = loaded[0][0]
        self.frames = [frame for _, frame in loaded]
        self.metrics = self.frames[0]

    @property
    def seeds(self) -> int:
        return len(self.items)

    def curve(
        self, column: str, accuracy: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(epochs, median over seeds, std over seeds) of one metrics column, epochs without
        a value dropped; errors in percent (``accuracy``: 100 - error). The std is 0 where
        one seed holds the epoch (gair.report.stats.seed_stats, drawn by its spread)."""
        parts = []
        for seed, frame in enumerate(self.frames):
            if column not in frame:
                continue
            part = frame[["epoch", column]].dropna()
            values = part[column].to_numpy(dtype=float)
            if column.endswith("_err"):
                values = 100.0 * (1.0 - values) if accuracy else 100.0 * values
            parts.append(pd.DataFrame({"epoch": part["epoch"], "seed": seed, "value": values}))
        if not parts:
            empty = np.array([], dtype=float)
            return empty, empty, empty
        cells = stats.seed_stats(pd.concat(parts), ["epoch"], value="value")
        cells = cells.sort_values("epoch")
        std = np.array([stats.spread(v) for v in cells["std"]], dtype=float)
        return cells["epoch"].to_numpy(), cells["median"].to_numpy(dtype=float), std

    def interval(
        self, column: str, accuracy: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(epochs, low, high): the 95% interval of an error column at every evaluated epoch,
        over the seeds and the evaluated points (gair.report.stats.accuracy on training's
        per-point results); errors in percent (``accuracy``: 100 - error). None for a column
        without per-point results (kappa, flatness) or a run without them."""
        found = re.fullmatch(r"(test|train)_(nat|pgd20|adv)_err", column)
        if not found:
            return None
        split, attack = found.groups()
        epochs = sorted(set().union(*(set(f["epoch"][f[column].notna()]) for f in self.frames
                                      if column in f)))  # fmt: skip
        out = []
        for epoch in epochs:
            m = evidence.stack(
                [evidence.train_points(i, int(epoch), split, attack) for i in self.items]
            )
            if m is None:
                return None
            est = stats.accuracy(m)
            low, high = (est.low, est.high) if accuracy else (100 - est.high, 100 - est.low)
            out.append((epoch, low, high))
        if not out:
            return None
        e, lo, hi = (np.array(v, dtype=float) for v in zip(*out, strict=True))
        return e, lo, hi

    def model_title(self) -> str:
        return read.run_titles(self.metrics, self.spec)[0]


def network_label(run: Curves) -> str:
    """A label that names a network, with the network the run really trained where the two
    differ (a smoke config trains an MLP as "ResNet-18")."""
    title = run.model_title()
    if run.label in title:  # "ResNet-18" trained as "ResNet-18 (width 4)"
        return title
    return run.label if title in run.label else f"{run.label} (as {title})"


def runs_of(manifest: Manifest, group: str) -> list[Curves]:
    """The runs of one group (every seed of each label), in config order."""
    groups = manifest.groups
    if group not in groups:
        raise ConfigError(
            f"figure {manifest.name!r} needs a run group {group!r}; "
            f"the config gives: {', '.join(groups) or 'none'}"
        )
    return [Curves(label, items) for label, items in groups[group].items()]


def all_runs(manifest: Manifest) -> list[Curves]:
    return [run for group in manifest.groups for run in runs_of(manifest, group)]


def baseline_colors(runs: list[Curves], plot: dict[str, Any]) -> dict[str, Any]:
    """Configured colours, red for the first run of a baseline method, distinct colours for
    the rest (gair.report.figures.style)."""
    baselines = [r.label for r in runs if r.spec.get("method") in BASELINE_METHODS]
    return style.assign([r.label for r in runs], baselines[:1], plot.get("colors"))


def sweep_colors(
    base: list[Curves], sweep: list[Curves], plot: dict[str, Any], cmap: str = style.SWEEP_CMAP
) -> dict[str, Any]:
    """The baseline runs red (other base runs in colours far from the sweep's), a sweep of one
    setting in shades of ``cmap``, darkest first."""
    shades = style.sweep(len(sweep), cmap)
    baselines = [r.label for r in base if r.spec.get("method") in BASELINE_METHODS]
    colors = style.assign([r.label for r in base], baselines[:1], plot.get("colors"), shades)
    colors.update(zip([r.label for r in sweep], shades, strict=True))
    return colors


def finish(fig: Figure, title: str, runs: list[Curves], manifest: Manifest) -> Figure:
    footer = read.trained_note(item.metrics for r in runs for item in r.items)
    if any(Path(item.train_points).is_file() or item.eval_point_files for r in runs
           for item in r.items):  # fmt: skip
        seeds = max((len({item.seed for item in r.items}) for r in runs), default=1)
        words = f"bands and error bars: {text.interval_words(seeds)}"
        footer = f"{footer} | {words}" if footer else words
    computed = read.computed_on(manifest.data_files())
    return style.finish(fig, title, footer, manifest.note, computed)


def run_key(
    colors: dict[str, Any],
    runs: list[Curves],
    marker: bool = True,
    names: Callable[[Curves], str] | None = None,
) -> tuple[list[Any], list[str]]:
    """Legend entries naming each run by its colour (and marker); ``names`` gives a run's
    legend text (default its label)."""
    handles = [
        Line2D([], [], color=colors[r.label], linewidth=1.4,
               marker=marker_of(colors, r.label) if marker else None, markersize=4)
        for r in runs
    ]  # fmt: skip
    return handles, [names(r) if names else r.label for r in runs]


def marker_of(colors: dict[str, Any], label: str) -> str:
    """A run's marker: by its place among a figure's colours, so that lines and legend agree."""
    return style.MARKERS[list(colors).index(label) % len(style.MARKERS)]


def joined(*keys: tuple[list[Any], list[str]]) -> tuple[list[Any], list[str]]:
    handles: list[Any] = []
    labels: list[str] = []
    for h, lab in keys:
        handles += h
        labels += lab
    return handles, labels


def draw(
    ax: Axes,
    run: Curves,
    column: str,
    color: Any,
    *,
    accuracy: bool = False,
    linestyle: str = "-",
    marker: str | None = None,
    label: str | None = None,
    gid: str | None = None,
) -> None:
    """One run's curve: the median over seeds, and a band: the 95% interval over seeds and
    evaluated points where training kept its per-point results, else one std where seeds
    are several. The line's gid names the series its colour stands for (tests count colours
    per series): the run's label unless ``gid`` says otherwise (a method, where panels pair
    methods)."""
    x, y, std = run.curve(column, accuracy=accuracy)
    if not len(x):
        return
    (line,) = ax.plot(
        x, y, linestyle=linestyle, color=color, marker=marker, markersize=3, linewidth=1.2,
        label=label or run.label,
    )  # fmt: skip
    line.set_gid(gid or run.label)
    interval = run.interval(column, accuracy=accuracy)
    if interval is not None:
        style.band(ax, interval[0], interval[1], interval[2], color)
    elif run.seeds > 1:
        style.band(ax, x, y - std, y + std, color)


def plot_curves(
    ax: Axes,
    runs: list[Curves],
    colors: dict[str, Any],
    column: str,
    *,
    accuracy: bool = False,
    linestyle: str = "-",
    label_suffix: str = "",
    markers: bool = True,
) -> None:
    for run in runs:
        marker = marker_of(colors, run.label) if markers else None
        draw(ax, run, column, colors[run.label], accuracy=accuracy, linestyle=linestyle,
             marker=marker, label=f"{run.label}{label_suffix}")  # fmt: skip
    epoch_axis(ax)


def epoch_axis(ax: Axes) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def lr_changes(run: Curves) -> list[int]:
    """The epochs at which a run's learning rate changed (from the first seed's metrics)."""
    frame = run.metrics[["epoch", "lr"]].dropna() if "lr" in run.metrics else None
    if frame is None or len(frame) < 2:
        return []
    lr = frame["lr"].to_numpy(dtype=float)
    epochs = frame["epoch"].to_numpy()
    return [int(epochs[i]) for i in range(1, len(lr)) if not math.isclose(lr[i], lr[i - 1])]


def mark_lr_changes(ax: Axes, epochs: list[int]) -> None:
    for epoch in epochs:
        ax.axvline(epoch, color="0.6", linestyle=":", linewidth=0.9, zorder=0)


def weight_values(spec: dict[str, Any], kappa: np.ndarray) -> np.ndarray:
    """Raw omega(kappa) of a run (Eqs. 6-8 or the step weight); 1 for unweighted methods.
    Computed by gair.paper.weights on numpy arrays: drawing it needs no torch."""
    if not method_info(str(spec.get("method"))).weighted:
        return np.ones_like(kappa, dtype=float)
    weights = raw_weights(
        np.asarray(kappa),
        steps=int(spec.get("steps", 10)),
        fn=spec.get("weight_fn", "tanh"),
        lam=float(spec.get("lam", 0.0)),
        thresholds=spec.get("step_kappa", []),
        values=spec.get("step_weights", []),
    )
    return np.asarray(weights, dtype=float)


def plot_weights(ax: Axes, runs: list[Curves], colors: dict[str, Any]) -> None:
    """omega as a function of kappa = 0..K for every run (upper-left panel of Fig. 4)."""
    for run in runs:
        steps = int(run.spec.get("steps", 10))
        kappa = np.arange(steps + 1)
        (line,) = ax.plot(
            kappa, weight_values(run.spec, kappa), marker=marker_of(colors, run.label),
            markersize=3, color=colors[run.label], label=run.label, linewidth=1.2,
        )  # fmt: skip
        line.set_gid(run.label)
    ax.set_xlabel(r"geometry value $\kappa$")
    ax.set_ylabel(r"weight $\omega$")
    ax.set_title("weight assignment functions", fontsize=style.PANEL_TITLE_SIZE)
    ax.grid(alpha=0.3)


def test_panels(axes: list[Axes], runs: list[Curves], colors: dict[str, Any]) -> None:
    """Natural and PGD-20 test accuracy per epoch (Figs. 12-20)."""
    plot_curves(axes[0], runs, colors, "test_nat_err", accuracy=True)
    axes[0].set_ylabel("natural test accuracy (%)")
    axes[0].set_title("natural test data", fontsize=style.PANEL_TITLE_SIZE)
    plot_curves(axes[1], runs, colors, "test_pgd20_err", accuracy=True)
    axes[1].set_ylabel("PGD-20 test accuracy (%)")
    axes[1].set_title("PGD-20 test data", fontsize=style.PANEL_TITLE_SIZE)


def model_of(runs: list[Curves]) -> str:
    titles = list(dict.fromkeys(r.model_title() for r in runs))
    return titles[0] if len(titles) == 1 else "one network"
