"""GAIR-MART (Eq. 10): omega(kappa) on the CE part of MART's margin loss."""

from gair.methods import MethodInfo
from gair.methods.core import Method, mart_attack, mart_objective

INFO = MethodInfo(
    name="gair_mart",
    title="GAIR-MART",
    summary="omega on the CE part of MART's margin loss (Eq. 10)",
    weighted=True,
    update_cost=2,
    start="gaussian",
)
METHOD = Method(INFO, mart_attack, mart_objective("ce"))
