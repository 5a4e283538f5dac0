"""MMA: max-margin adversarial training (Ding et al., ICLR 2020), Fig. 19's baseline.

MMA maximises each correctly classified point's input-space margin d_i (its distance to the
decision boundary) by training on the point at distance d_i, found with an adaptive-norm
PGD ("AN-PGD"); misclassified points are trained on their natural loss. Per batch:

1. Correctness: a point counts as correct when its soft logit margin
   SLM(z, y) = logsumexp_{k != y} z_k - z_y is negative (MMA's code; stricter than argmax).
2. AN-PGD for every point: PGD-K on the summed SLM at the point's previous margin
   e_i = max(stored eps_i, eps_min) with step scale * e_i / K and a random start, giving the
   direction u_i = (x^PGD_i - x_i) / e_i.
3. Margin: a bisection over eps in [0, 1.05 * d_max] along x_i + eps * u_i, starting from
   e_i and the SLM at x^PGD_i; S steps, each moving the lower end up when the point at the
   current eps is still correct and the upper end down otherwise, then taking the midpoint.
4. The loss (MMA's Eq. 7 with its code's clean term)::

       L_MMA = (1 / n) [ sum_{i correct, d_i < d_max} CE(f(x_i + d_i u_i), y_i)
                         + sum_{i wrong} CE(f(x_i), y_i) ]
       L     = (1 - c) * L_MMA + c * mean_i CE(f(x_i), y_i)

   The hinge d_i < d_max drops points whose margin is already large enough.
5. The stored margin becomes d_i for correct points and 0 for wrong ones, kept across
   epochs in ``state["eps"]`` and saved with the run.

Settings (``spec.extra``; defaults from MMA's L-infinity CIFAR-10 configuration):

- ``mma_dmax`` (32/255): the hinge d_max. MMA's repository trains L-inf CIFAR-10 models with
  d_max 12/255, 20/255 and 32/255 and its README's example uses 32/255; GAIRAT states only
  that it keeps MMA's settings, so 32/255 is our choice of the three.
- ``mma_min_eps`` (0.005): eps_min, the smallest budget of AN-PGD.
- ``mma_search_steps`` (10): bisection steps S.
- ``mma_step_scale`` (2.5): PGD step = scale * e_i / K.
- ``mma_clean_coeff`` (1/3): c, the weight of the natural CE over all points (0 gives OMMA).

The rest of MMA's setting is the run's: K = ``steps`` (10), SGD with the iteration-based
LR 0.3, 0.09, 0.03, 0.009 at 0, 20k, 30k, 40k iterations (``lr_iter_milestones``), weight
decay 2e-4, batch 128. MMA's code stops after 50,000 iterations; Fig. 19 trains every method
120 epochs, which on CIFAR-10's 50,000 images at batch 128 is 120 x 391 = 46,920 iterations
(all three LR steps fall inside them).

Simplifications against MMA's code: every attack and the bisection run with the model in
eval mode (MMA's code searches in train mode and decides correctness from the train-mode
clean pass); AN-PGD runs on the whole batch and misclassified points discard its result
(same values, no data-dependent shapes); the margin point is clamped to [0, 1] (the
bisection already evaluates clamped points; MMA's code trains on the unclamped one).
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
from gair.paper.attacks import per_sample_pgd, rows
from gair.spec import RunSpec

INFO = MethodInfo(
    name="mma",
    title="MMA",
    summary="MMA (Ding et al. 2020): AN-PGD + bisection for each correct point's margin d_i "
    "(<= d_max), CE at the margin point, natural CE for wrong points, + c * clean CE",
    attack_cost=1.33,  # AN-PGD-K plus a forward-only bisection of S = K steps
    update_cost=2,
)

DEFAULTS: dict[str, float] = {
    "mma_dmax": 32 / 255,
    "mma_min_eps": 0.005,
    "mma_search_steps": 10.0,
    "mma_step_scale": 2.5,
    "mma_clean_coeff": 1 / 3,
}
SEARCH_CEILING = 1.05  # MMA's code searches up to 1.05 * d_max


def soft_logit_margin(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample logsumexp_{k != y} z_k - z_y: negative iff the point is safely correct."""
    z = logits.float()
    others = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf"))
    return torch.logsumexp(others, dim=1) - z.gather(1, y[:, None]).squeeze(1)


def _slm_sum(logits: Tensor, y: Tensor) -> Tensor:
    return soft_logit_margin(logits, y).sum()


def margin_search(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    direction: Tensor,
    *,
    start: Tensor,
    start_margin: Tensor,
    max_eps: Tensor,
    steps: int,
) -> Tensor:
    """Bisection for the distance along ``direction`` at which the SLM turns non-negative.

    ``start`` is the first eps tried and ``start_margin`` the SLM there. Returns the last
    midpoint, as MMA's code does (its final SLM is never looked at, so it is not computed).
    """
    lo = torch.zeros_like(start)
    hi = max_eps.clone()
    cur, margin = start, start_margin
    for i in range(steps):
        ok = margin < 0
        lo = torch.where(ok, torch.maximum(cur, lo), lo)
        hi = torch.where(ok, hi, torch.minimum(cur, hi))
        cur = (lo + hi) / 2
        if i + 1 < steps:
            with torch.no_grad():
                point = (x + rows(cur, x) * direction).clamp(0.0, 1.0)
                margin = soft_logit_margin(model(point), y)
    return cur


def settings(spec: RunSpec) -> dict[str, float]:
    return extra_settings(spec, "mma_", DEFAULTS)


def mma_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """AN-PGD (steps 1-3 and 5 of the module docstring)."""
    s = ctx.spec
    cfg = settings(s)
    memory = ctx.state["eps"]
    with torch.no_grad():
        correct = soft_logit_margin(model(x), y) < 0
    prev = torch.clamp(memory[ctx.index], min=cfg["mma_min_eps"])
    x_pgd = per_sample_pgd(
        model,
        x,
        y,
        eps=prev,
        alpha=cfg["mma_step_scale"] * prev / s.steps,
        steps=s.steps,
        loss_fn=_slm_sum,
        start=first_iterate(x, ctx, prev),
    )
    direction = (x_pgd - x) / rows(prev + 1e-12, x)
    with torch.no_grad():
        start_margin = soft_logit_margin(model(x_pgd), y)
    d_max = cfg["mma_dmax"]
    margin = margin_search(
        model,
        x,
        y,
        direction,
        start=prev,
        start_margin=start_margin,
        max_eps=torch.full_like(prev, SEARCH_CEILING * d_max),
        steps=int(cfg["mma_search_steps"]),
    )
    x_margin = (x + rows(margin, x) * direction).clamp(0.0, 1.0)
    x_train = torch.where(rows(correct, x), x_margin, x)
    memory[ctx.index] = torch.where(correct, margin, torch.zeros_like(margin))
    return AttackResult(
        x_train.detach(),
        None,
        {"correct": correct, "hinge": correct & (margin < d_max), "margin": margin},
    )


def mma_objective(
    logits_train: Tensor,
    logits_clean: Tensor | None,
    y: Tensor,
    correct: Tensor,
    hinge: Tensor,
    *,
    clean_coeff: float,
) -> Tensor:
    """(1 - c) * L_MMA + c * mean CE(f(x), y) (step 4 of the module docstring).

    ``logits_train`` holds the margin points' logits for correct rows and the natural
    logits for wrong rows; ``hinge`` marks the correct rows with margin below d_max.
    """
    ce = F.cross_entropy(logits_train.float(), y, reduction="none")
    keep = hinge | ~correct
    value = (ce * keep.to(ce.dtype)).sum() / y.shape[0]
    if logits_clean is None or clean_coeff == 0:
        return value
    return (1.0 - clean_coeff) * value + clean_coeff * F.cross_entropy(logits_clean.float(), y)


def mma_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    c = settings(ctx.spec)["mma_clean_coeff"]
    logits_clean = model(x) if c > 0 else None
    logits_train = model(att.x_adv)
    value = mma_objective(
        logits_train, logits_clean, y, att.extra["correct"], att.extra["hinge"], clean_coeff=c
    )
    return StepOutput(value, logits_train.detach(), unit_weights(y))


def mma_state(n_train: int, device: torch.device, spec: RunSpec) -> dict[str, Tensor]:
    """Per-point margins, 0 at the start (read as eps_min)."""
    settings(spec)  # refuse a misspelt setting before training
    return {"eps": torch.zeros(n_train, dtype=torch.float32, device=device)}


METHOD = Method(INFO, mma_attack, mma_loss, init_state=mma_state)
