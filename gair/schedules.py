"""Learning-rate schedules, as functions of the 1-based epoch (and iteration for MMA).

Every schedule follows the epoch convention (:mod:`gair.epochs`): ``multistep``
multiplies the base LR by ``lr_factors[i]`` from epoch ``milestones[i]`` on, and ``onedrop``
switches to ``lr_drop_value`` from epoch ``lr_drop_epoch`` on. The named schedules are those
of GAIRAT's and FAT's scripts (GAIRAT.py's ``--lr-schedule``), which evaluate them at t = the
1-based epoch with E = total epochs, with the same integer divisions (E // 3, E * 2 // 5,
E // 10).
``rst_cosine`` is RST's cosine (Table 3), evaluated at t = epoch - 1, so that its first epoch
trains at the base LR and its last one above 0; GAIRAT's ``cosine`` reaches 0 at epoch E.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

import numpy as np

from gair.epochs import changes_passed
from gair.errors import ConfigError

if TYPE_CHECKING:  # the spec validates schedule names against SCHEDULES: no import at run time
    from gair.spec import RunSpec

SCHEDULES = (
    "multistep",
    "constant",
    "piecewise",
    "linear",
    "superconverge",
    "onedrop",
    "multipledecay",
    "cosine",
    "rst_cosine",
    "iterations",
)


def multistep_lr(base: float, epoch: int, milestones: list[int], factors: list[float]) -> float:
    """base times every factor whose milestone holds at ``epoch`` (from epoch m on)."""
    lr = base
    for milestone, factor in zip(milestones, factors, strict=True):
        lr *= factor if changes_passed(epoch, [milestone]) else 1.0
    return lr


def piecewise_lr(base: float, t: float, total: int) -> float:
    """Drops at fixed fractions of training; a longer tail for runs of 110 epochs or more."""
    frac = t / total
    if total >= 110:
        edges, scales = [0.5, 0.75, 11 / 12], [1.0, 0.1, 0.01, 0.005]
    else:
        edges, scales = [0.3, 0.6], [1.0, 0.1, 0.01]
    return base * scales[bisect.bisect_right(edges, frac)]


def linear_lr(base: float, t: float, total: int) -> float:
    return float(
        np.interp(t, [0, total // 3, total * 2 // 3, total], [base, base, base / 10, base / 100])
    )


def superconverge_lr(base: float, t: float, total: int) -> float:
    return float(np.interp(t, [0, total * 2 // 5, total], [0.0, base, 0.0]))


def multipledecay_lr(base: float, t: float, total: int) -> float:
    return base - (t // max(total // 10, 1)) * (base / 10)


def cosine_lr(base: float, t: float, total: int) -> float:
    return base * 0.5 * (1 + math.cos(math.pi * t / total))


def lr_at(spec: RunSpec, epoch: int, iteration: int = 0) -> float:
    """The learning rate for a 1-based ``epoch`` (``iteration``: global 0-based batch count)."""
    name, base, total = spec.lr_schedule, spec.lr, spec.epochs
    if name == "multistep":
        return multistep_lr(base, epoch, spec.milestones, spec.lr_factors)
    if name == "constant":
        return base
    if name == "piecewise":
        return piecewise_lr(base, epoch, total)
    if name == "linear":
        return linear_lr(base, epoch, total)
    if name == "superconverge":
        return superconverge_lr(base, epoch, total)
    if name == "onedrop":
        return spec.lr_drop_value if changes_passed(epoch, [spec.lr_drop_epoch]) else base
    if name == "multipledecay":
        return multipledecay_lr(base, epoch, total)
    if name == "cosine":
        return cosine_lr(base, epoch, total)
    if name == "rst_cosine":
        return cosine_lr(base, epoch - 1, total)
    if name == "iterations":
        passed = bisect.bisect_right(spec.lr_iter_milestones, iteration)
        return base if passed == 0 else spec.lr_iter_values[passed - 1]
    raise ConfigError(
        f"lr_schedule {name!r} is unknown; valid schedules are: {', '.join(SCHEDULES)}"
    )


def check_schedule(spec: RunSpec) -> None:
    """Fail early, with the setting's name, on a schedule that cannot run."""
    if spec.lr_schedule not in SCHEDULES:
        raise ConfigError(
            f"lr_schedule {spec.lr_schedule!r} is unknown; "
            f"valid schedules are: {', '.join(SCHEDULES)}"
        )
    if spec.lr_schedule == "iterations" and len(spec.lr_iter_values) != len(
        spec.lr_iter_milestones
    ):
        raise ConfigError(
            f"lr_iter_values = {spec.lr_iter_values!r} is invalid: it needs one value per "
            f"iteration milestone ({spec.lr_iter_milestones!r})"
        )
    if spec.lr_schedule == "onedrop" and spec.lr_drop_epoch < 1:
        raise ConfigError(
            f"lr_drop_epoch = {spec.lr_drop_epoch!r} is invalid for lr_schedule onedrop: it "
            "must be the first epoch at lr_drop_value (>= 1)"
        )
