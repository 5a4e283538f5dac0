"""A target's preflight budget: the measurements its preflight runs wrote (preflight.json,
:mod:`gair.train.preflight`), projected to the full runs, beside the FLOP model's estimate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from gair.errors import ConfigError
from gair.io import write_parquet, write_text
from gair.report import text
from gair.report.catalogue import budget
from gair.report.manifest import Manifest


def budget_rows(manifest: Manifest, flop_hours: dict[str, float]) -> pd.DataFrame:
    """One row per run of a target's manifest: its preflight measurement, its evaluations'
    projected hours, and the FLOP model's estimate beside them."""
    rows = []
    seen: set[str] = set()
    for group, label, item in manifest.items():
        if item.run in seen:
            continue
        seen.add(item.run)
        path = Path(item.metrics).parent / "preflight.json"
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: run the target with preflight on")
        record = json.loads(path.read_text())
        eval_hours = 0.0
        for eval_path in item.evals.values():
            frame = pd.read_parquet(eval_path)
            per_point = frame["seconds"].sum() / max(int(frame["n"].max()), 1)
            eval_hours += per_point * int(item.eval_points or 0) / 3600
        rows.append(
            {
                "run": item.run,
                "label": f"{group}: {label}",
                "seed": item.seed,
                "device": record["device"],
                "seconds_per_step": record["seconds_per_step"],
                "images_per_s": record["images_per_s"],
                "peak_memory_mb": record["peak_memory_mb"],
                "steps_per_epoch": record["steps_per_epoch"],
                "epochs": record["epochs"],
                "projected_train_hours": record["projected_train_hours"],
                "projected_eval_hours": eval_hours,
                "flop_model_hours": flop_hours.get(item.run, math.nan),
            }
        )
    return pd.DataFrame(rows)


@budget("budget")
def write_budget(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv, PREFIX.md and PREFIX.parquet: the target's measured budget."""
    flop = {k: float(v) for k, v in manifest.flop_hours.items()}
    frame = budget_rows(manifest, flop)
    name = manifest.name
    total = frame[["projected_train_hours", "projected_eval_hours", "flop_model_hours"]].sum()
    header = ["Run", "Label", "Seed", "s/step", "img/s", "peak MiB", "steps x epochs",
              "train h", "eval h", "FLOP-model h"]  # fmt: skip
    rows = [
        [r.run, r.label, str(r.seed), f"{r.seconds_per_step:.3f}", f"{r.images_per_s:.0f}",
         f"{r.peak_memory_mb:.0f}", f"{r.steps_per_epoch} x {r.epochs}",
         f"{r.projected_train_hours:.2f}", f"{r.projected_eval_hours:.2f}",
         f"{r.flop_model_hours:.2f}"]
        for r in frame.itertuples()
    ]  # fmt: skip
    devices = ", ".join(sorted(set(frame["device"])))
    lines = [
        f"# Preflight budget: {name}",
        "",
        f"Measured on {devices}: a few training steps and one batch of each evaluation per run,"
        " projected to the full run (gair/train/preflight.py); the FLOP model's estimate"
        " beside it.",
        "",
        f"Total: about {total['projected_train_hours']:.1f} h of training and "
        f"{total['projected_eval_hours']:.1f} h of evaluation "
        f"(FLOP model: {total['flop_model_hours']:.1f} h of training).",
        "",
        *text.markdown_table(header, rows, left=3),
    ]
    write_text(f"{prefix}.csv", frame.to_csv(index=False, float_format="%.6g"))
    write_text(f"{prefix}.md", "\n".join(lines) + "\n")
    write_parquet(f"{prefix}.parquet", frame)
    return frame
