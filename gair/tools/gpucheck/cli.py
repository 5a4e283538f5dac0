"""``python -m gair gpucheck``: the asked parts in order, within one time budget, into one
report folder."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gair.errors import ConfigError
from gair.tools.gpucheck.check import Check, one_line
from gair.tools.gpucheck.parts import part_epoch, part_preflight, part_tests
from gair.tools.gpucheck.sizes import COMPILE_SHRUNK, COMPILED, FULL, PARTS, SHRUNK
from gair.tools.gpucheck.throughput import part_bench, part_compile

STEPS: dict[str, Callable[[Check], Any]] = {
    "tests": part_tests, "bench": part_bench, "epoch": part_epoch, "compile": part_compile,
    "preflight": part_preflight,
}  # fmt: skip


def run_check(out: Path, *, shrink: bool, budget_s: float | None, parts: list[str]) -> int:
    """Run the asked parts into ``out``; 0 when none failed, 1 otherwise."""
    import torch

    sizes = SHRUNK if shrink else FULL
    if not shrink and not torch.cuda.is_available():
        raise ConfigError(
            "no CUDA device is visible: the check measures a GPU; --shrink runs it on the CPU"
        )
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out, sizes, shrink, sizes.budget_s if budget_s is None else budget_s)
    check.log(f"{'shrunk ' if shrink else ''}check into {out}, budget {check.budget_s:.0f} s")
    check.save()
    for part in PARTS:
        if part not in parts:
            continue
        if part == "compile" and not sizes.compiled:
            check.results[part] = [{"model": "all", "mode": COMPILED, "batch": "",
                                    "status": "not run", "why": COMPILE_SHRUNK}]  # fmt: skip
        elif part not in ("bench", "compile") and not check.fits(part):
            check.results[part] = check.skip_for_time(part)
        else:
            check.log(part)
            try:
                check.results[part] = STEPS[part](check)
            except Exception as err:  # the report says what broke; the other parts go on
                check.results[part] = {"status": "failed", "why": one_line(err)}
                check.failed.append(part)
        if (
            isinstance(check.results[part], dict)
            and check.results[part].get("status") == "failed"
            and part not in check.failed
        ):
            check.failed.append(part)
        check.save()
    check.log(f"done: {check.report}")
    print(check.report.read_text(), end="")
    return 1 if check.failed else 0


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair gpucheck",
        description="CUDA tests, throughput, one epoch of Table 1 and its preflight: the first "
        "minutes on a GPU node, as a Markdown report.",
    )
    parser.add_argument("--out", required=True, help="folder of the report and its files")
    parser.add_argument(
        "--shrink",
        action="store_true",
        help="shrink every size so that the check runs on the CPU (CI)",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        help=f"time budget in seconds (default {FULL.budget_s:.0f}; "
        f"{SHRUNK.budget_s:.0f} with --shrink)",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated, in this order: {', '.join(PARTS)}",
    )
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ConfigError(f"--parts {args.parts!r} is invalid; valid parts are: {', '.join(PARTS)}")
    if args.budget_s is not None and not (args.budget_s > 0 and math.isfinite(args.budget_s)):
        raise ConfigError(f"--budget-s {args.budget_s!r} is invalid: it must be a number > 0")
    return run_check(Path(args.out), shrink=args.shrink, budget_s=args.budget_s, parts=parts)
