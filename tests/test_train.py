"""The training loop: every method trains, metrics are sane, runs resume exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from gair.cli import main
from gair.methods import method_names
from gair.train.checkpoint import load_checkpoint
from gair.train.loop import EXIT_PREEMPTED, train

TIMING = ["train_s", "eval_s", "images_per_s"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "gair", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow
def test_methods_command_lists_registry() -> None:
    result = run_cli("methods")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = [line.split("\t")[0] for line in lines]
    assert names == method_names()
    # ATLAS is our interpretation of an abstract: its line says so, and only its line does
    assert [line for line in lines if "interpretation" in line] == ["atlas\t(interpretation)"]
    for required in ("at", "gairat", "fat", "gair_fat", "trades", "gair_trades", "mart",
                     "gair_mart", "gair_mart_kl"):  # fmt: skip
        assert required in names


@pytest.mark.slow
@pytest.mark.parametrize("method", method_names())
def test_every_method_trains_two_epochs(method: str, tmp_path: Path, tiny_run) -> None:
    out = tmp_path / method
    # GAIR-RST trains on labelled + pseudo-labelled data: the dataset with a pool.
    dataset = "digits_pseudo" if method == "gair_rst" else "digits"
    args = tiny_run.args(dataset=dataset, method=method, reweight_from=2)
    code = main(["train", *args, "--out", str(out), "--progress", "lines"])
    assert code == 0
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert list(metrics["epoch"]) == [1, 2]
    assert metrics["train_loss"].map(lambda v: v == v and abs(v) < 1e6).all()
    assert ((metrics["test_pgd20_err"] >= 0) & (metrics["test_pgd20_err"] <= 1)).all()
    # Adversarial error is never below natural error on the same points, same model.
    assert (metrics["train_pgd20_err"] >= metrics["train_nat_err"]).all()
    assert (metrics["train_adv_err"] >= metrics["train_nat_err"]).all()
    for name in ("last.pt", "best.pt", "run.json"):
        assert (out / name).is_file()
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2


def test_kappa_statistics_and_burn_in(tmp_path: Path, tiny_run) -> None:
    rows = train(tiny_run.spec("gairat", reweight_from=2, save_kappa=True), tmp_path)
    first, second = rows
    # Burn-in epoch 1: every weight is exactly 1; afterwards they vary but average to 1.
    assert (first["weight_min"], first["weight_max"], first["weight_std"]) == (1.0, 1.0, 0.0)
    assert not first["reweighting"] and second["reweighting"]
    assert second["weight_std"] > 0
    assert abs(second["weight_mean"] - 1) < 1e-6
    # The histogram counts every training point once per epoch, kappa in [0, K].
    kappa = pd.read_parquet(tmp_path / "kappa.parquet")
    n, k = tiny_run.settings["train_subset"], tiny_run.settings["steps"]
    for row in rows:
        assert sum(row["kappa_hist"]) == n and len(row["kappa_hist"]) == k + 1
        part = kappa[kappa["epoch"] == row["epoch"]]
        assert len(part) == n and part["index"].is_unique
        assert abs(part["kappa"].mean() - row["kappa_mean"]) < 1e-9
        assert part["kappa"].median() == row["kappa_median"]


def test_lambda_inf_trains_exactly_like_at(tmp_path: Path, tiny_run) -> None:
    a = train(tiny_run.spec("at"), tmp_path / "at")
    g = train(tiny_run.spec("gairat", lam=float("inf"), reweight_from=2), tmp_path / "g")
    for ra, rg in zip(a, g, strict=True):
        for key in ("train_loss", "test_pgd20_err", "kappa_mean", "test_nat_err"):
            assert ra[key] == rg[key], key


def test_best_checkpoint_respects_window(tmp_path: Path, tiny_run) -> None:
    rows = train(tiny_run.spec("at", epochs=3, best_start=2, best_end=3, snapshots=[1]), tmp_path)
    best = load_checkpoint(tmp_path / "best.pt")
    window = [r for r in rows if 2 <= r["epoch"] <= 3]
    top = max(window, key=lambda r: 1 - r["test_pgd20_err"])
    assert best["epoch"] == top["epoch"]
    assert load_checkpoint(tmp_path / "epoch1.pt")["epoch"] == 1


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=TIMING).reset_index(drop=True)


def test_resume_after_completed_epoch_is_exact(tmp_path: Path, tiny_run) -> None:
    spec = tiny_run.spec(
        "gair_fat", epochs=3, tau_values=[0, 1], tau_milestones=[2], reweight_from=2
    )
    full = pd.DataFrame(train(spec, tmp_path / "full"))
    part = tmp_path / "cut"
    tiny_run.killed_after_epoch_1(spec, part)
    assert load_checkpoint(part / "last.pt")["epoch"] == 1
    resumed = pd.DataFrame(train(spec, part))
    pd.testing.assert_frame_equal(_comparable(full), _comparable(resumed))


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.4])
def test_killed_run_resumes_to_identical_metrics(tmp_path: Path, delay: float, tiny_run) -> None:
    """SIGKILL just after epoch 1's files, or inside epoch 2; then the same command: the
    metrics equal an uninterrupted run's."""
    args = ["train", *tiny_run.args(method="gairat", epochs=3, seed=1, reweight_from=2),
            "--progress", "lines"]  # fmt: skip
    full = tmp_path / "full"
    assert run_cli(*args, "--out", str(full)).returncode == 0
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gair", *args, "--out", str(cut)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (cut / "metrics.parquet").exists():
        time.sleep(0.05)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    done = pd.read_parquet(cut / "metrics.parquet")
    assert len(done) < 3, "the run finished before it could be killed"
    result = run_cli(*args, "--out", str(cut))
    assert result.returncode == 0, result.stderr
    assert "resuming after epoch" in result.stdout
    a = pd.read_parquet(full / "metrics.parquet")
    b = pd.read_parquet(cut / "metrics.parquet")
    pd.testing.assert_frame_equal(_comparable(a), _comparable(b))
    # the per-point results of every epoch survive the kill too
    pd.testing.assert_frame_equal(
        pd.read_parquet(full / "points.parquet"), pd.read_parquet(cut / "points.parquet")
    )


@pytest.mark.slow
def test_sigterm_exits_with_requeue_code_and_keeps_last_epoch(tmp_path: Path, tiny_run) -> None:
    args = ["train", *tiny_run.args(epochs=50), "--out", str(tmp_path), "--progress", "lines"]
    proc = subprocess.Popen([sys.executable, "-m", "gair", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "last.pt").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_PREEMPTED, err
    assert "resumes" in err
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert 1 <= ckpt["epoch"] < 50
    assert len(pd.read_parquet(tmp_path / "metrics.parquet")) == ckpt["epoch"]


@pytest.mark.slow
def test_resume_refuses_a_different_run(tmp_path: Path, tiny_run) -> None:
    train(tiny_run.spec("at", epochs=1), tmp_path)
    result = run_cli("train", *tiny_run.args(method="gairat", epochs=1), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "method" in result.stderr and "another --out" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_json_names_the_spec(tmp_path: Path, tiny_run) -> None:
    spec = tiny_run.spec("at", epochs=1)
    train(spec, tmp_path)
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["name"] == spec.run_name() and data["spec"]["method"] == "at"


def test_compacted_early_stop_trains_exactly_like_the_masked_one(tmp_path: Path, tiny_run) -> None:
    """Forwarding only the running samples changes the work, never the numbers."""
    kw = dict(tau_values=[0, 1], tau_milestones=[2], reweight_from=2)
    compact = train(tiny_run.spec("gair_fat", compact_early_stop=True, **kw), tmp_path / "c")
    masked = train(tiny_run.spec("gair_fat", compact_early_stop=False, **kw), tmp_path / "m")
    for a, b in zip(compact, masked, strict=True):
        for key in ("train_loss", "kappa_mean", "kappa_hist", "weight_std", "test_pgd20_err"):
            assert a[key] == b[key], key


def test_per_point_results_are_the_metrics_errors_point_by_point(tmp_path: Path, tiny_run) -> None:
    """points.parquet holds, for every evaluated epoch, which evaluated points each attack
    left correct; their mean is the metrics' error, and best_epoch names best.pt's epoch."""
    spec = tiny_run.spec(method="gairat", epochs=3, eval_every=2, reweight_from=2)
    train(spec, tmp_path)
    points = pd.read_parquet(tmp_path / "points.parquet")
    metrics = pd.read_parquet(tmp_path / "metrics.parquet").set_index("epoch")
    assert sorted(points["epoch"].unique()) == [2, 3]  # epoch 1 is not due, the last always is
    for (epoch, split, attack), part in points.groupby(["epoch", "split", "attack"]):
        assert list(part["index"]) == list(range(64))
        error = metrics.loc[epoch, f"{split}_{attack}_err"]
        assert 1 - part["correct"].mean() == pytest.approx(error, abs=1e-12)
        assert metrics.loc[epoch, f"{split}_n"] == 64
    assert set(zip(points["split"], points["attack"], strict=True)) == {
        ("test", "nat"), ("test", "pgd20"), ("train", "nat"), ("train", "adv"),
        ("train", "pgd20"),
    }  # fmt: skip
    best = load_checkpoint(tmp_path / "best.pt")["best"]["epoch"]
    assert metrics["best_epoch"].iloc[-1] == best
    assert metrics.loc[1, "best_epoch"] == 0  # epoch 1 was not evaluated: no best.pt yet
