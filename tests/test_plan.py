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
    assert paper.of_kind("figure_table") == ["tradeoff", "calibration", "sensitivity"]
    beyond = paper.of_kind("figure", "figure_table", paper_only=True)
    assert "tradeoff" not in beyond and "sensitivity" not in beyond
    assert len(paper.outputs("figures")) == 3 * len(paper.of_kind("figure", paper_only=True))
    every = paper.outputs("all")
    assert "figures/tradeoff.png" in every and "results/tables/audit_table1.csv" in every
    assert "figures/sensitivity.png" in every and "results/tables/sensitivity.csv" in every


def test_runs_resolve_in_the_documented_order(paper: Plan) -> None:
    spec, epochs = paper.resolve("fig2", "eps", "4/255")
    # preset capacity_cifar10, then the run's eps, then alpha = eps * alpha_per_eps
    assert (spec.model, spec.method, spec.eps, epochs) == ("resnet18", "at", 4 / 255, 100)
    assert spec.alpha == pytest.approx(1 / 255)
    # runs with equal settings are one run, however many targets use them
    fig3 = {e.run for _, _, e in paper.entries("fig3")}
    fig4 = {e.run for _, _, e in paper.entries("fig4")}
    assert len(fig3 & fig4) == 1
    # 4 methods x 5 seeds, as the paper: best_val is each run's own (its selection split)
    assert len(paper.target_runs("table1")) == 20
    assert len(paper.target_runs("table2")) == 10
    assert {paper.runs[r].selection_points for r in paper.target_runs("table1")} == {1000}


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
    audit, tables = (
        paper.target_runs("audit"),
        paper.target_runs("table1") + paper.target_runs("table2"),
    )
    assert len(audit) == len(tables) and set(audit) == set(tables)
    with pytest.raises(ConfigError, match=r"target 'fig9' is unknown.*fig4"):
        paper.target_runs("fig9")


def test_every_run_of_the_paper_config_is_a_valid_spec(paper: Plan) -> None:
    for name, spec in paper.runs.items():
        assert RunSpec.from_dict(spec.to_dict()).run_name() == name


# --------------------------------------------------------------------------- evaluation costs
# Forward-backward passes per test point, by hand: natural one forward (1/3), FGSM one step,
# PGD-k k steps, PGD+ 5 restarts x 40 steps, CW 30 and LSA 20 steps, AutoAttack about 2000
# (standard) or 70 (cheap).
# The masking checks' attacks: PGD-k at another radius k; AutoAttack's attacks alone at the
# standard budgets: APGD-CE 100 iterations, APGD-T 9 targets x 100, FAB-T about 2 passes x 9
# targets x 100, Square 5000 queries of one forward (a third of a pass) each, 100 when cheap.
PASSES = {"natural": 1 / 3, "fgsm": 1, "pgd1": 1, "pgd20": 20, "pgd_plus": 200, "cw": 30,
          "lsa": 20, "autoattack": 2000, "autoattack_cheap": 70, "pgd20_x0.25": 20,
          "pgd20_x4": 20, "pgd20_eps0.5": 20, "pgd100_unbounded": 100, "apgd_ce": 100,
          "apgd_t": 900, "fab_t": 1800, "square": 5000 / 3, "square_cheap": 100 / 3}  # fmt: skip


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


# --------------------------------------------------------------------------- masking checks
def test_every_audited_checkpoint_gets_a_masking_evaluation(paper: Plan) -> None:
    """`<table set>_masking`: the config's attacks at the table set's eps, step and
    AutoAttack version on the first 1000 points, for each best and last checkpoint of Tables
    1 and 2 (60; not best_val, whose runs are the same methods on fewer points); the smoke
    config checks seed 0 on 50 points with the cheap AutoAttack, which has no FAB-T."""
    assert paper.masking == {"table1": "table1_masking", "table2": "table2_masking"}
    t2 = paper.evaluations["table2_masking"]
    assert (t2["eps"], t2["alpha"], t2["aa_version"], t2["samples_limit"]) == (
        0.031,
        0.003,
        "standard",
        1000,
    )
    assert t2["attacks"] == PAPER["audit"]["masking"]["attacks"] and "fab_t" in t2["attacks"]
    masking = [e for e in paper.target_evaluations("audit") if e[2].endswith("_masking")]
    # 30 runs x best, best_val, last audited; 30 x best, last checked for masking
    assert len(masking) == 60 and len(paper.target_evaluations("audit")) == 90 + 60
    assert {c for _, c, _ in masking} == {"best", "last"}
    assert not [e for e in paper.target_evaluations("table1") if e[2].endswith("_masking")]
    smoke = Plan(load_config([REPO / "config" / "smoke.yaml"]))
    cheap = smoke.evaluations["table1_masking"]
    assert (cheap["samples_limit"], cheap["aa_version"]) == (50, "cheap")
    assert "fab_t" not in cheap["attacks"] and "square" in cheap["attacks"]
    checked = [e for e in smoke.target_evaluations("audit_table1") if e[2] == "table1_masking"]
    assert len(checked) == 4 * 2  # seed 0 of four methods, best and last
    args = smoke.evaluate_args("table1_masking")
    assert "--aa-version cheap" in args and "--samples-limit 50" in args
    manifest = smoke.masking_manifest("table1")
    assert manifest.renderer == "masking" and manifest.eps == 0.1
    items = [item for _, _, item in manifest.items()]
    assert [i.seed for i in items] == [0, 0, 0, 0]
    assert items[0].points["best"].endswith("/masking/" + items[0].run + "/best-table1_masking"
                                            ".points.parquet")  # fmt: skip
    audit_job = next(job for job in smoke.report_jobs() if job.name == "audit_table1")
    assert items[0].points["last"] in audit_job.inputs
    assert audit_job.products[-1].name == "masking_table1"


def test_masking_config_errors_name_their_key() -> None:
    config = copy.deepcopy(PAPER)
    config["audit"]["masking"]["seeds"] = [7]
    with pytest.raises(PlanError, match=r"audit.masking.seeds: table1 has no seed 7"):
        Plan(config)
    config["audit"]["masking"] = {"attacks": ["pgd20_x"]}
    with pytest.raises(ConfigError, match=r"audit.masking.attacks: attack 'pgd20_x'"):
        Plan(config)
    config["audit"]["masking"] = {"attacks": []}  # no masking checks: no jobs, no table
    plan = Plan(config)
    assert plan.masking == {} and not any("masking" in f for f in plan.outputs("audit"))


# The run names of every experiment, from the plan at the commit before the attack's start,
# BatchNorm mode, validation split, held-out selection and the sensitivity target were added
# (sha256 of the sorted names, one per line): new settings at their defaults keep every name.
# Table 1's FAT and GAIR-FAT have since moved to omega 0 (GAIR_FAT.py's default, the script
# that made Table 1): with their old omega 0.001 put back, every name is the pinned one.
EXISTING_RUNS = {
    "paper": (133, "ea29a5fbaa7f847c"),
    "smoke": (99, "7119f3d94954ded0"),
}


@pytest.mark.parametrize("name", list(EXISTING_RUNS))
def test_existing_run_names_are_unchanged(name: str) -> None:
    import hashlib

    overlays = [REPO / "config" / "smoke.yaml"] if name == "smoke" else []
    plan = Plan(load_config(overlays))
    new = ("sensitivity", "calibration")  # targets added since: runs of their own
    runs = {e.run for x in plan.experiments if x not in new for _, _, e in plan.entries(x)}
    fat = {e.run for _, label, e in plan.entries("table1") if label in ("FAT", "GAIR-FAT")}
    assert len(fat) == (10 if name == "paper" else 6)
    assert {plan.runs[r].fat_omega for r in fat} == {0.0}
    before = {plan.runs[r].with_overrides({"fat_omega": 0.001}).run_name() for r in fat}
    pinned = (runs - fat) | before
    digest = hashlib.sha256("\n".join(sorted(pinned)).encode()).hexdigest()[:16]
    assert (len(pinned), digest) == EXISTING_RUNS[name]
    # Held-out selection trains nothing more: every run of the plan is a run of an experiment.
    every = {e.run for x in plan.experiments for _, _, e in plan.entries(x)}
    assert set(plan.runs) == every
    # The calibration's first seeds are the trade-off's AT runs where it has them: one run.
    tradeoff = {e.seed: e.run for _, label, e in plan.entries("tradeoff") if label == "AT"}
    calibration = {e.seed: e.run for _, _, e in plan.entries("calibration")}
    assert len(calibration) == 10 and all(calibration[s] == r for s, r in tradeoff.items())
    if name == "paper":  # three of them, as the paper's runs have been named
        assert {"cifar10-wrn-at-s0-d1f00b3d", "cifar10-resnet18-at-s0-d38678dc",
                "cifar10-resnet18-at-s0-0c6093f4"} <= runs  # fmt: skip
