"""Claims and their verdicts (gair.report.claims) on synthetic runs whose answer is known: a
clear gain is supported, a clear loss contradicted, noise inconclusive, a missing file not
run; each statistic against an independent computation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from paired import one_seed_interval
from scipy import stats as sps

from gair.errors import ConfigError
from gair.report import claims, stats
from gair.report.manifest import Manifest

RNG = np.random.default_rng(0)


def write_eval_points(path: Path, correct: dict[str, np.ndarray]) -> str:
    n = len(next(iter(correct.values())))
    pd.DataFrame({"index": range(n), "label": 0, **correct}).to_parquet(path)
    return str(path)


def write_run(
    root: Path,
    name: str,
    seed: int,
    test: dict[str, np.ndarray] | None = None,
    train: dict[str, np.ndarray] | None = None,
    *,
    dataset: str = "digits",
    lrs: list[float] | None = None,
    hists: list[list[int]] | None = None,
    best_epoch: int = 2,
) -> dict[str, Any]:
    """A run folder with metrics (epochs 1..E, the spec in the metadata) and training's
    per-point results at its last epoch E and at ``best_epoch``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / f"{name}-s{seed}"
    folder.mkdir(parents=True)
    epochs = len(lrs) if lrs else 3
    frame = pd.DataFrame(
        {
            "epoch": range(1, epochs + 1),
            "lr": lrs or [0.1] * epochs,
            "kappa_hist": hists or [[1, 1]] * epochs,
            "best_epoch": [min(e, best_epoch) for e in range(1, epochs + 1)],
        }
    )
    table = pa.Table.from_pandas(frame).replace_schema_metadata(
        {"gair.spec": json.dumps({"dataset": dataset, "seed": seed})}
    )
    pq.write_table(table, folder / "metrics.parquet")
    rows = []
    for epoch in (best_epoch, epochs):
        for split, results in (("test", test or {}), ("train", train or {})):
            for attack, correct in results.items():
                rows += [
                    {
                        "epoch": epoch,
                        "split": split,
                        "attack": attack,
                        "index": i,
                        "correct": bool(c),
                    }
                    for i, c in enumerate(correct)
                ]
    pd.DataFrame(rows).to_parquet(folder / "points.parquet")
    return {"run": folder.name, "seed": seed, "metrics": str(folder / "metrics.parquet"),
            "train_points": str(folder / "points.parquet")}  # fmt: skip


def manifest_for(entries: list[dict], groups: dict[str, dict[str, list[dict]]]) -> Manifest:
    return Manifest.from_json(
        {"name": "claims", "renderer": "claims", "claims": entries, "groups": groups}
    )


def gain_entry(**more: Any) -> dict:
    return {
        "id": "g", "paper": "Sec. 4", "quote": "A beats B", "from": "fig", "statistic": "gain",
        "pairs": [["A", "B"]], "quantity": {"epoch": "last", "split": "test", "attack": "pgd20"},
        **more,
    }  # fmt: skip


def paired_runs(tmp_path: Path, shift: str, seeds: int = 3, n: int = 600) -> dict:
    """Runs A and B, ``seeds`` seeds each, on the same n test points: A wins 15% of the points
    B loses (``gain``), the reverse (``loss``), or swaps as many as it wins (``noise``)."""
    groups: dict[str, list[dict]] = {"a": [], "b": []}
    for seed in range(seeds):
        base = RNG.random(n) < 0.5
        other = base.copy()
        flips = RNG.random(n) < 0.15
        if shift == "gain":
            other = other | flips
        elif shift == "loss":
            other = other & ~flips
        else:
            swap = RNG.random(n) < 0.1
            other = np.where(swap, ~base, base)
        groups["a"].append(write_run(tmp_path / "a", "A", seed, {"pgd20": other}))
        groups["b"].append(write_run(tmp_path / "b", "B", seed, {"pgd20": base}))
    return groups


@pytest.mark.parametrize(
    ("shift", "verdict"),
    [("gain", "supported"), ("loss", "contradicted"), ("noise", "inconclusive")],
)
def test_each_verdict_comes_out_of_runs_built_to_give_it(
    tmp_path: Path, shift: str, verdict: str
) -> None:
    groups = paired_runs(tmp_path, shift)
    manifest = manifest_for([gain_entry()], {"g-a-vs-b": groups})
    (result,) = claims.judge_all(manifest)
    assert result.verdict == verdict
    a = np.vstack(
        [pd.read_parquet(i["train_points"]).query("epoch == 3")["correct"] for i in groups["a"]]
    )
    b = np.vstack(
        [pd.read_parquet(i["train_points"]).query("epoch == 3")["correct"] for i in groups["b"]]
    )
    assert result.estimate.value == pytest.approx(100 * (a.mean() - b.mean()))
    if verdict == "inconclusive":
        assert result.estimate.low < 0 < result.estimate.high
        assert result.estimate.detectable > 0


def test_one_seed_gain_is_the_paired_interval(tmp_path: Path) -> None:
    groups = paired_runs(tmp_path, "gain", seeds=1)
    (result,) = claims.judge_all(manifest_for([gain_entry()], {"g-a-vs-b": groups}))
    a = pd.read_parquet(groups["a"][0]["train_points"]).query("epoch == 3")["correct"].to_numpy()
    b = pd.read_parquet(groups["b"][0]["train_points"]).query("epoch == 3")["correct"].to_numpy()
    low, high = one_seed_interval(a, b)
    assert (result.estimate.low, result.estimate.high) == (
        pytest.approx(low),
        pytest.approx(high),
    )


def test_a_missing_file_is_not_run_and_says_why(tmp_path: Path) -> None:
    groups = paired_runs(tmp_path, "gain", seeds=1)
    groups["b"][0]["train_points"] = str(tmp_path / "nope.parquet")
    (result,) = claims.judge_all(manifest_for([gain_entry()], {"g-a-vs-b": groups}))
    assert result.verdict == "not run" and "missing" in result.reason


def test_a_margin_and_an_error_measure(tmp_path: Path) -> None:
    """Errors flip the sign; a margin of -1 point accepts a loss smaller than one point."""
    groups = paired_runs(tmp_path, "gain", seeds=2)
    entry = gain_entry(measure="error", direction="less")
    (as_error,) = claims.judge_all(manifest_for([entry], {"g-a-vs-b": groups}))
    (as_acc,) = claims.judge_all(manifest_for([gain_entry()], {"g-a-vs-b": groups}))
    assert as_error.estimate.value == pytest.approx(-as_acc.estimate.value)
    assert (as_error.estimate.low, as_error.estimate.high) == (
        pytest.approx(-as_acc.estimate.high),
        pytest.approx(-as_acc.estimate.low),
    )
    assert as_error.verdict == "supported"
    loss = paired_runs(tmp_path / "loss", "noise", seeds=3, n=3000)
    (within,) = claims.judge_all(manifest_for([gain_entry(margin=-5.0)], {"g-a-vs-b": loss}))
    assert within.verdict == "supported"


def test_a_gap_between_two_quantities_of_one_run(tmp_path: Path) -> None:
    """Adversarial minus natural training error on the same training points (Fig. 2)."""
    nat = RNG.random(500) < 0.99
    adv = nat & (RNG.random(500) < 0.6)
    run = write_run(tmp_path, "R", 0, train={"nat": nat, "adv": adv})
    entry = {
        "id": "cap", "paper": "Sec. 3.1", "quote": "q", "from": "fig", "statistic": "gap",
        "labels": ["R"], "quantity": {"epoch": "last", "split": "train", "attack": "adv"},
        "versus": {"attack": "nat"}, "measure": "error",
    }  # fmt: skip
    (result,) = claims.judge_all(manifest_for([entry], {"cap": {"a": [run]}}))
    assert result.estimate.value == pytest.approx(100 * ((1 - adv.mean()) - (1 - nat.mean())))
    # One run: described ("this run"), its marginal interval clear of 0.
    assert result.verdict == "this run" and result.reason == claims.ONE_SEED
    assert stats.verdict(result.estimate, "greater") == "supported"


def test_best_of_compares_with_the_strongest_other(tmp_path: Path) -> None:
    n = 800
    base = RNG.random(n) < 0.5
    strong, weak, tanh = base.copy(), base.copy(), base.copy()
    strong[:100] = True
    tanh[:100] = True  # as good as the strongest other: no claim that it is better
    runs = {
        "a": [write_run(tmp_path / "t", "tanh", 0, {"pgd20": tanh})],
        "best_of:0": [write_run(tmp_path / "w", "weak", 0, {"pgd20": weak})],
        "best_of:1": [write_run(tmp_path / "s", "strong", 0, {"pgd20": strong})],
    }
    entry = gain_entry(pairs=None, labels=["tanh"], best_of=["weak", "strong"])
    del entry["pairs"]
    (result,) = claims.judge_all(manifest_for([entry], {"g": runs}))
    assert result.estimate.value == pytest.approx(0.0)
    assert result.verdict == "this run"
    assert stats.verdict(result.estimate, "greater") == "inconclusive"


def test_spearman_of_kappa_and_the_logit_margin(tmp_path: Path) -> None:
    n = 300
    labels = RNG.integers(0, 3, n)
    logits = RNG.normal(size=(n, 3))
    margin = logits[np.arange(n), labels] - np.where(
        np.eye(3, dtype=bool)[labels], -np.inf, logits
    ).max(axis=1)
    kappa = np.clip(np.round(3 + 2 * margin + RNG.normal(0, 0.5, n)), 0, 10)
    path = tmp_path / "geometry.parquet"
    frame = pd.DataFrame({"label": labels, "kappa": kappa})
    for c in range(3):
        frame[f"logit{c}"] = logits[:, c]
    frame.to_parquet(path)
    np.testing.assert_allclose(claims.logit_margin(frame), margin)
    run = {"run": "r", "seed": 0, "geometry": str(path)}
    entry = {"id": "sp", "paper": "Fig. 3", "quote": "q", "from": "fig3",
             "statistic": "spearman", "labels": ["AT"]}  # fmt: skip
    (result,) = claims.judge_all(manifest_for([entry], {"sp": {"a": [run]}}))
    assert result.estimate.value == pytest.approx(sps.spearmanr(kappa, margin).statistic)
    assert result.verdict == "this run"  # one geometry job of one run
    assert stats.verdict(result.estimate, "greater") == "supported"


def test_kappa_leap_by_hand(tmp_path: Path) -> None:
    """Kappa means 2, 3, 6 at epochs 2, 3, 4, the LR dropping at epoch 4: the leap is
    (6 - 3) - (3 - 2) = 2 PGD steps; the variance adds the epochs' as independent."""
    hists = [[0, 10, 0, 0, 0, 0, 0], [0, 0, 10, 0, 0, 0, 0], [0, 0, 5, 5, 0, 0, 0],
             [0, 0, 0, 0, 0, 5, 5]]  # fmt: skip
    run = write_run(tmp_path, "AT", 0, lrs=[0.1, 0.1, 0.1, 0.01], hists=hists)
    entry = {"id": "leap", "paper": "Fig. 4", "quote": "q", "from": "fig4",
             "statistic": "kappa_leap", "labels": ["AT"]}  # fmt: skip
    (result,) = claims.judge_all(manifest_for([entry], {"leap": {"a": [run]}}))
    assert result.estimate.value == pytest.approx((5.5 - 2.5) - (2.5 - 2.0))
    var = [float(np.var(v, ddof=1)) / 10 for v in ([1] * 10, [2] * 5 + [3] * 5, [5] * 5 + [6] * 5)]
    se = math.sqrt(var[2] + 4 * var[1] + var[0])
    assert result.estimate.se == pytest.approx(se)
    assert result.verdict == "this run"
    assert stats.verdict(result.estimate, "greater") == "supported"
    # Two seeds: their spread enters with 1 df (t 12.71, not z 1.96).
    other = write_run(tmp_path, "AT", 1, lrs=[0.1, 0.1, 0.1, 0.01], hists=hists[::-1][::-1])
    (two,) = claims.judge_all(manifest_for([entry], {"leap": {"a": [run, other]}}))
    assert two.estimate.df == 1.0
    half = two.estimate.high - two.estimate.value
    assert half == pytest.approx(sps.t.ppf(0.975, 1) * two.estimate.se)


def test_a_reference_constant_is_only_compared_on_its_own_dataset(tmp_path: Path) -> None:
    groups = paired_runs(tmp_path, "gain", seeds=1)
    entry = {"id": "t3", "paper": "Table 3", "quote": "q", "from": "table3",
             "statistic": "reference", "labels": ["A"], "reference": 59.53,
             "dataset": "cifar10", "quantity": {"epoch": "last", "attack": "pgd20"}}  # fmt: skip
    (result,) = claims.judge_all(manifest_for([entry], {"t3": {"a": groups["a"]}}))
    assert result.verdict == "not run" and "cifar10" in result.reason and "digits" in result.reason


def test_a_share_of_a_gain_within_noise_is_inconclusive(tmp_path: Path) -> None:
    n = 400
    base = RNG.random(n) < 0.5
    noisy = np.where(RNG.random(n) < 0.05, ~base, base)
    a = {"pgd20": noisy, "autoattack": base}
    b = {"pgd20": base, "autoattack": base}
    run_a = {
        "run": "a",
        "seed": 0,
        "eval_point_files": {"last": write_eval_points(tmp_path / "a.parquet", a)},
    }
    run_b = {
        "run": "b",
        "seed": 0,
        "eval_point_files": {"last": write_eval_points(tmp_path / "b.parquet", b)},
    }
    entry = {"id": "sh", "paper": "Not in the paper", "quote": "q", "from": "table1",
             "statistic": "share", "pairs": [["A", "B"]],
             "quantity": {"checkpoint": "last", "attack": "autoattack"},
             "versus": {"attack": "pgd20"}}  # fmt: skip
    (result,) = claims.judge_all(manifest_for([entry], {"sh-a-vs-b": {"a": [run_a], "b": [run_b]}}))
    assert result.verdict == "inconclusive" and result.estimate is None
    assert claims.WITHIN_NOISE in result.reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"statistic": "mean"}, "statistic 'mean' is unknown"),
        ({"colour": "red"}, "key 'colour' is unknown"),
        ({"direction": "up"}, "direction 'up' is invalid"),
        ({"quantity": {"epoch": "last", "attack": "pgd7x"}}, "training attack 'pgd7x'"),
        ({"quantity": {"checkpoint": "last", "epoch": "last"}}, "names a `checkpoint`"),
        ({"statistic": "gap"}, "`pairs` is for gain and share claims"),
    ],
)
def test_a_bad_entry_is_one_line_naming_it(change: dict, message: str) -> None:
    entry = {**gain_entry(), **change}
    with pytest.raises(ConfigError, match=message):
        claims.expand([entry])


def test_expansion_names_each_claim_and_refuses_twins() -> None:
    entry = gain_entry(quantity={"checkpoint": ["best", "last"], "attack": ["pgd20", "pgd_plus"]})
    ids = [c.id for c in claims.expand([entry])]
    assert ids == ["g-a-vs-b-best-pgd20", "g-a-vs-b-best-pgd-plus", "g-a-vs-b-last-pgd20",
                   "g-a-vs-b-last-pgd-plus"]  # fmt: skip
    with pytest.raises(ConfigError, match="is given twice"):
        claims.expand([entry, entry])
    lam = gain_entry(pairs=[["lambda = 1", "AT"], ["lambda = -1", "AT"]])
    assert [c.id for c in claims.expand([lam])] == ["g-lambda-1-vs-at", "g-lambda-minus-1-vs-at"]


def test_the_paper_value_of_a_table_gain_is_the_papers_medians() -> None:
    from gair.report.paper_numbers import TABLE1_DIFF

    entry = gain_entry(
        pairs=[["GAIRAT", "AT"]], paper_value="table",
        quantity={"checkpoint": ["best", "last"], "attack": "pgd20"},
    )  # fmt: skip
    entry["from"] = "table1"
    best, last = claims.expand([entry])
    assert best.paper_value == pytest.approx(TABLE1_DIFF["GAIRAT"]["best"]["pgd20"])
    assert last.paper_value == pytest.approx(TABLE1_DIFF["GAIRAT"]["last"]["pgd20"])


def test_the_table_and_figure_say_the_rule_and_every_verdict(tmp_path: Path) -> None:
    from gair.report.figures.claims import claims_figure

    groups = paired_runs(tmp_path, "gain", seeds=2)
    missing = {
        "a": [dict(groups["a"][0], train_points=str(tmp_path / "gone"))],
        "b": groups["b"][:1],
    }
    entries = [gain_entry(), gain_entry(id="h")]
    manifest = manifest_for(entries, {"g-a-vs-b": groups, "h-a-vs-b": missing})
    frame = claims.write_claims(manifest, tmp_path / "claims")
    assert list(frame["verdict"]) == ["supported", "not run"]
    md = (tmp_path / "claims.md").read_text()
    assert (
        "2 claims: 1 supported, 0 contradicted, 0 inconclusive, 0 this run, 0 descriptive, "
        "1 not run." in md
    )
    assert "Multiplicity: q = 0.05 over 1 entries (1 claims with a p-value); 1 entries and " in md
    assert "\u201cA beats B\u201d" in md and "Verdict rule" in md
    assert pd.read_csv(tmp_path / "claims.csv")["verdict"].tolist() == ["supported", "not run"]
    fig = claims_figure(manifest)
    assert "1 supported" in fig._suptitle.get_text()


def test_the_paper_config_expresses_every_claim_the_plan_can_resolve() -> None:
    from gair.plan import Plan
    from gair.plan.config import load_config

    plan = Plan(load_config())
    entries = {c.entry for c in plan.claims}
    for needed in ("capacity-adv-error-above-natural", "attackable-near-boundary",
                   "kappa-leaps-at-lr-decay", "at-overfits", "gairat-above-at", "lr-schedules",
                   "tanh-best", "table1-robustness", "table2", "table3-gair-rst-above-rst",
                   "gain-holds-for-more-pgd-steps", "gain-share-kept"):  # fmt: skip
        assert needed in entries, needed
    manifest = plan.claims_manifest()
    for claim in plan.claims:
        assert manifest.groups[claim.id]["a"], claim.id  # every claim reads some run


def test_a_claim_naming_an_unknown_label_is_one_line_at_plan_time() -> None:
    import copy

    from gair.plan import Plan
    from gair.plan.config import load_config

    config = copy.deepcopy(load_config())
    config["claims"] = [gain_entry(**{"from": "fig4", "pairs": [["GAIRAT omega_9", "AT"]]})]
    with pytest.raises(ConfigError, match="'GAIRAT omega_9' is not a run label of fig4"):
        Plan(config)


def test_every_report_product_of_the_plan_has_a_declared_renderer() -> None:
    """A product whose renderer the catalogue cannot find fails only when its job runs."""
    from gair.plan import Plan
    from gair.plan.config import load_config
    from gair.report import catalogue

    plan = Plan(load_config())
    manifests = plan.job_inputs()
    products = [(p.command, job) for job in plan.report_jobs() for p in job.products]
    assert {("table", "claims"), ("figure", "claims")} <= {(c, j.name) for c, j in products}
    for command, job in products:
        draws = manifests[job.manifest].get("renderer") or job.name
        assert catalogue.renderer(command, draws), (command, job.name)


def test_claims_present_only_judges_what_is_there_and_trains_nothing(tmp_path: Path) -> None:
    import copy

    from gair.plan import Plan
    from gair.plan.config import load_config

    config = copy.deepcopy(load_config())
    config["results"] = str(tmp_path / "results")
    full = Plan(config)
    assert full.estimate("claims")["runs"] > 0 and full.claims_inputs()
    config["claims_present_only"] = True
    present = Plan(config)
    assert present.estimate("claims")["runs"] == 0 and present.claims_inputs() == []
    job = next(j for j in present.report_jobs() if j.name == "claims")
    assert job.inputs == []  # the claims job runs at once; every claim is then "not run"
