"""Evaluation: natural accuracy, PGD-k, PGD+, CW-inf, the logit-scaling attack and AutoAttack.

Every function works on whole batches and keeps per-sample results on the device. A point
counts as robust under restarts only if it survives every restart. PGD+ (RST's PG_ours,
App. C.8) is stricter still: :func:`pgd_plus_correct`. The model's mode is the caller's; the
command line sets eval mode.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gair import evaluation_attacks as registry
from gair.errors import ConfigError
from gair.evaluation_attacks import AttackSetting, EvalBudget

DEFAULT_BATCH = 256


# ---------------------------------------------------------------------------- named attacks
# The attacks by name (patterns, titles, budgets, runners) live in gair.evaluation_attacks.
ATTACK_HELP = registry.valid_names()


def parse_attack(name: str, budget: EvalBudget) -> AttackSetting:
    """Turn an attack name into its setting, or raise ConfigError listing the valid names."""
    return registry.setting(name, budget)


def run_attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    setting: AttackSetting,
    budget: EvalBudget,
    *,
    batch_size: int = DEFAULT_BATCH,
) -> Tensor:
    """Per-sample correctness under one named attack."""
    return registry.run(model, x, y, setting, budget, batch_size)


def worst_case(columns: Mapping[str, Tensor]) -> Tensor | None:
    """Per-sample robustness under every attack but ``natural`` at once (None if there is none).

    A point counts as robust only if it survives each attack, so the worst-case accuracy is
    never above any single attack's, point by point.
    """
    attacked = [c for name, c in columns.items() if registry.is_adversarial(name)]
    return torch.stack(attacked).all(0) if attacked else None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _row(setting: AttackSetting, correct: Tensor, budget: EvalBudget) -> dict[str, Any]:
    return {
        "attack": setting.name,
        "accuracy": float(correct.float().mean().item()) if correct.numel() else math.nan,
        "n": int(correct.numel()),
        "eps": budget.eps if setting.name != "natural" else 0.0,
        "alpha": setting.alpha,
        "steps": setting.steps,
        "restarts": setting.restarts,
    }


@dataclass
class Evaluation:
    """What :func:`evaluate_model` measured: one summary row per attack (and the worst case
    over attacks), per-sample correctness per attack, and the labels of the points."""

    rows: list[dict[str, Any]]
    correct: dict[str, Tensor]
    labels: Tensor


def evaluate_model(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    names: list[str],
    budget: EvalBudget,
    *,
    batch_size: int = DEFAULT_BATCH,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Evaluation:
    """Every attack of ``names`` on (x, y), in eval mode, seeded; plus the exact worst case."""
    if not names:
        raise ConfigError("no attack to evaluate; valid attacks are: " + ATTACK_HELP)
    settings = [parse_attack(n, budget) for n in names]
    torch.manual_seed(seed)
    model.eval()
    rows, columns = [], {}
    for setting in settings:
        _sync(x.device)
        start = time.perf_counter()
        correct = run_attack(model, x, y, setting, budget, batch_size=batch_size)
        _sync(x.device)
        columns[setting.name] = correct
        rows.append(_row(setting, correct, budget) | {"seconds": time.perf_counter() - start})
        if log:
            log(f"{setting.name:>12}: {rows[-1]['accuracy'] * 100:6.2f}%  (n={rows[-1]['n']})")
    worst = worst_case(columns)
    if worst is not None:
        n_attacked = sum(registry.is_adversarial(name) for name in columns)
        worst_setting = AttackSetting(registry.WORST_CASE, 0, 0.0, restarts=n_attacked)
        rows.append(_row(worst_setting, worst, budget) | {"seconds": 0.0})
        if log:
            log(f"{registry.WORST_CASE:>12}: {rows[-1]['accuracy'] * 100:6.2f}%")
    return Evaluation(rows, columns, y)


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
    from gair.checkpoint import load_checkpoint
    from gair.runtime import load_model_from_checkpoint, resolve_device

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


# ---------------------------------------------------------------------------- command line
def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair evaluate", description="Evaluate a checkpoint under named attacks."
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument(
        "--attacks", default="natural,pgd20", help=f"comma-separated: {ATTACK_HELP}"
    )
    parser.add_argument("--out", required=True, help="summary Parquet file (a row per attack)")
    parser.add_argument("--samples", help="optional per-sample Parquet file")
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

    import pandas as pd

    from gair.io import write_parquet

    names = [a.strip() for a in args.attacks.split(",") if a.strip()]
    if not names:
        raise ConfigError("--attacks is empty; valid attacks are: " + ATTACK_HELP)
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
    write_parquet(args.out, pd.DataFrame(result.rows))
    if args.samples:
        y = result.labels
        frame = {"index": torch.arange(y.shape[0]).numpy(), "label": y.cpu().short().numpy()}
        frame.update({k: v.cpu().numpy() for k, v in result.correct.items()})
        write_parquet(args.samples, pd.DataFrame(frame))
    return 0
