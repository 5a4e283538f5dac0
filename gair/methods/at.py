"""Madry et al.'s PGD adversarial training: PGD-K from a uniform random start, mean CE."""

from gair.methods import MethodInfo
from gair.methods.core import Method, adversarial_ce_loss, ga_pgd_attack

INFO = MethodInfo(
    name="at",
    title="AT",
    summary="Madry's PGD adversarial training",
)
METHOD = Method(INFO, ga_pgd_attack, adversarial_ce_loss)
