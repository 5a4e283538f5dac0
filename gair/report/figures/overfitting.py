"""Robust overfitting (Figs. 4, 10, 11): AT against GAIRAT per epoch, the weight functions,
kappa, natural and PGD-20 error on training and test data, flatness; LR schedules."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.figures.common import (
    baseline_colors,
    draw,
    epoch_axis,
    finish,
    joined,
    lr_changes,
    mark_lr_changes,
    plot_curves,
    plot_weights,
    run_key,
    runs_of,
)
from gair.report.manifest import Manifest


def _overfitting(manifest: Manifest, title: str) -> Figure:
    """Figs. 4 and 10: the six panels of the caption."""
    runs = runs_of(manifest, "methods")
    colors = baseline_colors(runs, manifest.plot)
    fig = style.new_figure(14, 7.5)
    axes = fig.subplots(2, 3)
    plot_weights(axes[0][0], runs, colors)
    at = next((r for r in runs if r.spec.get("method") == "at"), runs[0])
    draw(axes[1][0], at, "kappa_median", colors[at.label], marker="o", label=f"{at.label}: median")
    draw(axes[1][0], at, "kappa_mean", colors[at.label], linestyle=":", marker="x",
         label=f"{at.label}: mean")  # fmt: skip
    drops = lr_changes(at)
    mark_lr_changes(axes[1][0], drops)
    epoch_axis(axes[1][0])
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
    return finish(fig, title, runs, manifest)


@figure("fig4", groups=("methods",))
def fig4(manifest: Manifest) -> Figure:
    """Fig. 4: AT vs GAIRAT (omega_2, omega_3)."""
    return _overfitting(
        manifest, "Fig. 4: GAIRAT relieves robust overfitting (the paper: CIFAR-10)"
    )


@figure("fig10", groups=("methods",))
def fig10(manifest: Manifest) -> Figure:
    """Fig. 10: Fig. 4 on SVHN."""
    return _overfitting(manifest, "Fig. 10: GAIRAT relieves robust overfitting (the paper: SVHN)")


@figure("fig11", groups=("at", "gairat"))
def fig11(manifest: Manifest) -> Figure:
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
    epoch_axis(top)
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
            epoch_axis(ax)
            ax.set_ylabel("error (%)")
    handles = [Line2D([], [], color=style.BASELINE)] + [
        Line2D([], [], color=colors[s]) for s in schedules
    ]
    labels = ["AT (every schedule)"] + [f"{s} (GAIRAT; LR on top)" for s in schedules]
    style.legend_figure(fig, handles, labels)
    return finish(
        fig,
        "Fig. 11: AT and GAIRAT under different LR schedules",
        [*at, *gairat.values()],
        manifest,
    )
