"""Real formats and real sizes on the CPU, and the preflight of a whole paper target.

Every real dataset reader on tiny files in its real on-disk format, every model the paper
config trains at its real depth and width, and every method, each through optimizer steps
and an evaluation (at a small batch and K); then the preflight DAG of Fig. 16 (SmallCNN,
VGG-13, ResNet-18) through Snakemake and its budget table. Minutes: `pytest -m preflight`.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from realformat import write_all, write_rst_pickle

from gair.evaluation.evaluate import evaluate_checkpoint
from gair.methods import method_names
from gair.plan import Plan
from gair.plan.config import load_config
from gair.spec import RunSpec
from gair.train.preflight import measure

pytestmark = pytest.mark.preflight
REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
torch.set_num_threads(2)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_all(tmp_path_factory.mktemp("data"), per_batch=4)


def small(**settings: object) -> RunSpec:
    """A run of the real data path at a small batch, K and evaluation."""
    values: dict[str, object] = dict(
        model="smallcnn", method="at", epochs=3, batch_size=4, steps=1, eval_steps=1,
        eval_samples=4, train_eval_samples=4, flatness_samples=4, device="cpu",
    )  # fmt: skip
    values.update(settings)
    return RunSpec.from_dict(values)


def paper_models() -> list[tuple[str, int | None, int | None]]:
    """Every (model, depth, width) the paper config trains."""
    plan = Plan(load_config())
    shapes = {(s.model, s.depth, s.width) for s in plan.runs.values()}
    return sorted(shapes, key=str)


def test_the_paper_trains_the_networks_it_names() -> None:
    shapes = paper_models()
    assert ("wrn", 32, 10) in shapes and ("wrn", 34, 10) in shapes and ("wrn", 28, 10) in shapes
    for name in ("resnet18", "resnet34", "resnet50", "preactresnet18", "vgg13", "smallcnn"):
        assert any(m == name for m, _, _ in shapes), name


@pytest.mark.parametrize(("model", "depth", "width"), paper_models(), ids=str)
def test_every_paper_model_steps_and_evaluates_at_its_real_size(
    data_root: Path, tmp_path: Path, model: str, depth: int | None, width: int | None
) -> None:
    spec = small(dataset="cifar10", model=model, depth=depth, width=width, batch_size=2,
                 data_root=str(data_root))  # fmt: skip
    record = measure(spec, tmp_path, steps=2)
    assert record["seconds_per_step"] > 0 and record["peak_memory_mb"] > 0
    # the projection is for the real dataset: 50K CIFAR-10 points at this batch
    assert record["steps_per_epoch"] == 25_000
    _, result = evaluate_checkpoint(tmp_path / "last.pt", ["natural", "pgd1"], device="cpu")
    assert [r["attack"] for r in result.rows] == ["natural", "pgd1", "worst_case"]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["n"] == 4 for r in result.rows)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "svhn", "mnist"])
def test_every_real_data_path_trains(data_root: Path, tmp_path: Path, dataset: str) -> None:
    record = measure(small(dataset=dataset, data_root=str(data_root)), tmp_path, steps=2)
    assert record["run"].startswith(dataset)


@pytest.mark.parametrize("method", method_names())
def test_every_method_steps_on_real_format_data(
    data_root: Path, tmp_path: Path, method: str
) -> None:
    extra: dict[str, object] = {}
    if method == "gair_rst":  # RST's pickle in its real format
        extra["unlabeled_path"] = str(write_rst_pickle(tmp_path / "ti_500K_pseudo_labeled.pickle"))
    spec = small(dataset="cifar10", method=method, data_root=str(data_root), **extra)
    record = measure(spec, tmp_path / "run", steps=2)
    assert math.isfinite(record["seconds_per_step"])
    _, result = evaluate_checkpoint(tmp_path / "run" / "best.pt", ["natural"], device="cpu")
    assert result.rows[0]["n"] == 4


def test_the_projection_scales_with_epochs_and_dataset_size(
    data_root: Path, tmp_path: Path
) -> None:
    short = measure(small(dataset="cifar10", data_root=str(data_root)), tmp_path / "a", steps=2)
    long = measure(
        small(dataset="svhn", epochs=30, data_root=str(data_root)), tmp_path / "b", steps=2
    )
    for record, n_train, epochs in ((short, 50000, 3), (long, 73257, 30)):
        steps = math.ceil(n_train / 4)
        assert record["steps_per_epoch"] == steps
        want = record["seconds_per_step"] * steps * epochs / 3600
        assert record["projected_step_hours"] == pytest.approx(want, rel=1e-12)
        per_epoch = sum(
            record["seconds_per_eval_point"][k] * record["eval_points_per_epoch"][k]
            for k in record["seconds_per_eval_point"]
        )
        assert record["projected_epoch_eval_hours"] == pytest.approx(
            per_epoch * epochs / 3600, rel=1e-12
        )  # eval_every 1: every epoch is evaluated
    # per step the two runs cost about the same, so ten times the epochs and a larger set
    # project far more
    assert long["projected_step_hours"] > 5 * short["projected_step_hours"]


def test_preflight_of_fig16_through_the_workflow(data_root: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "preflight.yaml"
    # The paper's fig16 at a small batch (its real batch of 128 takes minutes per step on
    # two CPU cores) and a selection split of 2 of the 4 test images the files hold (the
    # paper's 1,000 of 10,000); everything else as the paper config says.
    force = {"batch_size": 8, "selection_points": 2}
    overlay.write_text(yaml.safe_dump({"data_root": str(data_root), "force": force}))
    env = dict(os.environ, OMP_NUM_THREADS="2", GAIR_GPU_COUNT="0")
    base = [sys.executable, "-m", "snakemake", "fig16", "--snakefile", str(SNAKEFILE),
            "--directory", str(tmp_path), "--configfile", str(overlay), "--config",
            "preflight=2", "--cores", "1"]  # fmt: skip
    dry = subprocess.run([*base, "-n"], capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    planned = set(re.findall(r"results/preflight/runs/([^/\s]+)/done\.json", dry.stdout))
    assert len(planned) == 6  # SmallCNN, VGG-13, ResNet-18 x AT, GAIRAT
    done = subprocess.run(base, capture_output=True, text=True, env=env, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    budget = pd.read_csv(tmp_path / "results" / "preflight" / "budget" / "fig16.csv")
    assert set(budget["run"]) == planned and len(budget) == 6
    assert (budget["seconds_per_step"] > 0).all() and (budget["peak_memory_mb"] > 0).all()
    assert (budget["steps_per_epoch"] == 6250).all() and (budget["epochs"] == 100).all()
    assert (budget["projected_train_hours"] > 0).all() and budget["flop_model_hours"].notna().all()
    markdown = (tmp_path / "results" / "preflight" / "budget" / "fig16.md").read_text()
    assert "Preflight budget: fig16" in markdown and "Total: about" in markdown
    # the real run's folders are untouched: preflight writes under results/preflight only
    assert not (tmp_path / "results" / "runs").exists()
    assert not (tmp_path / "figures" / "fig16.png").exists()
