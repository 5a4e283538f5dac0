# Config -> runs: validate the config, resolve every run of every experiment to a RunSpec,
# name it, and give the rules the paths they read and write.
import json
import math
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
from gair.spec import RunSpec  # noqa: E402


# Passed on to jobs that run elsewhere (SLURM): they import gair the same way.
envvars:
    "PYTHONPATH",


validate(config, "../schemas/config.schema.yaml")

FIGURES = [
    "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig10", "fig11", "fig12", "fig13",
    "fig14", "fig15", "fig16", "fig17", "fig18", "fig19", "fig20", "fig21",
]  # fmt: skip
TABLES = ["table1", "table2", "table3"]
# Beyond the paper: the robustness audit of Tables 1-2 and the trade-off of every method.
TRADEOFF = "tradeoff"
AUDIT_ATTACKS = ("pgd20", "pgd_plus", "cw", "lsa", "autoattack")
RESULTS = config["results"].rstrip("/")
FIGDIR = config["figures"].rstrip("/")
GAIR = "python -m gair"
# Training, evaluation and geometry take a GPU through gair's lock (gair/gpu.py).
ON_GPU = f"{GAIR} gpu run --"


def fail(where, message):
    """Stop before anything runs, naming the config key that is wrong."""
    raise WorkflowError(f"config {where}: {message}")


# ------------------------------------------------------------------------- presets, layers
def preset_settings(name, where, chain=()):
    """A preset's settings, its `base` chain applied first."""
    presets = config["presets"]
    if name not in presets:
        fail(where, f"preset {name!r} is not defined; defined presets: {', '.join(presets)}")
    if name in chain:
        fail(where, f"preset {name!r} is its own base ({' -> '.join((*chain, name))})")
    own = dict(presets[name])
    base = own.pop("base", None)
    out = preset_settings(base, f"presets.{name}.base", (*chain, name)) if base else {}
    out.update(own)
    return out


def layer(settings, where):
    """Settings with an optional `preset` key expanded underneath them."""
    own = dict(settings or {})
    name = own.pop("preset", None)
    out = preset_settings(name, f"{where}.preset") if name else {}
    out.update(own)
    return out


def experiment_runs(name, chain=()):
    """The keys that decide an experiment's runs, following `runs_from`."""
    experiments = config["experiments"]
    exp = experiments[name]
    source = exp.get("runs_from")
    if not source:
        if "groups" not in exp:
            fail(f"experiments.{name}", "needs `groups` (or `runs_from` naming another experiment)")
        return exp
    if source not in experiments:
        fail(f"experiments.{name}.runs_from", f"{source!r} is not an experiment")
    if source in chain or source == name:
        fail(f"experiments.{name}.runs_from", f"{source!r} refers back to {name!r}")
    merged = dict(experiment_runs(source, (*chain, name)))
    for key in ("preset", "set", "groups", "seeds"):
        if key in exp:
            merged[key] = exp[key]
    return merged


# ------------------------------------------------------------------------- epoch rescaling
def _scaled(value, factor):
    return int(math.floor(value * factor + 0.5))


def rescale_epochs(spec, epochs):
    """The same run shortened to `epochs`: every epoch-valued setting scaled alike (smoke)."""
    if epochs <= 0 or spec.epochs == epochs:
        return spec
    f = epochs / spec.epochs
    best_start = min(epochs, max(1, _scaled(spec.best_start, f)))
    best_end = 0 if spec.best_end == 0 else min(epochs, max(best_start, _scaled(spec.best_end, f)))
    return spec.with_overrides(
        {
            "epochs": epochs,
            "milestones": [_scaled(m, f) for m in spec.milestones],
            "tau_milestones": [_scaled(m, f) for m in spec.tau_milestones],
            "lam_milestones": [_scaled(m, f) for m in spec.lam_milestones],
            "lr_drop_epoch": _scaled(spec.lr_drop_epoch, f),
            "burn_in": min(epochs - 1, _scaled(spec.burn_in, f)),
            "best_start": best_start,
            "best_end": best_end,
            "snapshots": sorted({min(epochs, max(1, _scaled(s, f))) for s in spec.snapshots}),
        }
    )


def scaled_checkpoint(checkpoint, paper_epochs):
    """`epochN` follows its snapshot under rescaling; best and last stay."""
    n = config.get("rescale_epochs_to", 0)
    if not checkpoint.startswith("epoch") or n <= 0 or paper_epochs == n:
        return checkpoint
    return f"epoch{min(n, max(1, _scaled(int(checkpoint[5:]), n / paper_epochs)))}"


# ------------------------------------------------------------------------- run resolution
def resolve_run(exp_name, group, label, seed=None):
    """RunSpec of one run: defaults + experiment + group + run settings (see config/paper.yaml).

    Returns (spec, epochs before rescaling).
    """
    exp = experiment_runs(exp_name)
    where = f"experiments.{exp_name}.groups.{group}"
    grp = exp["groups"][group]
    values = dict(config.get("defaults") or {})
    if exp.get("preset"):
        values.update(preset_settings(exp["preset"], f"experiments.{exp_name}.preset"))
    values.update(layer(exp.get("set"), f"experiments.{exp_name}.set"))
    if grp.get("preset"):
        values.update(preset_settings(grp["preset"], f"{where}.preset"))
    values.update(layer(grp.get("set"), f"{where}.set"))
    values.update(layer(grp["runs"][label], f"{where}.runs.{label}"))
    if seed is not None:
        values["seed"] = seed
    values["data_root"] = config["data_root"]
    try:
        spec = RunSpec.from_dict(values)
        if grp.get("alpha_per_eps"):
            spec = spec.with_overrides({"alpha": spec.eps * grp["alpha_per_eps"]})
        if config.get("force"):
            spec = spec.with_overrides(config["force"])
        paper_epochs = spec.epochs
        spec = rescale_epochs(spec, config.get("rescale_epochs_to", 0))
    except ConfigError as err:
        fail(f"{where}.runs.{label}", str(err))
    return spec, paper_epochs


def build_plan():
    """experiment -> group -> label -> [entry per seed]; run name -> RunSpec; and the
    checkpoint each (run, geometry profile) reads."""
    plan, runs, geometry_ckpt = {}, {}, {}
    for exp_name in config["experiments"]:
        exp = experiment_runs(exp_name)
        seeds = exp.get("seeds") or [None]
        plan[exp_name] = {}
        for group, grp in exp["groups"].items():
            geometry = grp.get("geometry")
            if geometry and geometry not in config["geometry"]:
                fail(
                    f"experiments.{exp_name}.groups.{group}.geometry",
                    f"{geometry!r} is not defined; defined: {', '.join(config['geometry'])}",
                )
            plan[exp_name][group] = {}
            for label in grp["runs"]:
                entries = []
                for seed in seeds:
                    spec, paper_epochs = resolve_run(exp_name, group, label, seed)
                    name = spec.run_name()
                    runs[name] = spec
                    entry = {"run": name, "seed": spec.seed, "paper_epochs": paper_epochs}
                    if geometry:
                        ckpt = scaled_checkpoint(config["geometry"][geometry]["checkpoint"], paper_epochs)
                        check_checkpoint(spec, ckpt, f"geometry.{geometry}.checkpoint")
                        entry["geometry"] = (geometry, ckpt)
                        geometry_ckpt[(name, geometry)] = ckpt
                    entries.append(entry)
                plan[exp_name][group][label] = entries
    return plan, runs, geometry_ckpt


def check_checkpoint(spec, ckpt, where):
    """An `epochN` checkpoint exists only where the run lists N in `snapshots`."""
    if ckpt.startswith("epoch") and int(ckpt[5:]) not in spec.snapshots:
        fail(
            where,
            f"checkpoint {ckpt!r} needs snapshots: [{ckpt[5:]}] in run {spec.run_name()} "
            f"(its snapshots: {spec.snapshots})",
        )


PLAN, RUNS, GEOMETRY_CKPT = build_plan()
for _name in FIGURES + TABLES + [TRADEOFF]:
    _exp = config["experiments"][_name]
    if _exp.get("evaluation") and _exp["evaluation"] not in config["evaluations"]:
        fail(f"experiments.{_name}.evaluation", f"{_exp['evaluation']!r} is not in `evaluations`")
    if _exp.get("baseline") and all(_exp["baseline"] not in labels for labels in PLAN[_name].values()):
        fail(f"experiments.{_name}.baseline", f"{_exp['baseline']!r} is not a run label")


# ------------------------------------------------------------------------- audit plan
def plan_audit():
    """table -> the evaluation set the audit reads. With audit.samples_limit N > 0 the audit
    gets its own set `<table set>_audit` (every attack on the first N test points) and the
    table's set keeps only the table's `columns`."""
    audit = config["audit"]
    limit = audit.get("samples_limit", 0)
    out = {}
    for table, baseline in audit["tables"].items():
        where = f"audit.tables.{table}"
        if table not in TABLES or not config["experiments"][table].get("evaluation"):
            fail(where, f"{table!r} is not a table with evaluations, e.g. table1, table2")
        exp = config["experiments"][table]
        if all(baseline not in labels for labels in PLAN[table].values()):
            labels = [label for labels in PLAN[table].values() for label in labels]
            fail(where, f"baseline {baseline!r} is not a run label of {table}: {', '.join(labels)}")
        for _, _, entry in entries(table):
            for ckpt in audit["checkpoints"]:
                check_checkpoint(RUNS[entry["run"]], ckpt, "audit.checkpoints")
        evaluation = exp["evaluation"]
        if limit:
            sets = config["evaluations"]
            sets[f"{evaluation}_audit"] = dict(sets[evaluation], samples_limit=limit)
            if exp.get("columns"):
                kept = [a for a in sets[evaluation]["attacks"] if a in exp["columns"]]
                sets[evaluation] = dict(sets[evaluation], attacks=kept)
            evaluation = f"{evaluation}_audit"
        have = {a.removesuffix("_cheap") for a in config["evaluations"][evaluation]["attacks"]}
        missing = [a for a in AUDIT_ATTACKS if a not in have]
        if missing:
            fail(
                f"evaluations.{evaluation}.attacks",
                f"the audit of {table} needs {', '.join(missing)} in this set "
                f"(it has {', '.join(config['evaluations'][evaluation]['attacks'])})",
            )
        out[table] = evaluation
    return out


# ------------------------------------------------------------------------- paths
def run_dir(run):
    return f"{RESULTS}/runs/{run}"


def done_file(run):
    """Written after `train` exits 0: the run is complete (metrics, best.pt, last.pt)."""
    return f"{run_dir(run)}/done.json"


def eval_file(run, ckpt, evaluation):
    return f"{RESULTS}/evals/{run}/{ckpt}-{evaluation}.parquet"


def geometry_file(run, profile):
    return f"{RESULTS}/geometry/{run}/{profile}.parquet"


def entries(name):
    for group, labels in PLAN[name].items():
        for label, items in labels.items():
            for entry in items:
                yield group, label, entry


def experiment_inputs(name):
    """Every file a figure or table reads (Parquet only) or waits for."""
    exp = config["experiments"][name]
    files = []
    for _, _, entry in entries(name):
        files.append(done_file(entry["run"]))
        if "geometry" in entry:
            files.append(geometry_file(entry["run"], entry["geometry"][0]))
        for ckpt in exp.get("checkpoints", []) if exp.get("evaluation") else []:
            files.append(eval_file(entry["run"], ckpt, exp["evaluation"]))
    return sorted(set(files))


def manifest(name):
    """What `python -m gair figure|table` reads: labels -> Parquet paths, plus plot options."""
    exp = config["experiments"][name]
    groups = {}
    for group, label, entry in entries(name):
        item = {
            "run": entry["run"],
            "seed": entry["seed"],
            "metrics": f"{run_dir(entry['run'])}/metrics.parquet",
        }
        if "geometry" in entry:
            item["geometry"] = geometry_file(entry["run"], entry["geometry"][0])
        if exp.get("evaluation"):
            item["evals"] = {
                ckpt: eval_file(entry["run"], ckpt, exp["evaluation"])
                for ckpt in exp.get("checkpoints", [])
            }
        groups.setdefault(group, {}).setdefault(label, []).append(item)
    return {
        "name": name,
        "groups": groups,
        "plot": exp.get("plot", {}),
        "baseline": exp.get("baseline"),
        "evaluation": exp.get("evaluation"),
        "checkpoints": exp.get("checkpoints", []),
        "columns": exp.get("columns"),
    }


def manifest_json(name):
    # Key order is the config's order: legends, colour sweeps and table rows follow it.
    return json.dumps(manifest(name))


def audit_meta(table):
    """What `python -m gair audit` reads: evaluation file -> {method, seed, checkpoint}, the
    method being the run label (the table's row name)."""
    meta = {}
    for _, label, entry in entries(table):
        for ckpt in config["audit"]["checkpoints"]:
            path = eval_file(entry["run"], ckpt, AUDIT[table])
            meta[path] = {"method": label, "seed": entry["seed"], "checkpoint": ckpt}
    return meta


def audit_outputs(table):
    tables = [f"{RESULTS}/tables/audit_{table}.{ext}" for ext in ("csv", "md", "tex")]
    return tables + [f"{FIGDIR}/audit_{table}.{ext}" for ext in ("pdf", "png")]


def tradeoff_outputs():
    figure = [f"{FIGDIR}/{TRADEOFF}.{ext}" for ext in ("pdf", "png", "json")]
    return figure + [f"{RESULTS}/tables/{TRADEOFF}.{ext}" for ext in ("csv", "md", "tex")]


# Before the wildcard constraints: the audit may add evaluation sets.
AUDIT = plan_audit()


wildcard_constraints:
    run=r"[^/]+-s[0-9]+-[0-9a-f]{8}",
    ckpt=r"best|last|epoch[0-9]+",
    evaluation="|".join(re.escape(name) for name in config["evaluations"]),
    profile="|".join(re.escape(name) for name in config["geometry"]),


# ------------------------------------------------------------------------- train helpers
def spec_json(run):
    return json.dumps(RUNS[run].to_dict(), sort_keys=True)


def unlabeled_input(wildcards):
    """GAIR-RST's pseudo-labelled file; a missing file stops the DAG with one line."""
    path = RUNS[wildcards.run].unlabeled_path
    if not path:
        return []
    if not os.path.exists(path):
        raise WorkflowError(
            f"Table 3 needs RST's 500K pseudo-labelled CIFAR-10 images at {path!r} "
            "(unlabeled_path): download ti_500K_pseudo_labeled.pickle from RST's repository "
            "(github.com/yaircarmon/semisup-adv) and put it there, or set unlabeled_path"
        )
    return [path]


# Forward multiply-adds (G) per 32x32 image; the basis of the compute estimates below and in
# docs/targets.md. A Wide ResNet costs about 1.31 G per block per stage at widen factor 10
# (WRN-28-10: 4 blocks, 5.24 G; WRN-32-10 and WRN-34-10: 5 blocks, 6.55 G).
GMACS = {
    "resnet18": 0.56, "preactresnet18": 0.56, "resnet34": 1.16, "resnet50": 1.30,
    "vgg13": 0.23, "smallcnn": 0.13, "mlp": 0.0001,
}  # fmt: skip
TRAIN_SIZE = {"cifar10": 50000, "cifar100": 50000, "svhn": 73257, "mnist": 60000}
EFFECTIVE_TFLOPS = 40.0  # sustained fp32/TF32 convnet throughput assumed for one A100/H100


def gmacs(spec):
    if spec.model == "wrn":
        depth = spec.depth or 34
        blocks = max(1, (depth - 2) // 6)
        return 1.31 * blocks * ((spec.width or 10) / 10) ** 2
    return GMACS.get(spec.model, 1.0)


def gpu_hours(spec):
    """Rough GPU-hours of one training run (fwd = 2 * MACs, fwd+bwd = 3 fwd)."""
    n_train = TRAIN_SIZE.get(spec.dataset, 2000) if not spec.train_subset else spec.train_subset
    attack_passes = 3 * spec.steps
    if spec.method == "st":
        attack_passes = 0
    elif spec.method == "gair_rst":
        n_train *= 2  # half of every batch is pseudo-labelled data
        attack_passes *= 2  # Eq. (13): a KL-PGD and a CW adversary
    # the update: the adversarial batch, plus the natural batch for TRADES/MART-like losses
    update = 3 if spec.method in ("at", "gairat", "fat", "gair_fat", "iaat", "mma", "st") else 6
    passes = attack_passes + update
    eval_n = 10000 if not spec.eval_samples else spec.eval_samples
    eval_passes = eval_n * (3 * spec.eval_steps + 2) / spec.eval_every
    eval_passes += spec.train_eval_samples * (3 * spec.eval_steps + 2)
    if spec.flatness:
        eval_passes += spec.flatness_samples * (6 * spec.eval_steps + 6)
    flops = 2e9 * gmacs(spec) * spec.epochs * (n_train * passes + eval_passes)
    return flops / (EFFECTIVE_TFLOPS * 1e12) / 3600


def runtime_minutes(wildcards):
    """SLURM time limit: twice the estimate plus 30 minutes (runs resume when requeued)."""
    return int(60 * 2 * gpu_hours(RUNS[wildcards.run])) + 30


# ------------------------------------------------------------------------- evaluate helpers
def evaluate_args(wildcards):
    e = config["evaluations"][wildcards.evaluation]
    args = [f"--attacks {','.join(e['attacks'])}", f"--eps {e['eps']!r}"]
    if "autoattack" in e["attacks"]:
        args.append(f"--aa-version {e.get('aa_version', 'standard')}")
    if e.get("alpha") is not None:
        args.append(f"--alpha {e['alpha']!r}")
    args.append(f"--pgd-plus-alpha {e.get('pgd_plus_alpha', 0.01)!r}")
    if e.get("samples_limit"):
        args.append(f"--samples-limit {e['samples_limit']}")
    return " ".join(args)


def geometry_args(wildcards):
    g = config["geometry"][wildcards.profile]
    ckpt = GEOMETRY_CKPT[(wildcards.run, wildcards.profile)]
    return (
        f"--checkpoint {run_dir(wildcards.run)}/{ckpt}.pt --split {g['split']} "
        f"--per-class {g['per_class']} --eps {g['eps']!r} --alpha {g['alpha']!r} "
        f"--steps {g['steps']}"
    )


TEST_SIZE = {"cifar10": 10000, "cifar100": 10000, "svhn": 26032, "mnist": 10000}
# Forward-backward passes per test point. AutoAttack's are a rough count of the published
# ensemble on a model about half robust: APGD-CE 100 iterations on every point, APGD-T and
# FAB-T 9 targets x 100 on the points still robust, Square 5000 forward-only queries.
AUTOATTACK_PASSES = {"standard": 2000, "cheap": 70}


def attack_passes(attack, evaluation):
    e = config["evaluations"][evaluation]
    if attack == "natural":
        return 1 / 3
    if attack.startswith("autoattack"):
        version = "cheap" if attack.endswith("_cheap") else e.get("aa_version", "standard")
        return AUTOATTACK_PASSES[version]
    if attack == "pgd_plus":
        return 5 * 40
    if attack in ("cw", "lsa"):
        return {"cw": 30, "lsa": 20}[attack]
    return int(attack[3:])  # pgd<k>


def eval_hours(run, evaluation):
    """Rough GPU-hours of one checkpoint's evaluation (the FLOP model of gpu_hours)."""
    spec, e = RUNS[run], config["evaluations"][evaluation]
    n_test = spec.test_subset or TEST_SIZE.get(spec.dataset, 2000)
    if e.get("samples_limit"):
        n_test = min(n_test, e["samples_limit"])
    passes = sum(attack_passes(a, evaluation) for a in e["attacks"])
    return 3 * 2e9 * gmacs(spec) * n_test * passes / (EFFECTIVE_TFLOPS * 1e12) / 3600


def eval_minutes(wildcards):
    """SLURM time limit: twice the estimate plus 30 minutes."""
    return int(60 * 2 * eval_hours(wildcards.run, wildcards.evaluation)) + 30
