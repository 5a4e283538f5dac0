"""Training objectives (Eqs. 1, 5, 9-13; Algorithms 2 and 5), each with optional instance
weights.

``weights`` are per-sample, already normalised (mean 1 over the batch); ``None`` means
every weight is 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def weighted_ce(logits: Tensor, y: Tensor, weights: Tensor | None = None) -> Tensor:
    """mean_i(w_i * CE(f(x_i), y_i)): Eq. 5 over a mini-batch (Algorithm 2's update); without
    weights, AT's objective, Eq. 1."""
    ce = F.cross_entropy(logits.float(), y, reduction="none")
    return ce.mean() if weights is None else (weights * ce).mean()


def trades_loss(
    logits_nat: Tensor,
    logits_adv: Tensor,
    y: Tensor,
    *,
    beta: float,
    weights: Tensor | None = None,
) -> Tensor:
    """TRADES (Eq. 12) and GAIR-TRADES (Algorithm 5).

    CE(f(x), y) + beta * KL(f(x) || f(x')), with the KL summed over classes and averaged over
    the batch as TRADES' code does. GAIR-TRADES puts the weights on the natural CE term only;
    the KL term stays unweighted.
    """
    nat = logits_nat.float()
    kl = (
        F.kl_div(F.log_softmax(logits_adv.float(), dim=1), F.softmax(nat, dim=1), reduction="sum")
        / nat.shape[0]
    )
    return weighted_ce(nat, y, weights) + beta * kl


def mart_loss(
    logits_nat: Tensor,
    logits_adv: Tensor,
    y: Tensor,
    *,
    beta: float,
    weights: Tensor | None = None,
    kl_weights: Tensor | None = None,
) -> Tensor:
    """MART (Eq. 9), GAIR-MART (Eq. 10) and its KL-reweighted variant (Eq. 11).

    l_margin = CE(f(x'), y) - log(1.0001 - p_{y2}(x') + 1e-12), with y2 the most likely wrong
    class of the adversarial prediction, plus
    beta * mean_i KL(p(x_i) || p(x'_i)) * (1.0000001 - p_y(x_i)).

    The KL is MART's code's, ``kl_div(log(p(x') + 1e-12), p(x))`` summed over classes: the
    natural prediction is the reference distribution, the same direction as TRADES (Eq. 12).
    ``weights`` (Eq. 10) multiply the CE part of the margin term only. ``kl_weights`` (Eq. 11)
    replace the (1.0000001 - p_y(x)) factor.
    """
    adv = logits_adv.float()
    nat = logits_nat.float()
    p_adv = F.softmax(adv, dim=1)
    p_nat = F.softmax(nat, dim=1)
    true_mask = F.one_hot(y, adv.shape[1]).bool()
    y2 = p_adv.masked_fill(true_mask, float("-inf")).argmax(1)
    ce = F.cross_entropy(adv, y, reduction="none")
    if weights is not None:
        ce = weights * ce
    margin = -torch.log(1.0001 - p_adv.gather(1, y2[:, None]).squeeze(1) + 1e-12)
    kl = F.kl_div(torch.log(p_adv + 1e-12), p_nat, reduction="none").sum(1)
    factor = (
        1.0000001 - p_nat.gather(1, y[:, None]).squeeze(1) if kl_weights is None else kl_weights
    )
    return (ce + margin).mean() + beta * (kl * factor).mean()


def _kl_rows(logits_nat: Tensor, logits_adv: Tensor) -> Tensor:
    """Per-sample KL(p(x) || p(x')), summed over classes."""
    return F.kl_div(
        F.log_softmax(logits_adv.float(), dim=1),
        F.softmax(logits_nat.float(), dim=1),
        reduction="none",
    ).sum(1)


def gair_rst_loss(
    logits_nat: Tensor,
    logits_pgd: Tensor,
    logits_cw: Tensor | None,
    y: Tensor,
    *,
    weights: Tensor,
    beta: float,
) -> Tensor:
    """GAIR-RST (Eq. 13): CE(f(x), y) + beta * mean_i { w_i KL(f(x_i) || f(x^PGD_i))
    + (1 - w_i) KL(f(x_i) || f(x^CW_i)) }, with ``weights`` the unnormalised w_i in [0, 1].
    ``logits_cw = None`` stands for a CW term of weight 0 (every w_i = 1)."""
    robust = weights * _kl_rows(logits_nat, logits_pgd)
    if logits_cw is not None:
        robust = robust + (1.0 - weights) * _kl_rows(logits_nat, logits_cw)
    return F.cross_entropy(logits_nat.float(), y) + beta * robust.mean()
