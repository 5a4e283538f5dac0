"""GAIRAT: GA-PGD (Algorithm 1) and the omega(kappa)-weighted CE of Eq. 5 (Algorithm 2)."""

from gair.methods import MethodInfo
from gair.methods.core import Method, ga_pgd_attack, gair_ce_loss

INFO = MethodInfo(
    name="gairat",
    title="GAIRAT",
    summary="GA-PGD (Alg. 1) + omega(kappa)-weighted CE (Eq. 5, Alg. 2)",
    weighted=True,
)
METHOD = Method(INFO, ga_pgd_attack, gair_ce_loss)
