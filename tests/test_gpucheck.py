"""The prepared GPU check's command line and its time budget (the whole shrunk check takes
under two minutes: .ci/run runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gair.cli import main
from gair.tools.gpucheck import sizes
from gair.tools.gpucheck.report import render


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--parts", "bench,gpu"], ["--parts 'bench,gpu'", "tests, bench, epoch"]),
        (["--parts", ""], ["--parts ''", "valid parts"]),
        (["--budget-s", "0"], ["--budget-s 0.0", "> 0"]),
        (["--budget-s", "nan"], ["--budget-s nan", "> 0"]),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gpucheck", "--out", str(tmp_path), "--shrink", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not (tmp_path / "gpucheck.md").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the full check runs")
def test_full_check_without_a_gpu_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gpucheck", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "--shrink" in err


def test_parts_that_do_not_fit_the_budget_are_listed_not_run(tmp_path: Path) -> None:
    code = main(["gpucheck", "--out", str(tmp_path), "--shrink", "--budget-s", "0.01",
                 "--parts", "bench,epoch,preflight"])  # fmt: skip
    assert code == 0  # nothing ran, so nothing failed
    record = json.loads((tmp_path / "gpucheck.json").read_text())
    rows = record["bench"]["rows"]
    shrunk = sizes.SHRUNK
    assert len(rows) == len(shrunk.models) * len(shrunk.modes)
    assert all(r["status"] == "not run" and "time budget" in r["why"] for r in rows)
    assert record["epoch"]["status"] == record["preflight"]["status"] == "not run"
    assert "tests" not in record and "compile" not in record  # not asked for
    report = (tmp_path / "gpucheck.md").read_text()
    assert report.startswith("# GPU check") and "Shrunk" in report
    assert "no part failed" in report and report.count("not run") >= len(rows) + 2
    assert "## 1. CUDA tests\n\nnot run (not asked for)" in report
    # written atomically: no temporary file is left beside the report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpucheck.json", "gpucheck.md"]


@pytest.mark.slow
def test_the_check_imports_no_package_a_node_may_lack() -> None:
    """A node set up by someone else may lack Snakemake, pyautoattack and robustbench: the
    check imports none of them (its parts start Snakemake as a process and ask whether the
    others are importable)."""
    code = (
        "import sys, gair.cli, gair.tools.gpucheck.cli\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'snakemake', 'pyautoattack', 'robustbench'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, snakemake; print('snakemake' in sys.modules)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert loaded.stdout.strip() == "True"  # the question the first process answers is real


def _record(**parts: object) -> dict:
    env = {"python": "3.11.2", "torch": "2.4.1", "cuda_build": "12.1", "host": "node1",
           "cpus": 64, "device": "cuda", "gpu": "NVIDIA H100 80GB HBM3", "gpu_memory_gib": 79.1,
           "gpus_visible": 1, "cudnn": 90100,
           "packages": {"pandas": "2.0.3", "snakemake": None}}  # fmt: skip
    return {"started": "2026-01-01T00:00:00+00:00", "elapsed_s": 400.0, "budget_s": 450.0,
            "shrink": False, "failed": [], "environment": env, **parts}  # fmt: skip


def test_report_of_a_full_check() -> None:
    row = {"model": "WRN-32-10", "mode": "bf16", "batch": 128, "status": "ok",
           "train_images_per_s": 1234.5, "speedup_vs_reference": 3.21,
           "attack_images_per_s": 1500.0, "pgd20_images_per_s": 2500.0,
           "train_flops_per_image": 3.06e11, "achieved_tflops": 377.8, "fraction_of_peak": 0.382,
           "peak": "H100 SXM bf16 989.4", "identical_kappa": True,
           "target_images_per_s": 1000}  # fmt: skip
    oom = {"model": "WRN-32-10", "mode": "fp32", "batch": 128, "status": "failed",
           "why": "OutOfMemoryError: CUDA out of memory"}  # fmt: skip
    epoch = {"status": "passed", "run": "cifar10-wrn-at-s0-x", "method": "at",
             "model": "wrn-32-10", "batch": 128, "steps": 10, "amp": "none", "n_train": 50000,
             "train_s": 100.0, "eval_s": 40.0, "images_per_s": 500.0,
             "flop_model_epoch_s": 70.0, "measured_over_flop_model": 2.0,
             "run_hours_measured": 4.67, "run_hours_flop_model": 2.33, "table1_runs": 20,
             "table1_train_hours_flop_model": 516.0,
             "table1_train_hours_at_measured_rate": 1032.0, "tf32_convolutions": True}  # fmt: skip
    record = _record(
        tests={"status": "failed", "why": "pytest exited with 1", "seconds": 61.0,
               "counts": {"passed": 50, "failed": 1}, "log": "cuda-tests.log",
               "failures": ["FAILED tests/test_cuda.py::test_x - assert 0"], "skip_reasons": [],
               "command": "python -m pytest -q -m gpu -rfEs tests/test_cuda.py"},
        bench={"method": "gairat", "steps": 10, "iters": 3, "warmup": 1, "rows": [oom, row],
               "peak_source": "NVIDIA datasheets"},
        compile={"status": "failed", "why": "RuntimeError: no triton"},
        epoch=epoch,
        preflight={"status": "not run", "why": "snakemake and pyautoattack not importable"},
    )  # fmt: skip
    record["failed"] = ["tests", "bench WRN-32-10 fp32", "compile"]
    text = render(record)
    assert "FAILED: tests, bench WRN-32-10 fp32, compile" in text
    assert "50 passed, 1 failed in 61 s" in text and "- FAILED tests/test_cuda.py::test_x" in text
    assert "| WRN-32-10 | bf16 | 128 | 1,234 | 1,000 | 3.21x | 1,500 | 2,500 | 377.80 | " in text
    assert "38.2% of H100 SXM bf16 989.4 |" in text
    assert "| WRN-32-10 | fp32 | 128 | failed: OutOfMemoryError" in text
    assert "failed: RuntimeError: no triton" in text
    assert "measured / model = 2.00" in text and "1032 GPU-h of training" in text
    assert "FLOP model 516" in text and "in TF32" in text
    assert "## 4. Preflight of table1\n\nnot run: snakemake and pyautoattack" in text


def test_report_when_a_part_failed_as_a_whole() -> None:
    text = render(_record(bench={"status": "failed", "why": "ImportError: x"}))
    assert "## 2. Throughput: `gair bench`\n\nfailed: ImportError: x" in text
    assert "## 3. One epoch of Table 1's WRN-32-10\n\nnot run (not asked for)" in text


@pytest.mark.parametrize("size", [sizes.FULL, sizes.SHRUNK], ids=["full", "shrunk"])
def test_the_preflight_fits_the_files_the_check_writes(size: sizes.Sizes, tmp_path: Path) -> None:
    """Every table1 run of the preflight's overlay selects best_val on fewer test points than
    the one test file the check writes holds, and leaves a batch of training points."""
    import yaml

    from gair.plan import Plan
    from gair.plan.config import load_config

    overlay = tmp_path / "gpucheck.yaml"
    overlay.write_text(yaml.safe_dump({"data_root": str(tmp_path), **size.preflight}))
    plan = Plan(load_config([overlay]))
    runs = {name: plan.runs[name] for name in plan.target_runs("table1")}
    written = 5 * size.cifar_per_file
    assert all(spec.selection_points for spec in runs.values())  # best_val is in the preflight
    for name, spec in runs.items():
        available = min(spec.train_subset or written, written)
        assert spec.batch_size <= available, name
        tested = min(spec.evaluated_test_points, size.cifar_per_file)
        assert 0 < spec.selection_points < tested, (name, spec.selection_points, tested)
    # The epoch part's run too (Table 1's AT run with the size's settings).
    from gair.tools.gpucheck.parts import table1_spec

    spec, _ = table1_spec(size.epoch_settings)
    tested = min(spec.evaluated_test_points, size.cifar_per_file)
    assert 0 < spec.selection_points < tested, (spec.selection_points, tested)
