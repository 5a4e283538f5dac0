"""The sensitivity target: one-factor-at-a-time runs from the config (which are new, which are
the base's, which are the trade-off's), each pair's gain per variation judged by the claims'
rule against an independent computation, the answer per factor, the figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from paired import one_seed_interval

from gair.plan import Plan
from gair.plan.config import PlanError, load_config
from gair.plan.protocol import describe, format_text
from gair.report import sensitivity, stats
from gair.report.manifest import Manifest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper() -> Plan:
    return Plan(load_config())


# --------------------------------------------------------------------------- the plan
def test_each_level_changes_its_factor_alone(paper: Plan) -> None:
    """Every level's runs are the base runs with the level's settings and nothing else (a
    start equal to the method's own, or a value equal to the base's, is the base run)."""
    config = paper.config["experiments"]["sensitivity"]
    groups = paper.experiments["sensitivity"]
    base = groups["paper"]
    assert list(base) == ["AT", "GAIRAT", "TRADES", "GAIR-TRADES"]
    for factor, level, group in paper.factor_levels("sensitivity"):
        settings = config["factors"][factor][level]
        for label, entries in groups[group].items():
            for mine, theirs in zip(entries, base[label], strict=True):
                a, b = paper.runs[mine.run].identity(), paper.runs[theirs.run].identity()
                changed = {k for k in a if a[k] != b[k]}
                assert changed <= set(settings), (group, label, changed)
                assert mine.checkpoints == ("best_val",)
    runs = {g: {label: [e.run for e in es] for label, es in ls.items()} for g, ls in groups.items()}
    # The paper's levels are the base runs: weight decay 5e-4, eval-mode BatchNorm, eps
    # 0.031, piecewise; the start equals AT's and GAIRAT's own when uniform and TRADES'
    # when Gaussian.
    for group in ("weight decay: 5e-4", "BatchNorm in the attack: eval", "eps: 0.031",
                  "LR schedule: piecewise"):  # fmt: skip
        assert runs[group] == runs["paper"], group
    for level, same in (("uniform", ("AT", "GAIRAT")), ("Gaussian", ("TRADES", "GAIR-TRADES"))):
        for label in runs["paper"]:
            equal = runs[f"attack start: {level}"][label] == runs["paper"][label]
            assert equal == (label in same), (level, label)
    # 4 methods x 5 seeds: the base, a new level each of weight decay, BatchNorm, eps and the
    # schedule, two new starts; best_val is each base run's own (no second run).
    assert len(paper.target_runs("sensitivity")) == 20 * (1 + 4 + 2)
    # Every new level at best_val; the base at best, best_val and last.
    evaluations = paper.target_evaluations("sensitivity")
    assert len(evaluations) == 20 * 6 + 20 * 3
    base_runs = {r for label in runs["paper"].values() for r in label}
    assert {r for r, c, _ in evaluations if c in ("best", "last")} == base_runs
    assert len([1 for _, c, _ in evaluations if c == "best_val"]) == 20 * 7
    assert all(paper.runs[r].selection_points == 1000 for r, _, _ in evaluations)
    assert {e[2] for e in evaluations} == {"tradeoff"}


def test_the_layout_marks_the_papers_setting_per_pair(paper: Plan) -> None:
    layout = paper.manifest("sensitivity").sensitivity
    assert layout["pairs"] == [["GAIRAT", "AT"], ["GAIR-TRADES", "TRADES"]]
    by_level = {(v["factor"], v["level"]): v for v in layout["variations"]}
    assert by_level["weight decay", "5e-4"]["paper"] == [True, True]
    assert by_level["weight decay", "2e-4"]["paper"] == [False, False]
    assert by_level["attack start", "uniform"]["paper"] == [True, False]
    assert by_level["attack start", "Gaussian"]["paper"] == [False, True]
    selection = [(v["level"], v["group"], v["checkpoint"], v["paper"]) for v in
                 layout["variations"] if v["factor"] == "selection rule"]  # fmt: skip
    # The compared checkpoint is best_val (held out): the paper's settings there are the base.
    assert selection == [
        ("best (test set)", "paper", "best", [False, False]),
        ("best_val (held out)", "paper", "best_val", [True, True]),
        ("last", "paper", "last", [False, False]),
    ]


def test_the_smoke_config_shares_the_trade_offs_runs_and_evaluations() -> None:
    smoke = Plan(load_config([REPO / "config" / "smoke.yaml"]))
    base = {e.run for e in smoke.experiments["sensitivity"]["paper"]["AT"]}
    trade = set(smoke.target_runs("tradeoff"))
    assert base <= trade
    shared = set(smoke.target_evaluations("sensitivity")) & set(
        smoke.target_evaluations("tradeoff")
    )
    assert len(shared) == 4 * 2  # the base runs' best and last
    assert len(set(smoke.target_runs("sensitivity")) - trade) == 8  # 2e-4 and one new start
    factors = [f for f, _, _ in smoke.factor_levels("sensitivity")]
    assert list(dict.fromkeys(factors)) == ["weight decay", "attack start"]


def test_protocol_prints_every_run_of_the_target(paper: Plan) -> None:
    printed = format_text(describe(paper, "sensitivity"))
    names = [line[3:] for line in printed.splitlines() if line.startswith("== ")]
    assert names == paper.target_runs("sensitivity") and len(names) == 140
    assert "companion" not in printed  # best_val: each run's own selection split
    assert printed.count("best_val: chosen on 1000 of the 10000 evaluated test points") == 140
    assert "sensitivity / attack start: none / GAIRAT / seed 4" in printed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pairs": [["GAIRAT", "MART"]]}, "'MART' is not a run label"),
        ({"pairs": None}, "needs `pairs`"),
        ({"factors": {"weight decay": {"big": {"weight_decay": -1.0}}}}, "weight_decay = -1.0"),
    ],
)
def test_a_bad_sensitivity_config_names_its_key(change: dict, message: str) -> None:
    config = load_config()
    config["experiments"]["sensitivity"].update(change)
    with pytest.raises(PlanError, match=r"experiments\.sensitivity"):
        try:
            Plan(config)
        except PlanError as err:
            assert message in str(err)
            raise


# --------------------------------------------------------------------------- the report
def answer_manifest(
    tmp_path: Path, seed: int = 0
) -> tuple[Manifest, dict[tuple[str, str, str], Any]]:
    """Two factor levels and a base, one seed, 400 points: GAIRAT beats AT clearly under
    PGD-20 at the base and at level "a" and loses clearly at level "b"; under AutoAttack
    it beats AT at the base only (at "a" the two agree on every point)."""
    rng = np.random.default_rng(2 + seed)
    at = rng.random(400) < 0.5
    wins = at.copy()
    wins[~at] = rng.random(int((~at).sum())) < 0.5  # about 25 points better
    losses = at & (rng.random(400) < 0.5)  # about 25 points worse
    plan = {  # (group, label, attack) -> per-point correctness
        ("base", "GAIRAT", "pgd20"): wins, ("base", "GAIRAT", "autoattack"): wins,
        ("a", "GAIRAT", "pgd20"): wins, ("a", "GAIRAT", "autoattack"): at,
        ("b", "GAIRAT", "pgd20"): losses, ("b", "GAIRAT", "autoattack"): at,
    }  # fmt: skip
    for group in ("base", "a", "b"):
        for attack in ("pgd20", "autoattack"):
            plan[group, "AT", attack] = at
    groups: dict = {}
    for group in ("base", "a", "b"):
        for label in ("AT", "GAIRAT"):
            points = tmp_path / f"{group}-{label}-{seed}.points.parquet"
            correct = {a: plan[group, label, a] for a in ("pgd20", "autoattack")}
            pd.DataFrame({"index": range(400), "label": 0, **correct}).to_parquet(points)
            summary = tmp_path / f"{group}-{label}-{seed}.parquet"
            pd.DataFrame([{"attack": "pgd20", "accuracy": 0.5, "n": 400}]).to_parquet(summary)
            groups.setdefault(group, {})[label] = [
                {"run": f"{group}-{label}", "seed": seed, "evals": {"best": str(summary)},
                 "eval_point_files": {"best": str(points)}}
            ]  # fmt: skip
    variations = [
        {"factor": "f", "level": lev, "group": g, "checkpoint": "best", "paper": [g == "base"]}
        for lev, g in (("paper", "base"), ("a", "a"), ("b", "b"))
    ]
    manifest = Manifest.from_json({
        "name": "sensitivity", "title": "t", "groups": groups,
        "columns": ["pgd20", "autoattack"], "checkpoints": ["best"],
        "sensitivity": {"pairs": [["GAIRAT", "AT"]], "variations": variations},
    })  # fmt: skip
    return manifest, plan


def test_each_gain_is_the_paired_interval_and_the_answers_follow_the_rule(
    tmp_path: Path,
) -> None:
    manifest, plan = answer_manifest(tmp_path)
    frame = sensitivity.gains(manifest)
    assert len(frame) == 3 * 2
    for r in frame.to_dict("records"):
        group = {"paper": "base"}.get(r["level"], r["level"])
        a = 100.0 * plan[group, "GAIRAT", r["attack"]]
        b = 100.0 * plan[group, "AT", r["attack"]]
        low, high = one_seed_interval(a / 100.0, b / 100.0)
        if (a == b).all():  # no point told apart: the score interval, never zero width
            assert r["gain"] == 0.0 and r["low"] < 0.0 < r["high"]
        assert r["gain"] == pytest.approx((a - b).mean())
        assert (r["low"], r["high"]) == (pytest.approx(low), pytest.approx(high))
        # One seed: described ("this run"); the interval alone would have said this.
        want = "supported" if low > 0 else "contradicted" if high < 0 else "inconclusive"
        assert r["verdict"] == "this run"
        assert stats.decide(r["low"], r["high"], "greater") == want
    marginal = {(r["level"], r["attack"]): stats.decide(r["low"], r["high"], "greater")
                for r in frame.to_dict("records")}  # fmt: skip
    assert marginal["b", "pgd20"] == "contradicted" and marginal["a", "pgd20"] == "supported"
    lines = sensitivity.answers(frame)
    assert lines == {
        "f": "GAIRAT's gain over AT is described for one seed only (this run) under PGD-20 and "
        "AutoAttack."
    }
    sensitivity.write_sensitivity(manifest, tmp_path / "out")
    md = (tmp_path / "out.md").read_text()
    assert "| f | paper (the paper's) |" in md and lines["f"] in md
    assert "[95% interval over test points only (one seed: this run, not the method)]" in md
    assert len(pd.read_csv(tmp_path / "out.csv")) == 6


def test_the_answer_rule() -> None:
    """Answers from the changes against the paper's setting, not from the levels' verdicts
    alone: a level whose own gain is inconclusive but whose change is not detectable does not
    make the gain vanish (on 3e81366 it did)."""

    def rows(*levels: tuple[str, str, str]) -> list[dict]:
        return [{"level": lev, "verdict": v, "changed": c} for lev, v, c in levels]

    base = ("paper", "supported", sensitivity.BASE)
    same, shrink, grow = sensitivity.SAME, sensitivity.SHRINKS, sensitivity.GROWS
    assert sensitivity.answer(rows(base, ("x", "supported", same))) == "holds"
    assert sensitivity.answer(rows(base, ("x", "inconclusive", same))) == "holds"
    assert sensitivity.answer(rows(base, ("x", "inconclusive", shrink))) == "vanishes when it is x"
    assert sensitivity.answer(
        rows(base, ("x", "contradicted", shrink), ("y", "supported", grow))
    ) == ("reverses when it is x; grows when it is y")
    assert sensitivity.answer(rows(base, ("x", "supported", shrink))) == "shrinks when it is x"
    weak = ("paper", "inconclusive", sensitivity.BASE)
    assert sensitivity.answer(rows(weak, ("x", "inconclusive", same))) == "is inconclusive"
    assert sensitivity.answer(rows(base, ("y", "not run", same))) == "is not run at y"
    one = rows(("paper", "this run", sensitivity.BASE), ("x", "this run", "this run"))
    assert sensitivity.answer(one) == "is described for one seed only (this run)"
    assert sensitivity.Pair("GAIR-TRADES", "TRADES").words() == "GAIR-TRADES' gain over TRADES"


def test_the_figure_draws_a_panel_per_pair_and_attack(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt
    from figure_checks import check_legends_outside

    from gair.report.figures.sensitivity import plot_sensitivity

    manifest, _ = answer_manifest(tmp_path)
    frame = sensitivity.gains(manifest)
    fig = plot_sensitivity(frame, title="t", footer="data: digits (8x8)", note="a note")
    check_legends_outside(fig)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["GAIRAT - AT\nPGD-20", "GAIRAT - AT\nAutoAttack"]
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["f: paper", "f: a", "f: b"]
    plt.close(fig)
    json.dumps(manifest.to_json())  # the manifest round-trips as the plan writes it


def test_each_levels_change_is_its_gain_minus_the_bases_paired_by_seed_and_point(
    tmp_path: Path,
) -> None:
    """Three seeds: the change is the crossed mean of (A_l - B_l) - (A_base - B_base) with its
    interval, and the answer follows the changes: under PGD-20 the gain reverses at b and
    holds at a (a change of 0); under AutoAttack it vanishes at a and b."""
    built = [answer_manifest(tmp_path, seed) for seed in range(3)]
    manifest = built[0][0]
    for other, _ in built[1:]:
        for group, labels in other.groups.items():
            for label, items in labels.items():
                manifest.groups[group][label] += items
    frame = sensitivity.gains(manifest).set_index(["level", "attack"])
    for level in ("a", "b"):
        for attack in ("pgd20", "autoattack"):
            group = level
            d = np.vstack([
                (plan[group, "GAIRAT", attack].astype(float) - plan[group, "AT", attack])
                - (plan["base", "GAIRAT", attack].astype(float) - plan["base", "AT", attack])
                for _, plan in built
            ])  # fmt: skip
            est = stats.crossed_mean(100.0 * d)
            r = frame.loc[level, attack]
            assert r["change"] == pytest.approx(est.value)
            assert (r["change_low"], r["change_high"]) == (pytest.approx(est.low),
                                                           pytest.approx(est.high))  # fmt: skip
    assert frame.loc[("paper", "pgd20"), "changed"] == sensitivity.BASE
    assert frame.loc[("a", "pgd20"), "changed"] == sensitivity.SAME
    assert frame.loc[("b", "pgd20"), "changed"] == sensitivity.SHRINKS
    lines = sensitivity.answers(sensitivity.gains(manifest))
    assert lines["f"] == (
        "GAIRAT's gain over AT reverses when it is b under PGD-20 and vanishes when it is a, b "
        "under AutoAttack."
    )
