"""Tests for gair.tools.gpu: one GPU per job through lock files, simulated with GAIR_GPU_COUNT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gair.errors import ConfigError, GairError
from gair.tools.gpu import acquire_gpu, cli, gpu_count

REPO = Path(__file__).resolve().parents[1]
PRINT_CVD = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'))"
PRINT_ORDER = "import os; print(os.environ.get('CUDA_DEVICE_ORDER', '<unset>'))"


@pytest.fixture
def gpu_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment with two simulated GPUs and a private lock folder."""
    for key in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "SLURM_JOB_ID", "SLURM_JOB_GPUS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GAIR_GPU_COUNT", "2")
    monkeypatch.setenv("GAIR_LOCK_DIR", str(tmp_path / "locks"))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def wrapped(env: dict[str, str], *command: str, timeout: float = 60) -> str:
    """Run ``python -m gair gpu run -- command`` and return its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "gair", "gpu", "run", "--", *command],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_count_from_environment(gpu_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpu_count() == 2
    monkeypatch.setenv("GAIR_GPU_COUNT", "two")
    with pytest.raises(ConfigError, match="GAIR_GPU_COUNT = 'two'"):
        gpu_count()


def test_two_leases_never_share_an_index(gpu_env: dict[str, str]) -> None:
    with acquire_gpu() as first, acquire_gpu() as second:
        assert {first.index, second.index} == {"0", "1"}
        # Both GPUs are taken: a third job waits, then gives up with a one-line error.
        with pytest.raises(GairError, match="no free GPU among 0, 1"):
            acquire_gpu(timeout=0.2)
    # Released on leaving the block: the first index is free again.
    with acquire_gpu(timeout=0) as again:
        assert again.index == "0"


@pytest.mark.slow
def test_concurrent_processes_get_distinct_indices(gpu_env: dict[str, str]) -> None:
    # Four processes race for four GPUs and hold them until all have reported.
    env = dict(gpu_env, GAIR_GPU_COUNT="4")
    hold = (
        "import sys, time; from gair.tools.gpu import acquire_gpu; "
        "lease = acquire_gpu(timeout=30); print(lease.index, flush=True); time.sleep(3)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", hold], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    indices = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(indices) == ["0", "1", "2", "3"]


@pytest.mark.slow
def test_wrapper_sets_cuda_visible_devices_for_the_child(gpu_env: dict[str, str]) -> None:
    assert wrapped(gpu_env, sys.executable, "-c", PRINT_CVD) == "0"
    # With GPU 0 held here, the child must be sent to GPU 1.
    with acquire_gpu(count=2) as held:
        assert held.index == "0"
        assert wrapped(gpu_env, sys.executable, "-c", PRINT_CVD) == "1"


@pytest.mark.slow
def test_a_pinned_command_numbers_the_gpus_as_nvidia_smi_does(gpu_env: dict[str, str]) -> None:
    """The index a job locks and logs counts the lines of ``nvidia-smi -L`` (PCI bus order);
    CUDA numbers the fastest GPU first unless told otherwise, so the wrapper tells it, over a
    setting of the caller's too. Where it pins nothing the environment stays as it is."""
    assert wrapped(gpu_env, sys.executable, "-c", PRINT_ORDER) == "PCI_BUS_ID"
    fastest = dict(gpu_env, CUDA_DEVICE_ORDER="FASTEST_FIRST")
    assert wrapped(fastest, sys.executable, "-c", PRINT_ORDER) == "PCI_BUS_ID"
    assert wrapped(dict(fastest, GAIR_GPU_COUNT="0"), sys.executable, "-c", PRINT_ORDER) == (
        "FASTEST_FIRST"
    )
    slurm = dict(gpu_env, SLURM_JOB_ID="123", CUDA_VISIBLE_DEVICES="3")
    assert wrapped(slurm, sys.executable, "-c", PRINT_ORDER) == "<unset>"


@pytest.mark.slow
def test_child_holds_the_lock_while_it_runs(gpu_env: dict[str, str]) -> None:
    env = dict(gpu_env, GAIR_GPU_COUNT="1")
    holder = subprocess.Popen(
        [sys.executable, "-m", "gair", "gpu", "run", "--", sys.executable, "-c",
         "import time; print('ready', flush=True); time.sleep(30)"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(GairError, match="no free GPU"):
            acquire_gpu(count=1, timeout=0.3)
        # SIGKILL gives the process no chance to clean up: the kernel must drop the lock.
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with acquire_gpu(count=1, timeout=5) as lease:
            assert lease.index == "0"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.mark.slow
def test_slurm_allocation_is_kept(gpu_env: dict[str, str]) -> None:
    env = dict(gpu_env, SLURM_JOB_ID="123", CUDA_VISIBLE_DEVICES="3")
    assert wrapped(env, sys.executable, "-c", PRINT_CVD) == "3"
    # SLURM_JOB_GPUS alone: the cgroup already limits the GPUs; nothing is set or locked.
    env = dict(gpu_env, SLURM_JOB_ID="123", SLURM_JOB_GPUS="5")
    assert wrapped(env, sys.executable, "-c", PRINT_CVD) == "<unset>"
    assert not (Path(gpu_env["GAIR_LOCK_DIR"]) / "gpu0.lock").exists()


@pytest.mark.slow
def test_no_gpu_runs_the_command_unchanged(gpu_env: dict[str, str]) -> None:
    env = dict(gpu_env, GAIR_GPU_COUNT="0")
    assert wrapped(env, sys.executable, "-c", PRINT_CVD) == "<unset>"


@pytest.mark.slow
def test_user_visible_devices_are_the_candidates(gpu_env: dict[str, str]) -> None:
    env = dict(gpu_env, CUDA_VISIBLE_DEVICES="2,5")
    assert wrapped(env, sys.executable, "-c", PRINT_CVD) == "2"


@pytest.mark.slow
def test_exit_status_and_show(gpu_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gair", "gpu", "run", "--", sys.executable, "-c", "exit(7)"],
        env=gpu_env, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 7
    assert cli([]) == 0
    assert capsys.readouterr().out.strip() == "0"
    with pytest.raises(ConfigError, match="needs a command"):
        cli(["run", "--"])
    start = time.monotonic()
    with acquire_gpu(), acquire_gpu(), pytest.raises(GairError):
        cli(["--timeout", "0.1"])
    assert time.monotonic() - start < 10
