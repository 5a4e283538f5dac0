"""TRADES (Eq. 12): KL-PGD from x + 0.001 N(0, I), CE(f(x), y) + beta * KL(f(x) || f(x'))."""

from gair.methods import MethodInfo
from gair.methods.core import Method, trades_attack, trades_objective

INFO = MethodInfo(
    name="trades",
    title="TRADES",
    summary="KL-PGD + CE + beta * KL (Eq. 12)",
    update_cost=2,
    revision=1,  # 1: BatchNorm statistics move three times per step, as trades.py
    start="gaussian",
)
METHOD = Method(INFO, trades_attack, trades_objective(weighted=False))
