"""The plan: a workflow config turned into runs, run names, the files every target reads and
the compute each job costs.

Plain Python, free of torch and of Snakemake: ``workflow/rules/common.smk`` builds one
:class:`Plan` and wires its answers into rules; ``python -m gair protocol`` prints it; tests
check it directly. A plan never changes the config it was given.

How a run is resolved (config/paper.yaml documents the keys)::

    RunSpec defaults <- defaults <- presets[experiment.preset] <- experiment.set
        <- presets[group.preset] <- group.set <- the run's own settings
        <- alpha = eps * group.alpha_per_eps <- force <- rescale_epochs_to

Every epoch-valued setting follows the spec's epoch convention (gair.spec); rescaling moves
them all with :meth:`gair.spec.RunSpec.rescaled`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gair.data import DATASETS, dataset_info
from gair.data.readers import RST_FILE, RST_SOURCE
from gair.epochs import rescale_epoch
from gair.errors import ConfigError
from gair.evaluation import registry
from gair.evaluation.zoo import checked_reported, download_hint, entry_file
from gair.io import write_text
from gair.methods import method_info, run_label
from gair.models import model_info
from gair.spec import RunSpec, points_per_epoch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "paper.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

AUDIT_ATTACKS = ("pgd20", "pgd_plus", "cw", "lsa", "autoattack")
PREFLIGHT_POINTS = 32  # test points a preflight evaluation job attacks (it times them)
KINDS = ("figure", "table", "figure_table")


class PlanError(ConfigError):
    """A config value that cannot be planned; the message names its key."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"config {where}: {message}")


# ---------------------------------------------------------------------------- config files
def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into ``base`` key by key, mappings recursively (Snakemake's rule
    for --configfile); returns ``base``."""
    for key, value in overlay.items():
        if isinstance(value, Mapping):
            inner = base.get(key)
            base[key] = merge(inner if isinstance(inner, dict) else {}, value)
        else:
            base[key] = value
    return base


def load_config(overlays: list[str | Path] = (), base: str | Path = DEFAULT_CONFIG) -> dict:
    """config/paper.yaml with each overlay merged on top, as ``snakemake --configfile`` does."""
    import yaml

    config: dict[str, Any] = {}
    for path in [base, *overlays]:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {str(file)!r} does not exist")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            first = " ".join(str(err).split())
            raise ConfigError(f"config file {str(file)!r} is not valid YAML ({first})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(file)!r} must hold a mapping of keys")
        merge(config, data)
    return config


def validate(config: dict[str, Any]) -> None:
    """Check ``config`` against the workflow's JSON schema; ConfigError naming the key of
    the first violation (the deepest, most specific one), in one line."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (-len(e.absolute_path), e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"config {where}: {' '.join(err.message.split())}")


# ---------------------------------------------------------------------------- the plan
@dataclass
class Entry:
    """One trained run as a figure or table sees it."""

    run: str
    seed: int
    paper_epochs: int
    geometry: tuple[str, str] | None = None  # (profile, checkpoint) of its geometry job


@dataclass
class Plan:
    """Everything the workflow derives from a config; built once, read by the rules."""

    config: dict[str, Any]
    experiments: dict[str, dict[str, dict[str, list[Entry]]]] = field(default_factory=dict)
    runs: dict[str, RunSpec] = field(default_factory=dict)
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: dict[str, str] = field(default_factory=dict)  # table -> evaluation set

    def __post_init__(self) -> None:
        self.config = copy.deepcopy(self.config)
        self.evaluations = copy.deepcopy(self.config["evaluations"])
        # Preflight (N > 0 training steps per run, gair/train/preflight.py) writes under its own
        # folder, so that it never stands in for a real run's results.
        self.preflight = int(self.config.get("preflight", 0) or 0)
        suffix = "/preflight" if self.preflight else ""
        self.results = self.config["results"].rstrip("/") + suffix
        self.figdir = self.config["figures"].rstrip("/")
        self._check_evaluations()
        self._check_layers()
        self._build()
        self._check_targets()
        self._plan_audit()
        self._plan_published()

    # ------------------------------------------------------------------ targets
    def of_kind(self, *kinds: str, paper_only: bool = False) -> list[str]:
        """Experiment targets whose `kind` is one of ``kinds``, in config order."""
        return [
            name
            for name, exp in self.config["experiments"].items()
            if exp.get("kind") in kinds and (exp.get("paper", True) or not paper_only)
        ]

    @property
    def figures(self) -> list[str]:
        """Targets that make a figure only."""
        return self.of_kind("figure")

    @property
    def tables(self) -> list[str]:
        """Targets that make a table only."""
        return self.of_kind("table")

    @property
    def figure_tables(self) -> list[str]:
        """Targets that make a figure and a table in one job (the trade-off)."""
        return self.of_kind("figure_table")

    def figure_outputs(self, name: str) -> list[str]:
        return [f"{self.figdir}/{name}.{ext}" for ext in ("pdf", "png", "json")]

    def table_outputs(self, name: str) -> list[str]:
        return [f"{self.results}/tables/{name}.{ext}" for ext in ("csv", "md", "tex")]

    def outputs(self, target: str) -> list[str]:
        """Every file a named target makes (figures, tables, audit, all)."""
        if target == "figures":
            return [
                f for n in self.of_kind("figure", paper_only=True) for f in self.figure_outputs(n)
            ]
        if target == "tables":
            return [
                f for n in self.of_kind("table", paper_only=True) for f in self.table_outputs(n)
            ]
        if target == "audit":
            return [f for t in self.audit for f in self.audit_outputs(t)]
        if self.preflight:  # every target's output is its budget
            names = {
                "figures": self.of_kind("figure", paper_only=True),
                "tables": self.of_kind("table", paper_only=True),
                "audit": list(self.audit),
                "all": list(self.config["experiments"]),
            }[target]
            return [f for n in names for f in self.budget_outputs(n)]
        if target == "all":
            files = [f for n in self.figures for f in self.figure_outputs(n)]
            files += [f for n in self.tables for f in self.table_outputs(n)]
            files += [
                f
                for n in self.figure_tables
                for f in self.figure_outputs(n) + self.table_outputs(n)
            ]
            return files + self.outputs("audit")
        raise ConfigError(f"target {target!r} has no output list; ask for figures, tables, all")

    def _check_layers(self) -> None:
        """Every block of run settings on its own, reported where it is written: a bad value
        in `defaults`, a preset or an experiment's `set` names that key, even where a later
        layer would override it."""

        def check(settings: Any, where: str) -> None:
            own = {k: v for k, v in dict(settings or {}).items() if k not in ("preset", "base")}
            try:
                RunSpec.check_settings(own)
            except ConfigError as err:
                self.fail(where, str(err))

        for key in ("defaults", "force"):
            check(self.config.get(key), key)
        for name, preset in self.config["presets"].items():
            check(preset, f"presets.{name}")
        for name, exp in self.config["experiments"].items():
            check(exp.get("set"), f"experiments.{name}.set")
            for group, grp in (exp.get("groups") or {}).items():
                where = f"experiments.{name}.groups.{group}"
                check(grp.get("set"), f"{where}.set")
                for label, settings in (grp.get("runs") or {}).items():
                    check(settings, f"{where}.runs.{label}")

    def _check_evaluations(self) -> None:
        """Every attack a config names is known, before anything runs."""
        for name, e in self.evaluations.items():
            registry.check(e["attacks"], f"config evaluations.{name}.attacks")
        for name, exp in self.config["experiments"].items():
            if exp.get("kind") not in KINDS:
                self.fail(f"experiments.{name}.kind", f"must be one of {', '.join(KINDS)}")
            registry.check(exp.get("columns") or [], f"config experiments.{name}.columns")

    # ------------------------------------------------------------------ resolution
    def fail(self, where: str, message: str) -> None:
        raise PlanError(where, message)

    def preset_settings(self, name: str, where: str, chain: tuple[str, ...] = ()) -> dict:
        """A preset's settings, its `base` chain applied first."""
        presets = self.config["presets"]
        if name not in presets:
            self.fail(
                where, f"preset {name!r} is not defined; defined presets: {', '.join(presets)}"
            )
        if name in chain:
            self.fail(where, f"preset {name!r} is its own base ({' -> '.join((*chain, name))})")
        own = dict(presets[name])
        base = own.pop("base", None)
        out = self.preset_settings(base, f"presets.{name}.base", (*chain, name)) if base else {}
        out.update(own)
        return out

    def layer(self, settings: dict | None, where: str) -> dict:
        """Settings with an optional `preset` key expanded underneath them."""
        own = dict(settings or {})
        name = own.pop("preset", None)
        out = self.preset_settings(name, f"{where}.preset") if name else {}
        out.update(own)
        return out

    def experiment(self, name: str, chain: tuple[str, ...] = ()) -> dict:
        """The keys that decide an experiment's runs, following `runs_from`."""
        experiments = self.config["experiments"]
        exp = experiments[name]
        source = exp.get("runs_from")
        if not source:
            if "groups" not in exp:
                self.fail(
                    f"experiments.{name}",
                    "needs `groups` (or `runs_from` naming another experiment)",
                )
            return exp
        if source not in experiments:
            self.fail(f"experiments.{name}.runs_from", f"{source!r} is not an experiment")
        if source in chain or source == name:
            self.fail(f"experiments.{name}.runs_from", f"{source!r} refers back to {name!r}")
        merged = dict(self.experiment(source, (*chain, name)))
        for key in ("preset", "set", "groups", "seeds"):
            if key in exp:
                merged[key] = exp[key]
        return merged

    def resolve(
        self, exp_name: str, group: str, label: str, seed: int | None = None
    ) -> tuple[RunSpec, int]:
        """RunSpec of one run and its epochs before rescaling (the order in the docstring)."""
        exp = self.experiment(exp_name)
        where = f"experiments.{exp_name}.groups.{group}"
        grp = exp["groups"][group]
        values = dict(self.config.get("defaults") or {})
        if exp.get("preset"):
            values.update(self.preset_settings(exp["preset"], f"experiments.{exp_name}.preset"))
        values.update(self.layer(exp.get("set"), f"experiments.{exp_name}.set"))
        if grp.get("preset"):
            values.update(self.preset_settings(grp["preset"], f"{where}.preset"))
        values.update(self.layer(grp.get("set"), f"{where}.set"))
        values.update(self.layer(grp["runs"][label], f"{where}.runs.{label}"))
        if seed is not None:
            values["seed"] = seed
        values["data_root"] = self.config["data_root"]
        try:
            spec = RunSpec.from_dict(values)
            if grp.get("alpha_per_eps"):
                spec = spec.with_overrides({"alpha": spec.eps * grp["alpha_per_eps"]})
            if self.config.get("force"):
                spec = spec.with_overrides(self.config["force"])
            paper_epochs = spec.epochs
            spec = spec.rescaled(self.config.get("rescale_epochs_to", 0))
        except ConfigError as err:
            self.fail(f"{where}.runs.{label}", str(err))
        return spec, paper_epochs

    def scaled_checkpoint(self, checkpoint: str, paper_epochs: int) -> str:
        """`epochN` follows its snapshot under rescaling; best and last stay."""
        n = self.config.get("rescale_epochs_to", 0)
        if not checkpoint.startswith("epoch") or n <= 0 or paper_epochs == n:
            return checkpoint
        return f"epoch{rescale_epoch(int(checkpoint[5:]), paper_epochs, n)}"

    def check_checkpoint(self, spec: RunSpec, ckpt: str, where: str) -> None:
        """An `epochN` checkpoint exists only where the run lists N in `snapshots`."""
        if ckpt.startswith("epoch") and int(ckpt[5:]) not in spec.snapshots:
            self.fail(
                where,
                f"checkpoint {ckpt!r} needs snapshots: [{ckpt[5:]}] in run {spec.run_name()} "
                f"(its snapshots: {spec.snapshots})",
            )

    def _build(self) -> None:
        geometry_profiles = self.config["geometry"]
        for exp_name in self.config["experiments"]:
            exp = self.experiment(exp_name)
            seeds = exp.get("seeds") or [None]
            groups: dict[str, dict[str, list[Entry]]] = {}
            for group, grp in exp["groups"].items():
                profile = grp.get("geometry")
                if profile and profile not in geometry_profiles:
                    self.fail(
                        f"experiments.{exp_name}.groups.{group}.geometry",
                        f"{profile!r} is not defined; defined: {', '.join(geometry_profiles)}",
                    )
                groups[group] = {}
                for label in grp["runs"]:
                    entries = []
                    for seed in seeds:
                        spec, paper_epochs = self.resolve(exp_name, group, label, seed)
                        name = spec.run_name()
                        self.runs[name] = spec
                        entry = Entry(name, spec.seed, paper_epochs)
                        if profile:
                            ckpt = self.scaled_checkpoint(
                                geometry_profiles[profile]["checkpoint"], paper_epochs
                            )
                            self.check_checkpoint(spec, ckpt, f"geometry.{profile}.checkpoint")
                            entry.geometry = (profile, ckpt)
                        entries.append(entry)
                    groups[group][label] = entries
            self.experiments[exp_name] = groups

    def _check_targets(self) -> None:
        for name in self.config["experiments"]:
            exp = self.config["experiments"][name]
            if exp.get("evaluation") and exp["evaluation"] not in self.evaluations:
                self.fail(
                    f"experiments.{name}.evaluation",
                    f"{exp['evaluation']!r} is not in `evaluations`",
                )
            if exp.get("baseline") and exp["baseline"] not in self.labels(name):
                self.fail(f"experiments.{name}.baseline", f"{exp['baseline']!r} is not a run label")

    def _plan_audit(self) -> None:
        """table -> the evaluation set the audit reads. With audit.samples_limit N > 0 the
        audit gets its own set `<table set>_audit` (every attack on the first N test points)
        and the table's set keeps only the table's `columns`."""
        audit = self.config["audit"]
        limit = audit.get("samples_limit", 0)
        sets = self.evaluations
        for table, baseline in audit["tables"].items():
            where = f"audit.tables.{table}"
            experiments = self.config["experiments"]
            if table not in experiments or not experiments[table].get("evaluation"):
                self.fail(where, f"{table!r} is not a table with evaluations, e.g. table1, table2")
            exp = self.config["experiments"][table]
            if baseline not in self.labels(table):
                self.fail(
                    where,
                    f"baseline {baseline!r} is not a run label of {table}: "
                    f"{', '.join(self.labels(table))}",
                )
            for _, _, entry in self.entries(table):
                for ckpt in audit["checkpoints"]:
                    self.check_checkpoint(self.runs[entry.run], ckpt, "audit.checkpoints")
            evaluation = exp["evaluation"]
            if limit:
                sets[f"{evaluation}_audit"] = dict(sets[evaluation], samples_limit=limit)
                if exp.get("columns"):
                    kept = [a for a in sets[evaluation]["attacks"] if a in exp["columns"]]
                    sets[evaluation] = dict(sets[evaluation], attacks=kept)
                evaluation = f"{evaluation}_audit"
            have = {a.removesuffix("_cheap") for a in sets[evaluation]["attacks"]}
            missing = [a for a in AUDIT_ATTACKS if a not in have]
            if missing:
                self.fail(
                    f"evaluations.{evaluation}.attacks",
                    f"the audit of {table} needs {', '.join(missing)} in this set "
                    f"(it has {', '.join(sets[evaluation]['attacks'])})",
                )
            self.audit[table] = evaluation

    # ------------------------------------------------------------------ published models
    def _plan_published(self) -> None:
        """The `published` target's models: every entry, or with published_present_only the
        entries whose weights file is there (the others are listed in published_missing)."""
        section = self.config.get("published") or {}
        self.published: dict[str, dict[str, Any]] = {}
        self.published_missing: list[str] = []
        model_dir = section.get("model_dir", "resources/published")
        for name, entry in (section.get("models") or {}).items():
            entry = dict(
                entry, name=entry.get("name", name), dataset=entry.get("dataset", "cifar10")
            )
            if entry["source"] == "file" and not entry.get("file"):
                self.fail(f"published.models.{name}", "source file needs `file`")
            if entry["source"] == "file" and not entry.get("format"):
                self.fail(f"published.models.{name}", "source file needs `format`")
            try:
                entry["reported"] = checked_reported(entry.get("reported") or {})
            except ConfigError as err:
                raise ConfigError(str(err).replace("<name>", name)) from None
            present = entry_file(entry, model_dir).is_file()
            if self.config.get("published_present_only") and not present:
                self.published_missing.append(name)
                continue
            self.published[name] = entry
        if section.get("evaluation"):
            attacks = section["evaluation"]["attacks"]
            registry.check(attacks, "config published.evaluation.attacks")

    @staticmethod
    def slug(name: str) -> str:
        """A file-name-safe form of a published model's name."""
        return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-")

    def published_name(self, slug: str) -> str:
        for name in self.published:
            if self.slug(name) == slug:
                return name
        raise ConfigError(f"no published model is named like {slug!r}")

    def published_eval_file(self, name: str) -> str:
        return f"{self.results}/published/{self.slug(name)}.parquet"

    def published_outputs(self) -> list[str]:
        figure = [f"{self.figdir}/published.{ext}" for ext in ("pdf", "png", "json")]
        return figure + [f"{self.results}/tables/published.{ext}" for ext in ("csv", "md", "tex")]

    def published_inputs(self, name: str) -> list[tuple[str, str, str]]:
        """(path, what, how to get it) of the files a published model's evaluation reads."""
        entry = self.published[name]
        model_dir = self.config["published"]["model_dir"]
        out = [
            (
                str(entry_file(entry, model_dir)),
                f"{name}'s weights",
                download_hint(entry, model_dir),
            )
        ]
        info = dataset_info(entry["dataset"])
        root = Path(self.config["data_root"])
        if info.files is not None:
            out += [
                (str(p), entry["dataset"], info.files.hint(root)) for p in info.files.paths(root)
            ]
        return out

    def published_job(self, name: str) -> dict[str, str]:
        """The `python -m gair published evaluate` arguments of one model, as strings."""
        section = self.config["published"]
        e = section["evaluation"]
        budget = {
            "eps": e["eps"],
            "alpha": e.get("alpha"),
            "pgd_plus_alpha": e.get("pgd_plus_alpha", 0.01),
            "autoattack_version": e.get("aa_version", "standard"),
        }
        return {
            "name": name,
            "entry": json.dumps(self.published[name], sort_keys=True),
            "attacks": ",".join(e["attacks"]),
            "budget": json.dumps(budget, sort_keys=True),
            "model_dir": section["model_dir"],
            "data_root": self.config["data_root"],
            "samples_limit": str(e.get("samples_limit", 0)),
        }

    def published_manifest(self) -> dict[str, Any]:
        return {
            "name": "published",
            "eps": self.config["published"]["evaluation"]["eps"],
            "models": {
                name: {
                    "eval": self.published_eval_file(name),
                    "reported": entry.get("reported", {}),
                    "source": entry["source"],
                }
                for name, entry in self.published.items()
            },
            "missing": self.published_missing,
        }

    # ------------------------------------------------------------------ queries
    def labels(self, name: str) -> list[str]:
        return [label for labels in self.experiments[name].values() for label in labels]

    def entries(self, name: str) -> Iterator[tuple[str, str, Entry]]:
        for group, labels in self.experiments[name].items():
            for label, items in labels.items():
                for entry in items:
                    yield group, label, entry

    def target_experiments(self, target: str) -> list[str]:
        """The experiments whose runs a target trains."""
        audit_tables = list(self.config["audit"]["tables"])
        named = {
            "figures": self.of_kind("figure", paper_only=True),
            "tables": self.of_kind("table", paper_only=True),
            "audit": audit_tables,
            "all": [*self.config["experiments"], *audit_tables],
        }
        if target in named:
            return list(dict.fromkeys(named[target]))
        if target.startswith("audit_") and target[6:] in audit_tables:
            return [target[6:]]
        if target in self.experiments:
            return [target]
        valid = [*self.config["experiments"], "audit", *(f"audit_{t}" for t in audit_tables)]
        raise ConfigError(
            f"target {target!r} is unknown; valid targets are: {', '.join([*valid, *named])}"
        )

    def target_runs(self, target: str) -> list[str]:
        """Distinct run names a target trains, in config order."""
        names = [e.run for exp in self.target_experiments(target) for _, _, e in self.entries(exp)]
        return list(dict.fromkeys(names))

    def target_evaluations(self, target: str) -> list[tuple[str, str, str]]:
        """Distinct (run, checkpoint, evaluation set) a target evaluates, in config order."""
        out = []
        for exp in self.target_experiments(target):
            cfg = self.config["experiments"][exp]
            if cfg.get("evaluation"):
                for _, _, entry in self.entries(exp):
                    out += [(entry.run, c, cfg["evaluation"]) for c in cfg.get("checkpoints", [])]
        if target in ("audit", "all") or target[6:] in self.audit:
            for table in self.audit if target in ("audit", "all") else [target[6:]]:
                for _, _, entry in self.entries(table):
                    checkpoints = self.config["audit"]["checkpoints"]
                    out += [(entry.run, c, self.audit[table]) for c in checkpoints]
        return list(dict.fromkeys(out))

    def estimate(self, target: str) -> dict[str, float]:
        """The cost model's GPU-hours of a target: every run and evaluation it needs, each
        counted once (a FLOP-model estimate at EFFECTIVE_TFLOPS, not a measurement)."""
        runs, evaluations = self.target_runs(target), self.target_evaluations(target)
        return {
            "runs": len(runs),
            "evaluations": len(evaluations),
            "train_hours": sum(self.gpu_hours(r) for r in runs),
            "eval_hours": sum(self.eval_hours(r, e) for r, _, e in evaluations),
        }

    # ------------------------------------------------------------------ paths
    def run_dir(self, run: str) -> str:
        return f"{self.results}/runs/{run}"

    def done_file(self, run: str) -> str:
        """Written after `train` exits 0: the run is complete (metrics, best.pt, last.pt)."""
        return f"{self.run_dir(run)}/done.json"

    def eval_file(self, run: str, ckpt: str, evaluation: str) -> str:
        return f"{self.results}/evals/{run}/{ckpt}-{evaluation}.parquet"

    def geometry_file(self, run: str, profile: str) -> str:
        return f"{self.results}/geometry/{run}/{profile}.parquet"

    def experiment_inputs(self, name: str) -> list[str]:
        """Every file a figure or table reads (Parquet only) or waits for."""
        exp = self.config["experiments"][name]
        files = []
        for _, _, entry in self.entries(name):
            files.append(self.done_file(entry.run))
            if entry.geometry:
                files.append(self.geometry_file(entry.run, entry.geometry[0]))
            for ckpt in exp.get("checkpoints", []) if exp.get("evaluation") else []:
                files.append(self.eval_file(entry.run, ckpt, exp["evaluation"]))
        return sorted(set(files))

    def manifest(self, name: str) -> dict[str, Any]:
        """What `python -m gair figure|table` reads: labels -> Parquet paths, plot options."""
        exp = self.config["experiments"][name]
        groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for group, label, entry in self.entries(name):
            item: dict[str, Any] = {
                "run": entry.run,
                "seed": entry.seed,
                "metrics": f"{self.run_dir(entry.run)}/metrics.parquet",
            }
            if entry.geometry:
                item["geometry"] = self.geometry_file(entry.run, entry.geometry[0])
                item["geometry_checkpoint"] = entry.geometry[1]
            if exp.get("evaluation"):
                item["evals"] = {
                    ckpt: self.eval_file(entry.run, ckpt, exp["evaluation"])
                    for ckpt in exp.get("checkpoints", [])
                }
            shown = run_label(label, self.runs[entry.run].method)
            groups.setdefault(group, {}).setdefault(shown, []).append(item)
        return {
            "name": name,
            "groups": groups,
            "plot": exp.get("plot", {}),
            "baseline": exp.get("baseline"),
            "evaluation": exp.get("evaluation"),
            "checkpoints": exp.get("checkpoints", []),
            "columns": exp.get("columns"),
            "title": exp.get("title", name),
            "note": self.note(name),
        }

    def note(self, name: str) -> str:
        """What a target cannot show at the config's scale (its `note`), printed under its
        figure and in its report caption; empty where the config says nothing."""
        return str(self.config["experiments"].get(name, {}).get("note") or "")

    def audit_meta(self, table: str) -> dict[str, dict[str, Any]]:
        """What `python -m gair audit` reads: evaluation file -> {method, seed, checkpoint,
        metrics}, the method being the run label (the table's row name), metrics the run's
        metrics file (for the figure's footer)."""
        meta = {}
        for _, label, entry in self.entries(table):
            for ckpt in self.config["audit"]["checkpoints"]:
                path = self.eval_file(entry.run, ckpt, self.audit[table])
                shown = run_label(label, self.runs[entry.run].method)
                meta[path] = {"method": shown, "seed": entry.seed, "checkpoint": ckpt,
                              "metrics": f"{self.run_dir(entry.run)}/metrics.parquet"}  # fmt: skip
        return meta

    def audit_outputs(self, table: str) -> list[str]:
        tables = [f"{self.results}/tables/audit_{table}.{ext}" for ext in ("csv", "md", "tex")]
        return tables + [f"{self.figdir}/audit_{table}.{ext}" for ext in ("pdf", "png")]

    def input_files(self, spec: RunSpec) -> list[tuple[str, str, str]]:
        """Files a run reads that no job makes, as (path, what, how to get it): the
        dataset's files under data_root and the user's pseudo-labelled pickle."""
        out = []
        info = dataset_info(spec.dataset)
        root = Path(spec.data_root)
        if info.files is not None:
            out += [(str(p), spec.dataset, info.files.hint(root)) for p in info.files.paths(root)]
        if spec.unlabeled_path:
            hint = f"download {RST_FILE} from {RST_SOURCE} and put it there, or set unlabeled_path"
            out.append((spec.unlabeled_path, "pseudo-labelled", hint))
        return out

    def first_target(self, run: str) -> str:
        """The first target (config order) that trains ``run``."""
        for name in self.experiments:
            if any(e.run == run for _, _, e in self.entries(name)):
                return name
        raise ConfigError(f"run {run!r} belongs to no target")

    def spec_file(self, run: str) -> str:
        return f"{self.results}/specs/{run}.json"

    def job_inputs(self) -> dict[str, Any]:
        """Every file a job reads its settings from, path -> content: each run's resolved
        spec (what `python -m gair train --spec` reads), and each figure's, table's, audit's,
        budget's and the published target's manifest (what their `--manifest` or `--meta`
        reads). Job commands name these files instead of carrying their JSON inline."""
        files: dict[str, Any] = {
            self.spec_file(run): spec.to_dict() for run, spec in self.runs.items()
        }
        for name in self.experiments:
            files[self.manifest_file(name)] = self.manifest(name)
        for table in self.audit:
            files[self.manifest_file(f"audit_{table}")] = self.audit_meta(table)
        if self.preflight:
            for name in self.experiments:
                files[self.manifest_file(f"budget_{name}")] = self.budget_manifest(name)
        if self.config.get("published", {}).get("models"):
            files[self.manifest_file("published")] = self.published_manifest()
        return files

    def write_job_inputs(self) -> None:
        """Write :meth:`job_inputs` (atomically, only the files whose content changed)."""
        for name, content in self.job_inputs().items():
            path = Path(name)
            text = json.dumps(content, indent=1) + "\n"  # key order is label order
            if not path.is_file() or path.read_text() != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_text(path, text)

    def manifest_file(self, name: str) -> str:
        return f"{self.results}/manifests/{name}.json"

    @staticmethod
    def digest(content: Any) -> str:
        """A short hash of a manifest: a job parameter, so that a changed manifest reruns
        the job although its command only names the file."""
        text = json.dumps(content, default=str)  # key order matters: labels are drawn in it
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ job arguments
    def evaluate_args(self, evaluation: str) -> str:
        e = self.evaluations[evaluation]
        args = [f"--attacks {','.join(e['attacks'])}", f"--eps {e['eps']!r}"]
        if "autoattack" in e["attacks"]:
            args.append(f"--aa-version {e.get('aa_version', 'standard')}")
        if e.get("alpha") is not None:
            args.append(f"--alpha {e['alpha']!r}")
        args.append(f"--pgd-plus-alpha {e.get('pgd_plus_alpha', 0.01)!r}")
        if self.preflight:
            args.append(f"--samples-limit {PREFLIGHT_POINTS}")
        elif e.get("samples_limit"):
            args.append(f"--samples-limit {e['samples_limit']}")
        return " ".join(args)

    def eval_points(self, run: str, evaluation: str) -> int:
        """Test points one evaluation of ``run`` attacks at full size."""
        spec, e = self.runs[run], self.evaluations[evaluation]
        n = spec.test_subset or DATASETS[spec.dataset].n_test
        return min(n, e["samples_limit"]) if e.get("samples_limit") else n

    def budget_manifest(self, name: str) -> dict[str, Any]:
        """A target's manifest with what its preflight budget needs besides: each
        evaluation's full number of points and each run's FLOP-model hours."""
        manifest = self.manifest(name)
        evaluation = manifest.get("evaluation")
        for labels in manifest["groups"].values():
            for items in labels.values():
                for item in items:
                    if evaluation:
                        item["eval_points"] = self.eval_points(item["run"], evaluation)
        manifest["flop_hours"] = {run: self.gpu_hours(run) for run in self.target_runs(name)}
        return manifest

    def budget_outputs(self, name: str) -> list[str]:
        return [f"{self.results}/budget/{name}.{ext}" for ext in ("csv", "md", "parquet")]

    def geometry_checkpoint(self, run: str, profile: str) -> str:
        for exp in self.experiments.values():
            for labels in exp.values():
                for items in labels.values():
                    for entry in items:
                        if entry.run == run and entry.geometry and entry.geometry[0] == profile:
                            return entry.geometry[1]
        raise ConfigError(f"run {run!r} has no geometry job {profile!r}")

    def geometry_args(self, run: str, profile: str) -> str:
        g = self.config["geometry"][profile]
        ckpt = self.geometry_checkpoint(run, profile)
        per_class = min(g["per_class"], 2) if self.preflight else g["per_class"]
        return (
            f"--checkpoint {self.run_dir(run)}/{ckpt}.pt --split {g['split']} "
            f"--per-class {per_class} --eps {g['eps']!r} --alpha {g['alpha']!r} "
            f"--steps {g['steps']}"
        )

    # ------------------------------------------------------------------ cost model
    def gpu_hours(self, run: str) -> float:
        return gpu_hours(self.runs[run])

    def eval_hours(self, run: str, evaluation: str) -> float:
        """Rough GPU-hours of one checkpoint's evaluation (the FLOP model of gpu_hours)."""
        spec, e = self.runs[run], self.evaluations[evaluation]
        n_test = spec.test_subset or DATASETS[spec.dataset].n_test
        if e.get("samples_limit"):
            n_test = min(n_test, e["samples_limit"])
        passes = sum(registry.passes(a, e) for a in e["attacks"])  # per test point
        return 3 * 2e9 * gmacs(spec) * n_test * passes / (EFFECTIVE_TFLOPS * 1e12) / 3600


# ---------------------------------------------------------------------------- cost model
# Forward multiply-adds per image come from each model's record (gair.models.ModelInfo.cost):
# the basis of the compute estimates below and in docs/targets.md.
EFFECTIVE_TFLOPS = 40.0  # sustained fp32/TF32 convnet throughput assumed for one A100/H100


def gmacs(spec: RunSpec) -> float:
    """Forward GMACs per 32x32 image of the run's model at its shape (its catalogue record)."""
    return model_info(spec.model).cost(spec.depth, spec.width)


def gpu_hours(spec: RunSpec) -> float:
    """Rough GPU-hours of one training run (fwd = 2 * MACs, fwd+bwd = 3 fwd), from the
    method's declared costs (gair.methods.MethodInfo)."""
    info = method_info(spec.method)
    n_train = points_per_epoch(spec)
    attack_passes_ = 3 * info.attack_cost * (info.attack_steps or spec.steps)
    passes = attack_passes_ + 3 * info.update_cost
    eval_n = spec.eval_samples or spec.test_subset or DATASETS[spec.dataset].n_test
    eval_passes = eval_n * (3 * spec.eval_steps + 2) / spec.eval_every
    # natural, the training attack and PGD-20 on the fixed training points
    eval_passes += spec.train_eval_samples * (3 * spec.eval_steps + 3 * spec.steps + 3)
    if spec.flatness:
        eval_passes += spec.flatness_samples * (6 * spec.eval_steps + 6)
    flops = 2e9 * gmacs(spec) * spec.epochs * (n_train * passes + eval_passes)
    return flops / (EFFECTIVE_TFLOPS * 1e12) / 3600


def slurm_minutes(hours: float) -> int:
    """SLURM time limit: twice the estimate plus 30 minutes (runs resume when requeued)."""
    return int(60 * 2 * hours) + 30
