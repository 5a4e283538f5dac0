"""Checks of gair.report.figures.style's visual grammar on a drawn figure, read from its artists.

Used by tests/test_figures.py on synthetic runs and by tests/test_workflow_smoke.py on every
figure of the smoke DAG.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from gair.data import DATASETS
from gair.models import MODELS
from gair.report.figures import style


def data_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_visible()]


def legends(fig: Figure) -> list:
    out = list(fig.legends)
    out += [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return out


def overlap(a: Bbox, b: Bbox) -> float:
    """Area of the intersection of two display boxes (pixels squared)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, w) * max(0.0, h)


def check_legends_outside(fig: Figure) -> None:
    """Every legend is framed and covers no panel's data area, title or footer."""
    if not hasattr(fig.canvas, "get_renderer"):  # a Figure made without pyplot
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in (fig._suptitle, fig._supxlabel) if t is not None and t.get_text()]
    for legend in legends(fig):
        assert legend.get_frame_on(), "a legend without a frame"
        box = legend.get_window_extent(renderer)
        for ax in data_axes(fig):
            area = overlap(box, ax.get_window_extent(renderer))
            assert area < 1.0, f"the legend lies on panel {ax.get_title()!r} ({area:.0f} px^2)"
        for text in texts:
            area = overlap(box, text.get_window_extent(renderer))
            assert area < 1.0, f"the legend lies on {text.get_text()!r} ({area:.0f} px^2)"


def check_kappa_colorbars(fig: Figure) -> None:
    """A figure whose scatter points are coloured by a value has a colour bar."""
    coloured = [
        c
        for ax in data_axes(fig)
        for c in ax.collections
        if isinstance(c, PathCollection) and c.get_array() is not None and len(c.get_offsets())
    ]
    if coloured:
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert bars, "points coloured by kappa but no colour bar"
        assert all("kappa" in ax.get_ylabel() for ax in bars), [a.get_ylabel() for a in bars]


def series_colors(ax: Axes) -> dict[str, tuple[float, float, float]]:
    """Series -> its colour: a line's gid (the run it stands for) or a bar group's label; a
    series drawn in two colours fails."""
    out: dict[str, tuple[float, float, float]] = {}
    for line in ax.get_lines():
        gid = line.get_gid()
        if gid is None or not len(line.get_xdata()):
            continue
        color = to_rgb(line.get_color())
        assert out.setdefault(gid, color) == color, f"run {gid!r} has two colours in one panel"
    for bars in ax.containers:
        if isinstance(bars, BarContainer) and len(bars.patches):
            color = to_rgb(bars.patches[0].get_facecolor())
            out.setdefault(f"bars {bars.get_label()}", color)
    return out


def check_distinct_colors(fig: Figure) -> int:
    """In every panel, different runs have colours at least style.MIN_DISTANCE apart.
    Returns the largest number of runs one panel holds."""
    most = 0
    for ax in data_axes(fig):
        colors = series_colors(ax)
        most = max(most, len(colors))
        for (a, ca), (b, cb) in itertools.combinations(colors.items(), 2):
            gap = style.distance(ca, cb)
            assert gap >= style.MIN_DISTANCE, (
                f"panel {ax.get_title()!r}: {a!r} and {b!r} have colours {gap:.3f} apart"
            )
    return most


def check_seed_spread(fig: Figure, multi_seed: Iterable[str]) -> None:
    """Runs with several seeds show their spread: a band of their colour behind a curve, or
    error bars on their points."""
    wanted = set(multi_seed)
    for ax in data_axes(fig):
        if ax.get_xlabel() != "epoch" and not ax.containers:
            continue  # not a measurement over seeds (e.g. omega against kappa)
        colors = series_colors(ax)
        bands = [tuple(np.round(c.get_facecolor()[0][:3], 4)) for c in ax.collections
                 if isinstance(c, PolyCollection) and len(c.get_paths())]  # fmt: skip
        bars = {c.lines[0].get_gid() for c in ax.containers
                if isinstance(c, ErrorbarContainer) and c.lines[0] is not None
                and (c.has_yerr or c.has_xerr)}  # fmt: skip
        for label in wanted & set(colors):
            band = tuple(np.round(colors[label], 4)) in bands
            assert band or label in bars, f"panel {ax.get_title()!r}: {label!r} shows no spread"
        if wanted:  # bars summarising seeds carry their error bars
            for group in ax.containers:
                if isinstance(group, BarContainer) and len(group.patches):
                    spread = group.errorbar is not None and group.errorbar.has_yerr
                    assert spread, f"panel {ax.get_title()!r}: bars {group.get_label()!r}"


def check_footer_and_title(fig: Figure) -> str:
    """A footer that says what was trained, and a title that claims no dataset or network
    except as the paper's ("the paper: ..."). Returns the title."""
    footer = fig._supxlabel.get_text() if fig._supxlabel is not None else ""
    assert footer.startswith("data: "), f"footer {footer!r}"
    title = fig._suptitle.get_text() if fig._suptitle is not None else ""
    assert title, "no title"
    claimed = title.split("(the paper:")[0]
    names = [d.title for d in DATASETS.values()] + [m.title for m in MODELS.values()]
    for name in names:
        assert name not in claimed, f"title {title!r} names {name!r} as its own setting"
    return title


def check_grammar(fig: Figure, multi_seed: Iterable[str] = ()) -> int:
    """All of the above; returns the largest number of series (runs, bar groups, or for
    scatter plots coloured by kappa their colour bars) in one panel."""
    check_footer_and_title(fig)
    check_legends_outside(fig)
    check_kappa_colorbars(fig)
    check_seed_spread(fig, multi_seed)
    most = check_distinct_colors(fig)
    return most or len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"])
