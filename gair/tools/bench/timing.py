"""Clocks: CUDA events on a GPU, ``time.perf_counter`` otherwise; warm-up repeats are dropped
and the median of the timed repeats is reported."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes: CUDA events on a GPU, perf_counter otherwise."""
    if device.type == "cuda":
        synchronize(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
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


def rate(batch: int, seconds: list[float]) -> dict[str, float]:
    median = statistics.median(seconds)
    return {"images_per_s": batch / median, "median_s": median}


def compare(batch: int, times: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = dict(rate(batch, times["ours"]))
    if "reference" in times:
        ref = rate(batch, times["reference"])
        out["reference_images_per_s"] = ref["images_per_s"]
        out["reference_median_s"] = ref["median_s"]
        out["speedup"] = ref["median_s"] / out["median_s"]
    else:
        out |= {"reference_images_per_s": None, "reference_median_s": None, "speedup": None}
    return out
