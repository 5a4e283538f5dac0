"""AutoAttack, the logit-scaling attack and the worst case over attacks on a small trained model.

The model is an MLP trained for a few seconds with PGD-5 on scikit-learn's 8x8 digits at
eps = 0.2. At this budget the trained model's logits are large, and so is the gap between
PGD-20 and the stronger attacks. A copy with logits shrunk 10-fold stands in for the gradient
masking the logit-scaling attack was published to expose: PGD-20's sign steps weaken on it,
while AutoAttack (scale-free DLR loss) and LSA (which undoes the shrinking) do not.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.evaluation import evaluate, registry
from gair.evaluation.autoattack import autoattack_correct, build_ensemble
from gair.evaluation.kernels import worst_case
from gair.evaluation.registry import AUTOATTACK_VERSIONS, AutoAttackVersion, EvalBudget
from gair.evaluation.registry import setting as parse_attack
from gair.paper import attacks
from gair.paper.robustness import natural_correct

torch.set_num_threads(1)

EPS = 0.2
N_POINTS = 200


class ScaledLogits(nn.Module):
    """The wrapped model with its logits multiplied by ``factor``."""

    def __init__(self, model: nn.Module, factor: float) -> None:
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) * self.factor


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, Tensor, Tensor]:
    """A PGD-trained MLP on digits (eval mode) and the first test points as floats in [0, 1]."""
    from gair.data.tensors import load_dataset
    from gair.models import build_model

    data = load_dataset("digits")
    x, y = data.x_train.float() / 255, data.y_train
    torch.manual_seed(0)
    model = build_model("mlp", in_channels=64, num_classes=10, width=64, depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        order = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0], 128):
            idx = order[start : start + 128]
            x_adv = attacks.pgd(
                model, x[idx], y[idx], eps=EPS, alpha=EPS / 3, steps=5, generator=gen
            )
            loss = F.cross_entropy(model(x_adv), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model, data.x_test[:N_POINTS].float() / 255, data.y_test[:N_POINTS]


def per_sample(model: nn.Module, x: Tensor, y: Tensor, names: list[str]) -> dict[str, Tensor]:
    """Per-sample results of named attacks, each PGD-type attack from the same seed."""
    budget = EvalBudget(eps=EPS, autoattack_version="cheap")
    out = {}
    for name in names:
        setting = parse_attack(name, budget)
        torch.manual_seed(0)
        out[setting.name] = registry.run(model, x, y, setting, budget, 256)
    return out


# ------------------------------------------------------------ strength against PGD-20
@pytest.mark.parametrize("factor", [1.0, 0.1], ids=["trained", "shrunk_logits"])
def test_autoattack_and_lsa_are_never_above_pgd20(trained, factor: float) -> None:
    model, x, y = trained
    model = ScaledLogits(model, factor).eval()
    res = per_sample(model, x, y, ["natural", "pgd20", "lsa", "autoattack"])
    acc = {k: v.float().mean().item() for k, v in res.items()}
    # The comparison only means something if PGD-20 leaves some points and breaks others.
    assert 0.1 < acc["pgd20"] < acc["natural"] - 0.1
    assert acc["autoattack_cheap"] <= acc["pgd20"]
    assert acc["lsa"] <= acc["pgd20"]
    if factor < 1:
        # Shrunk logits blunt PGD-20, not the two attacks built to see through that.
        assert acc["lsa"] < acc["pgd20"] - 0.05
        assert acc["autoattack_cheap"] < acc["pgd20"] - 0.05


def test_autoattack_is_scale_free_and_restores_rng_and_mode(trained) -> None:
    model, x, y = trained
    x, y = x[:64], y[:64]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    plain = autoattack_correct(model, x, y, eps=EPS, version="cheap", seed=3)
    # The library reseeds the global generator; the caller's stream must be untouched.
    assert torch.equal(torch.get_rng_state(), state)
    assert not model.training
    shrunk = autoattack_correct(ScaledLogits(model, 0.1), x, y, eps=EPS, version="cheap", seed=3)
    # APGD-T's DLR loss and Square's margin do not change under a positive logit scale;
    # APGD-CE does, so a few points may differ, but the accuracy stays within 5 points.
    assert abs(plain.float().mean().item() - shrunk.float().mean().item()) <= 0.05
    model.train()
    try:
        autoattack_correct(model, x[:8], y[:8], eps=EPS, version="cheap")
        assert model.training
    finally:
        model.eval()


def test_autoattack_output_stays_in_the_threat_model(trained) -> None:
    model, x, y = trained
    x, y = x[:48], y[:48]
    ensemble = build_ensemble(model, eps=EPS, num_classes=10, version="cheap", seed=0)
    x_adv, _ = ensemble.run_standard_evaluation(x, y, batch_size=x.shape[0])
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max().item() <= EPS + 1e-6
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
    correct = autoattack_correct(model, x, y, eps=EPS, version="cheap", seed=0)
    with torch.no_grad():
        at_output = model(x_adv).argmax(1) == y
    assert torch.equal(correct, at_output & natural_correct(model, x, y))


def test_autoattack_with_eps_zero_is_natural_accuracy(trained) -> None:
    model, x, y = trained
    got = autoattack_correct(model, x, y, eps=0.0, version="standard")
    assert torch.equal(got, natural_correct(model, x, y))


def test_fab_t_and_square_find_adversarial_points(trained, monkeypatch) -> None:
    """The part of the standard ensemble the cheap version leaves out, at a tiny budget."""
    model, x, y = trained
    x, y = x[:40], y[:40]
    tiny = AutoAttackVersion("autoattack", 0, 0, 0, 10, 3, 50, passes=0.0)
    monkeypatch.setitem(AUTOATTACK_VERSIONS, "standard", tiny)
    robust = autoattack_correct(model, x, y, eps=EPS, version="standard")
    natural = natural_correct(model, x, y)
    assert robust.float().mean().item() < natural.float().mean().item() - 0.1


def test_standard_version_has_the_published_budgets(trained) -> None:
    """Croce and Hein (2020): APGD-CE, APGD-T, FAB-T with 9 targets, Square with 5000 queries."""
    model = trained[0]
    ens = build_ensemble(model, eps=EPS, num_classes=10, version="standard", seed=0)
    assert ens.version == "standard"
    assert list(ens.attacks_to_run) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert (ens.apgd.n_iter, ens.apgd_targeted.n_iter, ens.fab.n_iter) == (100, 100, 100)
    assert (ens.apgd_targeted.n_target_classes, ens.fab.n_target_classes) == (9, 9)
    assert ens.square.n_queries == 5000 and ens.epsilon == EPS and ens.norm == "Linf"
    # Fewer classes than targets: every other class is a target.
    five = build_ensemble(model, eps=EPS, num_classes=5, version="standard")
    assert five.apgd_targeted.n_target_classes == 4
    cheap = build_ensemble(model, eps=EPS, num_classes=10, version="cheap")
    assert list(cheap.attacks_to_run) == ["apgd-ce", "apgd-t", "square"]
    assert (cheap.apgd.n_iter, cheap.apgd_targeted.n_target_classes) == (20, 3)


# ---------------------------------------------------------------------- worst case
def test_worst_case_is_never_above_any_single_attack(trained) -> None:
    model, x, y = trained
    res = per_sample(model, x, y, ["natural", "pgd20", "cw", "lsa", "autoattack"])
    worst = worst_case(res)
    assert worst is not None
    expected = np.logical_and.reduce([v.numpy() for k, v in res.items() if k != "natural"])
    assert np.array_equal(worst.numpy(), expected)
    for name, col in res.items():
        if name != "natural":
            assert not (worst & ~col).any(), name
            assert worst.float().mean() <= col.float().mean()
    assert worst_case({"natural": res["natural"]}) is None


# ------------------------------------------------------------------ logit scaling
def test_lsa_with_factor_one_equals_pgd(trained) -> None:
    model, x, y = trained
    budget = EvalBudget(eps=EPS, lsa_factor=1.0)
    torch.manual_seed(7)
    lsa = registry.run(model, x, y, parse_attack("lsa", budget), budget, 256)
    torch.manual_seed(7)
    pgd = registry.run(model, x, y, parse_attack("pgd20", budget), budget, 256)
    assert torch.equal(lsa, pgd)
    gen = torch.Generator().manual_seed(1)
    a = attacks.pgd(model, x, y, eps=EPS, alpha=EPS / 4, steps=5, logit_scale=1.0, generator=gen)
    gen = torch.Generator().manual_seed(1)
    b = attacks.pgd(model, x, y, eps=EPS, alpha=EPS / 4, steps=5, generator=gen)
    assert torch.equal(a, b)


def test_lsa_is_pgd_on_scaled_logits(trained) -> None:
    model, x, y = trained
    budget = EvalBudget(eps=EPS, lsa_factor=10.0)
    torch.manual_seed(5)
    lsa = registry.run(model, x, y, parse_attack("lsa", budget), budget, 256)
    torch.manual_seed(5)
    scaled = ScaledLogits(model, 10.0).eval()
    pgd = registry.run(scaled, x, y, parse_attack("pgd20", budget), budget, 256)
    assert torch.equal(lsa, pgd)


# --------------------------------------------------------------------- names, errors
def test_autoattack_names_say_which_version_ran() -> None:
    assert parse_attack("autoattack", EvalBudget(eps=0.1)).name == "autoattack"
    cheap = EvalBudget(eps=0.1, autoattack_version="cheap")
    assert parse_attack("autoattack", cheap).name == "autoattack_cheap"
    assert parse_attack("autoattack_cheap", EvalBudget(eps=0.1)).name == "autoattack_cheap"
    assert {v.name for v in AUTOATTACK_VERSIONS.values()} == {"autoattack", "autoattack_cheap"}
    with pytest.raises(ConfigError, match=r"'plus'.*standard, cheap"):
        parse_attack("autoattack", EvalBudget(eps=0.1, autoattack_version="plus"))


def test_autoattack_rejects_inputs_it_cannot_attack(trained) -> None:
    model, x, y = trained
    with pytest.raises(ConfigError, match=r"image inputs \(N, C, H, W\)"):
        autoattack_correct(model, x.flatten(1), y, eps=EPS)
    two = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    with pytest.raises(ConfigError, match="at least 4 classes"):
        autoattack_correct(two, x[:4], y[:4] % 2, eps=EPS)
    with pytest.raises(ConfigError, match="eps"):
        autoattack_correct(model, x, y, eps=float("nan"))
    assert autoattack_correct(model, x[:0], y[:0], eps=EPS).shape == (0,)


# ------------------------------------------------------------------- command line
def test_evaluate_command_writes_cheap_autoattack_and_exact_worst_case(tmp_path) -> None:
    from gair.models import build_model
    from gair.spec import RunSpec
    from gair.train.checkpoint import save_checkpoint

    spec = RunSpec(dataset="digits", model="smallcnn", method="at", epochs=1, eps=0.1)
    torch.manual_seed(0)
    model = build_model("smallcnn", in_channels=1, num_classes=10, input_size=8)
    ckpt = tmp_path / "last.pt"
    save_checkpoint(
        ckpt, {"model": model.state_dict(), "spec": json.dumps(spec.to_dict()), "epoch": 1}
    )
    out, samples = tmp_path / "eval.parquet", tmp_path / "samples.parquet"
    argv = ["--checkpoint", str(ckpt), "--attacks", "natural,pgd2,lsa,autoattack"]
    argv += ["--aa-version", "cheap", "--samples-limit", "24", "--device", "cpu"]
    argv += ["--out", str(out), "--samples", str(samples)]
    assert evaluate.cli(argv) == 0
    summary, cols = pd.read_parquet(out), pd.read_parquet(samples)
    assert list(summary["attack"]) == ["natural", "pgd2", "lsa", "autoattack_cheap", "worst_case"]
    attacked = cols[["pgd2", "lsa", "autoattack_cheap"]].to_numpy()
    acc = dict(zip(summary["attack"], summary["accuracy"], strict=True))
    assert acc["worst_case"] == pytest.approx(attacked.all(1).mean())
    for name in ("pgd2", "lsa", "autoattack_cheap"):
        assert acc[name] == pytest.approx(cols[name].mean())
    assert not (cols["autoattack_cheap"] & ~cols["natural"]).any()
    # --points writes the same per-point file beside the summary, where the plan looks for it
    beside = tmp_path / "again.parquet"
    argv[-2:] = ["--points"]
    argv[argv.index(str(out))] = str(beside)
    assert evaluate.cli(argv) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again.points.parquet"), cols)
