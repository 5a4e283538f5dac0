"""FGSM-RS (Wong, Rice and Kolter, "Fast is better than free", ICLR 2020): adversarial
training with one FGSM step from a uniform random start.

Per batch: delta ~ U(-eps, eps) (kept inside the image box), one signed-gradient step of size
alpha = ``fgsm_step`` * eps on the CE loss (1.25 eps in the paper), projected back onto the
eps-ball and [0, 1]; then mean CE on those points. This is GA-PGD with K = 1 and that step,
so kappa (0 or 1: whether the random start is still classified correctly) comes with it.
The run's ``steps`` and ``alpha`` are not used: the method always takes its one step.

Settings (``spec.extra``): ``fgsm_step`` (1.25): the step as a multiple of eps.
"""

from __future__ import annotations

from torch import Tensor, nn

from gair.methods import MethodInfo
from gair.methods.core import (
    AttackResult,
    Method,
    StepContext,
    adversarial_ce_loss,
    extra_settings,
    first_iterate,
)
from gair.paper import attacks

INFO = MethodInfo(
    name="fgsm_rs",
    title="FGSM-RS",
    summary="FGSM-RS (Wong et al. 2020): one FGSM step of 1.25 eps from a uniform random start "
    "+ CE",
    attack_steps=1,
)
DEFAULTS: dict[str, float] = {"fgsm_step": 1.25}


def fgsm_rs_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """One FGSM step of fgsm_step * eps from a uniform random start in the eps-ball."""
    s = ctx.spec
    step = extra_settings(s, "fgsm_", DEFAULTS)["fgsm_step"] * s.eps
    start = first_iterate(x, ctx)
    x_adv, kappa = attacks.ga_pgd(model, x, y, eps=s.eps, alpha=step, steps=1, start=start)
    return AttackResult(x_adv, kappa)


METHOD = Method(INFO, fgsm_rs_attack, adversarial_ce_loss)
