"""Preflight: a few real training steps of a run, timed, and the budget they project.

``python -m gair train ... --preflight N`` builds the run exactly as training would (its
real dataset files, model, batch size, attack and method) and times N optimizer steps of
epoch 1 (the first is warm-up and not counted), then the per-epoch evaluation's pieces on one
batch of points each (natural and PGD-20 test error; natural, training-attack and PGD-20
training error; flatness where the run measures it). It writes ``preflight.json`` into the run
folder and checkpoints (``last.pt``, ``best.pt`` and the snapshots the run keeps) so that
the target's evaluation and geometry jobs can run on them too, on a few points, timed.

The projection: seconds per step x steps per epoch x epochs, plus each evaluation piece's
seconds per point x its points per epoch x evaluated epochs; an evaluation job's seconds per
point x the points it would attack. The report layer sums a target's runs and evaluations
into its budget, beside the FLOP model's estimate (:mod:`gair.plan`). Both are estimates; the
measurement is the one a user can repeat on their own hardware.
"""

from __future__ import annotations

import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from gair.errors import ConfigError
from gair.io import write_json
from gair.paper.geometry import flatness
from gair.paper.robustness import natural_correct, pgd_correct
from gair.spec import batches_per_epoch
from gair.train.checkpoint import save_checkpoint
from gair.train.loop import Run, train_step

SCHEMA_VERSION = 1


def _peak_memory_mb(device: Any) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _device_name(device: Any) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"cpu ({platform.machine()}, {threads} thread{'s' if threads != 1 else ''})"


def evaluated_epochs(spec: Any) -> int:
    """Epochs after which training evaluates (every eval_every-th, the last, snapshots)."""
    due = {e for e in range(1, spec.epochs + 1) if e % spec.eval_every == 0}
    return len(due | {spec.epochs} | set(spec.snapshots))


def measure(spec: Any, out: str | Path, steps: int) -> dict[str, Any]:
    """Time ``steps`` training steps and one batch of each per-epoch evaluation of ``spec``;
    write preflight.json, run.json and the run's checkpoints into ``out``; return the record."""
    if steps < 2:
        raise ConfigError(f"--preflight {steps} is invalid: it needs >= 2 steps (1 is warm-up)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(spec, out, progress=False)
    device = run.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batches, n_batches = run.epoch_batches(1)
    amp = run.amp()
    times = []
    for step, (index, x, y) in enumerate(batches):
        if step >= steps:
            break
        for group in run.optimizer.param_groups:
            group["lr"] = spec.lr
        run._sync()
        start = time.perf_counter()
        train_step(run.step_model, run.optimizer, run.method, run.context(1, index), x, y, amp)
        run._sync()
        times.append(time.perf_counter() - start)
        run.iteration += 1
    if len(times) < 2:
        raise ConfigError(
            f"run {spec.run_name()} has {n_batches} training batches; --preflight needs 2"
        )
    step_s = statistics.median(times[1:])

    # One batch of each per-epoch evaluation piece (the calls Run.evaluate_epoch makes).
    model, data = run.model, run.data
    model.eval()
    b = spec.batch_size
    n_test = int(data.y_test.shape[0])
    test_points = min(spec.eval_samples or n_test, n_test)
    pieces: dict[str, tuple[float, int]] = {}

    def timed(name: str, points: int, fn: Any) -> None:
        run._sync()
        start = time.perf_counter()
        fn()
        run._sync()
        pieces[name] = ((time.perf_counter() - start) / b, points)

    xt, yt = data.x_test[:b], data.y_test[:b]
    test_budget = spec.test_budget
    timed("test", test_points, lambda: (
        natural_correct(model, xt, yt), pgd_correct(model, xt, yt, **test_budget),
    ))  # fmt: skip
    if spec.train_eval_samples:
        xl, yl = (t[:b] for t in data.labelled())
        train_budget = {**spec.train_budget, "random_start": spec.random_start}
        n_train = min(spec.train_eval_samples, int(data.labelled()[1].shape[0]))
        timed("train", n_train, lambda: (
            natural_correct(model, xl, yl), pgd_correct(model, xl, yl, **train_budget),
            pgd_correct(model, xl, yl, **spec.test_budget),
        ))  # fmt: skip
    if spec.val_split:
        xv, yv = data.x_val[:b], data.y_val[:b]
        timed("val", spec.val_split, lambda: (
            natural_correct(model, xv, yv), pgd_correct(model, xv, yv, **spec.test_budget),
        ))  # fmt: skip
    if spec.flatness:
        timed(
            "flatness", spec.flatness_samples, lambda: flatness(model, xt, yt, **spec.test_budget)
        )
    eval_epoch_s = sum(per_point * points for per_point, points in pieces.values())

    # Checkpoints for the target's evaluation and geometry jobs (partly trained epoch 1).
    run.epoch = 1
    payload = run.payload()
    held_out = spec.val_split or spec.selection_points
    best = ["best.pt", "best_val.pt"] if held_out else ["best.pt"]
    for name in ["last.pt", *best, *(f"epoch{e}.pt" for e in spec.snapshots)]:
        save_checkpoint(out / name, payload)

    steps_per_epoch = batches_per_epoch(spec)
    train_hours = step_s * steps_per_epoch * spec.epochs / 3600
    eval_hours = eval_epoch_s * evaluated_epochs(spec) / 3600
    record = {
        "schema": SCHEMA_VERSION,
        "run": spec.run_name(),
        "device": _device_name(device),
        "steps_timed": len(times) - 1,
        "batch_size": spec.batch_size,
        "seconds_per_step": step_s,
        "images_per_s": spec.batch_size / step_s,
        "steps_per_epoch": steps_per_epoch,
        "epochs": spec.epochs,
        "seconds_per_eval_point": {k: v[0] for k, v in pieces.items()},
        "eval_points_per_epoch": {k: v[1] for k, v in pieces.items()},
        "evaluated_epochs": evaluated_epochs(spec),
        "peak_memory_mb": _peak_memory_mb(device),
        "projected_train_hours": train_hours + eval_hours,
        "projected_step_hours": train_hours,
        "projected_epoch_eval_hours": eval_hours,
    }
    write_json(out / "preflight.json", record)
    write_json(
        out / "run.json", {"name": spec.run_name(), "preflight": True, "spec": spec.to_dict()}
    )
    print(
        f"{spec.run_name()}: {step_s:.3f} s/step ({record['images_per_s']:.0f} img/s) on "
        f"{record['device']}, peak {record['peak_memory_mb']:.0f} MiB; full run about "
        f"{record['projected_train_hours']:.2f} h"
    )
    return record
