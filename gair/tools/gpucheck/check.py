"""One check's state (its time budget, the parts' results, the report files rewritten
atomically after each part) and the subprocesses its parts start."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from gair.io import write_json, write_text
from gair.plan.config import REPO
from gair.tools.gpucheck.report import render
from gair.tools.gpucheck.sizes import PACKAGES, Sizes

TIMING = "the time budget"
REPORT = "gpucheck"  # DIR/gpucheck.md, and DIR/gpucheck.json with every number


class Check:
    """The state of one check: its budget, the parts' results and the report files."""

    def __init__(self, out: Path, sizes: Sizes, shrink: bool, budget_s: float) -> None:
        self.out, self.sizes, self.shrink = out, sizes, shrink
        self.start = time.monotonic()
        self.end = self.start + budget_s
        self.budget_s = budget_s
        self.started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.results: dict[str, Any] = {"environment": environment(sizes.device)}
        self.failed: list[str] = []

    def left(self) -> float:
        return self.end - time.monotonic()

    def fits(self, part: str, need: float | None = None) -> bool:
        return self.left() >= (self.sizes.need_s[part] if need is None else need)

    def skip_for_time(self, part: str) -> dict[str, Any]:
        need = self.sizes.need_s[part]
        return {
            "status": "not run",
            "why": f"{self.left():.0f} s left of {TIMING} ({self.budget_s:.0f} s); this part "
            f"needs about {need:.0f} s (--budget-s gives more, --parts picks parts)",
        }

    @property
    def report(self) -> Path:
        """The Markdown report (the record beside it has the suffix .json)."""
        return self.out / f"{REPORT}.md"

    def log(self, message: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"gpucheck [{elapsed:5.0f} s] {message}", flush=True)

    def save(self) -> None:
        elapsed = time.monotonic() - self.start
        record = {
            "started": self.started, "elapsed_s": elapsed, "budget_s": self.budget_s,
            "shrink": self.shrink, "failed": self.failed, **self.results,
        }  # fmt: skip
        write_json(self.report.with_suffix(".json"), record, sort_keys=False)
        write_text(self.report, render(record))


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(device: str) -> dict[str, Any]:
    """Python, torch, the packages and the device the check runs with."""
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "packages": {name: _version(name) for name in PACKAGES},
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "device": device,
    }
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env |= {
            "gpu": torch.cuda.get_device_name(0),
            "gpu_memory_gib": props.total_memory / 2**30,
            "gpus_visible": torch.cuda.device_count(),
            "cudnn": torch.backends.cudnn.version(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
    return env


# ---------------------------------------------------------------------------- subprocesses
def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the check's subprocesses: this checkout's gair first."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    return env | (extra or {})


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log ("" where there is none)."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "\n".join(text.strip().splitlines()[-lines:])


def run_logged(
    command: list[str], log: Path, timeout: float, env: dict[str, str], cwd: Path = REPO
) -> tuple[int | None, float]:
    """Run ``command`` with its output in ``log``; (exit status or None on timeout, seconds)."""
    t0 = time.monotonic()
    with open(log, "w") as handle:
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                cwd=cwd, start_new_session=True)  # fmt: skip
        try:
            code: int | None = proc.wait(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            stop(proc)
            code = None
    return code, time.monotonic() - t0


def stop(proc: subprocess.Popen) -> None:
    """End a subprocess and its children (its own session): TERM, then KILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def one_line(err: BaseException) -> str:
    """An exception as one line of the report."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}"
