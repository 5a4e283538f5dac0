"""A target's preflight budget: the measurements its preflight runs wrote (preflight.json,
:mod:`gair.train.preflight`), projected to the full runs, beside the FLOP model's estimate."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from gair.errors import ConfigError


# ---------------------------------------------------------------------------- the budget
def budget_rows(manifest: dict[str, Any], flop_hours: dict[str, float]) -> pd.DataFrame:
    """One row per run of a target's manifest: its preflight measurement, its evaluations'
    projected hours, and the FLOP model's estimate beside them."""
    rows = []
    seen: set[str] = set()
    for group, labels in manifest["groups"].items():
        for label, items in labels.items():
            for item in items:
                if item["run"] in seen:
                    continue
                seen.add(item["run"])
                path = Path(item["metrics"]).parent / "preflight.json"
                if not path.is_file():
                    raise ConfigError(f"{path} does not exist: run the target with preflight on")
                record = json.loads(path.read_text())
                eval_hours = 0.0
                for eval_path in (item.get("evals") or {}).values():
                    frame = pd.read_parquet(eval_path)
                    per_point = frame["seconds"].sum() / max(int(frame["n"].max()), 1)
                    eval_hours += per_point * int(item["eval_points"]) / 3600
                rows.append(
                    {
                        "run": item["run"],
                        "label": f"{group}: {label}",
                        "seed": item["seed"],
                        "device": record["device"],
                        "seconds_per_step": record["seconds_per_step"],
                        "images_per_s": record["images_per_s"],
                        "peak_memory_mb": record["peak_memory_mb"],
                        "steps_per_epoch": record["steps_per_epoch"],
                        "epochs": record["epochs"],
                        "projected_train_hours": record["projected_train_hours"],
                        "projected_eval_hours": eval_hours,
                        "flop_model_hours": flop_hours.get(item["run"], math.nan),
                    }
                )
    return pd.DataFrame(rows)


def write_budget(manifest: dict[str, Any], prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv, PREFIX.md and PREFIX.parquet: the target's measured budget."""
    from gair import report
    from gair.io import write_parquet, write_text

    flop = {k: float(v) for k, v in (manifest.get("flop_hours") or {}).items()}
    frame = budget_rows(manifest, flop)
    name = manifest.get("name", "")
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
        *report.markdown_table(header, rows, left=3),
    ]
    write_text(f"{prefix}.csv", frame.to_csv(index=False, float_format="%.6g"))
    write_text(f"{prefix}.md", "\n".join(lines) + "\n")
    write_parquet(f"{prefix}.parquet", frame)
    return frame


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair budget",
        description="A target's preflight budget (CSV, Markdown, Parquet) from its runs' files.",
    )
    parser.add_argument("name", help="the target, e.g. fig16")
    parser.add_argument("--manifest", required=True, help="JSON text or file from the workflow")
    parser.add_argument("--out", required=True, help="output prefix")
    args = parser.parse_args(argv)
    from gair.tables import load_manifest

    frame = write_budget(load_manifest(args.manifest), args.out)
    print(f"{args.name}: {len(frame)} runs -> {args.out}.csv, .md, .parquet")
    return 0
