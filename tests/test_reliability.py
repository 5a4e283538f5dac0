"""Bad inputs a user can hand the pipeline: files that would run code, checkpoints that do not
fit their model, malformed --spec files, and two processes training into one folder. Each
gets one line and an exit code; nothing runs, is written or is lost."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gair.cli import main
from gair.train.checkpoint import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
# The tiny run with an MLP: its weight names and shapes (net.1.weight, 64 x 64) are what the
# checks below damage.
MLP = {"model": "mlp"}


class RunsCode:
    """Unpickling this calls os.system: it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def one_line(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# --------------------------------------------------------------------------- 1. pickles
def write_cifar10(root: Path, poisoned: str | None, marker: Path) -> Path:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            b"labels": [0, 1, 2, 3],
        }
        if name == poisoned:
            batch[b"extra"] = RunsCode(marker)
        # protocol 2 with byte keys, as the real (Python 2) batches are
        (base / name).write_bytes(pickle.dumps(batch, protocol=2))
    return base


def test_a_cifar_batch_that_carries_code_is_refused_and_the_code_never_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    base = write_cifar10(tmp_path / "data", "data_batch_3", marker)
    out = tmp_path / "run"
    code = main(["train", "--dataset", "cifar10", "--model", "mlp", "--method", "at", "--epochs",
                 "1", "--out", str(out), "--set", f"data_root={tmp_path / 'data'}",
                 "--set", "device=cpu"])  # fmt: skip
    one_line(capsys, code, str(base / "data_batch_3"), "refused", "system")
    assert not marker.exists()
    assert not (out / "last.pt").exists() and not (out / "metrics.parquet").exists()


def test_real_format_cifar_batches_still_load(tmp_path: Path) -> None:
    from gair.data.tensors import load_dataset

    write_cifar10(tmp_path / "data", None, tmp_path / "unused")
    split = load_dataset("cifar10", root=tmp_path / "data", download=False)
    assert split.x_train.shape == (20, 3, 32, 32) and split.y_test.tolist() == [0, 1, 2, 3]


def test_an_rst_pickle_that_carries_code_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_run
) -> None:
    marker = tmp_path / "ran"
    pool = tmp_path / "ti_500K_pseudo_labeled.pickle"
    data = np.zeros((4, 8, 8, 1), dtype=np.uint8)
    pool.write_bytes(
        pickle.dumps({"data": data, "extrapolated_targets": RunsCode(marker)}, protocol=4)
    )
    out = tmp_path / "run"
    args = tiny_run.args(method="gair_rst", epochs=1, unlabeled_path=str(pool), **MLP)
    code = main(["train", *args, "--out", str(out)])
    one_line(capsys, code, str(pool), "refused")
    assert not marker.exists() and not (out / "last.pt").exists()


# --------------------------------------------------------------------------- 2. one line
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_run) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *tiny_run.args(epochs=1, **MLP), "--out", str(out)]) == 0
    return out / "last.pt"


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        ("missing key", ["does not fit", "missing", "net.1.weight"]),
        ("wrong shape", ["does not fit", "shape of", "(7, 64)"]),
        ("other width", ["does not fit", "shape of"]),
    ],
)
def test_weights_that_do_not_fit_the_recorded_model_are_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str,
    needles: list[str],
) -> None:  # fmt: skip
    ckpt = load_checkpoint(trained)
    weights = dict(ckpt["model"])
    first = next(iter(weights))
    if damage == "missing key":
        del weights[first]
    elif damage == "wrong shape":
        weights[first] = torch.zeros(7, 64)
    else:
        assert '"width": null' in ckpt["spec"]  # the MLP's own width, 64
        ckpt["spec"] = ckpt["spec"].replace('"width": null', '"width": 16')
    ckpt["model"] = weights
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, ckpt)
    out = tmp_path / "eval.parquet"
    code = main(["evaluate", "--checkpoint", str(bad), "--attacks", "natural", "--out", str(out),
                 "--device", "cpu"])  # fmt: skip
    one_line(capsys, code, str(bad), *needles)
    assert not out.exists()


def test_a_truncated_checkpoint_met_by_evaluate_is_short_and_gives_no_training_advice(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cut.pt"
    bad.write_bytes(trained.read_bytes()[:3000])
    code = main(["evaluate", "--checkpoint", str(bad), "--attacks", "natural", "--out",
                 str(tmp_path / "e.parquet")])  # fmt: skip
    err = one_line(capsys, code, str(bad), "truncated or corrupt")
    assert "delete it" not in err and "resume" not in err and len(err) < 250


@pytest.mark.parametrize("content", ["[1, 2]", '"digits"', "3"])
def test_a_spec_file_that_is_not_an_object_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(content)
    code = main(["train", "--spec", str(spec), "--out", str(tmp_path / "run")])
    one_line(capsys, code, str(spec), "object of run settings")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- 4. one folder
def start(tiny_run, out: Path, epochs: int, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    args = tiny_run.args(method="gairat", epochs=epochs, **MLP)
    command = [sys.executable, "-m", "gair", "train", *args, "--out", str(out),
               "--progress", "lines", *extra]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_trainings_into_one_folder_one_trains_the_other_says_who(
    tmp_path: Path, tiny_run
) -> None:
    out = tmp_path / "run"
    first = start(tiny_run, out, 1000)  # far longer than the test: it is stopped below
    wait_for(out / "last.pt", first)  # it holds the lock and has trained an epoch
    second = start(tiny_run, out, 1000)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "being trained by another process" in lines[0], err
    assert f"pid {first.pid}" in lines[0]
    assert first.poll() is None  # the first trains on, undisturbed
    first.send_signal(signal.SIGTERM)  # stops after the epoch in progress (exit 75)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 75, err
    history = load_checkpoint(out / "last.pt")["history"]
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))


@pytest.mark.slow
def test_a_killed_holder_leaves_no_stale_lock_and_the_next_run_resumes(
    tmp_path: Path, tiny_run
) -> None:
    out = tmp_path / "run"
    first = start(tiny_run, out, 8)
    wait_for(out / "last.pt", first)  # at least one epoch is on disk
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    done = load_checkpoint(out / "last.pt")["epoch"]
    assert 1 <= done < 8
    again = start(tiny_run, out, 8)
    stdout, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"resuming after epoch {done}" in stdout
    assert load_checkpoint(out / "last.pt")["epoch"] == 8
