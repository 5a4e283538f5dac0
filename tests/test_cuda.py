"""The GPU path (``pytest -m gpu``): every method's training step and every evaluation attack
on CUDA against the same computation on the CPU, the data pipeline on the device, exact
resume under deterministic algorithms, GPU pinning with a real ``CUDA_VISIBLE_DEVICES``, no
host synchronisation inside an attack or a training step, and the fast modes on the GPU.

Where no CUDA device exists every test skips and says why. ``GAIR_GPU_TEST_DEVICE=cpu`` runs
the comparisons with the CPU standing in for the GPU (both sides on the CPU): that checks
these tests themselves on a machine without a GPU; the tests that need CUDA itself (pinning,
synchronisation counts, TF32) still skip.

How CUDA and the CPU may differ (TF32 off on both sides: fp32 against fp32): they add and
multiply in other orders (cuDNN's algorithms, fused kernels), so results differ by
rounding, and a rounding difference decides a discrete choice only at a tie (a gradient
coordinate within rounding of 0, whose sign moves an iterate by 2 alpha; two logits within
rounding of each other). The tolerances:

- FLIPS rows of a batch may take another discrete path (kappa, a robust/not robust verdict,
  an early stop, IAAT's or MMA's budget) and COORDS of an attack's coordinates may lie
  elsewhere; every other coordinate agrees to ATOL_X;
- from the same adversarial points, the loss agrees to LOSS_RTOL, the SGD update to
  UPDATE_RTOL (relative norm) and BatchNorm's running statistics to BUFFER_ATOL.

The random draws of the attacks come from one host generator on both sides
(:class:`HostNoise`): the two devices' own generators give different streams.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastmodes
import pandas as pd
import pytest
import torch
from torch import Tensor, nn

from gair.data import tensors
from gair.evaluation import registry
from gair.methods import get_method, method_names
from gair.methods.core import AttackResult, Method, StepContext
from gair.models import build_model
from gair.spec import RunSpec
from gair.tools.gpu import acquire_gpu, candidate_devices
from gair.train.checkpoint import load_checkpoint
from gair.train.loop import EpochStats, Run, train_step
from gair.train.optim import SGD

REPO = Path(__file__).resolve().parents[1]
ENV_DEVICE = "GAIR_GPU_TEST_DEVICE"


def _device_under_test() -> tuple[torch.device | None, str]:
    name = os.environ.get(ENV_DEVICE, "cuda")
    if name not in ("cuda", "cpu"):
        raise ValueError(f"{ENV_DEVICE}={name!r} is invalid; valid values are cuda, cpu")
    if name == "cpu":
        return torch.device("cpu"), ""
    if not torch.cuda.is_available():
        return None, (
            f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
            f"{ENV_DEVICE}=cpu runs these comparisons with the CPU standing in"
        )
    return torch.device("cuda"), ""


DEVICE, NO_DEVICE = _device_under_test()
ON_CUDA = DEVICE is not None and DEVICE.type == "cuda"
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(DEVICE is None, reason=NO_DEVICE)]
needs_cuda = pytest.mark.skipif(
    not ON_CUDA, reason=NO_DEVICE or f"needs CUDA itself ({ENV_DEVICE}=cpu stands in for none)"
)
CPU = torch.device("cpu")

FLIPS = 2  # of BATCH rows
COORDS = 2e-3
ATOL_X = 1e-6
LOSS_RTOL = 1e-4
UPDATE_RTOL = 1e-3
BUFFER_ATOL = 1e-5

BATCH = 32
SHAPE = (3, 16, 16)
CLASSES = 10


@pytest.fixture(autouse=True)
def true_fp32() -> Iterator[None]:
    """fp32 on both sides: no TF32 and no cuDNN autotuning unless a test asks."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    with fastmodes.tf32(False):
        yield
    torch.backends.cudnn.benchmark = before


class HostNoise:
    """``torch.rand`` and ``torch.randn`` drawn on the host from one seeded generator and
    moved to the device asked for: a computation on the GPU and on the CPU then starts from
    the same random points. A call that passes a CPU generator of its own keeps it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._rand, self._randn = torch.rand, torch.randn
        monkeypatch.setattr(torch, "rand", self.rand)
        monkeypatch.setattr(torch, "randn", self.randn)
        self.seed(0)

    def seed(self, value: int) -> None:
        self.gen = torch.Generator().manual_seed(value)

    def _draw(self, fn: Callable[..., Tensor], size: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
        sized = len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size))
        shape = tuple(size[0]) if sized else tuple(size)
        device, dtype = kw.pop("device", None), kw.pop("dtype", None)
        gen = kw.pop("generator", None)
        if kw:
            raise TypeError(f"HostNoise takes no {sorted(kw)}")
        own = gen is not None and gen.device.type == "cpu"
        out = fn(shape, generator=gen if own else self.gen, dtype=torch.float32)
        return out.to(device=device, dtype=dtype or torch.get_default_dtype())

    def rand(self, *size: Any, **kw: Any) -> Tensor:
        return self._draw(self._rand, size, kw)

    def randn(self, *size: Any, **kw: Any) -> Tensor:
        return self._draw(self._randn, size, kw)


@pytest.fixture
def host_noise(monkeypatch: pytest.MonkeyPatch) -> HostNoise:
    return HostNoise(monkeypatch)


# ---------------------------------------------------------------------------- comparisons
def rows_differing(a: Tensor, b: Tensor, atol: float = 1e-5) -> int:
    """Rows (first dimension) where ``a`` and ``b`` differ (by more than ``atol``)."""
    a, b = a.detach().cpu(), b.detach().cpu()
    if a.dtype == torch.bool or not a.is_floating_point():
        off = a != b
    else:
        off = (a.double() - b.double()).abs() > atol
    return int(off.reshape(off.shape[0], -1).any(1).sum()) if off.dim() else int(off)


def assert_points_agree(a: Tensor, b: Tensor, what: str) -> None:
    """An attack's points: all but COORDS of the coordinates within ATOL_X, in at most FLIPS
    rows elsewhere."""
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    assert a.shape == b.shape, what
    far = (a - b).abs() > ATOL_X
    assert float(far.double().mean()) <= COORDS, f"{what}: {int(far.sum())} coordinates apart"
    assert int(far.reshape(len(far), -1).any(1).sum()) <= FLIPS, f"{what}: rows apart"


def assert_same_result(dev: Tensor, ref: Tensor, what: str) -> None:
    if dev.dim() >= 2 and dev.is_floating_point():
        assert_points_agree(dev, ref, what)
    else:
        assert rows_differing(dev, ref) <= FLIPS, f"{what}: {rows_differing(dev, ref)} rows"


def flat(module: nn.Module) -> Tensor:
    return torch.cat([p.detach().reshape(-1).double().cpu() for p in module.parameters()])


# ---------------------------------------------------------------------------- the step
def tiny_model() -> nn.Module:
    """ResNet-18 at width 4 on 16x16 images: BatchNorm, residuals and pooling, fast on a CPU.
    BatchNorm's running statistics are set from random images first, so that in eval mode
    the network responds to its input as a trained one does (fresh statistics of 0 and 1
    leave its logits nearly constant and every attack trivially right or wrong)."""
    torch.manual_seed(0)
    model = build_model("resnet18", in_channels=3, num_classes=CLASSES, depth=None, width=4,
                        input_size=SHAPE[-1])  # fmt: skip
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # a plain average over the batches below
    with torch.no_grad():
        model.train()(torch.rand((256, *SHAPE), generator=torch.Generator().manual_seed(9)))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    # A classifier at 5 times its initial scale: confident enough that MMA's soft logit
    # margin counts some points correct (at 1, none: MMA would train on natural points only).
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        classifier.weight.mul_(5.0)
        classifier.bias.mul_(5.0)
    return model.eval()


def inputs(model: nn.Module, n: int = BATCH) -> tuple[Tensor, Tensor]:
    """Random images; half the labels are the model's own prediction, so that kappa and the
    verdicts of an attack vary (random labels on a random network are wrong at once)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand((n, *SHAPE), generator=gen)
    y = torch.randint(0, CLASSES, (n,), generator=gen)
    with torch.no_grad():
        pred = model.eval()(x).argmax(1)
    y[: n // 2] = pred[: n // 2]
    return x, y


def step_spec(method: str, **settings: Any) -> RunSpec:
    """A run whose step exercises every branch: reweighting on (lambda 0), IAAT past its
    warm-up, FAT stopping early (tau 1), GAIR-RST with its CW term."""
    values: dict[str, Any] = dict(
        dataset="cifar10", model="resnet18", width=4, method=method, epochs=20, seed=0,
        batch_size=BATCH, steps=3, eps=8 / 255, alpha=2 / 255, reweight_from=1, lam=0.0,
        tau_values=[1], device="cpu",
    )  # fmt: skip
    values.update(settings)
    return RunSpec.from_dict(values)


STEP_EPOCH = 12  # past IAAT's 10 warm-up epochs


def context(spec: RunSpec, method: Method, device: torch.device) -> StepContext:
    state = method.init_state(BATCH, device, spec) if method.init_state else {}
    return StepContext(
        spec=spec, epoch=STEP_EPOCH, tau=spec.tau_at(STEP_EPOCH), lam=spec.lam_at(STEP_EPOCH),
        reweighting=spec.reweighting(STEP_EPOCH), index=torch.arange(BATCH, device=device),
        state=state,
    )  # fmt: skip


def on(att: AttackResult, device: torch.device) -> AttackResult:
    move = None if att.kappa is None else att.kappa.to(device)
    return AttackResult(att.x_adv.to(device), move, {k: v.to(device) for k, v in att.extra.items()})


@pytest.mark.parametrize("method", method_names())
def test_training_step_on_the_device_matches_the_cpu(method: str, host_noise: HostNoise) -> None:
    """The method's attack (eval mode) from the same start, then from the same adversarial
    points its loss (train mode), backward and the SGD step, through gair.train.loop.train_step."""
    spec, meth = step_spec(method), get_method(method)
    base = tiny_model()
    x, y = inputs(base)
    attacks, contexts = [], []
    for device in (CPU, DEVICE):
        model, ctx = copy.deepcopy(base).to(device).eval(), context(spec, meth, device)
        host_noise.seed(3)
        attacks.append(meth.attack(model, x.to(device), y.to(device), ctx))
        contexts.append(ctx)
    ref, dev = attacks
    assert (ref.kappa is None) == (dev.kappa is None)
    if ref.kappa is not None:
        assert_same_result(dev.kappa, ref.kappa, f"{method} kappa")
        assert dev.kappa.device.type == DEVICE.type
    assert_points_agree(dev.x_adv, ref.x_adv, f"{method} x_adv")
    assert sorted(dev.extra) == sorted(ref.extra)
    for key in ref.extra:
        assert_same_result(dev.extra[key], ref.extra[key], f"{method} extra {key}")
    for key in contexts[0].state:  # IAAT's and MMA's per-point memory
        assert_same_result(contexts[1].state[key], contexts[0].state[key], f"{method} {key}")

    outputs, models = [], []
    for device in (CPU, DEVICE):
        fixed = on(ref, device)
        replay = dataclasses.replace(meth, attack=lambda *_, fixed=fixed: fixed)
        model = copy.deepcopy(base).to(device)
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        ctx = context(spec, meth, device)
        _, out = train_step(model, opt, replay, ctx, x.to(device), y.to(device),
                            contextlib.nullcontext())  # fmt: skip
        outputs.append(out)
        models.append(model)
    (o_ref, o_dev), start = outputs, flat(base)
    loss_ref, loss_dev = float(o_ref.loss.detach()), float(o_dev.loss.detach().cpu())
    assert abs(loss_dev - loss_ref) <= LOSS_RTOL * max(abs(loss_ref), 1e-6), (loss_dev, loss_ref)
    scale = float(o_ref.logits_adv.abs().max()) + 1
    assert float((o_dev.logits_adv.cpu() - o_ref.logits_adv).abs().max()) <= 1e-4 * scale
    assert torch.allclose(o_dev.weights.cpu(), o_ref.weights, atol=1e-5)
    update_ref, update_dev = flat(models[0]) - start, flat(models[1]) - start
    assert update_ref.norm() > 0
    assert (update_dev - update_ref).norm() <= UPDATE_RTOL * update_ref.norm()
    for (name, b_ref), b_dev in zip(models[0].named_buffers(), models[1].buffers(), strict=True):
        assert torch.allclose(b_dev.cpu().double(), b_ref.double(), atol=BUFFER_ATOL), name


# ---------------------------------------------------------------------------- evaluation
EVAL_ATTACKS = [
    "natural", "fgsm", "pgd10", "pgd_plus", "cw", "lsa", "autoattack_cheap",
    # the masking checks' attacks: another radius, the whole box, AutoAttack's parts alone
    "pgd10_x2", "pgd10_unbounded", "apgd_ce_cheap", "square_cheap",
]  # fmt: skip
PACKAGE_KINDS = {"autoattack", "autoattack_part", "square"}  # run by pyautoattack
EVAL_POINTS = 64
EVAL_EPS = 0.5 / 255  # some points robust, some not (tiny_model is sensitive)


def test_the_evaluation_list_covers_the_registry() -> None:
    """A new evaluation attack fails here until it is compared on the device too."""
    kinds = {registry.find(name)[0].kind for name in EVAL_ATTACKS}
    assert kinds == {attack.kind for attack in registry.ATTACKS}


@pytest.mark.parametrize("name", EVAL_ATTACKS)
def test_evaluation_attack_on_the_device_matches_the_cpu(name: str, host_noise: HostNoise) -> None:
    kind = registry.find(name)[0].kind
    if kind in PACKAGE_KINDS and importlib.util.find_spec("pyautoattack") is None:
        pytest.skip("pyautoattack is not installed (it travels as a wheel: docs/performance.md)")
    base = tiny_model()
    x, y = inputs(base, EVAL_POINTS)
    budget = registry.EvalBudget(
        eps=EVAL_EPS, pgd_plus_steps=10, pgd_plus_restarts=2, cw_steps=10, lsa_steps=10
    )
    setting = registry.setting(name, budget)
    verdicts = []
    for device in (CPU, DEVICE):
        model = copy.deepcopy(base).to(device).eval()
        host_noise.seed(5)
        torch.manual_seed(5)
        correct = registry.run(model, x.to(device), y.to(device), setting, budget, EVAL_POINTS)
        assert correct.device.type == device.type and correct.dtype == torch.bool
        verdicts.append(correct.cpu())
    ref, dev = verdicts
    assert rows_differing(dev, ref) <= FLIPS, (name, int((dev != ref).sum()))
    # not a trivial comparison: the budget leaves some points robust and breaks others
    with torch.no_grad():
        natural = base(x).argmax(1) == y
    if kind == "pgd_unbounded":  # the whole input box: few survive (none on a trained model)
        assert int(ref.sum()) < int(natural.sum()) // 4, (name, int(ref.sum()))
    elif registry.is_adversarial(name):
        assert 0 < int(ref.sum()) < int(natural.sum()), (name, int(ref.sum()), int(natural.sum()))
    else:
        assert torch.equal(ref, natural)


# ---------------------------------------------------------------------------- the data path
def crops(image: Tensor, pad: int) -> list[Tensor]:
    """Every crop of a zero-padded image, plain and mirrored (one image, on the CPU)."""
    c, h, w = image.shape
    padded = torch.zeros(c, h + 2 * pad, w + 2 * pad)
    padded[:, pad : pad + h, pad : pad + w] = image
    out = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            out += [crop, crop.flip(-1)]
    return out


PIXEL_ATOL = 1e-6  # pixel / 255: CUDA may multiply by 1/255 where the CPU divides


def assert_augmented(x: Tensor, index: Tensor, images: Tensor, pad: int) -> None:
    """Each row of a batch is one crop-and-flip of the image its index names."""
    source = tensors.as_float(images)
    for row, k in zip(x.cpu(), index.cpu().tolist(), strict=True):
        matches = [
            c for c in crops(source[k], pad) if torch.allclose(row, c, rtol=0, atol=PIXEL_ATOL)
        ]
        assert matches, f"row of image {k} is no crop of it"


def test_batches_on_the_device_are_augmented_copies_in_a_seeded_order() -> None:
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (48, 3, 10, 10), dtype=torch.uint8, generator=gen)
    labels = torch.arange(48) % CLASSES
    x_dev, y_dev = images.to(DEVICE), labels.to(DEVICE)

    def epoch(e: int) -> list[tuple[Tensor, Tensor, Tensor]]:
        return list(tensors.iterate_batches(x_dev, y_dev, batch_size=16, seed=3, epoch=e, pad=2))

    first = epoch(2)
    order = torch.cat([index for index, _, _ in first]).cpu()
    assert sorted(order.tolist()) == list(range(48))
    for index, x, y in first:
        assert x.device.type == DEVICE.type and x.dtype == torch.float32
        assert torch.equal(y.cpu(), labels[index.cpu()])
        assert_augmented(x, index, images, pad=2)
    again = epoch(2)
    for a, b in zip(first, again, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(order, torch.cat([index for index, _, _ in epoch(3)]).cpu())
    # the batch's gathers on the device give the CPU's pixels for the same offsets
    dy, dx, flips = (torch.tensor(v) for v in ([0, 4, 2], [3, 0, 4], [True, False, True]))
    want = tensors.crop_flip(tensors.as_float(images[:3]), dy, dx, flips, pad=2)
    got = tensors.crop_flip(tensors.as_float(x_dev[:3]), dy.to(DEVICE), dx.to(DEVICE),
                         flips.to(DEVICE), pad=2)  # fmt: skip
    assert torch.allclose(got.cpu(), want, rtol=0, atol=PIXEL_ATOL)


def test_rst_mixed_batches_on_the_device(tmp_path: Path) -> None:
    """RST's mixed batches through the training loop's own call (Run.epoch_batches) on the
    device, and the same batches on augmented CIFAR-sized images."""
    spec = RunSpec.from_dict(dict(dataset="digits_pseudo", model="smallcnn", method="gair_rst",
                                  epochs=1, batch_size=64, device=DEVICE.type))  # fmt: skip
    run = Run(spec, tmp_path, progress=False)
    cpu = tensors.load_dataset("digits_pseudo", device="cpu")
    assert torch.equal(run.data.x_train.cpu(), cpu.x_train)
    assert torch.equal(run.data.y_train.cpu(), cpu.y_train)
    n_lab = run.data.n_labelled
    batches, n_batches = run.epoch_batches(1)
    batches = list(batches)
    assert len(batches) == n_batches == -(-n_lab // 64)
    n_unsup = int(64 * spec.unsup_fraction)
    labelled = []
    for index, x, y in batches:
        idx = index.cpu()
        assert int((idx >= n_lab).sum()) == n_unsup and int((idx < n_lab).sum()) == 64 - n_unsup
        assert int(idx.max()) < len(cpu.y_train)
        assert torch.equal(y.cpu(), cpu.y_train[idx])
        # digits are not augmented
        assert torch.allclose(x.cpu(), tensors.as_float(cpu.x_train[idx]), rtol=0, atol=PIXEL_ATOL)
        labelled += idx[idx < n_lab].tolist()
    # the labelled points of an epoch come from one permutation: none twice
    assert len(labelled) == len(set(labelled)) == n_batches * (64 - n_unsup)

    gen = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (40, 3, 12, 12), dtype=torch.uint8, generator=gen)
    mixed = tensors.iterate_mixed_batches(
        images.to(DEVICE), torch.zeros(40, dtype=torch.long, device=DEVICE), n_labelled=24,
        batch_size=8, unsup_fraction=0.5, seed=1, epoch=1, pad=4,
    )  # fmt: skip
    for index, x, _ in mixed:
        assert int((index.cpu() >= 24).sum()) == 4
        assert_augmented(x, index, images, pad=4)


# ---------------------------------------------------------------------------- resume
RESUME = r"""
import json, sys
from pathlib import Path
import torch
# AdaptiveAvgPool2d's backward has no deterministic CUDA kernel and only warns here; in this
# run its window is 1x1, so each of its gradients is a single term.
torch.use_deterministic_algorithms(True, warn_only=True)
from gair.spec import RunSpec
from gair.train.loop import Run, train
spec, out = RunSpec.from_dict(json.loads(sys.argv[1])), Path(sys.argv[2])
if sys.argv[3] == "cut":
    run = Run(spec, out, progress=False)
    first = run.train_epoch
    def train_epoch(epoch, stop):
        if epoch > 1:
            raise KeyboardInterrupt  # dies in epoch 2, as a killed job
        return first(epoch, stop)
    run.train_epoch = train_epoch
    try:
        run.run()
    except KeyboardInterrupt:
        pass
else:
    train(spec, out, progress=False)
"""


def test_resume_on_the_device_is_exact_with_deterministic_algorithms(
    tmp_path: Path, tiny_run
) -> None:
    spec = tiny_run.values(method="gairat", epochs=3, reweight_from=2, device=DEVICE.type)
    env = dict(os.environ, CUBLAS_WORKSPACE_CONFIG=":4096:8", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])

    def job(out: Path, mode: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", RESUME, json.dumps(spec), str(out), mode],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]

    job(tmp_path / "full", "whole")
    job(tmp_path / "cut", "cut")
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    job(tmp_path / "cut", "whole")  # a fresh process resumes from last.pt
    timing = ["train_s", "eval_s", "images_per_s"]
    full = pd.read_parquet(tmp_path / "full" / "metrics.parquet").drop(columns=timing)
    resumed = pd.read_parquet(tmp_path / "cut" / "metrics.parquet").drop(columns=timing)
    pd.testing.assert_frame_equal(full, resumed)
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------- pinning
PROBE = (
    "import json, os, torch; p = torch.cuda.get_device_properties(0); "
    "print(json.dumps({'visible': os.environ.get('CUDA_VISIBLE_DEVICES'), "
    "'order': os.environ.get('CUDA_DEVICE_ORDER'), "
    "'count': torch.cuda.device_count(), 'uuid': str(getattr(p, 'uuid', '')), "
    "'name': p.name}))"
)


def _smi_uuids() -> dict[str, str]:
    """GPU index -> UUID as ``nvidia-smi -L`` lists them (PCI bus order)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    listing = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=60).stdout
    return dict(re.findall(r"^GPU (\d+):.*\(UUID: GPU-([0-9a-fA-F-]+)\)", listing, re.M))


@needs_cuda
def test_gpu_run_pins_the_command_to_one_real_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``gair gpu run`` takes a free GPU by its lock and the command sees exactly that GPU,
    the one nvidia-smi lists under that index (outside SLURM, whose allocation the wrapper
    keeps as it is). CUDA's own order (fastest first) is left to the wrapper to change."""
    for key in [k for k in os.environ if k.startswith("SLURM_")] + ["GAIR_GPU_COUNT"]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GAIR_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    candidates = candidate_devices()
    if not candidates:
        pytest.skip("nvidia-smi lists no GPU, so gair gpu run has none to pin")

    def wrapped(*extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "gair", "gpu", "run", *extra, "--", sys.executable,
                   "-c", PROBE]  # fmt: skip
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=300)  # fmt: skip

    done = wrapped()
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["visible"] == candidates[0] and seen["count"] == 1
    assert seen["order"] == "PCI_BUS_ID"
    assert f"CUDA_VISIBLE_DEVICES={candidates[0]} (lock)" in done.stderr
    uuids = _smi_uuids()
    if seen["uuid"] and candidates[0] in uuids:
        assert seen["uuid"].lower() == uuids[candidates[0]].lower()
    # While this process holds the first GPU's lock, the command gets the next one, or none.
    with acquire_gpu(timeout=0) as held:
        assert held.index == candidates[0]
        busy = wrapped("--timeout", "1")
    if len(candidates) > 1:
        assert (
            busy.returncode == 0
            and json.loads(busy.stdout.strip().splitlines()[-1])["visible"] == candidates[1]
        )
    else:
        assert busy.returncode != 0 and "no free GPU" in busy.stderr


# ---------------------------------------------------------------------------- synchronisation
def count_syncs(fn: Callable[[], object]) -> int:
    """Host synchronisations ``fn`` makes, counted by CUDA's sync debug mode."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    return sum("synchroniz" in str(w.message) for w in caught)


@needs_cuda
def test_the_sync_counter_counts() -> None:
    on_gpu = torch.ones(4, device=DEVICE)
    assert count_syncs(lambda: on_gpu.sum().item()) >= 1
    assert count_syncs(lambda: torch.tensor([1.0, 2.0], device=DEVICE)) >= 1
    assert count_syncs(lambda: (on_gpu * 2).sum()) == 0


def _step_syncs(spec: RunSpec, amp: bool = False) -> int:
    """Host synchronisations of the training loop's body (gair.train.loop: the step and the epoch
    statistics), counted on the second of two steps."""
    meth = get_method(spec.method)
    model = tiny_model().to(DEVICE)
    x, y = (t.to(DEVICE) for t in inputs(tiny_model()))
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    ctx = context(spec, meth, DEVICE)
    stats = EpochStats(BATCH, spec.steps, DEVICE)

    def body() -> None:
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp)
        att, out = train_step(model, opt, meth, ctx, x, y, autocast)
        stats.add(1, ctx.index, y, out.loss, out.logits_adv, out.weights, att.kappa)

    body()
    return count_syncs(body)


@needs_cuda
@pytest.mark.parametrize("method", method_names())
def test_training_step_makes_no_host_synchronisation(method: str) -> None:
    # FAT's compacted attack reads the size of its active set once per step by design
    # (spec.compact_early_stop); the masked one must not.
    assert _step_syncs(step_spec(method, compact_early_stop=False)) == 0


@needs_cuda
def test_step_weights_bf16_and_channels_last_make_no_host_synchronisation() -> None:
    step = step_spec("gairat", weight_fn="step", step_kappa=[1, 2], step_weights=[1.0, 0.5, 0.2])
    assert _step_syncs(step) == 0
    fast = step_spec("gairat", channels_last=True, amp="bf16")
    assert _step_syncs(fast, amp=True) == 0


@needs_cuda
def test_compacted_early_stop_reads_the_host_once_per_step() -> None:
    # the size of the active set: one read per PGD step (a boolean index counts its rows)
    syncs = _step_syncs(step_spec("fat", compact_early_stop=True))
    assert 1 <= syncs <= 2 * step_spec("fat").steps


@needs_cuda
@pytest.mark.parametrize(
    "name", ["natural", "fgsm", "pgd10", "cw", "lsa", "pgd10_x2", "pgd10_unbounded"]
)
def test_evaluation_attack_makes_no_host_synchronisation(name: str) -> None:
    """PGD+ and AutoAttack read the host by design (they shrink to the points still robust)."""
    model = tiny_model().to(DEVICE)
    x, y = (t.to(DEVICE) for t in inputs(tiny_model(), EVAL_POINTS))
    budget = registry.EvalBudget(eps=EVAL_EPS, cw_steps=10, lsa_steps=10)
    setting = registry.setting(name, budget)

    def attack() -> None:
        registry.run(model, x, y, setting, budget, EVAL_POINTS)

    attack()
    assert count_syncs(attack) == 0


# ---------------------------------------------------------------------------- fast modes
@pytest.fixture(scope="module")
def fp32_on_device(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    folder = tmp_path_factory.mktemp("fp32")
    epochs = fastmodes.reference(folder, DEVICE.type)
    return folder, epochs, fastmodes.one_step(None, folder, DEVICE.type)


@pytest.mark.parametrize("mode", ["bf16", "channels_last", "tf32", "compile"])
def test_fast_mode_on_the_device_takes_fp32s_steps_and_epochs(
    mode: str, fp32_on_device: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    """tests/fastmodes.py on the device. TF32 exists on CUDA only; compile is compared on
    the step only (its epochs would compile anew for each resumed run)."""
    if mode == "tf32" and not ON_CUDA:
        pytest.skip("TF32 is a CUDA arithmetic")
    if mode == "compile" and not ON_CUDA:
        pytest.skip("compile on the CPU: tests/test_fast_modes.py -m compile")
    if mode == "compile":
        pytest.importorskip("triton", reason="torch.compile on CUDA needs triton")
    folder, ref_epochs, ref_step = fp32_on_device
    step = fastmodes.step_deviations(fastmodes.one_step(mode, folder, DEVICE.type), ref_step)
    assert not fastmodes.step_problems(mode, step), (step, fastmodes.step_problems(mode, step))
    if mode == "compile":
        return
    replayed = fastmodes.replay(mode, folder, tmp_path, DEVICE.type)
    devs = fastmodes.epoch_deviations(replayed, ref_epochs)
    assert not fastmodes.epoch_problems(mode, devs), (devs, fastmodes.epoch_problems(mode, devs))
