"""IAAT: instance adaptive adversarial training (Balaji et al., 2019).

Every training point i keeps its own budget eps_i, stored in ``state["eps"]`` (float32, one
entry per training point, 0 at the start), saved in every checkpoint and restored on resume.

- Warm-up (epochs 1..W): eps_i = eps_warm * 1[f(x_i) = y_i], the run's eps for points the
  model classifies correctly and 0 for the others.
- After warm-up, for a point with previous budget e (the stored eps_i), with PGD-K at e and
  at e + gamma::

      e_new = e + gamma   if the PGD point at e + gamma is still classified correctly
              e         elif the PGD point at e is still classified correctly
              e - gamma   otherwise
      e_new = max(e_new * 1[f(x_i) = y_i], 0)
      eps_i = beta * e_new + (1 - beta) * e

- Training: PGD-K at each point's own eps_i with step alpha_i = max(eps_i / (K / 2),
  alpha) (IAAT's code; eps_i / 5 for K = 10), random start in the point's own ball, then
  mean cross-entropy on the adversarial points.

When the budget is updated: per batch, inside the training attack, as IAAT's code does, not
once per epoch in ``before_epoch``. Per batch costs the same (two extra PGD-K per point per
epoch either way), chooses eps_i with the current weights rather than with weights up to
one epoch old, and on the exact augmented view the step then trains on. Unlike IAAT's code
(whose budget search runs with BatchNorm in train mode), every attack here runs in eval
mode, as all attacks of this project do.

Settings (``spec.extra``; defaults from IAAT's CIFAR-10 configuration):

- ``iaat_warmup`` (10): warm-up epochs W.
- ``iaat_gamma`` (1.9/255): the budget's up/down step gamma.
- ``iaat_beta`` (0.1): the smoothing weight beta of the new budget.

The warm-up budget eps_warm is the run's ``eps`` (8/255 in IAAT) and the smallest PGD step
is the run's ``alpha`` (2/255 in IAAT). The PGD with one budget and one step size per
sample is :func:`gair.paper.attacks.per_sample_pgd`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.methods import MethodInfo
from gair.methods.core import (
    AttackResult,
    Method,
    StepContext,
    StepOutput,
    extra_settings,
    first_iterate,
    unit_weights,
)
from gair.paper.attacks import per_sample_pgd
from gair.spec import RunSpec

INFO = MethodInfo(
    name="iaat",
    title="IAAT",
    summary="IAAT (Balaji et al. 2019): per-sample eps kept across epochs (warm-up, then "
    "up/keep/down by gamma with smoothing), PGD at each point's own eps + CE",
    attack_cost=3.0,  # after warm-up: PGD-K at eps and at eps + gamma, then the training one
    epoch_extras=(("iaat_warmup", 10.0),),
)
DEFAULTS: dict[str, float] = {**dict(INFO.epoch_extras), "iaat_gamma": 1.9 / 255, "iaat_beta": 0.1}


def iaat_step_sizes(eps: Tensor, steps: int, alpha_min: float) -> Tensor:
    """IAAT's per-sample PGD step: max(eps_i / (K / 2), alpha_min)."""
    return torch.clamp(eps / (0.5 * steps), min=alpha_min)


def iaat_update(
    prev: Tensor,
    clean_correct: Tensor,
    correct_at_eps: Tensor,
    correct_at_higher: Tensor,
    *,
    gamma: float,
    beta: float,
) -> Tensor:
    """IAAT's budget update (module docstring): up/keep/down by gamma, times clean
    correctness, clamped at 0, then smoothed as beta * new + (1 - beta) * prev."""
    new = torch.where(
        correct_at_higher, prev + gamma, torch.where(correct_at_eps, prev, prev - gamma)
    )
    new = (new * clean_correct.to(prev.dtype)).clamp(min=0.0)
    return beta * new + (1.0 - beta) * prev


def _correct_after_pgd(
    model: nn.Module, x: Tensor, y: Tensor, eps: Tensor, ctx: StepContext
) -> Tensor:
    s = ctx.spec
    x_adv = per_sample_pgd(
        model, x, y, eps=eps, alpha=iaat_step_sizes(eps, s.steps, s.alpha), steps=s.steps,
        start=first_iterate(x, ctx, eps),
    )  # fmt: skip
    with torch.no_grad():
        return model(x_adv).argmax(1) == y


def iaat_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """Choose each point's budget (warm-up or update rule), store it, and attack with it."""
    s = ctx.spec
    cfg = extra_settings(s, "iaat_", DEFAULTS)
    memory = ctx.state["eps"]
    with torch.no_grad():
        clean_correct = model(x).argmax(1) == y
    if ctx.epoch <= cfg["iaat_warmup"]:
        eps = clean_correct.to(torch.float32) * s.eps
    else:
        prev = memory[ctx.index]
        at_eps = _correct_after_pgd(model, x, y, prev, ctx)
        at_higher = _correct_after_pgd(model, x, y, prev + cfg["iaat_gamma"], ctx)
        eps = iaat_update(
            prev,
            clean_correct,
            at_eps,
            at_higher,
            gamma=cfg["iaat_gamma"],
            beta=cfg["iaat_beta"],
        )
    memory[ctx.index] = eps
    x_adv = per_sample_pgd(
        model, x, y, eps=eps, alpha=iaat_step_sizes(eps, s.steps, s.alpha), steps=s.steps,
        start=first_iterate(x, ctx, eps),
    )  # fmt: skip
    return AttackResult(x_adv, None, {"eps": eps})


def iaat_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    """Mean cross-entropy on the points attacked at their own budgets."""
    logits = model(att.x_adv)
    value = F.cross_entropy(logits.float(), y)
    return StepOutput(value, logits.detach(), unit_weights(y))


def iaat_state(n_train: int, device: torch.device, spec: RunSpec) -> dict[str, Tensor]:
    """Per-point budgets, all 0 at the start (IAAT's epsilon memory)."""
    extra_settings(spec, "iaat_", DEFAULTS)  # refuse a misspelt setting before training
    return {"eps": torch.zeros(n_train, dtype=torch.float32, device=device)}


METHOD = Method(INFO, iaat_attack, iaat_loss, init_state=iaat_state)
