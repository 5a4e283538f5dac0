"""RPAT moved to :mod:`gair.methods.rpat`; this module keeps the old import path."""

from gair.methods.rpat import (  # noqa: F401
    INFO,
    METHOD,
    rpat_loss,
    rpat_objective,
)
