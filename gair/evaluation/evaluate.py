"""``python -m gair evaluate``: a checkpoint under a list of named attacks, one Parquet row per
attack (and the worst case over them), optionally one column per attack per test point; both
files record where they were computed (:mod:`gair.provenance`, in the schema metadata).

The attacks are the registry's (:mod:`gair.evaluation.registry`); :func:`evaluate_checkpoint`
loads the checkpoint so that it cannot run code, rebuilds its model and test split from the
run spec it holds, and runs :func:`gair.evaluation.kernels.evaluate_model`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from gair import provenance
from gair.errors import ConfigError
from gair.evaluation import registry
from gair.evaluation.kernels import Evaluation, evaluate_model
from gair.evaluation.registry import EvalBudget
from gair.io import points_beside, write_parquet
from gair.paper.robustness import DEFAULT_BATCH
from gair.train.build import load_model_from_checkpoint, resolve_device
from gair.train.checkpoint import load_checkpoint


def evaluate_checkpoint(
    path: str | Path,
    names: list[str],
    *,
    eps: float | None = None,
    options: Mapping[str, Any] | None = None,
    samples_limit: int = 0,
    batch_size: int = DEFAULT_BATCH,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> tuple[Any, Evaluation]:
    """Load a checkpoint safely, rebuild its model and test split, and evaluate ``names`` at
    ``eps`` (default: the run's test eps), the other budget settings from ``options``
    (EvalBudget's fields). Returns the checkpoint's run spec and the :class:`Evaluation`,
    whose rows also name the checkpoint, its epoch and its run."""
    for name in names:
        registry.find(name)  # an unknown name fails before the checkpoint is read
    if samples_limit < 0:
        raise ConfigError(f"samples_limit {samples_limit} is invalid: it must be >= 0")
    ckpt = load_checkpoint(path)
    model, spec, data = load_model_from_checkpoint(ckpt, resolve_device(device), source=path)
    budget = EvalBudget(eps=spec.test_eps if eps is None else eps, **dict(options or {}))
    if not (budget.eps >= 0 and math.isfinite(budget.eps)):
        raise ConfigError(f"eps {budget.eps!r} is invalid: it must be a finite number >= 0")
    x, y = data.x_test, data.y_test
    if samples_limit:
        x, y = x[:samples_limit], y[:samples_limit]
    result = evaluate_model(model, x, y, names, budget, batch_size=batch_size, seed=seed, log=log)
    for row in result.rows:
        row.update(checkpoint=str(Path(path)), epoch=int(ckpt.get("epoch", 0)), run=spec.run_name())
    return spec, result


def write_outputs(result: Evaluation, out: str | Path, samples: str | Path | None = None) -> None:
    """The summary (a row per attack) and, with ``samples``, the per-point file (``index``,
    ``label``, a bool column per attack); both record where they were computed in their
    schema metadata (:func:`gair.provenance.metadata`)."""
    meta = provenance.metadata([result.provenance])
    write_parquet(out, pd.DataFrame(result.rows), meta)
    if samples:
        y = result.labels
        frame = {"index": torch.arange(y.shape[0]).numpy(), "label": y.cpu().short().numpy()}
        frame.update({k: v.cpu().numpy() for k, v in result.correct.items()})
        write_parquet(samples, pd.DataFrame(frame), meta)


# ---------------------------------------------------------------------------- command line
def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair evaluate", description="Evaluate a checkpoint under named attacks."
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument(
        "--attacks", default="natural,pgd20", help=f"comma-separated: {registry.valid_names()}"
    )
    parser.add_argument("--out", required=True, help="summary Parquet file (a row per attack)")
    parser.add_argument("--samples", help="optional per-sample Parquet file")
    parser.add_argument(
        "--points",
        action="store_true",
        help="write the per-sample file beside --out (X.parquet -> X.points.parquet)",
    )
    parser.add_argument("--eps", type=float, help="L-inf budget (default: the run's eval eps)")
    parser.add_argument("--alpha", type=float, help="step of pgd<k> and lsa (default eps / 4)")
    parser.add_argument("--pgd-plus-alpha", type=float, default=0.01)
    parser.add_argument("--cw-steps", type=int, default=30)
    parser.add_argument("--lsa-factor", type=float, default=10.0)
    parser.add_argument(
        "--aa-version",
        default="standard",
        choices=list(registry.AUTOATTACK_VERSIONS),
        help="autoattack: the published ensemble, or a smaller one written as autoattack_cheap",
    )
    parser.add_argument(
        "--samples-limit", type=int, default=0, help="evaluate the first N test points"
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--seed", type=int, default=0, help="seed of the attacks' random starts")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    names = [a.strip() for a in args.attacks.split(",") if a.strip()]
    if not names:
        raise ConfigError("--attacks is empty; valid attacks are: " + registry.valid_names())
    if args.eps is not None and not (args.eps >= 0 and math.isfinite(args.eps)):
        raise ConfigError(f"--eps {args.eps!r} is invalid: it must be a finite number >= 0")
    if args.samples_limit < 0:
        raise ConfigError(f"--samples-limit {args.samples_limit} is invalid: it must be >= 0")
    options = {
        "alpha": args.alpha,
        "pgd_plus_alpha": args.pgd_plus_alpha,
        "cw_steps": args.cw_steps,
        "lsa_factor": args.lsa_factor,
        "autoattack_version": args.aa_version,
        "autoattack_seed": args.seed,
    }
    _, result = evaluate_checkpoint(
        args.checkpoint,
        names,
        eps=args.eps,
        options=options,
        samples_limit=args.samples_limit,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        log=print,
    )
    write_outputs(result, args.out, points_beside(args.out) if args.points else args.samples)
    return 0
