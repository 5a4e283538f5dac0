"""Accuracy under attacks (Fig. 21 and beyond the paper): robust accuracy against the number of
PGD iterations, every method under every attack it was evaluated with, and natural against
robust accuracy of every method (the trade-off)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gair.errors import ConfigError, DataError
from gair.evaluation import registry
from gair.report import evidence, stats
from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.figures.common import (
    SEED_KEYS,
    all_runs,
    baseline_colors,
    finish,
    run_key,
)
from gair.report.manifest import Manifest
from gair.report.tables import collect, intervals


def centre(row: pd.Series) -> tuple[float, float, float]:
    """(centre, below, above) of a cell: the mean and its 95% interval over seeds and test
    points where per-point files gave one, else the median and one std over seeds."""
    if not np.isnan(row.get("low", np.nan)):
        return float(row["mean"]), float(row["mean"] - row["low"]), float(row["high"] - row["mean"])
    spread = stats.spread(row["std"])
    return float(row["median"]), spread, spread


def interval_summary(manifest: Manifest, worst: bool = False) -> pd.DataFrame:
    """Median and std over seeds per method, checkpoint and attack, with each cell's 95%
    interval where per-point files exist (gair.report.tables.intervals); ``worst`` adds the
    worst case over attacks."""
    summary = seed_summary(manifest)
    if worst:
        extra = collect_worst_case(manifest)
        summary = pd.concat([summary, extra], ignore_index=True) if len(extra) else summary
    return intervals(summary, manifest, None)


@figure("fig21")
def fig21(manifest: Manifest) -> Figure:
    """Fig. 21: robust test accuracy against the number of PGD iterations, best and last;
    the mean with its 95% interval over seeds and test points (median and one std where no
    per-point files exist)."""
    checkpoints = manifest.checkpoints or ["best", "last"]
    runs = all_runs(manifest)
    colors = baseline_colors(runs, manifest.plot)
    summary = interval_summary(manifest)
    steps_of = {a: _pgd_steps(a) for a in set(summary["attack"])}
    summary = summary[[steps_of[a] is not None for a in summary["attack"]]]
    fig = style.new_figure(4.6 * len(checkpoints) + 1.8, 3.9)
    axes = fig.subplots(1, len(checkpoints), squeeze=False)
    points_n = int(summary["n_points"].max()) if summary["n_points"].notna().any() else 0
    for ax, checkpoint in zip(axes[0], checkpoints, strict=True):
        lows, highs = [], []
        for k, run in enumerate(runs):
            part = summary[(summary["method"] == run.label) & (summary["checkpoint"] == checkpoint)]
            if part.empty:
                raise ConfigError(f"fig21 needs the {checkpoint!r} evaluation of {run.label!r}")
            cells = sorted((steps_of[r["attack"]], *centre(r)) for _, r in part.iterrows())
            steps, mid, below, above = (np.array(v, dtype=float) for v in zip(*cells, strict=True))
            container = ax.errorbar(
                steps, mid, yerr=[below, above],
                marker=style.MARKERS[k % len(style.MARKERS)], markersize=4, capsize=2,
                color=colors[run.label], label=run.label, linewidth=1.2,
            )  # fmt: skip
            container.lines[0].set_gid(run.label)
            lows.append(float(np.min(mid - below)))
            highs.append(float(np.max(mid + above)))
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
    return finish(fig, "Fig. 21: PGD attacks with different numbers of iterations", runs, manifest)


def _pgd_steps(attack: str) -> int | None:
    """K of a pgd<K> attack name, None for any other attack."""
    if attack == registry.WORST_CASE:
        return None
    entry, match = registry.find(attack)
    return int(match["steps"]) if entry.kind == "pgd" else None


@figure("audit_attacks")
def audit_attacks(manifest: Manifest) -> Figure:
    """Not in the paper: each method's test accuracy under every attack evaluated on its
    checkpoints (natural, PGD-20, PGD+, CW, LSA, AutoAttack, and the worst case over them),
    mean with its 95% interval over seeds and test points as the error bar (median and one
    std where no per-point files exist); a panel per checkpoint."""
    summary = interval_summary(manifest, worst=True)
    attacks = registry.order(summary["attack"])
    methods = list(dict.fromkeys(summary["method"]))
    checkpoints = [c for c in manifest.checkpoints or ["best", "last"]
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
            cells = [centre(cell.loc[key]) if key in cell.index else (np.nan, 0.0, 0.0)
                     for key in keys]  # fmt: skip
            heights, below, above = (list(v) for v in zip(*cells, strict=True))
            xs = np.arange(len(methods)) + (k - (len(attacks) - 1) / 2) * width
            ax.bar(xs, heights, width=width, yerr=[below, above], capsize=2,
                   color=colors[attack], label=registry.title(attack),
                   error_kw={"linewidth": 0.8})  # fmt: skip
        ax.set_xticks(range(len(methods)), methods, rotation=20, ha="right")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{checkpoint} checkpoint", fontsize=style.PANEL_TITLE_SIZE)
        ax.grid(alpha=0.3, axis="y")
    style.legend_figure(fig, *style.unique_handles([axes[0][0]]))
    return finish(fig, "Accuracy under each attack, per method", all_runs(manifest), manifest)


def seed_summary(manifest: Manifest) -> pd.DataFrame:
    """Median and std over seeds per method, checkpoint and attack of every evaluation file
    the manifest lists (every attack, whatever columns a table would show)."""
    return stats.seed_stats(collect(manifest), SEED_KEYS)


def collect_worst_case(manifest: Manifest) -> pd.DataFrame:
    """The worst case over attacks of every evaluation file, as seed statistics."""
    long = evidence.collect(manifest)
    worst = long[long["attack"] == registry.WORST_CASE]
    return stats.seed_stats(worst, SEED_KEYS) if len(worst) else worst


@figure("tradeoff")
def tradeoff(manifest: Manifest) -> Figure:
    """Natural test accuracy against PGD-20 (left) and against AutoAttack (right) accuracy:
    one point per method and checkpoint (filled: best, open: last) at the mean, error bars
    its 95% interval over seeds and test points on both axes (median and one std where no
    per-point files exist); a thin line joins a method's
    two checkpoints, so that a point hidden under another is still found."""
    summary = interval_summary(manifest)
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
    checkpoints = [c for c in manifest.checkpoints or ["best", "last"] if c in present]
    fig = style.new_figure(12, 4.8)
    axes = fig.subplots(1, 2, squeeze=False)
    for ax, attack in zip(axes[0], ("pgd20", aa), strict=True):
        for label in labels:
            xs, ys = [], []
            for k, checkpoint in enumerate(checkpoints):
                if (label, checkpoint, attack) not in cell.index:
                    continue
                xc, x_below, x_above = centre(cell.loc[(label, checkpoint, attack)])
                yc, y_below, y_above = centre(cell.loc[(label, checkpoint, "natural")])
                container = ax.errorbar(
                    xc, yc, xerr=[[x_below], [x_above]], yerr=[[y_below], [y_above]],
                    fmt=markers[label],
                    color=colors[label], mfc=colors[label] if k == 0 else "white",
                    markersize=6, capsize=2, linewidth=0.8, alpha=0.9,
                    label=f"{label} ({checkpoint})",
                )  # fmt: skip
                container.lines[0].set_gid(label)
                xs.append(xc)
                ys.append(yc)
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
    return finish(fig, "Trade-off: natural against robust accuracy, every method", runs, manifest)
