"""GA-PGD (Algorithm 1), early-stopped PGD-K-tau (Algorithm 3), TRADES' KL-PGD (Algorithm 4).

Each attack is compared with a slow per-sample reference written here from the paper's
pseudo-code, and kappa with values derived by hand on a 1-D threshold model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.paper import attacks


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # The test machine is small and shared; one thread keeps timings predictable.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- models
def threshold_model() -> nn.Module:
    """1-D, two classes: logits (0.5 - x, x - 0.5), so class 1 exactly when x > 0.5.

    The CE gradient w.r.t. x has the sign +1 for y = 0 and -1 for y = 1, so every PGD step
    moves a point by alpha towards (and across) the threshold.
    """
    model = nn.Linear(1, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        model.bias.copy_(torch.tensor([0.5, -0.5]))
    return model


def image_model(seed: int = 0) -> nn.Module:
    """A tiny MLP on 1x4x4 'images' with 3 classes (float64 so signs of gradients are exact)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 3)).double()


def image_batch(model: nn.Module, n: int = 24, seed: int = 1) -> tuple[Tensor, Tensor]:
    """Inputs with pixels at and near 0 and 1; most labels are the model's own prediction."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 1, 4, 4), generator=g, dtype=torch.float64)
    x[0] = 0.0
    x[1] = 1.0
    x[2, 0, :2] = 0.01
    x[2, 0, 2:] = 0.99
    with torch.no_grad():
        y = model(x).argmax(1)
    # A few wrong labels give points misclassified at the start (kappa 0).
    y[-4:] = (y[-4:] + 1) % 3
    return x, y


# --------------------------------------------------------------------------- references
def _step(x: Tensor, grad: Tensor, x0: Tensor, eps: float, alpha: float) -> Tensor:
    x = x + alpha * torch.sign(grad)
    x = torch.min(torch.max(x, x0 - eps), x0 + eps)
    return torch.clamp(x, 0.0, 1.0)


def _ce(logits: Tensor, y: Tensor) -> Tensor:
    return -torch.log_softmax(logits, dim=1)[0, y[0]]


def _cw(logits: Tensor, y: Tensor) -> Tensor:
    z = logits[0]
    others = torch.cat([z[: y[0]], z[y[0] + 1 :]])
    return -torch.relu(z[y[0]] - others.max() + 50.0)


def _uniform_start(x: Tensor, eps: float, seed: int | None) -> Tensor:
    if seed is None:
        return x.clone()
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    return torch.clamp(x + (2 * u - 1) * eps, 0.0, 1.0)


def ref_ga_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    alpha: float,
    steps: int,
    start: Tensor,
    loss: Callable[[Tensor, Tensor], Tensor] = _ce,
) -> tuple[Tensor, Tensor]:
    """Algorithm 1, one sample at a time, kappa counted on x^0 .. x^(K-1)."""
    out, kappas = [], []
    for i in range(x.shape[0]):
        x0, xi, yi = x[i : i + 1], start[i : i + 1].clone(), y[i : i + 1]
        kappa = 0
        for _ in range(steps):
            xi = xi.detach().requires_grad_(True)
            logits = model(xi)
            if int(logits.argmax(1)) == int(yi):
                kappa += 1
            (grad,) = torch.autograd.grad(loss(logits, yi), xi)
            xi = _step(xi.detach(), grad, x0, eps, alpha)
        out.append(xi.detach())
        kappas.append(kappa)
    return torch.cat(out), torch.tensor(kappas)


def ref_early_stopped(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    alpha: float,
    steps: int,
    tau: int,
    start: Tensor,
    noise: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Algorithm 3, one sample at a time; ``noise[k, i]`` is added to sample i's k-th step
    (FAT's omega * N(0, I), before the projection)."""
    out, kappas = [], []
    for i in range(x.shape[0]):
        x0, xi, yi = x[i : i + 1], start[i : i + 1].clone(), y[i : i + 1]
        kappa, budget = 0, tau
        for k in range(steps):
            xi = xi.detach().requires_grad_(True)
            logits = model(xi)
            if int(logits.argmax(1)) != int(yi):
                if budget == 0:
                    break
                budget -= 1
            else:
                kappa += 1
            (grad,) = torch.autograd.grad(_ce(logits, yi), xi)
            shaken = xi.detach() if noise is None else xi.detach() + noise[k, i : i + 1]
            xi = _step(shaken, grad, x0, eps, alpha)
        out.append(xi.detach())
        kappas.append(kappa)
    return torch.cat(out), torch.tensor(kappas)


def ref_trades_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    alpha: float,
    steps: int,
    noise: Tensor,
    xi_scale: float = 0.001,
) -> tuple[Tensor, Tensor]:
    """Algorithm 4, one sample at a time: ascend KL(p(x) || p(x')) = sum p(x) log(p(x)/p(x'))."""
    out, kappas = [], []
    for i in range(x.shape[0]):
        x0, yi = x[i : i + 1], y[i : i + 1]
        with torch.no_grad():
            p_nat = torch.softmax(model(x0), dim=1)
        xi = x0 + xi_scale * noise[i : i + 1]
        kappa = 0
        for _ in range(steps):
            xi = xi.detach().requires_grad_(True)
            logits = model(xi)
            if int(logits.argmax(1)) == int(yi):
                kappa += 1
            kl = (p_nat * (torch.log(p_nat) - torch.log_softmax(logits, dim=1))).sum()
            (grad,) = torch.autograd.grad(kl, xi)
            xi = _step(xi.detach(), grad, x0, eps, alpha)
        out.append(xi.detach())
        kappas.append(kappa)
    return torch.cat(out), torch.tensor(kappas)


# --------------------------------------------------------------------------- hand-built kappa
# Threshold model, eps = 0.35, alpha = 0.1, K = 5. A y = 0 point moves up by 0.1 a step, capped
# at x + 0.35; a y = 1 point moves down. Kappa counts x^0 .. x^4 on the correct side of 0.5.
HAND_X = [0.62, 0.47, 0.33, 0.22, 0.12, 0.90, 0.71, 0.03]
HAND_Y = [0, 0, 0, 0, 0, 0, 1, 1]
# 0.62: wrong at the start; 0.47: x^1 = .57 wrong; 0.33: x^2 = .53; 0.22: x^3 = .52;
# 0.12: capped at .47, never wrong; 0.90: wrong, pushed to 1.25 and clamped to 1;
# 0.71 (y=1): .71 .61 .51 correct, x^3 = .41 wrong; 0.03 (y=1): wrong, clamped to 0.
HAND_KAPPA = [0, 1, 2, 3, 5, 0, 3, 0]
HAND_FINAL = [0.97, 0.82, 0.68, 0.57, 0.47, 1.0, 0.36, 0.0]


def _hand_batch() -> tuple[Tensor, Tensor]:
    x = torch.tensor(HAND_X, dtype=torch.float64)[:, None]
    return x, torch.tensor(HAND_Y)


def test_ga_pgd_kappa_on_hand_built_model() -> None:
    x, y = _hand_batch()
    x_adv, kappa = attacks.ga_pgd(
        threshold_model(), x, y, eps=0.35, alpha=0.1, steps=5, random_start=False
    )
    assert kappa.dtype == torch.long
    assert kappa.tolist() == HAND_KAPPA
    torch.testing.assert_close(x_adv[:, 0], torch.tensor(HAND_FINAL, dtype=torch.float64))


def test_final_iterate_is_never_checked() -> None:
    # eps = 1: no cap. x^0..x^4 = .06 .. .46 are all correct; x^5 = .56 is wrong, yet kappa = K.
    x = torch.tensor([[0.06]], dtype=torch.float64)
    y = torch.tensor([0])
    model = threshold_model()
    x_adv, kappa = attacks.ga_pgd(model, x, y, eps=1.0, alpha=0.1, steps=5, random_start=False)
    assert kappa.tolist() == [5]
    assert model(x_adv).argmax(1).tolist() == [1]


def test_zero_steps_gives_kappa_zero_and_the_start() -> None:
    x, y = _hand_batch()
    x_adv, kappa = attacks.ga_pgd(
        threshold_model(), x, y, eps=0.35, alpha=0.1, steps=0, random_start=False
    )
    assert kappa.tolist() == [0] * len(HAND_X)
    torch.testing.assert_close(x_adv, x)


@pytest.mark.parametrize("seed", [None, 7])
@pytest.mark.parametrize("loss", ["ce", "cw"])
def test_ga_pgd_matches_per_sample_reference(seed: int | None, loss: str) -> None:
    model = image_model()
    x, y = image_batch(model)
    eps, alpha, steps = 0.3, 0.07, 6
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    x_adv, kappa = attacks.ga_pgd(
        model,
        x,
        y,
        eps=eps,
        alpha=alpha,
        steps=steps,
        loss=loss,
        random_start=seed is not None,
        generator=gen,
    )
    start = _uniform_start(x, eps, seed)
    ref_x, ref_kappa = ref_ga_pgd(
        model, x, y, eps, alpha, steps, start, loss=_ce if loss == "ce" else _cw
    )
    assert kappa.tolist() == ref_kappa.tolist()
    torch.testing.assert_close(x_adv, ref_x, rtol=0, atol=1e-12)
    # The batch must exercise the whole range of kappa, or the comparison proves little.
    assert len(set(ref_kappa.tolist())) >= 3
    assert 0 in ref_kappa.tolist()
    assert ((ref_kappa >= 0) & (ref_kappa <= steps)).all()


def test_ga_pgd_leaves_parameter_gradients_and_mode_alone() -> None:
    model = image_model()
    model.eval()
    x, y = image_batch(model)
    attacks.ga_pgd(model, x, y, eps=0.1, alpha=0.03, steps=2)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    model.train()
    attacks.ga_pgd(model, x, y, eps=0.1, alpha=0.03, steps=2)
    assert model.training


def test_pgd_is_ga_pgd_without_kappa() -> None:
    model = image_model()
    x, y = image_batch(model)
    kw = {"eps": 0.2, "alpha": 0.05, "steps": 4}
    a = attacks.pgd(model, x, y, generator=torch.Generator().manual_seed(3), **kw)
    b, _ = attacks.ga_pgd(model, x, y, generator=torch.Generator().manual_seed(3), **kw)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# --------------------------------------------------------------------------- early stopping
# The same hand-built batch under Algorithm 3 (friendly adversarial points).
HAND_EARLY = {
    0: ([0, 1, 2, 3, 5, 0, 3, 0], [0.62, 0.57, 0.53, 0.52, 0.47, 0.90, 0.41, 0.03]),
    1: ([0, 1, 2, 3, 5, 0, 3, 0], [0.72, 0.67, 0.63, 0.57, 0.47, 1.0, 0.36, 0.0]),
    3: ([0, 1, 2, 3, 5, 0, 3, 0], [0.92, 0.82, 0.68, 0.57, 0.47, 1.0, 0.36, 0.0]),
}


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("tau", [0, 1, 3])
def test_early_stopped_on_hand_built_model(tau: int, compact: bool) -> None:
    x, y = _hand_batch()
    x_adv, kappa = attacks.early_stopped_pgd(
        threshold_model(),
        x,
        y,
        eps=0.35,
        alpha=0.1,
        steps=5,
        tau=tau,
        random_start=False,
        compact=compact,
    )
    want_kappa, want_x = HAND_EARLY[tau]
    assert kappa.tolist() == want_kappa
    torch.testing.assert_close(x_adv[:, 0], torch.tensor(want_x, dtype=torch.float64))


@pytest.mark.parametrize("seed", [None, 11])
@pytest.mark.parametrize("tau", [0, 1, 3])
def test_early_stopped_matches_reference_masked_and_compact(seed: int | None, tau: int) -> None:
    model = image_model()
    x, y = image_batch(model)
    eps, alpha, steps = 0.3, 0.07, 6
    start = _uniform_start(x, eps, seed)
    ref_x, ref_kappa = ref_early_stopped(model, x, y, eps, alpha, steps, tau, start)
    for compact in (False, True):
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        x_adv, kappa = attacks.early_stopped_pgd(
            model,
            x,
            y,
            eps=eps,
            alpha=alpha,
            steps=steps,
            tau=tau,
            random_start=seed is not None,
            compact=compact,
            generator=gen,
        )
        assert kappa.tolist() == ref_kappa.tolist(), f"compact={compact}"
        torch.testing.assert_close(x_adv, ref_x, rtol=0, atol=1e-12)
    # Some points stop early and some run all K steps: both paths are exercised.
    assert (ref_kappa < steps).any() and (ref_kappa == steps).any()


@pytest.mark.parametrize("tau", [0, 2])
def test_fats_per_step_noise_matches_reference_masked_and_compact(tau: int) -> None:
    """FAT's omega: each step a sample takes adds omega * N(0, I) before the projection.
    The generator draws the start, then the noise of all K steps in one tensor."""
    model = image_model()
    x, y = image_batch(model)
    eps, alpha, steps, omega = 0.3, 0.07, 6, 0.05
    gen = torch.Generator().manual_seed(4)
    start = torch.clamp(x + (2 * torch.rand(x.shape, generator=gen, dtype=x.dtype) - 1) * eps, 0, 1)
    noise = omega * torch.randn((steps, *x.shape), generator=gen, dtype=x.dtype)
    ref_x, ref_kappa = ref_early_stopped(model, x, y, eps, alpha, steps, tau, start, noise)
    quiet_x, _ = ref_early_stopped(model, x, y, eps, alpha, steps, tau, start)
    for compact in (False, True):
        x_adv, kappa = attacks.early_stopped_pgd(
            model, x, y, eps=eps, alpha=alpha, steps=steps, tau=tau, compact=compact,
            noise=omega, generator=torch.Generator().manual_seed(4),
        )  # fmt: skip
        assert kappa.tolist() == ref_kappa.tolist(), f"compact={compact}"
        torch.testing.assert_close(x_adv, ref_x, rtol=0, atol=1e-6)
    assert not torch.allclose(ref_x, quiet_x, atol=1e-3)  # the noise moved the points
    assert (ref_kappa < steps).any() and (ref_kappa == steps).any()


def test_fats_noise_of_zero_draws_nothing() -> None:
    """omega = 0 (GAIR_FAT.py's default, every run before the setting) draws no random
    numbers: the runs that never set it keep their random streams."""
    model = image_model()
    x, y = image_batch(model)
    gen = torch.Generator().manual_seed(8)
    attacks.early_stopped_pgd(
        model, x, y, eps=0.3, alpha=0.07, steps=4, tau=1, random_start=False, generator=gen
    )
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(8).get_state())
    with pytest.raises(ConfigError, match=r"^noise = -0.1 is invalid"):
        attacks.early_stopped_pgd(model, x, y, eps=0.3, alpha=0.07, steps=4, tau=1, noise=-0.1)


@pytest.mark.parametrize("compact", [False, True])
def test_early_stopped_keeps_rows_aligned_under_permutation(compact: bool) -> None:
    # GAIR-FAT weights each sample by its own kappa: row i of the output must be row i's.
    model = image_model()
    x, y = image_batch(model)
    kw = {"eps": 0.3, "alpha": 0.07, "steps": 6, "tau": 1, "random_start": False}
    x_adv, kappa = attacks.early_stopped_pgd(model, x, y, compact=compact, **kw)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(5))
    xp, kp = attacks.early_stopped_pgd(model, x[perm], y[perm], compact=compact, **kw)
    assert kp.tolist() == kappa[perm].tolist()
    torch.testing.assert_close(xp, x_adv[perm], rtol=0, atol=1e-12)
    assert len(set(kappa.tolist())) >= 3  # otherwise a misalignment could go unseen


def test_early_stopped_with_large_tau_is_ga_pgd() -> None:
    # With tau >= K no sample ever stops, so Algorithm 3 reduces to Algorithm 1.
    model = image_model()
    x, y = image_batch(model)
    kw = {"eps": 0.3, "alpha": 0.07, "steps": 6, "random_start": False}
    xa, ka = attacks.early_stopped_pgd(model, x, y, tau=6, **kw)
    xb, kb = attacks.ga_pgd(model, x, y, **kw)
    assert ka.tolist() == kb.tolist()
    torch.testing.assert_close(xa, xb, rtol=0, atol=1e-12)


@pytest.mark.parametrize("tau", [-1, 1.5])
def test_early_stopped_rejects_bad_tau(tau: float) -> None:
    x, y = _hand_batch()
    with pytest.raises(ConfigError, match=re.escape(f"tau = {tau!r}")):
        attacks.early_stopped_pgd(threshold_model(), x, y, eps=0.1, alpha=0.1, steps=2, tau=tau)


# --------------------------------------------------------------------------- TRADES
def test_trades_pgd_matches_reference() -> None:
    model = image_model()
    x, y = image_batch(model)
    eps, alpha, steps = 0.3, 0.07, 5
    x_adv, kappa = attacks.trades_pgd(
        model, x, y, eps=eps, alpha=alpha, steps=steps, generator=torch.Generator().manual_seed(9)
    )
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(9), dtype=x.dtype)
    ref_x, ref_kappa = ref_trades_pgd(model, x, y, eps, alpha, steps, noise)
    assert kappa.tolist() == ref_kappa.tolist()
    torch.testing.assert_close(x_adv, ref_x, rtol=0, atol=1e-12)
    assert len(set(ref_kappa.tolist())) >= 2


# --------------------------------------------------------------------------- eps-ball, [0, 1]
class Recorder(nn.Module):
    """Wraps a model and keeps every input it is called on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.detach().clone())
        return self.inner(x)


def _inside(points: Tensor, x0: Tensor, eps: float) -> None:
    assert points.shape == x0.shape
    assert (points >= 0).all() and (points <= 1).all()
    assert (points >= x0 - eps).all() and (points <= x0 + eps).all()


VARIANTS = {
    "ga_pgd": lambda m, x, y, eps: attacks.ga_pgd(m, x, y, eps=eps, alpha=0.2, steps=5)[0],
    "ga_pgd_fixed_start": lambda m, x, y, eps: attacks.ga_pgd(
        m, x, y, eps=eps, alpha=0.2, steps=5, random_start=False
    )[0],
    "ga_pgd_cw": lambda m, x, y, eps: attacks.ga_pgd(
        m, x, y, eps=eps, alpha=0.2, steps=5, loss="cw"
    )[0],
    "pgd_lsa": lambda m, x, y, eps: attacks.pgd(
        m, x, y, eps=eps, alpha=0.2, steps=5, logit_scale=10.0
    ),
    "early_stopped": lambda m, x, y, eps: attacks.early_stopped_pgd(
        m, x, y, eps=eps, alpha=0.2, steps=5, tau=2
    )[0],
    "early_stopped_compact": lambda m, x, y, eps: attacks.early_stopped_pgd(
        m, x, y, eps=eps, alpha=0.2, steps=5, tau=2, compact=True
    )[0],
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_iterate_stays_in_ball_and_unit_box(name: str) -> None:
    model = image_model()
    x, y = image_batch(model)
    eps = 0.25
    rec = Recorder(model)
    torch.manual_seed(0)
    x_adv = VARIANTS[name](rec, x, y, eps)
    _inside(x_adv, x, eps)
    assert x_adv.dtype == x.dtype
    for seen in rec.seen:
        if seen.shape == x.shape:  # the compact variant forwards shrinking subsets
            _inside(seen, x, eps)
        else:
            assert (seen >= 0).all() and (seen <= 1).all()
    # The constraints were active: some coordinates sit on a face of the ball, inside the box.
    on_face = ((x_adv == x + eps) | (x_adv == x - eps)) & (x_adv > 0) & (x_adv < 1)
    assert on_face.any()


def test_trades_iterates_stay_in_ball_and_unit_box() -> None:
    model = image_model()
    x, y = image_batch(model)
    eps = 0.25
    rec = Recorder(model)
    x_adv, _ = attacks.trades_pgd(rec, x, y, eps=eps, alpha=0.2, steps=5)
    _inside(x_adv, x, eps)
    # seen[0] is the natural point, seen[1] the unprojected Gaussian start (as in TRADES);
    # every later iterate has been projected.
    assert len(rec.seen) == 1 + 5
    for seen in rec.seen[2:]:
        _inside(seen, x, eps)
    x0_only, _ = attacks.trades_pgd(model, x, y, eps=eps, alpha=0.2, steps=0)
    _inside(x0_only, x, eps)


def test_random_start_and_project() -> None:
    x = torch.tensor([[0.0, 0.02, 0.5, 0.98, 1.0]], dtype=torch.float64).repeat(200, 1)
    start = attacks.random_start(x, 0.1, torch.Generator().manual_seed(0))
    _inside(start, x, 0.1)
    assert (start == 0).any() and (start == 1).any()  # clamping happened
    assert (start[:, 2] - 0.5).abs().max() > 0.09  # the noise spans the ball
    far = torch.tensor([[-1.0, 0.3, 2.0]], dtype=torch.float64)
    x0 = torch.tensor([[0.05, 0.5, 0.95]], dtype=torch.float64)
    torch.testing.assert_close(
        attacks.project(far, x0, 0.1), torch.tensor([[0.0, 0.4, 1.0]], dtype=torch.float64)
    )


# --------------------------------------------------------------------------- losses of attacks
def test_cw_margin_loss_by_hand() -> None:
    logits = torch.tensor([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0], [5.0, 1.0, -2.0]])
    y = torch.tensor([0, 1, 0])
    # margins z_y - max_{k != y} z_k: 1 - 3 = -2, 3 - 2 = 1, 5 - 1 = 4
    want = -((-2 + 50) + (1 + 50) + (4 + 50))
    assert attacks.cw_margin_loss(logits, y).item() == pytest.approx(want)
    # With no confidence, only positive margins count: relu(-2) + relu(1) + relu(4) = 5.
    assert attacks.cw_margin_loss(logits, y, confidence=0.0).item() == pytest.approx(-5.0)
    assert attacks.cw_margin_loss(logits[:1], y[:1], confidence=1.0).item() == pytest.approx(0.0)


def test_logit_scale_one_is_plain_pgd_and_ten_scales_logits() -> None:
    model = image_model()
    x, y = image_batch(model)
    kw = {"eps": 0.2, "alpha": 0.05, "steps": 4}
    plain = attacks.pgd(model, x, y, generator=torch.Generator().manual_seed(1), **kw)
    one = attacks.pgd(
        model, x, y, logit_scale=1.0, generator=torch.Generator().manual_seed(1), **kw
    )
    torch.testing.assert_close(one, plain, rtol=0, atol=0)

    class Scaled(nn.Module):
        def forward(self, t: Tensor) -> Tensor:
            return 10.0 * model(t)

    lsa = attacks.pgd(
        model, x, y, logit_scale=10.0, generator=torch.Generator().manual_seed(1), **kw
    )
    ref = attacks.pgd(Scaled(), x, y, generator=torch.Generator().manual_seed(1), **kw)
    torch.testing.assert_close(lsa, ref, rtol=0, atol=1e-12)


def test_ce_loss_is_summed_cross_entropy() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
    y = torch.tensor([0, 1])
    p = torch.softmax(logits, 1)
    want = -(torch.log(p[0, 0]) + torch.log(p[1, 1]))
    assert attacks.ce_loss(logits, y).item() == pytest.approx(want.item(), rel=1e-6)


# --------------------------------------------------------------------------- errors
def test_bad_budget_and_loss_names_raise_config_error() -> None:
    x, y = _hand_batch()
    model = threshold_model()
    with pytest.raises(ConfigError, match=r"'hinge'.*ce, cw"):
        attacks.ga_pgd(model, x, y, eps=0.1, alpha=0.1, steps=1, loss="hinge")
    with pytest.raises(ConfigError, match=re.escape("eps = -0.1")):
        attacks.ga_pgd(model, x, y, eps=-0.1, alpha=0.1, steps=1)
    with pytest.raises(ConfigError, match=re.escape("alpha = nan")):
        attacks.ga_pgd(model, x, y, eps=0.1, alpha=float("nan"), steps=1)
    with pytest.raises(ConfigError, match=re.escape("steps = 2.5")):
        attacks.ga_pgd(model, x, y, eps=0.1, alpha=0.1, steps=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=re.escape("steps = -1")):
        attacks.trades_pgd(model, x, y, eps=0.1, alpha=0.1, steps=-1)
