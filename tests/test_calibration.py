"""The A/A calibration (gair.report.calibration): its splits, the previous rule it measures
beside today's, and its rates counted by hand on synthetic runs of one method."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from gair.data import SELECTION_SEED, selection_split
from gair.io import write_parquet
from gair.report import calibration, stats
from gair.report.manifest import Manifest


def test_the_splits_are_every_pair_and_every_halving_once() -> None:
    seeds = list(range(10))
    pairs = list(calibration.splits(seeds, 1))
    assert len(pairs) == math.comb(10, 2) == 45
    halves = list(calibration.splits(seeds, 5))
    assert len(halves) == math.comb(10, 5) // 2 == 126
    seen = set()
    for a, b in halves:
        assert len(a) == len(b) == 5 and not set(a) & set(b) and set(a) | set(b) == set(seeds)
        key = frozenset([frozenset(a), frozenset(b)])
        assert key not in seen
        seen.add(key)


def test_the_previous_rule_by_hand() -> None:
    # No discordant pair of 300: the pooled Tango interval +-z^2 / (n + z^2), the crossed one
    # of zero width.
    z2 = sps.norm.ppf(0.975) ** 2
    low, high = calibration.previous_interval(np.zeros((3, 100)))
    assert (low, high) == (
        pytest.approx(-100 * z2 / (300 + z2)),
        pytest.approx(100 * z2 / (300 + z2)),
    )
    # One seed, plenty of discordance: the wider of the paired t interval and Tango's.
    rng = np.random.default_rng(2)
    d = rng.choice([-1.0, 0.0, 1.0], 400, p=[0.1, 0.8, 0.1])
    t = sps.ttest_1samp(100 * d, 0).confidence_interval(0.95)
    pooled = stats.ScorePivot(
        "difference", float((d > 0).sum()), float((d < 0).sum()), 400.0, 1.0, math.inf
    ).interval()
    low, high = calibration.previous_interval(d)
    assert low == pytest.approx(min(t.low, pooled[0])) and high == pytest.approx(
        max(t.high, pooled[1])
    )


def one_method(tmp_path: Path, seeds: int = 6, n: int = 200) -> Manifest:
    """One label (AT), ``seeds`` runs of the same method: every point has its difficulty, each
    seed's results are independent draws; per-point files at best_val and last, and each
    run's metrics recording a selection split of 40 of the 200 points."""
    rng = np.random.default_rng(3)
    difficulty = rng.uniform(0.2, 0.9, n)
    record = {"seed": SELECTION_SEED, "count": 40, "of": n,
              "indices": selection_split(n, 40).tolist()}  # fmt: skip
    items = []
    for seed in range(seeds):
        metrics = tmp_path / f"m{seed}.parquet"
        write_parquet(metrics, pd.DataFrame({"epoch": [1]}), {"gair_selection": json.dumps(record)})
        item = {"run": f"at-{seed}", "seed": seed, "metrics": str(metrics), "evals": {},
                "eval_point_files": {}}  # fmt: skip
        for ckpt in ("best_val", "last"):
            frame = {"index": range(n), "label": 0}
            for attack, scale in (("natural", 1.0), ("pgd20", 0.6), ("autoattack", 0.5)):
                frame[attack] = rng.random(n) < difficulty * scale
            path = tmp_path / f"{seed}-{ckpt}.points.parquet"
            pd.DataFrame(frame).to_parquet(path)
            item["eval_point_files"][ckpt] = str(path)
            item["evals"][ckpt] = str(path)
        items.append(item)
    return Manifest.from_json(
        {
            "name": "calibration",
            "groups": {"methods": {"AT": items}},
            "checkpoints": ["best_val", "last"],
        }
    )


def test_the_rates_are_the_false_verdicts_counted_by_hand(tmp_path: Path) -> None:
    manifest = one_method(tmp_path)
    frame = calibration.calibration_table(manifest)
    assert len(frame) == len(calibration.STATISTICS) * 2
    row = frame[(frame["attack"] == "pgd20") & (frame["checkpoint"] == "last")
                & (frame["seeds_per_side"] == 3)].iloc[0]  # fmt: skip
    files = [pd.read_parquet(tmp_path / f"{s}-last.points.parquet")["pgd20"].to_numpy(float)
             for s in range(6)]  # fmt: skip
    false = 0
    for side in itertools.combinations(range(1, 6), 2):
        a = [0, *side]
        b = [s for s in range(6) if s not in a]
        est = stats.paired_difference(
            np.vstack([files[s] for s in a]) - np.vstack([files[s] for s in b])
        )
        false += not est.low <= 0 <= est.high
    assert row["splits"] == 10 and row["today_false"] == false and row["points"] == 200
    assert row["today_rate"] == pytest.approx(100 * false / 10)
    # best_val reads the report split: 160 of the 200 points.
    best_val = frame[frame["checkpoint"] == "best_val"]
    assert (best_val["points"] == 160).all()
    assert (frame.loc[frame["seeds_per_side"] == 1, "splits"] == 15).all()
    assert (
        (frame["today_low"] <= frame["today_rate"]) & (frame["today_rate"] <= frame["today_high"])
    ).all()


def test_the_table_and_figure_are_written(tmp_path: Path) -> None:
    from gair.report.figures.calibration import calibration_figure

    (tmp_path / "runs").mkdir()
    manifest = one_method(tmp_path / "runs", seeds=4)
    frame = calibration.write_calibration(manifest, tmp_path / "cal")
    md = (tmp_path / "cal.md").read_text()
    assert "# A/A calibration" in md and "| PGD-20 | last | 2 | 3 | 200 |" in md
    assert len(pd.read_csv(tmp_path / "cal.csv")) == len(frame)
    fig = calibration_figure(manifest)
    assert [ax.get_title() for ax in fig.axes[:2]] == [
        "1 seed per side (6 splits)",
        "2 seeds per side (3 splits)",
    ]
