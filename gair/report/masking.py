"""Sanity checks for gradient masking (Carlini et al., "On Evaluating Adversarial Robustness";
Croce and Hein's AutoAttack): each turns per-point results of one kind of checkpoint into a
flag and a sentence, and the ``masking`` table of an audited target lists them.

- **eps**: accuracy must not rise as eps grows, and must reach about 0 at an eps large enough;
- **steps**: accuracy must not rise with more PGD steps;
- **unbounded**: an attack without a bound (the whole [0, 1] box) must break every point;
- **black box**: a point that every white-box attack failed to break but Square (queries
  only) broke points at gradients that mislead.

A rise counts only where it is distinguishable from noise: the paired interval of the later
accuracy minus the earlier one over the same points lies above zero
(:mod:`gair.report.stats`). Inputs are boolean arrays over the same test points (True:
robust), one per setting: a vector for one checkpoint, or a seeds x points matrix for the
same checkpoint kind of several seeds (the interval then pairs by seed and point).

The table (:func:`write_masking`) reads a masking evaluation per audited checkpoint (the
plan's ``<table set>_masking``: ``python -m gair evaluate`` with ``--points``): each
attack's radius from the summary, its per-point results from the samples file. Which attack
serves which check is read from the attack registry (:mod:`gair.evaluation.registry`):
the eps sweep is PGD-k at the set's eps and at every other radius (``pgd<k>_x<m>``,
``pgd<k>_eps<e>``), the steps check every ``pgd<k>`` at the set's eps, the unbounded check
``pgd<k>_unbounded``, the black-box check Square against every white-box attack at the
set's eps.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gair.errors import ConfigError, DataError
from gair.evaluation import registry
from gair.report import evidence, read, stats, text, write
from gair.report.catalogue import table
from gair.report.manifest import Manifest

CHECKS = ("eps", "steps", "unbounded", "black box")
# Accuracy at the largest eps of the sweep (and under the unbounded attack) above this share of
# the points raises the flag: a correct attack leaves none, one point in a thousand is slack.
NEAR_ZERO = 0.1  # percent


@dataclass(frozen=True)
class Flag:
    check: str  # one of CHECKS
    raised: bool
    sentence: str  # what was seen, in one sentence (also when nothing is raised)
    ran: bool = True  # False: the evaluation had no attack for this check

    @property
    def word(self) -> str:
        """The table's flag cell."""
        return "FLAG" if self.raised else "ok" if self.ran else "not run"


def _pct(values: np.ndarray) -> float:
    return 100.0 * float(np.mean(values))


def _matrix(robust: np.ndarray) -> np.ndarray:
    m = np.asarray(robust, dtype=bool)
    return m[None, :] if m.ndim == 1 else m


def _points(robust: np.ndarray) -> str:
    """``50 points``, or ``150 points (3 seeds x 50)``."""
    s, n = _matrix(robust).shape
    return f"{n} points" if s == 1 else f"{s * n} points ({s} seeds x {n})"


def rises(
    settings: Sequence[float], robust: Sequence[np.ndarray], what: str
) -> list[tuple[float, float, stats.Estimate]]:
    """Every consecutive pair of ``settings`` (increasing) where accuracy rises beyond noise:
    (from, to, paired gain of the later over the earlier)."""
    if len(settings) != len(robust):
        raise ValueError(f"{len(settings)} {what} settings but {len(robust)} results")
    order = np.argsort(settings, kind="stable")
    out = []
    for i, j in itertools.pairwise(order):
        gain = stats.paired_gain(_matrix(robust[j]), _matrix(robust[i]))
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
    survived = np.logical_and.reduce([_matrix(v) for v in white.values()])
    only_black = survived & ~_matrix(black)
    count = int(only_black.sum())
    names = ", ".join(white)
    of = f"of {_points(black)}"
    if count:
        return Flag(
            "black box",
            True,
            f"{count} {of} broken by the black-box attack after all {len(white)} white-box "
            f"attacks ({names}) failed.",
        )
    return Flag(
        "black box",
        False,
        f"no point broken by the black-box attack alone ({len(white)} white-box attacks: {names}).",
    )


def not_run(check: str, missing: str) -> Flag:
    return Flag(check, False, f"not checked: the evaluation has no {missing}.", ran=False)


# ------------------------------------------------------------------------------ attacks
@dataclass(frozen=True)
class Roles:
    """Which attacks of a masking evaluation serve which check."""

    sweep: dict[str, float]  # attack -> its eps (PGD-k at every radius, k the sweep's)
    steps: dict[str, int]  # attack -> its steps (pgd<k> at the set's eps)
    unbounded: list[str]
    white: list[str]  # white-box attacks at the set's eps
    black: list[str]  # black-box attacks at the set's eps


def roles(radii: Mapping[str, float], eps: float) -> Roles:
    """Sort a masking evaluation's attacks (name -> the radius it ran at) by check."""
    found = {name: registry.find(name) for name in radii if name != registry.WORST_CASE}
    scaled = [int(m["steps"]) for e, m in found.values() if e.kind == "pgd_eps"]
    k = scaled[0] if scaled else None
    sweep = {
        name: float(radii[name])
        for name, (e, m) in found.items()
        if k is not None and e.kind in ("pgd", "pgd_eps") and int(m["steps"]) == k
    }
    at_eps = {name for name in found if np.isclose(radii[name], eps)}
    steps = {
        name: int(m["steps"])
        for name, (e, m) in found.items()
        if e.kind == "pgd" and name in at_eps
    }
    unbounded = [name for name, (e, _) in found.items() if e.kind == "pgd_unbounded"]
    attacked = [n for n in found if n in at_eps and registry.is_adversarial(n)]
    black = [n for n in attacked if registry.is_black_box(n)]
    white = [n for n in attacked if not registry.is_black_box(n)]
    return Roles(sweep, steps, unbounded, white, black)


def check(points: Mapping[str, np.ndarray], radii: Mapping[str, float], eps: float) -> list[Flag]:
    """The four flags of one kind of checkpoint: ``points`` maps each attack to its per-point
    robustness (a vector, or seeds x points), ``radii`` each attack to its eps."""
    r = roles(radii, eps)
    title = registry.title
    flags = []
    if len(r.sweep) > 1:
        names = list(r.sweep)
        flags.append(eps_flag([r.sweep[n] for n in names], [points[n] for n in names]))
    else:
        flags.append(not_run("eps", "PGD-k at several radii (pgd<k>_x<m>, pgd<k>_eps<e>)"))
    if len(r.steps) > 1:
        names = list(r.steps)
        flags.append(steps_flag([r.steps[n] for n in names], [points[n] for n in names]))
    else:
        flags.append(not_run("steps", "PGD with several numbers of steps"))
    if r.unbounded:
        flags.append(
            unbounded_flag(np.logical_and.reduce([_matrix(points[n]) for n in r.unbounded]))
        )
    else:
        flags.append(not_run("unbounded", "unbounded attack (pgd<k>_unbounded)"))
    if r.black and r.white:
        black = np.logical_and.reduce([_matrix(points[n]) for n in r.black])
        flags.append(black_box_flag({title(n): points[n] for n in r.white}, black))
    else:
        flags.append(not_run("black box", "black-box attack beside white-box ones (square)"))
    return flags


# ------------------------------------------------------------------------------ the table
FLAG_COLUMNS = ["method", "checkpoint", "n_seeds", "n_points", "check", "flag", "sentence"]


def read_points(path: str | Path) -> pd.DataFrame:
    """A masking evaluation's per-point file: ``index``, ``label`` and a bool column per
    attack."""
    if not Path(path).is_file():
        raise DataError(f"per-point file {str(path)!r} does not exist; run its masking job first")
    return pd.read_parquet(path)


def collect(manifest: Manifest) -> tuple[dict[tuple[str, str], dict], dict[str, float]]:
    """(method, checkpoint) -> attack -> seeds x points matrix, in the manifest's order, and
    attack -> its radius (from the summaries; every file must agree)."""
    matrices: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    radii: dict[str, float] = {}
    for _, label, item in manifest.items():
        for checkpoint in manifest.checkpoints:
            if checkpoint not in item.points or checkpoint not in item.evals:
                raise DataError(
                    f"manifest {manifest.name!r}: run {item.run} has no masking files for its "
                    f"{checkpoint} checkpoint"
                )
            summary = read.read_eval(item.evals[checkpoint])
            for attack, eps in zip(summary["attack"], summary["eps"], strict=True):
                if attack != registry.WORST_CASE and radii.setdefault(attack, float(eps)) != eps:
                    raise DataError(f"{item.evals[checkpoint]!r}: {attack} ran at eps {eps}")
            frame = read_points(item.points[checkpoint])
            if evidence.on_report_split(checkpoint):  # best_val: judged on the report split
                frame = evidence.report_rows(frame, evidence.selection(item))
            cell = matrices.setdefault((label, checkpoint), {})
            for attack in summary["attack"]:
                if attack in frame:
                    cell.setdefault(attack, []).append(frame[attack].to_numpy(dtype=bool))
    out = {}
    for key, columns in matrices.items():
        sizes = {v.shape[0] for vs in columns.values() for v in vs}
        if len(sizes) > 1:
            raise DataError(
                f"{key[0]} {key[1]}: the seeds were evaluated on {sorted(sizes)} points"
            )
        out[key] = {attack: np.stack(vs) for attack, vs in columns.items()}
    return out, radii


def masking_table(manifest: Manifest) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The flags (one row per method, checkpoint kind and check) and the accuracies (one row
    per method and checkpoint kind, a column per attack: mean over seeds and points, %;
    its titles name each attack's radius)."""
    if manifest.eps is None:
        raise ConfigError(f"manifest {manifest.name!r} names no eps (the masking set's)")
    cells, radii = collect(manifest)
    flags, accuracy = [], []
    for (method, checkpoint), points in cells.items():
        s, n = next(iter(points.values())).shape
        for flag in check(points, {a: radii[a] for a in points}, manifest.eps):
            values = (method, checkpoint, s, n, flag.check, flag.word, flag.sentence)
            flags.append(dict(zip(FLAG_COLUMNS, values, strict=True)))
        row = {"method": method, "checkpoint": checkpoint, "n_seeds": s, "n_points": n}
        row.update({a: _pct(points[a]) for a in registry.order(points)})
        accuracy.append(row)
    return pd.DataFrame(flags, columns=FLAG_COLUMNS), pd.DataFrame(accuracy)


def to_markdown(
    flags: pd.DataFrame, accuracy: pd.DataFrame, title: str, eps: float, note: str = "",
    computed: str = "",
) -> str:  # fmt: skip
    lines = [f"# {title}", "", *text.trained_lines(note), *text.computed_lines(computed)]
    lines += [
        f"Gradient-masking checks at eps {eps:g}, per method and checkpoint kind, seeds pooled."
        " FLAG: accuracy rises with eps or with PGD steps beyond noise (the paired 95% "
        f"interval lies above 0), more than {NEAR_ZERO:g}% of the points survive the largest "
        "eps or the unbounded attack, or the black-box Square breaks points every white-box "
        "attack left standing. ok: not seen. not run: the evaluation lacks the attacks.",
        "",
    ]
    rows = [[r.method, r.checkpoint, r.check, r.flag, r.sentence] for r in flags.itertuples()]
    lines += text.markdown_table(["Method", "Checkpoint", "Check", "Flag", "What was seen"],
                                 rows, left=5)  # fmt: skip
    attacks = [c for c in accuracy.columns if c not in ("method", "checkpoint", "n_seeds",
                                                        "n_points")]  # fmt: skip
    lines += ["", "## Accuracy under each attack (%, mean over seeds and points)", ""]
    header = ["Method", "Checkpoint", "Seeds", "Points"]
    header += [registry.title(a) for a in attacks]
    body = [
        [str(r["method"]), str(r["checkpoint"]), str(int(r["n_seeds"])), str(int(r["n_points"]))]
        + [text.number(r[a]) for a in attacks]
        for _, r in accuracy.iterrows()
    ]
    lines += text.markdown_table(header, body, left=2)
    return "\n".join(lines) + "\n"


def to_latex(flags: pd.DataFrame, title: str, computed: str = "") -> str:
    lines = ["% " + title, "% needs \\usepackage{booktabs}"]
    if computed:
        lines.append("% computed on: " + computed)
    rows = [[r.method, r.checkpoint, r.check, r.flag, r.sentence] for r in flags.itertuples()]
    header = ["Method", "Checkpoint", "Check", "Flag", "What was seen"]
    lines += [*text.latex_table(header, rows, left=5), ""]
    return "\n".join(lines)


@table("masking")
def write_masking(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv (the flags), .md (the flags and the accuracies) and .tex (the flags) of an
    audited table's masking evaluations; returns the flags."""
    flags, accuracy = masking_table(manifest)
    files = [p for _, _, item in manifest.items() for p in item.evals.values()]
    computed = read.computed_on([*manifest.metrics_files(), *files])
    title = manifest.title or f"Gradient-masking checks: {manifest.name}"
    eps = float(manifest.eps or 0.0)
    write.write_table_files(
        prefix,
        csv=flags.to_csv(index=False),
        md=to_markdown(flags, accuracy, title, eps, read.trained_note(manifest.metrics_files()),
                       computed),
        tex=to_latex(flags, title, computed),
    )  # fmt: skip
    return flags
