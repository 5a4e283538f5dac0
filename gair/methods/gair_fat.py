"""GAIR-FAT (Appendix B.1): early-stopped PGD-K-tau with kappa (Algorithm 3) and the
omega(kappa)-weighted CE."""

from gair.methods import MethodInfo
from gair.methods.core import Method, early_stopped_attack, gair_ce_loss

INFO = MethodInfo(
    name="gair_fat",
    title="GAIR-FAT",
    summary="early-stopped PGD-K-tau (Alg. 3) + omega(kappa)-weighted CE",
    weighted=True,
    uses_tau=True,
)
METHOD = Method(INFO, early_stopped_attack, gair_ce_loss)
