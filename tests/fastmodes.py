"""The fast modes against fp32: what a mode changes in one training step and in one epoch.

A fast mode (``amp: bf16``, ``channels_last``, ``compile``; TF32 on a GPU) must compute the
same run as fp32. The run here is small (GAIRAT with SmallCNN on digits, three epochs: burn-in,
one reweighted epoch at LR 0.05, one at LR 0.005) and is first trained in fp32, keeping a
checkpoint after every epoch. Then, in each mode:

- **one step**: the fp32 checkpoint after epoch 2 is resumed and one training step (GA-PGD-5
  from the same random start, the loss, the SGD update) is taken on 128 training points;
  compared with fp32's step: kappa, the loss and the parameter update;
- **every epoch**: each epoch of the fp32 run is trained again in the mode, resumed from the
  fp32 checkpoint before it; compared with fp32's epoch: the kappa histogram, the spread of the
  instance weights, the model's parameters after the epoch and, after the last epoch, the
  natural and PGD accuracy on the 360 test points.

Why each epoch starts from fp32's checkpoint rather than the mode running on its own: these
runs are chaotic. Any change of rounding flips a sign of the attack's gradient somewhere,
which moves an adversarial point by 2 alpha, and the runs drift apart as two seeds do.
Measured on the CPU (2 cores, torch 2.14): the three epochs of this run in channels-last,
whose step equals fp32's in kappa and loss to the last bit and in the update to 4e-5, ended
0.28 apart in relative parameter distance (another seed: 0.83), 16 points apart in natural
test accuracy and 0.10 apart in the last kappa histogram (total variation). That drift is
the same for every cause of rounding (another GPU, another cuDNN), so it says nothing about
a mode; one epoch from the same state does.

The tolerances below are stated per quantity for two kinds of mode: those that keep fp32
arithmetic and only reorder it (channels-last, compile) and those that round the products of
convolutions and matrix multiplications to fewer bits (bf16 autocast, TF32). Used by
tests/test_fast_modes.py (CPU) and tests/test_cuda.py (GPU).
"""

from __future__ import annotations

import contextlib
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gair.data.tensors import as_float
from gair.spec import RunSpec
from gair.train.checkpoint import load_checkpoint
from gair.train.loop import Run, train, train_step

EPOCHS = 3
RUN: dict[str, Any] = dict(
    dataset="digits", model="smallcnn", method="gairat", epochs=EPOCHS, seed=0,
    batch_size=64, steps=5, eps=0.1, alpha=0.025, eval_eps=0.1, eval_alpha=0.025,
    eval_steps=5, lr=0.05, milestones=[EPOCHS], lr_factors=[0.1], reweight_from=2,
    train_subset=512, test_subset=360, train_eval_samples=0,
    snapshots=list(range(1, EPOCHS)),
)  # fmt: skip
STEP_POINTS = 128  # training points of the one-step comparison
STEP_EPOCH = EPOCHS  # the step is one of the last (reweighted) epoch, from epoch 2's state

# The run settings of each mode; "tf32" changes no setting but the backend flags (tf32()).
MODES: dict[str, dict[str, Any]] = {
    "bf16": {"amp": "bf16"},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "tf32": {},
}


@dataclass(frozen=True)
class Tolerance:
    """How far a mode may be from fp32 (module docstring)."""

    step_kappa_agree: float  # least fraction of points with the same kappa after one step
    step_loss_rel: float  # |loss - loss_fp32| / |loss_fp32| of the step
    step_update_rel: float  # ||update - update_fp32|| / ||update_fp32||
    kappa_tv: float  # total-variation distance of an epoch's kappa histograms
    weight_std_rel: float  # relative difference of an epoch's instance-weight spread
    params_rel: float  # ||theta - theta_fp32|| / ||theta_fp32|| after each epoch
    final_natural: float  # |difference| of natural test accuracy after the last epoch
    final_pgd: float  # |difference| of PGD test accuracy after the last epoch


# Measured on the CPU (2 cores, torch 2.14; docs/performance.md). One step: channels-last and
# compile gave the same kappa, the loss to the last bit (compile: 1e-7) and an update 4e-5
# (compile: 2e-6) off; bf16 kept the kappa of 99.2% of the points, the loss within 1.1% and
# the update within 4.6%. Per epoch: histograms within 0.03 (TV), weight spread within 4.2%
# (channels-last, compile) and 11% (bf16), parameters within 0.035 and 0.072 (another seed:
# 0.83), final natural accuracy within 0.006. The final PGD accuracy moved by 0.039 in
# channels-last with parameters 0.002 apart: at this scale many test points sit at the edge
# of the PGD-5 decision. A tolerance is about twice the largest deviation measured, or, where
# a mode changes a quantity only by rounding, a floor that other kernels (a GPU's) also meet.
SAME_ARITHMETIC = Tolerance(
    step_kappa_agree=0.98, step_loss_rel=1e-4, step_update_rel=1e-2,
    kappa_tv=0.06, weight_std_rel=0.1, params_rel=0.08, final_natural=0.03, final_pgd=0.08,
)  # fmt: skip
FEWER_BITS = Tolerance(
    step_kappa_agree=0.9, step_loss_rel=0.05, step_update_rel=0.2,
    kappa_tv=0.06, weight_std_rel=0.25, params_rel=0.15, final_natural=0.03, final_pgd=0.08,
)  # fmt: skip
TOLERANCES = {
    "bf16": FEWER_BITS,
    "tf32": FEWER_BITS,
    "channels_last": SAME_ARITHMETIC,
    "compile": SAME_ARITHMETIC,
}


def spec(device: str, **settings: Any) -> RunSpec:
    """The small run on ``device`` with a mode's settings."""
    return RunSpec.from_dict({**RUN, "device": device, **settings})


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for cuDNN convolutions and cuBLAS matrix products on or off (restored after)."""
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = enabled
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def flat_params(state: dict[str, Tensor]) -> Tensor:
    """Every floating-point tensor of a model's state dict, flattened, float64 on the CPU."""
    return torch.cat(
        [v.detach().reshape(-1).double().cpu() for v in state.values() if v.is_floating_point()]
    )


def checkpoint_after(folder: Path, epoch: int) -> dict[str, Any]:
    """The fp32 run's checkpoint after ``epoch`` (a snapshot, or last.pt for the last)."""
    name = "last.pt" if epoch == EPOCHS else f"epoch{epoch}.pt"
    return load_checkpoint(folder / name)


def _resume(run: Run, checkpoint: dict[str, Any]) -> None:
    """Resume ``run`` from an fp32 checkpoint as if it were its own (weights, optimizer,
    random streams): the checkpoint's spec is replaced by the mode's, which differs only in
    the mode's settings."""
    as_own = dict(checkpoint, spec=json.dumps(run.spec.to_dict(), sort_keys=True, default=str))
    run.restore(as_own)


@dataclass
class Epoch:
    row: dict[str, Any]
    params: Tensor


def reference(folder: Path, device: str) -> list[Epoch]:
    """The fp32 run, trained into ``folder``; its rows and parameters after each epoch."""
    with tf32(False):
        rows = train(spec(device), folder, progress=False)
    return [Epoch(r, flat_params(checkpoint_after(folder, r["epoch"])["model"])) for r in rows]


def replay(mode: str, reference_folder: Path, folder: Path, device: str) -> list[Epoch]:
    """Every epoch of the run trained in ``mode``, each resumed from fp32's checkpoint
    before it (the first from the same initial weights)."""
    out = []
    with tf32(mode == "tf32"):
        for epoch in range(1, EPOCHS + 1):
            run = Run(spec(device, **MODES[mode]), folder / f"epoch{epoch}", progress=False)
            if epoch > 1:
                _resume(run, checkpoint_after(reference_folder, epoch - 1))
            row = run.train_epoch(epoch, types.SimpleNamespace(signal=None))
            row |= run.evaluate_epoch(epoch)
            out.append(Epoch(row, flat_params(run.model.state_dict())))
    return out


@dataclass
class Step:
    kappa: Tensor
    loss: float
    update: Tensor


def one_step(mode: str | None, reference_folder: Path, device: str, seed: int = 7) -> Step:
    """One training step in ``mode`` (None: fp32) from fp32's state after epoch 2, on the
    first STEP_POINTS training points, the attack's random start drawn from ``seed``."""
    settings = MODES[mode] if mode else {}
    with tf32(mode == "tf32"):
        run = Run(spec(device, **settings), reference_folder / "step", progress=False)
        _resume(run, checkpoint_after(reference_folder, STEP_EPOCH - 1))
        x_all, y_all = run.data.labelled()
        x, y = as_float(x_all[:STEP_POINTS]), y_all[:STEP_POINTS]
        if run.spec.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        index = torch.arange(STEP_POINTS, device=x.device)
        before = flat_params(run.model.state_dict())
        torch.manual_seed(seed)
        ctx = run.context(STEP_EPOCH, index)
        att, out = train_step(run.step_model, run.optimizer, run.method, ctx, x, y, run.amp())
        after = flat_params(run.model.state_dict())
    assert att.kappa is not None
    return Step(att.kappa.cpu(), float(out.loss.item()), after - before)


# ---------------------------------------------------------------------------- comparisons
def total_variation(a: list[int], b: list[int]) -> float:
    """Half the L1 distance of two histograms over the same points, as a fraction."""
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / 2 / sum(a)


def relative(a: Tensor, b: Tensor) -> float:
    """||a - b|| / ||b||."""
    return float((a - b).norm() / b.norm())


def step_deviations(step: Step, ref: Step) -> dict[str, float]:
    return {
        "kappa_agree": float((step.kappa == ref.kappa).double().mean()),
        "loss_rel": abs(step.loss - ref.loss) / abs(ref.loss),
        "update_rel": relative(step.update, ref.update),
    }


def epoch_deviations(run: list[Epoch], ref: list[Epoch]) -> list[dict[str, float]]:
    out = []
    for mine, theirs in zip(run, ref, strict=True):
        a, b = mine.row, theirs.row
        spread = b["weight_std"]
        out.append(
            {
                "epoch": a["epoch"],
                "kappa_tv": total_variation(a["kappa_hist"], b["kappa_hist"]),
                "weight_std_rel": abs(a["weight_std"] - spread) / spread if spread else 0.0,
                "params_rel": relative(mine.params, theirs.params),
                "natural": abs(a["test_nat_err"] - b["test_nat_err"]),
                "pgd": abs(a["test_pgd20_err"] - b["test_pgd20_err"]),
            }
        )
    return out


def step_problems(mode: str, dev: dict[str, float]) -> list[str]:
    """What is outside the mode's tolerance after one step (empty: everything within)."""
    tol = TOLERANCES[mode]
    problems = []
    if dev["kappa_agree"] < tol.step_kappa_agree:
        problems.append(f"kappa agrees on {dev['kappa_agree']:.3f} < {tol.step_kappa_agree}")
    if dev["loss_rel"] > tol.step_loss_rel:
        problems.append(f"loss off by {dev['loss_rel']:.2e} > {tol.step_loss_rel}")
    if dev["update_rel"] > tol.step_update_rel:
        problems.append(f"update off by {dev['update_rel']:.2e} > {tol.step_update_rel}")
    return problems


def epoch_problems(mode: str, devs: list[dict[str, float]]) -> list[str]:
    tol = TOLERANCES[mode]
    problems = []
    for d in devs:
        e = d["epoch"]
        for key, limit in (
            ("kappa_tv", tol.kappa_tv),
            ("weight_std_rel", tol.weight_std_rel),
            ("params_rel", tol.params_rel),
        ):
            if d[key] > limit:
                problems.append(f"epoch {e}: {key} {d[key]:.4f} > {limit}")
    last = devs[-1]
    for key, limit in (("natural", tol.final_natural), ("pgd", tol.final_pgd)):
        if last[key] > limit:
            problems.append(f"final {key} accuracy off by {last[key]:.4f} > {limit}")
    return problems
