"""The Markdown report of a GPU check, from its record (what DIR/gpucheck.json holds)."""

from __future__ import annotations

import math
from typing import Any

from gair.plan.cost import EFFECTIVE_TFLOPS
from gair.tools.gpucheck.sizes import SHRINK_NOTE


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def render(r: dict[str, Any]) -> str:
    """The Markdown report of a check record (DIR/gpucheck.json)."""
    env = r["environment"]
    lines = ["# GPU check", ""]
    if r["shrink"]:
        lines += [SHRINK_NOTE, ""]
    if "gpu" in env:
        device = (
            f"{env['gpu']} ({env['gpu_memory_gib']:.0f} GiB, {env['gpus_visible']} visible, "
            f"cuDNN {env['cudnn']})"
        )
    else:
        device = f"CPU ({env['cpus']} cores)"
    pkgs = ", ".join(f"{k} {v}" if v else f"{k} missing" for k, v in env["packages"].items())
    lines += [
        f"Started {r['started']} on {env['host']}: {r['elapsed_s']:.0f} s of a "
        f"{r['budget_s']:.0f} s budget.",
        f"Device: {device}; Python {env['python']}, torch {env['torch']} "
        f"(CUDA {env['cuda_build']}).",
        f"Packages: {pkgs}.",
        "",
        f"**Result: {'FAILED: ' + ', '.join(r['failed']) if r['failed'] else 'no part failed'}**"
        " (parts not run are listed with the reason).",
        "",
    ]
    lines += _render_tests(r.get("tests"))
    lines += _render_bench(r.get("bench"), r.get("compile"), r["shrink"])
    lines += _render_epoch(r.get("epoch"), r["shrink"])
    lines += _render_preflight(r.get("preflight"))
    return "\n".join(lines) + "\n"


def _status(part: dict[str, Any] | None) -> str:
    if part is None:
        return "not run (not asked for)"
    return part["status"] + (f": {part['why']}" if part.get("why") else "")


def _render_tests(t: dict[str, Any] | None) -> list[str]:
    lines = ["## 1. CUDA tests", ""]
    if not t or "counts" not in t:
        return [*lines, _status(t), ""]
    counts = ", ".join(f"{n} {k}" for k, n in t["counts"].items()) or "no summary"
    lines += [f"`{t['command']}`: {counts} in {t['seconds']:.0f} s ({_status(t)}; "
              f"log: {t['log']})."]  # fmt: skip
    lines += [f"- {line}" for line in t["failures"]]
    lines += [f"- skipped: {reason}" for reason in t["skip_reasons"]]
    return [*lines, ""]


def _render_bench(b: Any, compiled: Any, shrink: bool) -> list[str]:
    """The throughput table: eager rows (``b``) and compiled rows; a part that failed as a
    whole (a dict without rows) is one line."""
    lines = ["## 2. Throughput: `gair bench`", ""]
    rows: list[dict[str, Any]] = []
    for part in (b, compiled):
        if isinstance(part, dict) and "rows" in part:
            rows += part["rows"]
        elif isinstance(part, list):
            rows += part
        elif isinstance(part, dict):
            lines += [_status(part), ""]
    if not rows:
        return [*lines, _status(None), ""] if b is None and compiled is None else lines
    if isinstance(b, dict) and "rows" in b:
        lines += [
            f"{b['method']} with PGD-{b['steps']}, random data on the device, median of "
            f"{b['iters']} after {b['warmup']} warm-up; fraction of the dense peak for the "
            "arithmetic in use (FLOPs counted by FlopCounterMode over the training step; "
            f"peaks: {b['peak_source']}).",
            "",
        ]
    lines += [
        "| model | mode | batch | train img/s | target | ours/reference | attack img/s | "
        "PGD-20 img/s | TFLOP/s | % of peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.get("status") != "ok":
            lines.append(f"| {row['model']} | {row['mode']} | {row['batch']} | "
                         f"{_status(row)} | | | | | | |")  # fmt: skip
            continue
        frac = row["fraction_of_peak"]
        peak = "unknown" if frac is None else f"{100 * frac:.1f}% of {row['peak']}"
        speed = row["speedup_vs_reference"]
        target = "n/a" if shrink else _num(row["target_images_per_s"])
        lines.append(
            f"| {row['model']} | {row['mode']} | {row['batch']} | "
            f"{_num(row['train_images_per_s'])} | {target} | "
            f"{'n/a' if speed is None else f'{speed:.2f}x'} | "
            f"{_num(row['attack_images_per_s'])} | {_num(row['pgd20_images_per_s'])} | "
            f"{row['achieved_tflops']:.2f} | {peak} |"
        )
    return [*lines, ""]


def _render_epoch(e: dict[str, Any] | None, shrink: bool) -> list[str]:
    lines = ["## 3. One epoch of Table 1's WRN-32-10", ""]
    if not e or e.get("status") != "passed":
        return [*lines, _status(e), ""]
    tf32 = "in TF32" if e["tf32_convolutions"] else "in fp32"
    lines += [
        f"Run `{e['run']}` ({e['method']}, {e['model']}, batch {e['batch']}, PGD-{e['steps']}, "
        f"amp {e['amp']}: PyTorch's default puts its fp32 convolutions {tf32} on a GPU that "
        f"has TF32) on {e['n_train']:,} CIFAR-10-format images with random pixels and labels, "
        "written here; the run's own per-epoch evaluation included.",
        "",
    ]
    if shrink:
        return [*lines, f"- training {e['train_s']:.1f} s, evaluation {e['eval_s']:.1f} s "
                "(a shrunk run: no projection)", ""]  # fmt: skip
    lines += [
        f"- training {e['train_s']:.1f} s ({_num(e['images_per_s'])} img/s), evaluation "
        f"{e['eval_s']:.1f} s; the FLOP model (gair/plan/cost.py, "
        f"{EFFECTIVE_TFLOPS:g} TFLOP/s) says "
        f"{e['flop_model_epoch_s']:.1f} s: measured / model = {e['measured_over_flop_model']:.2f}",
        f"- the whole run at this rate: {e['run_hours_measured']:.1f} GPU-h (FLOP model "
        f"{e['run_hours_flop_model']:.1f})",
        f"- Table 1's {e['table1_runs']} runs: {e['table1_train_hours_at_measured_rate']:.0f} "
        f"GPU-h of training at this rate (FLOP model {e['table1_train_hours_flop_model']:.0f}; "
        "FAT's early-stopped attack costs less than AT's, so this is an upper end)",
        "",
    ]
    return lines


def _render_preflight(p: dict[str, Any] | None) -> list[str]:
    lines = ["## 4. Preflight of table1", ""]
    if not p or p.get("status") != "passed":
        return [*lines, _status(p), ""]
    body = [line for line in p["budget"].splitlines() if not line.startswith("# ")]
    return [*lines, f"`{p['command']}` in {p['seconds']:.0f} s ({p['budget_file']}):", *body, ""]
