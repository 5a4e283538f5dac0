"""kappa of training points (Figs. 3, 7, 8): the 2-D toy sets in input space and the 2-D PCA
of the logits of class pairs, coloured by kappa (lighter: smaller kappa, more attackable)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gair.errors import ConfigError, DataError
from gair.report import read
from gair.report.catalogue import figure
from gair.report.figures import style
from gair.report.figures.common import (
    CIFAR10,
    Curves,
    finish,
    runs_of,
)
from gair.report.manifest import Manifest


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
    (colour maps without their white end: gair.report.figures.style.kappa_cmap)."""
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


def _pairs(manifest: Manifest) -> list[list[int]]:
    pairs = manifest.plot.get("pairs", [])
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ConfigError(
            f"plot.pairs = {pairs!r} is invalid: give a list of class pairs, e.g. [[3, 8]]"
        )
    return pairs


def _checkpoint_words(run: Curves) -> str:
    profile = run.item.geometry_checkpoint
    return f", checkpoint {profile}" if profile else ""


@figure("fig3", groups=("toy", "pca"))
def fig3(manifest: Manifest) -> Figure:
    """Fig. 3: kappa of training points; left the 2-D toy sets in input space, right the
    2-D PCA of logits for a pair of classes (an AT snapshot taken at the LR drop)."""
    toys = runs_of(manifest, "toy")
    pca = runs_of(manifest, "pca")[0]
    pairs = _pairs(manifest)
    n = len(toys) + len(pairs)
    fig = style.new_figure(3.3 * n + 1.5, 3.6)
    axes = fig.subplots(1, n, squeeze=False)[0]
    frames = [read.read_geometry(run.item.geometry) for run in toys]
    pca_frame = read.read_geometry(pca.item.geometry)
    kmax = _kappa_max([*frames, pca_frame], [*toys, pca])
    for ax, run, frame in zip(axes, toys, frames, strict=False):
        kappa_scatter(ax, frame, "x1", "x2", sorted(frame["label"].unique().tolist())[:2], kmax)
        ax.set_title(f"toy: {run.label} (input space)", fontsize=style.PANEL_TITLE_SIZE)
    _pair_panels(list(axes[len(toys) :]), pca, pca_frame, pairs, kmax)
    for ax in axes[len(toys) :]:
        ax.set_title(f"{ax.get_title()}: PCA of logits{_checkpoint_words(pca)}", fontsize=8)
    style.kappa_colorbars(fig, list(axes), kmax, ["the red class", "the blue class"])
    title = r"Fig. 3: $\kappa$ of training data, lighter = smaller $\kappa$ (attackable)"
    return finish(fig, title, [*toys, pca], manifest)


def _pair_grid(manifest: Manifest, title: str) -> Figure:
    run = runs_of(manifest, "pca")[0]
    pairs = _pairs(manifest)
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = style.new_figure(3.3 * cols + 1.5, 3.2 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    frame = read.read_geometry(run.item.geometry)
    kmax = _kappa_max([frame], [run])
    _pair_panels(flat[: len(pairs)], run, frame, pairs, kmax)
    for ax in flat[len(pairs) :]:
        ax.axis("off")
    style.kappa_colorbars(fig, flat, kmax, ["the red class", "the blue class"])
    return finish(fig, f"{title}{_checkpoint_words(run)}", [run], manifest)


@figure("fig7", groups=("pca",))
def fig7(manifest: Manifest) -> Figure:
    """Fig. 7 (Part A): 2-D PCA of logits of class pairs, coloured by kappa."""
    return _pair_grid(manifest, r"Fig. 7: PCA of logits by $\kappa$, part A")


@figure("fig8", groups=("pca",))
def fig8(manifest: Manifest) -> Figure:
    """Fig. 8 (Part B): more class pairs."""
    return _pair_grid(manifest, r"Fig. 8: PCA of logits by $\kappa$, part B")
