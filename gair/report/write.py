"""Writing report files, each atomically: a table as CSV, Markdown and LaTeX; a figure as PDF
and PNG with its JSON sidecar (the panels that show data and the manifest read). Figures are
passed in, so this module imports no matplotlib."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gair.io import atomic_path, write_json, write_text
from gair.report.manifest import Manifest


def write_table_files(prefix: str | Path, *, csv: str, md: str, tex: str) -> list[Path]:
    """PREFIX.csv, PREFIX.md and PREFIX.tex, each written atomically; their paths."""
    paths = [Path(f"{prefix}.{ext}") for ext in ("csv", "md", "tex")]
    for path, text in zip(paths, (csv, md, tex), strict=True):
        write_text(path, text)
    return paths


def figure_files(
    fig: Any, prefix: str | Path, sidecar: Mapping[str, Any] | None = None
) -> list[Path]:
    """PREFIX.pdf and PREFIX.png (and PREFIX.json when a sidecar is given), atomically."""
    paths = []
    for ext in ("pdf", "png"):
        path = Path(f"{prefix}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
        paths.append(path)
    if sidecar is not None:
        path = Path(f"{prefix}.json")
        write_json(path, dict(sidecar), sort_keys=False)  # a manifest's order is its labels'
        paths.append(path)
    return paths


def axes_with_data(fig: Any) -> list[Any]:
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


def save_figure(fig: Any, prefix: str | Path, name: str, manifest: Manifest) -> dict[str, Any]:
    """Write PREFIX.pdf, PREFIX.png and the PREFIX.json sidecar (the panels drawn and the
    manifest read), each atomically; returns the sidecar."""
    panels = [
        {"title": ax.get_title(), "lines": len(ax.get_lines()), "collections": len(ax.collections)}
        for ax in axes_with_data(fig)
    ]
    sidecar = {"figure": name, "panels": panels, "manifest": manifest.to_json()}
    figure_files(fig, prefix, sidecar)
    return sidecar
