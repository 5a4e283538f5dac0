"""The whole smoke DAG, for real: every figure and table of the paper at smoke scale.

Runs `snakemake --cores 2 --configfile config/smoke.yaml all` in a temporary directory (about
ten minutes on two CPU cores), then checks what it produced: each figure re-rendered from the
Parquet files it read has the panels its caption describes, and each table has its rows.
Select with `-m smoke`. Set GAIR_SMOKE_DIR to keep (and reuse) the output directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
pytestmark = pytest.mark.smoke


def snakemake_command(root: Path, *extra: str) -> list[str]:
    """`snakemake all` with the smoke config, working in `root`."""
    return [
        sys.executable, "-m", "snakemake", "all", "--snakefile", str(SNAKEFILE),
        "--directory", str(root), "--configfile", str(REPO / "config" / "smoke.yaml"), *extra,
    ]  # fmt: skip


# Panels with data per figure, from the captions (smoke config: 2 toy sets, 1 class pair in
# Fig. 3; 6 pairs in Figs. 7, 8; 4 LR schedules in Fig. 11; 3 networks or tau schedules in
# Figs. 16, 18).
PANELS = {
    "fig2": 2, "fig3": 3, "fig4": 6, "fig5": 4, "fig6": 4, "fig7": 6, "fig8": 6, "fig10": 6,
    "fig11": 9, "fig12": 3, "fig13": 3, "fig14": 3, "fig15": 2, "fig16": 6, "fig17": 2,
    "fig18": 6, "fig19": 2, "fig20": 2, "fig21": 2,
}  # fmt: skip
# method x checkpoint x attack rows per table (smoke: Table 3 reports natural and PGD-20).
TABLE_ROWS = {"table1": 4 * 2 * 3, "table2": 2 * 2 * 3, "table3": 1 * 1 * 2}
SMOKE_SEEDS = 3


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    keep = os.environ.get("GAIR_SMOKE_DIR")
    root = Path(keep) if keep else tmp_path_factory.mktemp("smoke")
    root.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    # Two simulated GPUs: jobs take them through gair's locks (the test below checks both).
    env = dict(os.environ, GAIR_GPU_COUNT="2", GAIR_LOCK_DIR=str(root / "gpu-locks"))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    command = snakemake_command(root, "--cores", "2", "--resources", "gpu=2")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=1800, check=False, env=env
    )
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        logs = sorted((root / "results" / "smoke" / "logs").rglob("*.log"), key=os.path.getmtime)
        tail = logs[-1].read_text()[-3000:] if logs else ""
        pytest.fail(f"smoke DAG failed after {elapsed:.0f} s:\n{done.stderr[-4000:]}\n{tail}")
    print(f"smoke DAG: {elapsed:.0f} s")
    yield root


@pytest.mark.parametrize("name", list(PANELS))
def test_figure_has_its_panels(smoke_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gair.figures import axes_with_data, render

    folder = smoke_dir / "figures" / "smoke"
    png, pdf = folder / f"{name}.png", folder / f"{name}.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    # Re-render from the Parquet files the figure read (listed in its sidecar) and count the
    # panels that show data.
    manifest = json.loads((folder / f"{name}.json").read_text())["manifest"]
    monkeypatch.chdir(smoke_dir)
    fig = render(name, manifest)
    assert len(axes_with_data(fig)) == PANELS[name]


@pytest.mark.parametrize("name", list(TABLE_ROWS))
def test_table_has_its_rows(smoke_dir: Path, name: str) -> None:
    folder = smoke_dir / "results" / "smoke" / "tables"
    table = pd.read_csv(folder / f"{name}.csv")
    assert len(table) == TABLE_ROWS[name]
    assert table["median"].between(0, 100).all()
    assert table["paper_median"].notna().any()
    if name != "table3":
        assert (table["n_seeds"] == SMOKE_SEEDS).all()
        assert table["std"].notna().all()
    markdown = (folder / f"{name}.md").read_text()
    for method in table["method"].unique():
        assert f"| {method} |" in markdown
    assert "\\begin{tabular}" in (folder / f"{name}.tex").read_text()


def test_report_gathers_every_figure_with_a_caption(smoke_dir: Path) -> None:
    report = smoke_dir / "report.html"
    command = snakemake_command(smoke_dir, "--report", str(report))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    html = report.read_text()
    for name in PANELS:
        assert f"{name}.png" in html
    # One caption per figure and per table, each naming the paper's figure or table.
    assert html.count("What to look for") == len(PANELS) + len(TABLE_ROWS)
    assert "Figure 21</strong> of GAIRAT" in html


def test_jobs_ran_on_both_simulated_gpus(smoke_dir: Path) -> None:
    # GPU 1 is only ever taken while another job holds GPU 0.
    locks = sorted(p.name for p in (smoke_dir / "gpu-locks").glob("gpu*.lock"))
    assert locks == ["gpu0.lock", "gpu1.lock"]


def test_run_folders_carry_the_workflow_names(smoke_dir: Path) -> None:
    runs = sorted((smoke_dir / "results" / "smoke" / "runs").iterdir())
    assert len(runs) > 50
    for run in runs:
        # The name the workflow planned is the name train derived from the same spec.
        assert json.loads((run / "run.json").read_text())["name"] == run.name
        assert (run / "metrics.parquet").is_file() and (run / "last.pt").is_file()
