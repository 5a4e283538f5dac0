"""Published checkpoints as the config names them (``published.models``): their sources and
formats, the numbers reported for them and the eps of each, and where their weights lie.

Torch-free: the plan checks every entry and lists each model's files before anything runs;
:mod:`gair.evaluation.published` loads and evaluates the models, and the report layer
tabulates them.

Sources: ``robustbench`` (a RobustBench model by name, its weights in RobustBench's local
layout ``<model_dir>/cifar10/Linf/<name>.pt``) and ``file`` (a checkpoint written by the
authors' scripts, in one of :data:`FORMATS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gair.errors import ConfigError
from gair.spec import coerce

FORMATS = ("gairat", "fat", "trades", "mart", "rst")


SOURCES = ("robustbench", "file")


# The eps of each reported number (an entry's ``reported``): ``eps`` is RobustBench's, for its
# clean and AutoAttack accuracy; ``paper_eps`` the model's paper's, for ``paper_robust``.
REPORTED_EPS = {"eps": ("clean", "autoattack"), "paper_eps": ("paper_robust",)}


# The attacks run again at a reported number's own eps (besides the paper's eps, where every
# attack runs): those that compare with the reported robust numbers.
AT_REPORTED_EPS = ("pgd20", "autoattack")


def same_eps(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def eps_title(eps: float) -> str:
    """An eps as papers write it: k/255 where it is one, else its decimal (0.031)."""
    k = eps * 255
    return f"{round(k)}/255" if abs(k - round(k)) < 1e-6 else f"{eps:g}"


def reported_eps(reported: Mapping[str, Any], where: str) -> float:
    """An entry's reported eps as a number (the config may write 8/255); ConfigError naming the
    key where a number it qualifies has none."""
    key = "published.models.<name>.reported"
    if where not in reported:
        numbers = [k for k in REPORTED_EPS[where] if k in reported]
        raise ConfigError(
            f"{key} has {numbers[0]!r} but no {where!r}: give the eps it was measured at "
            "(e.g. 8/255 for RobustBench's leaderboard, 0.031 where its footnote says so)"
        )
    value = coerce(f"{key}.{where}", reported[where], float)
    if not value > 0:
        raise ConfigError(f"{key}.{where} = {value!r} is invalid: it must be an eps > 0")
    return value


def checked_reported(reported: Mapping[str, Any]) -> dict[str, Any]:
    """``reported`` with each eps that one of its numbers needs, as a float."""
    out = dict(reported)
    for where, numbers in REPORTED_EPS.items():
        if any(k in reported for k in numbers) or where in reported:
            out[where] = reported_eps(reported, where)
    return out


def evaluation_plan(
    entry: Mapping[str, Any], attacks: list[str], eps: float
) -> list[tuple[float, list[str]]]:
    """(eps, attacks) of one model's evaluation: every attack at ``eps`` (the paper's, as our
    own tables), then at each other eps a reported number of the entry was measured at, the
    attacks of :data:`AT_REPORTED_EPS` that are among ``attacks``."""
    reported = entry.get("reported") or {}
    plan = [(eps, list(attacks))]
    compared = [a for a in attacks if a in AT_REPORTED_EPS]
    for where in REPORTED_EPS:
        if where not in reported or not compared:
            continue
        other = float(reported[where])
        if not any(same_eps(other, e) for e, _ in plan):
            plan.append((other, compared))
    return plan


def robustbench_file(model_dir: str | Path, name: str, dataset: str = "cifar10") -> Path:
    """Where RobustBench keeps a model's weights under ``model_dir``."""
    return Path(model_dir) / dataset / "Linf" / f"{name}.pt"


def entry_file(entry: Mapping[str, Any], model_dir: str | Path) -> Path:
    """The weights file an entry reads."""
    if entry.get("source") == "robustbench":
        return robustbench_file(model_dir, entry["name"], entry.get("dataset", "cifar10"))
    return Path(entry["file"])


def download_hint(entry: Mapping[str, Any], model_dir: str | Path) -> str:
    if entry.get("source") == "robustbench":
        return (
            f"robustbench.utils.load_model('{entry['name']}', model_dir='{model_dir}', "
            "dataset='cifar10', threat_model='Linf') downloads it"
        )
    return str(entry.get("download", "the authors' release (see the entry's cite)"))
