"""The training attack's settings the paper leaves to its scripts: where every method's attack
starts (``attack_start``) and BatchNorm's mode while it is crafted (``attack_bn``), each
against a computation written out here."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.methods import get_method, method_names
from gair.methods.core import StepContext
from gair.paper import attacks
from gair.spec import ATTACK_STARTS, RunSpec
from gair.train.loop import train_step
from gair.train.optim import SGD

torch.set_num_threads(1)
BASE: dict[str, Any] = {"dataset": "digits", "model": "mlp", "epochs": 2, "eps": 0.1,
                        "alpha": 0.03, "steps": 3}  # fmt: skip


def spec(method: str = "at", **overrides: Any) -> RunSpec:
    return RunSpec.from_dict({**BASE, "method": method, **overrides})


def context(s: RunSpec, n: int, epoch: int = 1) -> StepContext:
    method = get_method(s.method)
    state = method.init_state(n, torch.device("cpu"), s) if method.init_state else {}
    return StepContext(s, epoch, s.tau_at(epoch), s.lam_at(epoch), s.reweighting(epoch),
                       torch.arange(n), state)  # fmt: skip


def batch(n: int = 12) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(n, 1, 8, 8, generator=gen)
    x[0] = 0.0  # corners of the box: the uniform start's clamp shows
    x[1] = 1.0
    return x, torch.randint(0, 10, (n,), generator=gen)


# --------------------------------------------------------------------------- the settings
def test_the_start_names_are_the_attacks_and_bad_values_are_one_line() -> None:
    assert ("method", *attacks.START_KINDS) == ATTACK_STARTS
    with pytest.raises(ConfigError, match=r"^attack_start = 'gauss' is unknown; valid starts"):
        spec(attack_start="gauss")
    with pytest.raises(ConfigError, match=r"^attack_bn = 'batch' is unknown; valid BatchNorm"):
        spec(attack_bn="batch")


def test_a_start_equal_to_the_methods_own_keeps_its_run_name() -> None:
    assert spec("at", attack_start="uniform").run_name() == spec("at").run_name()
    assert spec("trades", attack_start="gaussian").run_name() == spec("trades").run_name()
    # random_start also gives the per-epoch training error's PGD its start: another run.
    assert spec("at", attack_start="none").start_kind == spec("at", random_start=False).start_kind
    assert spec("at", attack_start="none", random_start=False).attack_start == "method"
    assert spec("st", attack_start="gaussian").run_name() == spec("st").run_name()  # no attack
    assert spec("at", attack_start="gaussian").run_name() != spec("at").run_name()
    assert spec("trades", attack_start="uniform").run_name() != spec("trades").run_name()
    assert spec("at", attack_bn="train").run_name() != spec("at").run_name()
    # What each run starts from.
    assert [spec(m).start_kind for m in ("at", "fat", "iaat", "trades", "mart", "gair_rst")] == [
        "uniform", "uniform", "uniform", "gaussian", "gaussian", "gaussian"
    ]  # fmt: skip
    assert spec("at", random_start=False).start_kind == "none"
    assert spec("mart", attack_start="none").start_kind == "none"
    assert spec("at", random_start=False, attack_start="uniform").start_kind == "uniform"


# --------------------------------------------------------------------------- the start
def expected_start(x: Tensor, kind: str, eps: float | Tensor, seed: int) -> Tensor:
    """The first iterate written out from the seeded global generator: uniform noise in
    [-eps, eps] clamped to the box, 0.001 N(0, I) unclamped, or x."""
    torch.manual_seed(seed)
    if kind == "uniform":
        radius = eps.view(-1, 1, 1, 1) if isinstance(eps, Tensor) else eps
        return (x + (2 * torch.rand(x.shape) - 1) * radius).clamp(0.0, 1.0)
    if kind == "gaussian":
        return x + 0.001 * torch.randn(x.shape)
    return x.clone()


@pytest.mark.parametrize("kind", attacks.START_KINDS)
def test_start_point_draws_what_is_written_out(kind: str) -> None:
    x, _ = batch()
    torch.manual_seed(11)
    got = attacks.start_point(x, kind, 0.1)
    assert torch.equal(got, expected_start(x, kind, 0.1, 11))
    eps = torch.linspace(0.0, 0.2, x.shape[0])  # a ball per sample
    torch.manual_seed(11)
    assert torch.equal(attacks.start_point(x, kind, eps), expected_start(x, kind, eps, 11))
    if kind == "uniform":
        assert got.min() == 0.0 and got.max() == 1.0 and (got - x).abs().max() <= 0.1 + 1e-7


class Flat(nn.Module):
    """Logits that do not depend on the input: every attack gradient is exactly zero, so an
    attack's iterate never leaves its start (projected onto the ball and the box)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.arange(10, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return self.bias + 0.0 * x.flatten(1).sum(1, keepdim=True)


# Methods whose attack returns its PGD iterate (MMA's point is its margin search's, ST has
# none, GAIR-RST needs a pseudo-labelled pool: its two attacks call the same first_iterate).
ITERATE_METHODS = [m for m in method_names() if m not in ("st", "mma", "gair_rst")]


@pytest.mark.parametrize("method", ITERATE_METHODS)
@pytest.mark.parametrize("kind", ATTACK_STARTS)
def test_every_methods_attack_starts_where_the_run_says(method: str, kind: str) -> None:
    s = spec(method, attack_start=kind, tau_values=[2])
    x, y = batch()
    ctx = context(s, x.shape[0])
    torch.manual_seed(5)
    att = get_method(method).attack(Flat(), x, y, ctx)
    used = s.start_kind if kind == "method" else kind
    eps: float | Tensor = s.eps
    if method == "iaat":  # its warm-up budget: eps where the point is classified correctly
        eps = (y == 9).float() * s.eps
    radius = torch.as_tensor(eps).expand(x.shape[0]).view(-1, 1, 1, 1)
    start = expected_start(x, used, eps, 5)
    want = torch.minimum(torch.maximum(start, x - radius), x + radius).clamp(0.0, 1.0)
    assert torch.equal(att.x_adv, want), (method, kind)


# --------------------------------------------------------------------------- BatchNorm
def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)
    )


def hand_step(model: nn.Module, x: Tensor, y: Tensor, *, train_attack: bool, s: RunSpec) -> None:
    """AT's step written out: K signed-gradient steps from x (no random start) with the model
    in the attack's mode, then one SGD step on the mean CE at the last iterate in train mode."""
    model.train(train_attack)
    x_adv = x.clone()
    for _ in range(s.steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.clamp(torch.min(torch.max(x_adv.detach() + s.alpha * grad.sign(), x - s.eps),
                                      x + s.eps), 0.0, 1.0)  # fmt: skip
    model.train()
    opt = SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    opt.zero_grad()
    F.cross_entropy(model(x_adv), y).backward()
    opt.step()


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_batchnorm_during_the_attack_follows_the_run(mode: str) -> None:
    """In train mode every forward of the attack normalises by the batch and moves the running
    statistics (K + 1 updates per step); in eval mode only the loss's forward does (one)."""
    s = spec("at", attack_start="none", attack_bn=mode)
    x, y = batch(16)
    ours, theirs = bn_model(), bn_model()
    opt = SGD(ours.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    amp = torch.autocast("cpu", enabled=False)
    train_step(ours, opt, get_method("at"), context(s, 16), x, y, amp)
    hand_step(theirs, x, y, train_attack=mode == "train", s=s)
    bn_ours, bn_theirs = ours[2], theirs[2]
    updates = s.steps + 1 if mode == "train" else 1
    assert int(bn_ours.num_batches_tracked) == updates == int(bn_theirs.num_batches_tracked)
    for key, value in copy.deepcopy(theirs.state_dict()).items():
        assert torch.allclose(ours.state_dict()[key], value, rtol=0, atol=1e-7), key


def test_the_two_batchnorm_modes_train_differently() -> None:
    x, y = batch(16)
    models = {}
    for mode in ("eval", "train"):
        s = spec("at", attack_start="none", attack_bn=mode)
        model = bn_model()
        opt = SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        amp = torch.autocast("cpu", enabled=False)
        train_step(model, opt, get_method("at"), context(s, 16), x, y, amp)
        models[mode] = model
    assert not torch.allclose(models["eval"][2].running_mean, models["train"][2].running_mean)
