"""MART with omega(kappa) in place of (1 - p_y(x)) on its KL term (Eq. 11, Fig. 20)."""

from gair.methods import MethodInfo
from gair.methods.core import Method, mart_attack, mart_objective

INFO = MethodInfo(
    name="gair_mart_kl",
    title="GAIR-MART (Eq. 11)",
    summary="MART with omega in place of (1 - p_y) on the KL term (Eq. 11)",
    weighted=True,
    update_cost=2,
    start="gaussian",
)
METHOD = Method(INFO, mart_attack, mart_objective("kl"))
