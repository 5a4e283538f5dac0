"""Where every number was computed: each run and evaluation records the commit, the library
versions, the device and the host; a run resumed elsewhere says so; tables name it."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from gair import provenance
from gair.report import read
from gair.train.checkpoint import load_checkpoint
from gair.train.loop import Run, train

REPO = Path(__file__).resolve().parents[1]


def test_collect_names_commit_versions_device_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAIR_COMMIT", raising=False)
    record = provenance.collect("cpu")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert record["commit"].removesuffix("+dirty") == head
    assert record["torch"] == torch.__version__
    assert record["cuda"] == (torch.version.cuda or "none")
    assert record["device"].startswith("cpu (") and record["host"] == socket.gethostname()
    assert record["python"] == platform.python_version()
    monkeypatch.setenv("GAIR_COMMIT", "abc123")  # a copy that is not a git checkout
    assert provenance.collect("cpu")["commit"] == "abc123"


def test_a_stretch_starts_where_hardware_or_software_changes() -> None:
    here = {"commit": "c1", "torch": "2.1", "cuda": "none", "cudnn": "none", "device": "cpu",
            "host": "a", "python": "3.11"}  # fmt: skip
    first, note = provenance.extend([], here, 1)
    assert first == [{"from_epoch": 1, **here}] and note is None
    same, note = provenance.extend(first, dict(here, python="3.12"), 5)  # not hardware
    assert same == first and note is None
    gpu = dict(here, device="NVIDIA H100 80GB HBM3", cuda="12.4", host="b")
    moved, note = provenance.extend(first, gpu, 5)
    assert moved == [*first, {"from_epoch": 5, **gpu}]
    assert note == (
        "resumed at epoch 5 on other hardware or software: device 'cpu' -> "
        "'NVIDIA H100 80GB HBM3', cuda 'none' -> '12.4', host 'a' -> 'b'"
    )
    line = provenance.summary(moved)
    assert line == ("device cpu / NVIDIA H100 80GB HBM3; host a / b; torch 2.1; "
                    "CUDA none / 12.4; cuDNN none; commit c1")  # fmt: skip
    hosts = [dict(here, host=f"node{i}", commit="f" * 40 + "+dirty") for i in range(5)]
    assert "host 5 different" in provenance.summary(hosts)
    assert "commit ffffffffffff+dirty" in provenance.summary(hosts)
    assert provenance.summary([]) == ""


def test_metadata_round_trip() -> None:
    records = [{"from_epoch": 1, "device": "cpu"}, {"from_epoch": 3, "device": "gpu"}]
    meta = provenance.metadata(records)
    assert provenance.from_metadata(meta) == records
    as_bytes = {k.encode(): v.encode() for k, v in meta.items()}
    assert provenance.from_metadata(as_bytes) == records
    assert provenance.from_metadata(None) == [] and provenance.from_metadata({b"x": b"1"}) == []


def stretches_in(folder: Path) -> dict[str, list[dict]]:
    """The provenance each of a run's files holds."""
    return {
        "run.json": json.loads((folder / "run.json").read_text())["provenance"],
        "last.pt": load_checkpoint(folder / "last.pt")["provenance"],
        "metrics": provenance.from_metadata(pq.read_schema(folder / "metrics.parquet").metadata),
    }


def test_a_run_records_where_it_trained(tmp_path: Path, tiny_run) -> None:
    spec = tiny_run.spec("at", epochs=1)
    train(spec, tmp_path)
    here = provenance.collect("cpu")
    for where, stretches in stretches_in(tmp_path).items():
        assert stretches == [{"from_epoch": 1, **here}], where
    assert load_checkpoint(tmp_path / "best.pt")["provenance"] == [{"from_epoch": 1, **here}]
    # Provenance is not part of the run: its name and digest are the spec's alone.
    record = json.loads((tmp_path / "run.json").read_text())
    assert (record["name"], record["digest"]) == (spec.run_name(), spec.digest())


def test_a_run_resumed_on_other_hardware_says_so(
    tmp_path: Path, tiny_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after epoch 1, resumed where collect() reports another device and CUDA: a
    logged line, a second stretch from epoch 2 in run.json, the checkpoint and the metrics,
    and a footer naming both devices."""
    spec = tiny_run.spec("at", epochs=3)
    tiny_run.killed_after_epoch_1(spec, tmp_path, log=lambda line: None)
    before = provenance.collect("cpu")
    elsewhere = dict(before, device="NVIDIA H100 80GB HBM3", cuda="12.4")
    monkeypatch.setattr(provenance, "collect", lambda device="cpu": dict(elsewhere))
    lines: list[str] = []
    Run(spec, tmp_path, progress=False, log=lines.append).run()
    moved = [line for line in lines if "other hardware" in line]
    assert moved == [
        f"{spec.run_name()}: resumed at epoch 2 on other hardware or software: device "
        f"{before['device']!r} -> 'NVIDIA H100 80GB HBM3', cuda {before['cuda']!r} -> '12.4'"
    ]
    want = [{"from_epoch": 1, **before}, {"from_epoch": 2, **elsewhere}]
    for where, stretches in stretches_in(tmp_path).items():
        assert stretches == want, where
    footer = read.computed_on([tmp_path / "metrics.parquet"])
    assert f"device {before['device']} / NVIDIA H100 80GB HBM3" in footer
    # Resuming again on the same hardware adds nothing.
    lines.clear()
    Run(spec, tmp_path, progress=False, log=lines.append).run()
    assert not [line for line in lines if "other hardware" in line]
    assert stretches_in(tmp_path)["last.pt"] == want


def test_an_evaluation_records_where_it_ran(tmp_path: Path) -> None:
    from gair.evaluation import evaluate
    from gair.models import build_model
    from gair.spec import RunSpec
    from gair.train.checkpoint import save_checkpoint

    spec = RunSpec(dataset="digits", model="mlp", method="at", epochs=1, eps=0.1, depth=1,
                   width=16)  # fmt: skip
    model = build_model("mlp", in_channels=64, num_classes=10, width=16, depth=1)
    ckpt = tmp_path / "last.pt"
    save_checkpoint(
        ckpt, {"model": model.state_dict(), "spec": json.dumps(spec.to_dict()), "epoch": 1}
    )
    out, samples = tmp_path / "eval.parquet", tmp_path / "samples.parquet"
    argv = ["--checkpoint", str(ckpt), "--attacks", "natural,pgd2", "--samples-limit", "8"]
    assert (
        evaluate.cli([*argv, "--device", "cpu", "--out", str(out), "--samples", str(samples)]) == 0
    )
    here = provenance.collect("cpu")
    assert read.provenance_of([out]) == [here] == read.provenance_of([samples])
    assert read.computed_on([out, samples]) == provenance.summary([here])
