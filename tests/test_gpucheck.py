"""The prepared GPU check's command line and its time budget (the whole shrunk check takes
about a minute: .ci/run runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gair.cli import main
from gair.tools.gpucheck import sizes


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
