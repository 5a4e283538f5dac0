"""The straightforward training step the benchmark compares ours with, written the way the
authors' code counts kappa (a Python loop over the batch, one host read per element)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.methods.core import AttackResult, Method, StepContext


def reference_ga_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    start: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """GA-PGD (Algorithm 1) written the straightforward way, as the authors' code is.

    The random start is drawn on the host and copied over; each step backpropagates the mean
    cross-entropy through the whole graph (filling parameter gradients the attack never uses)
    and counts kappa with a Python loop over the batch, one host read per element. Returns
    ``(x_adv, kappa)`` with kappa a float tensor on the CPU. ``start`` replaces the random
    start (to compare with :func:`gair.paper.attacks.ga_pgd` from the same point).
    """
    if start is None:
        noise = torch.empty(x.shape, dtype=x.dtype).uniform_(-eps, eps)
        start = (x + noise.to(x.device)).clamp(0.0, 1.0)
    kappa = torch.zeros(len(x))
    x_adv = start.detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            logits = model(x_adv)
            pred = logits.max(1, keepdim=True)[1]
            for i in range(len(x_adv)):
                if (pred[i] == y[i]).item():
                    kappa[i] += 1
            model.zero_grad()
            F.cross_entropy(logits, y).backward()
        x_adv = x_adv.detach() + alpha * x_adv.grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach(), kappa


def reference_train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    method: Method,
    ctx: StepContext,
    x: Tensor,
    y: Tensor,
) -> float:
    """One training step the straightforward way: :func:`reference_ga_pgd`, kappa copied to
    the device, the method's loss, the loss read back to the host, backward, SGD step."""
    s = ctx.spec
    model.eval()
    x_adv, kappa = reference_ga_pgd(model, x, y, eps=s.eps, alpha=s.alpha, steps=s.steps)
    model.train()
    optimizer.zero_grad()
    out = method.loss(model, x, y, AttackResult(x_adv, kappa.to(x.device)), ctx)
    value = out.loss.item()  # a running loss sum on the host, one read per batch
    out.loss.backward()
    optimizer.step()
    return value
