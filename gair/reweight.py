"""Geometry-aware instance weights omega(kappa) (Eqs. 6, 7, 8) and their normalisation.

All functions are tensor-in, tensor-out and run on kappa's device. Raw weights are the
paper's functions of kappa; ``normalise`` rescales a mini-batch to mean 1 so that the loss
``mean_i(w_i * l_i)`` equals Algorithm 2's ``sum_i w_i / sum_j w_j * l_i`` times the batch
size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from gair.errors import ConfigError
from gair.spec import WEIGHT_FUNCTIONS


def _check_lambda(lam: float) -> None:
    if math.isnan(lam) or lam == -math.inf:
        raise ConfigError(f"lam = {lam!r} is invalid: it must be a number or +inf")


def gair_weights(kappa: Tensor, *, steps: int, lam: float, fn: str = "tanh") -> Tensor:
    """Raw weights for geometry values ``kappa`` in [0, steps].

    - ``tanh`` (Eq. 6): (1 + tanh(lam + 5 * (1 - 2 * kappa / K))) / 2
    - ``sigmoid`` (Eq. 8): sigmoid(lam + 5 * (1 - 2 * kappa / K))
    - ``linear`` (Eq. 7): 1 - kappa / (K + 1); lam plays no part

    ``lam = +inf`` gives weight 1 everywhere, i.e. plain AT. Eq. 6 uses 2 * kappa / K as the
    paper writes it; the authors' code divides by int(K / 2), which differs for odd K.
    """
    if steps < 1:
        raise ConfigError(f"steps = {steps!r} is invalid: kappa needs K >= 1 PGD steps")
    _check_lambda(lam)
    k = kappa.to(torch.float32)
    if fn == "linear":
        return 1.0 - k / (steps + 1)
    if fn not in ("tanh", "sigmoid"):
        raise ConfigError(
            f"weight function {fn!r} is unknown; valid functions are: tanh, sigmoid, linear"
        )
    if lam == math.inf:
        return torch.ones_like(k)
    z = lam + 5.0 * (1.0 - 2.0 * k / steps)
    if fn == "tanh":
        # (1 + tanh z) / 2 == sigmoid(2 z) exactly; the sigmoid form keeps tiny weights
        # (guarded points, negative lambda) from rounding to 0 in float32.
        return torch.sigmoid(2.0 * z)
    return torch.sigmoid(z)


def step_weights(kappa: Tensor, thresholds: Sequence[int], values: Sequence[float]) -> Tensor:
    """A non-increasing piecewise-constant weight (Fig. 4's omega_3, whose form the paper omits).

    ``values[i]`` applies where ``thresholds[i-1] <= kappa < thresholds[i]`` (with
    ``thresholds[-1] = -inf`` and ``thresholds[len] = +inf``).
    """
    if len(values) != len(thresholds) + 1:
        raise ConfigError(
            f"step weight values {list(values)!r} are invalid: need len(thresholds) + 1 = "
            f"{len(thresholds) + 1} values"
        )
    if list(thresholds) != sorted(thresholds):
        raise ConfigError(f"step thresholds {list(thresholds)!r} are invalid: must be increasing")
    if any(b > a for a, b in itertools.pairwise(values)):
        raise ConfigError(f"step weight values {list(values)!r} are invalid: must not increase")
    bounds = torch.as_tensor(list(thresholds), dtype=torch.float32, device=kappa.device)
    table = torch.as_tensor(list(values), dtype=torch.float32, device=kappa.device)
    return table[torch.bucketize(kappa.to(torch.float32), bounds, right=True)]


def normalise(weights: Tensor) -> Tensor:
    """Rescale a mini-batch's weights to mean 1 (Algorithm 2's w_i / sum_j w_j, times m)."""
    return weights * (weights.numel() / weights.sum().clamp_min(torch.finfo(weights.dtype).tiny))


def instance_weights(
    kappa: Tensor,
    *,
    steps: int,
    fn: str,
    lam: float,
    active: bool,
    thresholds: Sequence[int] = (),
    values: Sequence[float] = (),
) -> Tensor:
    """Normalised weights for one mini-batch; all ones during burn-in (``active=False``)."""
    if fn not in WEIGHT_FUNCTIONS:
        raise ConfigError(
            f"weight function {fn!r} is unknown; valid functions are: {', '.join(WEIGHT_FUNCTIONS)}"
        )
    if not active or fn == "constant":
        return torch.ones(kappa.shape, dtype=torch.float32, device=kappa.device)
    if fn == "step":
        raw = step_weights(kappa, thresholds, values)
    else:
        raw = gair_weights(kappa, steps=steps, lam=lam, fn=fn)
    return normalise(raw)
