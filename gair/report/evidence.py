"""Per-point results as the matrices the statistics read: one row per seed, one column per
test (or training) point, 1 where the point was classified correctly.

Two sources, both written by the jobs beside their summaries:

- an evaluation's points file (``<ckpt>-<evaluation>.points.parquet``, from ``python -m gair
  evaluate --points``): ``index``, ``label`` and one boolean column per attack;
- a run's ``points.parquet`` (training's per-epoch evaluation): ``epoch``, ``split`` (test,
  train), ``attack`` (nat, pgd20; adv on training points), ``index``, ``correct``.

Rows are matched by seed and columns by point index, so that two matrices of two methods, or
of two checkpoints of one method, are paired (:func:`gair.report.stats.paired_gain`). Every
reader returns None where a file or a column is missing: the report then prints no interval
rather than a wrong one. Nothing here imports torch.

Held-out selection: a run's best_val checkpoint was chosen on its selection split (seeded test
points it recorded, :func:`gair.report.read.selection_of`). Every number at best_val, and both
sides of every comparison that involves it, is computed on the other test points, the
**report split** (:func:`on_report_split`); best, last and epochs use every evaluated point.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gair.errors import DataError
from gair.evaluation import registry
from gair.report import read
from gair.report.manifest import Item, Manifest

# What a training epoch names "best" and "last"; any other epoch is its number.
BEST, LAST = "best", "last"
# The checkpoint chosen on held-out test points: it is judged on the others only.
HELD_OUT = "best_val"


def on_report_split(*checkpoints: str) -> bool:
    """Whether numbers at these checkpoints (one, or the two sides of a comparison) are
    computed on the report split: whenever one of them is best_val."""
    return HELD_OUT in checkpoints


def selection(item: Item) -> np.ndarray | None:
    """The test points that chose the run's best_val (None: it has no selection split)."""
    return read.selection_of(item.metrics)


def report_rows(frame: pd.DataFrame, drop: np.ndarray | None) -> pd.DataFrame:
    """A per-point frame (``index`` column) without the points of ``drop`` (a selection
    split; None keeps every row)."""
    if drop is None or not len(drop):
        return frame
    return frame[~frame["index"].isin(drop)]


@functools.lru_cache(maxsize=256)
def _read(path: str) -> pd.DataFrame | None:
    return pd.read_parquet(path) if Path(path).is_file() else None


def eval_points(path: str, attack: str, drop: np.ndarray | None = None) -> np.ndarray | None:
    """One attack's per-point correctness from an evaluation's points file, in point order,
    without the points of ``drop`` (a selection split); ``worst_case`` is the points every
    adversarial attack of the file left correct."""
    frame = _read(path)
    if frame is None:
        return None
    frame = report_rows(frame, drop).sort_values("index")
    if attack == registry.WORST_CASE:
        attacks = [c for c in frame.columns if c not in ("index", "label")]
        columns = [c for c in attacks if registry.is_adversarial(c)]
        if not columns:
            return None
        return np.logical_and.reduce([frame[c].to_numpy(dtype=bool) for c in columns])
    if attack not in frame:
        return None
    return frame[attack].to_numpy(dtype=bool)


def best_epoch(item: Item, column: str = "best_epoch") -> int | None:
    """The epoch a run's best.pt holds (its metrics' last ``best_epoch``; with
    ``best_val_epoch``, best_val.pt's), None if unknown."""
    metrics = _read(item.metrics) if item.metrics else None
    if metrics is None or column not in metrics or metrics.empty:
        return None
    value = metrics.sort_values("epoch")[column].iloc[-1]
    return (int(value) or None) if pd.notna(value) else None


def train_points(
    item: Item, epoch: str | int, split: str, attack: str, drop: np.ndarray | None = None
) -> np.ndarray | None:
    """A run's per-point correctness at an evaluated epoch (``best``, ``best_val``, ``last`` or
    a number) on its test or training points, under ``nat``, ``pgd20`` or (training points)
    ``adv``, without the points of ``drop`` (a selection split)."""
    frame = _read(item.train_points) if item.train_points else None
    if frame is None:
        return None
    if epoch == LAST:
        epoch = int(frame["epoch"].max())
    elif epoch in (BEST, HELD_OUT):
        found = best_epoch(item, "best_epoch" if epoch == BEST else "best_val_epoch")
        if found is None:
            return None
        epoch = found
    part = frame[(frame["epoch"] == int(epoch)) & (frame["split"] == split)]
    part = report_rows(part, drop)
    part = part[part["attack"] == attack].sort_values("index")
    return part["correct"].to_numpy(dtype=bool) if len(part) else None


def stack(rows: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """Seeds' rows as one matrix; None if any is missing or their point counts differ."""
    if not rows or any(r is None for r in rows):
        return None
    lengths = {len(r) for r in rows}  # type: ignore[arg-type]
    if len(lengths) != 1 or 0 in lengths:
        return None
    return np.vstack(rows).astype(float)  # type: ignore[arg-type]


def eval_matrix(
    items: Sequence[Item], checkpoint: str, attack: str, *, compared: Sequence[str] = ()
) -> np.ndarray | None:
    """Seeds x test points of one label's checkpoint under one attack (None where any seed's
    per-point file or column is missing): the report split's points where the checkpoint, or
    one it is ``compared`` with, is best_val (:func:`on_report_split`), else every one."""
    report = on_report_split(checkpoint, *compared)
    return stack(
        [
            eval_points(
                item.eval_point_files[checkpoint], attack, selection(item) if report else None
            )
            if checkpoint in item.eval_point_files
            else None
            for item in items
        ]
    )


def evaluated_attack(items: Sequence[Item], attack: str, checkpoint: str) -> str:
    """``autoattack`` read as ``autoattack_cheap`` where the first run's per-point file at
    ``checkpoint`` holds only the cheap setting (the smoke config's), so that every output
    names the one that ran; any other attack as it is."""
    if attack != "autoattack" or not items:
        return attack
    path = items[0].eval_point_files.get(checkpoint)
    cheap_only = (
        path is not None
        and eval_points(path, "autoattack") is None
        and eval_points(path, "autoattack_cheap") is not None
    )
    return "autoattack_cheap" if cheap_only else attack


def collect(manifest: Manifest) -> pd.DataFrame:
    """Every evaluation file's accuracies (:func:`gair.report.read.collect_evals`), those at
    best_val recomputed on the report split from the per-point file beside each (a DataError
    where it is missing); ``points`` says which points each row used."""
    listed = read.records_of(manifest)
    long = read.collect_evals(listed)
    records = {(r.method, r.seed, r.checkpoint): r for r in listed}
    used = []
    for i, row in long.iterrows():
        record = records[row["method"], row["seed"], row["checkpoint"]]
        drop = read.selection_of(record.metrics) if on_report_split(record.checkpoint) else None
        if drop is None:
            used.append("all")
            continue
        kept = eval_points(record.points, str(row["attack"]), drop) if record.points else None
        if kept is None:
            raise DataError(
                f"{record.path!r}: best_val is reported on the report split, which needs the "
                f"per-point file beside it ({record.points or 'none listed'!r}, evaluate --points) "
                f"with a column {row['attack']!r}"
            )
        long.loc[i, "accuracy_pct"] = 100.0 * float(kept.mean())
        used.append("report")
    long["points"] = used
    return long


def points_used(manifest: Manifest, checkpoint: str) -> str:
    """Which test points a table's rows at ``checkpoint`` read, in words: every evaluated
    point, or the report split (how many of how many, and how many chose the checkpoint)."""
    counts = set()
    for _, _, item in manifest.items():
        file = item.eval_point_files.get(checkpoint, "")
        frame = _read(file) if file else None
        drop = selection(item) if on_report_split(checkpoint) else None
        if frame is not None:
            counts.add(
                (len(frame), len(report_rows(frame, drop)), 0 if drop is None else len(drop))
            )
    if not counts:
        return ""
    if len(counts) > 1:
        return "seeds differ in their points: " + ", ".join(
            f"{k} of {n}" for n, k, _ in sorted(counts)
        )
    ((n, kept, chose),) = counts
    if not chose:
        words = f"every evaluated test point ({n:,})"
        if checkpoint == BEST:  # the paper's rule: chosen on the points it is reported on
            words += ", which also chose it: descriptive"
        return words
    return (
        f"the report split: {kept:,} of the {n:,} evaluated test points; the other {chose:,} "
        "(the run's seeded selection split) chose the checkpoint"
    )


def evaluated(items: Sequence[Item], *checkpoints: str) -> list[Item]:
    """The seeds' items whose runs have every one of ``checkpoints`` evaluated; an empty name
    (an epoch quantity) asks nothing."""
    wanted = [c for c in checkpoints if c]
    return [item for item in items if all(c in item.eval_point_files for c in wanted)]


def common_seeds(*groups: Sequence[Item]) -> list[int]:
    """The seeds every group has, in the first group's order."""
    sets = [{item.seed for item in items} for items in groups]
    return [item.seed for item in groups[0] if all(item.seed in s for s in sets)]


def by_seed(items: Sequence[Item], seeds: Sequence[int]) -> list[Item]:
    found = {item.seed: item for item in items}
    return [found[s] for s in seeds]
