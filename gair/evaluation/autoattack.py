"""AutoAttack (Croce and Hein, ICML 2020) through its authors' own package, ``pyautoattack``.

The standard version is the published ensemble, exactly as the leaderboard runs it: APGD-CE,
APGD-T with the targeted DLR loss (9 target classes), FAB-T (9 target classes) and Square
(5000 queries), each on the points the previous ones did not break. The package's
``version='standard'`` sets those budgets itself; nothing is re-implemented here.

``cheap`` is a smaller setting for the smoke configuration, and its output name
(``autoattack_cheap``) says so: APGD-CE and APGD-T with 20 iterations and 3 target classes,
no FAB-T, Square with 100 queries. It is a weaker attack, so its accuracy is expected at or
above the standard version's; it never stands in for it.

One attack of a version can also run alone on every point (``part``; the registry's
``apgd_ce``, ``apgd_t``, ``fab_t`` and ``square``), as the package's
``run_standard_evaluation_individual`` does: the gradient-masking checks ask which points the
black-box Square breaks that every white-box attack left standing.

Conventions: inputs are images (N, C, H, W) with values in [0, 1] (uint8 tensors are scaled
by 1/255); the targeted DLR loss reads the 4 largest logits, so at least 4 classes are
needed. The package seeds the global random generators; their previous state is restored
afterwards, so attacks evaluated after AutoAttack draw what they would draw without it. The
package reads values back to the host inside its loops; that cost is its own.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from gair.data.tensors import as_float
from gair.errors import ConfigError
from gair.evaluation.registry import AUTOATTACK_VERSIONS, autoattack_version
from gair.paper.attacks import project

MIN_CLASSES = 4  # the DLR-targeted loss of APGD-T uses the 4 largest logits


# The versions and their budgets live with the other evaluation attacks (torch-free); the
# published one runs as the package's own version='standard'.
_PUBLISHED = AUTOATTACK_VERSIONS["standard"]


def build_ensemble(
    model: nn.Module,
    *,
    eps: float,
    num_classes: int,
    version: str = "standard",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Any:
    """The package's ``AutoAttack`` object for a version, with its budgets in place."""
    from pyautoattack import AutoAttack

    setting = autoattack_version(version)
    if num_classes < MIN_CLASSES:
        raise ConfigError(
            f"AutoAttack needs at least {MIN_CLASSES} classes (its DLR-targeted loss reads the "
            f"4 largest logits); the model has {num_classes}"
        )
    logging.getLogger("auto-attack").setLevel(logging.WARNING)
    if setting is _PUBLISHED:
        adversary = AutoAttack(
            model, norm="Linf", eps=eps, version="standard", seed=seed, device=device
        )
    else:
        attacks = [
            name
            for name, budget in (
                ("apgd-ce", setting.apgd_ce_steps),
                ("apgd-t", setting.apgd_t_steps),
                ("fab-t", setting.fab_t_steps),
                ("square", setting.square_queries),
            )
            if budget
        ]
        adversary = AutoAttack(
            model, norm="Linf", eps=eps, version="custom", attacks=attacks, seed=seed, device=device
        )
        adversary.apgd.n_iter = setting.apgd_ce_steps
        adversary.apgd.n_restarts = 1
        adversary.apgd_targeted.n_iter = setting.apgd_t_steps
        adversary.apgd_targeted.n_target_classes = setting.apgd_t_targets
        adversary.fab.n_iter = setting.fab_t_steps
        adversary.fab.n_target_classes = setting.fab_t_targets
        adversary.square.n_queries = setting.square_queries
    targets = min(num_classes - 1, 9)
    adversary.apgd_targeted.n_target_classes = min(
        adversary.apgd_targeted.n_target_classes, targets
    )
    adversary.fab.n_target_classes = min(adversary.fab.n_target_classes, targets)
    adversary.verbose = False
    return adversary


def autoattack_correct(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    version: str = "standard",
    seed: int = 0,
    batch_size: int = 256,
    part: str = "",
) -> Tensor:
    """Per-sample robustness under AutoAttack (bool tensor on x's device); with ``part``
    (``apgd-ce``, ``apgd-t``, ``fab-t``, ``square``) under that attack of the version alone,
    on every point the model classifies correctly, as the package's
    ``run_standard_evaluation_individual`` runs each attack.

    A point counts as robust only if it is classified correctly both as it is and at the
    ensemble's output, which is projected once more onto the eps-ball intersected with
    [0, 1] so that the threat model holds whatever the library returns.
    """
    autoattack_version(version)
    if not (eps >= 0 and eps < float("inf")):
        raise ConfigError(f"eps = {eps!r} is invalid: it must be a finite number >= 0")
    if x.dim() != 4:
        raise ConfigError(
            f"AutoAttack needs image inputs (N, C, H, W); got shape {tuple(x.shape)} "
            "(Square attacks square patches of an image)"
        )
    if batch_size < 1:
        raise ConfigError(f"batch_size = {batch_size!r} is invalid: it must be >= 1")
    out = torch.empty(x.shape[0], dtype=torch.bool, device=x.device)
    if x.shape[0] == 0:
        return out
    ensemble = None
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for start in range(0, x.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            xb, yb = as_float(x[sl]), y[sl]
            with torch.no_grad():
                logits = model(xb)
            correct = logits.argmax(1) == yb
            if eps > 0:
                if ensemble is None:
                    # Built at the first batch, whose logits give the number of classes.
                    ensemble = build_ensemble(
                        model,
                        eps=eps,
                        num_classes=logits.shape[1],
                        version=version,
                        seed=seed,
                        device=x.device,
                    )
                    if part:
                        if part not in ensemble.attacks_to_run:
                            raise ConfigError(
                                f"AutoAttack's {version} version has no attack {part!r}; it "
                                f"runs {', '.join(ensemble.attacks_to_run)}"
                            )
                        ensemble.attacks_to_run = [part]
                x_adv, _ = ensemble.run_standard_evaluation(xb, yb, batch_size=xb.shape[0])
                x_adv = project(x_adv.detach(), xb, eps)
                with torch.no_grad():
                    correct &= model(x_adv).argmax(1) == yb
            out[sl] = correct
    return out
