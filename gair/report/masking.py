"""Sanity checks for gradient masking (Carlini et al., "On Evaluating Adversarial Robustness";
Croce and Hein's AutoAttack): each turns per-point results of one checkpoint into a flag and a
sentence.

- **eps**: accuracy must not rise as eps grows, and must reach about 0 at an eps large enough;
- **steps**: accuracy must not rise with more PGD steps;
- **unbounded**: an attack without a bound (the whole [0, 1] box) must break every point;
- **black box**: a point that every white-box attack of AutoAttack failed to break but Square
  (queries only) broke points at gradients that mislead.

A rise counts only where it is distinguishable from noise: the paired interval of the later
accuracy minus the earlier one over the same points lies above zero
(:mod:`gair.report.stats`). Inputs are boolean arrays over the same test points (True:
robust), one per setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gair.report import stats

CHECKS = ("eps", "steps", "unbounded", "black box")
# Accuracy at the largest eps of the sweep (and under the unbounded attack) above this share of
# the points raises the flag: a correct attack leaves none, one point in a thousand is slack.
NEAR_ZERO = 0.1  # percent


@dataclass(frozen=True)
class Flag:
    check: str  # one of CHECKS
    raised: bool
    sentence: str  # what was seen, in one sentence (also when nothing is raised)


def _pct(values: np.ndarray) -> float:
    return 100.0 * float(np.mean(values))


def rises(
    settings: Sequence[float], robust: Sequence[np.ndarray], what: str
) -> list[tuple[float, float, stats.Estimate]]:
    """Every consecutive pair of ``settings`` (increasing) where accuracy rises beyond noise:
    (from, to, paired gain of the later over the earlier)."""
    if len(settings) != len(robust):
        raise ValueError(f"{len(settings)} {what} settings but {len(robust)} results")
    order = np.argsort(settings)
    out = []
    for i, j in itertools.pairwise(order):
        gain = stats.paired_gain(robust[j], robust[i])
        if gain.low > 0:
            out.append((float(settings[i]), float(settings[j]), gain))
    return out


def eps_flag(eps: Sequence[float], robust: Sequence[np.ndarray]) -> Flag:
    """Accuracy against eps: a rise beyond noise, or more than :data:`NEAR_ZERO` percent left
    at the largest eps, raises the flag."""
    up = rises(eps, robust, "eps")
    top = int(np.argmax(eps))
    left = _pct(robust[top])
    problems = [f"accuracy rises from eps {a:g} to {b:g} by {g.text()} points" for a, b, g in up]
    if left > NEAR_ZERO:
        problems.append(f"{left:.1f}% of the points survive eps {eps[top]:g}")
    if problems:
        return Flag("eps", True, "; ".join(problems) + ".")
    return Flag("eps", False, f"accuracy falls with eps and reaches {left:.1f}% at {eps[top]:g}.")


def steps_flag(steps: Sequence[int], robust: Sequence[np.ndarray]) -> Flag:
    """Accuracy against PGD steps: any rise beyond noise with more steps raises the flag."""
    up = rises([float(k) for k in steps], robust, "steps")
    if up:
        what = "; ".join(f"PGD-{a:g} to PGD-{b:g}: +{g.text()} points" for a, b, g in up)
        return Flag("steps", True, f"more steps leave more points robust ({what}).")
    first, last = int(np.argmin(steps)), int(np.argmax(steps))
    return Flag(
        "steps",
        False,
        f"PGD-{steps[first]} {_pct(robust[first]):.1f}% to PGD-{steps[last]} "
        f"{_pct(robust[last]):.1f}%: no rise.",
    )


def unbounded_flag(robust: np.ndarray) -> Flag:
    """An attack over the whole input box must leave (about) no point robust."""
    left = _pct(robust)
    if left > NEAR_ZERO:
        return Flag("unbounded", True, f"{left:.1f}% of the points survive an unbounded attack.")
    return Flag("unbounded", False, f"the unbounded attack leaves {left:.1f}%.")


def black_box_flag(white: Mapping[str, np.ndarray], black: np.ndarray) -> Flag:
    """Points that every white-box attack left robust but the black-box one broke."""
    if not white:
        raise ValueError("black_box_flag needs at least one white-box attack's results")
    survived = np.logical_and.reduce([np.asarray(v, dtype=bool) for v in white.values()])
    only_black = survived & ~np.asarray(black, dtype=bool)
    count = int(only_black.sum())
    names = ", ".join(white)
    if count:
        return Flag(
            "black box",
            True,
            f"{count} point(s) broken by the black-box attack after {names} failed.",
        )
    return Flag(
        "black box", False, f"no point broken by the black-box attack alone ({names} first)."
    )
