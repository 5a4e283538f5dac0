"""The evaluation attacks, by name: one entry each, read by everything that names an attack.

An entry holds the name pattern (``pgd20`` matches ``pgd<k>``), examples of its names, the
display title, the cost (forward-backward passes per test point: the plan's cost model reads
nothing else), the setting it runs with under an :class:`EvalBudget`, and the dotted path of
its runner (:mod:`gair.evaluation.kernels`). ``python -m gair evaluate`` runs the entries;
tables, the audit and figures take titles and their order from here; the plan checks every
attack a config names here before anything runs. Adding an attack is adding an entry (and
its test).

This module imports no torch: :func:`run` imports the runner's module when it runs one.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gair.errors import ConfigError


# ---------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class EvalBudget:
    """The threat model and the attacks' own settings for one evaluation."""

    eps: float
    alpha: float | None = None  # pgd<k> and lsa: default eps / 4
    pgd_plus_alpha: float = 0.01
    pgd_plus_steps: int = 40
    pgd_plus_restarts: int = 5
    cw_steps: int = 30
    cw_alpha: float | None = None  # default eps / 4
    lsa_factor: float = 10.0
    lsa_steps: int = 20
    autoattack_version: str = "standard"  # or "cheap": see AUTOATTACK_VERSIONS
    autoattack_seed: int = 0

    @property
    def step(self) -> float:
        return self.eps / 4 if self.alpha is None else self.alpha


@dataclass(frozen=True)
class AutoAttackVersion:
    """One AutoAttack setting: the budget of each attack of the ensemble (0 leaves it out)."""

    name: str  # the attack name written to the evaluation output
    apgd_ce_steps: int
    apgd_t_steps: int
    apgd_t_targets: int
    fab_t_steps: int
    fab_t_targets: int
    square_queries: int
    passes: float  # rough forward-backward passes per test point, for the cost model


# The published budgets (the package's version='standard' sets exactly these), and a small
# setting for smoke runs whose output name says so. Passes: APGD-CE on every point, APGD-T
# and FAB-T on the points still robust (a model about half robust), Square forward only.
AUTOATTACK_VERSIONS: dict[str, AutoAttackVersion] = {
    "standard": AutoAttackVersion("autoattack", 100, 100, 9, 100, 9, 5000, passes=2000.0),
    "cheap": AutoAttackVersion("autoattack_cheap", 20, 20, 3, 0, 0, 100, passes=70.0),
}


def autoattack_version(version: str) -> AutoAttackVersion:
    """The setting of a version key (``standard`` or ``cheap``)."""
    if version not in AUTOATTACK_VERSIONS:
        raise ConfigError(
            f"AutoAttack version {version!r} is unknown; valid versions are: "
            f"{', '.join(AUTOATTACK_VERSIONS)}"
        )
    return AUTOATTACK_VERSIONS[version]


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class AttackSetting:
    """One named evaluation attack resolved against a budget: what runs and what the
    output row records (``steps``, ``alpha``, ``restarts``)."""

    name: str  # the output name (``autoattack`` may become ``autoattack_cheap``)
    steps: int
    alpha: float
    restarts: int = 1
    loss: str = "ce"
    logit_scale: float = 1.0
    random_start: bool = True
    every_iterate: bool = False  # PGD+: robust only if every iterate of every restart is
    kind: str = ""  # the entry that runs it
    eps: float | None = None  # the radius it attacks at (None: the budget's eps)
    part: str = ""  # one attack of the AutoAttack ensemble alone (apgd-ce, apgd-t, fab-t, square)

    def radius(self, budget: EvalBudget) -> float:
        """The eps this attack runs at under ``budget``."""
        return budget.eps if self.eps is None else self.eps


@dataclass(frozen=True)
class EvalAttack:
    """One evaluation attack: how its names look, read and cost, and how it runs."""

    kind: str
    pattern: str  # a regular expression the whole name must match
    help: str  # the name as the valid-names list shows it
    examples: tuple[str, ...]  # names it matches (each is tested, e.g. in the cost model)
    title: Callable[[re.Match[str]], str]
    setting: Callable[[re.Match[str], EvalBudget], AttackSetting]
    passes: Callable[[re.Match[str], Mapping[str, Any]], float]
    runner: str  # "module:function" of gair.evaluation.kernels that runs it
    adversarial: bool = True  # counts towards the worst case over attacks
    black_box: bool = False  # queries the model's outputs only, never its gradient
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))


def _constant(value: float) -> Callable[[re.Match[str], Mapping[str, Any]], float]:
    return lambda match, evaluation: value


def _autoattack_setting(match: re.Match[str], b: EvalBudget) -> AttackSetting:
    # `autoattack` runs the set's version and is written under that version's name;
    # `autoattack_cheap` always names the cheap one.
    version = "cheap" if match.group(0).endswith("_cheap") else b.autoattack_version
    return AttackSetting(autoattack_version(version).name, 0, 0.0, kind="autoattack")


def _autoattack_passes(match: re.Match[str], evaluation: Mapping[str, Any]) -> float:
    cheap = match.group(0).endswith("_cheap")
    version = "cheap" if cheap else evaluation.get("aa_version", "standard")
    return autoattack_version(version).passes


# The gradient-masking checks (Carlini et al., "On Evaluating Adversarial Robustness", 2019):
# PGD at other radii, PGD over the whole input box, and AutoAttack's attacks one at a time.
UNBOUNDED_EPS = 1.0  # inputs lie in [0, 1]: a radius of 1 is the whole box


def _scaled_pgd(match: re.Match[str], b: EvalBudget) -> AttackSetting:
    """PGD-k at ``scale`` times the budget's eps (``pgd20_x2``) or at an absolute eps
    (``pgd20_eps0.5``), its step scaled by the same factor, so that k steps cover the same
    share of the ball at every radius."""
    eps = float(match["scale"]) * b.eps if match["scale"] else float(match["eps"])
    factor = eps / b.eps if b.eps > 0 else 1.0
    steps = int(match["steps"])
    return AttackSetting(match.group(0), steps, b.step * factor, eps=eps, kind="pgd_eps")


def _scaled_title(match: re.Match[str]) -> str:
    at = f"{match['scale']} eps" if match["scale"] else f"eps {match['eps']}"
    return f"PGD-{match['steps']} at {at}"


def _unbounded(match: re.Match[str], b: EvalBudget) -> AttackSetting:
    """PGD-k over the whole input box, from the natural point itself (a random start there
    would be a random image, which breaks points without any gradient), step 2.5 / k: Madry
    et al.'s rule (2.5 eps / k) at eps 1."""
    steps = int(match["steps"])
    return AttackSetting(
        match.group(0), steps, 2.5 * UNBOUNDED_EPS / steps, random_start=False,
        eps=UNBOUNDED_EPS, kind="pgd_unbounded",
    )  # fmt: skip


# AutoAttack's attacks one at a time (name -> the package's name and title), each on every
# point, as the package's run_standard_evaluation_individual runs them: which of them breaks
# which point. Under the cheap version each is written with `_cheap`, as `autoattack` is.
AUTOATTACK_PARTS = {
    "apgd_ce": ("apgd-ce", "APGD-CE"),
    "apgd_t": ("apgd-t", "APGD-T"),
    "fab_t": ("fab-t", "FAB-T"),
    "square": ("square", "Square"),
}


def part_budget(part: str, version: AutoAttackVersion) -> float:
    """Forward-backward passes per point of one attack of the ensemble alone, in a version:
    APGD one per iteration (per target class), FAB-T about two (its linearisation needs the
    gradient of the target's and the true class's logits), Square one forward per query (a
    third of a pass)."""
    return {
        "apgd_ce": version.apgd_ce_steps,
        "apgd_t": version.apgd_t_steps * version.apgd_t_targets,
        "fab_t": 2.0 * version.fab_t_steps * version.fab_t_targets,
        "square": version.square_queries / 3,
    }[part]


def _part_version(match: re.Match[str], version: str) -> AutoAttackVersion:
    return autoattack_version("cheap" if match["cheap"] else version)


def _part_setting(match: re.Match[str], b: EvalBudget) -> AttackSetting:
    version = _part_version(match, b.autoattack_version)
    part = match["part"]
    if not part_budget(part, version):
        raise ConfigError(
            f"attack {match.group(0)!r}: {AUTOATTACK_PARTS[part][1]} is not part of the "
            f"{version.name} ensemble"
        )
    suffix = "_cheap" if version is AUTOATTACK_VERSIONS["cheap"] else ""
    kind = "square" if part == "square" else "autoattack_part"
    return AttackSetting(part + suffix, 0, 0.0, kind=kind, part=AUTOATTACK_PARTS[part][0])


def _part_passes(match: re.Match[str], evaluation: Mapping[str, Any]) -> float:
    version = _part_version(match, evaluation.get("aa_version", "standard"))
    return part_budget(match["part"], version)


def _part_title(match: re.Match[str]) -> str:
    return AUTOATTACK_PARTS[match["part"]][1] + (" (cheap)" if match["cheap"] else "")


# ---------------------------------------------------------------------------- the registry
KERNELS = "gair.evaluation.kernels"
# In display order: tables and the audit list attacks in this order.
ATTACKS: tuple[EvalAttack, ...] = (
    EvalAttack(
        kind="natural", pattern=r"natural", help="natural", examples=("natural",),
        title=lambda m: "Natural",
        setting=lambda m, b: AttackSetting("natural", 0, 0.0, kind="natural"),
        passes=_constant(1 / 3), runner=f"{KERNELS}:run_natural", adversarial=False,
    ),
    # FGSM (Goodfellow et al., 2015): one signed-gradient step of size eps from x itself.
    EvalAttack(
        kind="fgsm", pattern=r"fgsm", help="fgsm", examples=("fgsm",),
        title=lambda m: "FGSM",
        setting=lambda m, b: AttackSetting("fgsm", 1, b.eps, random_start=False, kind="fgsm"),
        passes=_constant(1.0), runner=f"{KERNELS}:run_pgd",
    ),
    EvalAttack(
        kind="pgd", pattern=r"pgd(?P<steps>[1-9][0-9]*)", help="pgd<k> (k >= 1, e.g. pgd20)",
        examples=("pgd1", "pgd20"),
        title=lambda m: f"PGD-{m['steps']}",
        setting=lambda m, b: AttackSetting(m.group(0), int(m["steps"]), b.step, kind="pgd"),
        passes=lambda m, e: float(m["steps"]), runner=f"{KERNELS}:run_pgd",
    ),
    EvalAttack(
        kind="pgd_plus", pattern=r"pgd_plus", help="pgd_plus", examples=("pgd_plus",),
        title=lambda m: "PGD+",
        setting=lambda m, b: AttackSetting(
            "pgd_plus", b.pgd_plus_steps, b.pgd_plus_alpha, restarts=b.pgd_plus_restarts,
            every_iterate=True, kind="pgd_plus",
        ),
        passes=_constant(5 * 40), runner=f"{KERNELS}:run_pgd_plus",
    ),
    EvalAttack(
        kind="cw", pattern=r"cw", help="cw", examples=("cw",),
        title=lambda m: "CW",
        setting=lambda m, b: AttackSetting(
            "cw", b.cw_steps, b.eps / 4 if b.cw_alpha is None else b.cw_alpha, loss="cw",
            kind="cw",
        ),
        passes=_constant(30), runner=f"{KERNELS}:run_pgd",
    ),
    EvalAttack(
        kind="lsa", pattern=r"lsa", help="lsa", examples=("lsa",),
        title=lambda m: "LSA",
        setting=lambda m, b: AttackSetting(
            "lsa", b.lsa_steps, b.step, logit_scale=b.lsa_factor, kind="lsa"
        ),
        passes=_constant(20), runner=f"{KERNELS}:run_pgd",
    ),
    EvalAttack(
        kind="autoattack", pattern=r"autoattack(?:_cheap)?", help="autoattack, autoattack_cheap",
        examples=("autoattack", "autoattack_cheap"),
        title=lambda m: "AutoAttack (cheap)" if m.group(0).endswith("_cheap") else "AutoAttack",
        setting=_autoattack_setting, passes=_autoattack_passes,
        runner=f"{KERNELS}:run_autoattack",
    ),
    # The masking checks' attacks: PGD at a multiple of eps or at an absolute eps (the sweep
    # of accuracy against eps), PGD over the whole box, AutoAttack's attacks one by one.
    EvalAttack(
        kind="pgd_eps",
        pattern=r"pgd(?P<steps>[1-9][0-9]*)_(?:x(?P<scale>[0-9]+(?:\.[0-9]+)?)"
        r"|eps(?P<eps>[0-9]+(?:\.[0-9]+)?))",
        help="pgd<k>_x<m> (at m eps), pgd<k>_eps<e> (at eps e)",
        examples=("pgd20_x0.25", "pgd20_x4", "pgd20_eps0.5"),
        title=_scaled_title, setting=_scaled_pgd,
        passes=lambda m, e: float(m["steps"]), runner=f"{KERNELS}:run_pgd",
    ),
    EvalAttack(
        kind="pgd_unbounded", pattern=r"pgd(?P<steps>[1-9][0-9]*)_unbounded",
        help="pgd<k>_unbounded", examples=("pgd100_unbounded",),
        title=lambda m: f"PGD-{m['steps']} unbounded", setting=_unbounded,
        passes=lambda m, e: float(m["steps"]), runner=f"{KERNELS}:run_pgd",
    ),
    EvalAttack(
        kind="autoattack_part", pattern=r"(?P<part>apgd_ce|apgd_t|fab_t)(?P<cheap>_cheap)?",
        help="apgd_ce, apgd_t, fab_t (and _cheap)", examples=("apgd_ce", "apgd_t", "fab_t"),
        title=_part_title, setting=_part_setting, passes=_part_passes,
        runner=f"{KERNELS}:run_autoattack_part",
    ),
    EvalAttack(
        kind="square", pattern=r"(?P<part>square)(?P<cheap>_cheap)?",
        help="square, square_cheap", examples=("square", "square_cheap"),
        title=_part_title, setting=_part_setting, passes=_part_passes,
        runner=f"{KERNELS}:run_autoattack_part", black_box=True,
    ),
)  # fmt: skip
# Not an attack but a column of every evaluation output: robust under each attack at once.
WORST_CASE = "worst_case"
WORST_CASE_TITLE = "Worst case"


def valid_names() -> str:
    return ", ".join(a.help for a in ATTACKS)


def find(name: str) -> tuple[EvalAttack, re.Match[str]]:
    """The entry whose pattern matches ``name``, and the match; ConfigError otherwise."""
    for attack in ATTACKS:
        match = attack.regex.fullmatch(name)
        if match:
            return attack, match
    raise ConfigError(f"attack {name!r} is unknown; valid attacks are: {valid_names()}")


def setting(name: str, budget: EvalBudget) -> AttackSetting:
    """``name`` resolved against ``budget`` (what runs and what its output row records)."""
    attack, match = find(name)
    return attack.setting(match, budget)


def run(
    model: Any, x: Any, y: Any, resolved: AttackSetting, budget: EvalBudget, batch_size: int
) -> Any:
    """Per-sample correctness (a bool tensor) under one resolved attack, by its entry's
    runner."""
    attack = next(a for a in ATTACKS if a.kind == resolved.kind)
    module, function = attack.runner.split(":")
    runner = getattr(importlib.import_module(module), function)
    return runner(model, x, y, resolved, budget, batch_size)


def title(name: str) -> str:
    """The display title of an attack name (also of ``worst_case``); unknown names as is."""
    if name == WORST_CASE:
        return WORST_CASE_TITLE
    try:
        attack, match = find(name)
    except ConfigError:
        return name
    return attack.title(match)


def passes(name: str, evaluation: Mapping[str, Any]) -> float:
    """Forward-backward passes per test point of ``name`` in an evaluation set."""
    attack, match = find(name)
    return attack.passes(match, evaluation)


def is_adversarial(name: str) -> bool:
    return find(name)[0].adversarial


def runs_in(name: str, version: str) -> bool:
    """Whether ``name`` runs under an AutoAttack version: False only for an attack of the
    ensemble alone that the version leaves out (``fab_t`` under ``cheap``)."""
    attack, match = find(name)
    if attack.setting is not _part_setting:
        return True
    return bool(part_budget(match["part"], _part_version(match, version)))


def uses_autoattack(name: str) -> bool:
    """Whether ``name`` runs AutoAttack or one of its attacks (and so reads the version)."""
    return find(name)[0].runner.split(":")[1] in ("run_autoattack", "run_autoattack_part")


def is_black_box(name: str) -> bool:
    """Whether the attack only queries the model (Square), never its gradient."""
    return find(name)[0].black_box


def order(names: Iterable[str]) -> list[str]:
    """``names`` (distinct, in place) sorted by the registry's display order; the worst
    case last, unknown names after the known ones in their own order."""
    unique = list(dict.fromkeys(names))

    def rank(name: str) -> tuple[int, int, int]:
        if name == WORST_CASE:
            return (len(ATTACKS) + 1, 0, 0)
        try:
            attack, match = find(name)
        except ConfigError:
            return (len(ATTACKS), unique.index(name), 0)
        steps = int(match["steps"]) if "steps" in attack.regex.groupindex else 0
        return (ATTACKS.index(attack), steps, unique.index(name))

    return sorted(unique, key=rank)


def check(names: Iterable[str], where: str) -> None:
    """ConfigError naming ``where`` and the first unknown attack of ``names``."""
    for name in names:
        try:
            find(name)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
