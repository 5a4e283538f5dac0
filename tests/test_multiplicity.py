"""Multiplicity control of the claims (gair.report.multiplicity) against statsmodels and hand
values, and the claims table's use of it: which claims are selected, at which level their
intervals are printed, and the verdict kinds that stay out of the tally."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_claims import gain_entry, manifest_for, paired_runs, write_eval_points

from gair.errors import ConfigError
from gair.report import claims, multiplicity, stats

FIXED = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]


def test_bh_is_statsmodels_fdr_bh() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    for p in (FIXED, list(rng.uniform(0, 0.1, 30)), list(rng.uniform(0, 1, 7)), [0.5]):
        for q in (0.05, 0.1, 0.2):
            want = multipletests(p, alpha=q, method="fdr_bh")[0]
            assert multiplicity.bh(p, q).tolist() == want.tolist(), (p, q)


def test_bh_and_simes_by_hand() -> None:
    # m = 10, q = 0.05: the thresholds 0.005, 0.010, 0.015, ...; p_(2) = 0.008 <= 0.010 is the
    # last under its line, so the two smallest are rejected.
    assert multiplicity.bh(FIXED, 0.05).tolist() == [True, True] + [False] * 8
    # Simes: min over k of 10 p_(k) / k = min(0.01, 0.04, 0.13, ...) = 0.01.
    assert multiplicity.simes(FIXED) == pytest.approx(0.01)
    assert multiplicity.simes([0.3, 0.02]) == pytest.approx(0.04)  # 2 * 0.02 / 1
    assert multiplicity.simes([]) == 1.0 and multiplicity.bh([], 0.05).tolist() == []


def test_two_level_selection_and_fcr_levels_by_hand() -> None:
    families = {"strong": [0.0001, 0.004, 0.3], "weak": [0.2, 0.6], "none": [0.9]}
    out = multiplicity.two_level(families, q=0.05)
    # Simes: strong min(3 * 0.0001, 3 * 0.004 / 2, 0.3) = 0.0003; weak min(0.4, 0.6) = 0.4;
    # none 0.9. BH over 3 families at 0.05 selects strong only: R = 1, m = 3.
    assert out["strong"].simes == pytest.approx(0.0003)
    assert [out[k].selected for k in families] == [True, False, False]
    # Within strong at q R / m = 0.05 / 3: thresholds 0.00556, 0.0111, 0.0167: two claims.
    assert out["strong"].q_within == pytest.approx(0.05 / 3)
    assert out["strong"].claims == (True, True, False)
    # Benjamini-Yekutieli: the selected ones at 1 - q' R_i / m_i = 1 - (0.05 / 3) 2 / 3.
    level = 1 - (0.05 / 3) * 2 / 3
    assert out["strong"].levels[:2] == (pytest.approx(level), pytest.approx(level))
    assert out["strong"].levels[2] == pytest.approx(1 - (0.05 / 3) * 3 / 3)
    assert out["weak"].claims == (False, False)
    assert out["weak"].levels == (pytest.approx(1 - 0.05 / 3 / 2),) * 2


def test_under_a_global_null_few_claims_are_selected() -> None:
    """30 families of 6 null claims each (uniform p-values), 400 repetitions: the share of
    repetitions with any selection stays near q (BH on independent Simes p-values), where
    marginal 95% intervals would call about 9 claims per repetition."""
    rng = np.random.default_rng(1)
    any_selected = 0
    for _ in range(400):
        families = {f"f{i}": list(rng.uniform(size=6)) for i in range(30)}
        out = multiplicity.two_level(families)
        any_selected += any(any(f.claims) for f in out.values())
    assert any_selected / 400 <= 0.08


# --------------------------------------------------------------------------- in the claims
def test_the_claims_table_adjusts_over_entries_and_keeps_a_strong_claim(tmp_path: Path) -> None:
    """A clear gain (3 seeds) in one entry and four noise entries: the gain's entry and claim
    are selected and reported at the adjusted level, the noise claims are inconclusive."""
    groups = {"g-a-vs-b": paired_runs(tmp_path / "g", "gain")}
    entries = [gain_entry()]
    for k in range(4):
        entries.append(gain_entry(id=f"n{k}"))
        groups[f"n{k}-a-vs-b"] = paired_runs(tmp_path / f"n{k}", "noise")
    verdicts = claims.judge_all(manifest_for(entries, groups))
    strong, *noise = verdicts
    assert strong.verdict == "supported" and strong.selected
    assert strong.level == pytest.approx(1 - 0.05 * 1 / 5 * 1 / 1)
    assert (strong.adjusted[0], strong.adjusted[1]) == pytest.approx(
        strong.estimate.at_level(strong.level)
    )
    assert strong.adjusted[0] < strong.estimate.low  # wider than the marginal 95% interval
    assert strong.p_value == pytest.approx(strong.estimate.p_value(0.0))
    assert all(v.verdict == "inconclusive" and not v.selected for v in noise)
    frame = claims.frame_of(verdicts)
    assert claims.family_header(frame) == (
        "Multiplicity: q = 0.05 over 5 entries (5 claims with a p-value); 1 entries and 1 "
        "claims selected."
    )
    assert claims.entry_tally(frame).startswith("5 entries: 1 supported, 0 contradicted, 4 inc")


def test_an_equivalence_claim_is_supported_inside_and_contradicted_outside(
    tmp_path: Path,
) -> None:
    within = {"direction": "within", "tolerance": 2.0}
    noise = paired_runs(tmp_path / "n", "noise", seeds=3, n=20000)
    gain = paired_runs(tmp_path / "g", "gain", seeds=3, n=3000)
    entries = [gain_entry(**within), gain_entry(id="h", **within)]
    (same, apart) = claims.judge_all(manifest_for(entries, {"g-a-vs-b": noise, "h-a-vs-b": gain}))
    assert same.verdict == "supported" and -2.0 < same.adjusted[0] < same.adjusted[1] < 2.0
    assert apart.verdict == "contradicted" and apart.adjusted[0] > 2.0  # a 7.5-point gain
    assert claims.claimed({"direction": "within", "margin": 2.0}) == "within \u00b12.00"
    for bad, message in (
        ({"direction": "within"}, "needs a `tolerance` > 0"),
        ({"direction": "within", "tolerance": 1.0, "margin": 0.5}, "and no `margin`"),
        ({"tolerance": 1.0}, "`tolerance` is for direction within"),
    ):
        with pytest.raises(ConfigError, match=message):
            claims.expand([gain_entry(**bad)])


def test_the_test_selected_best_is_descriptive_and_one_seed_is_this_run(tmp_path: Path) -> None:
    n = 300
    rng = np.random.default_rng(5)
    runs: dict = {"a": [], "b": []}
    for seed in range(3):
        base = rng.random(n) < 0.5
        better = base | (rng.random(n) < 0.2)
        for key, correct in (("a", better), ("b", base)):
            path = write_eval_points(tmp_path / f"{key}{seed}.parquet", {"pgd20": correct})
            runs[key].append({"run": f"{key}{seed}", "seed": seed,
                              "eval_point_files": {"best": path, "last": path}})  # fmt: skip
    entry = gain_entry(quantity={"checkpoint": ["best", "last"], "attack": "pgd20"})
    ids = [c.id for c in claims.expand([entry])]
    best, last = claims.judge_all(manifest_for([entry], {i: runs for i in ids}))
    assert best.verdict == "descriptive" and best.reason == claims.TEST_SELECTED
    assert math.isnan(best.p_value) and last.verdict == "supported"
    one = {k: v[:1] for k, v in runs.items()}
    (alone,) = claims.judge_all(
        manifest_for([gain_entry(quantity={"checkpoint": "last", "attack": "pgd20"})],
                     {"g-a-vs-b": one})
    )  # fmt: skip
    assert alone.verdict == "this run" and math.isnan(alone.p_value)
    frame = claims.frame_of([best, last, alone])
    assert claims.tally(frame) == (
        "3 claims: 1 supported, 0 contradicted, 0 inconclusive, 1 this run, 1 descriptive, "
        "0 not run"
    )
    assert frame["reads"].tolist()[1] == "last checkpoint; 3 seeds x 300 points"


def test_the_papers_value_is_placed_against_the_adjusted_interval(tmp_path: Path) -> None:
    groups = paired_runs(tmp_path, "gain", seeds=3, n=3000)
    for value, where in ((7.5, "inside"), (30.0, "above"), (-1.0, "below")):
        entry = gain_entry(paper_value=value)
        (v,) = claims.judge_all(manifest_for([entry], {"g-a-vs-b": groups}))
        assert claims.frame_of([v])["paper_in"].iloc[0] == where, (value, v.adjusted)
    assert stats.decide(0.1, 0.2, "greater") == "supported"


def test_best_of_chooses_on_the_selection_split_and_judges_on_the_rest(tmp_path: Path) -> None:
    """Two candidates: one better on the judged points, one better on the selection points.
    The strongest other is the one the selection split picks, and the gain is judged on the
    other points (on 3e81366: the one with the highest mean on the points it is judged on)."""
    import json

    import pyarrow.parquet as pq
    from test_claims import write_run

    from gair.data import SELECTION_SEED, selection_split

    n, rng = 300, np.random.default_rng(6)
    chosen = selection_split(n, 60)
    on_selection = np.isin(np.arange(n), chosen)
    base = rng.random(n) < 0.5
    report_strong = base | ~on_selection  # every report point right: the best on all points
    selection_strong = base | on_selection  # every selection point right
    mine = base | (rng.random(n) < 0.3)
    record = {"seed": SELECTION_SEED, "count": 60, "of": n, "indices": chosen.tolist()}

    def run(name: str, correct: np.ndarray) -> dict:
        item = write_run(tmp_path / name, name, 0, {"pgd20": correct})
        table = pq.read_table(item["metrics"])
        meta = {**(table.schema.metadata or {}), b"gair_selection": json.dumps(record).encode()}
        pq.write_table(table.replace_schema_metadata(meta), item["metrics"])
        return item

    runs = {"a": [run("tanh", mine)], "best_of:0": [run("r", report_strong)],
            "best_of:1": [run("s", selection_strong)]}  # fmt: skip
    entry = gain_entry(labels=["tanh"], best_of=["r", "s"])
    del entry["pairs"]
    (result,) = claims.judge_all(manifest_for([entry], {"g": runs}))
    judged = ~on_selection
    want = 100 * (mine[judged].mean() - selection_strong[judged].mean())
    assert result.estimate.value == pytest.approx(want) and result.estimate.n_points == 240
    assert result.verdict == "this run"


def test_a_gap_at_the_best_val_epoch_is_judged_on_the_report_split(tmp_path: Path) -> None:
    """at-overfits at best_val: training's per-epoch points at the epoch best_val.pt holds
    minus the last epoch's, both without the selection split's points (on 3e81366 a training
    epoch could only be best, last or a number)."""
    import json

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gair.data import SELECTION_SEED, selection_split

    n, rng = 200, np.random.default_rng(8)
    chosen = selection_split(n, 40)
    record = {"seed": SELECTION_SEED, "count": 40, "of": n, "indices": chosen.tolist()}
    items, truth = [], []
    for seed in range(3):
        folder = tmp_path / f"at-{seed}"
        folder.mkdir()
        frame = pd.DataFrame({"epoch": [1, 2, 3], "best_epoch": [1, 1, 1],
                              "best_val_epoch": [1, 2, 2]})  # fmt: skip
        meta = {"gair.spec": json.dumps({"dataset": "digits", "seed": seed}),
                "gair_selection": json.dumps(record)}  # fmt: skip
        pq.write_table(pa.Table.from_pandas(frame).replace_schema_metadata(meta),
                       folder / "metrics.parquet")  # fmt: skip
        results = {e: rng.random(n) < p for e, p in ((1, 0.5), (2, 0.6), (3, 0.4))}
        rows = [{"epoch": e, "split": "test", "attack": "pgd20", "index": i, "correct": bool(c)}
                for e, r in results.items() for i, c in enumerate(r)]  # fmt: skip
        pd.DataFrame(rows).to_parquet(folder / "points.parquet")
        items.append({"run": folder.name, "seed": seed, "metrics": str(folder / "metrics.parquet"),
                      "train_points": str(folder / "points.parquet")})  # fmt: skip
        kept = ~np.isin(np.arange(n), chosen)
        truth.append(results[2][kept].mean() - results[3][kept].mean())
    entry = {"id": "over", "paper": "p", "quote": "q", "from": "fig4", "statistic": "gap",
             "labels": ["AT"], "quantity": {"epoch": "best_val", "split": "test",
                                             "attack": "pgd20"},
             "versus": {"epoch": "last"}}  # fmt: skip
    (result,) = claims.judge_all(manifest_for([entry], {"over": {"a": items}}))
    assert result.estimate.value == pytest.approx(100 * np.mean(truth))
    assert result.estimate.n_points == 160 and result.estimate.n_seeds == 3
    assert not math.isnan(result.p_value)  # held out: judged, not descriptive
