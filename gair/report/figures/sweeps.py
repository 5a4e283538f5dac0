"""One setting swept against a baseline (Figs. 12-20): weight functions, lambda, burn-in,
networks, tau schedules, MART's variants; natural and PGD-20 test accuracy per epoch."""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.figures.common import (
    Curves,
    baseline_colors,
    draw,
    epoch_axis,
    finish,
    network_label,
    plot_weights,
    run_key,
    runs_of,
    sweep_colors,
    test_panels,
)
from gair.report.manifest import Manifest


def _sweep_figure(
    manifest: Manifest,
    base_group: str,
    sweep_group: str,
    title: str,
    weights_panel: bool,
    cmap: str = style.SWEEP_CMAP,
) -> Figure:
    """A baseline (red) against a sweep of one setting (dark to light), Figs. 13-15, 17, 20."""
    base = runs_of(manifest, base_group)
    sweep = runs_of(manifest, sweep_group)
    colors = sweep_colors(base, sweep, manifest.plot, cmap)
    runs = [*base, *sweep]
    n = 3 if weights_panel else 2
    fig = style.new_figure(4.3 * n + 2.0, 3.9)
    axes = fig.subplots(1, n, squeeze=False)
    if weights_panel:
        plot_weights(axes[0][0], runs, colors)
    test_panels(list(axes[0][n - 2 :]), runs, colors)
    style.legend_figure(fig, *run_key(colors, runs))
    return finish(fig, title, runs, manifest)


@figure("fig12", groups=("methods",))
def fig12(manifest: Manifest) -> Figure:
    """Fig. 12: weight functions (Eqs. 6-8) against AT; natural and PGD-20 test accuracy."""
    runs = runs_of(manifest, "methods")
    colors = baseline_colors(runs, manifest.plot)
    fig = style.new_figure(15, 3.9)
    axes = fig.subplots(1, 3, squeeze=False)
    plot_weights(axes[0][0], runs, colors)
    test_panels(list(axes[0][1:]), runs, colors)
    style.legend_figure(fig, *run_key(colors, runs))
    return finish(fig, "Fig. 12: GAIRAT with different weight assignment functions", runs, manifest)


@figure("fig13", groups=("at", "gairat"))
def fig13(manifest: Manifest) -> Figure:
    """Fig. 13: Eq. (6) with different lambda (smaller lambda lighter)."""
    title = r"Fig. 13: GAIRAT, Eq. (6) with different $\lambda$ (the paper: CIFAR-10)"
    return _sweep_figure(manifest, "at", "gairat", title, weights_panel=True)


@figure("fig14", groups=("at", "gairat"))
def fig14(manifest: Manifest) -> Figure:
    """Fig. 14: Fig. 13 on SVHN."""
    title = r"Fig. 14: GAIRAT, Eq. (6) with different $\lambda$ (the paper: SVHN)"
    return _sweep_figure(manifest, "at", "gairat", title, weights_panel=True)


@figure("fig15", groups=("at", "gairat"))
def fig15(manifest: Manifest) -> Figure:
    """Fig. 15: burn-in lengths (shorter darker) against AT."""
    title = "Fig. 15: GAIRAT with different burn-in periods"
    return _sweep_figure(manifest, "at", "gairat", title, weights_panel=False)


@figure("fig17", groups=("fat", "gair_fat"))
def fig17(manifest: Manifest) -> Figure:
    """Fig. 17: FAT against GAIR-FAT with different lambda."""
    title = r"Fig. 17: FAT and GAIR-FAT with different $\lambda$"
    return _sweep_figure(manifest, "fat", "gair_fat", title, weights_panel=False)


def _paired_columns(
    manifest: Manifest,
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
            epoch_axis(ax)
            ax.set_ylabel("accuracy (%)")
    handles = [
        Line2D([], [], color=style.BASELINE, marker="o"),
        Line2D([], [], color=second, marker="s"),
    ]
    style.legend_figure(fig, handles, [base_name, other_name])
    return finish(fig, title, [*base, *other.values()], manifest)


@figure("fig16", groups=("at", "gairat"))
def fig16(manifest: Manifest) -> Figure:
    """Fig. 16: AT and GAIRAT on SmallCNN, VGG-13 and ResNet-18."""
    title = "Fig. 16: AT and GAIRAT on different networks"
    return _paired_columns(manifest, "at", "gairat", "AT", "GAIRAT", title, network_label)


@figure("fig18", groups=("fat", "gair_fat"))
def fig18(manifest: Manifest) -> Figure:
    """Fig. 18: FAT and GAIR-FAT under tau schedules 0-1-2, 0-2-4, 0-3-6."""
    title = r"Fig. 18: FAT and GAIR-FAT under different $\tau$ schedules"
    return _paired_columns(manifest, "fat", "gair_fat", "FAT", "GAIR-FAT", title)


@figure("fig19", groups=("baselines", "gair_mart"))
def fig19(manifest: Manifest) -> Figure:
    """Fig. 19: MMA, MART and GAIR-MART (Eq. 10) with different weight functions."""
    base = runs_of(manifest, "baselines")
    gair = runs_of(manifest, "gair_mart")
    colors = sweep_colors(base, gair, manifest.plot)
    runs = [*base, *gair]
    fig = style.new_figure(11, 3.9)
    axes = fig.subplots(1, 2, squeeze=False)
    test_panels(list(axes[0]), runs, colors)
    style.legend_figure(fig, *run_key(colors, runs))
    return finish(fig, "Fig. 19: MMA, MART and GAIR-MART", runs, manifest)


@figure("fig20", groups=("baselines", "gair_mart_kl"))
def fig20(manifest: Manifest) -> Figure:
    """Fig. 20: MART against omega on the KL term (Eq. 11)."""
    title = "Fig. 20: MART and GAIR-MART with Eq. (11)"
    return _sweep_figure(manifest, "baselines", "gair_mart_kl", title, weights_panel=False)
