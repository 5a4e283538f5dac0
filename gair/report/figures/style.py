"""One visual grammar for every figure: colours, legends, colour bars, title and footer.

- Colour names the run (method, network, setting); line style names the quantity (natural
  or adversarial, train or test). The baseline a figure compares with (AT, ST, FAT, MART,
  TRADES) is red; other methods take :func:`qualitative` colours, a sweep of one setting the
  shades of :func:`sweep`. Within a panel no two series share a colour, and every pair of
  colours differs by at least :data:`MIN_DISTANCE` in RGB (tests/test_figures.py checks).
- Legends sit outside the data, to the right of the panel they describe (or of the whole
  figure when every panel shows the same series), framed.
- Every kappa scale has a colour bar; seeds show as a band (curves) or error bars (points,
  bars) of one standard deviation wherever a label has more than one seed.
- The title names the paper's figure and what it shows, never a dataset or network: the
  footer (:func:`gair.report.read.trained_note`) says what was trained and where it was
  computed (:func:`gair.report.read.computed_on`), and a config ``note`` says what a scale
  cannot show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.legend import Legend

BASELINE = "#d62728"
# tab10 without its red, then darker and lighter variants: distinct, colour-blind aware first.
QUALITATIVE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#393b79", "#e7ba52", "#637939", "#7b4173", "#5254a3", "#e6550d", "#31a354",
]  # fmt: skip
MARKERS = "osD^vP<X>*hp"
MIN_DISTANCE = 0.15  # smallest RGB distance between two series of one panel
AVOID_DISTANCE = 0.3  # how far a method's colour stays from a sweep's colours
SWEEP_CMAP = "YlGnBu"  # dark blue (first) to light yellow-green
EPS_CMAP = "plasma_r"  # the eps_train sweep of Figs. 2, 5, 6
TITLE_SIZE = 11
PANEL_TITLE_SIZE = 9
LEGEND_SIZE = 7
FOOTER_SIZE = 7
# Kappa colour maps per class of a pair: light = small kappa, dark = large, never white.
KAPPA_CMAPS = ("Reds", "Blues")
KAPPA_LIGHTEST = 0.3  # where on the colour map kappa = 0 sits (0 would be white)


def qualitative(n: int) -> list[str]:
    """n distinct colours, none of them the baseline's red."""
    if n > len(QUALITATIVE):
        raise ValueError(f"{n} series need more than the {len(QUALITATIVE)} distinct colours")
    return QUALITATIVE[:n]


def sweep(n: int, cmap: str = SWEEP_CMAP) -> list[Any]:
    """n colours of a sequential colour map for a sweep of one setting, darkest first, from
    0.95 down to 0.3 of the map (a multi-hue map keeps eight shades apart)."""
    import matplotlib

    colors = matplotlib.colormaps[cmap]
    return [colors(v) for v in np.linspace(0.95, 0.3, n)] if n > 1 else [colors(0.8)]


def assign(
    labels: Sequence[str],
    baselines: Sequence[str] = (),
    given: dict[str, Any] | None = None,
    avoid: Sequence[Any] = (),
) -> dict[str, Any]:
    """A colour per label: configured colours first, red for the first baseline, then the
    qualitative colours in order, skipping those near a colour in ``avoid`` (a sweep drawn
    in the same panel)."""
    given = given or {}
    out: dict[str, Any] = {}
    far = [c for c in QUALITATIVE if all(distance(c, a) >= AVOID_DISTANCE for a in avoid)]
    rest = iter(c for c in far if c not in given.values())
    red_taken = BASELINE in given.values()
    for label in labels:
        if label in given:
            out[label] = given[label]
        elif label in baselines and not red_taken:
            out[label], red_taken = BASELINE, True
        else:
            out[label] = next(rest)
    return out


def distance(a: Any, b: Any) -> float:
    """Euclidean distance of two colours in RGB (0 for the same colour, at most sqrt 3)."""
    return float(np.linalg.norm(np.subtract(to_rgb(a), to_rgb(b))))


# ------------------------------------------------------------------------------ legends
def legend_right(
    ax: Axes, handles: list[Any] | None = None, labels: list[str] | None = None, **kwargs: Any
) -> Legend | None:
    """A framed legend to the right of ``ax``, outside its data area."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    kwargs.setdefault("fontsize", LEGEND_SIZE)
    return ax.legend(
        handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
        frameon=True, framealpha=1.0, edgecolor="0.8", **kwargs,
    )  # fmt: skip


def legend_figure(fig: Figure, handles: list[Any], labels: list[str]) -> Legend | None:
    """One framed legend for the whole figure, right of every panel (constrained layout
    makes room for it)."""
    if not handles:
        return None
    return fig.legend(
        handles, labels, loc="outside right upper", fontsize=LEGEND_SIZE, frameon=True,
        framealpha=1.0, edgecolor="0.8",
    )  # fmt: skip


def unique_handles(axes: Sequence[Axes]) -> tuple[list[Any], list[str]]:
    """Legend entries of several panels, each label once, in order of appearance."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen)


def style_key(
    styles: Mapping[str, str | tuple[str, str]], color: str = "0.25"
) -> tuple[list[Any], list[str]]:
    """Legend entries that explain line styles ("natural": solid, ...) in a neutral grey; a
    value is a line style or a (line style, marker) pair."""
    from matplotlib.lines import Line2D

    handles = []
    for value in styles.values():
        linestyle, marker = value if isinstance(value, tuple) else (value, "")
        handles.append(
            Line2D([], [], color=color, linestyle=linestyle, marker=marker, markersize=4,
                   linewidth=1.2)
        )  # fmt: skip
    return handles, list(styles)


# ------------------------------------------------------------------------------ kappa
def kappa_cmap(name: str) -> LinearSegmentedColormap:
    """A class's kappa colour map without its white end."""
    import matplotlib

    base = matplotlib.colormaps[name]
    return LinearSegmentedColormap.from_list(
        f"{name}_kappa", base(np.linspace(KAPPA_LIGHTEST, 1.0, 256))
    )


def kappa_colorbars(fig: Figure, axes: Sequence[Axes], kmax: int, classes: Sequence[str]) -> None:
    """A colour bar per class colour map, shared by the kappa panels ``axes``."""
    from matplotlib.cm import ScalarMappable

    norm = Normalize(vmin=0, vmax=kmax)
    for name, what in zip(KAPPA_CMAPS, classes, strict=False):
        bar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=kappa_cmap(name)), ax=list(axes), shrink=0.8,
            pad=0.01, aspect=30,
        )  # fmt: skip
        bar.set_label(rf"$\kappa$ of {what}", fontsize=LEGEND_SIZE)
        bar.ax.tick_params(labelsize=LEGEND_SIZE)


# ------------------------------------------------------------------------------ seeds
def band(ax: Axes, x: np.ndarray, low: np.ndarray, high: np.ndarray, color: Any) -> None:
    """A band around a curve, from ``low`` to ``high`` (an interval, or one std over seeds)."""
    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)


# ------------------------------------------------------------------------------ frame
def new_figure(width: float, height: float) -> Figure:
    """A figure with constrained layout (legends and colour bars outside the panels get room)."""
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), layout="constrained")


def finish(fig: Figure, title: str, footer: str, note: str = "", computed: str = "") -> Figure:
    """Title on top; the footer (what was trained, then where it was computed:
    :func:`gair.report.read.computed_on`) and any scale note at the bottom."""
    fig.suptitle(title, fontsize=TITLE_SIZE)
    lines = [footer, f"computed on: {computed}" if computed else "", note]
    text = "\n".join(line for line in lines if line)
    if text:
        # supxlabel takes part in the constrained layout: the footer never overlaps a panel.
        fig.supxlabel(text, fontsize=FOOTER_SIZE, color="0.35")
    return fig
