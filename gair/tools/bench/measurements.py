"""The benchmark's measurements, one function each, on one :class:`Setup` built from a
:class:`~gair.tools.bench.config.BenchConfig`; :func:`run` takes them in order and returns the
JSON-ready result."""

from __future__ import annotations

import contextlib
import copy
import platform
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gair.methods import get_method
from gair.methods.core import Method, StepContext, ga_pgd_attack
from gair.models import build_model
from gair.paper import attacks
from gair.paper.robustness import pgd_correct
from gair.spec import RunSpec
from gair.tools.bench.config import BenchConfig
from gair.tools.bench.flops import count_flops, peak
from gair.tools.bench.reference import reference_ga_pgd, reference_train_step
from gair.tools.bench.timing import compare, rate, time_interleaved
from gair.train.build import resolve_device
from gair.train.loop import EpochStats, train_step
from gair.train.optim import SGD

EVAL_STEPS = 20


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
    """One step of the training loop (:func:`gair.train.loop.train_step`) plus its statistics."""
    att, out = train_step(model, optimizer, method, ctx, x, y, amp)
    stats.add(step, ctx.index, y, out.loss, out.logits_adv, out.weights, att.kappa)


# ---------------------------------------------------------------------------- the setup
@dataclass
class Setup:
    """Everything the measurements share: one base model copied for ours (with the options
    asked for) and for the reference (fp32, eager, contiguous: the authors' setup), random
    data of the configured shape, and a step context per side."""

    config: BenchConfig
    device: torch.device
    method: Method
    spec: RunSpec
    base: nn.Module
    x: Tensor
    y: Tensor
    index: Tensor
    ours_model: nn.Module
    step_model: nn.Module
    x_ours: Tensor
    ref_model: nn.Module
    ours_opt: Any
    ref_opt: Any
    ours_ctx: StepContext
    ref_ctx: StepContext
    stats: EpochStats

    @property
    def has_reference(self) -> bool:
        """Whether the method's attack is GA-PGD (Algorithm 1), which the reference writes."""
        return self.method.attack is ga_pgd_attack and self.spec.attack_loss == "ce"

    @property
    def timer(self) -> dict[str, int]:
        return {"iters": self.config.iters, "warmup": self.config.warmup}

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.config.amp == "bf16"
        )


def context(method: Method, spec: RunSpec, index: Tensor, device: torch.device) -> StepContext:
    """A step context of epoch 1 for the bench's batch."""
    state = method.init_state(index.shape[0], device, spec) if method.init_state else {}
    return StepContext(
        spec=spec, epoch=1, tau=spec.tau_values[0], lam=spec.lam_at(1),
        reweighting=spec.reweighting(1), index=index, state=state,
    )  # fmt: skip


def sgd(model: nn.Module, spec: RunSpec, ours: bool) -> Any:
    """Ours: the training loop's SGD (gair.train.optim); the reference: torch.optim.SGD."""
    cls = SGD if ours else torch.optim.SGD
    return cls(
        model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


def prepare(config: BenchConfig, device: torch.device) -> Setup:
    c = config
    method = get_method(c.method)
    # The dataset is nominal (the bench feeds random data of the shape); the spec carries
    # the method's settings.
    spec = RunSpec(
        dataset="cifar10" if c.image else "moons", model=c.model, method=c.method, epochs=1,
        seed=c.seed, batch_size=c.batch_size, steps=c.steps, amp=c.amp,
        channels_last=c.channels_last, compile=c.compile, tau_values=[c.tau], device=str(device),
        depth=c.depth, width=c.width,
    )  # fmt: skip
    if c.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(c.seed)
    base = build_model(
        c.model, in_channels=c.shape[0], num_classes=c.classes, depth=c.depth, width=c.width,
        input_size=c.shape[-1] if c.image else 32,
    ).to(device)  # fmt: skip
    x = torch.rand((c.batch_size, *c.shape), device=device)
    y = torch.randint(0, c.classes, (c.batch_size,), device=device)
    index = torch.arange(c.batch_size, device=device)
    ours_model, x_ours = copy.deepcopy(base), x
    if c.channels_last and c.image:
        ours_model = ours_model.to(memory_format=torch.channels_last)
        x_ours = x.contiguous(memory_format=torch.channels_last)
    step_model: nn.Module = torch.compile(ours_model) if c.compile else ours_model
    ref_model = copy.deepcopy(base)
    return Setup(
        config=c, device=device, method=method, spec=spec, base=base, x=x, y=y, index=index,
        ours_model=ours_model, step_model=step_model, x_ours=x_ours, ref_model=ref_model,
        ours_opt=sgd(ours_model, spec, True), ref_opt=sgd(ref_model, spec, False),
        ours_ctx=context(method, spec, index, device), ref_ctx=context(method, spec, index, device),
        stats=EpochStats(c.batch_size, c.steps, device),
    )  # fmt: skip


# ---------------------------------------------------------------------------- measurements
def measure_train_step(s: Setup) -> dict[str, list[float]]:
    """The training step: ours against the reference step, interleaved."""
    fns: dict[str, Callable[[], object]] = {
        "ours": lambda: measured_step(
            s.step_model, s.ours_opt, s.method, s.ours_ctx, s.stats, s.x_ours, s.y, s.autocast()
        )
    }
    if s.has_reference:
        fns["reference"] = lambda: reference_train_step(
            s.ref_model, s.ref_opt, s.method, s.ref_ctx, s.x, s.y
        )
    return time_interleaved(fns, s.device, **s.timer)


def measure_attack(s: Setup) -> dict[str, list[float]]:
    """The attack alone, both models in eval mode as in the training step."""
    s.step_model.eval()
    s.ref_model.eval()

    def ours() -> None:
        with s.autocast():
            s.method.attack(s.step_model, s.x_ours, s.y, s.ours_ctx)

    fns: dict[str, Callable[[], object]] = {"ours": ours}
    if s.has_reference:
        fns["reference"] = lambda: reference_ga_pgd(
            s.ref_model, s.x, s.y, eps=s.spec.eps, alpha=s.spec.alpha, steps=s.config.steps
        )
    return time_interleaved(fns, s.device, **s.timer)


def measure_pgd20(s: Setup) -> dict[str, list[float]]:
    """PGD-20 evaluation, as the per-epoch evaluation and the evaluate command run it."""

    def evaluation() -> None:
        with s.autocast():
            pgd_correct(
                s.step_model, s.x_ours, s.y, eps=s.spec.test_eps, alpha=s.spec.test_alpha,
                steps=EVAL_STEPS, batch_size=s.config.batch_size,
            )  # fmt: skip

    return time_interleaved({"ours": evaluation}, s.device, **s.timer)


def measure_early_stopped(s: Setup) -> dict[str, Any]:
    """Early-stopped PGD-K-tau (Algorithm 3), masked against compacted, and whether both give
    the same points and kappa from one seed."""

    def early(compact: bool, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        with s.autocast():
            return attacks.early_stopped_pgd(
                s.step_model, s.x_ours, s.y, eps=s.spec.eps, alpha=s.spec.alpha,
                steps=s.config.steps, tau=s.config.tau, compact=compact, generator=generator,
            )  # fmt: skip

    times = time_interleaved(
        {"masked": lambda: early(False), "compact": lambda: early(True)}, s.device, **s.timer
    )
    masked = early(False, torch.Generator(s.device).manual_seed(s.config.seed + 1))
    compacted = early(True, torch.Generator(s.device).manual_seed(s.config.seed + 1))
    batch = s.config.batch_size
    return {
        "tau": s.config.tau,
        "masked": rate(batch, times["masked"]),
        "compact": rate(batch, times["compact"]),
        "speedup": statistics.median(times["masked"]) / statistics.median(times["compact"]),
        "identical": all(torch.equal(a, b) for a, b in zip(masked, compacted, strict=True)),
        "kappa_mean": float(masked[1].double().mean().item()),
    }


def kappa_check(s: Setup) -> dict[str, Any] | None:
    """Our GA-PGD and the reference from one random start, fp32 eager. Half of the labels are
    set to the model's own clean prediction so that the check sees kappa values between 0 and
    K, not only the two ends that random labels on a random network give."""
    if not s.has_reference:
        return None
    model, x, spec, seed = copy.deepcopy(s.base).eval(), s.x, s.spec, s.config.seed
    with torch.no_grad():
        pred = model(x).argmax(1)
    labels = s.y.clone()
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


def measure_flops(s: Setup) -> dict[str, float | None]:
    """FLOPs per image of a forward pass, our step and the reference step (on eager copies,
    so that counting does not disturb the timed models)."""
    batch, spec = s.config.batch_size, s.spec
    flop_model = copy.deepcopy(s.base).eval()
    with torch.no_grad():
        forward = count_flops(lambda: flop_model(s.x))
    step_copy = copy.deepcopy(s.base)
    step = count_flops(
        lambda: measured_step(
            step_copy, sgd(step_copy, spec, True), s.method,
            context(s.method, spec, s.index, s.device),
            EpochStats(batch, s.config.steps, s.device), s.x, s.y, contextlib.nullcontext(),
        )
    )  # fmt: skip
    reference = None
    if s.has_reference:
        ref_copy = copy.deepcopy(s.base)
        reference = count_flops(
            lambda: reference_train_step(
                ref_copy, sgd(ref_copy, spec, False), s.method,
                context(s.method, spec, s.index, s.device), s.x, s.y,
            )
        )  # fmt: skip
    return {
        "forward_per_image": forward / batch,
        "train_step_per_image": step / batch,
        "reference_train_step_per_image": None if reference is None else reference / batch,
    }


# ---------------------------------------------------------------------------- the benchmark
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(config: BenchConfig) -> dict[str, Any]:
    """Every measurement once, in order; the results as a JSON-ready dictionary."""
    device = resolve_device(config.device)
    cudnn_before = torch.backends.cudnn.benchmark
    try:
        with threads(config.threads):
            return _measure(config, device)
    finally:
        torch.backends.cudnn.benchmark = cudnn_before


def _measure(c: BenchConfig, device: torch.device) -> dict[str, Any]:
    s = prepare(c, device)
    t_train = measure_train_step(s)
    t_attack = measure_attack(s)
    t_eval = measure_pgd20(s)
    early = measure_early_stopped(s)
    check = kappa_check(s)
    flops = measure_flops(s)
    train = compare(c.batch_size, t_train)
    return {
        "config": {
            "model": c.model, "depth": c.depth, "width": c.width, "method": c.method,
            "batch_size": c.batch_size, "device": str(device),
            "device_name": device_name(device), "steps": c.steps, "dataset_shape": list(c.shape),
            "classes": c.classes, "iters": c.iters, "warmup": c.warmup, "amp": c.amp,
            "channels_last": c.channels_last, "compile": c.compile,
            "cudnn_benchmark": c.cudnn_benchmark, "tau": c.tau, "seed": c.seed,
            "threads": torch.get_num_threads(), "torch": torch.__version__,
        },
        "timing": {
            "clock": "cuda_events" if device.type == "cuda" else "perf_counter",
            "statistic": "median", "iters": c.iters, "warmup": c.warmup,
        },
        "reference": (
            "per-element kappa loop with one host read per element per step, attack backward "
            "through parameters, host-side random start, loss read per batch, fp32 eager"
            if s.has_reference else None
        ),
        "train_step": train,
        "attack": compare(c.batch_size, t_attack),
        "pgd20_eval": rate(c.batch_size, t_eval["ours"]),
        "early_stopped_pgd": early,
        "kappa_check": check,
        "flops": flops,
        "peak": peak(device, c.amp, flops["train_step_per_image"] or 0.0, train["images_per_s"]),
    }  # fmt: skip
