"""The epoch convention, one for every schedule of a run.

Epochs are counted from 1. Every setting that names an epoch names the first epoch at which
its change holds: a learning-rate milestone ``m`` (``milestones``, ``lr_drop_epoch``), a tau
or lambda milestone, ``reweight_from`` (the first epoch whose loss is reweighted, GAIRAT's
``begin_epoch``), a snapshot (the model after training epoch ``m``) and the best-checkpoint
window ``best_start..best_end`` (both ends included). "The LR is divided by 10 at epoch 30"
therefore reads ``milestones: [30]``: epochs 1..29 train at the first LR and epoch 30 is the
first at the lower one, as in the authors' scripts (GAIRAT.py evaluates its schedules at
``epoch + 1`` with a 0-based loop; TRADES' and MART's scripts test ``epoch >= 75`` with epochs
from 1). :func:`changes_passed` is the one place this rule is written in code; where the
paper's words and the scripts differ by one epoch, docs/fidelity.md lists it.
"""

from __future__ import annotations

import math


def changes_passed(epoch: int, milestones: list[int]) -> int:
    """How many of ``milestones`` hold at the 1-based ``epoch``: a change at ``m`` holds from
    epoch ``m`` on (the module docstring's convention)."""
    return sum(epoch >= m for m in milestones)


def rescale_epoch(epoch: int, total: int, new_total: int) -> int:
    """An epoch setting of a ``total``-epoch run moved to a ``new_total``-epoch run: epoch
    ``e`` starts after ``e - 1`` of ``total`` epochs, so it maps to the epoch that starts after
    the same share of ``new_total`` (rounded half up), within 1..new_total. 0 stays 0."""
    if epoch <= 0:
        return epoch
    moved = 1 + math.floor((epoch - 1) * new_total / total + 0.5)
    return min(new_total, max(1, moved))
