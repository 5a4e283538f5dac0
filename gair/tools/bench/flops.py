"""FLOPs of what a function runs (torch's FlopCounterMode) and the devices' peaks they are
set against."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch

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


def peak(dev: torch.device, amp: str, flops_per_image: float, images_per_s: float) -> dict:
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
