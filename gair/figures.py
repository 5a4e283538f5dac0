"""The paper's figures from Parquet files: metrics per epoch, geometry, evaluations.

``python -m gair figure NAME --manifest JSON --out PREFIX`` writes PREFIX.pdf, PREFIX.png and
PREFIX.json (the panels drawn and the files read). The manifest comes from the workflow:
group -> run label -> one entry per seed with the run's ``metrics`` Parquet, and where the
figure needs them its ``geometry`` and ``evals`` Parquet files; ``plot`` carries options
(class pairs, colours). Nothing here reads a checkpoint.

Each figure function returns a matplotlib Figure whose panels follow the paper's caption;
``tradeoff`` (every method's natural against robust accuracy) is ours, not the paper's.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from gair import report, style
from gair.errors import ConfigError, DataError
from gair.evaluation import registry
from gair.methods import method_info
from gair.paper.weights import raw_weights
from gair.tables import load_manifest

SEED_KEYS = ["method", "checkpoint", "attack"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# Methods drawn as the red baseline when a figure compares others with them.
BASELINE_METHODS = ("at", "st", "fat", "trades", "mart")


# Figure name (the workflow target) -> the function that draws it from its manifest.
FIGURES: dict[str, Callable[[dict[str, Any]], Figure]] = {}


def figure(name: str) -> Callable[[Callable[[dict[str, Any]], Figure]], Callable[..., Figure]]:
    """Register a figure function under its target name."""

    def register(fn: Callable[[dict[str, Any]], Figure]) -> Callable[[dict[str, Any]], Figure]:
        FIGURES[name] = fn
        return fn

    return register


# ------------------------------------------------------------------------------ data
class Curves:
    """One label's runs (every seed) and the first seed's resolved spec."""

    def __init__(self, label: str, items: list[dict[str, Any]]) -> None:
        if not items:
            raise ConfigError(f"run label {label!r} has no runs in the manifest")
        self.label = label
        self.items = items
        self.item = items[0]
        loaded = [report.read_metrics(item["metrics"]) for item in items]
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
        one seed holds the epoch (gair.report.seed_stats, drawn by report.spread)."""
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
        stats = report.seed_stats(pd.concat(parts), ["epoch"], value="value")
        stats = stats.sort_values("epoch")
        std = np.array([report.spread(v) for v in stats["std"]], dtype=float)
        return stats["epoch"].to_numpy(), stats["median"].to_numpy(dtype=float), std

    def model_title(self) -> str:
        return report.run_titles(self.metrics, self.spec)[0]


def network_label(run: Curves) -> str:
    """A label that names a network, with the network the run really trained where the two
    differ (a smoke config trains an MLP as "ResNet-18")."""
    title = run.model_title()
    if run.label in title:  # "ResNet-18" trained as "ResNet-18 (width 4)"
        return title
    return run.label if title in run.label else f"{run.label} (as {title})"


def runs_of(manifest: dict[str, Any], group: str) -> list[Curves]:
    """The runs of one group (every seed of each label), in config order."""
    groups = manifest["groups"]
    if group not in groups:
        raise ConfigError(
            f"figure {manifest.get('name')!r} needs a run group {group!r}; "
            f"the config gives: {', '.join(groups) or 'none'}"
        )
    return [Curves(label, items) for label, items in groups[group].items()]


def all_runs(manifest: dict[str, Any]) -> list[Curves]:
    return [run for group in manifest["groups"] for run in runs_of(manifest, group)]


def baseline_colors(runs: list[Curves], plot: dict[str, Any]) -> dict[str, Any]:
    """Configured colours, red for the first run of a baseline method, distinct colours for
    the rest (gair.style)."""
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


def _finish(fig: Figure, title: str, runs: list[Curves], manifest: dict[str, Any]) -> Figure:
    footer = report.trained_note(item["metrics"] for r in runs for item in r.items)
    return style.finish(fig, title, footer, str(manifest.get("note") or ""))


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


# ------------------------------------------------------------------------------ panels
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
    """One run's curve: the median over seeds, a band of one std where seeds are several.
    The line's gid names the series its colour stands for (tests count colours per series):
    the run's label unless ``gid`` says otherwise (a method, where panels pair methods)."""
    x, y, std = run.curve(column, accuracy=accuracy)
    if not len(x):
        return
    (line,) = ax.plot(
        x, y, linestyle=linestyle, color=color, marker=marker, markersize=3, linewidth=1.2,
        label=label or run.label,
    )  # fmt: skip
    line.set_gid(gid or run.label)
    if run.seeds > 1:
        style.band(ax, x, y, std, color)


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
    _epoch_axis(ax)


def _epoch_axis(ax: Axes) -> None:
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


def _test_panels(axes: list[Axes], runs: list[Curves], colors: dict[str, Any]) -> None:
    """Natural and PGD-20 test accuracy per epoch (Figs. 12-20)."""
    plot_curves(axes[0], runs, colors, "test_nat_err", accuracy=True)
    axes[0].set_ylabel("natural test accuracy (%)")
    axes[0].set_title("natural test data", fontsize=style.PANEL_TITLE_SIZE)
    plot_curves(axes[1], runs, colors, "test_pgd20_err", accuracy=True)
    axes[1].set_ylabel("PGD-20 test accuracy (%)")
    axes[1].set_title("PGD-20 test data", fontsize=style.PANEL_TITLE_SIZE)


# ------------------------------------------------------------------------------ figures
def _model_of(runs: list[Curves]) -> str:
    titles = list(dict.fromkeys(r.model_title() for r in runs))
    return titles[0] if len(titles) == 1 else "one network"


def _capacity_panels(manifest: dict[str, Any], split: bool) -> tuple[Figure, list[Curves]]:
    networks = runs_of(manifest, "networks")
    eps_runs = runs_of(manifest, "eps")
    st = runs_of(manifest, "st") if "st" in manifest["groups"] else []
    net_colors = style.assign([r.label for r in [*st, *networks]], [r.label for r in st])
    eps_colors = dict(
        zip([r.label for r in eps_runs], style.sweep(len(eps_runs), style.EPS_CMAP), strict=True)
    )
    eps_what = rf"AT on {_model_of(eps_runs)}, different $\epsilon_{{train}}$"
    st_key = (
        [Line2D([], [], color="0.25", linestyle=":")], ["ST: natural test error"]
    ) if st else ([], [])  # fmt: skip
    if split:  # Figs. 5, 6: natural and adversarial training error in separate panels
        fig = style.new_figure(11, 7.5)
        axes = fig.subplots(2, 2, squeeze=False)
        rows = [
            (networks, net_colors, "AT on networks of growing size"),
            (eps_runs, eps_colors, eps_what),
        ]
        for i, (runs, colors, what) in enumerate(rows):
            plot_curves(axes[i][0], runs, colors, "train_nat_err")
            if i == 0 and st:
                plot_curves(axes[i][0], st, colors, "train_nat_err")
                plot_curves(axes[i][0], st, colors, "test_nat_err", linestyle=":")
            axes[i][0].set_title(f"natural training error: {what}", fontsize=style.PANEL_TITLE_SIZE)
            plot_curves(axes[i][1], runs, colors, "train_adv_err", linestyle="--")
            axes[i][1].set_title(f"PGD-10 training error: {what}", fontsize=style.PANEL_TITLE_SIZE)
            for ax in axes[i]:
                ax.set_ylabel("error (%)")
            shown = [*st, *runs] if i == 0 else runs
            key = run_key(colors, shown, names=network_label if i == 0 else None)
            style.legend_right(axes[i][1], *joined(key, st_key if i == 0 else ([], [])))
    else:  # Fig. 2: solid natural, dashed PGD-10 training error
        fig = style.new_figure(12, 4.2)
        axes = fig.subplots(1, 2, squeeze=False)
        lines = style.style_key({"natural training error": "-", "PGD-10 training error": "--"})
        for ax, runs, colors, what in (
            (axes[0][0], networks, net_colors, "AT on networks of growing size"),
            (axes[0][1], eps_runs, eps_colors, eps_what),
        ):
            plot_curves(ax, runs, colors, "train_nat_err")
            plot_curves(ax, runs, colors, "train_adv_err", linestyle="--", label_suffix=" (PGD-10)")
            ax.set_title(what, fontsize=style.PANEL_TITLE_SIZE)
            ax.set_ylabel("training error (%)")
        if st:
            plot_curves(axes[0][0], st, net_colors, "train_nat_err")
            plot_curves(
                axes[0][0], st, net_colors, "test_nat_err", linestyle=":", label_suffix=" (test)"
            )
        nets = run_key(net_colors, [*st, *networks], names=network_label)
        style.legend_right(axes[0][0], *joined(nets, lines, st_key))
        style.legend_right(axes[0][1], *joined(run_key(eps_colors, eps_runs), lines))
    return fig, [*networks, *eps_runs, *st]


@figure("fig2")
def fig2(manifest: dict[str, Any]) -> Figure:
    """Fig. 2: natural (solid) and PGD-10 (dashed) training error; networks left, eps right."""
    fig, runs = _capacity_panels(manifest, split=False)
    return _finish(fig, "Fig. 2: model capacity in adversarial training", runs, manifest)


@figure("fig5")
def fig5(manifest: dict[str, Any]) -> Figure:
    """Fig. 5: Fig. 2 with natural and adversarial training error in separate panels."""
    fig, runs = _capacity_panels(manifest, split=True)
    return _finish(
        fig, "Fig. 5: natural and adversarial training error (the paper: CIFAR-10)", runs, manifest
    )


@figure("fig6")
def fig6(manifest: dict[str, Any]) -> Figure:
    """Fig. 6: Fig. 5 on SVHN."""
    fig, runs = _capacity_panels(manifest, split=True)
    return _finish(
        fig, "Fig. 6: natural and adversarial training error (the paper: SVHN)", runs, manifest
    )


def read_geometry(path: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise DataError(f"geometry file {path!r} does not exist; run its `geometry` job first")
    return pd.read_parquet(path)


def pair_projection(frame: pd.DataFrame, a: int, b: int) -> pd.DataFrame:
    """Points of classes a and b with 2-D coordinates: PCA of their own logits where the file
    has them (columns logit0..), else the file's PCA of all points (pc1, pc2)."""
    part = frame[frame["label"].isin([a, b])].copy()
    if part.empty:
        raise DataError(f"the geometry file has no points of classes {a} and {b}")
    logit_cols = sorted(
        (c for c in part.columns if c.startswith("logit")), key=lambda c: int(c[5:])
    )
    if logit_cols and len(part) >= 2:
        values = part[logit_cols].to_numpy(dtype=float)
        centred = values - values.mean(0, keepdims=True)
        _, _, vh = np.linalg.svd(centred, full_matrices=False)
        coords = centred @ vh[:2].T
        part["u"] = coords[:, 0]
        part["v"] = coords[:, 1] if coords.shape[1] > 1 else 0.0
    else:
        part["u"], part["v"] = part["pc1"], part["pc2"]
    return part


def kappa_scatter(
    ax: Axes, part: pd.DataFrame, xcol: str, ycol: str, classes: list[int], kmax: int
) -> None:
    """Light = small kappa (attackable), dark = large kappa (guarded); reds and blues per class
    (colour maps without their white end: gair.style.kappa_cmap)."""
    for cls, cmap in zip(classes, style.KAPPA_CMAPS, strict=False):
        pts = part[part["label"] == cls]
        ax.scatter(
            pts[xcol], pts[ycol], c=pts["kappa"], cmap=style.kappa_cmap(cmap), vmin=0,
            vmax=kmax, s=7, linewidths=0, label=f"class {cls}",
        )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _class_name(cls: int, dataset: str) -> str:
    return CIFAR10[cls] if dataset == "cifar10" and 0 <= cls < 10 else str(cls)


def _kappa_max(frames: list[pd.DataFrame], runs: list[Curves]) -> int:
    """The top of the kappa scale: the attack's step count K (kappa is in 0..K)."""
    steps = [int(r.spec.get("steps", 0) or 0) for r in runs]
    return max([*steps, *(int(f["kappa"].max()) for f in frames), 1])


def _pair_panels(
    axes: list[Axes], run: Curves, frame: pd.DataFrame, pairs: list[list[int]], kmax: int
) -> None:
    dataset = str(run.spec.get("dataset"))
    for ax, pair in zip(axes, pairs, strict=True):
        a, b = int(pair[0]), int(pair[1])
        part = pair_projection(frame, a, b)
        kappa_scatter(ax, part, "u", "v", [a, b], kmax)
        ax.set_title(
            f"{_class_name(a, dataset)} (red) vs {_class_name(b, dataset)} (blue)", fontsize=8
        )


def _pairs(manifest: dict[str, Any]) -> list[list[int]]:
    pairs = manifest.get("plot", {}).get("pairs", [])
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ConfigError(
            f"plot.pairs = {pairs!r} is invalid: give a list of class pairs, e.g. [[3, 8]]"
        )
    return pairs


def _checkpoint_words(run: Curves) -> str:
    profile = run.item.get("geometry_checkpoint")
    return f", checkpoint {profile}" if profile else ""


@figure("fig3")
def fig3(manifest: dict[str, Any]) -> Figure:
    """Fig. 3: kappa of training points; left the 2-D toy sets in input space, right the
    2-D PCA of logits for a pair of classes (an AT snapshot taken at the LR drop)."""
    toys = runs_of(manifest, "toy")
    pca = runs_of(manifest, "pca")[0]
    pairs = _pairs(manifest)
    n = len(toys) + len(pairs)
    fig = style.new_figure(3.3 * n + 1.5, 3.6)
    axes = fig.subplots(1, n, squeeze=False)[0]
    frames = [read_geometry(run.item["geometry"]) for run in toys]
    pca_frame = read_geometry(pca.item["geometry"])
    kmax = _kappa_max([*frames, pca_frame], [*toys, pca])
    for ax, run, frame in zip(axes, toys, frames, strict=False):
        kappa_scatter(ax, frame, "x1", "x2", sorted(frame["label"].unique().tolist())[:2], kmax)
        ax.set_title(f"toy: {run.label} (input space)", fontsize=style.PANEL_TITLE_SIZE)
    _pair_panels(list(axes[len(toys) :]), pca, pca_frame, pairs, kmax)
    for ax in axes[len(toys) :]:
        ax.set_title(f"{ax.get_title()}: PCA of logits{_checkpoint_words(pca)}", fontsize=8)
    style.kappa_colorbars(fig, list(axes), kmax, ["the red class", "the blue class"])
    title = r"Fig. 3: $\kappa$ of training data, lighter = smaller $\kappa$ (attackable)"
    return _finish(fig, title, [*toys, pca], manifest)


def _pair_grid(manifest: dict[str, Any], title: str) -> Figure:
    run = runs_of(manifest, "pca")[0]
    pairs = _pairs(manifest)
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = style.new_figure(3.3 * cols + 1.5, 3.2 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    frame = read_geometry(run.item["geometry"])
    kmax = _kappa_max([frame], [run])
    _pair_panels(flat[: len(pairs)], run, frame, pairs, kmax)
    for ax in flat[len(pairs) :]:
        ax.axis("off")
    style.kappa_colorbars(fig, flat, kmax, ["the red class", "the blue class"])
    return _finish(fig, f"{title}{_checkpoint_words(run)}", [run], manifest)


@figure("fig7")
def fig7(manifest: dict[str, Any]) -> Figure:
    """Fig. 7 (Part A): 2-D PCA of logits of class pairs, coloured by kappa."""
    return _pair_grid(manifest, r"Fig. 7: PCA of logits by $\kappa$, part A")


@figure("fig8")
def fig8(manifest: dict[str, Any]) -> Figure:
    """Fig. 8 (Part B): more class pairs."""
    return _pair_grid(manifest, r"Fig. 8: PCA of logits by $\kappa$, part B")


def _overfitting(manifest: dict[str, Any], title: str) -> Figure:
    """Figs. 4 and 10: the six panels of the caption."""
    runs = runs_of(manifest, "methods")
    colors = baseline_colors(runs, manifest.get("plot", {}))
    fig = style.new_figure(14, 7.5)
    axes = fig.subplots(2, 3)
    plot_weights(axes[0][0], runs, colors)
    at = next((r for r in runs if r.spec.get("method") == "at"), runs[0])
    draw(axes[1][0], at, "kappa_median", colors[at.label], marker="o", label=f"{at.label}: median")
    draw(axes[1][0], at, "kappa_mean", colors[at.label], linestyle=":", marker="x",
         label=f"{at.label}: mean")  # fmt: skip
    drops = lr_changes(at)
    mark_lr_changes(axes[1][0], drops)
    _epoch_axis(axes[1][0])
    axes[1][0].set_ylabel(r"geometry value $\kappa$ of training data")
    axes[1][0].set_title(
        rf"$\kappa$ over all training data ({at.label})", fontsize=style.PANEL_TITLE_SIZE
    )
    panels = (
        (axes[0][1], "train_nat_err", "test_nat_err", "natural error (%)", "natural error"),
        (axes[0][2], "train_pgd20_err", "test_pgd20_err", "PGD-20 error (%)", "PGD-20 error"),
    )
    for ax, train_col, test_col, ylabel, name in panels:
        plot_curves(ax, runs, colors, train_col, label_suffix=" train")
        plot_curves(ax, runs, colors, test_col, linestyle="--", label_suffix=" test")
        mark_lr_changes(ax, drops)
        ax.set_ylabel(ylabel)
        ax.set_title(
            f"{name}: training (solid) and test (dashed) data", fontsize=style.PANEL_TITLE_SIZE
        )
    plot_curves(axes[1][1], runs, colors, "flat_friendly")
    axes[1][1].set_title(
        "flatness at friendly adversarial test data", fontsize=style.PANEL_TITLE_SIZE
    )
    plot_curves(axes[1][2], runs, colors, "flat_adv")
    axes[1][2].set_title("flatness at most adversarial test data", fontsize=style.PANEL_TITLE_SIZE)
    for ax in (axes[1][1], axes[1][2]):
        ax.set_ylabel(r"mean $\|\nabla_{\tilde x}\ell\|$")
    key = joined(
        run_key(colors, runs),
        style.style_key(
            {
                "training data": "-",
                "test data": "--",
                r"$\kappa$: median": ("-", "o"),
                r"$\kappa$: mean": (":", "x"),
            }
        ),
        ([Line2D([], [], color="0.6", linestyle=":", linewidth=0.9)], ["LR change"])
        if drops
        else ([], []),
    )
    style.legend_figure(fig, *key)
    return _finish(fig, title, runs, manifest)


@figure("fig4")
def fig4(manifest: dict[str, Any]) -> Figure:
    """Fig. 4: AT vs GAIRAT (omega_2, omega_3)."""
    return _overfitting(
        manifest, "Fig. 4: GAIRAT relieves robust overfitting (the paper: CIFAR-10)"
    )


@figure("fig10")
def fig10(manifest: dict[str, Any]) -> Figure:
    """Fig. 10: Fig. 4 on SVHN."""
    return _overfitting(manifest, "Fig. 10: GAIRAT relieves robust overfitting (the paper: SVHN)")


@figure("fig11")
def fig11(manifest: dict[str, Any]) -> Figure:
    """Fig. 11: LR schedules (top); per schedule PGD-20 (middle) and natural (bottom) test
    error of AT (red) and GAIRAT."""
    at = runs_of(manifest, "at")
    gairat = {r.label: r for r in runs_of(manifest, "gairat")}
    schedules = [r.label for r in at]
    n = len(schedules)
    fig = style.new_figure(3.2 * n + 1.8, 8.5)
    grid = fig.add_gridspec(3, n)
    top = fig.add_subplot(grid[0, :])
    colors = dict(zip(schedules, style.qualitative(n), strict=True))
    for k, run in enumerate(at):
        draw(top, run, "lr", colors[run.label], marker=style.MARKERS[k])
    _epoch_axis(top)
    top.set_ylabel("learning rate")
    top.set_title("learning-rate schedules", fontsize=style.PANEL_TITLE_SIZE)
    for j, run in enumerate(at):
        other = gairat.get(run.label)
        for row, column, what in ((1, "test_pgd20_err", "PGD-20"), (2, "test_nat_err", "natural")):
            ax = fig.add_subplot(grid[row, j])
            draw(ax, run, column, style.BASELINE, label="AT", gid="AT")
            if other is not None:
                draw(ax, other, column, colors[run.label], label="GAIRAT", gid="GAIRAT")
            ax.set_title(f"{run.label}: {what} test error", fontsize=8)
            _epoch_axis(ax)
            ax.set_ylabel("error (%)")
    handles = [Line2D([], [], color=style.BASELINE)] + [
        Line2D([], [], color=colors[s]) for s in schedules
    ]
    labels = ["AT (every schedule)"] + [f"{s} (GAIRAT; LR on top)" for s in schedules]
    style.legend_figure(fig, handles, labels)
    return _finish(
        fig,
        "Fig. 11: AT and GAIRAT under different LR schedules",
        [*at, *gairat.values()],
        manifest,
    )


def _sweep_figure(
    manifest: dict[str, Any],
    base_group: str,
    sweep_group: str,
    title: str,
    weights_panel: bool,
    cmap: str = style.SWEEP_CMAP,
) -> Figure:
    """A baseline (red) against a sweep of one setting (dark to light), Figs. 13-15, 17, 20."""
    base = runs_of(manifest, base_group)
    sweep = runs_of(manifest, sweep_group)
    colors = sweep_colors(base, sweep, manifest.get("plot", {}), cmap)
    runs = [*base, *sweep]
    n = 3 if weights_panel else 2
    fig = style.new_figure(4.3 * n + 2.0, 3.9)
    axes = fig.subplots(1, n, squeeze=False)
    if weights_panel:
        plot_weights(axes[0][0], runs, colors)
    _test_panels(list(axes[0][n - 2 :]), runs, colors)
    style.legend_figure(fig, *run_key(colors, runs))
    return _finish(fig, title, runs, manifest)


@figure("fig12")
def fig12(manifest: dict[str, Any]) -> Figure:
    """Fig. 12: weight functions (Eqs. 6-8) against AT; natural and PGD-20 test accuracy."""
    runs = runs_of(manifest, "methods")
    colors = baseline_colors(runs, manifest.get("plot", {}))
    fig = style.new_figure(15, 3.9)
    axes = fig.subplots(1, 3, squeeze=False)
    plot_weights(axes[0][0], runs, colors)
    _test_panels(list(axes[0][1:]), runs, colors)
    style.legend_figure(fig, *run_key(colors, runs))
    return _finish(
        fig, "Fig. 12: GAIRAT with different weight assignment functions", runs, manifest
    )


@figure("fig13")
def fig13(manifest: dict[str, Any]) -> Figure:
    """Fig. 13: Eq. (6) with different lambda (smaller lambda lighter)."""
    title = r"Fig. 13: GAIRAT, Eq. (6) with different $\lambda$ (the paper: CIFAR-10)"
    return _sweep_figure(manifest, "at", "gairat", title, weights_panel=True)


@figure("fig14")
def fig14(manifest: dict[str, Any]) -> Figure:
    """Fig. 14: Fig. 13 on SVHN."""
    title = r"Fig. 14: GAIRAT, Eq. (6) with different $\lambda$ (the paper: SVHN)"
    return _sweep_figure(manifest, "at", "gairat", title, weights_panel=True)


@figure("fig15")
def fig15(manifest: dict[str, Any]) -> Figure:
    """Fig. 15: burn-in lengths (shorter darker) against AT."""
    title = "Fig. 15: GAIRAT with different burn-in periods"
    return _sweep_figure(manifest, "at", "gairat", title, weights_panel=False)


@figure("fig17")
def fig17(manifest: dict[str, Any]) -> Figure:
    """Fig. 17: FAT against GAIR-FAT with different lambda."""
    title = r"Fig. 17: FAT and GAIR-FAT with different $\lambda$"
    return _sweep_figure(manifest, "fat", "gair_fat", title, weights_panel=False)


def _paired_columns(
    manifest: dict[str, Any],
    base_group: str,
    other_group: str,
    base_name: str,
    other_name: str,
    title: str,
    names: Callable[[Curves], str] = lambda run: run.label,
) -> Figure:
    """One column per label (network, tau schedule): natural (top) and PGD-20 (bottom)."""
    base = runs_of(manifest, base_group)
    other = {r.label: r for r in runs_of(manifest, other_group)}
    n = len(base)
    fig = style.new_figure(3.6 * n + 1.8, 6.5)
    axes = fig.subplots(2, n, squeeze=False)
    second = style.qualitative(1)[0]
    for j, run in enumerate(base):
        for i, (column, what) in enumerate(
            (("test_nat_err", "natural"), ("test_pgd20_err", "PGD-20"))
        ):
            ax = axes[i][j]
            draw(ax, run, column, style.BASELINE, accuracy=True, marker="o", label=base_name,
                 gid=base_name)  # fmt: skip
            if run.label in other:
                draw(ax, other[run.label], column, second, accuracy=True, marker="s",
                     label=other_name, gid=other_name)  # fmt: skip
            ax.set_title(f"{names(run)}: {what} test", fontsize=8)
            _epoch_axis(ax)
            ax.set_ylabel("accuracy (%)")
    handles = [
        Line2D([], [], color=style.BASELINE, marker="o"),
        Line2D([], [], color=second, marker="s"),
    ]
    style.legend_figure(fig, handles, [base_name, other_name])
    return _finish(fig, title, [*base, *other.values()], manifest)


@figure("fig16")
def fig16(manifest: dict[str, Any]) -> Figure:
    """Fig. 16: AT and GAIRAT on SmallCNN, VGG-13 and ResNet-18."""
    title = "Fig. 16: AT and GAIRAT on different networks"
    return _paired_columns(manifest, "at", "gairat", "AT", "GAIRAT", title, network_label)


@figure("fig18")
def fig18(manifest: dict[str, Any]) -> Figure:
    """Fig. 18: FAT and GAIR-FAT under tau schedules 0-1-2, 0-2-4, 0-3-6."""
    title = r"Fig. 18: FAT and GAIR-FAT under different $\tau$ schedules"
    return _paired_columns(manifest, "fat", "gair_fat", "FAT", "GAIR-FAT", title)


@figure("fig19")
def fig19(manifest: dict[str, Any]) -> Figure:
    """Fig. 19: MMA, MART and GAIR-MART (Eq. 10) with different weight functions."""
    base = runs_of(manifest, "baselines")
    gair = runs_of(manifest, "gair_mart")
    colors = sweep_colors(base, gair, manifest.get("plot", {}))
    runs = [*base, *gair]
    fig = style.new_figure(11, 3.9)
    axes = fig.subplots(1, 2, squeeze=False)
    _test_panels(list(axes[0]), runs, colors)
    style.legend_figure(fig, *run_key(colors, runs))
    return _finish(fig, "Fig. 19: MMA, MART and GAIR-MART", runs, manifest)


@figure("fig20")
def fig20(manifest: dict[str, Any]) -> Figure:
    """Fig. 20: MART against omega on the KL term (Eq. 11)."""
    title = "Fig. 20: MART and GAIR-MART with Eq. (11)"
    return _sweep_figure(manifest, "baselines", "gair_mart_kl", title, weights_panel=False)


def _pgd_points(path: str) -> tuple[list[tuple[int, float]], int]:
    """(PGD steps, accuracy in percent) of every pgd<k> row of an evaluation file, by k, and
    how many test points the file evaluated (0 where it does not say)."""
    frame = report.read_eval(path)
    points = []
    for attack, accuracy in zip(frame["attack"], frame["accuracy_pct"], strict=True):
        entry, match = registry.find(attack) if attack != "worst_case" else (None, None)
        if entry is not None and entry.kind == "pgd":
            points.append((int(match["steps"]), float(accuracy)))
    n = int(frame["n"].max()) if "n" in frame and len(frame) else 0
    return sorted(points), n


@figure("fig21")
def fig21(manifest: dict[str, Any]) -> Figure:
    """Fig. 21: robust test accuracy against the number of PGD iterations, best and last;
    median over seeds with one std as error bars."""
    checkpoints = manifest.get("checkpoints") or ["best", "last"]
    runs = all_runs(manifest)
    colors = baseline_colors(runs, manifest.get("plot", {}))
    fig = style.new_figure(4.6 * len(checkpoints) + 1.8, 3.9)
    axes = fig.subplots(1, len(checkpoints), squeeze=False)
    points_n = 0
    for ax, checkpoint in zip(axes[0], checkpoints, strict=True):
        lows, highs = [], []
        for k, run in enumerate(runs):
            long = []
            for item in run.items:
                path = item.get("evals", {}).get(checkpoint)
                if path is None:
                    raise ConfigError(f"fig21 needs the {checkpoint!r} evaluation of {run.label!r}")
                points, n = _pgd_points(path)
                points_n = max(points_n, n)
                long += [
                    {"steps": s, "seed": int(item["seed"]), "accuracy_pct": a} for s, a in points
                ]
            stats = report.seed_stats(pd.DataFrame(long), ["steps"]).sort_values("steps")
            steps = stats["steps"].to_numpy(dtype=float)
            median = stats["median"].to_numpy(dtype=float)
            errors = np.array([report.spread(v) for v in stats["std"]])
            container = ax.errorbar(
                steps, median, yerr=errors if run.seeds > 1 else None,
                marker=style.MARKERS[k % len(style.MARKERS)], markersize=4, capsize=2,
                color=colors[run.label], label=run.label, linewidth=1.2,
            )  # fmt: skip
            container.lines[0].set_gid(run.label)
            lows.append(float(np.min(median - errors)))
            highs.append(float(np.max(median + errors)))
        # At least 10 points of accuracy on the axis: a one-point change (one test point in
        # 100) must not read as a trend.
        lo, hi = min(lows), max(highs)
        pad = max(0.0, (10.0 - (hi - lo)) / 2)
        ax.set_ylim(max(0.0, lo - pad - 1), min(100.0, hi + pad + 1))
        ax.set_xlabel("PGD iterations")
        ax.set_ylabel("robust test accuracy (%)")
        ax.set_title(f"{checkpoint} checkpoint", fontsize=style.PANEL_TITLE_SIZE)
        ax.grid(alpha=0.3)
    handles, labels = run_key(colors, runs)
    if points_n:
        handles.append(Line2D([], [], linestyle=""))
        labels.append(f"{points_n} test points: one is {100 / points_n:.2g}%")
    style.legend_figure(fig, handles, labels)
    return _finish(fig, "Fig. 21: PGD attacks with different numbers of iterations", runs, manifest)


@figure("audit_attacks")
def audit_attacks(manifest: dict[str, Any]) -> Figure:
    """Not in the paper: each method's test accuracy under every attack evaluated on its
    checkpoints (natural, PGD-20, PGD+, CW, LSA, AutoAttack, and the worst case over them),
    median over seeds with one standard deviation as the error bar; a panel per checkpoint."""
    summary = seed_summary(manifest)
    worst = collect_worst_case(manifest)
    summary = pd.concat([summary, worst], ignore_index=True) if len(worst) else summary
    attacks = registry.order(summary["attack"])
    methods = list(dict.fromkeys(summary["method"]))
    checkpoints = [c for c in manifest.get("checkpoints") or ["best", "last"]
                   if c in set(summary["checkpoint"])]  # fmt: skip
    cell = summary.set_index(["method", "checkpoint", "attack"])

    # One distinct colour per attack (seven shades of one map are too close to tell apart).
    colors = dict(zip(attacks, style.qualitative(len(attacks)), strict=True))
    fig = style.new_figure(5.2 * len(checkpoints) + 1.8, 4.2)
    axes = fig.subplots(1, len(checkpoints), squeeze=False)
    width = 0.8 / max(1, len(attacks))
    for ax, checkpoint in zip(axes[0], checkpoints, strict=True):
        for k, attack in enumerate(attacks):
            keys = [(m, checkpoint, attack) for m in methods]
            heights = [cell.loc[key, "median"] if key in cell.index else np.nan for key in keys]
            errors = [report.spread(cell.loc[key, "std"]) if key in cell.index else 0.0
                      for key in keys]  # fmt: skip
            xs = np.arange(len(methods)) + (k - (len(attacks) - 1) / 2) * width
            ax.bar(xs, heights, width=width, yerr=errors, capsize=2, color=colors[attack],
                   label=registry.title(attack), error_kw={"linewidth": 0.8})  # fmt: skip
        ax.set_xticks(range(len(methods)), methods, rotation=20, ha="right")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{checkpoint} checkpoint", fontsize=style.PANEL_TITLE_SIZE)
        ax.grid(alpha=0.3, axis="y")
    style.legend_figure(fig, *style.unique_handles([axes[0][0]]))
    return _finish(fig, "Accuracy under each attack, per method (median and std over seeds)",
                   all_runs(manifest), manifest)  # fmt: skip


def seed_summary(manifest: dict[str, Any]) -> pd.DataFrame:
    """Median and std over seeds per method, checkpoint and attack of every evaluation file
    the manifest lists (every attack, whatever columns a table would show)."""
    from gair.tables import collect

    return report.seed_stats(collect({**manifest, "columns": None}), SEED_KEYS)


def collect_worst_case(manifest: dict[str, Any]) -> pd.DataFrame:
    """The worst case over attacks of every evaluation file, as seed statistics."""
    long = report.collect_evals(report.records_of(manifest))
    worst = long[long["attack"] == registry.WORST_CASE]
    return report.seed_stats(worst, SEED_KEYS) if len(worst) else worst


@figure("tradeoff")
def tradeoff(manifest: dict[str, Any]) -> Figure:
    """Natural test accuracy against PGD-20 (left) and against AutoAttack (right) accuracy:
    one point per method and checkpoint (filled: best, open: last) at the median over seeds,
    error bars one standard deviation over seeds on both axes; a thin line joins a method's
    two checkpoints, so that a point hidden under another is still found."""
    summary = seed_summary(manifest)
    attacks = set(summary["attack"])
    aa = next((a for a in ("autoattack", "autoattack_cheap") if a in attacks), None)
    missing = [a for a in ("natural", "pgd20") if a not in attacks] + ([] if aa else ["autoattack"])
    if missing:
        raise DataError(
            f"the trade-off figure needs {', '.join(missing)} in its evaluation files; "
            f"they hold: {', '.join(sorted(attacks))}"
        )
    runs = all_runs(manifest)
    labels = list(dict.fromkeys(summary["method"]))
    specs = {r.label: r.spec for r in runs}
    baselines = [lab for lab in labels if specs.get(lab, {}).get("method") == "at"]
    colors = style.assign(labels, baselines[:1])
    # A marker shape per method as well: a dozen colours alone are hard to tell apart.
    markers = dict(zip(labels, itertools.cycle(style.MARKERS), strict=False))
    cell = summary.set_index(["method", "checkpoint", "attack"])
    present = set(summary["checkpoint"])
    checkpoints = [c for c in manifest.get("checkpoints") or ["best", "last"] if c in present]
    fig = style.new_figure(12, 4.8)
    axes = fig.subplots(1, 2, squeeze=False)
    for ax, attack in zip(axes[0], ("pgd20", aa), strict=True):
        for label in labels:
            xs, ys = [], []
            for k, checkpoint in enumerate(checkpoints):
                if (label, checkpoint, attack) not in cell.index:
                    continue
                x = cell.loc[(label, checkpoint, attack)]
                y = cell.loc[(label, checkpoint, "natural")]
                container = ax.errorbar(
                    x["median"], y["median"], xerr=report.spread(x["std"]),
                    yerr=report.spread(y["std"]), fmt=markers[label],
                    color=colors[label], mfc=colors[label] if k == 0 else "white",
                    markersize=6, capsize=2, linewidth=0.8, alpha=0.9,
                    label=f"{label} ({checkpoint})",
                )  # fmt: skip
                container.lines[0].set_gid(label)
                xs.append(x["median"])
                ys.append(y["median"])
            if len(xs) > 1:
                ax.plot(xs, ys, color=colors[label], linewidth=0.6, alpha=0.6, zorder=0)
        name = registry.title(attack)
        ax.set_xlabel(f"{name} test accuracy (%)")
        ax.set_ylabel("natural test accuracy (%)")
        ax.set_title(f"natural vs {name}", fontsize=style.PANEL_TITLE_SIZE)
        ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], marker=markers[label], linestyle="", color=colors[label], label=label)
        for label in labels
    ]
    handles += [
        Line2D([], [], marker="o", linestyle="", color="0.3", mfc=fill, label=f"{ckpt} checkpoint")
        for ckpt, fill in zip(checkpoints, ("0.3", "white"), strict=False)
    ]
    style.legend_figure(fig, handles, [h.get_label() for h in handles])
    return _finish(fig, "Trade-off: natural against robust accuracy, every method", runs, manifest)


# ------------------------------------------------------------------------------ output
def axes_with_data(fig: Figure) -> list[Axes]:
    """Panels that show data (a line with points, or a scatter with points); colour bars
    are not panels."""
    out = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        has_lines = any(len(line.get_xdata()) > 0 for line in ax.get_lines())
        has_points = any(len(c.get_offsets()) > 0 for c in ax.collections)
        if has_lines or has_points:
            out.append(ax)
    return out


def render(name: str, manifest: dict[str, Any]) -> Figure:
    """Draw one figure from its manifest."""
    if name not in FIGURES:
        raise ConfigError(f"figure {name!r} is unknown; valid figures are: {', '.join(FIGURES)}")
    return FIGURES[name](manifest)


def save(fig: Figure, prefix: str | Path, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write PREFIX.pdf, PREFIX.png and the PREFIX.json sidecar (the panels drawn and the
    manifest read), each atomically; returns the sidecar."""
    panels = [
        {"title": ax.get_title(), "lines": len(ax.get_lines()), "collections": len(ax.collections)}
        for ax in axes_with_data(fig)
    ]
    sidecar = {"figure": name, "panels": panels, "manifest": manifest}
    report.save_figure(fig, prefix, sidecar)
    return sidecar


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair figure",
        description="Render one of the paper's figures (PDF, PNG) from Parquet files.",
    )
    parser.add_argument("name", choices=list(FIGURES))
    parser.add_argument("--manifest", required=True, help="JSON text or file from the workflow")
    parser.add_argument("--out", required=True, help="output prefix, e.g. figures/fig4")
    args = parser.parse_args(argv)
    manifest = load_manifest(args.manifest)
    manifest.setdefault("name", args.name)
    fig = render(args.name, manifest)
    sidecar = save(fig, args.out, args.name, manifest)
    plt.close(fig)
    print(f"{args.name}: {len(sidecar['panels'])} panels -> {args.out}.pdf, .png")
    return 0
