"""The shape of the package: every module is code of its own, and what the docs cite exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "gair"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


# --------------------------------------------------------------------------- no shims, no aliases
def test_every_module_holds_code_of_its_own() -> None:
    """A module that only imports names (a shim for an old import path) has no place: each
    module defines something besides its imports (package files may be a docstring only)."""
    shims = []
    for path in SOURCES:
        body = [
            node
            for node in parsed(path).body
            if not isinstance(node, (ast.Import, ast.ImportFrom))
            and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        ]
        imports = [n for n in parsed(path).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if not body and imports and path.name != "__main__.py":
            shims.append(module_name(path))
    assert not shims, f"modules that only re-export: {shims}"


def test_no_name_is_imported_only_to_be_passed_on() -> None:
    """An import kept for others to import from here (``# noqa: F401``), a module-level
    ``__getattr__`` forwarding names, or ``NEW = old`` under a second name: one home per
    name, so none of these."""
    found = []
    for path in SOURCES:
        text = path.read_text()
        if "noqa: F401" in text:
            found.append(f"{module_name(path)}: an unused import kept for importers")
        for node in parsed(path).body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                found.append(f"{module_name(path)}: module __getattr__")
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and re.fullmatch(r"[A-Za-z_][\w.]*", ast.unparse(node.value))
            ):
                alias = f"{node.targets[0].id} = {ast.unparse(node.value)}"
                found.append(f"{module_name(path)}: {alias}")
    assert not found, found


# --------------------------------------------------------------------------- what the docs cite
CITED_FILE = re.compile(
    r"(?<![\w/.-])((?:gair|docs|workflow|config|tests)/[\w/.-]*\w|[\w-]+\.md)\b"
)


def cited_paths() -> dict[str, set[str]]:
    """Repository paths named in the README, docs, config comments, captions and the
    package's sources: path -> the files that name it."""
    texts = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    texts += [*sorted((REPO / "config").glob("*.yaml")), *sorted((REPO / "workflow").rglob("*"))]
    texts += SOURCES
    out: dict[str, set[str]] = {}
    for path in texts:
        if not path.is_file() or path.suffix in (".png", ".pdf"):
            continue
        for match in CITED_FILE.finditer(path.read_text()):
            out.setdefault(match.group(1).rstrip("."), set()).add(str(path.relative_to(REPO)))
    return out


# File names that stand for any file in usage lines (``PREFIX.md``: the output prefix).
PLACEHOLDERS = {"PREFIX.md", "P.md", "TABLE.md"}


def exists(cited: str) -> bool:
    if "<" in cited or "*" in cited or cited in PLACEHOLDERS:
        return True  # a pattern (gair/methods/<name>.py), not a file
    if "/" not in cited:  # a bare file name (README.md, fidelity.md): somewhere in the tree
        return any(REPO.glob(f"**/{cited}"))
    return (REPO / cited).exists()


def test_every_path_the_docs_and_the_code_cite_exists() -> None:
    missing = {path: sorted(where) for path, where in cited_paths().items() if not exists(path)}
    assert not missing, missing


DOTTED = re.compile(r"(?<![\w/.'\"-])gair(?:\.\w+)+")  # not a quoted key ("gair.run")


def resolves(dotted: str) -> bool:
    """Whether ``gair.a.b.c`` names a module, or an attribute of the longest module prefix."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_every_dotted_name_the_docs_and_the_code_cite_resolves() -> None:
    texts = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *SOURCES]
    texts += [p for p in sorted((REPO / "workflow").rglob("*")) if p.is_file()]
    cited: dict[str, set[str]] = {}
    for path in texts:
        for match in DOTTED.finditer(path.read_text()):
            cited.setdefault(match.group(0).rstrip("."), set()).add(str(path.relative_to(REPO)))
    missing = {name: sorted(where) for name, where in cited.items() if not resolves(name)}
    assert not missing, missing


# --------------------------------------------------------------------------- the paper's map
# The paper numbers Eqs. 1-13 and Algorithms 1-5 (counted in its text: Eqs. 1-6 and
# Algorithms 1-2 in Sections 2-3, Algorithms 3-5 in App. B, Eqs. 7-13 in App. C).
PAPER_ITEMS = [f"Eq. {n}" for n in range(1, 14)] + [f"Algorithm {n}" for n in range(1, 6)]


def paper_map() -> dict[str, str]:
    """gair.paper's docstring table: equation or algorithm -> function (dotted)."""
    import gair.paper

    rows = re.findall(
        r"^ {4}((?:Eq\.|Algorithm) \d+) {2,}.*? {2,}(\w+\.\w+)$", gair.paper.__doc__ or "", re.M
    )
    return {item: f"gair.paper.{function}" for item, function in rows}


def test_the_paper_package_maps_every_equation_and_algorithm_to_its_function() -> None:
    import importlib
    import inspect

    mapping = paper_map()
    assert list(mapping) == PAPER_ITEMS
    for item, dotted in mapping.items():
        module, name = dotted.rsplit(".", 1)
        function = getattr(importlib.import_module(module), name)
        number = item.split()[-1]
        named = rf"Eq\. \(?{number}\b" if item.startswith("Eq") else rf"Algorithm {number}\b"
        assert re.search(named, inspect.getdoc(function) or ""), (item, dotted)


# --------------------------------------------------------------------------- the workflow's paths
WORKFLOW = [REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
PATH_LITERAL = re.compile(
    r"""["'][^"'\n]*(\{RESULTS\}|\{FIGDIR\}|results/|figures/|"""
    r"""\.(csv|md|tex|pdf|png|json|parquet|log|pt)\b)[^"'\n]*["']"""
)


def code_lines(path: Path) -> list[tuple[int, str]]:
    return [
        (number, line)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if not line.lstrip().startswith("#")
    ]


def test_the_rules_take_every_path_from_the_plan() -> None:
    """No rule types a path or picks an output by position: paths come from gair.plan
    (Paths), so the rules and the plan's output lists cannot disagree."""
    found = []
    for path in WORKFLOW:
        for number, line in code_lines(path):
            if PATH_LITERAL.search(line) and "../report/" not in line and "../envs/" not in line:
                found.append(f"{path.name}:{number}: {line.strip()}")
            if re.search(r"output\[\d+\]", line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert not found, found


def test_every_report_rule_comes_from_one_loop() -> None:
    """Figures, tables, the audit, the published checkpoints and the preflight budgets are
    one loop over the plan's report jobs, not a rule file each."""
    loops = [
        (path.name, number)
        for path in WORKFLOW
        for number, line in code_lines(path)
        if re.match(r"for \w+ in PLAN\.report_jobs\(\):", line)
    ]
    assert len(loops) == 1, loops
    anonymous = [
        path.name for path in WORKFLOW for _, line in code_lines(path) if line.strip() == "rule:"
    ]
    assert set(anonymous) == {loops[0][0]}  # the report loop and the aggregate targets
    # Snakemake evaluates a rule's shell command when the job runs, after the loop has moved
    # on: the loop's variable may reach it only through params (evaluated at definition).
    text = (REPO / "workflow" / "rules" / loops[0][0]).read_text()
    shell = re.split(r"^\s+shell:$", text, flags=re.M)[1].split("\n\n", 1)[0]
    assert "_job" not in shell and "{params." in shell, shell


# --------------------------------------------------------------------------- the import graph
# The layers, lowest first: a module imports from its own layer or a lower one (within a
# layer the graph is acyclic too). A catalogue names its implementation by a dotted path and
# imports it with importlib when asked (methods.get_method, models.build_model, the attack
# registry's runners, report.catalogue.load, cli.COMMANDS): that is not an edge.
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["gair", "gair.errors", "gair.epochs", "gair.io", "gair.provenance"]),
    ("catalogues", ["gair.schedules", "gair.methods", "gair.models", "gair.data",
                    "gair.data.readers", "gair.evaluation", "gair.evaluation.registry",
                    "gair.report.catalogue", "gair.report.manifest", "gair.paper", "gair.train",
                    "gair.report", "gair.tools", "gair.tools.bench"]),
    ("spec", ["gair.spec", "gair.evaluation.zoo"]),
    ("building blocks", ["gair.models.*", "gair.data.tensors", "gair.train.checkpoint",
                         "gair.train.optim", "gair.train.build"]),
    ("paper", ["gair.paper.*"]),
    ("methods and attack runners", ["gair.methods.*", "gair.evaluation.kernels",
                                    "gair.evaluation.autoattack"]),
    ("train", ["gair.train.*"]),
    ("evaluation jobs", ["gair.evaluation.*"]),
    ("report", ["gair.report.*"]),
    ("plan", ["gair.plan", "gair.plan.*"]),
    ("tools", ["gair.tools.*", "gair.tools.gpucheck", "gair.tools.gpucheck.*"]),
    ("command line", ["gair.cli", "gair.__main__"]),
]  # fmt: skip
# Modules whose import must not pull torch (the workflow, the plan and every report job run
# without it) and, for all but the figures, not matplotlib either.
TORCH_FREE = [
    "gair", "gair.errors", "gair.epochs", "gair.io", "gair.provenance", "gair.schedules",
    "gair.spec", "gair.methods", "gair.models", "gair.data", "gair.data.readers",
    "gair.evaluation.registry", "gair.evaluation.zoo", "gair.paper.weights", "gair.report.*",
    "gair.plan", "gair.plan.*", "gair.tools.gpu", "gair.cli",
]  # fmt: skip
# Imported inside a function, and only there: third-party packages heavy enough that a
# command which does not need them must not pay for them.
HEAVY = {"torch", "torchvision", "matplotlib", "pandas", "pyarrow", "scipy", "sklearn",
         "pyautoattack", "robustbench", "jsonschema", "yaml"}  # fmt: skip


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in SOURCES}


def layer_of(module: str) -> int:
    import fnmatch

    for rank, (_, patterns) in enumerate(LAYERS):
        if module in patterns:
            return rank
    for rank, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatch(module, p) for p in patterns if "*" in p):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function) of every import statement of a module, the
    gair ones resolved to the module they name; blocks under TYPE_CHECKING left out."""
    known = modules()
    found: list[tuple[str, bool]] = []

    def resolve(name: str) -> str:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            if ".".join(parts[:cut]) in known:
                return ".".join(parts[:cut])
        return name

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((resolve(a.name), local) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level:
                base = child.module or ""
                for alias in child.names:
                    # `from gair.plan import cost` names the module gair.plan.cost
                    full = f"{base}.{alias.name}"
                    found.append((resolve(full if full in known else base), local))
            function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, local or function)

    visit(parsed(path), False)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        module: {name for name, _ in imports(path) if name in known and name != module}
        for module, path in known.items()
    }


def test_the_import_graph_has_no_cycle() -> None:
    edges, state, cycles = graph(), {}, []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for other in sorted(edges[module]):
            if state.get(other) == "open":
                cycles.append([*stack[stack.index(other) :], other])
            elif other not in state:
                visit(other, [*stack, other])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_every_import_goes_to_the_same_or_a_lower_layer() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {other} ({LAYERS[layer_of(other)][0]})"
        for module, others in graph().items()
        for other in others
        if layer_of(other) > layer_of(module)
    ]
    assert not upward, upward


def test_only_heavy_third_party_packages_are_imported_inside_functions() -> None:
    local = sorted(
        f"{module}: {name}"
        for module, path in modules().items()
        for name, inside in imports(path)
        if inside and name.split(".")[0] not in HEAVY
    )
    assert not local, local  # gair modules included: a function-local gair import hides a cycle


@pytest.mark.slow
def test_torch_free_modules_stay_torch_free() -> None:
    """Each torch-free module, imported in a fresh interpreter after the ones before it,
    leaves torch unimported (and matplotlib, outside the figures)."""
    import fnmatch
    import subprocess
    import sys

    names = [m for m in modules() if any(fnmatch.fnmatch(m, p) for p in TORCH_FREE)]
    names.sort(key=lambda m: m.startswith("gair.report.figures"))  # figures last
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "    heavy = [p for p in ('torch', 'matplotlib') if p in sys.modules]\n"
        "    if 'torch' in heavy or (heavy and not name.startswith('gair.report.figures')):\n"
        "        print(name, 'imports', heavy); break\n"
        "else:\n"
        "    print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.strip() == "ok", done.stdout + done.stderr
    assert len(names) > 40
