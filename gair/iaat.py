"""IAAT moved to :mod:`gair.methods.iaat`; this module keeps the old import path."""

from gair.attacks import per_sample_pgd  # noqa: F401  (it lived here before)
from gair.methods.core import extra_settings  # noqa: F401
from gair.methods.iaat import (  # noqa: F401
    INFO,
    METHOD,
    iaat_attack,
    iaat_loss,
    iaat_state,
    iaat_step_sizes,
    iaat_update,
)
