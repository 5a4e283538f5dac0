# Config -> plan: validate the config, and let gair.plan (plain Python, unit-tested without
# Snakemake) resolve every run, name it and say which files each target reads. This file only
# wires the plan's answers into rules.
import json
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(workflow.basedir).parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# Jobs call `python -m gair`; this makes the package importable from a plain checkout, also
# when Snakemake runs in another working directory (--directory).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)

from gair.errors import ConfigError  # noqa: E402
from gair.plan import Plan, slurm_minutes  # noqa: E402


# Passed on to jobs that run elsewhere (SLURM): they import gair the same way.
envvars:
    "PYTHONPATH",


validate(config, "../schemas/config.schema.yaml")

try:
    PLAN = Plan(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

RESULTS = PLAN.results
FIGDIR = PLAN.figdir
REPORT = Path(workflow.basedir) / "report"
for _name in PLAN.config["experiments"]:
    if not (REPORT / f"{_name}.rst").is_file():
        raise WorkflowError(f"target {_name!r} has no report caption: add {REPORT / _name}.rst")


def category(name):
    """The report's section of a target: the paper's figures and tables, or beyond them."""
    exp = PLAN.config["experiments"][name]
    if not exp.get("paper", True):
        return "Beyond the paper"
    return "Tables" if exp["kind"] == "table" else "Figures"
GAIR = "python -m gair"
# Training, evaluation and geometry take a GPU through gair's lock (gair/gpu.py).
ON_GPU = f"{GAIR} gpu run --"


wildcard_constraints:
    run=r"[^/]+-s[0-9]+-[0-9a-f]{8}",
    ckpt=r"best|last|epoch[0-9]+",
    evaluation="|".join(re.escape(name) for name in PLAN.evaluations),
    profile="|".join(re.escape(name) for name in config["geometry"]),


# ------------------------------------------------------------------------- input functions
def unlabeled_input(wildcards):
    """GAIR-RST's pseudo-labelled file; a missing file stops the DAG with one line."""
    path = PLAN.runs[wildcards.run].unlabeled_path
    if not path:
        return []
    if not os.path.exists(path):
        raise WorkflowError(
            f"Table 3 needs RST's 500K pseudo-labelled CIFAR-10 images at {path!r} "
            "(unlabeled_path): download ti_500K_pseudo_labeled.pickle from RST's repository "
            "(github.com/yaircarmon/semisup-adv) and put it there, or set unlabeled_path"
        )
    return [path]


def runtime_minutes(wildcards):
    return slurm_minutes(PLAN.gpu_hours(wildcards.run))


def eval_minutes(wildcards):
    return slurm_minutes(PLAN.eval_hours(wildcards.run, wildcards.evaluation))
