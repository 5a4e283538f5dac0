"""The check's throughput parts: ``gair bench`` (:mod:`gair.tools.bench`) for each model and
mode, the eager rows in this process and the compiled rows each in a process of its own."""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Iterator
from typing import Any

from gair.tools.bench.cli import to_argv
from gair.tools.bench.config import BenchConfig
from gair.tools.bench.flops import PEAK_SOURCE
from gair.tools.bench.measurements import run
from gair.tools.gpucheck.check import TIMING, Check, one_line, run_logged, subprocess_env, tail
from gair.tools.gpucheck.sizes import GPU_TARGETS, METHOD, MODES, BenchModel, Sizes


def bench_config(sizes: Sizes, model: BenchModel, mode: str) -> BenchConfig:
    """What one row measures. A compiled row's tau equals K: no sample stops early, so the
    early-stopped section keeps one batch shape and does not recompile for every size of
    its active set."""
    settings = MODES[mode]
    return BenchConfig(
        model=model.model, method=METHOD, batch_size=model.batch, device=sizes.device,
        steps=sizes.steps, shape=model.shape, iters=sizes.iters, warmup=sizes.warmup,
        amp=settings["amp"], channels_last=settings["channels_last"],
        compile=settings["compile"], cudnn_benchmark=sizes.device == "cuda",
        tau=sizes.steps if settings["compile"] else 0, depth=model.depth, width=model.width,
    )  # fmt: skip


@contextlib.contextmanager
def tf32(enabled: bool | None) -> Iterator[None]:
    """TF32 for cuDNN and cuBLAS on or off for a block (None: PyTorch's defaults)."""
    import torch

    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    if enabled is not None:
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def row(model: BenchModel, mode: str, r: dict[str, Any]) -> dict[str, Any]:
    """The numbers the report shows from one bench result (:func:`run`'s dictionary)."""
    peak, train = r["peak"], r["train_step"]
    fraction = peak["fraction_of_peak"]
    return {
        "model": model.label, "mode": mode, "batch": model.batch, "status": "ok",
        "train_images_per_s": train["images_per_s"], "speedup_vs_reference": train["speedup"],
        "attack_images_per_s": r["attack"]["images_per_s"],
        "pgd20_images_per_s": r["pgd20_eval"]["images_per_s"],
        "train_flops_per_image": r["flops"]["train_step_per_image"],
        "achieved_tflops": peak["achieved_tflops"],
        "fraction_of_peak": None if fraction == "unknown" else fraction,
        "peak": None if fraction == "unknown" else
        f"{peak['device']} {peak['precision']} {peak['peak_tflops']:g}",
        "identical_kappa": None if r["kappa_check"] is None else
        r["kappa_check"]["identical_kappa"],
        "target_images_per_s": GPU_TARGETS.get(model.label),
    }  # fmt: skip


def part_bench(check: Check) -> dict[str, Any]:
    """The eager rows, in this process (TF32 is switched here, which the command line of
    ``gair bench`` leaves at PyTorch's default)."""
    import torch

    s = check.sizes
    rows = []
    for model in s.models:
        for mode in s.modes:
            if not check.fits("bench"):
                rows.append({"model": model.label, "mode": mode, "batch": model.batch,
                             **check.skip_for_time("bench")})  # fmt: skip
                continue
            check.log(f"bench {model.label} {mode}")
            try:
                with tf32(MODES[mode]["tf32"]):
                    result = run(bench_config(s, model, mode))
                rows.append(row(model, mode, result))
            except Exception as err:  # one failing row (e.g. out of memory) is a result
                rows.append({"model": model.label, "mode": mode, "batch": model.batch,
                             "status": "failed", "why": one_line(err)})  # fmt: skip
                check.failed.append(f"bench {model.label} {mode}")
            finally:
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
    return {"method": METHOD, "steps": s.steps, "iters": s.iters, "warmup": s.warmup,
            "rows": rows, "peak_source": PEAK_SOURCE}  # fmt: skip


def part_compile(check: Check) -> list[dict[str, Any]]:
    """The compiled rows, each through ``python -m gair bench --json`` in its own process, so
    that a compile that outlives the budget can be stopped."""
    s = check.sizes
    rows = []
    for model in s.models:
        for mode in s.compiled:
            base = {"model": model.label, "mode": mode, "batch": model.batch}
            if not check.fits("compile"):
                rows.append(base | check.skip_for_time("compile"))
                continue
            check.log(f"bench {model.label} {mode} (compiling)")
            config = bench_config(s, model, mode)
            command = [sys.executable, "-m", "gair", "bench", *to_argv(config), "--json"]
            log = check.out / f"bench-compile-{model.model}.log"
            code, seconds = run_logged(command, log, check.left() - 5, subprocess_env())
            lines = log.read_text(errors="replace").strip().splitlines()
            if code == 0 and lines and lines[-1].startswith("{"):
                rows.append(row(model, mode, json.loads(lines[-1])) | {"seconds": seconds})
                continue
            why = f"stopped at {TIMING}" if code is None else f"exit status {code}"
            rows.append(base | {"status": "failed", "why": f"{why} after {seconds:.0f} s; "
                                f"{log.name}: {tail(log, 2)}"})  # fmt: skip
            check.failed.append(f"bench {model.label} {mode}")
    return rows
