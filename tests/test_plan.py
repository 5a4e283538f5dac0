"""The plan (gair.plan) without Snakemake: config merging, run resolution, targets, the audit's
evaluation sets, errors that name their key, and the cost model's inputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from gair.errors import ConfigError
from gair.plan import Plan
from gair.plan.config import PlanError, load_config, merge
from gair.spec import RunSpec

REPO = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())


@pytest.fixture(scope="module")
def paper() -> Plan:
    return Plan(PAPER)


def test_merge_is_snakemakes_configfile_merge() -> None:
    ours = merge(copy.deepcopy(PAPER), SMOKE)
    theirs = copy.deepcopy(PAPER)
    update_config(theirs, SMOKE)
    assert ours == theirs
    assert load_config([REPO / "config" / "smoke.yaml"]) == theirs


def test_a_plan_never_changes_the_config_it_was_given() -> None:
    config = copy.deepcopy(PAPER)
    config["audit"]["samples_limit"] = 1000  # the setting that adds evaluation sets
    before = json.dumps(config, sort_keys=True)
    plan = Plan(config)
    assert json.dumps(config, sort_keys=True) == before
    assert "table1_audit" in plan.evaluations and "table1_audit" not in config["evaluations"]
    assert plan.evaluations["table1"]["attacks"] == ["natural", "pgd20", "pgd_plus"]


def test_targets_come_from_the_config_kinds(paper: Plan) -> None:
    assert paper.of_kind("figure")[:3] == ["fig2", "fig5", "fig6"]
    assert set(paper.of_kind("table")) == {"table1", "table2", "table3"}
    assert paper.of_kind("figure_table") == ["tradeoff"]
    assert "tradeoff" not in paper.of_kind("figure", "figure_table", paper_only=True)
    assert len(paper.outputs("figures")) == 3 * len(paper.of_kind("figure", paper_only=True))
    every = paper.outputs("all")
    assert "figures/tradeoff.png" in every and "results/tables/audit_table1.csv" in every


def test_runs_resolve_in_the_documented_order(paper: Plan) -> None:
    spec, epochs = paper.resolve("fig2", "eps", "4/255")
    # preset capacity_cifar10, then the run's eps, then alpha = eps * alpha_per_eps
    assert (spec.model, spec.method, spec.eps, epochs) == ("resnet18", "at", 4 / 255, 100)
    assert spec.alpha == pytest.approx(1 / 255)
    # runs with equal settings are one run, however many targets use them
    fig3 = {e.run for _, _, e in paper.entries("fig3")}
    fig4 = {e.run for _, _, e in paper.entries("fig4")}
    assert len(fig3 & fig4) == 1
    assert len(paper.target_runs("table1")) == 20


def test_smoke_rescaling_and_the_scaled_snapshot() -> None:
    smoke = Plan(load_config([REPO / "config" / "smoke.yaml"]))
    spec = smoke.runs[smoke.target_runs("fig7")[0]]
    # Epoch 30 of 100 starts after 29% of training; 29% of 10 epochs is 2.9, so after 3: the
    # smoke run's epoch 4. Epoch 60 starts after 59%: 5.9 of 10, after 6, epoch 7.
    assert spec.epochs == 10 and spec.snapshots == [4] and spec.milestones == [4, 7]
    entry = next(e for _, _, e in smoke.entries("fig7"))
    assert entry.geometry == ("kappa_pca", "epoch4") and entry.paper_epochs == 100
    iaat = next(smoke.runs[e.run] for _, label, e in smoke.entries("tradeoff") if label == "IAAT")
    assert iaat.extra["iaat_warmup"] == 1.0  # IAAT's 10 of 100 epochs, kept at least one


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        # a bad setting is named where it is written, not under a run that uses it
        ({"presets": {"c3_cifar10": {"lamda": 1}}}, ["config presets.c3_cifar10", "'lamda'"]),
        ({"evaluations": {"fig21": {"attacks": ["pgd0"]}}}, ["evaluations.fig21", "'pgd0'"]),
        ({"experiments": {"table1": {"columns": ["pgd_plsu"]}}}, ["table1.columns", "pgd_plsu"]),
        ({"experiments": {"fig4": {"preset": "nope"}}}, ["experiments.fig4.preset", "'nope'"]),
        ({"audit": {"tables": {"table1": "ATT"}}}, ["audit.tables.table1", "'ATT'"]),
        ({"experiments": {"fig4": {"kind": "plot"}}}, ["experiments.fig4.kind", "figure"]),
        (
            {"experiments": {"fig4": {"groups": {"methods": {"runs": {"AT": {"method": "atx"}}}}}}},
            ["experiments.fig4.groups.methods.runs.AT", "'atx'", "gairat"],
        ),
        (
            {"experiments": {"fig3": {"groups": {"toy": {"runs": {"moons": {"dataset": "mns"}}}}}}},
            ["experiments.fig3.groups.toy.runs.moons", "'mns'", "circles"],
        ),
        # a misspelt model is one line at plan time, not a failed training job
        (
            {
                "experiments": {
                    "fig16": {"groups": {"at": {"runs": {"SmallCNN": {"model": "resnt18"}}}}}
                }
            },
            ["experiments.fig16.groups.at.runs.SmallCNN", "'resnt18'", "resnet18", "wrn"],
        ),
        (
            {"presets": {"capacity_cifar10": {"model": "resnet19"}}},
            ["capacity_cifar10", "'resnet19'"],
        ),
    ],
)
def test_bad_configs_name_the_key(change: dict, needles: list[str]) -> None:
    config = merge(copy.deepcopy(PAPER), change)
    with pytest.raises(ConfigError) as err:
        Plan(config)
    text = str(err.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, (needle, text)


def test_plan_errors_are_config_errors_with_the_key_first() -> None:
    err = PlanError("experiments.fig4", "something")
    assert isinstance(err, ConfigError) and str(err) == "config experiments.fig4: something"


def test_cost_model_reads_the_method_and_attack_registries(paper: Plan) -> None:
    names = {label: e.run for _, label, e in paper.entries("tradeoff") if e.seed == 0}
    at, trades = paper.gpu_hours(names["AT"]), paper.gpu_hours(names["TRADES"])
    iaat = paper.gpu_hours(names["IAAT"])
    assert at < trades < iaat  # one more forward-backward batch; two more attacks
    table1 = paper.target_runs("table1")[0]
    # standard AutoAttack dominates an audited checkpoint's evaluation
    assert paper.eval_hours(table1, "table1") > 5 * paper.eval_hours(table1, "fig21") / 3


def test_target_runs_and_unknown_targets(paper: Plan) -> None:
    assert paper.target_runs("audit") == paper.target_runs("table1") + paper.target_runs("table2")
    with pytest.raises(ConfigError, match=r"target 'fig9' is unknown.*fig4"):
        paper.target_runs("fig9")


def test_every_run_of_the_paper_config_is_a_valid_spec(paper: Plan) -> None:
    for name, spec in paper.runs.items():
        assert RunSpec.from_dict(spec.to_dict()).run_name() == name


# --------------------------------------------------------------------------- evaluation costs
# Forward-backward passes per test point, by hand: natural one forward (1/3), FGSM one step,
# PGD-k k steps, PGD+ 5 restarts x 40 steps, CW 30 and LSA 20 steps, AutoAttack about 2000
# (standard) or 70 (cheap).
PASSES = {"natural": 1 / 3, "fgsm": 1, "pgd1": 1, "pgd20": 20, "pgd_plus": 200, "cw": 30,
          "lsa": 20, "autoattack": 2000, "autoattack_cheap": 70}  # fmt: skip


def test_the_cost_model_prices_every_attack_of_the_registry(tmp_path: Path) -> None:
    """Costs come from the registry's entries only: an evaluation set may list any of them
    (fgsm made the estimate, the SLURM runtime and `protocol` fail before)."""
    from gair.cli import main
    from gair.evaluation import registry

    names = [name for attack in registry.ATTACKS for name in attack.examples]
    assert sorted(names) == sorted(PASSES)  # every entry has a priced example
    config = copy.deepcopy(PAPER)
    config["evaluations"]["every"] = dict(config["evaluations"]["fig21"], attacks=names)
    config["evaluations"]["pgd20"] = dict(config["evaluations"]["fig21"], attacks=["pgd20"])
    config["experiments"]["fig21"]["evaluation"] = "every"
    config["claims"] = []  # Fig. 21's claims read PGD-10..100, which this set renames
    plan = Plan(config)
    run = plan.target_runs("fig21")[0]
    every, pgd20 = plan.eval_hours(run, "every"), plan.eval_hours(run, "pgd20")
    assert every / pgd20 == pytest.approx(sum(PASSES.values()) / 20, rel=1e-12)
    estimate = plan.estimate("fig21")
    assert estimate["evaluations"] == 8 and estimate["eval_hours"] == pytest.approx(8 * every)
    path = tmp_path / "every.yaml"
    path.write_text(yaml.safe_dump({"evaluations": {"fig21": {"attacks": names}}, "claims": []}))
    assert main(["protocol", "fig21", "--configfile", str(path)]) == 0
