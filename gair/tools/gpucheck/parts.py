"""The check's parts that start a command of the project: the CUDA tests (pytest), one epoch
of Table 1's WRN-32-10 (``python -m gair train``) and table1's preflight (Snakemake)."""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from gair.errors import ConfigError
from gair.io import write_json
from gair.plan import Plan
from gair.plan.config import REPO, load_config
from gair.plan.cost import gpu_hours
from gair.spec import RunSpec
from gair.tools.gpucheck.check import TIMING, Check, run_logged, stop, subprocess_env, tail
from gair.tools.gpucheck.sizes import EPOCH_RUN

SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")
PREFLIGHT_TARGET = "table1"
PREFLIGHT_STEPS = 2  # training steps per run of the preflight (the workflow's preflight=N)


# ---------------------------------------------------------------------------- 1. tests
def part_tests(check: Check) -> dict[str, Any]:
    test_file = REPO / "tests" / "test_cuda.py"
    if not test_file.is_file():
        return {"status": "not run", "why": f"{test_file} is missing (run from a checkout)"}
    if importlib.util.find_spec("pytest") is None:
        return {"status": "not run", "why": "pytest is not importable (it travels as a wheel)"}
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-rfEs", str(test_file)]
    log = check.out / "cuda-tests.log"
    limit = min(check.left(), check.sizes.tests_cap_s)
    code, seconds = run_logged(command, log, limit, subprocess_env())
    text = log.read_text(errors="replace")
    last = text.strip().splitlines()[-1] if text.strip() else ""
    counts = {kind: int(n) for n, kind in SUMMARY.findall(last)}
    notes = [line for line in text.splitlines() if line.startswith(("FAILED", "ERROR"))]
    skips = sorted({m.group(1) for m in re.finditer(r"^SKIPPED \[\d+\] [^:]+:\d+: (.+)$",
                                                     text, re.M)})  # fmt: skip
    result = {
        "command": "python -m pytest -q -m gpu -rfEs tests/test_cuda.py",
        "seconds": seconds, "counts": counts, "failures": notes[:20], "skip_reasons": skips,
        "log": log.name,
    }  # fmt: skip
    if code is None:
        return result | {"status": "failed", "why": f"stopped at {TIMING} after {seconds:.0f} s"}
    if code not in (0, 5) or counts.get("failed") or counts.get("error") or counts.get("errors"):
        return result | {"status": "failed", "why": f"pytest exited with {code}"}
    return result | {"status": "passed" if counts.get("passed") else "skipped"}


# ---------------------------------------------------------------------------- 3. the epoch
def table1_spec(settings: dict[str, Any]) -> tuple[RunSpec, dict[str, float]]:
    """Table 1's AT run of seed 0 as config/paper.yaml resolves it (with ``settings``
    changed), and the cost model's GPU-hours of the whole table (gair/plan/cost.py)."""
    plan = Plan(load_config())
    for _, _, entry in plan.entries(EPOCH_RUN["experiment"]):
        spec = plan.runs[entry.run]
        if spec.method == EPOCH_RUN["method"] and entry.seed == EPOCH_RUN["seed"]:
            return spec.with_overrides(settings), plan.estimate(EPOCH_RUN["experiment"])
    raise ConfigError(f"config/paper.yaml has no {EPOCH_RUN} run")


def _load_realformat() -> ModuleType:
    """tests/realformat.py: the writers of the real on-disk dataset formats."""
    path = REPO / "tests" / "realformat.py"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: the check runs from a checkout of the repository")
    spec = importlib.util.spec_from_file_location("gair_realformat", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_cifar(check: Check) -> Path:
    """CIFAR-10 files in the real format under DIR/data (once per check)."""
    root = check.out / "data"
    if not (root / "cifar-10-batches-py" / "test_batch").is_file():
        check.log(f"writing CIFAR-10-format files ({6 * check.sizes.cifar_per_file} images)")
        _load_realformat().write_cifar10(root, per_batch=check.sizes.cifar_per_file, seed=1)
    return root


def part_epoch(check: Check) -> dict[str, Any]:
    root = write_cifar(check)
    settings = {"data_root": str(root), "device": check.sizes.device}
    spec, table = table1_spec(check.sizes.epoch_settings | settings)
    folder = check.out / "epoch-run"
    spec_file = check.out / "epoch-spec.json"
    write_json(spec_file, spec.to_dict())
    command = [sys.executable, "-m", "gair", "train", "--spec", str(spec_file), "--out",
               str(folder), "--progress", "lines"]  # fmt: skip
    log = check.out / "epoch.log"
    metrics = folder / "metrics.parquet"
    check.log(f"training one epoch of {spec.run_name()}")
    t0 = time.monotonic()
    with open(log, "w") as handle:
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                env=subprocess_env(), cwd=REPO, start_new_session=True)  # fmt: skip
        # The run is Table 1's own (120 epochs): stop it once its first epoch is on disk.
        while proc.poll() is None and not metrics.is_file() and check.left() > 5:
            time.sleep(0.5)
        finished = metrics.is_file()
        if proc.poll() is None:
            stop(proc)
    seconds = time.monotonic() - t0
    base = {"run": spec.run_name(), "spec": spec_file.name, "log": log.name, "seconds": seconds,
            "model": f"{spec.model}-{spec.depth}-{spec.width}", "method": spec.method,
            "batch": spec.batch_size, "steps": spec.steps, "amp": spec.amp,
            "n_train": 5 * check.sizes.cifar_per_file if not spec.train_subset
            else spec.train_subset}  # fmt: skip
    if not finished:
        # 75: stopped by the check at the budget (python -m gair train's exit status on SIGTERM)
        stopped = proc.returncode in (75, -signal.SIGTERM, -signal.SIGKILL)
        why = (f"epoch 1 did not finish within {seconds:.0f} s ({TIMING})" if stopped
               else f"exit status {proc.returncode}")  # fmt: skip
        return base | {"status": "failed", "why": f"{why}; {log.name}: {tail(log, 3)}"}
    import pandas as pd

    row = pd.read_parquet(metrics).iloc[0].to_dict()
    model_hours = gpu_hours(spec)  # the cost model's whole run (gair/plan/cost.py)
    measured_h = (row["train_s"] + row["eval_s"]) / 3600
    ratio = measured_h / (model_hours / spec.epochs)
    return base | {
        "status": "passed",
        "train_s": float(row["train_s"]), "eval_s": float(row["eval_s"]),
        "images_per_s": float(row["images_per_s"]), "train_loss": float(row["train_loss"]),
        "kappa_mean": float(row["kappa_mean"]),
        "flop_model_epoch_s": model_hours / spec.epochs * 3600,
        "measured_over_flop_model": ratio,
        "run_hours_measured": measured_h * spec.epochs,
        "run_hours_flop_model": model_hours,
        "table1_runs": table["runs"],
        "table1_train_hours_flop_model": table["train_hours"],
        "table1_train_hours_at_measured_rate": table["train_hours"] * ratio,
        "tf32_convolutions": _default_tf32(),
    }  # fmt: skip


def _default_tf32() -> bool:
    import torch

    return bool(torch.backends.cudnn.allow_tf32)


# ---------------------------------------------------------------------------- 5. preflight
def part_preflight(check: Check) -> dict[str, Any]:
    missing = [m for m in ("snakemake", "pyautoattack") if importlib.util.find_spec(m) is None]
    if missing:
        return {"status": "not run", "why": f"{' and '.join(missing)} not importable here "
                "(table1's preflight runs the workflow and its evaluations run AutoAttack; "
                "they travel as wheels: docs/performance.md)"}  # fmt: skip
    import yaml

    root = write_cifar(check)
    folder = check.out / "preflight"
    folder.mkdir(exist_ok=True)
    overlay = folder / "gpucheck.yaml"
    overlay.write_text(yaml.safe_dump({"data_root": str(root), **check.sizes.preflight}))
    command = [sys.executable, "-m", "snakemake", PREFLIGHT_TARGET, "--snakefile",
               str(REPO / "workflow" / "Snakefile"), "--directory", str(folder),
               "--configfile", str(overlay), "--config", f"preflight={PREFLIGHT_STEPS}",
               "--cores", str(check.sizes.cores)]  # fmt: skip
    extra = {"GAIR_GPU_COUNT": "0"} if check.sizes.device == "cpu" else {}
    check.log("preflight of table1 (one seed)")
    log = check.out / "preflight.log"
    code, seconds = run_logged(command, log, check.left() - 5, subprocess_env(extra))
    # where the workflow's plan puts the budget (relative to the --directory)
    plan = Plan(load_config([overlay]) | {"preflight": PREFLIGHT_STEPS})
    budget = folder / f"{plan.paths.prefix('budget', PREFLIGHT_TARGET)}.md"
    shown = f"snakemake {PREFLIGHT_TARGET} --config preflight={PREFLIGHT_STEPS}"
    result = {"command": f"{shown} (seed 0; {overlay.name})", "seconds": seconds, "log": log.name}
    if code == 0 and budget.is_file():
        return result | {"status": "passed", "budget_file": str(budget.relative_to(check.out)),
                         "budget": budget.read_text()}  # fmt: skip
    why = f"stopped at {TIMING}" if code is None else f"exit status {code}"
    return result | {"status": "failed", "why": f"{why} after {seconds:.0f} s: {tail(log, 3)}"}
