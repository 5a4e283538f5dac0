"""Pin each job to one free GPU.

Snakemake counts GPUs (``resources: gpu=1``) but never says which GPU a job gets. Every
training or evaluation command is therefore started through

    python -m gair gpu run -- python -m gair train ...

which takes a free GPU index through a lock file per index and sets ``CUDA_VISIBLE_DEVICES``
before the command (and so CUDA) starts, with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``: the indices
are nvidia-smi's (PCI bus order), whereas CUDA by default numbers the fastest GPU first, so on
a node of mixed GPUs a job would otherwise run on another GPU than the one it locked and logs.

The lock is an ``fcntl.flock`` on an open file: the kernel drops it when the last descriptor
of that file closes, i.e. when the process dies, however it dies (SIGKILL, the out-of-memory
killer). The wrapper keeps the locked descriptor open and inheritable and replaces itself
with the command (``os.execvp``), so the command holds the lock for as long as it (or a child
that inherited the descriptor) runs.

Where the GPUs come from:

- Under SLURM (``SLURM_JOB_ID`` set and ``CUDA_VISIBLE_DEVICES`` or ``SLURM_JOB_GPUS`` given)
  the scheduler has already chosen; the environment is kept as it is and no lock is taken.
- Otherwise the candidates are the entries of ``CUDA_VISIBLE_DEVICES`` when it is set, else
  indices ``0 .. N-1`` with N from ``GAIR_GPU_COUNT`` (so tests can simulate GPUs) or the
  number of lines of ``nvidia-smi -L``, else 0.
- With no GPU the command runs unchanged.

Lock files live in ``GAIR_LOCK_DIR`` (default: ``$XDG_CACHE_HOME/gair/gpu-locks``, i.e.
``~/.cache/gair/gpu-locks``), one file ``gpu<index>.lock`` per index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from gair.errors import ConfigError, GairError
from gair.io import release, try_lock

ENV_COUNT = "GAIR_GPU_COUNT"
ENV_LOCK_DIR = "GAIR_LOCK_DIR"
POLL_S = 0.5


def _under_slurm() -> bool:
    """True when SLURM has handed this job its GPUs (then we keep what it gave)."""
    return bool(os.environ.get("SLURM_JOB_ID")) and bool(
        os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("SLURM_JOB_GPUS")
    )


def gpu_count() -> int:
    """GPUs on this machine: ``GAIR_GPU_COUNT`` if set, else ``nvidia-smi -L`` lines, else 0."""
    raw = os.environ.get(ENV_COUNT)
    if raw is not None and raw.strip() != "":
        try:
            count = int(raw)
        except ValueError:
            count = -1
        if count < 0:
            raise ConfigError(f"{ENV_COUNT} = {raw!r} is invalid: it must be an integer >= 0")
        return count
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        done = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if done.returncode != 0:
        return 0
    return sum(1 for line in done.stdout.splitlines() if line.startswith("GPU "))


def default_lock_dir() -> Path:
    """``GAIR_LOCK_DIR``, else the user's cache folder (``~/.cache/gair/gpu-locks``)."""
    raw = os.environ.get(ENV_LOCK_DIR)
    if raw:
        return Path(raw)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "gair" / "gpu-locks"


def candidate_devices(count: int | None = None) -> list[str]:
    """The device names a job may take, in the order they are tried.

    When ``CUDA_VISIBLE_DEVICES`` is already set (outside SLURM) its entries are the candidates,
    so a user who hides GPUs keeps them hidden; an explicit ``count`` overrides it.
    """
    if count is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            return [d.strip() for d in visible.split(",") if d.strip() != ""]
        count = gpu_count()
    if count < 0:
        raise ConfigError(f"count = {count!r} is invalid: it must be an integer >= 0")
    return [str(i) for i in range(count)]


class GpuLease:
    """A GPU held through its lock file; ``index`` is None when nothing was locked.

    ``devices`` is the value to put in ``CUDA_VISIBLE_DEVICES`` (None: leave it as it is).
    The lock is released by :meth:`release`, by leaving the ``with`` block, or by the death of
    every process that holds the descriptor.
    """

    def __init__(
        self, index: str | None, fd: int | None = None, path: Path | None = None, source: str = ""
    ) -> None:
        self.index = index
        self.fd = fd
        self.path = path
        self.source = source

    @property
    def devices(self) -> str | None:
        return self.index

    def release(self) -> None:
        release(self.fd)
        self.fd = None

    def __enter__(self) -> GpuLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"GpuLease(index={self.index!r}, source={self.source!r})"


def acquire_gpu(
    count: int | None = None, lock_dir: str | None = None, timeout: float | None = None
) -> GpuLease:
    """Take a free GPU: the first candidate whose lock file can be locked.

    ``count`` overrides the detected number of GPUs; ``timeout`` (seconds, None: wait forever)
    bounds the wait when every GPU is taken, after which :class:`GairError` is raised.
    With no GPU, or under SLURM when ``count`` is None, nothing is locked and the lease's
    ``index`` is None. ``index`` is the device's name as CUDA_VISIBLE_DEVICES takes it (a
    string: an index, or a GPU UUID when the user's CUDA_VISIBLE_DEVICES lists UUIDs).
    """
    if count is None and _under_slurm():
        return GpuLease(None, source="slurm")
    devices = candidate_devices(count)
    if not devices:
        return GpuLease(None, source="none")
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for device in devices:
            path = folder / f"gpu{device}.lock"
            fd = try_lock(path)
            if fd is not None:
                return GpuLease(device, fd, path, source="lock")
        if deadline is not None and time.monotonic() >= deadline:
            raise GairError(
                f"no free GPU among {', '.join(devices)} after {timeout:g} s "
                f"(locks in {folder}); every GPU is held by another job"
            )
        time.sleep(
            POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
        )


def run_pinned(command: Sequence[str], timeout: float | None = None) -> int:
    """Take a GPU, set ``CUDA_VISIBLE_DEVICES``, and replace this process with ``command``.

    Only returns on failure to start the command (exit status 127, as a shell would).
    """
    if not command:
        raise ConfigError(
            "gpu run needs a command after '--', e.g. gpu run -- python -m gair train"
        )
    lease = acquire_gpu(timeout=timeout)
    if lease.index is not None:
        os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # the index is nvidia-smi's
        os.environ["CUDA_VISIBLE_DEVICES"] = lease.index
    # One line in the job's log says which GPU the command got and who chose it.
    devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    job = os.environ.get("SLURM_JOB_ID")
    print(
        f"gpu: CUDA_VISIBLE_DEVICES={'(unset)' if devices is None else devices} "
        f"({lease.source}{f', SLURM job {job}' if job else ''})",
        file=sys.stderr,
    )
    if lease.fd is not None:
        # The command inherits the locked descriptor, so the lock lives exactly as long as it.
        os.set_inheritable(lease.fd, True)
        os.environ["GAIR_GPU_LOCK"] = str(lease.path)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], list(command))
    except OSError as err:
        lease.release()
        print(f"error: cannot start {command[0]!r}: {err.strerror}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - execvp does not return on success


def cli(argv: list[str]) -> int:
    """``python -m gair gpu`` prints the GPU it would take; ``gpu run -- CMD`` runs CMD on it."""
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m gair gpu",
        description="Show the GPU index this process would take, or run a command pinned to it.",
    )
    parser.add_argument("action", nargs="?", choices=("show", "run"), default="show")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for a free GPU (default: forever)",
    )
    args = parser.parse_args(argv)
    if args.action == "run":
        return run_pinned(command, timeout=args.timeout)
    if command:
        raise ConfigError("a command after '--' needs the 'run' action: gpu run -- CMD")
    if _under_slurm():
        print(os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("SLURM_JOB_GPUS", ""))
        return 0
    with acquire_gpu(timeout=0.0 if args.timeout is None else args.timeout) as lease:
        print("none" if lease.index is None else lease.index)
    return 0
