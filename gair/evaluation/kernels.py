"""Running the registry's evaluation attacks on a model: one runner per kind of attack, and
:func:`evaluate_model`, every attack of a list plus the exact worst case over them.

A runner takes (model, x, y, setting, budget, batch size) and returns per-point correctness
as a bool tensor on x's device; the registry (:mod:`gair.evaluation.registry`) names each
entry's runner by its dotted path here. The model is put in eval mode and the attacks are
seeded once, so an evaluation is repeatable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gair import provenance
from gair.errors import ConfigError
from gair.evaluation import registry
from gair.evaluation.autoattack import autoattack_correct
from gair.evaluation.registry import AUTOATTACK_VERSIONS, AttackSetting, EvalBudget
from gair.paper.robustness import DEFAULT_BATCH, natural_correct, pgd_correct, pgd_plus_correct


# ---------------------------------------------------------------------------- runners
def run_natural(model: Any, x: Any, y: Any, s: AttackSetting, b: EvalBudget, batch: int) -> Any:
    """Correct on the natural points."""
    return natural_correct(model, x, y, batch_size=batch)


def run_pgd(model: Any, x: Any, y: Any, s: AttackSetting, b: EvalBudget, batch: int) -> Any:
    """Robust under PGD with the setting's radius, loss, steps, restarts and logit scale
    (pgd<k>, fgsm, cw, lsa, and the masking checks' pgd<k>_x<m>, pgd<k>_unbounded)."""
    return pgd_correct(
        model, x, y, eps=s.radius(b), alpha=s.alpha, steps=s.steps, restarts=s.restarts,
        loss=s.loss, logit_scale=s.logit_scale, random_start=s.random_start, batch_size=batch,
    )  # fmt: skip


def run_pgd_plus(model: Any, x: Any, y: Any, s: AttackSetting, b: EvalBudget, batch: int) -> Any:
    """Robust at every iterate of every restart (PGD+)."""
    return pgd_plus_correct(
        model, x, y, eps=b.eps, alpha=s.alpha, steps=s.steps, restarts=s.restarts,
        batch_size=batch,
    )  # fmt: skip


def run_autoattack(model: Any, x: Any, y: Any, s: AttackSetting, b: EvalBudget, batch: int) -> Any:
    """Robust under the AutoAttack version the setting names."""
    version = next(k for k, v in AUTOATTACK_VERSIONS.items() if v.name == s.name)
    return autoattack_correct(
        model, x, y, eps=b.eps, version=version, seed=b.autoattack_seed, batch_size=batch
    )


def run_autoattack_part(
    model: Any, x: Any, y: Any, s: AttackSetting, b: EvalBudget, batch: int
) -> Any:
    """Robust under one attack of the AutoAttack version alone, on every point."""
    version = "cheap" if s.name.endswith("_cheap") else b.autoattack_version
    return autoattack_correct(
        model, x, y, eps=b.eps, version=version, seed=b.autoattack_seed, batch_size=batch,
        part=s.part,
    )  # fmt: skip


# ---------------------------------------------------------------------------- a whole evaluation
def worst_case(
    columns: Mapping[str, Tensor], radii: Mapping[str, float] | None = None, eps: float = 0.0
) -> Tensor | None:
    """Per-sample robustness under every attack but ``natural`` at once (None if there is none).

    A point counts as robust only if it survives each attack, so the worst-case accuracy is
    never above any single attack's, point by point. With ``radii`` (attack -> its eps) only
    the attacks at ``eps`` count: a larger ball is another threat model.
    """
    attacked = [
        c
        for name, c in columns.items()
        if registry.is_adversarial(name) and (radii is None or radii[name] == eps)
    ]
    return torch.stack(attacked).all(0) if attacked else None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _row(setting: AttackSetting, correct: Tensor, budget: EvalBudget) -> dict[str, Any]:
    return {
        "attack": setting.name,
        "accuracy": float(correct.float().mean().item()) if correct.numel() else math.nan,
        "n": int(correct.numel()),
        "eps": setting.radius(budget) if setting.name != "natural" else 0.0,
        "alpha": setting.alpha,
        "steps": setting.steps,
        "restarts": setting.restarts,
    }


@dataclass
class Evaluation:
    """What :func:`evaluate_model` measured: one summary row per attack (and the worst case
    over attacks), per-sample correctness per attack, the labels of the points, and where
    it was computed (:func:`gair.provenance.collect`)."""

    rows: list[dict[str, Any]]
    correct: dict[str, Tensor]
    labels: Tensor
    provenance: dict[str, str] = field(default_factory=dict)


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
    """Every attack of ``names`` on (x, y), in eval mode, seeded; plus the exact worst case
    over the attacks at the budget's eps."""
    if not names:
        raise ConfigError("no attack to evaluate; valid attacks are: " + registry.valid_names())
    settings = [registry.setting(n, budget) for n in names]
    torch.manual_seed(seed)
    model.eval()
    rows, columns, radii = [], {}, {}
    for setting in settings:
        _sync(x.device)
        start = time.perf_counter()
        correct = registry.run(model, x, y, setting, budget, batch_size)
        _sync(x.device)
        columns[setting.name] = correct
        radii[setting.name] = setting.radius(budget)
        rows.append(_row(setting, correct, budget) | {"seconds": time.perf_counter() - start})
        if log:
            log(f"{setting.name:>12}: {rows[-1]['accuracy'] * 100:6.2f}%  (n={rows[-1]['n']})")
    worst = worst_case(columns, radii, budget.eps)
    if worst is not None:
        n_attacked = sum(
            registry.is_adversarial(name) and radii[name] == budget.eps for name in columns
        )
        worst_setting = AttackSetting(registry.WORST_CASE, 0, 0.0, restarts=n_attacked)
        rows.append(_row(worst_setting, worst, budget) | {"seconds": 0.0})
        if log:
            log(f"{registry.WORST_CASE:>12}: {rows[-1]['accuracy'] * 100:6.2f}%")
    return Evaluation(rows, columns, y, provenance.collect(x.device))
