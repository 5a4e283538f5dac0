"""ATLAS (Lu & Kumar, "Improving local effectiveness for global robust training"): an
INTERPRETATION, not the published method.

Only the abstract and introduction are available and no code was found, so the loss below
is built from the abstract's one idea: improve robustness on a local ball centred at each
adversary, and combine the local balls through a global term. What the paper states:

- a local component makes the network robust on the adversary and on points around it,
  i.e. it tries to enlarge the ball centred at the adversary on which the prediction is
  stable ("local stability" = stability of the prediction = local robustness);
- a global component combines all local balls "in a regularised way";
- it aims to work with weak (even one-step) adversaries.

The interpretation implemented here::

    x'_i   = PGD-K point of x_i with the run's budget (eps, alpha, steps, random start)
    z_ij   = a point of the ball B_inf(x'_i, rho) intersected with [0, 1], j = 1..m:
             a uniform random start in the ball followed by one signed-gradient step of
             size rho on CE, projected back into the ball (``atlas_adversarial`` = 1), or
             the uniform random point itself (``atlas_adversarial`` = 0)
    L      = mean_i [ CE(f(x'_i), y_i) + gamma * mean_j CE(f(z_ij), y_i) ]

The local term of point i is CE on its adversary plus the mean CE on its ball; the global
term is their mean over the data (the batch), with gamma trading the adversary's own loss
against the ball's. Assumptions that are ours, not the paper's: the local loss is
cross-entropy with the true label (not a divergence to the adversary's prediction); the
ball is L-infinity with a fixed radius rho shared by all points and may leave the eps-ball
around x_i; the ball is probed with m points found by one gradient step each; the global
combination is an unweighted mean. Treat every ATLAS number as belonging to this
interpretation until the full method is known.

Settings (``spec.extra``; all our choices, none from the paper):

- ``atlas_rho`` (eps / 2): the radius rho of the local ball.
- ``atlas_points`` (1): the number m of points probed per ball.
- ``atlas_gamma`` (1.0): the weight gamma of the ball's mean loss.
- ``atlas_adversarial`` (1): 1 probes the ball with one gradient step, 0 at random.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.errors import ConfigError
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
from gair.paper import attacks
from gair.spec import RunSpec

INFO = MethodInfo(
    name="atlas",
    title="ATLAS",
    summary="PGD adversary x' + CE(f(x'), y) + gamma * mean CE on m probes of an L-inf ball "
    "of radius rho around x'; see gair/methods/atlas.py for the assumptions",
    interpretation="our reading of ATLAS's abstract: its method section and code are not "
    "available, so every ATLAS number belongs to this interpretation",
    attack_cost=1.1,  # the PGD-K adversary and one gradient step per probe (m = 1, K = 10)
    update_cost=2,
)


def settings(spec: RunSpec) -> dict[str, float]:
    """The ATLAS settings of a run (module docstring), checked."""
    cfg = extra_settings(
        spec,
        "atlas_",
        {
            "atlas_rho": spec.eps / 2,
            "atlas_points": 1.0,
            "atlas_gamma": 1.0,
            "atlas_adversarial": 1.0,
        },
    )
    if not cfg["atlas_rho"] >= 0:
        raise ConfigError(f"atlas_rho = {cfg['atlas_rho']!r} is invalid: it must be >= 0")
    m = cfg["atlas_points"]
    if m != int(m) or m < 1:
        raise ConfigError(f"atlas_points = {m!r} is invalid: it must be an integer >= 1")
    if cfg["atlas_adversarial"] not in (0.0, 1.0):
        raise ConfigError(
            f"atlas_adversarial = {cfg['atlas_adversarial']!r} is invalid: valid values are 0, 1"
        )
    return cfg


def local_points(
    model: nn.Module,
    x_adv: Tensor,
    y: Tensor,
    *,
    rho: float,
    points: int,
    adversarial: bool,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``points`` probes of the ball B_inf(x_adv_i, rho) per sample, stacked probe-major:
    rows [j * n, (j + 1) * n) hold probe j of every sample."""
    centres = x_adv.detach().repeat(points, *([1] * (x_adv.dim() - 1)))
    z = attacks.random_start(centres, rho, generator)
    if adversarial:  # one signed-gradient step of size rho, projected back onto the ball
        z, _ = attacks.ga_pgd(
            model, centres, y.repeat(points), eps=rho, alpha=rho, steps=1, start=z
        )
    return z.detach()


def atlas_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    s = ctx.spec
    cfg = settings(s)
    adv = ga_pgd_attack(model, x, y, ctx)
    z = local_points(
        model,
        adv.x_adv,
        y,
        rho=cfg["atlas_rho"],
        points=int(cfg["atlas_points"]),
        adversarial=cfg["atlas_adversarial"] == 1.0,
    )
    return AttackResult(adv.x_adv, adv.kappa, {"local": z})


def atlas_objective(logits_adv: Tensor, logits_local: Tensor, y: Tensor, *, gamma: float) -> Tensor:
    """mean_i [CE(f(x'_i), y_i) + gamma * mean_j CE(f(z_ij), y_i)] with probe-major rows."""
    points = logits_local.shape[0] // y.shape[0]
    local = F.cross_entropy(logits_local.float(), y.repeat(points))
    return F.cross_entropy(logits_adv.float(), y) + gamma * local


def atlas_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    cfg = settings(ctx.spec)
    logits_adv = model(att.x_adv)
    logits_local = model(att.extra["local"])
    value = atlas_objective(logits_adv, logits_local, y, gamma=cfg["atlas_gamma"])
    return StepOutput(value, logits_adv.detach(), unit_weights(y))


METHOD = Method(INFO, atlas_attack, atlas_loss)
