"""MART (Eq. 9): CE-PGD from x + 0.001 N(0, I), margin loss and the (1 - p_y)-weighted
KL(p(x) || p(x'))."""

from gair.methods import MethodInfo
from gair.methods.core import Method, mart_attack, mart_objective

INFO = MethodInfo(
    name="mart",
    title="MART",
    summary="CE-PGD from x + 0.001 N(0, I) + margin loss + (1 - p_y)-weighted KL (Eq. 9)",
    update_cost=2,
    start="gaussian",
)
METHOD = Method(INFO, mart_attack, mart_objective("none"))
