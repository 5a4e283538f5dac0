"""Reading what runs wrote, for every report: evaluation files (accuracies in **percent** from
here on; the files store fractions), metrics with the spec stored beside them, geometry
files, and the note saying what was trained. Nothing here reads a checkpoint or imports
torch.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gair import provenance
from gair.errors import DataError
from gair.report.manifest import Manifest


def read_eval(path: str | Path) -> pd.DataFrame:
    """One evaluation file: a row per attack, ``accuracy_pct`` its test accuracy in percent."""
    if not Path(path).is_file():
        raise DataError(
            f"evaluation file {str(path)!r} does not exist; run its `evaluate` job first"
        )
    frame = pd.read_parquet(path)
    missing = {"attack", "accuracy"} - set(frame.columns)
    if missing:
        raise DataError(f"evaluation file {str(path)!r} lacks columns {sorted(missing)}")
    frame = frame.copy()
    frame["attack"] = frame["attack"].astype(str)
    frame["accuracy_pct"] = 100.0 * frame.pop("accuracy").astype(float)
    return frame


@dataclass(frozen=True)
class EvalRecord:
    """Which run an evaluation file belongs to."""

    path: str
    method: str  # the run's label: a table's row, a figure's legend entry
    seed: int
    checkpoint: str  # best, best_val, last or epochN
    points: str = ""  # the per-point file beside it ("" : none listed)
    metrics: str = ""  # the run's metrics (its recorded selection split)


def records_of(manifest: Manifest) -> list[EvalRecord]:
    """The evaluation files a manifest lists, in its order (label, seed, checkpoint: the
    config's order)."""
    return [
        EvalRecord(
            path,
            label,
            item.seed,
            checkpoint,
            item.eval_point_files.get(checkpoint, ""),
            item.metrics,
        )
        for _, label, item in manifest.items()
        for checkpoint, path in item.evals.items()
    ]


def collect_evals(records: Iterable[EvalRecord]) -> pd.DataFrame:
    """Long table of every file's accuracies: method, seed, checkpoint, attack,
    accuracy_pct, file; in the records' order. Two files of one (method, seed, checkpoint)
    are an error."""
    rows, seen = [], {}
    for record in records:
        key = (record.method, record.seed, record.checkpoint)
        if key in seen:
            raise DataError(
                f"{record.path!r} and {seen[key]!r} are both method {key[0]!r}, seed {key[1]}, "
                f"checkpoint {key[2]!r}"
            )
        seen[key] = record.path
        frame = read_eval(record.path)
        for attack, accuracy in zip(frame["attack"], frame["accuracy_pct"], strict=True):
            rows.append(
                {
                    "method": record.method,
                    "seed": record.seed,
                    "checkpoint": record.checkpoint,
                    "attack": attack,
                    "accuracy_pct": float(accuracy),
                    "file": record.path,
                }
            )
    if not rows:
        raise DataError("no evaluation rows: the input names no evaluation file with rows")
    return pd.DataFrame(rows)


def read_metrics(path: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A run's metrics (sorted by epoch) and the resolved spec stored with them."""
    import pyarrow.parquet as pq  # the schema metadata holds the spec

    if not Path(path).is_file():
        raise DataError(f"metrics file {str(path)!r} does not exist; run its `train` job first")
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    spec = json.loads(meta.get(b"gair.spec", b"{}"))
    return spec, table.to_pandas().sort_values("epoch")


@functools.lru_cache(maxsize=512)
def _selection(path: str) -> tuple[int, ...] | None:
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        return None
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(b"gair_selection")
    return tuple(int(i) for i in json.loads(raw)["indices"]) if raw else None


def selection_of(metrics: str | Path) -> np.ndarray | None:
    """The test points a run's selection split holds (positions in its test split, as the run
    recorded them in its metrics' Parquet metadata), None where it has none or the file is
    missing: these chose its best_val checkpoint."""
    found = _selection(str(metrics)) if metrics else None
    return None if found is None else np.asarray(found, dtype=np.int64)


def run_titles(frame: pd.DataFrame, spec: Mapping[str, Any]) -> tuple[str, str]:
    """The model's and the dataset's display names a run recorded (its spec's names for
    metrics written before runs recorded them)."""
    model = str(frame["model_title"].iloc[-1]) if "model_title" in frame else str(spec.get("model"))
    data = (
        str(frame["dataset_title"].iloc[-1])
        if "dataset_title" in frame
        else str(spec.get("dataset"))
    )
    return model, data


def natural_key(text: str) -> list[Any]:
    """Sort key that orders the numbers inside names by value: MLP 1x64 before MLP 1x128."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def trained_note(metrics_paths: Iterable[str | Path]) -> str:
    """What was trained (data, models, epochs, seeds), read from the runs' metrics, so that a
    figure or table made at smoke scale says so beside the paper's setting."""
    models, datasets, epochs, seeds = set(), set(), set(), set()
    for path in metrics_paths:
        if not Path(path).is_file():
            continue
        spec, frame = read_metrics(path)
        model, data = run_titles(frame, spec)
        models.add(model)
        datasets.add(data)
        epochs.add(int(spec.get("epochs", 0)))
        seeds.add(spec.get("seed"))
    if not models:
        return ""
    return (
        f"data: {', '.join(sorted(datasets))} | "
        f"models: {', '.join(sorted(models, key=natural_key))} | "
        f"epochs: {', '.join(map(str, sorted(epochs)))} | "
        f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    )


def provenance_of(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every provenance record the files' Parquet metadata hold (a run's stretches, an
    evaluation's record), in the files' order; files that do not exist are skipped."""
    import pyarrow.parquet as pq  # the schema metadata holds the records

    out: list[dict[str, Any]] = []
    for path in dict.fromkeys(str(p) for p in paths):
        if Path(path).is_file():
            out += provenance.from_metadata(pq.read_schema(path).metadata)
    return out


def computed_on(paths: Iterable[str | Path]) -> str:
    """Where the files' numbers were computed, in one line (:func:`gair.provenance.summary`);
    empty where no file records it."""
    return provenance.summary(provenance_of(paths))


def read_geometry(path: str | Path) -> pd.DataFrame:
    """A geometry job's file (kappa, logits and their PCA per point)."""
    if not Path(path).is_file():
        raise DataError(f"geometry file {str(path)!r} does not exist; run its `geometry` job first")
    return pd.read_parquet(path)
