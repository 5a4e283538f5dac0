"""Geometry of a trained model: kappa over a dataset, 2-D PCA of logits, loss flatness.

- kappa (Algorithm 1) approximates a point's distance to the decision boundary in PGD steps.
- Figs. 3 (right), 7 and 8 project the logits of 1000 training points per class, sampled at
  random (App. A; seeded here), to 2-D with PCA and colour them by kappa. kappa starts at x
  itself, as Algorithm 1 does (no random start; training's GA-PGD keeps the authors' one).
- Flatness (Appendix C.1, Fig. 4 bottom): the mean over test points of ||grad_x l(f(x~), y)||_2
  at friendly adversarial points (early-stopped PGD-20-0) and at PGD-20 points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.data.tensors import as_float
from gair.errors import ConfigError
from gair.paper import attacks

DEFAULT_BATCH = 256


def kappa_of(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> tuple[Tensor, Tensor]:
    """kappa (Algorithm 1, from x^0 = x unless ``random_start``) and logits at the natural
    points for every row of x, in batches."""
    kappa = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    logits = []
    for start in range(0, x.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        xb = as_float(x[sl])
        _, kappa[sl] = attacks.ga_pgd(
            model, xb, y[sl], eps=eps, alpha=alpha, steps=steps, random_start=random_start
        )
        with torch.no_grad():
            logits.append(model(xb).float())
    return kappa, torch.cat(logits) if logits else torch.empty(0, device=x.device)


def pca_2d(values: Tensor) -> Tensor:
    """Project rows onto their first two principal components (centred SVD).

    The sign of each component is fixed so that its largest-magnitude loading is positive,
    which makes the projection deterministic.
    """
    if values.shape[0] < 2:
        raise ConfigError(f"PCA needs at least 2 points, got {values.shape[0]}")
    centred = values.double() - values.double().mean(0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:2]
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    components = components * signs
    out = centred @ components.T
    if out.shape[1] < 2:  # one-dimensional data: pad with zeros
        out = torch.cat([out, torch.zeros_like(out)], 1)
    return out


def select_per_class(
    y: Tensor, per_class: int, num_classes: int | None = None, *, seed: int = 0
) -> Tensor:
    """Indices of ``per_class`` points of every class drawn at random without replacement
    (every point of a class with fewer), from a generator seeded with ``seed``; sorted."""
    if per_class < 1:
        raise ConfigError(f"per_class = {per_class!r} is invalid: it must be >= 1")
    classes = int(y.max().item()) + 1 if num_classes is None else num_classes
    gen = torch.Generator(device="cpu").manual_seed(seed)
    order = torch.randperm(y.shape[0], generator=gen).to(y.device)
    drawn = y[order]
    rank = F.one_hot(drawn, classes).cumsum(0).gather(1, drawn[:, None]).squeeze(1) - 1
    return torch.sort(order[rank < per_class]).values


def gradient_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """||grad_x CE(f(x), y)||_2 for each row (CE per sample, not averaged)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x).float(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad.flatten(1).norm(dim=1)


def flatness(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int = 20,
    batch_size: int = DEFAULT_BATCH,
) -> tuple[Tensor, Tensor]:
    """Mean input-gradient norm at friendly (PGD-steps-0) and at PGD-steps points (0-d tensors)."""
    friendly = torch.zeros((), device=x.device)
    adversarial = torch.zeros((), device=x.device)
    for start in range(0, x.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        xb, yb = as_float(x[sl]), y[sl]
        x_fr, _ = attacks.early_stopped_pgd(model, xb, yb, eps=eps, alpha=alpha, steps=steps, tau=0)
        x_adv = attacks.pgd(model, xb, yb, eps=eps, alpha=alpha, steps=steps)
        friendly = friendly + gradient_norms(model, x_fr, yb).sum()
        adversarial = adversarial + gradient_norms(model, x_adv, yb).sum()
    n = max(x.shape[0], 1)
    return friendly / n, adversarial / n
