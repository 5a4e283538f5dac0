"""FAT (Zhang et al., 2020): early-stopped PGD-K-tau and mean CE on the friendly adversaries."""

from gair.methods import MethodInfo
from gair.methods.core import Method, adversarial_ce_loss, early_stopped_attack

INFO = MethodInfo(
    name="fat",
    title="FAT",
    summary="early-stopped PGD-K-tau + CE",
    uses_tau=True,
)
METHOD = Method(INFO, early_stopped_attack, adversarial_ce_loss)
