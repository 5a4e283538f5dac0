"""The manifest: what a figure, table or budget is made from, the one type between the plan and
the report.

The plan writes one manifest per report target (``results/manifests/<target>.json``) and every
report command reads it (``python -m gair figure|table|budget NAME --manifest FILE --out
PREFIX``). It names the target, the renderer that draws it (:mod:`gair.report.catalogue`), and
its runs: group -> run label -> one :class:`Item` per seed, each with the run's metrics file
and, where the target needs them, its evaluation files per checkpoint and its geometry file.
The published checkpoints' target lists its models instead of runs. Nothing here imports
torch or matplotlib: the plan builds manifests too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gair.errors import ConfigError, DataError


@dataclass
class Item:
    """One run (one seed of a label) as a report reads it."""

    run: str
    seed: int
    metrics: str = ""  # the run's metrics Parquet (figures' curves and every footer)
    evals: dict[str, str] = field(default_factory=dict)  # checkpoint -> evaluation Parquet
    # checkpoint -> which test points each attack left correct (beside each evaluation)
    eval_point_files: dict[str, str] = field(default_factory=dict)
    train_points: str = ""  # the run's per-epoch, per-point results (training writes them)
    # checkpoint -> the masking checks' per-point Parquet (the audit's masking evaluation)
    points: dict[str, str] = field(default_factory=dict)  # checkpoint -> per-point Parquet
    geometry: str | None = None  # its geometry Parquet
    geometry_checkpoint: str | None = None  # the checkpoint the geometry job read
    eval_points: int | None = None  # budgets: test points a full evaluation attacks


@dataclass
class PublishedModel:
    """One released checkpoint of the published target."""

    eval: str  # its evaluation Parquet
    reported: dict[str, Any] = field(default_factory=dict)  # numbers reported elsewhere, eps
    source: str = ""


@dataclass
class Manifest:
    """Everything a report command reads besides the Parquet files it names."""

    name: str  # the target
    renderer: str = ""  # the catalogue name of what draws it ("" : the target's own name)
    title: str = ""
    note: str = ""  # what the config's scale cannot show, printed with the figure or table
    groups: dict[str, dict[str, list[Item]]] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)  # figure options (class pairs, colours)
    baseline: str | None = None  # the run label differences are taken against
    evaluation: str | None = None  # the evaluation set its files come from
    checkpoints: list[str] = field(default_factory=list)
    columns: list[str] | None = None  # the attacks a table shows (None: every one)
    # sensitivity: `pairs` ([method, baseline] labels) and `variations`, each {factor, level,
    # group, checkpoint, paper: [one bool per pair: the paper's setting for that pair]}
    sensitivity: dict[str, Any] = field(default_factory=dict)
    flop_hours: dict[str, float] = field(default_factory=dict)  # budgets: the cost model's
    eps: float | None = None  # published: the paper's eps
    models: dict[str, PublishedModel] = field(default_factory=dict)  # published
    missing: list[str] = field(default_factory=list)  # published: models without files
    # claims: the config's entries; groups then hold each expanded claim's runs by claim id
    # (a, b, best_of:<i> -> items)
    claims: list[dict[str, Any]] = field(default_factory=list)

    @property
    def draws(self) -> str:
        """The catalogue name of the figure, table or budget function that renders it."""
        return self.renderer or self.name

    # ------------------------------------------------------------------ runs
    def items(self) -> Iterator[tuple[str, str, Item]]:
        """(group, label, item) of every run, in the config's order."""
        for group, labels in self.groups.items():
            for label, items in labels.items():
                for item in items:
                    yield group, label, item

    def metrics_files(self) -> list[str]:
        """Every run's metrics file (what a figure's footer says was trained)."""
        return [item.metrics for _, _, item in self.items() if item.metrics]

    def data_files(self) -> list[str]:
        """Every Parquet file it names: metrics, evaluations, per-point and geometry files
        of its runs, the published models' evaluations (what a footer says was computed
        where)."""
        files = []
        for _, _, item in self.items():
            files += [item.metrics, *item.evals.values(), *item.points.values()]
            files += [item.geometry] if item.geometry else []
        files += [model.eval for model in self.models.values()]
        return [f for f in dict.fromkeys(files) if f]

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """The manifest as the JSON object its file holds (unset optional fields left out)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "groups":
                value = {
                    group: {label: [_item_json(i) for i in runs] for label, runs in labels.items()}
                    for group, labels in value.items()
                }
            elif f.name == "models":
                value = {name: dataclasses.asdict(model) for name, model in value.items()}
            if value in (None, "", [], {}) and f.name not in ("name", "groups"):
                continue
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Manifest | Mapping[str, Any]) -> Manifest:
        """A manifest from its JSON object; ConfigError naming the first bad key."""
        if isinstance(data, Manifest):
            return data
        if not isinstance(data, Mapping) or "name" not in data:
            raise ConfigError("a manifest is a JSON object with a 'name' (it comes from the plan)")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"manifest key {unknown[0]!r} is unknown; valid: {', '.join(known)}")
        values = dict(data)
        values["groups"] = {
            str(group): {
                str(label): [_item(i, group, label) for i in runs] for label, runs in labels.items()
            }
            for group, labels in (data.get("groups") or {}).items()
        }
        values["models"] = {
            str(name): PublishedModel(**model) for name, model in (data.get("models") or {}).items()
        }
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        """The manifest file a report command is given; one line naming it when it is
        missing or not JSON."""
        file = Path(path)
        if not file.is_file():
            raise DataError(f"--manifest {str(path)!r} does not exist (the workflow writes it)")
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"--manifest {str(path)!r} is not valid JSON ({err})") from None
        return cls.from_json(data)


def _item(data: Mapping[str, Any], group: str, label: str) -> Item:
    known = {f.name for f in dataclasses.fields(Item)}
    unknown = sorted(set(data) - known)
    if unknown or not {"run", "seed"} <= set(data):
        raise ConfigError(
            f"manifest run {group}/{label}: needs run and seed (and metrics, evals, ...)"
            + (f"; {unknown[0]!r} is unknown" if unknown else "")
        )
    return Item(**data)


def _item_json(item: Item) -> dict[str, Any]:
    """An item's JSON: run and seed always, the rest where set."""
    out = dataclasses.asdict(item)
    return {k: v for k, v in out.items() if k in ("run", "seed") or v not in (None, {}, "")}
