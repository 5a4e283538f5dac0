"""GAIR-TRADES (Algorithm 5): TRADES' KL-PGD with kappa (Algorithm 4); omega(kappa) weights
the natural CE term, the KL term stays unweighted."""

from gair.methods import MethodInfo
from gair.methods.core import Method, trades_attack, trades_objective

INFO = MethodInfo(
    name="gair_trades",
    title="GAIR-TRADES",
    summary="KL-PGD (Alg. 4) + omega on the natural CE term (Alg. 5)",
    weighted=True,
    update_cost=2,
    revision=1,  # 1: BatchNorm statistics move three times per step, as trades.py
    start="gaussian",
)
METHOD = Method(INFO, trades_attack, trades_objective(weighted=True))
