"""Bad input through the real command line: one line ``error: ...``, exit 2, nothing written.

Each case runs ``gair.cli.main`` in this process (fast) against an output folder that
already holds a file, and checks that the folder is byte for byte as it was. One case runs
``python -m gair`` as a subprocess to check the real entry point end to end.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from gair import spec
from gair.cli import main
from gair.data.tensors import load_dataset
from gair.models import build_model
from gair.paper import attacks
from gair.spec import RunSpec
from gair.train.checkpoint import load_checkpoint, save_checkpoint


def train_argv(tiny_run, out: Path, **overrides: object) -> list[str]:
    """`python -m gair train` of a tiny GAIRAT run into ``out`` (a case's own later --set of
    the same key wins)."""
    args = tiny_run.args(**{"method": "gairat", **overrides})
    return ["train", *args, "--out", str(out), "--progress", "lines"]


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` with its bytes; None when the folder does not exist."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def check_error(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run the command; it must fail with exit 2 and one line naming every needle."""
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in captured.err + captured.out
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output folder that already holds a file, which an error must leave alone."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept\n")
    return folder


# --------------------------------------------------------------------------- train
TRAIN_CASES = {
    # name: (extra argv, needles: the bad value and the valid choices)
    "dataset": (["--dataset", "cifar11"], ["'cifar11'", "cifar10", "digits", "svhn"]),
    "model": (["--model", "resnet19"], ["'resnet19'", "resnet18", "wrn", "smallcnn"]),
    "method": (["--method", "gairatt"], ["'gairatt'", "gairat", "gair_fat", "trades"]),
    "lr schedule": (["--set", "lr_schedule=cosin"], ["'cosin'", "cosine", "multistep"]),
    "weight function": (["--set", "weight_fn=tan"], ["'tan'", "tanh", "sigmoid", "linear"]),
    "attack loss": (["--set", "attack_loss=cwx"], ["'cwx'", "ce", "cw"]),
    "optimizer": (["--set", "optimizer=adam"], ["'adam'", "sgd"]),
    "eps not a number": (["--set", "eps=abc"], ["eps", "'abc'", "float"]),
    "steps not an integer": (["--set", "steps=2.5"], ["steps", "2.5", "int"]),
    "list expected": (["--set", "milestones=30"], ["milestones", "30", "list"]),
    "negative eps": (["--set", "eps=-0.1"], ["eps", "-0.1", ">= 0"]),
    "zero steps": (["--set", "steps=0"], ["steps", "0", ">= 1"]),
    "reweighting past the end": (["--set", "reweight_from=4"], ["reweight_from", "4", "[0, 3]"]),
    "renamed setting": (["--set", "burn_in=1"], ["'burn_in'", "reweight_from", "b + 1"]),
    "negative epoch": (["--set", "snapshots=[-1]"], ["snapshots", "[-1]", "counted from 1"]),
    "tau values": (
        ["--set", "tau_values=[0,1,2]", "--set", "tau_milestones=[1]"],
        ["tau_values", "[0, 1, 2]", "tau_milestones", "[1]"],
    ),
    "lr factors": (
        ["--set", "milestones=[1]", "--set", "lr_factors=[0.1,0.1]"],
        ["lr_factors", "[0.1, 0.1]", "[1]"],
    ),
    "step weights": (
        ["--set", "weight_fn=step", "--set", "step_kappa=[3,1]", "--set", "step_weights=[1,1,1]"],
        ["step_kappa", "[3, 1]", "increase"],
    ),
    "lambda nan": (["--set", "lam=.nan"], ["lam", "nan", "+inf"]),
    "unknown setting": (["--set", "epsilon=0.1"], ["'epsilon'", "eps", "reweight_from", "lam"]),
    "set without value": (["--set", "eps"], ["--set 'eps'", "key=value"]),
    "subset too large": (["--set", "train_subset=5000"], ["train_subset", "5000", "1437"]),
    "device": (["--set", "device=tpu"], ["'tpu'", "cpu", "cuda"]),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_bad_train_input_is_one_clean_line(
    case: str, out: Path, capsys: pytest.CaptureFixture[str], tiny_run
) -> None:
    extra, needles = TRAIN_CASES[case]
    before = snapshot(out)
    check_error(capsys, [*train_argv(tiny_run, out), *extra], *needles)
    assert snapshot(out) == before


def test_bad_input_creates_no_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_run
) -> None:
    """An error found only when the run is built (here the weight function) writes nothing."""
    folder = tmp_path / "absent"
    check_error(capsys, [*train_argv(tiny_run, folder), "--set", "weight_fn=tan"], "'tan'")
    assert not folder.exists()


def test_spec_file_errors_name_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    bad_key = tmp_path / "bad_key.json"
    bad_key.write_text('{"dataset": "digits", "model": "smallcnn", "method": "at", '
                       '"epochs": 1, "learning_rate": 0.1}')  # fmt: skip
    check_error(capsys, ["train", "--spec", str(bad_key), "--out", str(folder)],
                "'learning_rate'", "lr")  # fmt: skip
    bad_type = tmp_path / "bad_type.json"
    bad_type.write_text('{"dataset": "digits", "model": "smallcnn", "method": "at", '
                        '"epochs": "ten"}')  # fmt: skip
    check_error(capsys, ["train", "--spec", str(bad_type), "--out", str(folder)],
                "epochs", "'ten'", "int")  # fmt: skip
    not_json = tmp_path / "not.json"
    not_json.write_text("{dataset: digits")
    check_error(capsys, ["train", "--spec", str(not_json), "--out", str(folder)], "not valid JSON")
    missing = tmp_path / "missing.json"
    check_error(capsys, ["train", "--spec", str(missing), "--out", str(folder)], "does not exist")
    assert not folder.exists()


def test_spec_names_match_the_implementations() -> None:
    """The names the spec checks up front are the ones the attack and reweighting code run."""
    assert set(spec.ATTACK_LOSS_NAMES) == set(attacks.ATTACK_LOSSES)
    for fn in spec.WEIGHT_FUNCTIONS:
        settings = {"step_weights": [1.0]} if fn == "step" else {}
        RunSpec(dataset="digits", model="smallcnn", method="gairat", epochs=2, weight_fn=fn,
                **settings)  # fmt: skip


def test_missing_dataset_without_network_fails_fast(
    tmp_path: Path, out: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tiny_run,
) -> None:  # fmt: skip
    """CIFAR-10 absent from data_root and no network: one line naming the missing file."""
    data_root = tmp_path / "data"
    data_root.mkdir()
    # A proxy that refuses every connection: no download can happen, even on a machine that
    # has network access, and the attempt fails at once instead of waiting on a timeout.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    before = snapshot(out)
    start = time.monotonic()
    line = check_error(
        capsys,
        [*train_argv(tiny_run, out, dataset="cifar10"), "--set", f"data_root={data_root}"],
        "cifar10",
        "missing",
        str(data_root),
    )
    assert time.monotonic() - start < 30, "the download attempt did not fail fast"
    assert "cifar-10-batches-py" in line
    assert snapshot(out) == before
    # Nothing half-downloaded is left to be mistaken for the dataset.
    assert not any(p.is_file() for p in data_root.rglob("*"))


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_run
) -> None:
    """Epoch 1 trains normally; from epoch 2 the LR is 1e29 and the loss overflows."""
    folder = tmp_path / "run"
    argv = [*train_argv(tiny_run, folder, method="at"), "--set", "milestones=[2]",
            "--set", "lr_factors=[1e30]"]  # fmt: skip
    line = check_error(capsys, argv, "NaN or infinite", "epoch 2", "step", "last.pt")
    # Step 1 of epoch 2 still uses epoch 1's finite weights; its 1e29 update overflows them,
    # so the first non-finite loss is step 2 (counted from 1) of the epoch's batches.
    batches = -(-tiny_run.settings["train_subset"] // tiny_run.settings["batch_size"])
    assert f"at step 2 of {batches}" in line
    ckpt = load_checkpoint(folder / "last.pt")
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert math.isfinite(ckpt["history"][0]["train_loss"])
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    metrics = pd.read_parquet(folder / "metrics.parquet")
    assert list(metrics["epoch"]) == [1]
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"


# --------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A loadable checkpoint of an untrained model (evaluation errors need no training)."""
    run = RunSpec(dataset="digits", model="smallcnn", method="at", epochs=1, test_subset=32,
                  train_subset=64, device="cpu")  # fmt: skip
    data = load_dataset("digits", train_subset=64, test_subset=32)
    torch.manual_seed(0)
    model = build_model("smallcnn", in_channels=data.in_channels, num_classes=data.num_classes,
                        input_size=data.image_size)  # fmt: skip
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    import json

    save_checkpoint(path, {"spec": json.dumps(run.to_dict()), "epoch": 1,
                           "model": model.state_dict()})  # fmt: skip
    return path


EVAL_CASES = {
    "unknown attack": (["--attacks", "natural,pgd20,fgsmm"], ["'fgsmm'", "pgd<k>", "cw", "lsa"]),
    "pgd with no steps": (["--attacks", "pgd0"], ["'pgd0'", "pgd<k> (k >= 1"]),
    "empty attack list": (["--attacks", ","], ["empty", "pgd<k>"]),
    "negative eps": (["--eps", "-0.5"], ["--eps", "-0.5", ">= 0"]),
    "negative sample limit": (["--samples-limit", "-3"], ["--samples-limit", "-3", ">= 0"]),
}


@pytest.mark.parametrize("case", list(EVAL_CASES))
def test_bad_evaluate_input_is_one_clean_line(
    case: str, checkpoint: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, needles = EVAL_CASES[case]
    before = snapshot(out)
    ckpt_bytes = checkpoint.read_bytes()
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--out", str(out / "eval.parquet"),
            "--device", "cpu", *extra]  # fmt: skip
    check_error(capsys, argv, *needles)
    assert snapshot(out) == before
    assert checkpoint.read_bytes() == ckpt_bytes


def test_evaluate_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.pt"
    check_error(capsys, ["evaluate", "--checkpoint", str(missing), "--out",
                         str(tmp_path / "e.parquet")], str(missing), "does not exist")  # fmt: skip
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["figure", "fig4", "--manifest", "{manifest}", "--out", "{out}/fig4"],
        ["table", "table1", "--manifest", "{manifest}", "--out", "{out}/table1"],
        ["budget", "fig16", "--manifest", "{manifest}", "--out", "{out}/fig16"],
    ],
    ids=["figure", "table", "budget"],
)  # fmt: skip
def test_job_input_files_missing_or_broken_are_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every report command names its manifest file: a missing or broken one is one line
    naming it."""
    missing = tmp_path / "manifests" / "gone.json"
    fill = {"out": str(tmp_path / "out")}
    check_error(capsys, [a.format(manifest=missing, **fill) for a in argv], str(missing),
                "does not exist")  # fmt: skip
    broken = tmp_path / "broken.json"
    broken.write_text('{"groups": ')
    check_error(capsys, [a.format(manifest=broken, **fill) for a in argv], str(broken)[:40],
                "not valid JSON")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_unknown_command_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    check_error(capsys, ["trian"], "'trian'", "train", "evaluate")


# --------------------------------------------------------------------------- real process
@pytest.mark.slow
def test_real_process_prints_one_line_without_traceback(out: Path, tiny_run) -> None:
    before = snapshot(out)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-m", "gair", *train_argv(tiny_run, out), "--set", "weight_fn=tan"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: weight_fn = 'tan'"), done.stderr
    assert snapshot(out) == before
