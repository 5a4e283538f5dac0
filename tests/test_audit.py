"""The audit table and figure from synthetic evaluation files, against a hand computation."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paired import one_seed_interval

from gair.errors import ConfigError, DataError
from gair.io import write_parquet
from gair.report import audit, read
from gair.report.commands import figure as figure_command
from gair.report.commands import table as table_command
from gair.report.figures.audit import plot_audit
from gair.report.manifest import Manifest

ATTACKS = ["natural", "pgd20", "pgd_plus", "cw", "lsa", "autoattack", "worst_case"]

# Hand-picked PGD-20 and AutoAttack accuracies (best checkpoint) for the explicit checks.
FIXED = {
    ("at", "best"): {"pgd20": [0.50, 0.52, 0.51], "autoattack": [0.47, 0.48, 0.46]},
    ("gairat", "best"): {"pgd20": [0.60, 0.58, 0.62], "autoattack": [0.44, 0.45, 0.43]},
    ("gair_fat", "best"): {"pgd20": [0.55, 0.57], "autoattack": [0.49, 0.50]},
}
SEEDS = {"at": [0, 1, 2], "gairat": [0, 1, 2], "gair_fat": [0, 1], "mart": [0]}


def eval_frame(accuracies: dict[str, float]) -> pd.DataFrame:
    """An evaluation summary in the format of `python -m gair evaluate` (docs/outputs.md)."""
    return pd.DataFrame(
        {
            "attack": list(accuracies),
            "accuracy": list(accuracies.values()),
            "n": 1000,
            "eps": 0.031,
            "alpha": 0.0078,
            "steps": 20,
            "restarts": 1,
            "checkpoint": "x.pt",
            "epoch": 10,
            "run": "r",
        }
    )


def audit_manifest(groups: dict, baseline: str = "at") -> Manifest:
    return Manifest.from_json(
        {"name": "audit_t", "renderer": "audit", "groups": groups, "baseline": baseline}
    )


def collect(manifest: Manifest) -> pd.DataFrame:
    return read.collect_evals(read.records_of(manifest))


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Manifest, dict]:
    """Files for 4 methods x seeds x {best, last} and the audit manifest that lists them;
    returns (manifest, accuracy by key)."""
    rng = np.random.default_rng(0)
    truth: dict = {}
    labels: dict = {}
    for method, seeds in SEEDS.items():
        items = {seed: {"run": f"{method}-s{seed}", "seed": seed, "metrics": "", "evals": {}}
                 for seed in seeds}  # fmt: skip
        for checkpoint in ("best", "last"):
            for i, seed in enumerate(seeds):
                acc = {a: round(float(rng.uniform(0.2, 0.9)), 4) for a in ATTACKS}
                for attack, values in FIXED.get((method, checkpoint), {}).items():
                    acc[attack] = values[i]
                path = str(tmp_path / f"{method}-s{seed}-{checkpoint}.parquet")
                write_parquet(path, eval_frame(acc))
                items[seed]["evals"][checkpoint] = path
                truth[(method, checkpoint, seed)] = acc
        labels[method] = list(items.values())
    return audit_manifest({"table": labels}), truth


def cell(table: pd.DataFrame, method: str, checkpoint: str, column: str) -> float:
    row = table[(table["method"] == method) & (table["checkpoint"] == checkpoint)]
    assert len(row) == 1
    return float(row[column].iloc[0])


def test_median_and_std_over_seeds_match_a_hand_computation(runs) -> None:
    manifest, truth = runs
    table = audit.audit_table(collect(manifest), baseline="at")
    assert [(r.method, r.checkpoint) for r in table.itertuples()] == [
        (m, c) for m in ("at", "gairat", "gair_fat", "mart") for c in ("best", "last")
    ]
    for method, seeds in SEEDS.items():
        for checkpoint in ("best", "last"):
            assert cell(table, method, checkpoint, "n_seeds") == len(seeds)
            for attack in ATTACKS:
                values = [100 * truth[(method, checkpoint, s)][attack] for s in seeds]
                got = cell(table, method, checkpoint, f"{attack}_median")
                assert got == pytest.approx(statistics.median(values))
                std = cell(table, method, checkpoint, f"{attack}_std")
                if len(values) > 1:
                    assert std == pytest.approx(statistics.stdev(values))
                else:
                    assert math.isnan(std)


def test_gains_over_baseline_without_per_point_files_are_differences_of_medians(runs) -> None:
    manifest, truth = runs
    table = audit.audit_table(collect(manifest), baseline="at")
    # Percent and percentage points. GAIRAT best: PGD-20 medians 60 vs 51, AutoAttack 44 vs 47.
    assert cell(table, "gairat", "best", "gain_pgd20") == pytest.approx(9.0)
    assert cell(table, "gairat", "best", "gain_autoattack") == pytest.approx(-3.0)
    # Two seeds: the median is their mean. 56 - 51 and 49.5 - 47.
    assert cell(table, "gair_fat", "best", "gain_pgd20") == pytest.approx(5.0)
    # no per-point results: no interval, so no share of a gain is claimed
    assert not any(c.startswith("share_") for c in table.columns)
    assert "no share of a gain is given" in audit.to_markdown(table, baseline="at")
    for method in ("at", "mart"):
        for checkpoint in ("best", "last"):
            base = [truth[("at", checkpoint, s)] for s in SEEDS["at"]]
            own = [truth[(method, checkpoint, s)] for s in SEEDS[method]]
            pgd = 100 * statistics.median(a["pgd20"] for a in own) - 100 * statistics.median(
                a["pgd20"] for a in base
            )
            aa = 100 * statistics.median(a["autoattack"] for a in own) - 100 * statistics.median(
                a["autoattack"] for a in base
            )
            assert cell(table, method, checkpoint, "gain_pgd20") == pytest.approx(pgd)
            assert cell(table, method, checkpoint, "gain_autoattack") == pytest.approx(aa)
    # The baseline's own gains are zero.
    assert cell(table, "at", "best", "gain_pgd20") == 0.0


def test_cheap_autoattack_is_named_in_every_output(tmp_path: Path) -> None:
    labels = {}
    for method, pgd, aa in (("at", 0.5, 0.45), ("gairat", 0.6, 0.46)):
        path = str(tmp_path / f"{method}.parquet")
        write_parquet(path, eval_frame({"pgd20": pgd, "autoattack_cheap": aa, "worst_case": aa}))
        labels[method] = [{"run": method, "seed": 0, "metrics": "", "evals": {"last": path}}]
    table = audit.audit_table(collect(audit_manifest({"table": labels})), baseline="at")
    assert "gain_autoattack" not in table
    assert cell(table, "gairat", "last", "gain_autoattack_cheap") == pytest.approx(1.0)
    md = audit.to_markdown(table, baseline="at")
    assert "AutoAttack (cheap)" in md and "Gain AutoAttack (cheap)" in md
    assert "| gairat | last | 1 | 60.00 | 46.00 | 46.00 | +10.00 | +1.00 | +1.00 |" in md


def test_writers_csv_markdown_latex(runs, tmp_path: Path) -> None:
    manifest, _ = runs
    table = audit.audit_table(collect(manifest), baseline="at")
    paths = audit.write_tables(table, tmp_path / "out" / "audit", baseline="at")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"]
    back = pd.read_csv(paths[0])
    assert list(back.columns) == list(table.columns)
    np.testing.assert_allclose(
        back["gain_pgd20"].to_numpy(), table["gain_pgd20"].to_numpy(), rtol=1e-5
    )
    md = paths[1].read_text()
    body = [line for line in md.splitlines() if line.startswith("| ") and "Method" not in line]
    assert len(body) == len(table) == 8
    # GAIRAT best PGD-20: median 60.00, std of (60, 58, 62) = 2.00; gain +9.00 pp.
    gairat = next(line for line in body if line.startswith("| gairat | best |"))
    assert "60.00 ± 2.00" in gairat and "+9.00" in gairat
    mart = next(line for line in body if line.startswith("| mart | best | 1 |"))
    assert "±" not in mart
    tex = paths[2].read_text()
    assert "\\toprule" in tex and "gair\\_fat & best" in tex and "60.00 $\\pm$ 2.00" in tex
    assert "±" not in tex
    assert tex.count("\\\\") == len(table) + 1


def test_figure_bars_are_the_gains(runs) -> None:
    manifest, _ = runs
    table = audit.audit_table(collect(manifest), baseline="at")
    fig = plot_audit(table, baseline="at")
    axes = [ax for ax in fig.axes if ax.patches]
    assert [ax.get_title() for ax in axes] == ["best checkpoint", "last checkpoint"]
    best = table[(table["checkpoint"] == "best") & (table["method"] != "at")]
    heights = [p.get_height() for p in axes[0].patches]
    expected = [h for a in ("pgd20", "autoattack", "lsa", "worst_case") for h in best[f"gain_{a}"]]
    np.testing.assert_allclose(heights, expected)
    labels = [t.get_text() for t in axes[0].get_xticklabels()]
    assert labels == ["gairat", "gair_fat", "mart"]


def test_the_report_commands_write_table_and_figure(runs, tmp_path: Path) -> None:
    manifest, _ = runs
    path = tmp_path / "audit_t.json"
    path.write_text(json.dumps(manifest.to_json()))
    prefix, fig = tmp_path / "tables" / "audit_t", tmp_path / "figures" / "audit_t"
    assert table_command(["audit_t", "--manifest", str(path), "--out", str(prefix)]) == 0
    assert figure_command(["audit_t", "--manifest", str(path), "--out", str(fig)]) == 0
    csv = pd.read_csv(f"{prefix}.csv")
    assert len(csv) == 8 and set(csv["method"]) == {"at", "gairat", "gair_fat", "mart"}
    assert Path(f"{fig}.pdf").read_bytes().startswith(b"%PDF")
    assert Path(f"{fig}.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads(Path(f"{fig}.json").read_text())["manifest"]["baseline"] == "at"
    with pytest.raises(ConfigError, match="is for 'audit_t', not 'audit_table1'"):
        table_command(["audit_table1", "--manifest", str(path), "--out", str(prefix)])


def test_bad_inputs_raise_one_line_errors(runs, tmp_path: Path) -> None:
    manifest, _ = runs
    long = collect(manifest)
    with pytest.raises(ConfigError, match=r"baseline 'trades' is not among .*at, gairat"):
        audit.audit_table(long, baseline="trades")
    twice = manifest.to_json()
    twice["groups"]["table"]["at"][1]["seed"] = 0
    with pytest.raises(DataError, match="both method 'at', seed 0"):
        collect(Manifest.from_json(twice))
    gone = manifest.to_json()
    gone["groups"]["table"]["at"][0]["evals"]["best"] = str(tmp_path / "nope.parquet")
    with pytest.raises(DataError, match="does not exist"):
        collect(Manifest.from_json(gone))
    with pytest.raises(ConfigError, match="needs run and seed"):
        Manifest.from_json({"name": "a", "groups": {"g": {"at": [{"seed": 0}]}}})
    with pytest.raises(ConfigError, match="names no baseline"):
        audit.audit_of(audit_manifest(manifest.to_json()["groups"], baseline=""))


# --------------------------------------------------------------------------- paired, per point
def points_manifest(tmp_path: Path, outcomes: dict[str, dict[str, np.ndarray]]) -> Manifest:
    """One seed per method; per-point files beside each evaluation summary (last checkpoint)."""
    labels = {}
    for method, correct in outcomes.items():
        n = len(correct["pgd20"])
        summary = str(tmp_path / f"{method}.parquet")
        write_parquet(summary, eval_frame({a: float(v.mean()) for a, v in correct.items()}))
        points = str(tmp_path / f"{method}.points.parquet")
        pd.DataFrame({"index": range(n), "label": 0, **correct}).to_parquet(points)
        labels[method] = [
            {"run": method, "seed": 0, "evals": {"last": summary},
             "eval_point_files": {"last": points}}
        ]  # fmt: skip
    return audit_manifest({"table": labels})


def test_paired_gains_and_a_share_only_for_a_gain_beyond_noise(tmp_path: Path) -> None:
    """GAIRAT gains 10 points under PGD-20 (beyond noise on 1000 points) and keeps half under
    AutoAttack; MART's PGD-20 gain is one point out of noise: its share is withheld."""

    rng = np.random.default_rng(1)
    base = rng.random(1000) < 0.5
    at = {"natural": base | True, "pgd20": base, "autoattack": base}
    gairat_pgd, gairat_aa = base.copy(), base.copy()
    gairat_pgd[:100] = True  # of those, AT had some wrong: a clear PGD-20 gain
    gairat_aa[:50] = True
    gairat = {"natural": base | True, "pgd20": gairat_pgd, "autoattack": gairat_aa}
    mart_pgd = base.copy()
    flip = rng.random(1000) < 0.05
    mart_pgd[flip] = ~mart_pgd[flip]  # as many won as lost: noise
    mart = {"natural": base | True, "pgd20": mart_pgd, "autoattack": base}
    manifest = points_manifest(tmp_path, {"at": at, "gairat": gairat, "mart": mart})
    table, _, _ = audit.audit_of(manifest)
    low, high = one_seed_interval(gairat_pgd, base)
    assert cell(table, "gairat", "last", "gain_pgd20_low") == pytest.approx(low)
    assert cell(table, "gairat", "last", "gain_pgd20_high") == pytest.approx(high)
    kept = 100 * (gairat_aa.mean() - base.mean()) / (gairat_pgd.mean() - base.mean())
    assert cell(table, "gairat", "last", "share_autoattack") == pytest.approx(kept)
    assert math.isnan(cell(table, "mart", "last", "share_autoattack"))
    md = audit.to_markdown(table, baseline="at")
    mart_row = next(line for line in md.splitlines() if line.startswith("| mart |"))
    assert audit.WITHIN_NOISE in mart_row and "%" not in mart_row.split("|")[-2]
    gairat_row = next(line for line in md.splitlines() if line.startswith("| gairat |"))
    assert f"{kept:.2f}%" in gairat_row
