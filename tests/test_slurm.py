"""SLURM for real: a single-node cluster with two fake GPUs runs jobs and the smoke workflow.

Selected with ``-k slurm`` (marker ``slurm``). Needs root and Debian's slurmctld, slurmd,
slurm-client and munge; skipped, with the reason, where they are missing. Set
``GAIR_REQUIRE_SLURM=1`` (as CI does) to turn that skip into a failure.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
SMOKE = REPO / "config" / "smoke.yaml"
# A site may point the test at its own profile; the project's is the default.
PROFILE = Path(os.environ.get("GAIR_SLURM_PROFILE", REPO / "workflow" / "profiles" / "slurm"))
# What the test cluster needs on top of the profile: it has no accounting database, so job
# states come from squeue and there is no account to guess; its one node has 2 CPUs and this
# machine's memory, less than the profile asks of a real GPU node; status checks start early
# so the test is quick, and a failure is reported at once rather than retried; successful
# jobs keep their SLURM logs, which name each job's id.
GPU_RULES = ("train", "evaluate", "geometry")
CLUSTER_OVERRIDES = [
    "--slurm-status-command", "squeue",
    "--slurm-no-account",
    "--set-threads", *(f"{rule}=1" for rule in GPU_RULES),
    "--set-resources", *(f"{rule}:mem_mb=1000" for rule in GPU_RULES),
    "--slurm-init-seconds-before-status-checks", "5",
    "--slurm-keep-successful-logs",
    "--retries", "0",
    "--jobs", "4",
]  # fmt: skip
# The toy runs of Fig. 3 (an MLP on moons and on circles) and their geometry: four GPU jobs,
# the two trainings ready at the same time, so they must run side by side on the two GPUs.
TOY_RUN = re.compile(r"results/smoke/runs/((?:moons|circles)-[^/\s]+)/done\.json")
# The line `python -m gair gpu run` writes before it starts the command.
GPU_LINE = re.compile(r"^gpu: CUDA_VISIBLE_DEVICES=(\S*)", re.MULTILINE)


def _load_cluster_module():
    """tests/slurm/cluster.py, loaded by path: a bare ``import slurm`` could find another one."""
    path = Path(__file__).with_name("slurm") / "cluster.py"
    spec = importlib.util.spec_from_file_location("gair_test_slurm_cluster", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cluster_mod = _load_cluster_module()


def _profile_partition() -> str:
    """The partition the profile asks for, so that the test cluster offers one of that name."""
    import yaml

    config = PROFILE / "config.yaml"
    settings = yaml.safe_load(config.read_text()) if config.is_file() else None
    resources = (settings or {}).get("default-resources") or {}
    if isinstance(resources, list):  # the command-line form: ["slurm_partition=gpu", ...]
        resources = dict(item.split("=", 1) for item in resources if "=" in item)
    name = str(resources.get("slurm_partition", "")).strip("'\"")
    return name if re.fullmatch(r"[A-Za-z0-9_.-]+", name) else cluster_mod.PARTITION


def _unavailable(reason: str) -> None:
    """Skip, or fail where CI asks for the SLURM test to run (GAIR_REQUIRE_SLURM=1)."""
    if os.environ.get("GAIR_REQUIRE_SLURM") == "1":
        pytest.fail(f"GAIR_REQUIRE_SLURM=1 but the SLURM test cluster cannot run: {reason}")
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    reason = cluster_mod.missing_requirements()
    if reason:
        _unavailable(reason)
    c = cluster_mod.SlurmCluster(partition=_profile_partition())
    try:
        try:
            c.start()
        except cluster_mod.ClusterUnavailable as err:
            _unavailable(f"the daemons did not start: {err}")
        yield c
    finally:
        started = list(c.procs.values())
        c.stop()
        # The daemons are gone: none of the processes started here may still run.
        assert all(p.poll() is not None for p in started)
        link = cluster_mod.CONF_LINK
        assert not link.is_symlink() or str(c.root) not in os.readlink(link)
        shutil.rmtree(c.root, ignore_errors=True)


def _sbatch(c, *args: str) -> str:
    done = c.run("sbatch", "--parsable", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def test_slurm_cluster_gives_each_gpu_job_its_own_device(cluster, tmp_path: Path) -> None:
    """Two concurrent --gres=gpu:1 jobs on a 2-GPU node see different CUDA_VISIBLE_DEVICES."""
    # Each job waits for the other's marker file, so both must run at the same time: the
    # scheduler cannot pass the test by handing out GPU 0 twice, one job after the other.
    script = (
        'echo "$CUDA_VISIBLE_DEVICES" > {out}/cvd$SLURM_JOB_ID; touch {out}/here$1; '
        "for i in $(seq 100); do [ -e {out}/here$2 ] && exit 0; sleep 0.2; done; exit 1"
    )
    ids = []
    for me, other in (("a", "b"), ("b", "a")):
        wrap = script.format(out=tmp_path).replace("$1", me).replace("$2", other)
        ids.append(
            _sbatch(
                cluster, "--gres=gpu:1", "-c", "1", "-o", str(tmp_path / "%j.log"), "--wrap", wrap
            )
        )
    states = cluster.wait_jobs(ids)
    assert set(states.values()) == {"COMPLETED"}, (states, [
        (tmp_path / f"{i}.log").read_text() for i in ids if (tmp_path / f"{i}.log").exists()
    ])  # fmt: skip
    seen = [(tmp_path / f"cvd{i}").read_text().strip() for i in ids]
    assert sorted(seen) == ["0", "1"]


def test_slurm_job_without_gpu_request_sees_no_gpu(cluster, tmp_path: Path) -> None:
    out = tmp_path / "cvd"
    job = _sbatch(cluster, "-c", "1", "-o", "/dev/null", "--wrap",
                  f'echo "[${{CUDA_VISIBLE_DEVICES-unset}}]" > {out}')  # fmt: skip
    assert cluster.wait_jobs([job]) == {job: "COMPLETED"}
    # SLURM leaves the variable unset (or empty) when no GPU was allocated.
    assert out.read_text().strip() in ("[unset]", "[]")


# --------------------------------------------------------------------------- the workflow
def _snakemake(c, workdir: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
            "--directory", str(workdir), "--configfile", str(SMOKE), *args]  # fmt: skip
    return subprocess.run(
        argv, cwd=REPO, env=c.env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _toy_runs(c, workdir: Path) -> list[str]:
    """The names of the toy runs of Fig. 3, from a dry run of the smoke config."""
    done = _snakemake(c, workdir, "--dry-run", "--cores", "1", "--", "fig3", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted(set(TOY_RUN.findall(done.stdout + done.stderr)))
    assert len(runs) == 2, f"expected the moons and circles runs of fig3, found {runs}"
    return runs


def _job_ids(workdir: Path, rule: str, run: str) -> list[str]:
    """SLURM job ids of one rule's jobs for a run, from the executor's kept log files."""
    # One folder per job, named after its wildcards (for geometry: the run and the profile).
    folder = workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}"
    return sorted(p.stem for d in folder.glob(f"{run}*") for p in d.glob("*.log"))


def _times(c, job: str) -> tuple[datetime, datetime]:
    done = c.run("squeue", "-h", "-t", "all", "-j", job, "-o", "%S %e")
    start, end = done.stdout.split()
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def test_slurm_profile_runs_smoke_targets_each_job_on_its_own_gpu(cluster, tmp_path: Path) -> None:
    """Smoke targets through the project's slurm profile: outputs complete, one GPU per job."""
    import pandas as pd

    from gair.train.checkpoint import load_checkpoint

    missing = [str(p) for p in (SNAKEFILE, SMOKE, PROFILE / "config.yaml") if not p.is_file()]
    if missing:
        _unavailable(f"the workflow is incomplete: {', '.join(missing)} missing")
    workdir = tmp_path / "work"
    workdir.mkdir()
    runs = _toy_runs(cluster, workdir)
    targets = [f"results/smoke/geometry/{run}/toy.parquet" for run in runs]
    profile = ["--workflow-profile", str(PROFILE), *CLUSTER_OVERRIDES]
    done = _snakemake(cluster, workdir, *profile, "--", *targets, timeout=1200)
    logs = workdir / "results" / "smoke" / "logs"
    if done.returncode != 0:
        job_logs = "".join(
            f"\n--- {p}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
        )
        pytest.fail(f"snakemake failed:\n{done.stderr[-4000:]}{job_logs}")

    # The outputs: every epoch in the metrics, a readable last checkpoint, geometry per point.
    for run in runs:
        folder = workdir / "results" / "smoke" / "runs" / run
        metrics = pd.read_parquet(folder / "metrics.parquet")
        assert list(metrics["epoch"]) == list(range(1, len(metrics) + 1)) and len(metrics) >= 2
        assert metrics["train_loss"].map(math.isfinite).all()
        assert (folder / "done.json").read_text() == (folder / "run.json").read_text()
        assert load_checkpoint(folder / "last.pt")["epoch"] == len(metrics)
        geometry = pd.read_parquet(workdir / "results" / "smoke" / "geometry" / run / "toy.parquet")
        per_class = geometry.groupby("label").size()
        assert len(per_class) == 2 and per_class.nunique() == 1  # the same count per class
        assert geometry["kappa"].between(0, 1000).all()

    # Every GPU job ran as its own SLURM job with one of the node's two GPUs ...
    seen: dict[str, str] = {}
    for rule, log_name in (("train", "train/{run}.log"), ("geometry", "geometry/{run}/toy.log")):
        for run in runs:
            ids = _job_ids(workdir, rule, run)
            assert len(ids) == 1, (rule, run, ids)
            text = (logs / log_name.format(run=run)).read_text()
            values = GPU_LINE.findall(text)
            assert values, f"no 'gpu: CUDA_VISIBLE_DEVICES=...' line in the {rule} log of {run}"
            assert values[0] in ("0", "1"), (rule, run, values)
            seen[ids[0]] = values[0]
    assert len(seen) == 4
    # ... and jobs that ran at the same time had different GPUs (the two trainings at least).
    spans = {job: _times(cluster, job) for job in seen}
    overlapping = [
        (a, b)
        for a, b in itertools.combinations(seen, 2)
        if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
    ]
    assert overlapping, f"no two GPU jobs ran at the same time: {spans}"
    for a, b in overlapping:
        assert seen[a] != seen[b], f"jobs {a} and {b} ran at once on GPU {seen[a]}"
