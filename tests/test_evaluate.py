"""Evaluation: natural accuracy, PGD-k against a per-sample reference, restarts, attack names."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.evaluation.registry import AttackSetting, EvalBudget
from gair.evaluation.registry import setting as parse_attack
from gair.paper import robustness

torch.set_num_threads(1)


def threshold_model() -> nn.Module:
    """1-D, two classes: class 1 exactly when x > 0.5."""
    model = nn.Linear(1, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        model.bias.copy_(torch.tensor([0.5, -0.5]))
    return model


def mlp(seed: int = 0) -> nn.Module:
    """A random MLP on 2x2x2 inputs whose three classes all occur on uniform inputs."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 10), nn.Tanh(), nn.Linear(10, 3)).double()
    with torch.no_grad():
        # Centre the hidden units on the middle of [0, 1]^8 and sharpen the logits, or a random
        # init predicts one class almost everywhere.
        model[1].weight.mul_(4.0)
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))
        model[3].weight.mul_(3.0)
    return model


def ref_pgd_correct(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int, starts: Tensor
) -> Tensor:
    """PGD on CE from the given start, one sample at a time; True where the end is correct."""
    out = []
    for i in range(x.shape[0]):
        x0, xi, yi = x[i : i + 1], starts[i : i + 1].clone(), y[i : i + 1]
        for _ in range(steps):
            xi = xi.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xi), yi), xi)
            xi = torch.min(torch.max(xi.detach() + alpha * g.sign(), x0 - eps), x0 + eps)
            xi = xi.clamp(0.0, 1.0)
        with torch.no_grad():
            out.append(bool(model(xi).argmax(1) == yi))
    return torch.tensor(out)


def _starts(x: Tensor, eps: float) -> Tensor:
    # The same draw as a random start on the global generator: uniform in [-eps, eps], clamped.
    u = torch.rand(x.shape, dtype=x.dtype)
    return torch.clamp(x + (2 * u - 1) * eps, 0.0, 1.0)


def test_natural_correct_in_batches_and_uint8() -> None:
    model = mlp()
    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (13, 2, 2, 2), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 3, (13,), generator=g)
    got = robustness.natural_correct(model.float(), raw, y, batch_size=5)
    want = model.float()(raw.float() / 255).argmax(1) == y
    assert got.tolist() == want.tolist()
    assert got.any() and not got.all()


def test_pgd_correct_matches_reference_without_random_start() -> None:
    model = mlp()
    g = torch.Generator().manual_seed(1)
    x = torch.rand((30, 2, 2, 2), generator=g, dtype=torch.float64)
    y = model(x).argmax(1)
    eps, alpha, steps = 0.05, 0.015, 5
    got = robustness.pgd_correct(
        model, x, y, eps=eps, alpha=alpha, steps=steps, random_start=False, batch_size=7
    )
    want = ref_pgd_correct(model, x, y, eps, alpha, steps, x)
    assert got.tolist() == want.tolist()
    assert got.any() and not got.all()


def test_restarts_count_a_point_only_if_it_survives_every_restart() -> None:
    # Threshold model, points 0.30 .. 0.46 of class 0, eps 0.1, alpha 0.01, 2 steps: whether a
    # point ends above 0.5 depends on its random start, so restarts disagree.
    model = threshold_model()
    x = torch.linspace(0.30, 0.46, 17, dtype=torch.float64)[:, None]
    y = torch.zeros(17, dtype=torch.long)
    eps, alpha, steps, restarts = 0.1, 0.01, 2, 4
    torch.manual_seed(2024)
    got = robustness.pgd_correct(
        model, x, y, eps=eps, alpha=alpha, steps=steps, restarts=restarts, batch_size=64
    )
    torch.manual_seed(2024)
    runs = torch.stack(
        [ref_pgd_correct(model, x, y, eps, alpha, steps, _starts(x, eps)) for _ in range(restarts)]
    )
    assert got.tolist() == runs.all(0).tolist()
    # The case is a real test: some point survives one restart but not another.
    assert (runs.any(0) & ~runs.all(0)).any()
    torch.manual_seed(2024)
    acc = robustness.pgd_correct(
        model, x, y, eps=eps, alpha=alpha, steps=steps, restarts=restarts, batch_size=64
    )
    assert acc.double().mean().item() == pytest.approx(runs.all(0).double().mean().item())


def test_restarts_logic_with_a_scripted_attack(monkeypatch: pytest.MonkeyPatch) -> None:
    # Restart r moves only point r across the threshold: every point attacked once fails.
    model = threshold_model()
    x = torch.tensor([[0.1], [0.2], [0.3], [0.4]], dtype=torch.float64)
    y = torch.zeros(4, dtype=torch.long)
    calls = []

    def scripted(model: nn.Module, x: Tensor, y: Tensor, **kw: object) -> Tensor:
        out = x.clone()
        r = len(calls)
        calls.append(kw)
        if r < x.shape[0] - 1:
            out[r] = 0.9
        return out

    monkeypatch.setattr(robustness.attacks, "pgd", scripted)
    got = robustness.pgd_correct(model, x, y, eps=0.1, alpha=0.1, steps=1, restarts=3)
    assert got.tolist() == [False, False, False, True]
    assert len(calls) == 3


@pytest.mark.parametrize("restarts", [1, 3])
def test_pgd_accuracy_in_unit_interval_and_eps_zero_is_natural(restarts: int) -> None:
    model = mlp()
    g = torch.Generator().manual_seed(3)
    x = torch.rand((20, 2, 2, 2), generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (20,), generator=g)
    natural = robustness.natural_correct(model, x, y).double().mean().item()

    def accuracy(**budget: float) -> float:
        return (
            robustness.pgd_correct(model, x, y, restarts=restarts, **budget).double().mean().item()
        )

    at_zero = accuracy(eps=0.0, alpha=0.1, steps=3)
    assert at_zero == pytest.approx(natural)
    strong = accuracy(eps=0.5, alpha=0.1, steps=10)
    assert 0.0 <= strong <= at_zero <= 1.0
    assert strong < natural


def test_cw_and_lsa_settings_reach_the_attack() -> None:
    model = mlp()
    g = torch.Generator().manual_seed(4)
    x = torch.rand((16, 2, 2, 2), generator=g, dtype=torch.float64)
    y = model(x).argmax(1)
    budget = EvalBudget(eps=0.1)
    for name in ("cw", "lsa", "pgd5"):
        setting = parse_attack(name, budget)
        torch.manual_seed(0)
        got = registry.run(model, x, y, setting, budget, 256)
        torch.manual_seed(0)
        want = robustness.pgd_correct(
            model,
            x,
            y,
            eps=0.1,
            alpha=setting.alpha,
            steps=setting.steps,
            loss=setting.loss,
            logit_scale=setting.logit_scale,
        )
        assert got.tolist() == want.tolist(), name
        assert got.any() and not got.all(), name


def test_restarts_below_one_raise() -> None:
    model = threshold_model()
    x = torch.tensor([[0.2]], dtype=torch.float64)
    with pytest.raises(ConfigError, match="restarts = 0"):
        robustness.pgd_correct(model, x, torch.tensor([0]), eps=0.1, alpha=0.1, steps=1, restarts=0)


# --------------------------------------------------------------------------- attack names
def test_parse_attack_names() -> None:
    budget = EvalBudget(eps=0.031)
    assert parse_attack("natural", budget) == AttackSetting("natural", 0, 0.0, kind="natural")
    pgd20 = parse_attack("pgd20", budget)
    assert (pgd20.steps, pgd20.restarts, pgd20.loss) == (20, 1, "ce")
    assert pgd20.alpha == pytest.approx(0.031 / 4)
    assert parse_attack("pgd100", EvalBudget(eps=0.031, alpha=0.003)).alpha == 0.003
    plus = parse_attack("pgd_plus", budget)
    assert (plus.steps, plus.alpha, plus.restarts) == (40, 0.01, 5)
    cw = parse_attack("cw", budget)
    assert (cw.loss, cw.steps) == ("cw", 30)
    assert cw.alpha == pytest.approx(0.031 / 4)
    lsa = parse_attack("lsa", budget)
    assert (lsa.logit_scale, lsa.steps, lsa.loss) == (10.0, 20, "ce")
    assert parse_attack("autoattack", budget).name == "autoattack"


@pytest.mark.parametrize("name", ["fgsmm", "pgd", "PGD20", "pgd_20", ""])
def test_unknown_attack_names_raise_listing_valid_ones(name: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"attack {name!r} is unknown") + ".*pgd_plus"):
        parse_attack(name, EvalBudget(eps=0.031))


def test_pgd_with_zero_steps_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"'pgd0' is unknown.*pgd<k> \(k >= 1"):
        parse_attack("pgd0", EvalBudget(eps=0.031))


def test_fgsm_is_one_step_of_eps_from_x_itself() -> None:
    """Goodfellow et al.'s FGSM: x + eps * sign(grad_x CE), clamped to [0, 1]; no random start."""
    model = mlp()
    g = torch.Generator().manual_seed(5)
    x = torch.rand((40, 2, 2, 2), generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    budget = EvalBudget(eps=0.2)
    setting = parse_attack("fgsm", budget)
    assert (setting.steps, setting.alpha, setting.random_start) == (1, 0.2, False)
    got = registry.run(model, x, y, setting, budget, 256)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    with torch.no_grad():
        want = model((x + 0.2 * grad.sign()).clamp(0, 1)).argmax(1) == y
    assert torch.equal(got, want)
    assert not torch.equal(got, robustness.natural_correct(model, x, y))  # it does attack
