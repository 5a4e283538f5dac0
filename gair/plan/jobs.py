"""What each job is given: the arguments of the train, evaluate, geometry and published
jobs, the files they read that no job makes, every report target's manifest and its report
job (which products it makes, from which inputs).

:class:`Jobs` is the part of :class:`gair.plan.Plan` that says this; job commands name the
files :meth:`Jobs.job_inputs` writes (specs, manifests) instead of carrying JSON inline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gair.data import dataset_info
from gair.data.readers import RST_FILE, RST_SOURCE
from gair.errors import ConfigError
from gair.evaluation import registry
from gair.evaluation.zoo import download_hint, entry_file
from gair.io import write_text
from gair.methods import run_label
from gair.plan import cost
from gair.report.manifest import Item, Manifest, PublishedModel
from gair.spec import RunSpec

if TYPE_CHECKING:  # the plan's state, set by gair.plan.Plan
    from gair.plan.paths import Paths
    from gair.plan.resolve import Entry

PREFLIGHT_POINTS = 32  # test points a preflight evaluation job attacks (it times them)
# The sensitivity target's selection rule: each checkpoint of its base group, by name.
SELECTION = "selection rule"
SELECTION_LEVELS = {"best": "best (test set)", "best_val": "best_val (held out)", "last": "last"}


@dataclass
class Product:
    """One file set a report job writes: ``python -m gair <command> NAME --manifest FILE
    --out <prefix>``."""

    command: str  # figure, table or budget
    prefix: str
    outputs: list[str]
    shown: str | None = None  # the file the HTML report shows (None: none)
    # NAME and FILE where they are not the job's own (the audit's masking table); NAME also
    # names the caption of the shown file (workflow/report/<NAME>.rst)
    name: str = ""
    manifest: str = ""


@dataclass
class ReportJob:
    """One report target: its rule's name, inputs, manifest and products."""

    name: str
    manifest: str
    digest: str  # of the manifest's content: a changed manifest reruns the job
    inputs: list[str]
    products: list[Product] = field(default_factory=list)
    log: str = ""
    category: str = ""  # the HTML report's section

    @property
    def outputs(self) -> list[str]:
        return [f for p in self.products for f in p.outputs]


# The HTML report's sections. Snakemake's report lists them in alphabetical order: the
# numbers put the claims first, then the paper's figures and tables, then what goes beyond.
CATEGORIES = {
    "claims": "1. The paper's claims",
    "figure": "2. Figures",
    "table": "3. Tables",
    "audit": "4. Audit",
    "beyond": "5. Beyond the paper",
}


class Jobs:
    """Job arguments, manifests and report jobs (part of :class:`gair.plan.Plan`)."""

    config: dict[str, Any]
    experiments: dict[str, dict[str, dict[str, list[Entry]]]]
    runs: dict[str, RunSpec]
    evaluations: dict[str, dict[str, Any]]
    audit: dict[str, str]
    masking: dict[str, str]
    published: dict[str, dict[str, Any]]
    published_missing: list[str]
    preflight: int
    paths: Paths

    if TYPE_CHECKING:

        def entries(self, name: str) -> Any: ...
        def factor_levels(self, name: str) -> list[tuple[str, str, str]]: ...
        def audit_checkpoints(
            self, table: str, entry: Entry, masking: bool = False
        ) -> list[str]: ...
        def masking_entries(self, table: str) -> list[Entry]: ...
        def target_runs(self, target: str) -> list[str]: ...
        def of_kind(self, *kinds: str, paper_only: bool = False) -> list[str]: ...
        def published_eval_file(self, name: str) -> str: ...
        def claims_manifest(self) -> Manifest: ...
        def claims_inputs(self) -> list[str]: ...

    claims: list[Any]

    # ------------------------------------------------------------------ manifests
    def note(self, name: str) -> str:
        """What a target cannot show at the config's scale (its `note`), printed under its
        figure and in its report caption; empty where the config says nothing."""
        return str(self.config["experiments"].get(name, {}).get("note") or "")

    def _item(self, entry: Entry, evaluation: str | None, checkpoints: list[str]) -> Item:
        """A run as a report reads it, with each checkpoint's evaluation files."""
        item = Item(
            entry.run,
            entry.seed,
            self.paths.metrics(entry.run),
            train_points=self.paths.run_points(entry.run),
        )
        if entry.geometry:
            item.geometry = self.paths.geometry_file(entry.run, entry.geometry[0])
            item.geometry_checkpoint = entry.geometry[1]
        if evaluation:
            run = entry.run
            item.evals = {c: self.paths.eval_file(run, c, evaluation) for c in checkpoints}
            item.eval_point_files = {
                c: self.paths.eval_points(run, c, evaluation) for c in checkpoints
            }
        return item

    def _groups(
        self, name: str, evaluation: str | None, audited: bool = False
    ) -> dict[str, dict[str, list[Item]]]:
        """group -> shown run label -> one item per seed, in config order, with the
        checkpoints the experiment (``audited``: the audit) evaluates of each."""
        groups: dict[str, dict[str, list[Item]]] = {}
        for group, label, entry in self.entries(name):
            shown = run_label(label, self.runs[entry.run].method)
            ckpts = self.audit_checkpoints(name, entry) if audited else list(entry.checkpoints)
            item = self._item(entry, evaluation, ckpts)
            groups.setdefault(group, {}).setdefault(shown, []).append(item)
        return groups

    def manifest(self, name: str) -> Manifest:
        """An experiment's manifest: what its figure or table reads."""
        exp = self.config["experiments"][name]
        evaluation, checkpoints = exp.get("evaluation"), list(exp.get("checkpoints", []))
        return Manifest(
            name=name,
            renderer=name,
            title=exp.get("title", name),
            note=self.note(name),
            groups=self._groups(name, evaluation),
            plot=dict(exp.get("plot", {})),
            baseline=exp.get("baseline"),
            evaluation=evaluation,
            checkpoints=checkpoints,
            columns=exp.get("columns"),
            sensitivity=self.sensitivity_layout(name) if exp.get("factors") else {},
        )

    def sensitivity_layout(self, name: str) -> dict[str, Any]:
        """What a sensitivity target compares: its `pairs`, and per variation (a factor's
        level, then the selection rule: each checkpoint the base group evaluates) the group,
        the checkpoint and, per pair, whether it is the paper's setting (the base group's
        runs at the experiment's first checkpoint)."""
        exp = self.config["experiments"][name]
        groups = self.experiments[name]
        base = next(iter(groups))
        paper_checkpoint = exp["checkpoints"][0]

        def runs(group: str, label: str) -> list[str]:
            return [e.run for e in groups[group][label]]

        def variation(factor: str, level: str, group: str, ckpt: str) -> dict[str, Any]:
            paper = [
                ckpt == paper_checkpoint and all(runs(group, x) == runs(base, x) for x in pair)
                for pair in exp["pairs"]
            ]
            return {"factor": factor, "level": level, "group": group, "checkpoint": ckpt,
                    "paper": paper}  # fmt: skip

        variations = [
            variation(f, lev, g, paper_checkpoint) for f, lev, g in self.factor_levels(name)
        ]
        base_checkpoints = self.config["experiments"][name]["groups"][base].get("checkpoints") or []
        if len(base_checkpoints) > 1:
            variations += [
                variation(SELECTION, SELECTION_LEVELS.get(c, c), base, c) for c in base_checkpoints
            ]
        return {"pairs": [list(p) for p in exp["pairs"]], "variations": variations}

    def audit_manifest(self, table: str) -> Manifest:
        """The audit of a table: its runs, every checkpoint the audit reads, its baseline."""
        checkpoints = list(self.config["audit"]["checkpoints"])
        return Manifest(
            name=f"audit_{table}",
            renderer="audit",
            groups=self._groups(table, self.audit[table], audited=True),
            baseline=self.config["audit"]["tables"][table],
            evaluation=self.audit[table],
            checkpoints=checkpoints,
        )

    def masking_manifest(self, table: str) -> Manifest:
        """The gradient-masking checks of an audited table: its runs (the masking seeds),
        each checkpoint's masking summary and per-point file, the set's eps."""
        audit = self.config["audit"]
        checkpoints = list((audit.get("masking") or {}).get("checkpoints") or audit["checkpoints"])
        evaluation = self.masking[table]
        groups: dict[str, dict[str, list[Item]]] = {}
        chosen = {e.run for e in self.masking_entries(table)}
        for group, label, entry in self.entries(table):
            if entry.run not in chosen:
                continue
            item = Item(entry.run, entry.seed, self.paths.metrics(entry.run))
            mine = self.audit_checkpoints(table, entry, masking=True)
            item.evals = {c: self.paths.masking_file(entry.run, c, evaluation) for c in mine}
            item.points = {c: self.paths.masking_points(entry.run, c, evaluation) for c in mine}
            shown = run_label(label, self.runs[entry.run].method)
            groups.setdefault(group, {}).setdefault(shown, []).append(item)
        title = self.config["experiments"][table].get("title", table)
        return Manifest(
            name=f"masking_{table}",
            renderer="masking",
            title=f"Gradient-masking checks of {title}",
            note=self.note(table),
            groups=groups,
            evaluation=evaluation,
            checkpoints=checkpoints,
            eps=float(self.evaluations[evaluation]["eps"]),
        )

    def budget_manifest(self, name: str) -> Manifest:
        """A target's manifest with what its preflight budget needs besides: each
        evaluation's full number of points and each run's FLOP-model hours."""
        manifest = self.manifest(name)
        manifest.renderer = "budget"
        if manifest.evaluation:
            for _, _, item in manifest.items():
                spec = self.runs[item.run]
                item.eval_points = cost.eval_points(spec, self.evaluations[manifest.evaluation])
        manifest.flop_hours = {run: self.gpu_hours(run) for run in self.target_runs(name)}
        return manifest

    def published_manifest(self) -> Manifest:
        return Manifest(
            name="published",
            renderer="published",
            eps=self.config["published"]["evaluation"]["eps"],
            models={
                name: PublishedModel(
                    self.published_eval_file(name), entry.get("reported", {}), entry["source"]
                )
                for name, entry in self.published.items()
            },
            missing=list(self.published_missing),
        )

    @staticmethod
    def digest(content: Any) -> str:
        """A short hash of a manifest: a job parameter, so that a changed manifest reruns
        the job although its command only names the file."""
        if isinstance(content, Manifest):
            content = content.to_json()
        text = json.dumps(content, default=str)  # key order matters: labels are drawn in it
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ report jobs
    def category(self, name: str) -> str:
        """The HTML report's section of a target: the paper's figures and tables, or beyond
        them."""
        exp = self.config["experiments"][name]
        if not exp.get("paper", True):
            return CATEGORIES["beyond"]
        return CATEGORIES["table" if exp["kind"] == "table" else "figure"]

    def experiment_inputs(self, name: str) -> list[str]:
        """Every file a figure or table reads (Parquet only) or waits for."""
        exp = self.config["experiments"][name]
        files = []
        for _, _, entry in self.entries(name):
            files.append(self.paths.done_file(entry.run))
            if entry.geometry:
                files.append(self.paths.geometry_file(entry.run, entry.geometry[0]))
            for ckpt in entry.checkpoints:
                files.append(self.paths.eval_file(entry.run, ckpt, exp["evaluation"]))
        return sorted(set(files))

    def _product(self, command: str, name: str, shown: bool = True, manifest: str = "") -> Product:
        outputs = self.paths.outputs(command, name)
        visible = {"figure": outputs[1], "table": outputs[0]}.get(command) if shown else None
        product = Product(command, self.paths.prefix(command, name), outputs, visible)
        if manifest:  # a product under its own name and manifest
            product.name, product.manifest = name, manifest
        return product

    def _job(self, name: str, file: str, manifest: Manifest, inputs: list[str]) -> ReportJob:
        return ReportJob(
            name, self.paths.manifest_file(file), self.digest(manifest), inputs,
            log=self.paths.log("report", name),
        )  # fmt: skip

    def report_jobs(self) -> list[ReportJob]:
        """Every report target's job, in config order: with preflight on, each experiment's
        budget; otherwise each experiment's figure and/or table, each audit (a table and a
        figure) and the published checkpoints' table and figure."""
        jobs = []
        for name in self.config["experiments"]:
            if self.preflight:
                job = self._job(
                    name, f"budget_{name}", self.budget_manifest(name), self.experiment_inputs(name)
                )
                job.products = [self._product("budget", name, shown=False)]
            else:
                job = self._job(name, name, self.manifest(name), self.experiment_inputs(name))
                kind = self.config["experiments"][name]["kind"]
                job.products = [self._product(k, name) for k in ("figure", "table") if k in kind]
                job.category = self.category(name)
            jobs.append(job)
        if self.preflight:
            return jobs
        for table in self.audit:
            manifest = self.audit_manifest(table)
            inputs = [path for _, _, item in manifest.items() for path in item.evals.values()]
            job = self._job(f"audit_{table}", f"audit_{table}", manifest, inputs)
            job.products = [self._product("table", job.name), self._product("figure", job.name)]
            if table in self.masking:  # the masking checks' table, beside the audit's
                masking = self.masking_manifest(table)
                job.inputs += [f for _, _, item in masking.items()
                               for f in [*item.evals.values(), *item.points.values()]]  # fmt: skip
                job.digest = self.digest([manifest.to_json(), masking.to_json()])
                file = self.paths.manifest_file(masking.name)
                job.products.append(self._product("table", masking.name, manifest=file))
            job.category = CATEGORIES["audit"]
            jobs.append(job)
        if self.claims:
            job = self._job("claims", "claims", self.claims_manifest(), self.claims_inputs())
            job.products = [self._product("table", "claims"), self._product("figure", "claims")]
            job.category = CATEGORIES["claims"]
            jobs.append(job)
        manifest = self.published_manifest() if self.config.get("published") else None
        if manifest is not None:
            inputs = [model.eval for model in manifest.models.values()]
            job = self._job("published", "published", manifest, inputs)
            job.products = [
                self._product("table", "published", shown=False),
                self._product("figure", "published", shown=False),
            ]
            jobs.append(job)
        return jobs

    # ------------------------------------------------------------------ job inputs
    def job_inputs(self) -> dict[str, Any]:
        """Every file a job reads its settings from, path -> content: each run's resolved
        spec (what `python -m gair train --spec` reads) and each report target's manifest
        (what `--manifest` reads)."""
        files: dict[str, Any] = {
            self.paths.spec_file(run): spec.to_dict() for run, spec in self.runs.items()
        }
        for name in self.config["experiments"]:
            files[self.paths.manifest_file(name)] = self.manifest(name).to_json()
        for table in self.audit:
            files[self.paths.manifest_file(f"audit_{table}")] = self.audit_manifest(table).to_json()
        if self.claims:
            files[self.paths.manifest_file("claims")] = self.claims_manifest().to_json()
        for table in self.masking:
            manifest = self.masking_manifest(table)
            files[self.paths.manifest_file(manifest.name)] = manifest.to_json()
        if self.preflight:
            for name in self.config["experiments"]:
                manifest = self.budget_manifest(name).to_json()
                files[self.paths.manifest_file(f"budget_{name}")] = manifest
        if self.config.get("published", {}).get("models"):
            files[self.paths.manifest_file("published")] = self.published_manifest().to_json()
        return files

    def write_job_inputs(self) -> None:
        """Write :meth:`job_inputs` (atomically, only the files whose content changed)."""
        for name, content in self.job_inputs().items():
            path = Path(name)
            text = json.dumps(content, indent=1) + "\n"  # key order is label order
            if not path.is_file() or path.read_text() != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_text(path, text)

    # ------------------------------------------------------------------ job arguments
    def evaluate_args(self, evaluation: str) -> str:
        """The `python -m gair evaluate` arguments of an evaluation set."""
        e = self.evaluations[evaluation]
        args = [f"--attacks {','.join(e['attacks'])}", f"--eps {e['eps']!r}"]
        if any(registry.uses_autoattack(a) for a in e["attacks"]):
            args.append(f"--aa-version {e.get('aa_version', 'standard')}")
        if e.get("alpha") is not None:
            args.append(f"--alpha {e['alpha']!r}")
        args.append(f"--pgd-plus-alpha {e.get('pgd_plus_alpha', 0.01)!r}")
        if self.preflight:
            args.append(f"--samples-limit {PREFLIGHT_POINTS}")
        elif e.get("samples_limit"):
            args.append(f"--samples-limit {e['samples_limit']}")
        return " ".join(args)

    def geometry_checkpoint(self, run: str, profile: str) -> str:
        for name in self.config["experiments"]:
            for _, _, entry in self.entries(name):
                if entry.run == run and entry.geometry and entry.geometry[0] == profile:
                    return entry.geometry[1]
        raise ConfigError(f"run {run!r} has no geometry job {profile!r}")

    def geometry_args(self, run: str, profile: str) -> str:
        """The `python -m gair geometry` arguments of a run's geometry job."""
        g = self.config["geometry"][profile]
        ckpt = self.geometry_checkpoint(run, profile)
        per_class = min(g["per_class"], 2) if self.preflight else g["per_class"]
        return (
            f"--checkpoint {self.paths.checkpoint(run, ckpt)} --split {g['split']} "
            f"--per-class {per_class} --eps {g['eps']!r} --alpha {g['alpha']!r} "
            f"--steps {g['steps']}"
        )

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

    # ------------------------------------------------------------------ files no job makes
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

    def gpu_hours(self, run: str) -> float:
        return cost.gpu_hours(self.runs[run])

    def eval_hours(self, run: str, evaluation: str) -> float:
        return cost.eval_hours(self.runs[run], self.evaluations[evaluation])
