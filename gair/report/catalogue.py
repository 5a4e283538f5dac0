"""Every figure, table and budget the report layer can render, found by its declaration.

A renderer is a function in a module of :mod:`gair.report` (figures under
:mod:`gair.report.figures`) decorated where it is defined::

    @figure("fig4", "fig10", groups=("methods",))
    def overfitting(manifest: Manifest) -> Figure: ...

    @table("table1", "table2", "table3", "tradeoff")
    def paper_table(manifest: Manifest, prefix: str | Path) -> pd.DataFrame: ...

The names are the targets (or the manifest's ``renderer``) it draws; ``groups`` are the run
groups of the config it needs, ``optional`` those it draws when present. The declarations
are read from the sources (literal values only, as the method catalogue reads a method's
``INFO``), so the plan checks a config's groups against them without importing matplotlib;
:func:`load` imports the module when a command renders.

Adding a report target: a function with its declaration in a module here, the target in
``config/paper.yaml`` and its caption ``workflow/report/<name>.rst``.
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gair.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
KINDS = ("figure", "table", "budget")


@dataclass(frozen=True)
class Renderer:
    """One declared renderer."""

    kind: str  # figure (-> Figure), table (writes PREFIX.csv/.md/.tex), budget (.csv/.md/.parquet)
    name: str
    module: str  # its module, e.g. gair.report.figures.overfitting
    function: str
    groups: tuple[str, ...] = ()  # run groups it needs
    optional: tuple[str, ...] = ()  # run groups it draws when the config gives them


def _declare(kind: str) -> Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]]:
    def declare(
        *names: str, groups: tuple[str, ...] = (), optional: tuple[str, ...] = ()
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
            fn.__renders__ = (kind, names, groups, optional)  # type: ignore[attr-defined]
            return fn

        return mark

    return declare


figure = _declare("figure")
table = _declare("table")
budget = _declare("budget")


def _declarations(path: Path, module: str) -> list[Renderer]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and getattr(deco.func, "id", "") in KINDS):
                continue
            try:
                names = [ast.literal_eval(a) for a in deco.args]
                keywords = {k.arg: tuple(ast.literal_eval(k.value)) for k in deco.keywords}
            except ValueError:
                raise ConfigError(f"{path}: @{deco.func.id}(...) takes literal values") from None
            for name in names:
                found.append(
                    Renderer(deco.func.id, name, module, node.name, **keywords)  # type: ignore[arg-type]
                )
    return found


@functools.cache
def catalogue() -> dict[tuple[str, str], Renderer]:
    """(kind, name) -> renderer, for every declaration in the report package's sources."""
    out: dict[tuple[str, str], Renderer] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parents[1]).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for renderer in _declarations(path, module):
            key = (renderer.kind, renderer.name)
            if key in out:
                raise ConfigError(f"{renderer.kind} {renderer.name!r} is declared twice")
            out[key] = renderer
    return out


def renderer(kind: str, name: str) -> Renderer:
    """The declared renderer of a kind and name; ConfigError naming the valid ones."""
    found = catalogue().get((kind, name))
    if found is None:
        valid = [n for k, n in catalogue() if k == kind]
        raise ConfigError(f"{kind} {name!r} is unknown; valid {kind}s are: {', '.join(valid)}")
    return found


def names(kind: str) -> list[str]:
    """The names a kind of renderer is declared for."""
    return [n for k, n in catalogue() if k == kind]


def load(kind: str, name: str) -> Callable[..., Any]:
    """The renderer's function (imports its module: matplotlib for a figure)."""
    found = renderer(kind, name)
    return getattr(importlib.import_module(found.module), found.function)
