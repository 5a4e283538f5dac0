"""The neighbouring methods: IAAT, RPAT, ATLAS (interpretation), MMA and GAIR-RST.

Each objective is checked against a hand computation on tiny tensors (plain Python floats
through ``math``), IAAT's budget rule against a worked example, the per-sample-budget PGD
against its balls, and every method through a 2-epoch ``python -m gair train`` on digits.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from gair.data.readers import read_pseudo_labelled
from gair.data.tensors import DataSplit, attach_pseudo_labelled
from gair.errors import ConfigError, DataError
from gair.methods import get_method, method_info, method_names
from gair.methods.atlas import atlas_objective, local_points
from gair.methods.core import AttackResult, StepContext
from gair.methods.gair_rst import cw_term_needed, omega
from gair.methods.iaat import iaat_attack, iaat_state, iaat_step_sizes, iaat_update
from gair.methods.mma import margin_search, mma_objective, soft_logit_margin
from gair.methods.rpat import rpat_loss
from gair.paper.attacks import per_sample_pgd
from gair.paper.losses import gair_rst_loss
from gair.spec import RunSpec
from gair.train.loop import Run

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
NEW_METHODS = ("iaat", "rpat", "atlas", "mma", "gair_rst")


# --------------------------------------------------------------------- hand computations
def _ce(z: list[float], y: int) -> float:
    return math.log(sum(math.exp(v) for v in z)) - z[y]


def _softmax(z: list[float]) -> list[float]:
    s = sum(math.exp(v) for v in z)
    return [math.exp(v) / s for v in z]


def _kl(p_logits: list[float], q_logits: list[float]) -> float:
    p, q = _softmax(p_logits), _softmax(q_logits)
    return sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q, strict=True))


def _ctx(method: str, *, epoch: int = 1, lam: float = 0.0, reweighting: bool = True, **kw):
    spec = RunSpec(dataset="moons", model="mlp", method=method, epochs=4, **kw)
    return StepContext(
        spec=spec, epoch=epoch, tau=0, lam=lam, reweighting=reweighting, index=torch.arange(0)
    )


def _linear(weight: list[list[float]], bias: list[float]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


def _affine(w: list[list[float]], b: list[float], x: list[float]) -> list[float]:
    return [
        sum(wi * xi for wi, xi in zip(row, x, strict=True)) + bj
        for row, bj in zip(w, b, strict=True)
    ]


def test_every_new_method_is_registered_with_a_description():
    names = method_names()
    for name in NEW_METHODS:
        assert name in names
    assert get_method("atlas").info.interpretation


# --------------------------------------------------------------------------- IAAT
def test_iaat_update_matches_a_worked_example():
    g, b = 1.9 / 255, 0.1
    prev = torch.tensor([0.0, 4.0, 4.0, 4.0, 1.0]) / 255
    clean = torch.tensor([True, True, True, False, True])
    at_eps = torch.tensor([True, True, False, True, False])
    at_higher = torch.tensor([True, False, False, True, False])
    got = iaat_update(prev, clean, at_eps, at_higher, gamma=g, beta=b)
    # 0: up to 1.9 -> 0.1 * 1.9; 1: keep 4; 2: down to 2.1 -> 0.21 + 3.6;
    # 3: clean point wrong -> new 0 -> 0.9 * 4; 4: down below 0 -> clamp 0 -> 0.9 * 1
    want = torch.tensor([0.19, 4.0, 3.81, 3.6, 0.9]) / 255
    torch.testing.assert_close(got, want)


def test_iaat_step_size_is_eps_over_half_k_with_a_floor():
    got = iaat_step_sizes(torch.tensor([0.0, 5 / 255, 20 / 255]), 10, 2 / 255)
    torch.testing.assert_close(got, torch.tensor([2 / 255, 2 / 255, 4 / 255]))


def test_per_sample_pgd_stays_in_each_samples_own_ball():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = torch.rand(5, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 0, 1])
    eps = torch.tensor([0.0, 1 / 255, 8 / 255, 0.05, 0.5])
    x_adv = per_sample_pgd(model, x, y, eps=eps, alpha=torch.full((5,), 0.3), steps=4)
    delta = (x_adv - x).abs().flatten(1).amax(1)
    assert torch.all(delta <= eps + 1e-6)
    assert torch.equal(x_adv[0], x[0])  # a zero budget leaves the point where it is
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    # a step larger than the ball takes some coordinate of each point to the ball's edge
    torch.testing.assert_close(delta[1:4], eps[1:4])


def test_iaat_attack_stores_the_warm_up_budget_at_the_batch_indices():
    model = _linear([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    x = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])
    y = torch.tensor([0, 1, 1])  # the second point is misclassified
    ctx = _ctx("iaat", epoch=1, extra={"iaat_warmup": 2.0})
    ctx.state = iaat_state(6, torch.device("cpu"), ctx.spec)
    ctx.index = torch.tensor([4, 0, 2])
    att = iaat_attack(model, x, y, ctx)
    e = ctx.spec.eps
    torch.testing.assert_close(ctx.state["eps"], torch.tensor([0.0, 0, e, 0, e, 0]))
    assert torch.all((att.x_adv - x).abs().amax(1) <= torch.tensor([e, 0.0, e]) + 1e-7)


def test_iaat_refuses_a_misspelt_setting():
    spec = RunSpec(dataset="moons", model="mlp", method="iaat", epochs=2, extra={"iaat_wramup": 1})
    with pytest.raises(ConfigError, match="iaat_wramup"):
        iaat_state(3, torch.device("cpu"), spec)


# --------------------------------------------------------------------------- RPAT
def test_rpat_loss_matches_a_hand_computation():
    w, b = [[1.0, -2.0], [0.5, 1.0]], [0.1, -0.3]
    model = _linear(w, b)
    xs = [[0.2, 0.4], [0.9, 0.1]]
    advs = [[0.25, 0.35], [0.8, 0.2]]
    ys = [1, 0]
    r, lam = 0.3, 2.0
    ctx = _ctx("rpat", extra={"rpat_r": r, "rpat_lam": lam})
    att = AttackResult(torch.tensor(advs), None)
    out = rpat_loss(model, torch.tensor(xs), torch.tensor(ys), att, ctx)
    ce = sq = 0.0
    for x, a, y in zip(xs, advs, ys, strict=True):
        za, zx = _affine(w, b, a), _affine(w, b, x)
        zm = _affine(w, b, [r * xi + (1 - r) * av for xi, av in zip(x, a, strict=True)])
        ce += _ce(za, y) / 2
        sq += sum((m - (r * n + (1 - r) * v)) ** 2 for m, n, v in zip(zm, zx, za, strict=True))
    want = ce + lam * sq / 4  # MSE: mean over the 2 x 2 logits
    assert out.loss.item() == pytest.approx(want, rel=1e-5)


# --------------------------------------------------------------------------- ATLAS
def test_atlas_objective_matches_a_hand_computation():
    adv = [[1.0, 0.0, -1.0], [0.2, 0.3, 0.1]]
    local = [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [2.0, -1.0, 0.0], [0.1, 0.1, 0.9]]
    y = [0, 2]
    got = atlas_objective(torch.tensor(adv), torch.tensor(local), torch.tensor(y), gamma=0.5)
    # probe-major rows: local rows 0, 1 are probe 1 of samples 0, 1; rows 2, 3 probe 2
    ce_adv = (_ce(adv[0], 0) + _ce(adv[1], 2)) / 2
    ce_local = (_ce(local[0], 0) + _ce(local[1], 2) + _ce(local[2], 0) + _ce(local[3], 2)) / 4
    assert got.item() == pytest.approx(ce_adv + 0.5 * ce_local, rel=1e-6)


@pytest.mark.parametrize("adversarial", [True, False])
def test_atlas_probes_stay_in_the_ball_around_the_adversary(adversarial):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x_adv = torch.rand(4, 1, 4, 4)
    z = local_points(
        model, x_adv, torch.tensor([0, 1, 2, 0]), rho=0.05, points=3, adversarial=adversarial
    )
    assert z.shape == (12, 1, 4, 4)
    centres = x_adv.repeat(3, 1, 1, 1)
    assert (z - centres).abs().max() <= 0.05 + 1e-6
    assert z.min() >= 0 and z.max() <= 1


# --------------------------------------------------------------------------- MMA
def test_soft_logit_margin_and_mma_objective_match_a_hand_computation():
    z = [[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [0.3, 0.2, 0.1]]
    y = [0, 0, 2]
    slm = soft_logit_margin(torch.tensor(z), torch.tensor(y))
    for row, label, got in zip(z, y, slm, strict=True):
        others = [v for k, v in enumerate(row) if k != label]
        want = math.log(sum(math.exp(v) for v in others)) - row[label]
        assert got.item() == pytest.approx(want, rel=1e-6)
    clean = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]
    correct = torch.tensor([True, False, True])
    hinge = torch.tensor([False, False, True])  # point 0's margin already exceeds d_max
    got = mma_objective(
        torch.tensor(z), torch.tensor(clean), torch.tensor(y), correct, hinge, clean_coeff=0.25
    )
    mma = (_ce(z[1], 0) + _ce(z[2], 2)) / 3
    nat = sum(_ce(c, label) for c, label in zip(clean, y, strict=True)) / 3
    assert got.item() == pytest.approx(0.75 * mma + 0.25 * nat, rel=1e-6)


def test_margin_search_finds_the_boundary_of_a_linear_model():
    # z_0 = x_1 + x_2 - 0.8, z_1 = 0, label 0: along u = (-1, -1) the SLM is 2e - (s - 0.8)
    model = _linear([[1.0, 1.0], [0.0, 0.0]], [-0.8, 0.0])
    x = torch.tensor([[0.5, 0.5], [0.9, 0.9]])
    y = torch.tensor([0, 0])
    u = -torch.ones(2, 2)
    start = torch.tensor([0.05, 0.05])
    start_margin = soft_logit_margin(model((x + start[:, None] * u).clamp(0, 1)), y)
    got = margin_search(
        model,
        x,
        y,
        u,
        start=start,
        start_margin=start_margin,
        max_eps=torch.tensor([0.3, 0.3]),
        steps=20,
    )
    # boundaries at e = 0.1 and e = 0.5; the second lies past the search ceiling 0.3
    torch.testing.assert_close(got, torch.tensor([0.1, 0.3]), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- GAIR-RST
def test_gair_rst_loss_matches_eq13_by_hand():
    nat = [[1.0, 0.0, -0.5], [0.0, 0.5, 0.2]]
    pgd = [[0.2, 0.4, 0.0], [0.5, 0.0, 0.3]]
    cw = [[-0.5, 1.0, 0.0], [0.9, -0.2, 0.1]]
    y = [0, 1]
    kappa = torch.tensor([2, 9])
    lam, steps, beta = -1.0, 10, 6.0
    ctx = _ctx("gair_rst", lam=lam, steps=steps, beta=beta)
    w = omega(kappa, ctx)
    w_hand = [(1 + math.tanh(lam + 5 * (1 - 2 * k / steps))) / 2 for k in (2, 9)]
    torch.testing.assert_close(w, torch.tensor(w_hand))  # unnormalised: mean is not 1
    got = gair_rst_loss(
        torch.tensor(nat),
        torch.tensor(pgd),
        torch.tensor(cw),
        torch.tensor(y),
        weights=w,
        beta=beta,
    )
    ce = (_ce(nat[0], 0) + _ce(nat[1], 1)) / 2
    robust = sum(
        wi * _kl(n, p) + (1 - wi) * _kl(n, c)
        for wi, n, p, c in zip(w_hand, nat, pgd, cw, strict=True)
    )
    assert got.item() == pytest.approx(ce + beta * robust / 2, rel=1e-5)


def test_gair_rst_skips_the_cw_adversary_only_when_its_weight_is_zero():
    assert not cw_term_needed(_ctx("gair_rst", lam=100.0))  # the first half: RST
    assert cw_term_needed(_ctx("gair_rst", lam=3.0))
    assert not cw_term_needed(_ctx("gair_rst", lam=3.0, reweighting=False))
    assert torch.all(omega(torch.arange(11), _ctx("gair_rst", lam=100.0)) == 1.0)
    with pytest.raises(ConfigError, match="weight_fn"):
        cw_term_needed(_ctx("gair_rst", weight_fn="constant"))


def test_read_pseudo_labelled_reads_rsts_pickle(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "ti.pickle"
    with path.open("wb") as fh:
        pickle.dump({"data": data, "extrapolated_targets": [4, 0, 9]}, fh)
    x, y = read_pseudo_labelled(path)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8
    assert np.array_equal(x[1, 2], data[1, :, :, 2])  # channel 2 of image 1
    assert y.tolist() == [4, 0, 9] and y.dtype == np.int64
    split = DataSplit(
        x_train=torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
        y_train=torch.tensor([1, 2]),
        x_test=torch.zeros(1, 3, 32, 32, dtype=torch.uint8),
        y_test=torch.tensor([0]),
        num_classes=10,
        in_channels=3,
        image_size=32,
        kind="image",
        name="cifar10",
    )
    merged = attach_pseudo_labelled(split, x, y, "test pool")
    assert merged.n_labelled == 2 and merged.n_pseudo == 3
    assert merged.y_train.tolist() == [1, 2, 4, 0, 9]
    assert torch.equal(merged.x_train[4], torch.from_numpy(x[2]))


def test_read_pseudo_labelled_errors_name_the_file_and_its_source(tmp_path):
    missing = tmp_path / "nope.pickle"
    with pytest.raises(DataError, match=r"ti_500K_pseudo_labeled\.pickle") as err:
        read_pseudo_labelled(missing)
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(pickle.dumps({"images": 1}))
    with pytest.raises(DataError, match="extrapolated_targets"):
        read_pseudo_labelled(bad)


# --------------------------------------------------------------------------- 2-epoch runs
# Each method's own settings on top of the tiny run (tests/conftest.py), two epochs each.
RUNS: dict[str, dict] = {
    # one warm-up epoch, so that epoch 2 runs the budget update; a snapshot to resume from
    "iaat": {"extra": {"iaat_warmup": 1}, "snapshots": [1]},
    "rpat": {},
    "atlas": {},
    "mma": {},
    # lambda 100 in epoch 1 (plain RST), 3 from epoch 2 on (the CW term is on)
    "gair_rst": {"dataset": "digits_pseudo", "lam": 100, "lam_values": [3], "lam_milestones": [2]},
}


def _start(tiny_run, method: str, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    args = tiny_run.args(method=method, **RUNS[method])
    cmd = [sys.executable, "-m", "gair", "train", *args, "--out", str(out), "--progress", "lines"]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    text, _ = proc.communicate(timeout=300)
    return proc.returncode, text


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_run):
    """Every new method for 2 epochs (in parallel); IAAT then resumed from its epoch 1 in
    this process (the same loop the command runs), while the others finish."""
    root = tmp_path_factory.mktemp("runs")
    procs = {m: _start(tiny_run, m, root / m) for m in RUNS}
    results = {"iaat": _finish(procs.pop("iaat"))}
    resumed = root / "iaat_resumed"
    resumed.mkdir()
    log: list[str] = []
    if results["iaat"][0] == 0:
        shutil.copy(root / "iaat" / "epoch1.pt", resumed / "last.pt")
        spec = RunSpec.from_dict(json.loads((root / "iaat" / "run.json").read_text())["spec"])
        Run(spec, resumed, progress=False, log=log.append).run()
    results |= {m: _finish(p) for m, p in procs.items()}
    return root, results, log


@pytest.mark.slow
@pytest.mark.parametrize("method", NEW_METHODS)
def test_two_epoch_run_writes_finite_metrics(runs, method):
    root, results, _ = runs
    rc, text = results[method]
    assert rc == 0, text[-2000:]
    frame = pd.read_parquet(root / method / "metrics.parquet")
    assert frame["epoch"].tolist() == [1, 2]
    assert np.isfinite(frame["train_loss"]).all()
    assert np.isfinite(frame["test_nat_err"]).all() and np.isfinite(frame["test_pgd20_err"]).all()
    if method == "gair_rst":
        # unnormalised omega: 1 everywhere under lambda 100, below 1 somewhere under 3
        assert frame["weight_min"].tolist()[0] == 1.0 and frame["weight_min"].tolist()[1] < 1
        assert (frame["weight_max"] <= 1.0).all()


@pytest.mark.slow
def test_iaat_budgets_survive_a_resume(runs, tiny_run):
    root, results, log = runs
    assert results["iaat"][0] == 0, results["iaat"][1][-2000:]
    assert any("resuming after epoch 1" in line for line in log)
    load = lambda p: torch.load(p, map_location="cpu", weights_only=True)  # noqa: E731
    first = load(root / "iaat" / "epoch1.pt")["state"]["eps"]
    straight = load(root / "iaat" / "last.pt")["state"]["eps"]
    again = load(root / "iaat_resumed" / "last.pt")["state"]["eps"]
    n = tiny_run.settings["train_subset"]  # one budget per training point
    assert first.shape == (n,) and first.dtype == torch.float32
    # warm-up: 8/255 for the points the model got right, 0 for the others
    assert torch.all((first == 0) | ((first - 8 / 255).abs() < 1e-7))
    assert (first > 0).any()
    # epoch 2 starts from the saved budgets: the resumed run ends where the straight one does
    torch.testing.assert_close(again, straight)
    assert not torch.equal(straight, first)


# --------------------------------------------------------------------------- FGSM-RS
def test_fgsm_rs_is_one_fgsm_step_from_a_uniform_start() -> None:
    """Wong et al.'s attack written out: delta ~ U(-eps, eps) inside the image box, one step
    of 1.25 eps on CE, projection onto the eps-ball and [0, 1]."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x = torch.rand(32, 1, 8, 8)
    y = torch.randint(0, 10, (32,))
    ctx = _ctx("fgsm_rs", eps=0.1, steps=10, alpha=0.001)  # steps and alpha play no part
    torch.manual_seed(4)
    got = get_method("fgsm_rs").attack(model, x, y, ctx)
    torch.manual_seed(4)
    delta = (torch.rand(x.shape) * 2 - 1) * 0.1
    start = (x + delta).clamp(0, 1).requires_grad_(True)
    logits = model(start)
    (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), start)
    want = torch.min(torch.max(start.detach() + 0.125 * g.sign(), x - 0.1), x + 0.1).clamp(0, 1)
    assert torch.allclose(got.x_adv, want, atol=1e-6)
    assert torch.equal(got.kappa, (logits.argmax(1) == y).long())
    assert (got.x_adv - x).abs().max() <= 0.1 + 1e-6
    assert method_info("fgsm_rs").attack_steps == 1 and not method_info("fgsm_rs").weighted
