"""gair.train.optim.SGD against its peer, torch.optim.SGD: the same trajectory bit for bit, state
dicts that load into either, and no torch._dynamo import on the way."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import torch
from torch import nn

from gair.errors import ConfigError
from gair.train.optim import SGD


def model_pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    a = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    b = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    b.load_state_dict(a.state_dict())
    return a, b


def one_step(model: nn.Module, opt: object, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)  # type: ignore[attr-defined]
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # type: ignore[attr-defined]


def through_a_file(state: dict) -> dict:
    """A state dict as a checkpoint gives it back (in memory, state dicts share tensors)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


SETTINGS = [
    {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False},
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 2e-4, "nesterov": True},
]


@pytest.mark.parametrize("setting", SETTINGS)
def test_same_trajectory_as_torch_sgd_through_lr_changes(setting: dict) -> None:
    ours_model, ref_model = model_pair()
    ours = SGD(ours_model.parameters(), **setting)
    ref = torch.optim.SGD(ref_model.parameters(), **setting)
    gen = torch.Generator().manual_seed(1)
    for step in range(12):
        if step == 5:  # the training loop sets the epoch's LR on every group
            for opt in (ours, ref):
                for group in opt.param_groups:
                    group["lr"] = setting["lr"] * 0.1
        x, y = torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        one_step(ours_model, ours, x, y)
        one_step(ref_model, ref, x, y)
    for p, q in zip(ours_model.parameters(), ref_model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_state_dicts_load_into_either_class_and_resume_alike() -> None:
    setting = SETTINGS[1]
    gen = torch.Generator().manual_seed(2)
    batches = [(torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen))
               for _ in range(8)]  # fmt: skip
    # A run of torch.optim.SGD, stopped after 4 steps and resumed by ours, equals one that
    # went on with torch.optim.SGD; and the other way round.
    for first, second in ((torch.optim.SGD, SGD), (SGD, torch.optim.SGD)):
        a, b = model_pair()
        opt_a = first(a.parameters(), **setting)
        for x, y in batches[:4]:
            one_step(a, opt_a, x, y)
        b.load_state_dict(a.state_dict())
        opt_b = second(b.parameters(), **setting)
        opt_b.load_state_dict(through_a_file(opt_a.state_dict()))
        for x, y in batches[4:]:
            one_step(a, opt_a, x, y)
            one_step(b, opt_b, x, y)
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q)
    # The layouts agree key for key.
    a, b = model_pair()
    ours, ref = SGD(a.parameters(), **setting), torch.optim.SGD(b.parameters(), **setting)
    one_step(a, ours, *batches[0])
    one_step(b, ref, *batches[0])
    mine, theirs = ours.state_dict(), ref.state_dict()
    assert mine["param_groups"] == theirs["param_groups"]
    assert mine["state"].keys() == theirs["state"].keys()
    for k in mine["state"]:
        assert torch.equal(
            mine["state"][k]["momentum_buffer"], theirs["state"][k]["momentum_buffer"]
        )


def test_frozen_parameters_keep_no_buffer_and_do_not_move() -> None:
    model, ref_model = model_pair()
    model[0].weight.requires_grad_(False)
    ref_model[0].weight.requires_grad_(False)
    ours = SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref = torch.optim.SGD(ref_model.parameters(), lr=0.1, momentum=0.9)
    before = model[0].weight.clone()
    x, y = torch.randn(4, 6), torch.tensor([0, 1, 2, 0])
    for _ in range(3):
        one_step(model, ours, x, y)
        one_step(ref_model, ref, x, y)
    assert torch.equal(model[0].weight, before)
    assert ours.state_dict()["state"].keys() == ref.state_dict()["state"].keys()
    for p, q in zip(model.parameters(), ref_model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_bad_settings_and_states_are_one_line_errors() -> None:
    params = list(nn.Linear(2, 2).parameters())
    with pytest.raises(ConfigError, match=r"lr=-0.1 is invalid"):
        SGD(params, lr=-0.1)
    with pytest.raises(ConfigError, match=r"nesterov SGD needs a momentum > 0"):
        SGD(params, lr=0.1, nesterov=True)
    other = torch.optim.SGD(nn.Linear(3, 3).parameters(), lr=0.1, momentum=0.9)
    other.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})
    with pytest.raises(
        ConfigError, match=r"groups of sizes \[2, 1\]; this model needs one group of 2"
    ):
        SGD(params, lr=0.1).load_state_dict(other.state_dict())


@pytest.mark.slow
def test_training_imports_no_dynamo() -> None:
    """The reason the class exists: torch.optim's constructor imports torch._dynamo."""
    code = (
        "import sys, torch\n"
        "from gair.train.optim import SGD\n"
        "m = torch.nn.Linear(3, 2)\n"
        "opt = SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)\n"
        "m(torch.randn(4, 3)).sum().backward(); opt.step(); opt.zero_grad()\n"
        "print('torch._dynamo' in sys.modules)\n"
        "torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
