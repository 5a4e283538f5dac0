"""Standard training on natural data: no attack, mean CE (the reference line of Fig. 2)."""

from gair.methods import MethodInfo
from gair.methods.core import Method, natural_ce_loss, no_attack

INFO = MethodInfo(
    name="st",
    title="ST",
    summary="standard training on natural data (no attack)",
    attack_cost=0.0,
    start="",
)
METHOD = Method(INFO, no_attack, natural_ce_loss)
