"""The figures: one module per family, each figure a function declared with the run groups it
needs (:mod:`gair.report.catalogue`), drawing a matplotlib Figure from its manifest.

:func:`render` draws a figure by its catalogue name; :func:`gair.report.write.save_figure`
writes PREFIX.pdf, PREFIX.png and PREFIX.json (the panels drawn and the manifest read).
Nothing here reads a checkpoint or imports torch.

- :mod:`~gair.report.figures.capacity`: Figs. 2, 5, 6; :mod:`~gair.report.figures.kappa`:
  Figs. 3, 7, 8; :mod:`~gair.report.figures.overfitting`: Figs. 4, 10, 11;
  :mod:`~gair.report.figures.sweeps`: Figs. 12-20; :mod:`~gair.report.figures.attacks`:
  Fig. 21, the per-attack audit figure, the trade-off; :mod:`~gair.report.figures.audit`:
  the audit's gains; :mod:`~gair.report.figures.published`: published checkpoints;
  :mod:`~gair.report.figures.claims`: the claims; :mod:`~gair.report.figures.sensitivity`:
  the sensitivity target's gains per variation;
- :mod:`~gair.report.figures.common` and :mod:`~gair.report.figures.style`: what they draw
  with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from gair.report import catalogue
from gair.report.manifest import Manifest


def render(name: str, manifest: Manifest | Mapping[str, Any]) -> Figure:
    """Draw the figure the catalogue declares under ``name`` from its manifest."""
    return catalogue.load("figure", name)(Manifest.from_json(manifest))
