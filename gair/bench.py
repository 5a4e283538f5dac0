"""``python -m gair bench``: throughput of the training step, the attack and PGD-20 evaluation.

On random data of a given shape, for one model, method, batch size and device, this measures
images/s of

- the full training step (the method's attack in eval mode, its loss in train mode, one SGD
  step, the device-side epoch statistics), exactly as ``gair.train.loop`` runs it;
- the attack alone;
- PGD-20 evaluation (``gair.paper.robustness.pgd_correct``);
- early-stopped PGD-K-tau (Algorithm 3) masked and compacted, with a check that both give the
  same points and kappa;

and FLOPs per image (``torch.utils.flop_counter.FlopCounterMode``) of one forward pass and of
the training step, and on CUDA the fraction of the device's peak.

For GA-PGD methods (Algorithm 1: ``at``, ``gairat``, ``mart`` and its variants) the same step
is also run the straightforward way, in the same process and interleaved with ours so that
background load hits both alike: kappa counted by a Python loop over the batch (one host read
per element per step), the attack's backward pass through the whole graph (parameter gradients
included), a host-side random start, fp32 eager, and the loss read back once per batch. The
ratio ours/reference is printed, and both attacks are run from the same random start on the
same input to check that their kappa is identical.

Timing uses CUDA events on a GPU and ``time.perf_counter`` otherwise; warm-up iterations are
excluded and the median of the timed repeats is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.methods import get_method
from gair.methods.core import AttackResult, Method, StepContext, ga_pgd_attack
from gair.paper import attacks
from gair.spec import RunSpec
from gair.train.loop import train_step as gair_train_step
from gair.train.optim import SGD

EVAL_STEPS = 20

# Dense peak TFLOP/s by device name: (pattern, label, bf16 tensor, tf32 tensor, fp32 non-tensor).
# From NVIDIA's product datasheets; their tensor figures are quoted "with sparsity", and the
# dense rate used here is half of that. The first pattern that matches the CUDA device name wins.
PEAK_SOURCE = (
    "NVIDIA datasheets (H100, H200, A100, L40S, A10); dense tensor rates = half the quoted "
    "sparse rates; fp32 = non-tensor CUDA-core rate"
)
PEAK_TABLE: tuple[tuple[str, str, float, float, float], ...] = (
    (r"H100.*NVL", "H100 NVL", 835.0, 417.5, 60.0),
    (r"H100.*PCIe", "H100 PCIe", 756.0, 378.0, 51.0),
    (r"H100", "H100 SXM", 989.4, 494.7, 66.9),
    (r"H200.*NVL", "H200 NVL", 835.0, 417.5, 60.0),
    (r"H200", "H200 SXM", 989.4, 494.7, 66.9),
    (r"A100", "A100", 312.0, 156.0, 19.5),
    (r"L40S", "L40S", 362.1, 183.0, 91.6),
    (r"\bA10\b", "A10", 125.0, 62.5, 31.2),
)


# ---------------------------------------------------------------------------- peaks
def peak_tflops(device_name: str) -> dict[str, Any] | None:
    """Dense peak TFLOP/s of a CUDA device by name (``torch.cuda.get_device_name``), or None."""
    for pattern, label, bf16, tf32, fp32 in PEAK_TABLE:
        if re.search(pattern, device_name):
            return {"label": label, "bf16": bf16, "tf32": tf32, "fp32": fp32}
    return None


def step_precision(amp: str) -> str:
    """The arithmetic the convolutions of a step run in: bf16 under autocast, TF32 when cuDNN
    may use it for fp32 convolutions (PyTorch's default), else fp32."""
    if amp == "bf16":
        return "bf16"
    return "tf32" if torch.backends.cudnn.allow_tf32 else "fp32"


# ---------------------------------------------------------------------------- timing
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes: CUDA events on a GPU, perf_counter otherwise."""
    if device.type == "cuda":
        _synchronize(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    _synchronize(device)
    t0 = time.perf_counter()
    fn()
    _synchronize(device)
    return time.perf_counter() - t0


def time_interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, *, iters: int, warmup: int
) -> dict[str, list[float]]:
    """Time each function ``warmup + iters`` times, round-robin, keeping the last ``iters``.

    Interleaving (and reversing the order every other round) spreads background load and
    clock changes evenly over the variants being compared.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for i in range(warmup + iters):
        for name in names if i % 2 == 0 else reversed(names):
            seconds = time_once(fns[name], device)
            if i >= warmup:
                times[name].append(seconds)
    return times


def _rate(batch: int, seconds: list[float]) -> dict[str, float]:
    median = statistics.median(seconds)
    return {"images_per_s": batch / median, "median_s": median}


# ---------------------------------------------------------------------------- the reference
def reference_ga_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    start: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """GA-PGD (Algorithm 1) written the straightforward way, as the authors' code is.

    The random start is drawn on the host and copied over; each step backpropagates the mean
    cross-entropy through the whole graph (filling parameter gradients the attack never uses)
    and counts kappa with a Python loop over the batch, one host read per element. Returns
    ``(x_adv, kappa)`` with kappa a float tensor on the CPU. ``start`` replaces the random
    start (to compare with :func:`gair.paper.attacks.ga_pgd` from the same point).
    """
    if start is None:
        noise = torch.empty(x.shape, dtype=x.dtype).uniform_(-eps, eps)
        start = (x + noise.to(x.device)).clamp(0.0, 1.0)
    kappa = torch.zeros(len(x))
    x_adv = start.detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            logits = model(x_adv)
            pred = logits.max(1, keepdim=True)[1]
            for i in range(len(x_adv)):
                if (pred[i] == y[i]).item():
                    kappa[i] += 1
            model.zero_grad()
            F.cross_entropy(logits, y).backward()
        x_adv = x_adv.detach() + alpha * x_adv.grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach(), kappa


def reference_train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    method: Method,
    ctx: StepContext,
    x: Tensor,
    y: Tensor,
) -> float:
    """One training step the straightforward way: :func:`reference_ga_pgd`, kappa copied to
    the device, the method's loss, the loss read back to the host, backward, SGD step."""
    s = ctx.spec
    model.eval()
    x_adv, kappa = reference_ga_pgd(model, x, y, eps=s.eps, alpha=s.alpha, steps=s.steps)
    model.train()
    optimizer.zero_grad()
    out = method.loss(model, x, y, AttackResult(x_adv, kappa.to(x.device)), ctx)
    value = out.loss.item()  # a running loss sum on the host, one read per batch
    out.loss.backward()
    optimizer.step()
    return value


# ---------------------------------------------------------------------------- our step
def measured_step(
    model: nn.Module,
    optimizer: SGD,
    method: Method,
    ctx: StepContext,
    stats: Any,
    x: Tensor,
    y: Tensor,
    amp: contextlib.AbstractContextManager,
    step: int = 0,
) -> None:
    """One step of ``gair.train.loop``'s loop (its own ``train_step``) plus its statistics."""
    att, out = gair_train_step(model, optimizer, method, ctx, x, y, amp)
    stats.add(step, ctx.index, y, out.loss, out.logits_adv, out.weights, att.kappa)


# ---------------------------------------------------------------------------- FLOPs
class _GlobalOnly:
    """Stands in for FlopCounterMode's per-module tracker: its backward hooks make
    ``torch.autograd.grad`` fail (pytorch/pytorch#131753), and only the total is needed."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matrix products and convolutions ``fn`` runs (FlopCounterMode's count)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    if hasattr(counter, "mod_tracker"):
        counter.mod_tracker = _GlobalOnly()
    with counter:
        fn()
    return int(counter.get_total_flops())


# ---------------------------------------------------------------------------- setup
def parse_shape(text: str) -> tuple[int, ...]:
    """``3x32x32`` -> (3, 32, 32) for images, ``2`` -> (2,) for feature vectors."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in (1, 3) or any(d < 1 for d in shape):
        raise ConfigError(
            f"dataset shape {text!r} is invalid; valid forms are CxHxW (e.g. 3x32x32) or D"
        )
    if len(shape) == 3 and shape[1] != shape[2]:
        raise ConfigError(f"dataset shape {text!r} is invalid: images must be square (H == W)")
    return shape


def _positive(name: str, value: int, least: int = 1) -> None:
    if value < least:
        raise ConfigError(f"{name} = {value!r} is invalid: it must be an integer >= {least}")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------- the benchmark
def bench(
    model: str = "smallcnn",
    method: str = "gairat",
    *,
    batch_size: int = 128,
    device: str = "cpu",
    steps: int = 10,
    shape: tuple[int, ...] = (3, 32, 32),
    classes: int = 10,
    iters: int = 5,
    warmup: int = 1,
    amp: str = "none",
    channels_last: bool = False,
    compile: bool = False,
    cudnn_benchmark: bool = False,
    tau: int = 0,
    threads: int = 0,
    seed: int = 0,
    depth: int | None = None,
    width: int | None = None,
) -> dict[str, Any]:
    """Run every measurement once and return the results as a JSON-ready dictionary.

    ``depth`` and ``width`` are the model's shape settings as in the run spec (e.g. 32 and 10
    for WRN-32-10); None keeps the model's default.
    """
    from gair.train.build import resolve_device

    _positive("batch_size", batch_size)
    _positive("steps", steps)
    _positive("classes", classes, 2)
    _positive("iters", iters)
    _positive("warmup", warmup, 0)
    _positive("tau", tau, 0)
    _positive("threads", threads, 0)
    if amp not in ("none", "bf16"):
        raise ConfigError(f"amp {amp!r} is invalid; valid values are: none, bf16")
    dev = resolve_device(device)
    cudnn_before = torch.backends.cudnn.benchmark
    try:
        with _threads(threads):
            return _bench(
                model, method, batch_size, dev, steps, shape, classes, iters, warmup, amp,
                channels_last, compile, cudnn_benchmark, tau, seed, depth, width,
            )  # fmt: skip
    finally:
        torch.backends.cudnn.benchmark = cudnn_before


def _bench(
    model_name: str,
    method_name: str,
    batch: int,
    dev: torch.device,
    steps: int,
    shape: tuple[int, ...],
    classes: int,
    iters: int,
    warmup: int,
    amp: str,
    channels_last: bool,
    compile: bool,
    cudnn_benchmark: bool,
    tau: int,
    seed: int,
    depth: int | None,
    width: int | None,
) -> dict[str, Any]:
    from gair.models import build_model
    from gair.train.loop import EpochStats

    meth = get_method(method_name)
    image = len(shape) == 3
    # The dataset is nominal (the bench feeds random data of `shape`); the spec carries the
    # method's settings.
    spec = RunSpec(
        dataset="cifar10" if image else "moons", model=model_name, method=method_name,
        epochs=1, seed=seed,
        batch_size=batch, steps=steps, amp=amp, channels_last=channels_last, compile=compile,
        tau_values=[tau], device=str(dev), depth=depth, width=width,
    )  # fmt: skip
    if cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(seed)
    base = build_model(
        model_name, in_channels=shape[0], num_classes=classes, depth=depth, width=width,
        input_size=shape[-1] if image else 32,
    ).to(dev)  # fmt: skip
    x = torch.rand((batch, *shape), device=dev)
    y = torch.randint(0, classes, (batch,), device=dev)
    index = torch.arange(batch, device=dev)

    def context() -> StepContext:
        state = meth.init_state(batch, dev, spec) if meth.init_state else {}
        return StepContext(
            spec=spec, epoch=1, tau=tau, lam=spec.lam_at(1), reweighting=spec.reweighting(1),
            index=index, state=state,
        )  # fmt: skip

    # Ours: the training loop's SGD (gair/train/optim.py); the reference: torch.optim.SGD.
    def sgd(m: nn.Module, ours: bool) -> Any:
        cls = SGD if ours else torch.optim.SGD
        return cls(
            m.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
        )

    # Ours: the options asked for. The reference: fp32, eager, contiguous (the authors' setup).
    ours_model = copy.deepcopy(base)
    x_ours = x
    if channels_last and image:
        ours_model = ours_model.to(memory_format=torch.channels_last)
        x_ours = x.contiguous(memory_format=torch.channels_last)
    step_model: nn.Module = torch.compile(ours_model) if compile else ours_model
    ref_model = copy.deepcopy(base)
    ours_opt, ref_opt = sgd(ours_model, True), sgd(ref_model, False)
    ours_ctx, ref_ctx = context(), context()
    stats = EpochStats(batch, steps, dev)

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp == "bf16")

    has_reference = meth.attack is ga_pgd_attack and spec.attack_loss == "ce"
    timer = {"iters": iters, "warmup": warmup}

    # -- training step
    fns: dict[str, Callable[[], object]] = {
        "ours": lambda: measured_step(
            step_model, ours_opt, meth, ours_ctx, stats, x_ours, y, autocast()
        )
    }
    if has_reference:
        fns["reference"] = lambda: reference_train_step(ref_model, ref_opt, meth, ref_ctx, x, y)
    t_train = time_interleaved(fns, dev, **timer)

    # -- attack alone (both models in eval mode, as in the training step)
    step_model.eval()
    ref_model.eval()

    def ours_attack() -> None:
        with autocast():
            meth.attack(step_model, x_ours, y, ours_ctx)

    fns = {"ours": ours_attack}
    if has_reference:
        fns["reference"] = lambda: reference_ga_pgd(
            ref_model, x, y, eps=spec.eps, alpha=spec.alpha, steps=steps
        )
    t_attack = time_interleaved(fns, dev, **timer)

    # -- PGD-20 evaluation
    from gair.paper.robustness import pgd_correct

    def evaluation() -> None:
        with autocast():
            pgd_correct(
                step_model, x_ours, y, eps=spec.test_eps, alpha=spec.test_alpha,
                steps=EVAL_STEPS, batch_size=batch,
            )  # fmt: skip

    t_eval = time_interleaved({"ours": evaluation}, dev, **timer)

    # -- early-stopped PGD-K-tau, masked vs compacted
    def early(compact: bool, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        with autocast():
            return attacks.early_stopped_pgd(
                step_model, x_ours, y, eps=spec.eps, alpha=spec.alpha, steps=steps, tau=tau,
                compact=compact, generator=generator,
            )  # fmt: skip

    t_early = time_interleaved(
        {"masked": lambda: early(False), "compact": lambda: early(True)}, dev, **timer
    )
    masked = early(False, torch.Generator(dev).manual_seed(seed + 1))
    compacted = early(True, torch.Generator(dev).manual_seed(seed + 1))
    early_identical = all(torch.equal(a, b) for a, b in zip(masked, compacted, strict=True))

    # -- identical kappa: our GA-PGD and the reference from the same start, fp32 eager.
    check = _kappa_check(copy.deepcopy(base).eval(), x, y, spec, seed) if has_reference else None

    # -- FLOPs (eager copies, so that counting does not disturb the timed models)
    flop_model = copy.deepcopy(base).eval()
    with torch.no_grad():
        forward_flops = count_flops(lambda: flop_model(x))
    step_copy = copy.deepcopy(base)
    step_flops = count_flops(
        lambda: measured_step(
            step_copy, sgd(step_copy, True), meth, context(), EpochStats(batch, steps, dev), x, y,
            contextlib.nullcontext(),
        )
    )  # fmt: skip
    ref_flops = None
    if has_reference:
        ref_copy = copy.deepcopy(base)
        ref_flops = count_flops(
            lambda: reference_train_step(ref_copy, sgd(ref_copy, False), meth, context(), x, y)
        )

    train = _compare(batch, t_train)
    result: dict[str, Any] = {
        "config": {
            "model": model_name, "depth": depth, "width": width, "method": method_name,
            "batch_size": batch, "device": str(dev),
            "device_name": _device_name(dev), "steps": steps, "dataset_shape": list(shape),
            "classes": classes, "iters": iters, "warmup": warmup, "amp": amp,
            "channels_last": channels_last, "compile": compile,
            "cudnn_benchmark": cudnn_benchmark, "tau": tau, "seed": seed,
            "threads": torch.get_num_threads(), "torch": torch.__version__,
        },
        "timing": {
            "clock": "cuda_events" if dev.type == "cuda" else "perf_counter",
            "statistic": "median", "iters": iters, "warmup": warmup,
        },
        "reference": (
            "per-element kappa loop with one host read per element per step, attack backward "
            "through parameters, host-side random start, loss read per batch, fp32 eager"
            if has_reference else None
        ),
        "train_step": train,
        "attack": _compare(batch, t_attack),
        "pgd20_eval": _rate(batch, t_eval["ours"]),
        "early_stopped_pgd": {
            "tau": tau,
            "masked": _rate(batch, t_early["masked"]),
            "compact": _rate(batch, t_early["compact"]),
            "speedup": statistics.median(t_early["masked"]) / statistics.median(t_early["compact"]),
            "identical": early_identical,
            "kappa_mean": float(masked[1].double().mean().item()),
        },
        "kappa_check": check,
        "flops": {
            "forward_per_image": forward_flops / batch,
            "train_step_per_image": step_flops / batch,
            "reference_train_step_per_image": None if ref_flops is None else ref_flops / batch,
        },
        "peak": _peak(dev, amp, step_flops / batch, train["images_per_s"]),
    }  # fmt: skip
    return result


def _compare(batch: int, times: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = dict(_rate(batch, times["ours"]))
    if "reference" in times:
        ref = _rate(batch, times["reference"])
        out["reference_images_per_s"] = ref["images_per_s"]
        out["reference_median_s"] = ref["median_s"]
        out["speedup"] = ref["median_s"] / out["median_s"]
    else:
        out |= {"reference_images_per_s": None, "reference_median_s": None, "speedup": None}
    return out


def _kappa_check(model: nn.Module, x: Tensor, y: Tensor, spec: RunSpec, seed: int) -> dict:
    """Run both GA-PGDs from one random start. Half of the labels are set to the model's own
    clean prediction so that the check sees kappa values between 0 and K, not only the two
    ends that random labels on a random network give."""
    with torch.no_grad():
        pred = model(x).argmax(1)
    labels = y.clone()
    half = x.shape[0] // 2
    labels[:half] = pred[:half]
    budget = {"eps": spec.eps, "alpha": spec.alpha, "steps": spec.steps}
    ours_gen = torch.Generator(x.device).manual_seed(seed + 2)
    x_ours, k_ours = attacks.ga_pgd(model, x, labels, generator=ours_gen, **budget)
    start = attacks.random_start(x, spec.eps, torch.Generator(x.device).manual_seed(seed + 2))
    x_ref, k_ref = reference_ga_pgd(model, x, labels, start=start, **budget)
    k_ours = k_ours.cpu()
    return {
        "identical_kappa": bool(torch.equal(k_ours, k_ref.long())),
        "identical_x_adv": bool(torch.equal(x_ours, x_ref)),
        "kappa_mean": float(k_ours.double().mean().item()),
        "kappa_distinct": int(k_ours.unique().numel()),
    }


def _peak(dev: torch.device, amp: str, flops_per_image: float, images_per_s: float) -> dict:
    achieved = flops_per_image * images_per_s / 1e12
    out: dict[str, Any] = {"achieved_tflops": achieved, "source": PEAK_SOURCE}
    table = peak_tflops(torch.cuda.get_device_name(dev)) if dev.type == "cuda" else None
    if table is None:
        return out | {"device": "unknown", "precision": None, "peak_tflops": "unknown",
                      "fraction_of_peak": "unknown"}  # fmt: skip
    precision = step_precision(amp)
    peak = table[precision]
    return out | {
        "device": table["label"],
        "precision": precision,
        "peak_tflops": peak,
        "fraction_of_peak": achieved / peak,
    }


# ---------------------------------------------------------------------------- output
def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _flops(value: float) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}FLOP"
    return f"{value:.3g} FLOP"


def _speed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def format_report(r: dict[str, Any]) -> str:
    """The human-readable table printed without ``--json``."""
    c = r["config"]
    shape = "x".join(str(d) for d in c["dataset_shape"])
    options = ", ".join(
        name for name, on in (("channels-last", c["channels_last"]), ("compile", c["compile"]),
                              ("cudnn.benchmark", c["cudnn_benchmark"])) if on
    ) or "eager"  # fmt: skip
    shape_args = [f"{k} {c[k]}" for k in ("depth", "width") if c[k] is not None]
    model = c["model"] + (f" ({', '.join(shape_args)})" if shape_args else "")
    lines = [
        f"gair bench: {model} / {c['method']}, batch {c['batch_size']}, K = {c['steps']}, "
        f"{shape}, {c['classes']} classes",
        f"device: {c['device']} ({c['device_name']}), {c['threads']} threads, "
        f"amp {c['amp']}, {options}, torch {c['torch']}",
        f"timing: {r['timing']['clock']}, median of {c['iters']} after {c['warmup']} warm-up",
        "",
        f"{'':<28}{'ours img/s':>12}{'reference img/s':>18}{'ours/ref':>10}",
    ]
    for label, key in (("training step", "train_step"), ("attack alone", "attack")):
        row = r[key]
        lines.append(
            f"{label:<28}{_num(row['images_per_s']):>12}"
            f"{_num(row['reference_images_per_s']):>18}{_speed(row['speedup']):>10}"
        )
    lines.append(f"{'PGD-20 evaluation':<28}{_num(r['pgd20_eval']['images_per_s']):>12}")
    e = r["early_stopped_pgd"]
    lines += [
        "",
        f"early-stopped PGD-{c['steps']}-{e['tau']}: masked "
        f"{_num(e['masked']['images_per_s'])} img/s, compact "
        f"{_num(e['compact']['images_per_s'])} img/s, compact/masked {_speed(e['speedup'])}, "
        f"identical results: {'yes' if e['identical'] else 'no'}",
    ]
    k = r["kappa_check"]
    if k is None:
        lines.append("identical kappa: n/a (the method's attack is not GA-PGD)")
    else:
        lines.append(
            f"identical kappa: {'yes' if k['identical_kappa'] else 'no'} (x_adv identical: "
            f"{'yes' if k['identical_x_adv'] else 'no'}; kappa mean {k['kappa_mean']:.2f}, "
            f"{k['kappa_distinct']} distinct values)"
        )
    f = r["flops"]
    ref = f["reference_train_step_per_image"]
    lines.append(
        f"FLOPs per image: forward {_flops(f['forward_per_image'])}, training step "
        f"{_flops(f['train_step_per_image'])}"
        + ("" if ref is None else f" (reference {_flops(ref)})")
    )
    p = r["peak"]
    if p["fraction_of_peak"] == "unknown":
        lines.append(
            f"achieved {p['achieved_tflops']:.3f} TFLOP/s; fraction of peak: unknown "
            "(no peak on record for this device)"
        )
    else:
        lines.append(
            f"achieved {p['achieved_tflops']:.2f} TFLOP/s = {100 * p['fraction_of_peak']:.1f}% "
            f"of {p['device']} dense {p['precision']} peak {p['peak_tflops']} TFLOP/s "
            f"({p['source']})"
        )
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair bench",
        description="Measure training-step, attack and PGD-20 throughput against a "
        "straightforward reference, on random data.",
    )
    parser.add_argument("--model", default="smallcnn")
    parser.add_argument("--depth", type=int, help="model depth (e.g. 32 for WRN-32-10)")
    parser.add_argument("--width", type=int, help="model width (e.g. 10 for WRN-32-10)")
    parser.add_argument("--method", default="gairat")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--steps", type=int, default=10, help="attack steps K")
    parser.add_argument("--dataset-shape", default="3x32x32", help="CxHxW, or D for vectors")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--iters", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repeats first")
    parser.add_argument("--amp", default="none", choices=("none", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile our model")
    parser.add_argument("--cudnn-benchmark", action="store_true")
    parser.add_argument("--tau", type=int, default=0, help="tau of the early-stopped PGD")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = bench(
        args.model, args.method, batch_size=args.batch_size, device=args.device,
        steps=args.steps, shape=parse_shape(args.dataset_shape), classes=args.classes,
        iters=args.iters, warmup=args.warmup, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, cudnn_benchmark=args.cudnn_benchmark, tau=args.tau,
        threads=args.threads, seed=args.seed, depth=args.depth, width=args.width,
    )  # fmt: skip
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(format_report(result))
    return 0


__all__ = [
    "PEAK_SOURCE",
    "PEAK_TABLE",
    "bench",
    "count_flops",
    "format_report",
    "measured_step",
    "parse_shape",
    "peak_tflops",
    "reference_ga_pgd",
    "reference_train_step",
    "step_precision",
    "time_interleaved",
    "time_once",
]
