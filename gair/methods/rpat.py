"""RPAT: robust perception adversarial training (Wang & Liu, ICCV 2025).

The objective adds to adversarial training a perception-smoothness term: the logits of an
input between the natural and the adversarial point should lie between their logits::

    L = CE(f(x'), y) + lam * MSE( f(r x + (1 - r) x'),  r f(x) + (1 - r) f(x') )

with f the logits, x' the PGD point of the run's budget (eps, alpha, steps, random start),
and MSE the mean squared difference over every logit of the batch. Gradients flow through
both sides of the MSE, as in the authors' code (neither side is detached).

Settings (``spec.extra``; defaults from the paper):

- ``rpat_r`` (0.5): the interpolation rate r.
- ``rpat_lam`` (1.0): the weight lam of the smoothness term.

The paper's CIFAR-10 setting: PGD-10, eps 8/255, alpha 2/255, ResNet-18, 200 epochs, LR 0.1
divided by 10 at 50% and 75% of training, weight decay 5e-4.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gair.methods import MethodInfo
from gair.methods.core import (
    AttackResult,
    Method,
    StepContext,
    StepOutput,
    extra_settings,
    ga_pgd_attack,
    unit_weights,
)

INFO = MethodInfo(
    name="rpat",
    title="RPAT",
    summary="RPAT (Wang & Liu 2025): PGD + CE(f(x'), y) + lam * MSE(f(r x + (1-r) x'), "
    "r f(x) + (1-r) f(x')) on logits",
    update_cost=3,
)

DEFAULTS: dict[str, float] = {"rpat_r": 0.5, "rpat_lam": 1.0}


def rpat_objective(
    logits_nat: Tensor,
    logits_adv: Tensor,
    logits_mix: Tensor,
    y: Tensor,
    *,
    r: float,
    lam: float,
) -> Tensor:
    """CE(f(x'), y) + lam * MSE(f(r x + (1 - r) x'), r f(x) + (1 - r) f(x'))."""
    adv = logits_adv.float()
    target = r * logits_nat.float() + (1.0 - r) * adv
    return F.cross_entropy(adv, y) + lam * F.mse_loss(logits_mix.float(), target)


def rpat_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    cfg = extra_settings(ctx.spec, "rpat_", DEFAULTS)
    r = cfg["rpat_r"]
    # The authors' order of forward passes (it decides BatchNorm's running statistics).
    logits_adv = model(att.x_adv)
    logits_mix = model(r * x + (1.0 - r) * att.x_adv)
    logits_nat = model(x)
    value = rpat_objective(logits_nat, logits_adv, logits_mix, y, r=r, lam=cfg["rpat_lam"])
    return StepOutput(value, logits_adv.detach(), unit_weights(y))


METHOD = Method(INFO, ga_pgd_attack, rpat_loss)
