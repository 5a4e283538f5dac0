"""L-infinity attacks that also measure the geometry value kappa.

Conventions: inputs live in [0, 1]; the uniform random start adds noise in [-eps, eps] and
clamps to [0, 1]; TRADES' and MART's start, x + 0.001 N(0, I), is not clamped (their code's
first iterate; :func:`gaussian_start`); :func:`start_point` draws either, or none, by name
(a training run's ``attack_start``); one step is Eq. 4,
``x <- clamp(min(max(x + alpha * sign(grad), x0 - eps), x0 + eps), 0, 1)``.

kappa counts the iterates that the model still classifies correctly, checked at the top of
each of the K iterations on the iterate before its step (x^0, the start after any random
start, through x^(K-1)); the last iterate is never checked, so kappa is in [0, K]. The
prediction comes from the same forward pass that gives the attack's gradient.

Attacks leave the model's train/eval mode to the caller and never read a value back to the
host: everything, kappa included, stays a device tensor. Gradients are taken with respect
to the input only, so the model's parameter gradients are untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.errors import ConfigError

LossFn = Callable[[Tensor, Tensor], Tensor]

CW_CONFIDENCE = 50.0


def ce_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Summed cross-entropy: the sign of its input gradient is each sample's own."""
    return F.cross_entropy(logits, y, reduction="sum")


def cw_margin_loss(logits: Tensor, y: Tensor, confidence: float = CW_CONFIDENCE) -> Tensor:
    """CW-inf margin loss, summed: -relu(z_y - max_{k != y} z_k + confidence).

    Ascending it pushes the true logit below the best wrong one; the confidence of 50 is the
    value of the authors' evaluation code.
    """
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return -F.relu(true - others.amax(1) + confidence).sum()


def _scaled(loss_fn: LossFn, factor: float) -> LossFn:
    """The logit-scaling attack's loss: the same loss on ``factor * logits``."""
    if factor == 1.0:
        return loss_fn
    return lambda logits, y: loss_fn(logits * factor, y)


ATTACK_LOSSES: dict[str, LossFn] = {"ce": ce_loss, "cw": cw_margin_loss}


def attack_loss(name: str, logit_scale: float = 1.0) -> LossFn:
    """Look up an attack loss by name (``ce`` or ``cw``), optionally on scaled logits."""
    if name not in ATTACK_LOSSES:
        raise ConfigError(
            f"attack loss {name!r} is unknown; valid losses are: {', '.join(ATTACK_LOSSES)}"
        )
    return _scaled(ATTACK_LOSSES[name], logit_scale)


def check_budget(eps: float, alpha: float, steps: int) -> None:
    if not eps >= 0:
        raise ConfigError(f"eps = {eps!r} is invalid: it must be >= 0")
    if not alpha >= 0:
        raise ConfigError(f"alpha = {alpha!r} is invalid: it must be >= 0")
    if not isinstance(steps, int) and not (isinstance(steps, float) and steps.is_integer()):
        raise ConfigError(f"steps = {steps!r} is invalid: it must be an integer >= 0")
    if steps < 0:
        raise ConfigError(f"steps = {steps!r} is invalid: it must be an integer >= 0")


def random_start(
    x: Tensor, eps: float | Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Uniform noise in [-eps, eps] added to x, then clamped to [0, 1]; a tensor ``eps``
    gives each sample its own radius."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    radius = rows(eps.to(x.dtype), x) if isinstance(eps, Tensor) else eps
    return (x + (2 * noise - 1) * radius).clamp_(0.0, 1.0)


def gaussian_start(
    x: Tensor, xi: float = 0.001, generator: torch.Generator | None = None
) -> Tensor:
    """TRADES' and MART's start: x + xi * N(0, I), not clamped (their code's first iterate)."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x.detach() + xi * noise


START_KINDS = ("uniform", "gaussian", "none")


def start_point(
    x: Tensor, kind: str, eps: float | Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """An attack's first iterate x^0 by name: ``uniform`` (:func:`random_start` in the
    eps-ball, per sample where ``eps`` is a tensor), ``gaussian`` (:func:`gaussian_start`,
    x + 0.001 N(0, I)) or ``none`` (x itself)."""
    if kind == "uniform":
        return random_start(x.detach(), eps, generator)
    if kind == "gaussian":
        return gaussian_start(x, generator=generator)
    if kind == "none":
        return x.detach().clone()
    raise ConfigError(f"start {kind!r} is unknown; valid starts are: {', '.join(START_KINDS)}")


def project(x_adv: Tensor, x0: Tensor, eps: float) -> Tensor:
    """Project onto the eps-ball around x0 intersected with [0, 1] (Eq. 4's projection)."""
    return torch.minimum(torch.maximum(x_adv, x0 - eps), x0 + eps).clamp_(0.0, 1.0)


def input_grad(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
    """Logits at x and the gradient of the loss w.r.t. x (one forward, one backward)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        (grad,) = torch.autograd.grad(loss_fn(logits.float(), y), x)
    return logits.detach(), grad


def ga_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    loss: str | LossFn = "ce",
    random_start: bool = True,
    logit_scale: float = 1.0,
    generator: torch.Generator | None = None,
    start: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Geometry-aware PGD (Algorithm 1): the most adversarial point and kappa; each of the K
    iterations is one PGD step (Eq. 4: ascend the sign of the gradient, :func:`project`).

    ``loss`` is an attack loss's name (``ce``, ``cw``) or a summed loss function of
    (logits, y). ``start``, when given, is the first iterate x^0 and replaces the random
    start (with ``steps = 0`` it is projected onto the ball and returned).
    Returns ``(x_adv, kappa)`` with ``kappa`` an int64 tensor in [0, steps].
    """
    check_budget(eps, alpha, steps)
    loss_fn = attack_loss(loss, logit_scale) if isinstance(loss, str) else loss
    x0 = x.detach()
    x_adv = _start(x0, eps, random_start, generator) if start is None else start.detach()
    kappa = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    for _ in range(steps):
        logits, grad = input_grad(model, x_adv, y, loss_fn)
        kappa += logits.argmax(1) == y
        x_adv = project(x_adv + alpha * grad.sign(), x0, eps)
    if steps == 0 and start is not None:
        x_adv = project(x_adv, x0, eps)
    return x_adv.detach(), kappa


def pgd(model: nn.Module, x: Tensor, y: Tensor, **budget: Any) -> Tensor:
    """Plain PGD-K (Madry et al.), the most adversarial point of Eq. 2: :func:`ga_pgd` (same
    keywords) without returning kappa."""
    return ga_pgd(model, x, y, **budget)[0]


def _start(x0: Tensor, eps: float, rand: bool, generator: torch.Generator | None) -> Tensor:
    return random_start(x0, eps, generator) if rand else x0.clone()


def early_stopped_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    tau: int,
    random_start: bool = True,
    loss: str = "ce",
    compact: bool = False,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    start: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Geometry-aware early-stopped PGD-K-tau (Algorithm 3, FAT and GAIR-FAT): the friendly
    adversarial point of Eq. 3 (misclassified, tau steps beyond the first misclassification).

    Each sample runs until, with its tau budget spent, its current iterate is misclassified;
    that iterate is its friendly adversarial point. While its iterate is misclassified and
    budget is left, the budget shrinks by one and the sample takes its step; while it is
    classified correctly kappa grows by one. Samples never misclassified take all K steps.
    Row i of the output always belongs to row i of the input.

    ``noise`` is FAT's omega: every step that a sample takes adds ``noise * N(0, I)`` to it
    before the projection (FAT's earlystop.py, "for escaping the local minimum"). The draws
    of all K steps are made at the start, in one tensor, so that both versions below draw
    the same numbers however samples stop; with ``noise = 0`` nothing is drawn.

    ``compact=True`` forwards only the samples still running (one host read per step to
    size the active set); the result is identical to the masked version. ``start``, when
    given, is the first iterate and replaces the random start.
    """
    check_budget(eps, alpha, steps)
    if not isinstance(tau, int) or tau < 0:
        raise ConfigError(f"tau = {tau!r} is invalid: it must be an integer >= 0")
    if not (noise >= 0 and math.isfinite(noise)):
        raise ConfigError(f"noise = {noise!r} is invalid: it must be a finite number >= 0")
    loss_fn = attack_loss(loss)
    x0 = x.detach()
    x_adv = _start(x0, eps, random_start, generator) if start is None else start.detach().clone()
    n = x.shape[0]
    kappa = torch.zeros(n, dtype=torch.long, device=x.device)
    budget = torch.full((n,), int(tau), dtype=torch.long, device=x.device)
    running = torch.ones(n, dtype=torch.bool, device=x.device)
    shake = noise * _normal((steps, *x0.shape), x0, generator) if noise else None
    if compact:
        return _early_stopped_compact(
            model, x0, x_adv, y, eps, alpha, steps, loss_fn, kappa, budget, shake
        )
    for k in range(steps):
        logits, grad = input_grad(model, x_adv, y, loss_fn)
        wrong = logits.argmax(1) != y
        stop = running & wrong & (budget == 0)
        running = running & ~stop
        budget = budget - (running & wrong).long()
        kappa += running & ~wrong
        step = alpha * grad.sign() if shake is None else alpha * grad.sign() + shake[k]
        stepped = project(x_adv + step, x0, eps)
        x_adv = torch.where(rows(running, x_adv), stepped, x_adv)
    return x_adv.detach(), kappa


def _normal(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def _early_stopped_compact(
    model: nn.Module,
    x0: Tensor,
    x_adv: Tensor,
    y: Tensor,
    eps: float,
    alpha: float,
    steps: int,
    loss_fn: LossFn,
    kappa: Tensor,
    budget: Tensor,
    shake: Tensor | None,
) -> tuple[Tensor, Tensor]:
    active = torch.arange(x0.shape[0], device=x0.device)
    for k in range(steps):
        if active.numel() == 0:
            break
        xa, x0a, ya = x_adv[active], x0[active], y[active]
        logits, grad = input_grad(model, xa, ya, loss_fn)
        wrong = logits.argmax(1) != ya
        stop = wrong & (budget[active] == 0)
        keep = ~stop
        budget[active] -= (keep & wrong).long()
        kappa[active] += keep & ~wrong
        step = alpha * grad.sign() if shake is None else alpha * grad.sign() + shake[k][active]
        x_adv[active] = torch.where(rows(keep, xa), project(xa + step, x0a, eps), xa)
        active = active[keep]
    return x_adv.detach(), kappa


def trades_pgd(
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
) -> tuple[Tensor, Tensor]:
    """Geometry-aware PGD for TRADES (Algorithm 4): maximise KL(f(x) || f(x')) and count kappa.

    The start is x + xi * N(0, I) (TRADES' code, xi = 0.001, no clamp before the first step)
    unless ``start`` gives the first iterate; the loss is the summed KL divergence with the
    natural prediction as the target.
    """
    check_budget(eps, alpha, steps)
    x0 = x.detach()
    with torch.no_grad():
        p_nat = F.softmax(model(x0).float(), dim=1)

    def kl(logits: Tensor, _: Tensor) -> Tensor:
        return F.kl_div(F.log_softmax(logits, dim=1), p_nat, reduction="sum")

    if start is None:
        start = gaussian_start(x0, xi, generator)
    return ga_pgd(model, x0, y, eps=eps, alpha=alpha, steps=steps, loss=kl, start=start)


def rows(values: Tensor, like: Tensor) -> Tensor:
    """Broadcast a per-sample value (or mask) over the remaining dimensions of ``like``."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def per_sample_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: Tensor,
    alpha: Tensor,
    steps: int,
    loss_fn: LossFn = ce_loss,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    start: Tensor | None = None,
) -> Tensor:
    """L-infinity PGD-K where sample i has its own budget ``eps[i]`` and step ``alpha[i]``.

    The random start is uniform in [-eps_i, eps_i] (``start``, when given, is the first
    iterate instead); each step is
    x <- clamp(min(max(x + alpha_i * sign(grad), x0 - eps_i), x0 + eps_i), 0, 1).
    ``loss_fn`` is summed over the batch, so the sign of each row's gradient is its own.
    """
    if steps < 0:
        raise ConfigError(f"steps = {steps!r} is invalid: it must be an integer >= 0")
    x0 = x.detach()
    e = rows(eps.to(x0.dtype), x0)
    a = rows(alpha.to(x0.dtype), x0)
    # The ball intersected with the image box, computed once: projecting onto it is two ops.
    low = (x0 - e).clamp(min=0.0)
    high = (x0 + e).clamp(max=1.0)
    if start is not None:
        x_adv = start.detach()
    elif random_start:
        noise = torch.rand(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_adv = torch.minimum(torch.maximum(x0 + (2 * noise - 1) * e, low), high)
    else:
        x_adv = x0.clone()
    for _ in range(steps):
        _, grad = input_grad(model, x_adv, y, loss_fn)
        x_adv = torch.minimum(torch.maximum(x_adv + a * grad.sign(), low), high)
    return x_adv.detach()
