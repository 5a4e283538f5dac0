"""How a config becomes runs: each run's settings resolved layer by layer into a RunSpec, its
name and the entries every target sees.

The order (config/paper.yaml documents the keys)::

    RunSpec defaults <- defaults <- presets[experiment.preset] <- experiment.set
        <- presets[group.preset] <- group.set <- the run's own settings
        <- alpha = eps * group.alpha_per_eps <- force <- rescale_epochs_to

A best_val checkpoint is the run's own: the epoch its selection split of the test points
(``selection_points``, usually set in ``defaults``) or its validation split of the training
points (``val_split``) chooses; no second run is trained for it.

An experiment with ``factors`` ({factor: {level: settings}}) varies its one group one factor
at a time: each level becomes a group ``"<factor>: <level>"`` with the base group's runs and
the level's settings on top of the group's ``set``, evaluated at the experiment's
``checkpoints`` (the base group may name more in its own ``checkpoints``). A level or factor
set to null is left out (a config overlay drops it so). Levels that resolve to the base
group's settings are the same runs, trained once.

Every epoch-valued setting follows the epoch convention (:mod:`gair.epochs`); rescaling moves
them all with :meth:`gair.spec.RunSpec.rescaled`. :class:`Resolution` is the part of
:class:`gair.plan.Plan` that does this; a bad value is a :class:`PlanError` naming the key
where it is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gair.epochs import rescale_epoch
from gair.errors import ConfigError
from gair.plan.config import PlanError
from gair.spec import RunSpec


@dataclass
class Entry:
    """One trained run as a figure or table sees it."""

    run: str
    seed: int
    paper_epochs: int
    geometry: tuple[str, str] | None = None  # (profile, checkpoint) of its geometry job
    # The checkpoints its experiment evaluates for it.
    checkpoints: tuple[str, ...] = ()


class Resolution:
    """Config -> runs (the plan's first part; :class:`gair.plan.Plan` holds the state)."""

    config: dict[str, Any]
    experiments: dict[str, dict[str, dict[str, list[Entry]]]]
    runs: dict[str, RunSpec]

    def fail(self, where: str, message: str) -> None:
        raise PlanError(where, message)

    def check_layers(self) -> None:
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
            for factor, levels in (exp.get("factors") or {}).items():
                for level, settings in (levels or {}).items():
                    check(settings, f"experiments.{name}.factors.{factor}.{level}")

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
            return self._with_factors(name, exp) if exp.get("factors") else exp
        if source not in experiments:
            self.fail(f"experiments.{name}.runs_from", f"{source!r} is not an experiment")
        if source in chain or source == name:
            self.fail(f"experiments.{name}.runs_from", f"{source!r} refers back to {name!r}")
        merged = dict(self.experiment(source, (*chain, name)))
        for key in ("preset", "set", "groups", "seeds"):
            if key in exp:
                merged[key] = exp[key]
        return merged

    def factor_levels(self, name: str) -> list[tuple[str, str, str]]:
        """(factor, level, group) of an experiment's `factors`, in config order, null
        factors and levels left out."""
        out = []
        for factor, levels in (self.config["experiments"][name].get("factors") or {}).items():
            for level, settings in (levels or {}).items():
                if settings is not None:
                    out.append((str(factor), str(level), f"{factor}: {level}"))
        return out

    def _with_factors(self, name: str, exp: dict) -> dict:
        """The experiment with a group per factor level (module docstring)."""
        where = f"experiments.{name}"
        if len(exp["groups"]) != 1:
            self.fail(f"{where}.groups", "an experiment with `factors` varies one group")
        ((base_name, base),) = exp["groups"].items()
        groups = {base_name: base}
        for factor, level, group in self.factor_levels(name):
            if group in groups:
                self.fail(f"{where}.factors.{factor}", f"group {group!r} is given twice")
            settings = self.config["experiments"][name]["factors"][factor][level]
            varied = {k: v for k, v in base.items() if k != "checkpoints"}
            varied["set"] = {**(base.get("set") or {}), **settings}
            groups[group] = varied
        return dict(exp, groups=groups)

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
        """An `epochN` checkpoint exists only where the run lists N in `snapshots`, and
        best_val only where the run selects on held-out points (selection_points or
        val_split)."""
        if ckpt.startswith("epoch") and int(ckpt[5:]) not in spec.snapshots:
            self.fail(
                where,
                f"checkpoint {ckpt!r} needs snapshots: [{ckpt[5:]}] in run {spec.run_name()} "
                f"(its snapshots: {spec.snapshots})",
            )
        if ckpt == "best_val" and not (spec.selection_points or spec.val_split):
            self.fail(
                where,
                f"checkpoint 'best_val' needs held-out points to select on: selection_points "
                f"(test points, e.g. in `defaults`) or val_split in run {spec.run_name()}",
            )

    def add_run(self, spec: RunSpec, where: str) -> str:
        """Register a resolved run under its name; settings left out of the name
        (RunSpec.OUTPUT_ONLY) must agree wherever the same run is resolved."""
        name = spec.run_name()
        known = self.runs.get(name)
        if known is not None:
            for key in RunSpec.OUTPUT_ONLY:
                if getattr(known, key) != getattr(spec, key):
                    self.fail(
                        where,
                        f"run {name} is resolved with {key} = {getattr(spec, key)!r} here and "
                        f"{getattr(known, key)!r} elsewhere; one run keeps one selection",
                    )
        self.runs[name] = spec
        return name

    def resolve_runs(self) -> None:
        """Every run of every experiment, named, with its entry per target."""
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
                        where = f"experiments.{exp_name}.groups.{group}.runs.{label}"
                        entry = Entry(self.add_run(spec, where), spec.seed, paper_epochs)
                        entry.checkpoints = self._entry_checkpoints(exp_name, grp, entry)
                        if profile:
                            ckpt = self.scaled_checkpoint(
                                geometry_profiles[profile]["checkpoint"], paper_epochs
                            )
                            self.check_checkpoint(spec, ckpt, f"geometry.{profile}.checkpoint")
                            entry.geometry = (profile, ckpt)
                        entries.append(entry)
                    groups[group][label] = entries
            self.experiments[exp_name] = groups

    def checkpoints_for(
        self, exp_name: str, entry: Entry, wanted: list[str], where: str
    ) -> list[str]:
        """The checkpoints of ``wanted`` an entry of an experiment has; each must exist
        (:meth:`check_checkpoint`, a PlanError naming ``where``)."""
        for ckpt in wanted:
            self.check_checkpoint(self.runs[entry.run], ckpt, where)
        return list(wanted)

    def _wanted_checkpoints(self, exp_name: str, grp: dict) -> list[str]:
        """The checkpoints an experiment with an evaluation evaluates of a group's runs: the
        group's `checkpoints` where it gives them, else the experiment's."""
        exp = self.config["experiments"][exp_name]
        if not exp.get("evaluation"):
            return []
        return list(grp.get("checkpoints") or exp.get("checkpoints") or [])

    def _entry_checkpoints(self, exp_name: str, grp: dict, entry: Entry) -> tuple[str, ...]:
        """The checkpoints evaluated for an entry (:meth:`_wanted_checkpoints`, as
        :meth:`checkpoints_for` keeps them)."""
        wanted = self._wanted_checkpoints(exp_name, grp)
        return tuple(self.checkpoints_for(exp_name, entry, wanted, f"experiments.{exp_name}"))

    def labels(self, name: str) -> list[str]:
        return [label for labels in self.experiments[name].values() for label in labels]

    def entries(self, name: str) -> Iterator[tuple[str, str, Entry]]:
        for group, labels in self.experiments[name].items():
            for label, items in labels.items():
                for entry in items:
                    yield group, label, entry
