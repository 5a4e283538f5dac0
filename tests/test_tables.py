"""Tables from synthetic evaluation files (gair.report.tables): median/std over seeds, Diff.,
the paper's numbers."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pandas as pd
import pytest
from paired import one_seed_interval

from gair.errors import ConfigError, DataError
from gair.evaluation.registry import title as attack_title
from gair.report import tables
from gair.report.commands import table as cli
from gair.report.manifest import Manifest
from gair.report.paper_numbers import TABLE1, TABLE1_DIFF, TABLE2, paper_number

ATTACKS = ("natural", "pgd20", "pgd_plus")


def accuracy(method: str, checkpoint: str, attack: str, seed: int) -> float:
    """A distinct, irregular accuracy per cell so that median and std are not trivial."""
    base = {"AT": 0.80, "GAIRAT": 0.70}[method] + {"best": 0.0, "last": -0.03}[checkpoint]
    base -= {"natural": 0.0, "pgd20": 0.3, "pgd_plus": 0.32}[attack]
    return round(base + [0.011, -0.02, 0.005, 0.031, -0.004][seed], 6)


def write_eval(path: Path, method: str, checkpoint: str, seed: int, attacks=ATTACKS) -> None:
    rows = [
        {"attack": a, "accuracy": accuracy(method, checkpoint, a, seed), "n": 1000} for a in attacks
    ]
    rows.append({"attack": "worst_case", "accuracy": 0.0, "n": 1000})
    pd.DataFrame(rows).to_parquet(path)


def write_table(manifest: dict, prefix: Path) -> pd.DataFrame:
    return tables.write_table(Manifest.from_json(manifest), prefix)


def manifest_file(tmp_path: Path, manifest: dict) -> str:
    path = tmp_path / f"{manifest['name']}.json"
    path.write_text(json.dumps(manifest))
    return str(path)


def make_manifest(tmp_path: Path, name: str = "table1", baseline: str | None = "AT") -> dict:
    groups: dict = {"methods": {}}
    for method in ("AT", "GAIRAT"):
        items = []
        for seed in range(5):
            evals = {}
            for checkpoint in ("best", "last"):
                path = tmp_path / f"{method}-{seed}-{checkpoint}.parquet"
                write_eval(path, method, checkpoint, seed)
                evals[checkpoint] = str(path)
            items.append({"run": f"r-{method}-{seed}", "seed": seed, "evals": evals})
        groups["methods"][method] = items
    return {"name": name, "groups": groups, "baseline": baseline, "checkpoints": ["best", "last"]}


def test_median_std_and_diff_by_hand(tmp_path: Path) -> None:
    summary = write_table(make_manifest(tmp_path), tmp_path / "t1")
    assert len(summary) == 2 * 2 * 3  # worst_case is not a column of the paper's table
    for method in ("AT", "GAIRAT"):
        for checkpoint in ("best", "last"):
            for attack in ATTACKS:
                values = [100 * accuracy(method, checkpoint, attack, s) for s in range(5)]
                base = [100 * accuracy("AT", checkpoint, attack, s) for s in range(5)]
                row = summary[
                    (summary["method"] == method)
                    & (summary["checkpoint"] == checkpoint)
                    & (summary["attack"] == attack)
                ].iloc[0]
                assert row["median"] == pytest.approx(statistics.median(values))
                assert row["std"] == pytest.approx(statistics.stdev(values))
                assert row["n_seeds"] == 5
                assert row["diff"] == pytest.approx(
                    statistics.median(values) - statistics.median(base)
                )
                paper = paper_number("table1", method, checkpoint, attack)
                assert paper is not None
                assert row["paper_median"] == paper[0] and row["paper_std"] == paper[1]
                assert row["minus_paper"] == pytest.approx(row["median"] - paper[0])


def test_paper_numbers_and_their_diff_columns(tmp_path: Path) -> None:
    summary = write_table(make_manifest(tmp_path), tmp_path / "t1").set_index(
        ["method", "checkpoint", "attack"]
    )
    # The paper's Diff. for GAIRAT, recomputed from its medians, as printed in Table 1.
    for checkpoint in ("best", "last"):
        for attack in ATTACKS:
            expected = TABLE1_DIFF["GAIRAT"][checkpoint][attack]
            got = summary.loc[("GAIRAT", checkpoint, attack), "paper_diff"]
            assert round(got, 2) == pytest.approx(expected)
    assert summary.loc[("AT", "best", "natural"), "paper_median"] == 86.92
    # The transcription itself: every printed Diff. equals the difference of printed medians.
    for method, cells in TABLE1_DIFF.items():
        for checkpoint, attacks in cells.items():
            for attack, diff in attacks.items():
                own = TABLE1[method][checkpoint][attack][0]
                at = TABLE1["AT"][checkpoint][attack][0]
                assert round(own - at, 2) == pytest.approx(diff)
    assert TABLE2["GAIR-TRADES"]["best"]["pgd20"] == (63.32, 0.50)


def test_outputs_have_the_rows_and_cells(tmp_path: Path) -> None:
    write_table(make_manifest(tmp_path), tmp_path / "t1")
    csv = pd.read_csv(tmp_path / "t1.csv")
    assert list(csv["method"].unique()) == ["AT", "GAIRAT"]  # config order, baseline first
    markdown = (tmp_path / "t1.md").read_text()
    assert "86.92 ± 0.24" in markdown and "| GAIRAT |" in markdown
    assert markdown.count("## ") == 2  # a block per checkpoint
    assert "PGD+" in markdown and "Diff." in markdown
    gairat = csv[(csv["method"] == "GAIRAT") & (csv["checkpoint"] == "best")]
    diff = gairat[gairat["attack"] == "natural"]["diff"].iloc[0]
    assert f"{diff:+.2f}" in markdown
    tex = (tmp_path / "t1.tex").read_text()
    assert tex.count("\\begin{tabular}") == 2 and "$\\pm$" in tex
    assert "\nGAIRAT & " in tex and "\nGAIR-FAT & " not in tex  # rows only for trained methods


def test_the_table_names_where_its_numbers_were_computed(tmp_path: Path) -> None:
    """Evaluation files that record their provenance (two devices here) give the Markdown a
    "Computed on" line and the LaTeX a comment; files without it give neither."""
    import pyarrow.parquet as pq

    from gair import provenance

    manifest = make_manifest(tmp_path)
    write_table(manifest, tmp_path / "plain")
    assert "Computed on" not in (tmp_path / "plain.md").read_text()
    record = {"commit": "0123456789abcdef", "torch": "2.1", "cuda": "12.4", "cudnn": "90100",
              "host": "node1", "python": "3.11"}  # fmt: skip
    for k, (_, _, item) in enumerate(Manifest.from_json(manifest).items()):
        for path in item.evals.values():
            table = pq.read_table(path)
            device = "NVIDIA A100" if k % 2 else "NVIDIA H100"
            meta = provenance.metadata([dict(record, device=device)])
            pq.write_table(table.replace_schema_metadata({**meta}), path)
    write_table(manifest, tmp_path / "t1")
    line = ("Computed on: device NVIDIA H100 / NVIDIA A100; host node1; torch 2.1; CUDA 12.4; "
            "cuDNN 90100; commit 0123456789ab.")  # fmt: skip
    assert line in (tmp_path / "t1.md").read_text().splitlines()
    assert "% computed on: device NVIDIA H100 / NVIDIA A100" in (tmp_path / "t1.tex").read_text()


def test_single_seed_table3_with_context_rows(tmp_path: Path) -> None:
    path = tmp_path / "rst.parquet"
    pd.DataFrame({"attack": ["natural", "autoattack"], "accuracy": [0.9, 0.6]}).to_parquet(path)
    manifest = {
        "name": "table3",
        "groups": {
            "methods": {"GAIR-RST": [{"run": "r", "seed": 0, "evals": {"last": str(path)}}]}
        },
        "baseline": None,
    }
    summary = write_table(manifest, tmp_path / "t3")
    assert list(summary["attack"]) == ["natural", "autoattack"]
    assert math.isnan(summary["std"].iloc[0])  # one seed: no spread
    assert summary["paper_median"].tolist() == [89.36, 59.64]
    markdown = (tmp_path / "t3.md").read_text()
    assert "| Gowal et al. (2020) | 89.48 | 62.60 |" in markdown
    assert attack_title("autoattack") == "AutoAttack" and attack_title("pgd40") == "PGD-40"


def test_errors_name_the_problem(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, baseline="TRADES")
    with pytest.raises(ConfigError, match="baseline 'TRADES'"):
        write_table(manifest, tmp_path / "bad")
    manifest = make_manifest(tmp_path)
    manifest["groups"]["methods"]["AT"][0]["evals"]["best"] = str(tmp_path / "missing.parquet")
    with pytest.raises(DataError, match=r"missing\.parquet"):
        write_table(manifest, tmp_path / "bad")
    with pytest.raises(ConfigError, match=r"is for 'table1', not 'table2'"):
        cli(
            ["table2", "--manifest", manifest_file(tmp_path, make_manifest(tmp_path)), "--out", "x"]
        )


def test_the_table_command_reads_the_manifest_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest_file(tmp_path, make_manifest(tmp_path))
    assert cli(["table1", "--manifest", path, "--out", str(tmp_path / "c")]) == 0
    assert "12 rows" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "c.csv")) == 12


def test_columns_keep_the_papers_attacks_and_name_the_cheap_autoattack(tmp_path: Path) -> None:
    # Evaluation files that also hold the audit's attacks: Table 1 shows its columns only.
    manifest = make_manifest(tmp_path)
    for items in manifest["groups"]["methods"].values():
        for item in items:
            for path in item["evals"].values():
                frame = pd.read_parquet(path)
                extra = pd.DataFrame(
                    {"attack": ["cw", "lsa", "autoattack_cheap"], "accuracy": [0.1, 0.2, 0.05]}
                )
                pd.concat([frame, extra], ignore_index=True).to_parquet(path)
    full = write_table(manifest, tmp_path / "full")
    assert set(full["attack"]) == {"natural", "pgd20", "pgd_plus", "cw", "lsa", "autoattack_cheap"}
    manifest["columns"] = list(ATTACKS)
    summary = write_table(manifest, tmp_path / "t1")
    assert list(dict.fromkeys(summary["attack"])) == list(ATTACKS)
    assert len(summary) == 2 * 2 * 3
    # A column `autoattack` shows the cheap setting too, under its own heading.
    manifest["columns"] = ["natural", "autoattack"]
    summary = write_table(manifest, tmp_path / "aa")
    assert list(dict.fromkeys(summary["attack"])) == ["natural", "autoattack_cheap"]
    assert summary[summary["attack"] == "autoattack_cheap"]["paper_median"].isna().all()
    header = next(
        line for line in (tmp_path / "aa.md").read_text().splitlines() if line.startswith("| Me")
    )
    assert header.split(" | ")[5:7] == ["AutoAttack (cheap)", "Diff."]
    assert attack_title("autoattack_cheap") == "AutoAttack (cheap)"


def test_tradeoff_table_has_no_paper_columns(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, name="tradeoff")
    summary = write_table(manifest, tmp_path / "tr")
    assert summary["paper_median"].isna().all()
    at = [100 * accuracy("AT", "best", "pgd20", s) for s in range(5)]
    gairat = [100 * accuracy("GAIRAT", "best", "pgd20", s) for s in range(5)]
    row = summary.set_index(["method", "checkpoint", "attack"]).loc[("GAIRAT", "best", "pgd20")]
    assert row["median"] == pytest.approx(statistics.median(gairat))
    assert row["diff"] == pytest.approx(statistics.median(gairat) - statistics.median(at))
    markdown = (tmp_path / "tr.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| Method"))
    assert header == "| Method | Natural | Diff. | PGD-20 | Diff. | PGD+ | Diff. |"
    assert "paper" not in header and "`paper`" not in markdown
    assert f"{statistics.median(gairat):.2f} ± {statistics.stdev(gairat):.2f}" in markdown
    tex = (tmp_path / "tr.tex").read_text()
    assert "paper" not in tex.split("\\toprule")[1].split("\\midrule")[0]


# --------------------------------------------------------------------------- intervals
def write_points(tmp_path: Path, method: str, seed: int, correct: dict[str, list[bool]]) -> str:
    """An evaluation's per-point file (`evaluate --samples`) and the summary beside it."""
    n = len(next(iter(correct.values())))
    points = tmp_path / f"{method}-{seed}.points.parquet"
    pd.DataFrame({"index": range(n), "label": [0] * n, **correct}).to_parquet(points)
    summary = tmp_path / f"{method}-{seed}.parquet"
    pd.DataFrame(
        [{"attack": a, "accuracy": sum(c) / n, "n": n} for a, c in correct.items()]
    ).to_parquet(summary)
    return str(summary)


def test_cells_carry_intervals_and_diff_is_the_paired_gain(tmp_path: Path) -> None:
    """One seed, 400 points: GAIRAT's PGD-20 gain over AT has the paired interval of the
    per-point differences (scipy's t or Tango's score interval, the wider), and each cell's
    interval contains its accuracy."""

    rng = __import__("numpy").random.default_rng(0)
    at = rng.random(400) < 0.5
    gairat = at.copy()
    gairat[:40] = True  # AT lost some of these; GAIRAT gets them all right
    groups: dict = {"methods": {}}
    for method, pgd in (("AT", at), ("GAIRAT", gairat)):
        correct = {"natural": [True] * 400, "pgd20": list(map(bool, pgd))}
        summary = write_points(tmp_path, method, 0, correct)
        points = summary.replace(".parquet", ".points.parquet")
        groups["methods"][method] = [
            {"run": f"r-{method}", "seed": 0, "evals": {"last": summary},
             "eval_point_files": {"last": points}}
        ]  # fmt: skip
    manifest = {"name": "table1", "groups": groups, "baseline": "AT", "checkpoints": ["last"]}
    summary = write_table(manifest, tmp_path / "t")
    row = summary[(summary["method"] == "GAIRAT") & (summary["attack"] == "pgd20")].iloc[0]
    low, high = one_seed_interval(gairat, at)
    assert (row["gain_low"], row["gain_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["gain"] == pytest.approx(100 * (gairat.mean() - at.mean()))
    assert row["low"] < row["mean"] < row["high"] and row["n_points"] == 400
    natural = summary[summary["attack"] == "natural"].iloc[0]
    assert natural["high"] == 100.0 and natural["low"] < 100.0  # Wilson near 100%
    md = (tmp_path / "t.md").read_text()
    assert "paired gain over AT" in md
    assert f"+{row['gain']:.2f} [+{row['gain_low']:.2f}, +{row['gain_high']:.2f}]" in md


def test_without_per_point_files_cells_have_no_interval(tmp_path: Path) -> None:
    summary = write_table(make_manifest(tmp_path), tmp_path / "t1")
    assert summary["low"].isna().all() and summary["gain"].isna().all()
    assert "paired" not in (tmp_path / "t1.md").read_text()


def test_a_one_seed_table_says_its_intervals_cover_the_test_points_only() -> None:
    """A note that says what an interval covers: seeds and points, or one run's points only
    (on 3e81366 every table and footer said "over seeds and test points")."""
    from gair.report import text

    assert text.interval_words(3) == "95% intervals over seeds and test points"
    assert "test points only (one seed: this run" in text.interval_words(1)
    one = pd.DataFrame({"n_seeds": [1, 1]})
    assert tables.interval_of(one) == (
        "95% interval of the mean over test points only (one seed: this run, not the method)"
    )
    assert tables.interval_of(pd.DataFrame({"n_seeds": [1, 5]})).endswith("seeds and test points")
