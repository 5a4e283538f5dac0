"""Geometry-aware instance weights omega(kappa) (Eqs. 6, 7, 8) and their normalisation.

Raw weights are the paper's functions of kappa; :func:`normalise` rescales a mini-batch to
mean 1 so that the loss ``mean_i(w_i * l_i)`` equals Algorithm 2's
``sum_i w_i / sum_j w_j * l_i`` times the batch size.

Every function takes kappa as a torch tensor, as training does (the weights stay float32 on
kappa's device, nothing is read back to the host), or as a numpy array, as the figures do
when they draw omega (so that drawing a figure needs no torch). Each formula is written once,
over the library of its input; this module imports no torch itself.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np

from gair.errors import ConfigError
from gair.spec import WEIGHT_FUNCTIONS

Array: TypeAlias = Any  # a torch tensor or a numpy array


def _torch(x: Array) -> Any:
    """The torch module where ``x`` is a tensor (whoever holds one has imported torch), else
    None (numpy)."""
    return sys.modules["torch"] if type(x).__module__.startswith("torch") else None


def _float32(kappa: Array) -> Array:
    torch = _torch(kappa)
    return kappa.to(torch.float32) if torch else np.asarray(kappa, dtype=np.float32)


def _sigmoid(z: Array) -> Array:
    torch = _torch(z)
    if torch:
        return torch.sigmoid(z)
    with np.errstate(over="ignore"):  # exp(-z) = inf for very negative z: the weight is 0
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def _ones(kappa: Array) -> Array:
    torch = _torch(kappa)
    if torch:
        return torch.ones(kappa.shape, dtype=torch.float32, device=kappa.device)
    return np.ones(np.shape(kappa), dtype=np.float32)


def _check_lambda(lam: float) -> None:
    if math.isnan(lam) or lam == -math.inf:
        raise ConfigError(f"lam = {lam!r} is invalid: it must be a number or +inf")


def gair_weights(kappa: Array, *, steps: int, lam: float, fn: str = "tanh") -> Array:
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
    k = _float32(kappa)
    if fn == "linear":
        return 1.0 - k / (steps + 1)
    if fn not in ("tanh", "sigmoid"):
        raise ConfigError(
            f"weight function {fn!r} is unknown; valid functions are: tanh, sigmoid, linear"
        )
    if lam == math.inf:
        return _ones(k)
    z = lam + 5.0 * (1.0 - 2.0 * k / steps)
    if fn == "tanh":
        # (1 + tanh z) / 2 == sigmoid(2 z) exactly; the sigmoid form keeps tiny weights
        # (guarded points, negative lambda) from rounding to 0 in float32.
        return _sigmoid(2.0 * z)
    return _sigmoid(z)


def step_weights(kappa: Array, thresholds: Sequence[int], values: Sequence[float]) -> Array:
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
    k = _float32(kappa)
    torch = _torch(k)
    if torch is None:
        bucket = np.searchsorted(np.asarray(thresholds, dtype=np.float32), k, side="right")
        return np.asarray(values, dtype=np.float32)[bucket]
    # Python numbers, not tensors built from the lists: on a GPU such a tensor is a copy the
    # host waits for, once per training step.
    out = torch.full_like(k, float(values[0]))
    for threshold, value in zip(thresholds, values[1:], strict=True):
        out = out.masked_fill(k >= threshold, float(value))
    return out


def normalise(weights: Array) -> Array:
    """Rescale a mini-batch's weights to mean 1 (Algorithm 2's w_i / sum_j w_j, times m)."""
    torch = _torch(weights)
    if torch is None:
        total = max(float(weights.sum()), float(np.finfo(weights.dtype).tiny))
        return weights * (weights.size / total)
    return weights * (weights.numel() / weights.sum().clamp_min(torch.finfo(weights.dtype).tiny))


def instance_weights(
    kappa: Array,
    *,
    steps: int,
    fn: str,
    lam: float,
    active: bool,
    thresholds: Sequence[int] = (),
    values: Sequence[float] = (),
) -> Array:
    """Algorithm 2's normalised weights for one mini-batch; all ones during burn-in
    (``active=False``)."""
    if fn not in WEIGHT_FUNCTIONS:
        raise ConfigError(
            f"weight function {fn!r} is unknown; valid functions are: {', '.join(WEIGHT_FUNCTIONS)}"
        )
    if not active or fn == "constant":
        return _ones(kappa)
    if fn == "step":
        raw = step_weights(kappa, thresholds, values)
    else:
        raw = gair_weights(kappa, steps=steps, lam=lam, fn=fn)
    return normalise(raw)


def raw_weights(
    kappa: Array,
    *,
    steps: int,
    fn: str,
    lam: float,
    thresholds: Sequence[int] = (),
    values: Sequence[float] = (),
) -> Array:
    """A run's raw omega(kappa) (Eqs. 6-8 or the step weight), unnormalised: what the
    figures draw; ``constant`` is 1 everywhere."""
    if fn == "constant":
        return _ones(kappa)
    if fn == "step":
        return step_weights(kappa, thresholds, values)
    return gair_weights(kappa, steps=steps, lam=lam, fn=fn)
