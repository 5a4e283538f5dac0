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
from matplotlib.ticker import MaxNLocator

from gair import evaluation_attacks, report
from gair.errors import ConfigError, DataError
from gair.tables import load_manifest

RED = "#d62728"
# Distinct colours for methods that are not a sweep (colour-blind friendly order).
CYCLE = ["#1f77b4", "#e6b800", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#ff7f0e", "#7f7f7f"]
SEED_KEYS = ["method", "checkpoint", "attack"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


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
    """One run's per-epoch metrics and its resolved spec, under its figure label."""

    def __init__(self, label: str, item: dict[str, Any]) -> None:
        self.label = label
        self.item = item
        self.spec, self.metrics = report.read_metrics(item["metrics"])

    def curve(self, column: str, accuracy: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of one metrics column, NaN epochs dropped; errors in percent."""
        frame = self.metrics[["epoch", column]].dropna()
        values = frame[column].to_numpy(dtype=float)
        if column.endswith("_err"):
            values = 100.0 * (1.0 - values) if accuracy else 100.0 * values
        return frame["epoch"].to_numpy(), values


def runs_of(manifest: dict[str, Any], group: str) -> list[Curves]:
    """The runs of one group (first seed of each label), in config order."""
    groups = manifest["groups"]
    if group not in groups:
        raise ConfigError(
            f"figure {manifest.get('name')!r} needs a run group {group!r}; "
            f"the config gives: {', '.join(groups) or 'none'}"
        )
    return [Curves(label, items[0]) for label, items in groups[group].items()]


def all_runs(manifest: dict[str, Any]) -> list[Curves]:
    return [run for group in manifest["groups"] for run in runs_of(manifest, group)]


def sweep_colors(n: int, cmap: str = "Blues") -> list[Any]:
    """n shades of one colour map, darkest first (the paper's dark-to-light sweeps)."""
    colors = plt.get_cmap(cmap)
    return [colors(v) for v in np.linspace(0.9, 0.4, n)] if n > 1 else [colors(0.75)]


def method_colors(runs: list[Curves], plot: dict[str, Any]) -> dict[str, Any]:
    """Configured colours, else red for AT-like baselines and a fixed cycle for the rest."""
    given = plot.get("colors", {})
    out, k = {}, 0
    for run in runs:
        if run.label in given:
            out[run.label] = given[run.label]
        elif run.spec.get("method") in ("at", "st") and RED not in out.values():
            out[run.label] = RED
        else:
            out[run.label] = CYCLE[k % len(CYCLE)]
            k += 1
    return out


def _finish(fig: Figure, title: str, runs: list[Curves]) -> Figure:
    fig.suptitle(title, fontsize=11)
    if runs:
        note = report.trained_note(r.item["metrics"] for r in runs)
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=7, color="0.35")
    return fig


def _legend(ax: Axes, **kwargs: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, frameon=False, **kwargs)


# ------------------------------------------------------------------------------ panels
def plot_curves(
    ax: Axes,
    runs: list[Curves],
    colors: dict[str, Any],
    column: str,
    *,
    accuracy: bool = False,
    linestyle: str = "-",
    label_suffix: str = "",
    marker: str | None = None,
) -> None:
    for run in runs:
        x, y = run.curve(column, accuracy=accuracy)
        if len(x):
            ax.plot(
                x, y, linestyle=linestyle, color=colors[run.label], marker=marker, markersize=3,
                label=f"{run.label}{label_suffix}", linewidth=1.2,
            )  # fmt: skip
    _epoch_axis(ax)


def _epoch_axis(ax: Axes) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def weight_values(spec: dict[str, Any], kappa: np.ndarray) -> np.ndarray:
    """Raw omega(kappa) of a run (Eqs. 6-8 or the step weight); 1 for unweighted methods."""
    import torch

    from gair.methods import method_info
    from gair.reweight import gair_weights, step_weights

    if not method_info(str(spec.get("method"))).weighted:
        return np.ones_like(kappa, dtype=float)
    k = torch.as_tensor(kappa)
    fn = spec.get("weight_fn", "tanh")
    if fn == "constant":
        return np.ones_like(kappa, dtype=float)
    if fn == "step":
        w = step_weights(k, spec.get("step_kappa", []), spec.get("step_weights", []))
    else:
        w = gair_weights(
            k, steps=int(spec.get("steps", 10)), lam=float(spec.get("lam", 0.0)), fn=fn
        )
    return w.double().numpy()


def plot_weights(ax: Axes, runs: list[Curves], colors: dict[str, Any]) -> None:
    """omega as a function of kappa = 0..K for every run (upper-left panel of Fig. 4)."""
    for run in runs:
        steps = int(run.spec.get("steps", 10))
        kappa = np.arange(steps + 1)
        ax.plot(kappa, weight_values(run.spec, kappa), marker="o", markersize=3,
                color=colors[run.label], label=run.label, linewidth=1.2)  # fmt: skip
    ax.set_xlabel(r"geometry value $\kappa$")
    ax.set_ylabel(r"weight $\omega$")
    ax.set_title("weight assignment functions", fontsize=9)
    ax.grid(alpha=0.3)
    _legend(ax)


def _test_panels(axes: list[Axes], runs: list[Curves], colors: dict[str, Any]) -> None:
    """Natural and PGD-20 test accuracy per epoch (Figs. 12-20)."""
    plot_curves(axes[0], runs, colors, "test_nat_err", accuracy=True)
    axes[0].set_ylabel("natural test accuracy (%)")
    axes[0].set_title("natural test data", fontsize=9)
    plot_curves(axes[1], runs, colors, "test_pgd20_err", accuracy=True)
    axes[1].set_ylabel("PGD-20 test accuracy (%)")
    axes[1].set_title("PGD-20 test data", fontsize=9)
    _legend(axes[1])


# ------------------------------------------------------------------------------ figures
def _capacity_panels(manifest: dict[str, Any], split: bool) -> Figure:
    networks = runs_of(manifest, "networks")
    eps_runs = runs_of(manifest, "eps")
    st = runs_of(manifest, "st") if "st" in manifest["groups"] else []
    net_colors = dict(zip([r.label for r in networks], CYCLE, strict=False))
    net_colors.update({r.label: RED for r in st})
    eps_colors = dict(
        zip([r.label for r in eps_runs], sweep_colors(len(eps_runs), "viridis"), strict=True)
    )
    if split:  # Figs. 5, 6: natural and adversarial training error in separate panels
        fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), squeeze=False)
        rows = [(networks, net_colors, "networks"), (eps_runs, eps_colors, "ResNet-18, eps_train")]
        for i, (runs, colors, what) in enumerate(rows):
            plot_curves(axes[i][0], runs, colors, "train_nat_err")
            if i == 0 and st:
                plot_curves(axes[i][0], st, colors, "train_nat_err")
                plot_curves(
                    axes[i][0], st, colors, "test_nat_err", linestyle=":", label_suffix=" (test)"
                )
            axes[i][0].set_title(f"natural training error: {what}", fontsize=9)
            plot_curves(axes[i][1], runs, colors, "train_adv_err", linestyle="--")
            axes[i][1].set_title(f"PGD-10 training error: {what}", fontsize=9)
            for ax in axes[i]:
                ax.set_ylabel("error (%)")
            _legend(axes[i][0])
            _legend(axes[i][1])
    else:  # Fig. 2: solid natural, dashed PGD-10 training error
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), squeeze=False)
        for ax, runs, colors, what in (
            (axes[0][0], networks, net_colors, "AT on different networks"),
            (axes[0][1], eps_runs, eps_colors, r"AT on ResNet-18, different $\epsilon_{train}$"),
        ):
            plot_curves(ax, runs, colors, "train_nat_err")
            plot_curves(ax, runs, colors, "train_adv_err", linestyle="--", label_suffix=" (PGD-10)")
            ax.set_title(what, fontsize=9)
            ax.set_ylabel("training error (%)")
        if st:
            plot_curves(axes[0][0], st, net_colors, "train_nat_err")
            plot_curves(
                axes[0][0], st, net_colors, "test_nat_err", linestyle=":", label_suffix=" (test)"
            )
        _legend(axes[0][0])
        _legend(axes[0][1])
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    return fig


@figure("fig2")
def fig2(manifest: dict[str, Any]) -> Figure:
    """Fig. 2: natural (solid) and PGD-10 (dashed) training error; networks left, eps right."""
    fig = _capacity_panels(manifest, split=False)
    return _finish(
        fig, "Fig. 2: model capacity in adversarial training (CIFAR-10)", all_runs(manifest)
    )


@figure("fig5")
def fig5(manifest: dict[str, Any]) -> Figure:
    """Fig. 5: Fig. 2 with natural and adversarial training error in separate panels."""
    fig = _capacity_panels(manifest, split=True)
    return _finish(
        fig, "Fig. 5: natural / adversarial training error (CIFAR-10)", all_runs(manifest)
    )


@figure("fig6")
def fig6(manifest: dict[str, Any]) -> Figure:
    """Fig. 6: Fig. 5 on SVHN."""
    fig = _capacity_panels(manifest, split=True)
    return _finish(fig, "Fig. 6: natural / adversarial training error (SVHN)", all_runs(manifest))


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
    """Light = small kappa (attackable), dark = large kappa (guarded); reds and blues per class."""
    for cls, cmap in zip(classes, ("Reds", "Blues"), strict=False):
        pts = part[part["label"] == cls]
        ax.scatter(
            pts[xcol], pts[ycol], c=pts["kappa"], cmap=cmap, vmin=-0.3 * kmax, vmax=kmax,
            s=6, linewidths=0, label=f"class {cls}",
        )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _class_name(cls: int, dataset: str) -> str:
    return CIFAR10[cls] if dataset == "cifar10" and 0 <= cls < 10 else str(cls)


def _pair_panels(axes: list[Axes], run: Curves, pairs: list[list[int]]) -> None:
    frame = read_geometry(run.item["geometry"])
    kmax = max(int(frame["kappa"].max()), 1)
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


@figure("fig3")
def fig3(manifest: dict[str, Any]) -> Figure:
    """Fig. 3: kappa of training points; left the 2-D toy sets in input space, right the
    2-D PCA of logits for a pair of classes (epoch-30 AT ResNet-18)."""
    toys = runs_of(manifest, "toy")
    pca = runs_of(manifest, "pca")[0]
    pairs = _pairs(manifest)
    n = len(toys) + len(pairs)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for ax, run in zip(axes[0], toys, strict=False):
        frame = read_geometry(run.item["geometry"])
        kmax = max(int(frame["kappa"].max()), 1)
        kappa_scatter(ax, frame, "x1", "x2", sorted(frame["label"].unique().tolist())[:2], kmax)
        ax.set_title(f"toy: {run.label}", fontsize=9)
    _pair_panels(list(axes[0][len(toys) :]), pca, pairs)
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    return _finish(
        fig, r"Fig. 3: lighter = smaller $\kappa$ (attackable), darker = guarded", [*toys, pca]
    )


def _pair_grid(manifest: dict[str, Any], title: str) -> Figure:
    run = runs_of(manifest, "pca")[0]
    pairs = _pairs(manifest)
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.2 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    _pair_panels(flat[: len(pairs)], run, pairs)
    for ax in flat[len(pairs) :]:
        ax.axis("off")
    fig.tight_layout(rect=(0, 0.03, 1, 0.94))
    return _finish(fig, title, [run])


@figure("fig7")
def fig7(manifest: dict[str, Any]) -> Figure:
    """Fig. 7 (Part A): 2-D PCA of logits of class pairs, coloured by kappa."""
    return _pair_grid(manifest, r"Fig. 7: output distribution by $\kappa$, part A")


@figure("fig8")
def fig8(manifest: dict[str, Any]) -> Figure:
    """Fig. 8 (Part B): more class pairs."""
    return _pair_grid(manifest, r"Fig. 8: output distribution by $\kappa$, part B")


def _overfitting(manifest: dict[str, Any], title: str) -> Figure:
    """Figs. 4 and 10: the six panels of the caption."""
    runs = runs_of(manifest, "methods")
    colors = method_colors(runs, manifest.get("plot", {}))
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    plot_weights(axes[0][0], runs, colors)
    at = next((r for r in runs if r.spec.get("method") == "at"), runs[0])
    for column, style, marker, name in (
        ("kappa_median", "-", "o", "median"),
        ("kappa_mean", ":", "x", "mean"),
    ):
        x, y = at.curve(column)
        shade = RED if name == "median" else "#f4a3a3"
        axes[1][0].plot(x, y, linestyle=style, marker=marker, markersize=3, color=shade,
                        label=f"{at.label}: {name}")  # fmt: skip
    _epoch_axis(axes[1][0])
    axes[1][0].set_ylabel(r"geometry value $\kappa$ of training data")
    axes[1][0].set_title(r"$\kappa$ over all training data (AT)", fontsize=9)
    _legend(axes[1][0])
    panels = (
        (axes[0][1], "train_nat_err", "test_nat_err", "natural error (%)", "natural train / test"),
        (
            axes[0][2],
            "train_pgd20_err",
            "test_pgd20_err",
            "PGD-20 error (%)",
            "PGD-20 train / test",
        ),
    )
    for ax, train_col, test_col, ylabel, name in panels:
        plot_curves(ax, runs, colors, train_col, label_suffix=" train")
        plot_curves(ax, runs, colors, test_col, linestyle="--", label_suffix=" test")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{name} (solid / dashed)", fontsize=9)
        _legend(ax)
    plot_curves(axes[1][1], runs, colors, "flat_friendly")
    axes[1][1].set_title("flatness at friendly adversarial test data", fontsize=9)
    plot_curves(axes[1][2], runs, colors, "flat_adv")
    axes[1][2].set_title("flatness at most adversarial test data", fontsize=9)
    for ax in (axes[1][1], axes[1][2]):
        ax.set_ylabel(r"mean $\|\nabla_{\tilde x}\ell\|$")
    _legend(axes[1][2])
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    return _finish(fig, title, runs)


@figure("fig4")
def fig4(manifest: dict[str, Any]) -> Figure:
    """Fig. 4: AT vs GAIRAT (omega_2, omega_3), ResNet-18 on CIFAR-10."""
    return _overfitting(manifest, "Fig. 4: GAIRAT relieves robust overfitting (CIFAR-10)")


@figure("fig10")
def fig10(manifest: dict[str, Any]) -> Figure:
    """Fig. 10: Fig. 4 on SVHN."""
    return _overfitting(manifest, "Fig. 10: GAIRAT relieves robust overfitting (SVHN)")


@figure("fig11")
def fig11(manifest: dict[str, Any]) -> Figure:
    """Fig. 11: LR schedules (top); per schedule PGD-20 (middle) and natural (bottom) test
    error of AT (red) and GAIRAT."""
    at = runs_of(manifest, "at")
    gairat = {r.label: r for r in runs_of(manifest, "gairat")}
    schedules = [r.label for r in at]
    n = len(schedules)
    fig = plt.figure(figsize=(3.2 * n, 8.5))
    grid = fig.add_gridspec(3, n)
    top = fig.add_subplot(grid[0, :])
    colors = dict(
        zip(schedules, ["#8c564b", "#2ca02c", "#1f77b4", "#ff7f0e", *CYCLE], strict=False)
    )
    for run in at:
        x, y = run.curve("lr")
        top.plot(x, y, color=colors[run.label], label=run.label)
    _epoch_axis(top)
    top.set_ylabel("learning rate")
    top.set_title("learning-rate schedules", fontsize=9)
    _legend(top)
    for j, run in enumerate(at):
        pair = [run] + ([gairat[run.label]] if run.label in gairat else [])
        for row, column, what in ((1, "test_pgd20_err", "PGD-20"), (2, "test_nat_err", "natural")):
            ax = fig.add_subplot(grid[row, j])
            ax.plot(*run.curve(column), color=RED, label="AT")
            if len(pair) > 1:
                ax.plot(*pair[1].curve(column), color=colors[run.label], label="GAIRAT")
            ax.set_title(f"{run.label}: {what} test error", fontsize=8)
            _epoch_axis(ax)
            ax.set_ylabel("error (%)")
            _legend(ax)
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    return _finish(
        fig, "Fig. 11: AT and GAIRAT under different LR schedules", [*at, *gairat.values()]
    )


def _sweep_figure(
    manifest: dict[str, Any],
    base_group: str,
    sweep_group: str,
    title: str,
    weights_panel: bool,
    cmap: str = "Blues",
) -> Figure:
    """A baseline (red) against a sweep of one setting (dark to light), Figs. 13-15, 17."""
    base = runs_of(manifest, base_group)
    sweep = runs_of(manifest, sweep_group)
    colors = method_colors(base, manifest.get("plot", {}))
    colors.update(zip([r.label for r in sweep], sweep_colors(len(sweep), cmap), strict=True))
    runs = [*base, *sweep]
    n = 3 if weights_panel else 2
    fig, axes = plt.subplots(1, n, figsize=(4.3 * n, 3.8), squeeze=False)
    if weights_panel:
        plot_weights(axes[0][0], runs, colors)
    _test_panels(list(axes[0][n - 2 :]), runs, colors)
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    return _finish(fig, title, runs)


@figure("fig12")
def fig12(manifest: dict[str, Any]) -> Figure:
    """Fig. 12: weight functions (Eqs. 6-8) against AT; natural and PGD-20 test accuracy."""
    runs = runs_of(manifest, "methods")
    colors = method_colors(runs, manifest.get("plot", {}))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), squeeze=False)
    plot_weights(axes[0][0], runs, colors)
    _test_panels(list(axes[0][1:]), runs, colors)
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    return _finish(fig, "Fig. 12: GAIRAT with different weight assignment functions", runs)


@figure("fig13")
def fig13(manifest: dict[str, Any]) -> Figure:
    """Fig. 13: Eq. (6) with different lambda on CIFAR-10 (smaller lambda lighter)."""
    title = r"Fig. 13: GAIRAT, Eq. (6) with different $\lambda$ (CIFAR-10)"
    return _sweep_figure(manifest, "at", "gairat", title, weights_panel=True)


@figure("fig14")
def fig14(manifest: dict[str, Any]) -> Figure:
    """Fig. 14: Fig. 13 on SVHN."""
    title = r"Fig. 14: GAIRAT, Eq. (6) with different $\lambda$ (SVHN)"
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
) -> Figure:
    """One column per label (network, tau schedule): natural (top) and PGD-20 (bottom)."""
    base = runs_of(manifest, base_group)
    other = {r.label: r for r in runs_of(manifest, other_group)}
    n = len(base)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 6.5), squeeze=False)
    for j, run in enumerate(base):
        for i, (column, what) in enumerate(
            (("test_nat_err", "natural"), ("test_pgd20_err", "PGD-20"))
        ):
            ax = axes[i][j]
            ax.plot(*run.curve(column, accuracy=True), color=RED, label=base_name)
            if run.label in other:
                ax.plot(
                    *other[run.label].curve(column, accuracy=True), color=CYCLE[0], label=other_name
                )
            ax.set_title(f"{run.label}: {what} test", fontsize=8)
            _epoch_axis(ax)
            ax.set_ylabel("accuracy (%)")
            _legend(ax)
    fig.tight_layout(rect=(0, 0.03, 1, 0.94))
    return _finish(fig, title, [*base, *other.values()])


@figure("fig16")
def fig16(manifest: dict[str, Any]) -> Figure:
    """Fig. 16: AT and GAIRAT on SmallCNN, VGG-13 and ResNet-18."""
    title = "Fig. 16: AT and GAIRAT on different networks"
    return _paired_columns(manifest, "at", "gairat", "AT", "GAIRAT", title)


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
    colors = {}
    for run, color in zip(base, [RED, "#7f7f7f", "#9467bd"], strict=False):
        colors[run.label] = color
    colors.update(zip([r.label for r in gair], sweep_colors(len(gair)), strict=True))
    runs = [*base, *gair]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), squeeze=False)
    _test_panels(list(axes[0]), runs, colors)
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    return _finish(fig, "Fig. 19: MMA, MART and GAIR-MART", runs)


@figure("fig20")
def fig20(manifest: dict[str, Any]) -> Figure:
    """Fig. 20: MART against omega on the KL term (Eq. 11)."""
    title = "Fig. 20: MART and GAIR-MART with Eq. (11)"
    return _sweep_figure(manifest, "baselines", "gair_mart_kl", title, weights_panel=False)


def _pgd_points(path: str) -> list[tuple[int, float]]:
    """(PGD steps, accuracy in percent) of every pgd<k> row of an evaluation file, by k."""
    frame = report.read_eval(path)
    points = []
    for attack, accuracy in zip(frame["attack"], frame["accuracy_pct"], strict=True):
        entry, match = evaluation_attacks.find(attack) if attack != "worst_case" else (None, None)
        if entry is not None and entry.kind == "pgd":
            points.append((int(match["steps"]), float(accuracy)))
    return sorted(points)


@figure("fig21")
def fig21(manifest: dict[str, Any]) -> Figure:
    """Fig. 21: robust test accuracy against the number of PGD iterations, best and last."""
    checkpoints = manifest.get("checkpoints") or ["best", "last"]
    methods = [
        (label, items[0]) for group in manifest["groups"].values() for label, items in group.items()
    ]
    fig, axes = plt.subplots(
        1, len(checkpoints), figsize=(4.5 * len(checkpoints), 3.8), squeeze=False
    )
    runs = [Curves(label, item) for label, item in methods]
    colors = method_colors(runs, manifest.get("plot", {}))
    for ax, checkpoint in zip(axes[0], checkpoints, strict=True):
        for label, item in methods:
            path = item.get("evals", {}).get(checkpoint)
            if path is None:
                raise ConfigError(f"fig21 needs the {checkpoint!r} evaluation of {label!r}")
            points = _pgd_points(path)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                    markersize=3, color=colors[label], label=label)  # fmt: skip
        ax.set_xlabel("PGD iterations")
        ax.set_ylabel("robust test accuracy (%)")
        ax.set_title(f"{checkpoint} checkpoint", fontsize=9)
        ax.grid(alpha=0.3)
        _legend(ax)
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    return _finish(fig, "Fig. 21: PGD attacks with different numbers of iterations", runs)


@figure("audit_attacks")
def audit_attacks(manifest: dict[str, Any]) -> Figure:
    """Not in the paper: each method's test accuracy under every attack evaluated on its
    checkpoints (natural, PGD-20, PGD+, CW, LSA, AutoAttack, and the worst case over them),
    median over seeds with one standard deviation as the error bar; a panel per checkpoint."""
    from gair.tables import collect

    summary = report.seed_stats(collect({**manifest, "columns": None}), SEED_KEYS)
    worst = collect_worst_case(manifest)
    summary = pd.concat([summary, worst], ignore_index=True) if len(worst) else summary
    attacks = evaluation_attacks.order(summary["attack"])
    methods = list(dict.fromkeys(summary["method"]))
    checkpoints = [c for c in manifest.get("checkpoints") or ["best", "last"]
                   if c in set(summary["checkpoint"])]  # fmt: skip
    cell = summary.set_index(["method", "checkpoint", "attack"])
    colors = dict(zip(attacks, plt.get_cmap("viridis")(np.linspace(0.05, 0.9, len(attacks))),
                      strict=True))  # fmt: skip
    fig, axes = plt.subplots(1, len(checkpoints), figsize=(5.2 * len(checkpoints), 4.0),
                             squeeze=False)  # fmt: skip
    width = 0.8 / max(1, len(attacks))
    for ax, checkpoint in zip(axes[0], checkpoints, strict=True):
        for k, attack in enumerate(attacks):
            keys = [(m, checkpoint, attack) for m in methods]
            heights = [cell.loc[key, "median"] if key in cell.index else np.nan for key in keys]
            errors = [report.spread(cell.loc[key, "std"]) if key in cell.index else 0.0
                      for key in keys]  # fmt: skip
            xs = np.arange(len(methods)) + (k - (len(attacks) - 1) / 2) * width
            ax.bar(xs, heights, width=width, yerr=errors, capsize=2, color=colors[attack],
                   label=report.attack_title(attack), error_kw={"linewidth": 0.8})  # fmt: skip
        ax.set_xticks(range(len(methods)), methods, rotation=20, ha="right")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{checkpoint} checkpoint", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0][-1].legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    return _finish(fig, "Accuracy under each attack, per method (median over seeds)",
                   all_runs(manifest))  # fmt: skip


def collect_worst_case(manifest: dict[str, Any]) -> pd.DataFrame:
    """The worst case over attacks of every evaluation file, as seed statistics."""
    long = report.collect_evals(report.records_of(manifest))
    worst = long[long["attack"] == evaluation_attacks.WORST_CASE]
    return report.seed_stats(worst, SEED_KEYS) if len(worst) else worst


def method_palette(labels: list[str], specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A distinct colour per method for up to 18 methods: red for AT, tab20 for the rest
    (its reds left out so that only the baseline is red)."""
    table = plt.get_cmap("tab20")
    order = [i for i in (*range(0, 20, 2), *range(1, 20, 2)) if i not in (6, 7)]
    out, k = {}, 0
    for label in labels:
        if specs.get(label, {}).get("method") == "at" and RED not in out.values():
            out[label] = RED
        else:
            out[label] = table(order[k % len(order)])
            k += 1
    return out


@figure("tradeoff")
def tradeoff(manifest: dict[str, Any]) -> Figure:
    """Natural test accuracy against PGD-20 (left) and against AutoAttack (right) accuracy:
    one point per method and checkpoint (filled: best, open: last) at the median over seeds,
    error bars one standard deviation over seeds on both axes."""
    from matplotlib.lines import Line2D

    from gair.tables import collect

    summary = report.seed_stats(collect({**manifest, "columns": None}), SEED_KEYS)
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
    colors = method_palette(labels, {r.label: r.spec for r in runs})
    # A marker shape per method as well: twelve colours alone are hard to tell apart.
    markers = dict(zip(labels, itertools.cycle("osD^vP<X>*hp"), strict=False))
    cell = summary.set_index(["method", "checkpoint", "attack"])
    present = set(summary["checkpoint"])
    checkpoints = [c for c in manifest.get("checkpoints") or ["best", "last"] if c in present]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), squeeze=False)
    for ax, attack in zip(axes[0], ("pgd20", aa), strict=True):
        for label in labels:
            for k, checkpoint in enumerate(checkpoints):
                if (label, checkpoint, attack) not in cell.index:
                    continue
                x = cell.loc[(label, checkpoint, attack)]
                y = cell.loc[(label, checkpoint, "natural")]
                ax.errorbar(
                    x["median"], y["median"], xerr=report.spread(x["std"]),
                    yerr=report.spread(y["std"]), fmt=markers[label],
                    color=colors[label], mfc=colors[label] if k == 0 else "white",
                    markersize=6, capsize=2, linewidth=0.8,
                    label=f"{label} ({checkpoint})",
                )  # fmt: skip
        name = report.attack_title(attack)
        ax.set_xlabel(f"{name} test accuracy (%)")
        ax.set_ylabel("natural test accuracy (%)")
        ax.set_title(f"natural vs {name}", fontsize=9)
        ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], marker=markers[label], linestyle="", color=colors[label], label=label)
        for label in labels
    ]
    handles += [
        Line2D([], [], marker="o", linestyle="", color="0.3", mfc=fill, label=f"{ckpt} checkpoint")
        for ckpt, fill in zip(checkpoints, ("0.3", "white"), strict=False)
    ]
    axes[0][1].legend(
        handles=handles, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5)
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    return _finish(fig, "Trade-off: natural against robust accuracy, every method", runs)


# ------------------------------------------------------------------------------ output
def axes_with_data(fig: Figure) -> list[Axes]:
    """Panels that show data (a line with points, or a scatter with points)."""
    out = []
    for ax in fig.axes:
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
