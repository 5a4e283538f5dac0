"""MMA moved to :mod:`gair.methods.mma`; this module keeps the old import path."""

from gair.methods.mma import (  # noqa: F401
    INFO,
    METHOD,
    SEARCH_CEILING,
    margin_search,
    mma_attack,
    mma_loss,
    mma_objective,
    mma_state,
    settings,
    soft_logit_margin,
)
