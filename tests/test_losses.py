"""Training objectives against hand computations in NumPy: CE (Eq. 5), TRADES, MART (Eqs. 9-11)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gair.paper.losses import mart_loss, trades_loss, weighted_ce

torch.set_num_threads(1)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _batch(n: int = 6, c: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    nat = 2 * torch.randn((n, c), generator=g, dtype=torch.float64)
    adv = 2 * torch.randn((n, c), generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    w = torch.rand(n, generator=g, dtype=torch.float64) + 0.2
    w = w / w.mean()
    return nat, adv, y, w


def test_weighted_ce_by_hand() -> None:
    nat, _, y, w = _batch()
    ce = [-np.log(_softmax(nat[i].numpy())[y[i]]) for i in range(len(y))]
    assert weighted_ce(nat, y).item() == pytest.approx(np.mean(ce), rel=1e-6)
    want = np.mean([w[i].item() * ce[i] for i in range(len(y))])
    assert weighted_ce(nat, y, w.float()).item() == pytest.approx(want, rel=1e-6)


def ref_trades(
    nat: torch.Tensor,
    adv: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    w: torch.Tensor | None = None,
) -> float:
    """CE(f(x), y) weighted per sample + beta * mean_i sum_k p_k(x) log(p_k(x) / p_k(x'))."""
    n = len(y)
    ce, kl = 0.0, 0.0
    for i in range(n):
        p, q = _softmax(nat[i].numpy()), _softmax(adv[i].numpy())
        wi = 1.0 if w is None else w[i].item()
        ce += wi * -np.log(p[y[i]])
        kl += sum(p[k] * np.log(p[k] / q[k]) for k in range(len(p)))
    return ce / n + beta * kl / n


@pytest.mark.parametrize("beta", [0.0, 1.0, 6.0])
def test_trades_loss_by_hand(beta: float) -> None:
    nat, adv, y, _ = _batch()
    got = trades_loss(nat, adv, y, beta=beta).item()
    assert got == pytest.approx(ref_trades(nat, adv, y, beta), rel=1e-5)


def test_gair_trades_weights_the_natural_ce_only() -> None:
    nat, adv, y, w = _batch(seed=1)
    got = trades_loss(nat, adv, y, beta=6.0, weights=w.float()).item()
    assert got == pytest.approx(ref_trades(nat, adv, y, 6.0, w), rel=1e-5)
    # Weighting the KL term as well would give a different number.
    n = len(y)
    kl_weighted = sum(
        w[i].item()
        * sum(
            _softmax(nat[i].numpy())[k]
            * np.log(_softmax(nat[i].numpy())[k] / _softmax(adv[i].numpy())[k])
            for k in range(4)
        )
        for i in range(n)
    )
    wrong = ref_trades(nat, adv, y, 0.0, w) + 6.0 * kl_weighted / n
    assert got != pytest.approx(wrong, rel=1e-4)


def test_trades_loss_is_ce_when_the_two_predictions_agree() -> None:
    nat, _, y, _ = _batch(seed=2)
    assert trades_loss(nat, nat.clone(), y, beta=6.0).item() == pytest.approx(
        weighted_ce(nat, y).item(), rel=1e-6
    )


def ref_mart(
    nat: torch.Tensor,
    adv: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    w: torch.Tensor | None = None,
    kl_w: torch.Tensor | None = None,
) -> float:
    """Eq. 9 / 10 / 11 written out per sample, with MART's numerical constants."""
    n = len(y)
    first, second = 0.0, 0.0
    for i in range(n):
        pa, pn = _softmax(adv[i].numpy()), _softmax(nat[i].numpy())
        yi = int(y[i])
        y2 = max((k for k in range(len(pa)) if k != yi), key=lambda k: pa[k])
        ce = -np.log(pa[yi])
        wi = 1.0 if w is None else w[i].item()
        first += wi * ce - np.log(1.0001 - pa[y2] + 1e-12)
        # KL(p(x) || p(x')) as MART's code computes it: kl_div(log(p(x') + 1e-12), p(x)).
        kl = sum(pn[k] * (np.log(pn[k]) - np.log(pa[k] + 1e-12)) for k in range(len(pa)))
        factor = 1.0000001 - pn[yi] if kl_w is None else kl_w[i].item()
        second += kl * factor
    return first / n + beta * second / n


@pytest.mark.parametrize("beta", [0.0, 6.0])
def test_mart_loss_by_hand(beta: float) -> None:
    nat, adv, y, _ = _batch(n=8, c=5, seed=3)
    got = mart_loss(nat, adv, y, beta=beta).item()
    assert got == pytest.approx(ref_mart(nat, adv, y, beta), rel=1e-5)


def test_gair_mart_eq10_weights_the_ce_part_only() -> None:
    nat, adv, y, w = _batch(n=8, c=5, seed=4)
    got = mart_loss(nat, adv, y, beta=6.0, weights=w.float()).item()
    assert got == pytest.approx(ref_mart(nat, adv, y, 6.0, w=w), rel=1e-5)
    assert got != pytest.approx(ref_mart(nat, adv, y, 6.0), rel=1e-4)


def test_mart_eq11_replaces_the_confidence_factor() -> None:
    nat, adv, y, w = _batch(n=8, c=5, seed=5)
    got = mart_loss(nat, adv, y, beta=6.0, kl_weights=w.float()).item()
    assert got == pytest.approx(ref_mart(nat, adv, y, 6.0, kl_w=w), rel=1e-5)
    assert got != pytest.approx(ref_mart(nat, adv, y, 6.0), rel=1e-4)


def test_mart_kl_direction_and_second_class() -> None:
    # Hand case, one sample, 3 classes: the KL is KL(p(x) || p(x')) (MART's code, the same
    # direction as TRADES), not the reverse, and y2 is the most likely wrong class of the
    # adversarial prediction (class 2 here, not class 1).
    nat = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64)
    adv = torch.tensor([[0.5, 0.0, 1.5]], dtype=torch.float64)
    y = torch.tensor([0])
    pa, pn = _softmax(adv[0].numpy()), _softmax(nat[0].numpy())
    forward = float(np.sum(pa * np.log(pa / pn)))
    reverse = float(np.sum(pn * np.log(pn / pa)))
    assert abs(forward - reverse) > 1e-2
    margin = -np.log(pa[0]) - np.log(1.0001 - pa[2] + 1e-12)
    want = margin + 1.0 * reverse * (1.0000001 - pn[0])
    assert mart_loss(nat, adv, y, beta=1.0).item() == pytest.approx(want, rel=1e-5)
    wrong = margin + 1.0 * forward * (1.0000001 - pn[0])
    assert mart_loss(nat, adv, y, beta=1.0).item() != pytest.approx(wrong, rel=1e-3)


def test_mart_and_trades_kl_terms_point_the_same_way() -> None:
    # With no margin/CE difference to hide behind: TRADES' KL term is KL(p(x) || p(x')); MART's
    # KL term with a factor of 1 (kl_weights = 1) must be the same number.
    nat, adv, y, _ = _batch(n=8, c=5, seed=6)
    ones = torch.ones(8, dtype=torch.float64)
    trades_kl = trades_loss(nat, adv, y, beta=1.0) - trades_loss(nat, adv, y, beta=0.0)
    mart_kl = mart_loss(nat, adv, y, beta=1.0, kl_weights=ones) - mart_loss(nat, adv, y, beta=0.0)
    assert mart_kl.item() == pytest.approx(trades_kl.item(), rel=1e-6)


def test_losses_are_differentiable_and_finite_for_confident_logits() -> None:
    nat = torch.tensor([[40.0, -40.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    adv = torch.tensor([[-40.0, 40.0, 0.0], [1.0, 0.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 2])
    for loss in (
        trades_loss(nat, adv, y, beta=6.0),
        mart_loss(nat, adv, y, beta=6.0),
    ):
        (g_nat, g_adv) = torch.autograd.grad(loss, (nat, adv))
        assert torch.isfinite(loss) and torch.isfinite(g_nat).all() and torch.isfinite(g_adv).all()
