"""ATLAS moved to :mod:`gair.methods.atlas`; this module keeps the old import path."""

from gair.methods.atlas import (  # noqa: F401
    INFO,
    METHOD,
    atlas_attack,
    atlas_loss,
    atlas_objective,
    local_points,
    settings,
)
