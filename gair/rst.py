"""GAIR-RST moved to :mod:`gair.methods.gair_rst`; this module keeps the old import path."""

from gair.methods.gair_rst import (  # noqa: F401
    INFO,
    METHOD,
    OMEGA_FUNCTIONS,
    cw_pgd,
    cw_term_needed,
    gair_rst_objective,
    omega,
    rst_attack,
    rst_loss,
)
