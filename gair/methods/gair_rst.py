"""GAIR-RST (Eq. 13, Appendix C.10): robust self-training with geometry-aware weights.

RST (Carmon et al., 2019) trains TRADES' objective (Eq. 12) on the labelled set plus 500K
pseudo-labelled images. GAIR-RST replaces its KL term by a per-sample mixture of the KL
terms of two adversaries::

    L = CE(f(x), y) + beta * mean_i { w_i * KL(f(x_i) || f(x^PGD_i))
                                      + (1 - w_i) * KL(f(x_i) || f(x^CW_i)) }      (Eq. 13)

- x^PGD: TRADES' KL-PGD-K (Algorithm 4: start x + 0.001 N(0, I), ascend the KL to the
  natural prediction), which also counts kappa;
- x^CW: PGD-K on the CW-inf margin loss (confidence 50) from the same kind of start, with
  the same eps and step (the authors' code);
- w_i = omega(kappa_i) of Eq. 6 with the epoch's lambda, NOT normalised to mean 1: both
  w_i and 1 - w_i must stay in [0, 1] for Eq. 13 to mix the two terms. For K = 10, Eq. 6's
  lambda + 5 * (1 - 2 kappa / K) equals the authors' lambda + (K/2 - kappa); they differ
  for other K, and this module follows the paper's Eq. 6. ``weight_fn`` may also be
  sigmoid (Eq. 8) or linear (Eq. 7), which stay in [0, 1] too. During burn-in w_i = 1.
- KL(p || q) sums over classes; the batch mean follows TRADES' sum / batch size.

Lambda schedule of the authors' code: 100 for the first half of training, then 3; with
lambda = 100 every w_i is 1 in float32 and GAIR-RST is RST. Set it with ``lam``,
``lam_values`` and ``lam_milestones`` (200 epochs: lam=100, lam_values=[3],
lam_milestones=[100]: the authors' ``epoch >= 0.5 * epochs`` with epochs from 1). While every
w_i is exactly 1 the CW adversary has weight 0, so it is not computed (as in the authors'
code, which skips it for lambda > 10).

RST's setting (Table 3): WRN-28-10, 200 epochs of 50K points each (batch 256, half of each
batch from the pseudo-labelled set), SGD with Nesterov momentum 0.9, LR 0.1 with a cosine
schedule, weight decay 5e-4, beta 6, eps 0.031, alpha 0.007, K 10.

The pseudo-labelled data: the run's ``unlabeled_path`` names RST's pickle
``ti_500K_pseudo_labeled.pickle`` (the user's file, from RST's repository), read by
:func:`gair.data.readers.read_pseudo_labelled`; the offline stand-in is the ``digits_pseudo``
dataset, whose pool comes with it. Both reach training through the same mixed batches; GAIR-RST
refuses to start without a pool (``INFO.needs_pool``), since RST without its extra data is
another experiment.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.methods import MethodInfo
from gair.methods.core import AttackResult, Method, StepContext, StepOutput, first_iterate
from gair.paper import attacks
from gair.paper.losses import gair_rst_loss
from gair.paper.weights import gair_weights

INFO = MethodInfo(
    name="gair_rst",
    title="GAIR-RST",
    summary="GAIR-RST (Eq. 13): CE(f(x), y) + beta * [w KL to the KL-PGD point + (1 - w) KL to "
    "the CW point], w = omega(kappa) unnormalised; labelled + pseudo-labelled data",
    weighted=True,
    attack_cost=2.0,  # TRADES' KL-PGD and the CW adversary (skipped while every w is 1)
    update_cost=3,
    needs_pool="set unlabeled_path to RST's ti_500K_pseudo_labeled.pickle "
    "(https://github.com/yaircarmon/semisup-adv), or train on dataset digits_pseudo offline",
    start="gaussian",
)

OMEGA_FUNCTIONS = ("tanh", "sigmoid", "linear")


# ---------------------------------------------------------------------------- the method
def _check_weight_fn(fn: str) -> None:
    if fn not in OMEGA_FUNCTIONS:
        raise ConfigError(
            f"weight_fn {fn!r} is invalid for gair_rst: Eq. 13 needs a weight in [0, 1]; "
            f"valid functions are: {', '.join(OMEGA_FUNCTIONS)}"
        )


def omega(kappa: Tensor, ctx: StepContext) -> Tensor:
    """Eq. 13's unnormalised w_i = omega(kappa_i) (Eq. 6 by default); 1 during burn-in."""
    s = ctx.spec
    _check_weight_fn(s.weight_fn)
    if not ctx.reweighting:
        return torch.ones(kappa.shape, dtype=torch.float32, device=kappa.device)
    return gair_weights(kappa, steps=s.steps, lam=ctx.lam, fn=s.weight_fn)


def cw_term_needed(ctx: StepContext) -> bool:
    """False when every possible w_i is exactly 1 (burn-in, or a large lambda), so that the
    CW term has weight 0. Decided on the host from lambda alone: kappa = K gives the
    smallest weight of the non-increasing omega."""
    _check_weight_fn(ctx.spec.weight_fn)
    if not ctx.reweighting:
        return False
    s = ctx.spec
    k_max = torch.tensor([s.steps])
    return bool(gair_weights(k_max, steps=s.steps, lam=ctx.lam, fn=s.weight_fn)[0] < 1.0)


def cw_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    xi: float = 0.001,
    generator: torch.Generator | None = None,
    start: Tensor | None = None,
) -> Tensor:
    """PGD-K on the summed CW-inf margin loss from x + xi * N(0, I) (the authors' x^CW), or
    from ``start`` where given."""
    if start is None:
        start = attacks.gaussian_start(x, xi, generator)
    return attacks.ga_pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, loss="cw", start=start)[0]


def rst_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    s = ctx.spec
    start = first_iterate(x, ctx)
    x_pgd, kappa = attacks.trades_pgd(model, x, y, **s.train_budget, start=start)
    extra: dict[str, Tensor] = {}
    if cw_term_needed(ctx):
        start = first_iterate(x, ctx)
        extra["cw"] = cw_pgd(model, x, y, **s.train_budget, start=start)
    return AttackResult(x_pgd, kappa, extra)


def rst_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    assert att.kappa is not None
    w = omega(att.kappa, ctx)
    # The authors' order of forward passes (it decides BatchNorm's running statistics).
    logits_pgd = model(att.x_adv)
    logits_cw = model(att.extra["cw"]) if "cw" in att.extra else None
    logits_nat = model(x)
    value = gair_rst_loss(logits_nat, logits_pgd, logits_cw, y, weights=w, beta=ctx.spec.beta)
    return StepOutput(value, logits_pgd.detach(), w)


METHOD = Method(INFO, rst_attack, rst_loss)
