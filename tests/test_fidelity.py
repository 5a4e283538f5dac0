"""The paper's protocol as the authors' scripts ran it: each test pins one protocol fact
(which data a run trains on, how a robust point is counted, where an attack starts, which
epoch a change takes effect, which points an error is measured on) against an independent
computation or against values transcribed from the paper and the authors' scripts."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.cli import main
from gair.data.tensors import load_dataset
from gair.errors import ConfigError, DataError
from gair.evaluation import registry
from gair.methods import get_method
from gair.methods.core import StepContext
from gair.paper import attacks, robustness
from gair.train.build import load_model_from_checkpoint
from gair.train.checkpoint import load_checkpoint
from gair.train.loop import Run, train

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


# The tiny run (tests/conftest.py) on an MLP at a larger budget, so that its attacks bite.
MLP = {"model": "mlp", "width": 32, "eps": 0.1, "alpha": 0.03}


def mixed_half(n: int, batch: int) -> int:
    """Labelled (and as many pseudo-labelled) points of an epoch of RST's mixed batches:
    ceil(n / batch) batches of batch / 2 each."""
    return -(-n // batch) * (batch // 2)


def write_rst_pickle(path: Path, n: int, *, shape: tuple[int, int, int] = (8, 8, 1)) -> None:
    """A file in RST's format: {'data': uint8 (N, H, W, C), 'extrapolated_targets': (N,)}."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    targets = rng.integers(0, 10, n).astype(np.int64)
    with path.open("wb") as fh:
        pickle.dump({"data": data, "extrapolated_targets": targets}, fh)


# --------------------------------------------------------------------------- 1. GAIR-RST data
def test_a_missing_pseudo_labelled_file_stops_the_run_before_any_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "ti_500K_pseudo_labeled.pickle"
    out = tmp_path / "run"
    code = main(["train", "--dataset", "digits", "--model", "mlp", "--method", "gair_rst",
                 "--epochs", "1", "--out", str(out), "--set", f"unlabeled_path={missing}",
                 "--set", "train_subset=64", "--set", "device=cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(missing) in err and "semisup-adv" in err
    assert not (out / "last.pt").exists() and not (out / "metrics.parquet").exists()


def test_a_malformed_pseudo_labelled_file_is_one_line_naming_it(tmp_path: Path, tiny_run) -> None:
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(pickle.dumps({"data": np.zeros((3, 8, 8, 1), np.uint8)}))
    with pytest.raises(DataError, match=r"bad\.pickle.*extrapolated_targets"):
        Run(
            tiny_run.spec("gair_rst", unlabeled_path=str(bad), **MLP),
            tmp_path / "run",
            progress=False,
        )
    wrong_shape = tmp_path / "wrong.pickle"
    write_rst_pickle(wrong_shape, 4, shape=(32, 32, 3))
    with pytest.raises(DataError, match=r"wrong\.pickle.*\(3, 32, 32\).*'digits'"):
        Run(
            tiny_run.spec("gair_rst", unlabeled_path=str(wrong_shape), **MLP),
            tmp_path / "run",
            progress=False,
        )


def test_gair_rst_trains_on_rst_mixed_batches_from_the_users_file(tmp_path: Path, tiny_run) -> None:
    pool = tmp_path / "ti.pickle"
    write_rst_pickle(pool, 300)
    spec = tiny_run.spec("gair_rst", epochs=2, unlabeled_path=str(pool), lam=3.0, **MLP)
    rows = train(spec, tmp_path / "run", progress=False)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    n, batch = spec.train_subset, spec.batch_size
    assert (info["n_labelled"], info["n_pseudo"]) == (n, 300)
    # RST's batches: ceil(n / batch) per epoch, each half labelled, half pseudo-labelled
    # (192 points in batches of 64: 3 batches of 32 + 32).
    half = mixed_half(n, batch)
    for row in rows:
        assert (row["labelled_seen"], row["pseudo_seen"]) == (half, half)
    metrics = pd.read_parquet(tmp_path / "run" / "metrics.parquet")
    assert list(metrics["pseudo_seen"]) == [half, half]


def test_the_offline_stand_in_goes_through_the_same_mixed_batches(tmp_path: Path, tiny_run) -> None:
    run = Run(
        tiny_run.spec("gair_rst", dataset="digits_pseudo", epochs=1, **MLP),
        tmp_path,
        progress=False,
    )
    assert run.data.n_labelled == run.spec.train_subset and run.data.n_pseudo == 719
    rows = run.run()
    half = mixed_half(run.spec.train_subset, run.spec.batch_size)
    assert rows[0]["pseudo_seen"] == rows[0]["labelled_seen"] == half


def test_gair_rst_refuses_a_run_without_pseudo_labelled_data(tmp_path: Path, tiny_run) -> None:
    with pytest.raises(ConfigError, match=r"gair_rst.*no pseudo-labelled pool.*unlabeled_path"):
        Run(tiny_run.spec("gair_rst", **MLP), tmp_path, progress=False)


# --------------------------------------------------------------------------- 2. PGD+
def bouncy_model() -> nn.Module:
    """A random MLP on 8x8 images whose PGD iterates often cross back over the boundary."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 3))
    with torch.no_grad():
        model[1].weight.mul_(10.0)
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))
    return model.eval()


def ref_pg_ours(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    alpha: float,
    steps: int,
    restarts: int,
    seed: int,
) -> tuple[Tensor, Tensor]:
    """RST's PG_ours written out: every point attacked in every restart; correctness recorded
    after each step; robust = product over steps and restarts. Also returns the last-iterate
    version (robust = correct at every restart's final iterate)."""  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    every, last = torch.ones(len(y), dtype=torch.bool), torch.ones(len(y), dtype=torch.bool)
    for _ in range(restarts):
        xa = (x + (2 * torch.rand(x.shape, generator=gen) - 1) * eps).clamp(0, 1)
        for _ in range(steps):
            xa = xa.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
            xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
            with torch.no_grad():
                every &= model(xa).argmax(1) == y
        with torch.no_grad():
            last &= model(xa).argmax(1) == y
    return every, last


class RowCounter(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x: Tensor) -> Tensor:
        self.rows += x.shape[0]
        return self.inner(x)


def test_pgd_plus_counts_a_point_robust_only_if_every_iterate_of_every_restart_is_correct() -> None:
    model = bouncy_model()
    x = torch.rand(600, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)  # every point correct to start with
    budget = dict(eps=0.03, alpha=0.03, steps=8)
    every, last = ref_pg_ours(model, x, y, **budget, restarts=3, seed=5)
    # The case that matters exists here: points whose final iterates are all correct although
    # some iterate on the way was misclassified.
    assert int((last & ~every).sum()) >= 3
    counter = RowCounter(model)
    got = robustness.pgd_plus_correct(  # one batch: the reference draws its starts that way
        counter, x, y, **budget, restarts=3, generator=torch.Generator().manual_seed(5),
        batch_size=600,
    )  # fmt: skip
    assert torch.equal(got, every)
    # Later steps and restarts attack only the points still robust: less work than 3 x 8
    # forward-backward passes plus one forward per point (what attacking all of them costs).
    assert counter.rows < 0.7 * 600 * 3 * (8 + 1)


def test_pgd_plus_is_what_the_evaluate_command_runs_for_pgd_plus() -> None:
    setting = registry.setting("pgd_plus", registry.EvalBudget(eps=0.031))
    assert (setting.steps, setting.restarts, setting.alpha) == (40, 5, 0.01)
    assert setting.every_iterate
    model = bouncy_model()
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model(x).argmax(1)
    budget = registry.EvalBudget(eps=0.3, pgd_plus_alpha=0.2, pgd_plus_steps=6)
    torch.manual_seed(9)
    got = registry.run(model, x, y, registry.setting("pgd_plus", budget), budget, 256)
    torch.manual_seed(9)
    want = robustness.pgd_plus_correct(model, x, y, eps=0.3, alpha=0.2, steps=6, restarts=5)
    assert torch.equal(got, want)


# --------------------------------------------------------------------------- 3, 4. MART, MMA
def test_mart_attacks_from_a_small_gaussian_start_and_counts_kappa(tiny_run) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x = torch.rand(16, 1, 8, 8)
    y = torch.randint(0, 10, (16,))
    spec = tiny_run.spec("mart", steps=4, **MLP)
    ctx = StepContext(spec=spec, epoch=1, tau=0, lam=0.0, reweighting=False, index=torch.arange(16))
    torch.manual_seed(3)
    got = get_method("mart").attack(model, x, y, ctx)
    # MART's code: x_adv = x + 0.001 * randn, then K steps of CE-PGD with projection and clamp.
    torch.manual_seed(3)
    xa = x + 0.001 * torch.randn(x.shape)
    kappa = torch.zeros(16, dtype=torch.long)
    for _ in range(4):
        xa = xa.detach().requires_grad_(True)
        logits = model(xa)
        kappa += logits.argmax(1) == y
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y), xa)
        xa = torch.min(torch.max(xa.detach() + 0.03 * g.sign(), x - 0.1), x + 0.1).clamp(0, 1)
    assert torch.allclose(got.x_adv, xa, atol=1e-6)
    assert torch.equal(got.kappa, kappa)
    # not the uniform random start of Madry's PGD: that start lands elsewhere
    torch.manual_seed(3)
    uniform, _ = attacks.ga_pgd(model, x, y, eps=0.1, alpha=0.03, steps=4)
    assert not torch.allclose(got.x_adv, uniform, atol=1e-3)


def bn_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)
    )


@pytest.mark.parametrize("method", ["trades", "gair_trades"])
def test_trades_step_moves_batchnorm_statistics_as_the_scripts_three_forwards(
    method: str, tiny_run
) -> None:
    """trades.py runs model(x), model(x_adv), model(x) in train mode: BN's running statistics
    move three times per step. Ours must leave them where the script does, with the same
    gradient."""
    torch.manual_seed(0)
    ours = bn_model()
    script = bn_model()
    script.load_state_dict(ours.state_dict())
    x = torch.rand(16, 1, 8, 8)
    y = torch.randint(0, 10, (16,))
    spec = tiny_run.spec(method, steps=3, beta=6.0, **MLP)
    ctx = StepContext(spec=spec, epoch=1, tau=0, lam=-1.0, reweighting=True, index=torch.arange(16))
    impl = get_method(method)
    ours.eval()
    att = impl.attack(ours, x, y, ctx)
    ours.train()
    impl.loss(ours, x, y, att, ctx).loss.backward()

    # The script's update, written out: three train-mode forwards in this order.
    script.train()
    logits = script(x)
    ce = F.cross_entropy(logits, y, reduction="none")
    if method == "gair_trades":  # Algorithm 5: omega(kappa) on the natural CE term
        ce = ce * ctx.weights(att.kappa)
    kl = F.kl_div(
        F.log_softmax(script(att.x_adv), dim=1), F.softmax(script(x), dim=1), reduction="sum"
    )
    (ce.mean() + 6.0 * kl / 16).backward()

    bn_ours, bn_script = ours[1], script[1]
    assert bn_ours.num_batches_tracked.item() == bn_script.num_batches_tracked.item() == 3
    assert torch.allclose(bn_ours.running_mean, bn_script.running_mean, atol=1e-7, rtol=0)
    assert torch.allclose(bn_ours.running_var, bn_script.running_var, atol=1e-7, rtol=0)
    for p, q in zip(ours.parameters(), script.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), "the gradient must not change"


def plan_of(*overlays: Path) -> Any:
    from gair.plan import Plan
    from gair.plan.config import load_config  # the plan module is new: imported where used

    return Plan(load_config(list(overlays)))


@pytest.fixture(scope="module")
def paper() -> Any:
    return plan_of()


def test_mart_family_uses_marts_resnet_script_settings(paper: Any) -> None:
    seen = 0
    for target in ("fig19", "fig20", "tradeoff"):
        for name in paper.target_runs(target):
            spec = paper.runs[name]
            if spec.method in ("mart", "gair_mart", "gair_mart_kl"):
                assert (spec.beta, spec.weight_decay) == (5.0, 3.5e-3), name
                seen += 1
    assert seen == 4 + 2 + 2 * 3  # fig19: MART + 3 GAIR-MART, fig20: 2, tradeoff: 2 x 3 seeds


def test_mma_uses_its_own_weight_decay(paper: Any) -> None:
    mma = [paper.runs[n] for n in paper.target_runs("fig19") if paper.runs[n].method == "mma"]
    assert len(mma) == 1 and mma[0].weight_decay == 2e-4
    assert (mma[0].lr, mma[0].lr_iter_milestones) == (0.3, [20000, 30000, 40000])


# --------------------------------------------------------------------------- 5. epoch boundaries
def rows_of(paper: Any, target: str, label: str, seed: int = 0) -> dict[int, dict]:
    from gair.plan.protocol import describe

    described = describe(paper, target)
    for run in described["runs"]:
        if any(u["label"] == label and u["seed"] == seed for u in run["uses"]):
            return {r["epoch"]: r for r in run["epochs"]}
    raise AssertionError(f"{target} has no run {label!r}")


def test_fig4_drops_the_lr_at_epochs_30_and_60_and_snapshots_the_first_epoch_at_001(
    paper: Any,
) -> None:
    at = rows_of(paper, "fig4", "AT")
    # App. A / Sec. 4.1: 0.1, "reduced to 0.01, 0.001 at Epoch 30, and 60"; GAIRAT.py at t = e.
    assert [at[e]["lr"] for e in (29, 30, 31)] == pytest.approx([0.1, 0.01, 0.01])
    assert [at[e]["lr"] for e in (59, 60, 61)] == pytest.approx([0.01, 0.001, 0.001])
    # Figs. 3 (right), 7, 8 read the epoch-30 checkpoint: the first epoch at LR 0.01.
    assert [e for e, r in at.items() if r["snapshot"]] == [30]
    gairat = rows_of(paper, "fig4", "GAIRAT omega_2")
    # The scripts' begin_epoch 30: reweighting from epoch 30 on (the text says "from 31").
    assert [gairat[e]["reweighting"] for e in (29, 30, 31)] == [False, True, True]
    assert at[30]["reweighting"] is None  # AT does not reweight


def test_table1_schedule_reweighting_tau_and_best_window(paper: Any) -> None:
    at, gairat = rows_of(paper, "table1", "AT"), rows_of(paper, "table1", "GAIRAT")
    assert [at[e]["lr"] for e in (59, 60, 89, 90, 109, 110)] == pytest.approx(
        [0.1, 0.01, 0.01, 0.001, 0.001, 0.0005]
    )
    assert [gairat[e]["reweighting"] for e in (59, 60)] == [False, True]
    assert [gairat[e]["lam"] for e in (1, 60)] == [0.0, 0.0]
    fat = rows_of(paper, "table1", "FAT", seed=3)
    # GAIR_FAT.py's adjust_tau(epoch + 1): 0 while epoch <= 40, 3 while <= 70, then 6.
    assert [fat[e]["tau"] for e in (40, 41, 70, 71)] == [0, 3, 3, 6]
    window = [e for e, r in at.items() if r["best_window"]]
    assert (window[0], window[-1], len(window)) == (59, 100, 42)


def test_table2_drops_and_reweights_from_epoch_75(paper: Any) -> None:
    trades, gair = rows_of(paper, "table2", "TRADES"), rows_of(paper, "table2", "GAIR-TRADES")
    # TRADES' script: `if epoch >= 75: lr = 0.01`, `if epoch >= 90: lr = 0.001`, epochs from 1.
    assert [trades[e]["lr"] for e in (74, 75, 89, 90)] == pytest.approx([0.1, 0.01, 0.01, 0.001])
    # ... and `if epoch >= 100: lr = 0.1 * 0.001`: Table 2's last epoch trains at 1e-4.
    assert [trades[e]["lr"] for e in (99, 100)] == pytest.approx([0.001, 0.0001])
    assert [gair[e]["lr"] for e in (99, 100)] == pytest.approx([0.001, 0.0001])
    assert max(trades) == 100
    assert [gair[e]["reweighting"] for e in (74, 75)] == [False, True]
    assert [e for e, r in trades.items() if r["best_window"]] == list(range(75, 101))


@pytest.mark.parametrize("method", ["fat", "gair_fat"])
def test_fat_training_attack_adds_the_runs_omega(method: str, tiny_run) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    spec = tiny_run.spec(method, steps=4, fat_omega=0.01, **MLP)
    ctx = StepContext(spec=spec, epoch=1, tau=1, lam=0.0, reweighting=False, index=torch.arange(16))
    torch.manual_seed(3)
    got = get_method(method).attack(model, x, y, ctx)
    budget = dict(eps=0.1, alpha=0.03, steps=4, tau=1)
    torch.manual_seed(3)
    want, kappa = attacks.early_stopped_pgd(model, x, y, **budget, noise=0.01)
    torch.manual_seed(3)
    quiet, _ = attacks.early_stopped_pgd(model, x, y, **budget)
    assert torch.equal(got.x_adv, want) and torch.equal(got.kappa, kappa)
    assert not torch.allclose(got.x_adv, quiet, atol=1e-4)


def test_fig16_smallcnn_trains_from_lr_001_and_the_other_networks_from_01(paper: Any) -> None:
    # The authors' answer (their repository's issue #3): SmallCNN on CIFAR-10 at LR 0.01,
    # everything else as ResNet-18.
    for label in ("SmallCNN", "VGG-13", "ResNet-18"):
        rows = rows_of(paper, "fig16", label)
        want = 0.01 if label == "SmallCNN" else 0.1
        assert [rows[e]["lr"] for e in (1, 29, 30, 60)] == pytest.approx(
            [want, want, want / 10, want / 100]
        ), label
    models = {paper.runs[n].model: paper.runs[n].lr for n in paper.target_runs("fig16")}
    assert models == {"smallcnn": 0.01, "vgg13": 0.1, "resnet18": 0.1}


def test_fats_noise_per_experiment(paper: Any) -> None:
    """Table 1: the GAIRAT repository's GAIR_FAT.py, which trains both FAT (--Lambda inf)
    and GAIR-FAT, at its default omega 0 (FAT.py's 0.001 is not the script that made Table
    1); Figs. 17-18 and the trade-off: App. C.3's settings and GAIR_FAT.py's default, omega 0."""
    seen: dict[str, set[float]] = {}
    for target in ("table1", "fig17", "fig18", "tradeoff"):
        for name in paper.target_runs(target):
            spec = paper.runs[name]
            if spec.method in ("fat", "gair_fat"):
                seen.setdefault(target, set()).add(spec.fat_omega)
    assert seen == {"table1": {0.0}, "fig17": {0.0}, "fig18": {0.0}, "tradeoff": {0.0}}
    # The source is written beside the value and in docs/fidelity.md.
    text = (REPO / "config" / "paper.yaml").read_text()
    assert "GAIR_FAT.py's --omega defaults to 0.0" in text
    assert "GAIR_FAT.py --Lambda" in (REPO / "docs" / "fidelity.md").read_text()


def test_fig19_marts_schedule_and_gair_mart_from_epoch_75(paper: Any) -> None:
    mart = rows_of(paper, "fig19", "MART")
    # MART's train_resnet.py: 0.01, x0.1 from 75, x0.01 from 90, x0.001 from 100.
    assert [mart[e]["lr"] for e in (74, 75, 89, 90, 99, 100)] == pytest.approx(
        [0.01, 0.001, 0.001, 0.0001, 0.0001, 0.00001]
    )
    gair = rows_of(paper, "fig19", "GAIR-MART tanh lambda = 0")
    assert [gair[e]["reweighting"] for e in (74, 75)] == [False, True]  # "from Epoch 75 onward"
    mma = rows_of(paper, "fig19", "MMA")
    # 391 steps per epoch: iteration 20000 falls in epoch 52 (steps 19941..20331).
    assert (mma[51]["lr"], mma[52]["lr"], mma[52]["lr_end"], mma[53]["lr"]) == (
        0.3, 0.3, 0.09, 0.09
    )  # fmt: skip


def test_table3_uses_rsts_cosine_and_switches_lambda_at_half(paper: Any) -> None:
    rst = rows_of(paper, "table3", "GAIR-RST")
    # RST: lr = 0.1 * 0.5 * (1 + cos((epoch - 1) / 200 * pi)); lambda 100 until epoch >= 100.
    for e in (1, 100, 200):
        assert rst[e]["lr"] == pytest.approx(0.05 * (1 + math.cos((e - 1) / 200 * math.pi)))
    assert [rst[e]["lam"] for e in (99, 100)] == [100.0, 3.0]


def test_the_training_loop_runs_the_schedule_the_protocol_prints(tmp_path: Path, tiny_run) -> None:
    spec = tiny_run.spec(
        "gairat", epochs=3, milestones=[2], lr_factors=[0.1], reweight_from=3, lr=0.1, **MLP
    )
    rows = train(spec, tmp_path, progress=False)
    assert [r["lr"] for r in rows] == pytest.approx([0.1, 0.01, 0.01])
    assert [r["reweighting"] for r in rows] == [False, False, True]


def test_smoke_rescaling_keeps_fig4s_snapshot_at_the_first_dropped_epoch() -> None:
    smoke = plan_of(REPO / "config" / "smoke.yaml")
    at = rows_of(smoke, "fig4", "AT")
    snap = [e for e, r in at.items() if r["snapshot"]]
    assert (
        len(snap) == 1 and at[snap[0]]["lr"] < at[1]["lr"] and at[snap[0] - 1]["lr"] == at[1]["lr"]
    )


# --------------------------------------------------------------------------- 6. training errors
def test_natural_and_pgd_training_errors_are_measured_on_the_same_fixed_points_in_eval_mode(
    tmp_path: Path, tiny_run
) -> None:
    spec = tiny_run.spec("at", epochs=1, random_start=False, train_eval_samples=48, **MLP)
    rows = train(spec, tmp_path, progress=False)
    model, _, data = load_model_from_checkpoint(load_checkpoint(tmp_path / "last.pt"), "cpu")
    x, y = data.labelled()
    x, y = x[:48], y[:48]
    xf = x.float() / 255
    with torch.no_grad():
        nat = (model(xf).argmax(1) != y).double().mean().item()
    x_adv = attacks.pgd(model, xf, y, eps=0.1, alpha=0.03, steps=3, random_start=False)
    with torch.no_grad():
        adv = (model(x_adv).argmax(1) != y).double().mean().item()
    assert rows[0]["train_nat_err"] == pytest.approx(nat, abs=1e-12)
    assert rows[0]["train_adv_err"] == pytest.approx(adv, abs=1e-12)
    # the running error of the training steps is kept, under its own name
    assert "step_adv_err" in rows[0]


# --------------------------------------------------------------------------- 7. kappa-PCA
def test_geometry_kappa_starts_at_x_itself(tmp_path: Path) -> None:
    from gair.paper.geometry import kappa_of

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x = torch.rand(40, 1, 8, 8)
    y = torch.randint(0, 10, (40,))
    k1, _ = kappa_of(model, x, y, eps=0.1, alpha=0.02, steps=10)
    k2, _ = kappa_of(model, x, y, eps=0.1, alpha=0.02, steps=10)
    _, want = attacks.ga_pgd(model, x, y, eps=0.1, alpha=0.02, steps=10, random_start=False)
    assert torch.equal(k1, want) and torch.equal(k1, k2)


def test_geometry_command_samples_each_class_at_random_by_seed(tmp_path: Path, tiny_run) -> None:
    train(tiny_run.spec("at", epochs=1, train_subset=400, **MLP), tmp_path / "run", progress=False)
    outs = {}
    for seed in (0, 0, 1):
        out = tmp_path / f"g{seed}-{len(outs)}.parquet"
        assert main(["geometry", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--per-class",
                     "5", "--eps", "0.1", "--alpha", "0.02", "--seed", str(seed), "--out",
                     str(out), "--device", "cpu"]) == 0  # fmt: skip
        outs[len(outs)] = pd.read_parquet(out)
    assert list(outs[0]["index"]) == list(outs[1]["index"])
    assert list(outs[0]["index"]) != list(outs[2]["index"])
    assert outs[0].groupby("label").size().tolist() == [5] * 10
    data = load_dataset("digits", train_subset=400)
    first = [i for c in range(10) for i in torch.nonzero(data.y_train == c).squeeze(1)[:5].tolist()]
    assert sorted(outs[0]["index"]) != sorted(first)


# --------------------------------------------------------------------------- 9. Fig. 21's step
def test_fig21_keeps_the_papers_literal_step_and_names_madrys_rule() -> None:
    import yaml

    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert config["evaluations"]["fig21"]["alpha"] == pytest.approx(2.5 * 0.031 / 100)
    text = (REPO / "config" / "paper.yaml").read_text()
    caption = (REPO / "workflow" / "report" / "fig21.rst").read_text()
    for source in (text, caption):
        assert "2.5 * eps / K" in source and "Madry" in source


def test_protocol_command_prints_the_change_points(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "fig4"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("fig4: 3 training runs")
    at = text.split("== ")[1]
    lines = {line.split()[0]: line.split() for line in at.splitlines()[3:] if line.strip()}
    assert lines["1-29"][:2] == ["1-29", "0.1"]
    assert lines["30"][1] == "0.01" and "yes" in lines["30"]  # the epoch-30 snapshot
    assert lines["60-100"][1] == "0.001"
    assert main(["protocol", "table2", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert len(described["runs"]) == 10  # as the paper: best_val needs no second run
    assert {json.dumps(r["selection"]) for r in described["runs"]} == {
        json.dumps({"seed": 1, "count": 1000, "of": 10000})
    }
    assert not [r for r in described["runs"] if r["settings"].get("val_split")]
    assert described["evaluations"]["table2"]["alpha"] == 0.003
    assert main(["protocol", "fig99"]) == 2
    err = capsys.readouterr().err
    assert "'fig99'" in err and "fig4" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- 8. ATLAS
def test_every_output_that_names_atlas_says_it_is_an_interpretation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_run
) -> None:
    from gair.methods import run_label

    assert main(["methods", "--describe"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("atlas")]
    assert len(lines) == 1 and "ATLAS (interpretation)" in lines[0]
    assert "INTERPRETATION" in lines[0]
    rows = train(tiny_run.spec("atlas", epochs=1, **MLP), tmp_path, progress=False)
    assert rows[0]["method_title"] == "ATLAS (interpretation)"
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert set(metrics["method_title"]) == {"ATLAS (interpretation)"}
    # legends and table rows come from the plan's manifest: a plain "ATLAS" label gets marked
    assert run_label("ATLAS", "atlas") == "ATLAS (interpretation)"
    assert run_label("ATLAS (interpretation)", "atlas") == "ATLAS (interpretation)"
    assert run_label("AT", "at") == "AT"
    plan = plan_of()
    labels = [label for g in plan.manifest("tradeoff").groups.values() for label in g]
    assert [label for label in labels if "ATLAS" in label] == ["ATLAS (interpretation)"]
