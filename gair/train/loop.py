"""The training loop: one run, one output folder, resumable at epoch boundaries.

Per step: the method's attack with the model in eval mode (as the paper's code does; in train
mode with ``attack_bn = train``), then its loss with the model in train mode, then one SGD
step. Statistics (loss, errors, kappa,
weights) accumulate on the device and are read once per epoch. After each epoch the loop
evaluates, writes ``last.pt`` (the resume point, holding every metrics row so far), then
``metrics.parquet``; ``best.pt`` and snapshots when due, and ``best_val.pt`` where the run
selects on a seeded part of its test points (``selection_points``) or withholds a validation
split of its training points (``val_split``). Each evaluated epoch also writes which
of the evaluated points were classified correctly (``points/epochNNNN.parquet``, merged into
``points.parquet`` when the run ends): the report pairs two runs, or two epochs of one run,
point by point. Running the same command again loads ``last.pt`` and continues from the next
epoch with the same data order and RNG streams.

Where each stretch of epochs was computed (:mod:`gair.provenance`: commit, torch, CUDA,
cuDNN, device, host) goes into ``run.json``, every checkpoint and the metrics' Parquet
metadata; a run resumed on other hardware or software logs a line saying so and starts a
new stretch.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from gair import provenance
from gair.data import dataset_info, selection_record
from gair.data.tensors import iterate_batches, iterate_mixed_batches
from gair.errors import CheckpointError, ConfigError, GairError, TrainingDiverged
from gair.io import holder, release, try_lock, write_json, write_parquet
from gair.methods import get_method
from gair.methods.core import AttackResult, Method, StepContext, StepOutput
from gair.models import model_title
from gair.paper.geometry import flatness
from gair.paper.robustness import natural_correct, pgd_correct
from gair.schedules import check_schedule, lr_at
from gair.spec import RunSpec
from gair.train.build import build_for, load_data, load_weights, resolve_device
from gair.train.checkpoint import load_checkpoint, save_checkpoint
from gair.train.optim import SGD

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: stopped on SIGTERM after the last completed epoch was saved


class Preempted(GairError):
    """SIGTERM arrived; the last completed epoch is on disk."""


class RunFolderBusy(GairError):
    """Another process holds the run folder's lock (it is training that run)."""


# Held while a process trains into the folder (gair.io.try_lock: released when it dies).
LOCK_FILE = "train.lock"


class _StopFlag:
    """Set by SIGTERM/SIGINT handlers; checked between steps (a Python bool, no device read)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.signal = signum


# ---------------------------------------------------------------------------- epoch statistics
class EpochStats:
    """Device-side accumulators for one epoch."""

    def __init__(self, n_train: int, steps: int, device: torch.device, n_labelled: int = 0) -> None:
        self.kappa = torch.full((n_train,), -1, dtype=torch.long, device=device)
        # Rows from n_labelled on are the pseudo-labelled pool (0: every row is labelled).
        self.n_labelled = n_labelled or n_train
        self.labelled_seen = torch.zeros((), dtype=torch.long, device=device)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.adv_wrong = torch.zeros((), dtype=torch.long, device=device)
        self.seen = torch.zeros((), dtype=torch.long, device=device)
        self.w_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.w_sq = torch.zeros((), dtype=torch.float64, device=device)
        self.w_min = torch.full((), math.inf, dtype=torch.float64, device=device)
        self.w_max = torch.full((), -math.inf, dtype=torch.float64, device=device)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.steps = steps

    def add(
        self,
        step: int,
        index: Tensor,
        y: Tensor,
        loss: Tensor,
        logits: Tensor,
        weights: Tensor,
        kappa: Tensor | None,
    ) -> None:
        n = y.shape[0]
        self.loss_sum += loss.detach().double() * n
        self.adv_wrong += (logits.argmax(1) != y).sum()
        self.seen += n
        self.labelled_seen += (index < self.n_labelled).sum()
        w = weights.detach().double()
        self.w_sum += w.sum()
        self.w_sq += (w * w).sum()
        self.w_min = torch.minimum(self.w_min, w.min())
        self.w_max = torch.maximum(self.w_max, w.max())
        if kappa is not None:
            self.kappa[index] = kappa
        bad = ~torch.isfinite(loss.detach())
        self.first_bad = torch.where(bad & (self.first_bad < 0), step, self.first_bad)

    def read(self) -> dict[str, Any]:
        """One host read of everything (the epoch's only synchronisation)."""
        total = int(self.seen.item())
        seen = max(total, 1)
        labelled = int(self.labelled_seen.item())
        measured = self.kappa[self.kappa >= 0]
        hist = torch.bincount(measured, minlength=self.steps + 1).cpu().tolist()
        if measured.numel():
            kf = measured.double()
            kappa_mean, kappa_median = float(kf.mean().item()), float(kf.median().item())
        else:
            kappa_mean = kappa_median = math.nan
        mean = float(self.w_sum.item()) / seen
        var = max(float(self.w_sq.item()) / seen - mean * mean, 0.0)
        return {
            "seen": seen,
            "labelled_seen": labelled,
            "pseudo_seen": total - labelled,
            "train_loss": float(self.loss_sum.item()) / seen,
            "step_adv_err": float(self.adv_wrong.item()) / seen,
            "kappa_mean": kappa_mean,
            "kappa_median": kappa_median,
            "kappa_hist": [int(v) for v in hist] if measured.numel() else [],
            "weight_mean": mean,
            "weight_std": math.sqrt(var),
            "weight_min": float(self.w_min.item()),
            "weight_max": float(self.w_max.item()),
            "first_bad_step": int(self.first_bad.item()),
        }


# ---------------------------------------------------------------------------- one step
def train_step(
    model: nn.Module,
    optimizer: SGD,
    method: Method,
    ctx: StepContext,
    x: Tensor,
    y: Tensor,
    amp: contextlib.AbstractContextManager[Any],
) -> tuple[AttackResult, StepOutput]:
    """One update: the method's attack in eval mode (``attack_bn = train``: in train mode, so
    that BatchNorm normalises by batch statistics and every forward of the attack moves its
    running statistics), its loss in train mode, one SGD step.

    Nothing is read back to the host; the caller accumulates statistics on the device.
    """
    with amp:
        model.train(ctx.spec.attack_bn == "train")
        att = method.attack(model, x, y, ctx)
        model.train()
        out = method.loss(model, x, y, att, ctx)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    optimizer.step()
    return att, out


# ---------------------------------------------------------------------------- the run
class Run:
    """Everything one training run holds between epochs."""

    def __init__(
        self, spec: RunSpec, out: Path, *, progress: bool | None = None, log: Any = None
    ) -> None:
        check_schedule(spec)
        self.method: Method = get_method(spec.method)
        self.spec = spec
        self.out = out
        self.log = log or (lambda msg: print(msg, flush=True))
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.device = resolve_device(spec.device)
        torch.backends.cudnn.benchmark = spec.cudnn_benchmark
        torch.manual_seed(spec.seed)
        self.data = load_data(spec, self.device)
        if self.method.needs_pool and not self.data.n_labelled:
            raise ConfigError(
                f"method {spec.method!r} trains on labelled and pseudo-labelled data, but "
                f"dataset {spec.dataset!r} has no pseudo-labelled pool: {self.method.needs_pool}"
            )
        self.model = build_for(spec, self.data, self.device)
        self.step_model: nn.Module = torch.compile(self.model) if spec.compile else self.model
        self.optimizer = self._optimizer()
        n_train = int(self.data.y_train.shape[0])
        init = self.method.init_state
        self.state: dict[str, Tensor] = init(n_train, self.device, spec) if init else {}
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": 0, "pgd20_acc": -1.0}
        self.best_val: dict[str, Any] = {"epoch": 0, "pgd20_acc": -1.0}  # held-out selection
        # The selection split (selection_points): positions among the evaluated test points.
        self.selection: dict[str, Any] | None = None
        self._selection_index: Tensor | None = None
        if spec.selection_points:
            n_eval = min(spec.evaluated_test_points, int(self.data.y_test.shape[0]))
            self.selection = selection_record(n_eval, spec.selection_points)
            self._selection_index = torch.tensor(
                self.selection["indices"], dtype=torch.long, device=self.device
            )
        self.epoch = 0
        self.iteration = 0
        self.provenance: list[dict[str, Any]] = []  # stretches of epochs (gair.provenance)
        self._epoch_kappa: Tensor | None = None  # the last epoch's per-sample kappa

    def _optimizer(self) -> SGD:
        s = self.spec
        if s.optimizer != "sgd":
            raise ConfigError(f"optimizer {s.optimizer!r} is unknown; valid optimizers are: sgd")
        return SGD(
            self.model.parameters(),
            lr=s.lr,
            momentum=s.momentum,
            weight_decay=s.weight_decay,
            nesterov=s.nesterov,
        )

    # ------------------------------------------------------------------ checkpoints
    def payload(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "spec": json.dumps(self.spec.to_dict(), sort_keys=True, default=str),
            "run": self.spec.run_name(),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "state": dict(self.state),
            "history": self.history,
            "best": dict(self.best),
            "best_val": dict(self.best_val),
            "provenance": list(self.provenance),
        }

    def restore(self, ckpt: dict[str, Any]) -> None:
        saved = RunSpec.from_dict(json.loads(ckpt["spec"]))
        if saved.identity() != self.spec.identity():
            diff = [k for k, v in self.spec.identity().items() if saved.identity().get(k) != v]
            key = diff[0] if diff else "?"
            raise CheckpointError(
                f"{self.out} holds run {saved.run_name()}, not {self.spec.run_name()} "
                f"({key}: saved {saved.identity().get(key)!r}, asked {getattr(self.spec, key)!r}); "
                "use another --out"
            )
        load_weights(self.model, ckpt["model"], source=self.out / "last.pt")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"]["cpu"])
        if "cuda" in ckpt["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        self.state = {k: v.to(self.device) for k, v in ckpt["state"].items()}
        self.history = list(ckpt["history"])
        self.best = dict(ckpt["best"])
        self.best_val = dict(ckpt.get("best_val", self.best_val))  # none in older checkpoints
        self.epoch = int(ckpt["epoch"])
        self.iteration = int(ckpt["iteration"])
        self.provenance = list(ckpt.get("provenance", []))  # none in older checkpoints

    # ------------------------------------------------------------------ one epoch
    def context(self, epoch: int, index: Tensor) -> StepContext:
        s = self.spec
        return StepContext(
            spec=s,
            epoch=epoch,
            tau=s.tau_at(epoch),
            lam=s.lam_at(epoch),
            reweighting=s.reweighting(epoch),
            index=index,
            state=self.state,
        )

    def epoch_batches(self, epoch: int) -> tuple[Any, int]:
        """The batches of ``epoch`` (RST's mixed batches where the data has a pseudo-labelled
        pool) and how many there are."""
        s, data = self.spec, self.data
        if data.n_labelled:
            batches = iterate_mixed_batches(
                data.x_train,
                data.y_train,
                n_labelled=data.n_labelled,
                batch_size=s.batch_size,
                unsup_fraction=s.unsup_fraction,
                seed=s.seed,
                epoch=epoch,
                augment_images=s.augment,
                pad=data.augment_pad,
                flip=data.augment_flip,
            )
            n_batches = math.ceil(data.n_labelled / s.batch_size)
        else:
            batches = iterate_batches(
                data.x_train,
                data.y_train,
                batch_size=s.batch_size,
                seed=s.seed,
                epoch=epoch,
                augment_images=s.augment and data.kind == "image",
                pad=data.augment_pad,
                flip=data.augment_flip,
            )
            n_batches = math.ceil(int(data.y_train.shape[0]) / s.batch_size)
        return batches, n_batches

    def amp(self) -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.spec.amp == "bf16"
        )

    def train_epoch(self, epoch: int, stop: _StopFlag) -> dict[str, Any]:
        s = self.spec
        data = self.data
        stats = EpochStats(int(data.y_train.shape[0]), s.steps, self.device, data.n_labelled)
        model = self.step_model
        amp = self.amp()
        batches, n_batches = self.epoch_batches(epoch)
        if self.method.before_epoch is not None:
            self.model.eval()
            self.method.before_epoch(
                self.model,
                data.x_train,
                data.y_train,
                self.context(epoch, torch.arange(0, device=self.device)),
            )
        bar = None
        if self.progress:
            bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{s.epochs}", leave=False)
        lr_first = lr_at(s, epoch, self.iteration)
        self._sync()
        t0 = time.perf_counter()
        for step, (index, x, y) in enumerate(batches):
            if stop.signal is not None:
                raise Preempted(f"stopped by signal {stop.signal} during epoch {epoch}")
            if s.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            lr = lr_at(s, epoch, self.iteration)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            ctx = self.context(epoch, index)
            att, out = train_step(model, self.optimizer, self.method, ctx, x, y, amp)
            stats.add(step, index, y, out.loss, out.logits_adv, out.weights, att.kappa)
            self.iteration += 1
            if bar is not None:
                bar.update(1)
        self._sync()
        train_s = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        row = stats.read()
        self._epoch_kappa = stats.kappa if s.save_kappa else None
        if row.pop("first_bad_step") >= 0 or not math.isfinite(row["train_loss"]):
            kept = (
                f"{self.out / 'last.pt'} keeps epoch {epoch - 1}"
                if epoch > 1
                else "no checkpoint was written"
            )
            raise TrainingDiverged(
                f"the training loss became NaN or infinite in epoch {epoch}, at step "
                f"{int(stats.first_bad.item()) + 1} of {n_batches}; {kept}"
            )
        row.update(
            {
                "epoch": epoch,
                "lr": lr_first,
                "tau": s.tau_at(epoch),
                "lam": s.lam_at(epoch),
                "reweighting": s.reweighting(epoch),
                "train_s": train_s,
                "images_per_s": row.pop("seen") / max(train_s, 1e-9),
            }
        )
        return row

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def evaluate_epoch(self, epoch: int) -> dict[str, Any]:
        """Errors of the model after ``epoch``, every one in eval mode on fixed points.

        Training points: the first ``train_eval_samples`` labelled training points, not
        augmented, under no attack (``train_nat_err``), the run's training budget (PGD-K at
        eps/alpha with its random start, ``train_adv_err``: the PGD-10 training error of
        Figs. 2, 5, 6) and PGD-20 at the test budget (``train_pgd20_err``, Fig. 4); the same
        points in the same mode for all three (App. A). Test points: natural and PGD-20; so
        are the validation split's points where the run withholds one (``val_nat_err``,
        ``val_pgd20_err``). Where the run has a selection split, its errors are those of the
        test points it holds (``sel_nat_err``, ``sel_pgd20_err``: no extra attack).
        """
        s = self.spec
        nan = math.nan
        row = {
            "train_nat_err": nan,
            "train_adv_err": nan,
            "train_pgd20_err": nan,
            "test_nat_err": nan,
            "test_pgd20_err": nan,
            "flat_friendly": nan,
            "flat_adv": nan,
        }
        if s.val_split:
            row |= {"val_nat_err": nan, "val_pgd20_err": nan}
        if self._selection_index is not None:
            row |= {"sel_nat_err": nan, "sel_pgd20_err": nan}
        t0 = time.perf_counter()
        due = epoch % s.eval_every == 0 or epoch == s.epochs or epoch in s.snapshots
        if not due:
            return row | {"eval_s": 0.0}
        model = self.model
        model.eval()
        test_budget = s.test_budget
        train_budget = {**s.train_budget, "random_start": s.random_start}

        def error(correct: Tensor) -> Tensor:
            return 1 - correct.double().mean()

        d = self.data
        # (split, attack) -> per-point correctness; the metrics column is <split>_<attack>_err
        correct: dict[tuple[str, str], Tensor] = {}
        n_test = s.eval_samples or int(d.y_test.shape[0])
        x, y = d.x_test[:n_test], d.y_test[:n_test]
        correct["test", "nat"] = natural_correct(model, x, y)
        correct["test", "pgd20"] = pgd_correct(model, x, y, **test_budget)
        if s.train_eval_samples:
            x_lab, y_lab = d.labelled()
            x, y = x_lab[: s.train_eval_samples], y_lab[: s.train_eval_samples]
            correct["train", "nat"] = natural_correct(model, x, y)
            correct["train", "adv"] = pgd_correct(model, x, y, **train_budget)
            correct["train", "pgd20"] = pgd_correct(model, x, y, **test_budget)
        if s.val_split:
            correct["val", "nat"] = natural_correct(model, d.x_val, d.y_val)
            correct["val", "pgd20"] = pgd_correct(model, d.x_val, d.y_val, **test_budget)
        values = {f"{split}_{attack}_err": error(c) for (split, attack), c in correct.items()}
        if self._selection_index is not None:
            for attack in ("nat", "pgd20"):
                values[f"sel_{attack}_err"] = error(correct["test", attack][self._selection_index])
        if s.flatness:
            n = s.flatness_samples
            values["flat_friendly"], values["flat_adv"] = flatness(
                model, d.x_test[:n], d.y_test[:n], **test_budget
            )
        row.update({k: float(v.item()) for k, v in values.items()})
        row["test_n"] = int(correct["test", "nat"].shape[0])
        row["train_n"] = int(correct["train", "nat"].shape[0]) if s.train_eval_samples else 0
        if s.val_split:
            row["val_n"] = int(correct["val", "nat"].shape[0])
        if self._selection_index is not None:
            row["sel_n"] = int(self._selection_index.shape[0])
        self.write_points(epoch, correct)
        row["eval_s"] = time.perf_counter() - t0
        return row

    # ------------------------------------------------------------------ outputs
    def write_metrics(self) -> None:
        import pandas as pd

        frame = pd.DataFrame(self.history)
        meta = {"gair.spec": json.dumps(self.spec.to_dict(), sort_keys=True, default=str)}
        if self.selection is not None:
            meta["gair_selection"] = json.dumps(self.selection)
        meta |= provenance.metadata(self.provenance)
        write_parquet(self.out / "metrics.parquet", frame, meta)

    def write_points(self, epoch: int, correct: dict[tuple[str, str], Tensor]) -> None:
        """One epoch's per-point correctness, long: epoch, split, attack, index, correct."""
        import pandas as pd

        parts = [
            pd.DataFrame(
                {
                    "epoch": np.full(c.shape[0], epoch, dtype=np.int32),
                    "split": split,
                    "attack": attack,
                    "index": np.arange(c.shape[0], dtype=np.int32),
                    "correct": c.cpu().numpy().astype(bool),
                }
            )
            for (split, attack), c in correct.items()
        ]
        write_parquet(self.out / "points" / f"epoch{epoch:04d}.parquet", pd.concat(parts))

    def write_kappa(self, epoch: int, kappa: Tensor) -> None:
        import pandas as pd

        part = pd.DataFrame(
            {
                "epoch": np.full(kappa.shape[0], epoch, dtype=np.int32),
                "index": np.arange(kappa.shape[0], dtype=np.int64),
                "label": self.data.y_train.cpu().numpy().astype(np.int16),
                "kappa": kappa.cpu().numpy().astype(np.int16),
            }
        )
        write_parquet(self.out / "kappa" / f"epoch{epoch:04d}.parquet", part)

    def merge_parts(self, name: str) -> None:
        """``<name>/epoch*.parquet`` (one file per epoch, kept for resuming) into
        ``<name>.parquet``."""
        import pandas as pd

        parts = sorted((self.out / name).glob("epoch*.parquet"))
        if parts:
            write_parquet(
                self.out / f"{name}.parquet", pd.concat([pd.read_parquet(p) for p in parts])
            )

    # ------------------------------------------------------------------ main loop
    def run(self) -> list[dict[str, Any]]:
        """Train (or resume) into the run folder, holding its lock throughout."""
        self.out.mkdir(parents=True, exist_ok=True)
        lock = self.out / LOCK_FILE
        fd = try_lock(lock)
        if fd is None:
            raise RunFolderBusy(
                f"run folder {str(self.out)!r} is being trained by another process "
                f"({holder(lock)}); wait for it to finish, or give this run another --out"
            )
        try:
            return self._run()
        finally:
            release(fd)

    def _run(self) -> list[dict[str, Any]]:
        s = self.spec
        last = self.out / "last.pt"
        if last.exists():
            try:
                ckpt = load_checkpoint(last)
            except CheckpointError as err:
                raise CheckpointError(
                    f"{err}; this run cannot resume from it: delete it to train the run again "
                    "from epoch 1, or restore it from a copy"
                ) from None
            self.restore(ckpt)
            if self.epoch >= s.epochs:
                self.log(f"{s.run_name()}: complete ({self.epoch} epochs)")
                self.write_metrics()
                return self.history
            self.log(f"{s.run_name()}: resuming after epoch {self.epoch}")
        here = provenance.collect(self.device)
        self.provenance, moved = provenance.extend(self.provenance, here, self.epoch + 1)
        if moved:
            self.log(f"{s.run_name()}: {moved}")
        d = self.data
        write_json(
            self.out / "run.json",
            {
                "name": s.run_name(),
                "digest": s.digest(),
                "spec": s.to_dict(),
                "n_labelled": int(d.labelled()[1].shape[0]),
                "n_pseudo": d.n_pseudo,
                "pool_source": d.pool_source,
                "selection": self.selection,
                "provenance": self.provenance,
            },
        )
        stop = _StopFlag()
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM,)}
        try:
            for epoch in range(self.epoch + 1, s.epochs + 1):
                row = self.train_epoch(epoch, stop)
                kappa = self._epoch_kappa
                row |= self.evaluate_epoch(epoch)
                row |= {
                    "method": s.method,
                    "method_title": self.method.info.display,  # says "interpretation" where so
                    "model_title": model_title(s.model, s.depth, s.width),
                    "dataset_title": dataset_info(s.dataset).title,
                    "amp": s.amp,
                    "channels_last": s.channels_last,
                    "compile": s.compile,
                    "cudnn_benchmark": s.cudnn_benchmark,
                }
                self.history.append(row)
                self.epoch = epoch
                self._log_row(row)
                self._save(epoch, row)
                if s.save_kappa and kappa is not None:
                    self.write_kappa(epoch, kappa)
                if stop.signal is not None:
                    raise Preempted(f"stopped by signal {stop.signal} after epoch {epoch}")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if s.save_kappa:
            self.merge_parts("kappa")
        self.merge_parts("points")
        return self.history

    def _save(self, epoch: int, row: dict[str, Any]) -> None:
        """Checkpoints after ``epoch``: best.pt where its PGD-20 accuracy on every evaluated
        test point is the best so far within the best window (the paper's rule); best_val.pt
        likewise by the PGD-20 accuracy of the selection split's test points (or of the
        validation split's training points), in the same window, so that the two differ only
        in the points that choose; snapshots; last.pt; then the metrics."""
        s = self.spec
        better = self._better(self.best, epoch, row["test_pgd20_err"])
        row["best_epoch"] = self.best["epoch"]  # what best.pt holds after this epoch (0: none)
        chooser = "val_pgd20_err" if s.val_split else "sel_pgd20_err" if self.selection else ""
        better_val = bool(chooser) and self._better(self.best_val, epoch, row[chooser])
        if chooser:
            row["best_val_epoch"] = self.best_val["epoch"]
        payload = self.payload()
        if better:
            save_checkpoint(self.out / "best.pt", payload)
        if better_val:
            save_checkpoint(self.out / "best_val.pt", payload)
        if epoch in s.snapshots:
            save_checkpoint(self.out / f"epoch{epoch}.pt", payload)
        save_checkpoint(self.out / "last.pt", payload)
        self.write_metrics()

    def _better(self, best: dict[str, Any], epoch: int, error: float) -> bool:
        """Whether ``epoch``, in the best window, beats ``best`` (updated in place) on the
        PGD-20 accuracy ``1 - error``; the first of equal epochs is kept."""
        acc = 1 - error
        better = self.spec.in_best_window(epoch) and math.isfinite(acc) and acc > best["pgd20_acc"]
        if better:
            best.update(epoch=epoch, pgd20_acc=acc)
        return better

    def _log_row(self, row: dict[str, Any]) -> None:
        self.log(
            f"epoch {row['epoch']:>3}/{self.spec.epochs} lr {row['lr']:.4g} "
            f"loss {row['train_loss']:.4f} step-adv-err {row['step_adv_err']:.3f} "
            f"test nat-err {row['test_nat_err']:.3f} pgd20-err {row['test_pgd20_err']:.3f} "
            f"kappa {row['kappa_mean']:.2f} w[{row['weight_min']:.2f},{row['weight_max']:.2f}] "
            f"{row['images_per_s']:.0f} img/s"
        )


def train(spec: RunSpec, out: str | Path, *, progress: bool | None = None) -> list[dict[str, Any]]:
    """Train (or resume) the run described by ``spec`` into ``out``; returns the metrics rows."""
    return Run(spec, Path(out), progress=progress).run()
