"""The report layer: how figures, tables and the audit read run outputs, aggregate seeds,
name things and write files. One home for each:

- evaluation files are read by :func:`read_eval` / :func:`collect_evals`, accuracies in
  **percent** from there on (the files store fractions);
- seeds are aggregated by :func:`seed_stats`: median, sample standard deviation (ddof 1)
  and the number of seeds; with a single seed the deviation is undefined (NaN) and shown
  as no spread at all;
- display names come from their registries: attacks from :mod:`gair.evaluation.registry`,
  methods from :mod:`gair.methods`, models and datasets from the titles a run records in
  its metrics (written by training from :mod:`gair.models` and :mod:`gair.data`);
- figures are saved by :func:`save_figure`, tables by :func:`write_table_files`, both
  atomically.

Nothing here reads a checkpoint or imports torch.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gair.errors import DataError
from gair.io import atomic_path, write_json, write_text


# ---------------------------------------------------------------------------- evaluations
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
    checkpoint: str  # best, last or epochN


def records_of(manifest: Mapping[str, Any]) -> list[EvalRecord]:
    """The evaluation files a workflow manifest lists, in its order (config order)."""
    out = []
    for labels in manifest["groups"].values():
        for method, items in labels.items():
            for item in items:
                for checkpoint, path in item.get("evals", {}).items():
                    out.append(EvalRecord(path, method, int(item["seed"]), checkpoint))
    return out


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


def seed_stats(
    long: pd.DataFrame, keys: Sequence[str], value: str = "accuracy_pct"
) -> pd.DataFrame:
    """Median, sample std (ddof 1; NaN with one seed) and seed count of ``value`` per
    ``keys``, groups in first-seen order."""

    def std(values: pd.Series) -> float:
        return float(values.std(ddof=1)) if len(values) > 1 else math.nan

    grouped = long.groupby(list(keys), sort=False)[value]
    return grouped.agg(median="median", std=std, n_seeds="count").reset_index()


def spread(std: float) -> float:
    """A standard deviation to draw (error bars): NaN, one seed's, draws none."""
    return 0.0 if math.isnan(std) else std


# ---------------------------------------------------------------------------- runs
def read_metrics(path: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A run's metrics (sorted by epoch) and the resolved spec stored with them."""
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise DataError(f"metrics file {str(path)!r} does not exist; run its `train` job first")
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    spec = json.loads(meta.get(b"gair.spec", b"{}"))
    return spec, table.to_pandas().sort_values("epoch")


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


def trained_lines(note: str) -> list[str]:
    """A Markdown table's line saying what was trained for it (:func:`trained_note`)."""
    return [f"Trained here: {note}.", ""] if note else []


def manifest_metrics(manifest: Mapping[str, Any]) -> list[str]:
    """Every metrics file a manifest lists."""
    return [
        item["metrics"]
        for labels in manifest["groups"].values()
        for items in labels.values()
        for item in items
        if item.get("metrics")
    ]


# ---------------------------------------------------------------------------- formatting
def number(value: float | None, *, signed: bool = False, unit: str = "") -> str:
    """A percentage (or point difference) with two decimals; '-' where there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return (f"{value:+.2f}" if signed else f"{value:.2f}") + unit


def cell(median: float, std: float) -> str:
    """``median ± std``, or the median alone where the spread is undefined (one seed)."""
    return number(median) if math.isnan(std) else f"{median:.2f} ± {std:.2f}"


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters and write ± as $\\pm$."""
    out = text.replace("\\", r"\textbackslash{}")
    for ch in "&%$#_{}":
        out = out.replace(ch, "\\" + ch)
    return out.replace("±", r"$\pm$")


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1
) -> list[str]:
    """Lines of a Markdown table, the first ``left`` columns left-aligned."""
    align = ["---"] * left + ["---:"] * (len(header) - left)
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def latex_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1
) -> list[str]:
    """Lines of a booktabs tabular, the first ``left`` columns left-aligned."""
    return [
        "\\begin{tabular}{" + "l" * left + "r" * (len(header) - left) + "}",
        "\\toprule",
        " & ".join(tex_escape(h) for h in header) + " \\\\",
        "\\midrule",
        *(" & ".join(tex_escape(c) for c in r) + " \\\\" for r in rows),
        "\\bottomrule",
        "\\end{tabular}",
    ]


# ---------------------------------------------------------------------------- writers
def write_table_files(prefix: str | Path, *, csv: str, md: str, tex: str) -> list[Path]:
    """PREFIX.csv, PREFIX.md and PREFIX.tex, each written atomically; their paths."""
    paths = [Path(f"{prefix}.{ext}") for ext in ("csv", "md", "tex")]
    for path, text in zip(paths, (csv, md, tex), strict=True):
        write_text(path, text)
    return paths


def save_figure(
    fig: Any, prefix: str | Path, sidecar: Mapping[str, Any] | None = None
) -> list[Path]:
    """PREFIX.pdf and PREFIX.png (and PREFIX.json when a sidecar is given), atomically."""
    paths = []
    for ext in ("pdf", "png"):
        path = Path(f"{prefix}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
        paths.append(path)
    if sidecar is not None:
        path = Path(f"{prefix}.json")
        write_json(path, dict(sidecar), sort_keys=False)  # a manifest's order is its labels'
        paths.append(path)
    return paths
