"""Model capacity (Figs. 2, 5, 6): natural and PGD-10 training error of AT on networks of
growing size (ST as the reference) and on one network for growing eps_train."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.figures.common import (
    Curves,
    finish,
    joined,
    model_of,
    network_label,
    plot_curves,
    run_key,
    runs_of,
)
from gair.report.manifest import Manifest


def _capacity_panels(manifest: Manifest, split: bool) -> tuple[Figure, list[Curves]]:
    networks = runs_of(manifest, "networks")
    eps_runs = runs_of(manifest, "eps")
    st = runs_of(manifest, "st") if "st" in manifest.groups else []
    net_colors = style.assign([r.label for r in [*st, *networks]], [r.label for r in st])
    eps_colors = dict(
        zip([r.label for r in eps_runs], style.sweep(len(eps_runs), style.EPS_CMAP), strict=True)
    )
    eps_what = rf"AT on {model_of(eps_runs)}, different $\epsilon_{{train}}$"
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


@figure("fig2", groups=("networks", "eps"), optional=("st",))
def fig2(manifest: Manifest) -> Figure:
    """Fig. 2: natural (solid) and PGD-10 (dashed) training error; networks left, eps right."""
    fig, runs = _capacity_panels(manifest, split=False)
    return finish(fig, "Fig. 2: model capacity in adversarial training", runs, manifest)


@figure("fig5", groups=("networks", "eps"), optional=("st",))
def fig5(manifest: Manifest) -> Figure:
    """Fig. 5: Fig. 2 with natural and adversarial training error in separate panels."""
    fig, runs = _capacity_panels(manifest, split=True)
    return finish(
        fig, "Fig. 5: natural and adversarial training error (the paper: CIFAR-10)", runs, manifest
    )


@figure("fig6", groups=("networks", "eps"), optional=("st",))
def fig6(manifest: Manifest) -> Figure:
    """Fig. 6: Fig. 5 on SVHN."""
    fig, runs = _capacity_panels(manifest, split=True)
    return finish(
        fig, "Fig. 6: natural and adversarial training error (the paper: SVHN)", runs, manifest
    )
