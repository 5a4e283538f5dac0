"""Training methods: one module of this package per method, found by being here.

A method module ``gair/methods/<name>.py`` holds two things:

- ``INFO = MethodInfo(name="<name>", ...)``, written with literal values only: what the plan,
  the cost model, the protocol and the figures need to know about the method. It is read
  from the module's source without importing it (:func:`catalogue`), so that the workflow
  knows every method without importing torch;
- ``METHOD = Method(INFO, attack, loss, ...)`` (:mod:`gair.methods.core`): the attack the
  training loop calls with the model in eval mode, and the loss it calls in train mode.

Adding a method is adding its module; nothing else lists method names. The training loop
never looks at a method's name.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gair.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
NOT_METHODS = ("__init__", "core")


@dataclass(frozen=True)
class MethodInfo:
    """What everyone but the training step needs to know about a method."""

    name: str  # the module's name and the value of RunSpec.method
    title: str  # display name: legends, tables, protocol
    summary: str  # one line: `python -m gair methods --describe`
    weighted: bool = False  # reweights its loss by omega(kappa) from reweight_from on
    uses_tau: bool = False  # its attack is FAT's early-stopped PGD-K-tau
    # Cost relative to AT's step with the same K: forward-backward passes of the training
    # attack per point are attack_cost * (attack_steps or the run's K); the update forwards
    # and back-propagates update_cost batches.
    attack_cost: float = 1.0
    attack_steps: int = 0  # > 0: the method always takes this many attack steps
    update_cost: int = 1
    # The first iterate of its training attack (RunSpec.attack_start names another): uniform
    # in the eps-ball (turned off by RunSpec.random_start = false), gaussian (x + 0.001 N(0, I))
    # or "" for a method without a training attack.
    start: str = "uniform"
    # Non-empty: not the published method but our reading of it; says what it is. Every
    # output that names the method shows it.
    interpretation: str = ""
    # Non-empty: trains on labelled + pseudo-labelled data and says how to give it some.
    needs_pool: str = ""
    # (key, default) of the spec.extra settings that count epochs (rescaled with the run).
    epoch_extras: tuple[tuple[str, float], ...] = ()
    # Raised when a change of the method's code alters what its existing specs train: it
    # enters the digest of this method's runs only (0 leaves it out), so a folder trained
    # before the change is never resumed or reported as a run of the current definition
    # while other methods keep their names (gair.spec.PROTOCOL is the same for all).
    revision: int = 0

    @property
    def display(self) -> str:
        """The title, marked where the method is an interpretation."""
        return f"{self.title} (interpretation)" if self.interpretation else self.title


def _read_info(path: Path) -> MethodInfo:
    """The module's ``INFO = MethodInfo(...)``, read from its source (literal values only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
        value = getattr(node, "value", None)
        if not any(isinstance(t, ast.Name) and t.id == "INFO" for t in targets if t is not None):
            continue
        if not (isinstance(value, ast.Call) and getattr(value.func, "id", "") == "MethodInfo"):
            break
        if value.args:
            raise ConfigError(f"{path}: INFO = MethodInfo(...) takes keyword arguments only")
        try:
            kwargs = {k.arg: ast.literal_eval(k.value) for k in value.keywords}
        except ValueError:
            raise ConfigError(f"{path}: INFO = MethodInfo(...) must use literal values") from None
        if "epoch_extras" in kwargs:
            kwargs["epoch_extras"] = tuple(tuple(pair) for pair in kwargs["epoch_extras"])
        info = MethodInfo(**kwargs)
        if info.name != path.stem:
            raise ConfigError(f"{path}: INFO.name {info.name!r} differs from the module name")
        return info
    raise ConfigError(f"{path} has no `INFO = MethodInfo(...)`: a method module needs one")


@functools.cache
def catalogue() -> dict[str, MethodInfo]:
    """Every method of the package by name, from the modules' sources (no torch import)."""
    paths = sorted(p for p in PACKAGE_DIR.glob("*.py") if p.stem not in NOT_METHODS)
    return {p.stem: _read_info(p) for p in paths}


def method_names() -> list[str]:
    return list(catalogue())


def method_info(name: str) -> MethodInfo:
    """The catalogue entry of ``name``; ConfigError naming the valid methods otherwise."""
    methods = catalogue()
    if name not in methods:
        raise ConfigError(f"method {name!r} is unknown; valid methods are: {', '.join(methods)}")
    return methods[name]


def run_label(label: str, method: str) -> str:
    """A figure's or table's name for a run: its config label, marked "(interpretation)"
    when the method is one and the label does not say so already."""
    info = method_info(method)
    if info.interpretation and "interpretation" not in label.lower():
        return f"{label} (interpretation)"
    return label


def get_method(name: str) -> Any:
    """The method's implementation (a :class:`gair.methods.core.Method`; imports torch)."""
    method_info(name)
    return importlib.import_module(f"{__name__}.{name}").METHOD


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gair methods", description=__doc__)
    parser.add_argument("--describe", action="store_true", help="print each method's description")
    args = parser.parse_args(argv)
    for info in catalogue().values():
        if not args.describe:
            print(info.name + ("\t(interpretation)" if info.interpretation else ""))
            continue
        text = f"{info.name}\t{info.display}: {info.summary}"
        if info.interpretation:
            text += f" [INTERPRETATION: {info.interpretation}]"
        print(text)
    return 0
