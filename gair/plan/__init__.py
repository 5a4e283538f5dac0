"""The plan: a workflow config turned into runs, run names, the files every target reads and
makes, the jobs that make them and what they cost.

Plain Python, free of torch, matplotlib and Snakemake: ``workflow/rules/common.smk`` builds
one :class:`Plan` and wires its answers into rules; ``python -m gair protocol`` prints it;
tests check it directly. A plan never changes the config it was given. Its parts, one
concern each:

- :mod:`~gair.plan.config`: loading and merging configs, the schema;
- :mod:`~gair.plan.resolve`: config -> runs (the resolution order is written there);
- :mod:`~gair.plan.paths`: every path, once;
- :mod:`~gair.plan.jobs`: job arguments, manifests, report jobs;
- :mod:`~gair.plan.cost`: the FLOP model's GPU-hours;
- this module: the targets (which runs, evaluations and files each one needs), the audit's
  evaluation sets and its gradient-masking evaluations, the published checkpoints, the
  claims' runs;
- :mod:`~gair.plan.protocol`: ``python -m gair protocol``, every run epoch by epoch.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.evaluation.zoo import checked_reported, entry_file
from gair.plan import cost
from gair.plan.config import PlanError
from gair.plan.jobs import Jobs
from gair.plan.paths import Paths
from gair.plan.resolve import Entry, Resolution
from gair.report import catalogue
from gair.report import claims as claims_module
from gair.report.manifest import Item, Manifest
from gair.spec import RunSpec

AUDIT_ATTACKS = ("pgd20", "pgd_plus", "cw", "lsa", "autoattack")
KINDS = ("figure", "table", "figure_table")


@dataclass
class Plan(Resolution, Jobs):
    """Everything the workflow derives from a config; built once, read by the rules."""

    config: dict[str, Any]
    experiments: dict[str, dict[str, dict[str, list[Entry]]]] = field(default_factory=dict)
    runs: dict[str, RunSpec] = field(default_factory=dict)
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: dict[str, str] = field(default_factory=dict)  # table -> evaluation set
    masking: dict[str, str] = field(default_factory=dict)  # table -> masking evaluation set

    def __post_init__(self) -> None:
        self.config = copy.deepcopy(self.config)
        self.evaluations = copy.deepcopy(self.config["evaluations"])
        # Preflight (N > 0 training steps per run, gair/train/preflight.py) writes under its
        # own folder, so that it never stands in for a real run's results.
        self.preflight = int(self.config.get("preflight", 0) or 0)
        suffix = "/preflight" if self.preflight else ""
        self.paths = Paths(
            self.config["results"].rstrip("/") + suffix, self.config["figures"].rstrip("/")
        )
        self.results, self.figdir = self.paths.results, self.paths.figdir
        self._check_evaluations()
        self.check_layers()
        self.resolve_runs()
        self._check_targets()
        self._plan_audit()
        self._plan_published()
        self._plan_claims()

    # ------------------------------------------------------------------ checks
    def _check_evaluations(self) -> None:
        """Every attack a config names is known, before anything runs."""
        for name, e in self.evaluations.items():
            registry.check(e["attacks"], f"config evaluations.{name}.attacks")
        for name, exp in self.config["experiments"].items():
            if exp.get("kind") not in KINDS:
                self.fail(f"experiments.{name}.kind", f"must be one of {', '.join(KINDS)}")
            registry.check(exp.get("columns") or [], f"config experiments.{name}.columns")

    def _check_targets(self) -> None:
        """Each target's evaluation set and baseline exist, and a figure gets the run groups
        its function declares (gair.report.catalogue) and none it would not draw."""
        for name, exp in self.config["experiments"].items():
            if exp.get("evaluation") and exp["evaluation"] not in self.evaluations:
                self.fail(
                    f"experiments.{name}.evaluation",
                    f"{exp['evaluation']!r} is not in `evaluations`",
                )
            if exp.get("baseline") and exp["baseline"] not in self.labels(name):
                self.fail(f"experiments.{name}.baseline", f"{exp['baseline']!r} is not a run label")
            if exp.get("factors"):
                self._check_factors(name, exp)
            if "figure" in exp["kind"]:
                self._check_groups(name)

    def _check_factors(self, name: str, exp: dict[str, Any]) -> None:
        """A sensitivity experiment names its pairs among its base group's labels, and has an
        evaluation and checkpoints to compare them at."""
        where = f"experiments.{name}"
        base = list(next(iter(self.experiments[name].values())))
        if not exp.get("pairs"):
            self.fail(f"{where}.pairs", "an experiment with `factors` needs `pairs` to compare")
        for pair in exp["pairs"]:
            for label in pair:
                if label not in base:
                    self.fail(f"{where}.pairs", f"{label!r} is not a run label ({', '.join(base)})")
        if not exp.get("evaluation") or not exp.get("checkpoints"):
            self.fail(where, "an experiment with `factors` needs `evaluation` and `checkpoints`")

    def _check_groups(self, name: str) -> None:
        try:
            figure = catalogue.renderer("figure", name)
        except ConfigError as err:
            where, hint = f"experiments.{name}", "(declare it in gair/report/figures/)"
            raise PlanError(where, f"{err} {hint}") from None
        given = list(self.experiments[name])
        missing = [g for g in figure.groups if g not in given]
        if missing:
            self.fail(
                f"experiments.{name}.groups",
                f"figure {name} needs the run group(s) {', '.join(missing)}; "
                f"the config gives {', '.join(given) or 'none'}",
            )
        if figure.groups:
            extra = [g for g in given if g not in (*figure.groups, *figure.optional)]
            if extra:
                self.fail(
                    f"experiments.{name}.groups",
                    f"figure {name} draws the groups {', '.join(figure.groups + figure.optional)}"
                    f", not {', '.join(extra)}",
                )

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
                self.audit_checkpoints(table, entry)  # each one exists
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
            self._plan_masking(table, exp["evaluation"])

    def _plan_masking(self, table: str, evaluation: str) -> None:
        """The gradient-masking evaluation of an audited table, `<table set>_masking`: the
        config's `audit.masking.attacks` at the table set's eps, step and AutoAttack version
        (AutoAttack's attacks that version leaves out dropped), on the first
        `audit.masking.samples_limit` test points, with per-point results."""
        masking = self.config["audit"].get("masking") or {}
        if not masking.get("attacks"):
            return
        where = "audit.masking"
        registry.check(masking["attacks"], f"config {where}.attacks")
        seeds = masking.get("seeds")
        if seeds is not None:
            given = {e.seed for _, _, e in self.entries(table)}
            missing = [s for s in seeds if s not in given]
            if missing:
                self.fail(f"{where}.seeds", f"{table} has no seed {missing[0]} ({sorted(given)})")
        base = self.evaluations[evaluation]
        version = base.get("aa_version", "standard")
        name = f"{evaluation}_masking"
        self.evaluations[name] = {
            "attacks": [a for a in masking["attacks"] if registry.runs_in(a, version)],
            "eps": base["eps"],
            "alpha": base.get("alpha"),
            "pgd_plus_alpha": base.get("pgd_plus_alpha", 0.01),
            "aa_version": version,
            "samples_limit": masking.get("samples_limit", 0),
        }
        self.masking[table] = name

    def audit_checkpoints(self, table: str, entry: Entry, masking: bool = False) -> list[str]:
        """The checkpoints the audit reads of an entry of an audited table (its masking
        checks: `audit.masking.checkpoints`, by default the audit's), as
        :meth:`checkpoints_for` keeps them."""
        audit = self.config["audit"]
        wanted, where = audit["checkpoints"], "audit.checkpoints"
        if masking and (audit.get("masking") or {}).get("checkpoints"):
            wanted, where = audit["masking"]["checkpoints"], "audit.masking.checkpoints"
        return self.checkpoints_for(table, entry, wanted, where)

    def masking_entries(self, table: str) -> list[Entry]:
        """The runs of an audited table whose checkpoints get the masking checks (every
        seed, or those of `audit.masking.seeds`)."""
        seeds = (self.config["audit"].get("masking") or {}).get("seeds")
        return [e for _, _, e in self.entries(table) if seeds is None or e.seed in seeds]

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

    # ------------------------------------------------------------------ claims
    def _plan_claims(self) -> None:
        """The claims (gair.report.claims), each of its run labels resolved to its runs; a
        claim naming an unknown experiment, label, checkpoint or attack is one line here."""
        self.claims = claims_module.expand(self.config.get("claims") or [])
        self.claim_runs: dict[str, dict[str, list[Entry]]] = {}
        self.claim_evaluation: dict[str, str | None] = {}
        for claim in self.claims:
            where = f"claims.{claim.id}"
            if claim.source not in self.experiments:
                self.fail(where, f"from {claim.source!r} is not an experiment")
            refs = {"a": claim.a, **({"b": claim.b} if claim.b else {})}
            refs |= {f"best_of:{i}": r for i, r in enumerate(claim.best_of)}
            self.claim_runs[claim.id] = {k: self._claim_entries(claim, r) for k, r in refs.items()}
            self.claim_evaluation[claim.id] = self._claim_evaluation(claim)
            needs_geometry = claim.statistic == "spearman"
            if needs_geometry and not all(
                e.geometry for es in self.claim_runs[claim.id].values() for e in es
            ):
                self.fail(where, f"{claim.a.label!r} of {claim.source} has no geometry job")

    def _claim_evaluation(self, claim: claims_module.Claim) -> str | None:
        """The evaluation set a claim's checkpoint quantities read: its experiment's, or the
        audit's set of that table where only the audit evaluates the attack (audit
        samples_limit > 0 gives the audit a set of its own)."""
        quantities = [q for q in (claim.quantity, claim.versus) if q and q.checkpoint]
        if not quantities or claim.statistic in ("spearman", "kappa_leap"):
            return None
        exp = self.config["experiments"][claim.source]
        where = f"claims.{claim.id}"
        for q in quantities:
            if q.checkpoint not in exp.get("checkpoints", []) or not exp.get("evaluation"):
                self.fail(where, f"{claim.source} evaluates no checkpoint {q.checkpoint!r}")
        for name in (exp.get("evaluation"), self.audit.get(claim.source)):
            attacks = [*self.evaluations[name]["attacks"], registry.WORST_CASE] if name else []
            if all(q.attack in attacks for q in quantities):
                return name
        missing = ", ".join(q.attack for q in quantities)
        self.fail(where, f"no evaluation of {claim.source} has the attack(s) {missing}")
        raise AssertionError

    def _claim_entries(self, claim: claims_module.Claim, ref: claims_module.Ref) -> list[Entry]:
        groups = self.experiments[claim.source]
        found = [
            (group, entries)
            for group, labels in groups.items()
            for label, entries in labels.items()
            if label == ref.label and ref.group in ("", group)
        ]
        if len(found) != 1:
            valid = ", ".join(f"{g}: {lab}" for g, ls in groups.items() for lab in ls)
            what = "is not a run label" if not found else "is in several groups: name the group"
            self.fail(f"claims.{claim.id}", f"{ref.label!r} {what} of {claim.source} ({valid})")
        return found[0][1]

    def claim_checkpoints(self, claim: claims_module.Claim, entry: Entry) -> list[str]:
        """The checkpoints of an entry the claim's evaluation set holds: those its
        experiment evaluates, or the audit's where the claim reads the audit's set."""
        evaluation = self.claim_evaluation[claim.id]
        if evaluation is None:
            return []
        if evaluation == self.config["experiments"][claim.source].get("evaluation"):
            return list(entry.checkpoints)
        return self.audit_checkpoints(claim.source, entry)

    def claims_manifest(self) -> Manifest:
        """What the claims' table and figure read: the config's entries, and per expanded
        claim its runs (a, b, best_of:<i>) with their files."""
        groups: dict[str, dict[str, list[Item]]] = {}
        for claim in self.claims:
            evaluation = self.claim_evaluation[claim.id]
            groups[claim.id] = {
                key: [self._item(e, evaluation, self.claim_checkpoints(claim, e)) for e in entries]
                for key, entries in self.claim_runs[claim.id].items()
            }
        return Manifest(
            name="claims",
            renderer="claims",
            title="The paper's claims against our runs",
            groups=groups,
            claims=list(self.config.get("claims") or []),
        )

    def claims_inputs(self) -> list[str]:
        """The files the claims read; with claims_present_only, only those already there
        (the others' claims are "not run")."""
        files = set()
        for labels in self.claims_manifest().groups.values():
            for items in labels.values():
                for item in items:
                    files.add(self.paths.done_file(item.run))
                    files.update(item.evals.values())
                    files.update(item.eval_point_files.values())
                    if item.geometry:
                        files.add(item.geometry)
        if self.config.get("claims_present_only"):
            files = {f for f in files if Path(f).is_file()}
        return sorted(files)

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
        return self.paths.published_eval(self.slug(name))

    # ------------------------------------------------------------------ targets
    def of_kind(self, *kinds: str, paper_only: bool = False) -> list[str]:
        """Experiment targets whose `kind` is one of ``kinds``, in config order."""
        return [
            name
            for name, exp in self.config["experiments"].items()
            if exp.get("kind") in kinds and (exp.get("paper", True) or not paper_only)
        ]

    def target_experiments(self, target: str) -> list[str]:
        """The experiments whose runs a target trains."""
        audit_tables = list(self.config["audit"]["tables"])
        named = {
            "figures": self.of_kind("figure", paper_only=True),
            "tables": self.of_kind("table", paper_only=True),
            "audit": audit_tables,
            "all": [*self.config["experiments"], *audit_tables],
            "claims": [],  # its runs are the claims' own (claim_entries)
        }
        if target in named:
            return list(dict.fromkeys(named[target]))
        if target.startswith("audit_") and target[6:] in audit_tables:
            return [target[6:]]
        if target in self.experiments:
            return [target]
        valid = [
            *self.config["experiments"], "audit", "claims",
            *(f"audit_{t}" for t in audit_tables),
        ]  # fmt: skip
        raise ConfigError(
            f"target {target!r} is unknown; valid targets are: {', '.join([*valid, *named])}"
        )

    def report_targets(self, target: str) -> list[str]:
        """The report jobs an aggregate target (figures, tables, audit, all) makes; a
        report target makes itself. With preflight on every one writes its budget."""
        audit = [f"audit_{t}" for t in self.audit] if not self.preflight else list(self.audit)
        claims = [] if self.preflight or not self.claims else ["claims"]
        named = {
            "figures": self.of_kind("figure", paper_only=True),
            "tables": [*self.of_kind("table", paper_only=True), *claims],
            "audit": audit,
            "all": [*self.config["experiments"], *([] if self.preflight else audit), *claims],
        }
        return named.get(target, [target])

    def claim_entries(self, target: str) -> list[Entry]:
        """The runs the claims read, where ``target`` builds the claims and they are not
        limited to the files present (claims_present_only)."""
        if "claims" not in self.report_targets(target) or self.config.get("claims_present_only"):
            return []
        return [e for runs in self.claim_runs.values() for es in runs.values() for e in es]

    def outputs(self, target: str) -> list[str]:
        """Every file a target makes: its report jobs' products."""
        jobs = {job.name: job for job in self.report_jobs()}
        return [f for name in self.report_targets(target) for f in jobs[name].outputs]

    def target_runs(self, target: str) -> list[str]:
        """Distinct run names a target trains, in config order: its runs, then those its
        evaluations and claims read."""
        names = [e.run for exp in self.target_experiments(target) for _, _, e in self.entries(exp)]
        names += [e.run for e in self.claim_entries(target)]
        names += [run for run, _, _ in self.target_evaluations(target)]
        return list(dict.fromkeys(names))

    def target_evaluations(self, target: str) -> list[tuple[str, str, str]]:
        """Distinct (run, checkpoint, evaluation set) a target evaluates, in config order."""
        out = []
        for exp in self.target_experiments(target):
            cfg = self.config["experiments"][exp]
            if cfg.get("evaluation"):
                for _, _, entry in self.entries(exp):
                    out += [(entry.run, c, cfg["evaluation"]) for c in entry.checkpoints]
        if target in ("audit", "all") or target[6:] in self.audit:
            for table in self.audit if target in ("audit", "all") else [target[6:]]:
                for _, _, entry in self.entries(table):
                    out += [(entry.run, c, self.audit[table])
                            for c in self.audit_checkpoints(table, entry)]  # fmt: skip
                for entry in self.masking_entries(table) if table in self.masking else []:
                    checked = self.audit_checkpoints(table, entry, masking=True)
                    out += [(entry.run, c, self.masking[table]) for c in checked]
        if self.claim_entries(target):
            out += self.claim_evaluations()
        return list(dict.fromkeys(out))

    def claim_evaluations(self) -> list[tuple[str, str, str]]:
        """Distinct (run, checkpoint, evaluation set) the claims read, in config order."""
        out = []
        for claim in self.claims:
            evaluation = self.claim_evaluation[claim.id]
            if evaluation is None:
                continue
            checkpoints = [
                q.checkpoint for q in (claim.quantity, claim.versus) if q and q.checkpoint
            ]
            for entries in self.claim_runs[claim.id].values():
                for e in entries:
                    have = self.claim_checkpoints(claim, e)
                    out += [(e.run, c, evaluation) for c in checkpoints if c in have]
        return list(dict.fromkeys(out))

    def target_geometry(self, target: str) -> list[tuple[str, str]]:
        """Distinct (run, geometry profile) jobs a target needs, in config order."""
        entries = [e for exp in self.target_experiments(target) for _, _, e in self.entries(exp)]
        entries += self.claim_entries(target)
        out = [(entry.run, entry.geometry[0]) for entry in entries if entry.geometry]
        return list(dict.fromkeys(out))

    def first_target(self, run: str) -> str:
        """The first target (config order) that trains ``run``."""
        for name in self.experiments:
            if any(run == e.run for _, _, e in self.entries(name)):
                return name
        raise ConfigError(f"run {run!r} belongs to no target")

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

    def train_minutes(self, run: str) -> int:
        """The SLURM time limit of a run's training job."""
        return cost.slurm_minutes(self.gpu_hours(run))

    def eval_minutes(self, run: str, evaluation: str) -> int:
        """The SLURM time limit of one checkpoint's evaluation job."""
        return cost.slurm_minutes(self.eval_hours(run, evaluation))
