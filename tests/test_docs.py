"""The documents say what the plan does: the target table of README.md and docs/targets.md
(runs, evaluations, geometry jobs and GPU-hours of every target) is the plan's, and the
README's module map names every package of the tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gair.plan import Plan
from gair.plan.config import load_config

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", REPO / "docs" / "targets.md"]
# | `target` | what it reproduces | training runs | GPU-hours |
ROW = re.compile(r"^\| `(\w+)` \| .*? \| ([^|]+) \| ([^|]+) \|$", re.M)


def target_rows(path: Path) -> dict[str, tuple[str, str]]:
    return {
        name: (runs.strip(), hours.strip()) for name, runs, hours in ROW.findall(path.read_text())
    }


def numbers(cell: str, *words: str) -> dict[str, int]:
    """``"133 + 147 evaluations + 3 geometry"`` -> {"": 133, "evaluations": 147, "geometry": 3}:
    the first number, then each number followed by one of ``words``."""
    out = {"": int(re.match(r"\d+", cell)[0])}
    for word in words:
        found = re.search(rf"(\d+) {word}", cell)
        out[word] = int(found[1]) if found else 0
    return out


@pytest.fixture(scope="module")
def paper() -> Plan:
    return Plan(load_config())


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_the_target_table_is_the_plans(path: Path, paper: Plan) -> None:
    """Every target has its row; each row's runs, evaluations, geometry jobs (where the row
    names them) and GPU-hours (training + evaluation, rounded) are the plan's estimate."""
    rows = target_rows(path)
    expected = [*paper.config["experiments"], "audit", "claims", "figures", "tables", "all"]
    assert sorted(rows) == sorted(expected)
    for target, (runs, hours) in rows.items():
        estimate = paper.estimate(target)
        counted = numbers(runs, "evaluations", "geometry")
        assert counted[""] == estimate["runs"], target
        assert counted["evaluations"] == estimate["evaluations"], target
        if "geometry" in runs:
            assert counted["geometry"] == len(paper.target_geometry(target)), target
        train, _, evaluation = hours.partition(" + ")
        assert int(train) == round(estimate["train_hours"]), target
        assert int(re.match(r"\d+", evaluation or "0")[0]) == round(estimate["eval_hours"]), target


def test_readme_and_targets_md_agree() -> None:
    assert target_rows(DOCUMENTS[0]) == target_rows(DOCUMENTS[1])


def test_the_module_map_names_every_package() -> None:
    """The README's module map has a row for each package of gair/ and each top-level
    module, and names nothing that is not there (paths cited anywhere are checked by
    tests/test_architecture.py)."""
    text = (REPO / "README.md").read_text()
    start = text.index("| module |")
    table = text[start : text.index("\n\n", start)]
    cited = set(re.findall(r"`(gair/[\w/.]+)`", table))
    packages = {
        f"gair/{p.name}/" for p in (REPO / "gair").iterdir() if (p / "__init__.py").is_file()
    }
    modules = {f"gair/{p.name}" for p in (REPO / "gair").glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= cited | {"gair/__main__.py"}, (packages | modules) - cited
