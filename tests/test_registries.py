"""The one-home registries: methods (read from their modules' sources), evaluation attacks,
figure functions and report captions per target, the report layer's units and seed rule,
and the old import paths kept as re-exports."""

from __future__ import annotations

import importlib
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gair.errors import ConfigError, DataError
from gair.evaluation import registry as attacks_registry
from gair.methods import MethodInfo, _read_info, catalogue, get_method, method_info
from gair.report import read, stats, text

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- methods
def test_the_catalogue_read_from_sources_is_what_the_modules_define() -> None:
    names = list(catalogue())
    assert names == sorted(p.stem for p in (REPO / "gair" / "methods").glob("*.py")
                           if p.stem not in ("__init__", "core"))  # fmt: skip
    for name in names:
        module = importlib.import_module(f"gair.methods.{name}")
        assert catalogue()[name] == module.INFO, name
        assert get_method(name).info is module.INFO
    assert {n for n, i in catalogue().items() if i.weighted} == {
        "gairat", "gair_fat", "gair_trades", "gair_mart", "gair_mart_kl", "gair_rst",
    }  # fmt: skip
    assert {n for n, i in catalogue().items() if i.interpretation} == {"atlas"}
    assert method_info("gair_rst").needs_pool


@pytest.mark.slow
def test_the_catalogue_imports_no_torch() -> None:
    code = (
        "import sys; from gair.methods import catalogue; from gair.plan import Plan;"
        "from gair.plan.config import load_config;"
        "catalogue(); Plan(load_config());"
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]  # neither torch nor matplotlib


def test_a_method_module_without_literal_info_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "mine.py"
    bad.write_text("INFO = MethodInfo(name='mine', title=TITLE, summary='x')\n")
    with pytest.raises(ConfigError, match="literal values"):
        _read_info(bad)
    bad.write_text("INFO = MethodInfo(name='yours', title='Y', summary='x')\n")
    with pytest.raises(ConfigError, match="differs from the module name"):
        _read_info(bad)
    bad.write_text("METHOD = None\n")
    with pytest.raises(ConfigError, match="has no `INFO = MethodInfo"):
        _read_info(bad)
    good = tmp_path / "good.py"
    good.write_text(
        textwrap.dedent("""
        INFO = MethodInfo(
            name="good", title="G", summary="a " "b", epoch_extras=[("w", 2)],
        )
        """)
    )
    info = _read_info(good)
    assert info == MethodInfo(name="good", title="G", summary="a b", epoch_extras=(("w", 2),))
    with pytest.raises(ConfigError, match=r"method 'nope' is unknown; valid methods are: at"):
        method_info("nope")


# --------------------------------------------------------------------------- attacks
@pytest.mark.parametrize(
    ("name", "title", "kind"),
    [
        ("natural", "Natural", "natural"),
        ("pgd20", "PGD-20", "pgd"),
        ("pgd100", "PGD-100", "pgd"),
        ("pgd_plus", "PGD+", "pgd_plus"),
        ("cw", "CW", "cw"),
        ("lsa", "LSA", "lsa"),
        ("autoattack", "AutoAttack", "autoattack"),
        ("autoattack_cheap", "AutoAttack (cheap)", "autoattack"),
    ],
)
def test_every_attack_name_has_one_entry_a_title_and_a_cost(
    name: str, title: str, kind: str
) -> None:
    entry, _ = attacks_registry.find(name)
    assert entry.kind == kind
    assert attacks_registry.title(name) == title
    assert attacks_registry.passes(name, {"aa_version": "standard"}) > 0
    assert attacks_registry.is_adversarial(name) == (name != "natural")


def test_attack_names_outside_the_registry_are_refused() -> None:
    for bad in ("pgd0", "pgd", "pgd_20", "PGD20", "autoattack_fast", ""):
        with pytest.raises(ConfigError, match=rf"attack {bad!r} is unknown.*pgd<k>"):
            attacks_registry.find(bad)
    with pytest.raises(ConfigError, match=r"^config x: attack 'cww'"):
        attacks_registry.check(["natural", "cww"], "config x")


def test_display_order_and_costs() -> None:
    names = ["worst_case", "autoattack", "pgd40", "natural", "pgd10", "mystery", "cw"]
    assert attacks_registry.order(names) == [
        "natural", "pgd10", "pgd40", "cw", "autoattack", "mystery", "worst_case",
    ]  # fmt: skip
    assert attacks_registry.passes("autoattack", {"aa_version": "cheap"}) == 70.0
    assert attacks_registry.passes("autoattack_cheap", {"aa_version": "standard"}) == 70.0
    assert attacks_registry.passes("pgd_plus", {}) == 200.0
    assert attacks_registry.title("worst_case") == "Worst case"


# --------------------------------------------------------------------------- targets
def test_every_target_has_a_drawing_function_and_a_caption() -> None:
    from gair.report import catalogue

    experiments = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["experiments"]
    figures, tables = catalogue.names("figure"), catalogue.names("table")
    for name, exp in experiments.items():
        assert (REPO / "workflow" / "report" / f"{name}.rst").is_file(), name
        if exp["kind"] in ("figure", "figure_table"):
            assert name in figures, name
        if exp["kind"] in ("table", "figure_table"):
            assert exp.get("title") and name in tables, name
    # The audit's products each have theirs (without one the HTML report leaves a file out).
    for table in yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["audit"]["tables"]:
        for product in ("audit", "masking"):
            assert (REPO / "workflow" / "report" / f"{product}_{table}.rst").is_file(), table
    # Every renderer draws a target of the config, or a family the plan names (audit_<table>,
    # masking_<table>, published, budget_<target>, claims).
    families = {"audit", "masking", "published", "budget", "claims"}
    assert (REPO / "workflow" / "report" / "claims.rst").is_file()
    assert set(figures) | set(tables) <= set(experiments) | families
    for renderer in catalogue.catalogue().values():
        assert callable(catalogue.load(renderer.kind, renderer.name)), renderer


# --------------------------------------------------------------------------- report layer
def test_evaluations_are_read_in_percent_and_duplicates_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pd.DataFrame({"attack": ["natural", "pgd20"], "accuracy": [0.8125, 0.5]}).to_parquet(path)
    frame = read.read_eval(path)
    assert frame["accuracy_pct"].tolist() == [81.25, 50.0] and "accuracy" not in frame
    rec = read.EvalRecord(str(path), "AT", 0, "best")
    long = read.collect_evals([rec, read.EvalRecord(str(path), "AT", 1, "best")])
    assert len(long) == 4 and set(long["seed"]) == {0, 1}
    with pytest.raises(DataError, match="both method 'AT', seed 0"):
        read.collect_evals([rec, rec])
    with pytest.raises(DataError, match=r"missing\.parquet"):
        read.read_eval(tmp_path / "missing.parquet")


def test_one_seed_rule_for_every_report() -> None:
    long = pd.DataFrame(
        {
            "method": ["A", "A", "A", "B"],
            "seed": [0, 1, 2, 0],
            "accuracy_pct": [50.0, 52.0, 57.0, 40.0],
        }
    )
    cells = stats.seed_stats(long, ["method"]).set_index("method")
    assert cells.loc["A", "median"] == 52.0 and cells.loc["A", "n_seeds"] == 3
    assert cells.loc["A", "std"] == pytest.approx(pd.Series([50.0, 52.0, 57.0]).std(ddof=1))
    assert math.isnan(cells.loc["B", "std"])  # one seed: no spread
    assert text.cell(40.0, math.nan) == "40.00" and stats.spread(math.nan) == 0.0
    assert text.cell(52.0, 3.6056) == "52.00 ± 3.61"


def test_model_titles_never_print_unset_shapes() -> None:
    from gair.models import model_title

    assert model_title("wrn") == "WRN-34-10" and model_title("wrn", 32, 10) == "WRN-32-10"
    assert model_title("resnet18", None, 4) == "ResNet-18 (width 4)"
    assert model_title("mlp", 1, 64) == "MLP 1x64" and model_title("smallcnn") == "SmallCNN"
