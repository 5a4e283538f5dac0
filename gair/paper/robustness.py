"""Per-point robustness under the paper's evaluation attacks: natural accuracy, PGD-K with
restarts (App. C.3: PGD-20 test accuracy) and PGD+ (App. C.8: RST's PG_ours).

Every function works on whole batches and keeps per-sample results on the device (a bool
per point). A point counts as robust under restarts only if it survives every restart; PGD+
is stricter still (:func:`pgd_plus_correct`). The model's mode is the caller's: training's
per-epoch evaluation and ``python -m gair evaluate`` both set eval mode.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gair.data.tensors import as_float
from gair.errors import ConfigError
from gair.paper import attacks

DEFAULT_BATCH = 256


def natural_correct(
    model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = DEFAULT_BATCH
) -> Tensor:
    """Per-sample correctness on natural inputs (bool tensor on x's device)."""
    out = torch.empty(x.shape[0], dtype=torch.bool, device=x.device)
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            out[sl] = model(as_float(x[sl])).argmax(1) == y[sl]
    return out


def pgd_correct(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    restarts: int = 1,
    random_start: bool = True,
    loss: str = "ce",
    logit_scale: float = 1.0,
    batch_size: int = DEFAULT_BATCH,
) -> Tensor:
    """Per-sample robustness under PGD-``steps``: correct after every one of ``restarts`` runs."""
    if restarts < 1:
        raise ConfigError(f"restarts = {restarts!r} is invalid: it must be >= 1")
    out = torch.empty(x.shape[0], dtype=torch.bool, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        xb, yb = as_float(x[sl]), y[sl]
        survived = torch.ones(yb.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            x_adv = attacks.pgd(
                model,
                xb,
                yb,
                eps=eps,
                alpha=alpha,
                steps=steps,
                loss=loss,
                random_start=random_start,
                logit_scale=logit_scale,
            )
            with torch.no_grad():
                survived &= model(x_adv).argmax(1) == yb
        out[sl] = survived
    return out


def pgd_plus_correct(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    restarts: int,
    batch_size: int = DEFAULT_BATCH,
    generator: torch.Generator | None = None,
) -> Tensor:
    """PGD+ = RST's PG_ours: a point is robust only if every iterate x^1..x^K of every restart
    is classified correctly (the authors' attack_pgd.py records the prediction after each
    step; eval_PGD_plus.py multiplies over steps and restarts).

    Once one iterate is misclassified the point is not robust, so later steps and restarts
    attack only the points still robust (one host read per step sizes that set, as
    AutoAttack does between its attacks). Every restart draws its random start for the whole
    batch and each point's trajectory depends on that point alone (eval mode), so the result
    equals attacking every point through all ``restarts`` x ``steps`` iterates. The
    prediction at each iterate comes from the forward pass of the next step's gradient; only
    the last iterate needs a forward pass of its own.
    """
    if restarts < 1:
        raise ConfigError(f"restarts = {restarts!r} is invalid: it must be >= 1")
    attacks.check_budget(eps, alpha, steps)
    out = torch.empty(x.shape[0], dtype=torch.bool, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        xb, yb = as_float(x[sl]), y[sl]
        robust = torch.ones(yb.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            x_start = attacks.random_start(xb, eps, generator)
            active = torch.nonzero(robust).squeeze(1)
            xa, x0, ya = x_start[active], xb[active], yb[active]
            for t in range(steps + 1):
                if active.numel() == 0:
                    break
                if t < steps:
                    logits, grad = attacks.input_grad(model, xa, ya, attacks.ce_loss)
                else:
                    with torch.no_grad():
                        logits = model(xa)
                if t > 0:  # x^t is an iterate after a step: it must be classified correctly
                    ok = logits.argmax(1) == ya
                    robust[active[~ok]] = False
                    active, xa, x0, ya = active[ok], xa[ok], x0[ok], ya[ok]
                    if t < steps:
                        grad = grad[ok]
                if t < steps:
                    xa = attacks.project(xa + alpha * grad.sign(), x0, eps)
        out[sl] = robust
    return out
