"""What the GPU check sizes (the full check on a GPU, or shrunk to run on a CPU) and the
modes the bench rows run in."""

from __future__ import annotations

import dataclasses
from typing import Any

PARTS = ("tests", "bench", "epoch", "compile", "preflight")
METHOD = "gairat"  # the bench's method: the paper's, with PGD-10
GPU_TARGETS = {"ResNet-18": 12_000, "WRN-32-10": 1_000}  # images/s, docs/performance.md
# Distributions whose versions the report lists (read from their metadata, not imported).
PACKAGES = ("numpy", "pandas", "pyarrow", "matplotlib", "seaborn", "scikit-learn", "scipy",
            "PyYAML", "pytest", "snakemake", "pyautoattack", "robustbench", "tqdm")  # fmt: skip
EPOCH_RUN = {"experiment": "table1", "method": "at", "seed": 0}


@dataclasses.dataclass(frozen=True)
class BenchModel:
    """One model the bench rows time: its label, its registry name and shape, its batch and
    input shape."""

    label: str
    model: str
    depth: int | None
    width: int | None
    batch: int
    shape: tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Everything the check sizes: the full check on a GPU, or shrunk to run on a CPU."""

    device: str
    budget_s: float
    models: tuple[BenchModel, ...]
    steps: int  # the bench's attack steps K
    iters: int
    warmup: int
    modes: tuple[str, ...]  # eager bench modes (keys of MODES)
    compiled: tuple[str, ...]  # modes benched in a subprocess with torch.compile
    cifar_per_file: int  # images per CIFAR-10 file (five training files, one test file)
    epoch_settings: dict[str, Any]  # changes to Table 1's run (shrunk only)
    preflight: dict[str, Any]  # the workflow config overlay besides data_root
    cores: int  # Snakemake's --cores for the preflight
    # seconds a part needs at least to be started (estimates for an H100 node)
    need_s: dict[str, float]
    tests_cap_s: float  # the CUDA tests are stopped after this long


COMPILED = "bf16 + channels-last + compile"
MODES: dict[str, dict[str, Any]] = {
    # tf32: cuDNN convolutions and cuBLAS matrix products in TF32 (None: PyTorch's defaults)
    "fp32": {"amp": "none", "channels_last": False, "compile": False, "tf32": False},
    "TF32": {"amp": "none", "channels_last": False, "compile": False, "tf32": True},
    "bf16": {"amp": "bf16", "channels_last": False, "compile": False, "tf32": None},
    "bf16 + channels-last": {"amp": "bf16", "channels_last": True, "compile": False, "tf32": None},
    COMPILED: {"amp": "bf16", "channels_last": True, "compile": True, "tf32": None},
}

FULL = Sizes(
    device="cuda",
    budget_s=450.0,
    models=(
        BenchModel("ResNet-18", "resnet18", None, None, 512, (3, 32, 32)),
        BenchModel("WRN-32-10", "wrn", 32, 10, 128, (3, 32, 32)),
    ),
    steps=10, iters=3, warmup=1,
    modes=("fp32", "TF32", "bf16", "bf16 + channels-last"),
    compiled=(COMPILED,),
    cifar_per_file=10_000,
    epoch_settings={},
    preflight={"experiments": {"table1": {"seeds": [0]}}},
    cores=1,
    need_s={"tests": 60, "bench": 15, "epoch": 150, "compile": 90, "preflight": 150},
    tests_cap_s=240.0,
)  # fmt: skip
SHRUNK = Sizes(
    device="cpu",
    budget_s=600.0,
    models=(
        BenchModel("ResNet-18", "resnet18", None, 4, 4, (3, 8, 8)),
        BenchModel("WRN-32-10", "wrn", 10, 1, 4, (3, 8, 8)),
    ),
    steps=2, iters=1, warmup=0,
    modes=("fp32", "TF32", "bf16", "bf16 + channels-last"),
    compiled=(),
    cifar_per_file=20,
    epoch_settings={
        "depth": 10, "width": 1, "batch_size": 32, "steps": 2, "eval_steps": 2,
        "train_subset": 100, "test_subset": 20, "train_eval_samples": 20,
        "selection_points": 5,  # of the 20 test images, not 1,000
    },
    preflight={
        # 20 test images: 5 of them choose best_val (the selection split), not 1,000.
        "defaults": {"selection_points": 5},
        "experiments": {"table1": {"seeds": [0]}},
        "force": {"depth": 10, "width": 1, "batch_size": 4, "steps": 1, "eval_steps": 1,
                  "train_eval_samples": 4, "device": "cpu"},
        "evaluations": {"table1": {"aa_version": "cheap"}},
    },
    cores=2,
    need_s={"tests": 10, "bench": 2, "epoch": 10, "compile": 60, "preflight": 30},
    tests_cap_s=300.0,
)  # fmt: skip
SHRINK_NOTE = (
    "**Shrunk (`--shrink`)**: every size reduced so that the check runs on the CPU; the "
    "numbers below say nothing about any device."
)
COMPILE_SHRUNK = "left out of --shrink: torch.compile compiles for about a minute on a 2-core CPU"
