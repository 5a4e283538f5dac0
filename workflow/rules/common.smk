# Config -> plan: validate the config, and let gair.plan (plain Python, unit-tested without
# Snakemake) resolve every run, name it and say which files each target reads and makes. This
# file only wires the plan's answers into rules.
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

REPO = Path(workflow.basedir).parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# Jobs call `python -m gair`; this makes the package importable from a plain checkout, also
# when Snakemake runs in another working directory (--directory).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)

from gair.errors import ConfigError  # noqa: E402
from gair.data import DATASETS, fetch_missing  # noqa: E402
from gair.plan import Plan  # noqa: E402
from gair.plan.config import validate  # noqa: E402


# Passed on to jobs that run elsewhere (SLURM): they import gair the same way.
envvars:
    "PYTHONPATH",


try:
    validate(config)  # the schema: every key a config may have
    PLAN = Plan(config)
except ConfigError as err:
    # One line, before any job: the plan's message names the config key.
    print(f"error: {err}", file=sys.stderr)
    sys.exit(1)

PATHS = PLAN.paths
CAPTIONS = Path(workflow.basedir) / "report"
for _name in PLAN.config["experiments"]:
    if not (CAPTIONS / f"{_name}.rst").is_file():
        raise WorkflowError(f"target {_name!r} has no report caption: add {CAPTIONS / _name}.rst")

GAIR = "python -m gair"
# Training, evaluation and geometry take a GPU through gair's lock (gair/tools/gpu.py).
ON_GPU = f"{GAIR} gpu run --"


wildcard_constraints:
    run=r"[^/]+-s[0-9]+-[0-9a-f]{8}",
    ckpt=r"best|best_val|last|epoch[0-9]+",
    evaluation="|".join(re.escape(name) for name in PLAN.evaluations),
    profile="|".join(re.escape(name) for name in config["geometry"]),
    model=r"[A-Za-z0-9_.-]+",


# ------------------------------------------------------------------------- input functions
# Files a train job reads that no job makes (dataset files, RST's pickle) are inputs
# where they exist; where they do not, noted here and reported before any job starts
# (onstart), so that a dry run or a report still works without them.
MISSING = {}  # path -> (what it is, how to get it, the target that needs it)


def present(files, target):
    """The (path, what, how to get it) files that exist; the others go to MISSING."""
    found = []
    for path, what, hint in files:
        if os.path.exists(path):
            found.append(path)
        else:
            MISSING.setdefault(path, (what, hint, target))
    return found


def train_inputs(wildcards):
    spec = PLAN.runs[wildcards.run]
    return present(PLAN.input_files(spec), PLAN.first_target(wildcards.run))


def published_inputs(wildcards):
    return present(PLAN.published_inputs(PLAN.published_name(wildcards.model)), "published")


def check_inputs():
    """Before any job: fetch missing datasets once (torchvision), then stop with one line
    naming the first file still missing and the target that needs it."""
    datasets = {what for what, _, _ in MISSING.values() if what in DATASETS}
    for name in datasets:
        fetch_missing(name, config["data_root"])
    left = {p: v for p, v in MISSING.items() if not os.path.exists(p)}
    if left:
        # One line: every file of its own kind (each published model's weights), datasets
        # by their first missing file.
        shown, seen = [], set()
        for path, (what, hint, target) in left.items():
            if what in seen:
                continue
            seen.add(what)
            shown.append(f"target {target} needs the {what} file {path} ({hint})")
        switch = (
            "; `--config published_present_only=true` audits the models that are present"
            if any(target == "published" for _, _, target in left.values())
            else ""
        )
        print(f"error: missing input: {'; '.join(shown)}{switch}", file=sys.stderr)
        sys.exit(1)


def train_minutes(wildcards):
    return PLAN.train_minutes(wildcards.run)


def eval_minutes(wildcards):
    return PLAN.eval_minutes(wildcards.run, wildcards.evaluation)
