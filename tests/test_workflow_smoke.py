"""The whole smoke DAG, for real: every figure and table of the paper at smoke scale.

Runs `snakemake all --cores 2 --configfile config/smoke.yaml` in a temporary directory (minutes
on two CPU cores), then checks what it produced: each figure re-rendered from the Parquet
files it read has the panels its caption describes, each table has its rows, the audit has a
row per method and checkpoint, and the trade-off figure its two panels.
Select with `-m smoke`. Set GAIR_SMOKE_DIR to keep (and reuse) the output directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
pytestmark = pytest.mark.smoke


def snakemake_command(root: Path, *extra: str) -> list[str]:
    """`snakemake all` with the smoke config, working in `root`."""
    return [
        sys.executable, "-m", "snakemake", "all", "--snakefile", str(SNAKEFILE),
        "--directory", str(root), "--configfile", str(REPO / "config" / "smoke.yaml"), *extra,
    ]  # fmt: skip


# Panels with data per figure, from the captions (smoke config: 2 toy sets, 1 class pair in
# Fig. 3; 6 pairs in Figs. 7, 8; 4 LR schedules in Fig. 11; 3 networks or tau schedules in
# Figs. 16, 18).
PANELS = {
    "fig2": 2, "fig3": 3, "fig4": 6, "fig5": 4, "fig6": 4, "fig7": 6, "fig8": 6, "fig10": 6,
    "fig11": 9, "fig12": 3, "fig13": 3, "fig14": 3, "fig15": 2, "fig16": 6, "fig17": 2,
    "fig18": 6, "fig19": 2, "fig20": 2, "fig21": 2,
}  # fmt: skip
# method x checkpoint x attack rows per table (Tables 1-2: best, best_val and last; Table 3:
# natural and the cheap AutoAttack).
TABLE_ROWS = {"table1": 4 * 3 * 3, "table2": 2 * 3 * 3, "table3": 1 * 1 * 2}
SMOKE_SEEDS = 3
# Seeds per checkpoint: best_val is every run's own (its selection split).
CHECKPOINT_SEEDS = {"best": SMOKE_SEEDS, "best_val": SMOKE_SEEDS, "last": SMOKE_SEEDS}
# Points per checkpoint in Tables 1-2 and the audit: best_val on the report split (20 of the
# 100 evaluated test points chose it), the others on every point.
CHECKPOINT_POINTS = {"best": 100, "best_val": 80, "last": 100}
# The audit: methods of each table and its baseline; a row per method and checkpoint.
AUDIT = {
    "table1": (["AT", "FAT", "GAIRAT", "GAIR-FAT"], "AT"),
    "table2": (["TRADES", "GAIR-TRADES"], "TRADES"),
}
TRADEOFF_METHODS = [
    "AT", "GAIRAT", "FAT", "GAIR-FAT", "TRADES", "GAIR-TRADES", "MART", "GAIR-MART", "IAAT",
    "RPAT", "ATLAS (interpretation)", "MMA", "FGSM-RS",
]  # fmt: skip


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    keep = os.environ.get("GAIR_SMOKE_DIR")
    root = Path(keep) if keep else tmp_path_factory.mktemp("smoke")
    root.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    # Two simulated GPUs: jobs take them through gair's locks (the test below checks both).
    env = dict(os.environ, GAIR_GPU_COUNT="2", GAIR_LOCK_DIR=str(root / "gpu-locks"))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    command = snakemake_command(root, "--cores", "2", "--resources", "gpu=2")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=1800, check=False, env=env
    )
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        logs = sorted((root / "results" / "smoke" / "logs").rglob("*.log"), key=os.path.getmtime)
        tail = logs[-1].read_text()[-3000:] if logs else ""
        pytest.fail(f"smoke DAG failed after {elapsed:.0f} s:\n{done.stderr[-4000:]}\n{tail}")
    print(f"smoke DAG: {elapsed:.0f} s")
    text = done.stdout + done.stderr
    if "Nothing to be done" not in text:  # a reused folder keeps the log of the run that ran
        (root / "snakemake.log").write_text(text)
    yield root


@pytest.mark.parametrize("name", list(PANELS))
def test_figure_has_its_panels(smoke_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    from gair.report.figures import render
    from gair.report.write import axes_with_data

    folder = smoke_dir / "figures" / "smoke"
    png, pdf = folder / f"{name}.png", folder / f"{name}.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    # Re-render from the Parquet files the figure read (listed in its sidecar) and count the
    # panels that show data.
    manifest = json.loads((folder / f"{name}.json").read_text())["manifest"]
    monkeypatch.chdir(smoke_dir)
    fig = render(name, manifest)
    assert len(axes_with_data(fig)) == PANELS[name]
    plt.close(fig)


@pytest.mark.parametrize("name", list(TABLE_ROWS))
def test_table_has_its_rows(smoke_dir: Path, name: str) -> None:
    folder = smoke_dir / "results" / "smoke" / "tables"
    table = pd.read_csv(folder / f"{name}.csv")
    assert len(table) == TABLE_ROWS[name]
    assert table["median"].between(0, 100).all()
    assert table["paper_median"].notna().any()
    if name != "table3":
        assert (table["n_seeds"] == table["checkpoint"].map(CHECKPOINT_SEEDS)).all()
        assert table["std"].notna().all()
        assert (table["n_points"] == table["checkpoint"].map(CHECKPOINT_POINTS)).all()
        report = table[table["checkpoint"] == "best_val"]["points"]
        assert report.str.startswith("the report split: 80 of the 100").all()
    markdown = (folder / f"{name}.md").read_text()
    for method in table["method"].unique():
        assert f"| {method} |" in markdown
    assert "\\begin{tabular}" in (folder / f"{name}.tex").read_text()


def test_table3_heads_the_cheap_autoattack_as_such(smoke_dir: Path) -> None:
    folder = smoke_dir / "results" / "smoke" / "tables"
    table = pd.read_csv(folder / "table3.csv")
    assert list(table["attack"]) == ["natural", "autoattack_cheap"]
    # The cheap setting is never compared with the paper's AutoAttack number.
    assert table.set_index("attack")["paper_median"].isna().tolist() == [False, True]
    assert "AutoAttack (cheap)" in (folder / "table3.md").read_text()


@pytest.mark.parametrize("name", list(AUDIT))
def test_audit_has_a_row_per_method_and_checkpoint(
    smoke_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gair.report.figures.audit import plot_audit

    methods, baseline = AUDIT[name]
    tables = smoke_dir / "results" / "smoke" / "tables"
    table = pd.read_csv(tables / f"audit_{name}.csv")
    assert list(zip(table["method"], table["checkpoint"], strict=True)) == [
        (m, c) for m in methods for c in CHECKPOINT_SEEDS
    ]
    assert (table["n_seeds"] == table["checkpoint"].map(CHECKPOINT_SEEDS)).all()
    for attack in ("natural", "pgd20", "pgd_plus", "cw", "lsa", "autoattack_cheap", "worst_case"):
        assert table[f"{attack}_median"].between(0, 100).all(), attack  # percent
    assert "autoattack_median" not in table  # the smoke's AutoAttack is named as the cheap one
    # Worst case over every attack of the same points is never above any single attack.
    for attack in ("pgd20", "pgd_plus", "cw", "lsa", "autoattack_cheap"):
        assert (table["worst_case_median"] <= table[f"{attack}_median"] + 1e-12).all()
    # Gains are paired: the mean over seeds of (method - baseline) at the same checkpoint, on
    # the same test points, read here from the evaluation summaries; each inside its interval.
    from gair.report.manifest import Manifest
    from gair.report.read import collect_evals, records_of

    manifest = Manifest.read(smoke_dir / "results" / "smoke" / "manifests" / f"audit_{name}.json")
    monkeypatch.chdir(smoke_dir)  # the manifest's paths are relative to the workflow's folder
    long = collect_evals(records_of(manifest))
    means = long.groupby(["method", "checkpoint", "attack"])["accuracy_pct"].mean()
    # best_val: on the report split, by hand from each per-point file less the test points
    # the run's run.json says chose the checkpoint.
    for record in records_of(manifest):
        if record.checkpoint != "best_val":
            continue
        chose = json.loads((Path(record.metrics).parent / "run.json").read_text())["selection"]
        points = pd.read_parquet(record.points)
        kept = points[~points["index"].isin(chose["indices"])]
        assert len(kept) == 100 - chose["count"] == 80
        for column in ("pgd20", "autoattack_cheap", "lsa"):
            key = (record.method, "best_val", column)
            share = 100 * kept[column].mean() / 3  # mean over the 3 seeds
            means[key] = share if record.seed == 0 else means[key] + share
        attacks = [c for c in kept.columns if c not in ("index", "label", "natural")]
        worst = 100 * kept[attacks].all(axis=1).mean() / 3
        key = (record.method, "best_val", "worst_case")
        means[key] = worst if record.seed == 0 else means[key] + worst
    for column in ("pgd20", "autoattack_cheap", "lsa", "worst_case"):
        for r in table[table["method"] != baseline].itertuples():
            expected = (
                means[(r.method, r.checkpoint, column)] - means[(baseline, r.checkpoint, column)]
            )
            gain = getattr(r, f"gain_{column}")
            assert gain == pytest.approx(expected, abs=1e-4), (r.method, r.checkpoint, column)
            low, high = getattr(r, f"gain_{column}_low"), getattr(r, f"gain_{column}_high")
            assert low <= gain <= high
    shares = table[[c for c in table.columns if c.startswith("share_")]]
    markdown = (tables / f"audit_{name}.md").read_text()
    assert shares.notna().any().any() or "n/a (gain within noise)" in markdown
    assert "AutoAttack (cheap)" in (tables / f"audit_{name}.md").read_text()
    assert "\\begin{tabular}" in (tables / f"audit_{name}.tex").read_text()
    png = smoke_dir / "figures" / "smoke" / f"audit_{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # The figure: one panel per checkpoint, a bar per method for PGD-20, AutoAttack, LSA and
    # the worst case.
    fig = plot_audit(table, baseline=baseline)
    panels = [ax for ax in fig.axes if ax.patches]
    assert [ax.get_title() for ax in panels] == [f"{c} checkpoint" for c in CHECKPOINT_SEEDS]
    assert all(len(ax.patches) == 4 * (len(methods) - 1) for ax in panels)


def test_tradeoff_table_and_panels(smoke_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gair.report.figures import render
    from gair.report.write import axes_with_data

    table = pd.read_csv(smoke_dir / "results" / "smoke" / "tables" / "tradeoff.csv")
    assert list(dict.fromkeys(table["method"])) == TRADEOFF_METHODS
    assert len(table) == len(TRADEOFF_METHODS) * 2 * 3  # best and last x 3 attacks
    assert set(table["attack"]) == {"natural", "pgd20", "autoattack_cheap"}
    # The smoke trade-off trains one seed per method (config/smoke.yaml): no spread.
    assert (table["n_seeds"] == 1).all() and table["std"].isna().all()
    folder = smoke_dir / "figures" / "smoke"
    assert (folder / "tradeoff.pdf").read_bytes()[:5] == b"%PDF-"
    manifest = json.loads((folder / "tradeoff.json").read_text())["manifest"]
    monkeypatch.chdir(smoke_dir)
    fig = render("tradeoff", manifest)
    panels = axes_with_data(fig)
    assert [ax.get_title() for ax in panels] == [
        "natural vs PGD-20",
        "natural vs AutoAttack (cheap)",
    ]
    cells = table.set_index(["method", "checkpoint", "attack"])["median"]
    for ax, attack in zip(panels, ("pgd20", "autoattack_cheap"), strict=True):
        assert len(ax.containers) == len(TRADEOFF_METHODS) * 2
        for container in ax.containers:
            method, checkpoint = container.get_label()[:-1].rsplit(" (", 1)
            point = container.lines[0]
            assert point.get_xdata()[0] == pytest.approx(cells[(method, checkpoint, attack)])
            assert point.get_ydata()[0] == pytest.approx(cells[(method, checkpoint, "natural")])


def test_geometry_keeps_the_logits(smoke_dir: Path) -> None:
    from sklearn.decomposition import PCA

    files = sorted((smoke_dir / "results" / "smoke" / "geometry").glob("*/kappa_pca.parquet"))
    assert len(files) == 1
    frame = pd.read_parquet(files[0])
    logits = frame[[f"logit{c}" for c in range(10)]].to_numpy(dtype=float)
    assert (logits.argmax(1) == frame["pred"].to_numpy()).all()
    # pc1, pc2: the PCA of every point's logits, up to the sign of each component.
    expected = PCA(2).fit_transform(logits)
    for k, column in enumerate(("pc1", "pc2")):
        got = frame[column].to_numpy()
        sign = 1.0 if float(got @ expected[:, k]) >= 0 else -1.0
        assert abs(sign * got - expected[:, k]).max() < 1e-3 * (1 + abs(expected[:, k]).max())


@pytest.mark.parametrize("name", list(AUDIT))
def test_masking_checks_have_a_flag_per_method_checkpoint_and_check(
    smoke_dir: Path, name: str
) -> None:
    """Seed 0's checkpoints on 50 points (config/smoke.yaml): every check ran, each row has
    its flag and sentence, and the Markdown names where it was computed."""
    from gair.report.masking import CHECKS

    methods, _ = AUDIT[name]
    tables = smoke_dir / "results" / "smoke" / "tables"
    flags = pd.read_csv(tables / f"masking_{name}.csv")
    assert list(zip(flags["method"], flags["checkpoint"], flags["check"], strict=True)) == [
        (m, c, k) for m in methods for c in ("best", "last") for k in CHECKS
    ]
    assert (flags["n_seeds"] == 1).all() and (flags["n_points"] == 50).all()
    assert set(flags["flag"]) <= {"ok", "FLAG"} and flags["sentence"].str.len().gt(10).all()
    markdown = (tables / f"masking_{name}.md").read_text()
    assert "Computed on: device cpu" in markdown and "Square (cheap)" in markdown


def test_report_gathers_every_figure_with_a_caption(smoke_dir: Path) -> None:
    report = smoke_dir / "report.html"
    command = snakemake_command(smoke_dir, "--report", str(report))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    html = report.read_text()
    for name in PANELS:
        assert f"{name}.png" in html
    # One caption per figure and per table, each naming the paper's figure or table; the
    # audit, trade-off and sensitivity captions go with both their figure and their table.
    for name in [*(f"audit_{t}" for t in AUDIT), "tradeoff", "sensitivity", "audit_attacks"]:
        assert f"{name}.png" in html
    # ... and the per-attack audit figure's
    expected = len(PANELS) + len(TABLE_ROWS) + 2 * (len(AUDIT) + 2) + 1
    assert html.count("What to look for") == expected
    assert "Figure 21</strong> of GAIRAT" in html
    assert "Robustness audit of Table 1</strong>" in html
    assert "Gradient-masking checks of Table 1</strong>" in html and "masking_table2.csv" in html


def test_jobs_ran_on_both_simulated_gpus(smoke_dir: Path) -> None:
    # GPU 1 is only ever taken while another job holds GPU 0.
    locks = sorted(p.name for p in (smoke_dir / "gpu-locks").glob("gpu*.lock"))
    assert locks == ["gpu0.lock", "gpu1.lock"]


def test_run_folders_carry_the_workflow_names(smoke_dir: Path) -> None:
    runs = sorted((smoke_dir / "results" / "smoke" / "runs").iterdir())
    assert len(runs) > 50
    for run in runs:
        # The name the workflow planned is the name train derived from the same spec.
        assert json.loads((run / "run.json").read_text())["name"] == run.name
        assert (run / "metrics.parquet").is_file() and (run / "last.pt").is_file()


# Chance and the accuracy every smoke run must reach (natural test accuracy, percent):
# well above chance on every dataset the smoke config trains on.
LEARNS = {"digits": (10.0, 60.0), "digits_pseudo": (10.0, 60.0), "moons": (50.0, 75.0),
          "circles": (50.0, 75.0)}  # fmt: skip


def test_every_run_learns(smoke_dir: Path) -> None:
    """Each run's last natural test accuracy is well above chance and its PGD-20 test
    accuracy above zero: the smoke figures show training, not noise."""
    from gair.report.read import read_metrics

    failures = []
    files = sorted((smoke_dir / "results" / "smoke" / "runs").glob("*/metrics.parquet"))
    assert len(files) > 90
    for path in files:
        spec, frame = read_metrics(path)
        chance, floor = LEARNS[spec["dataset"]]
        last = frame.dropna(subset=["test_nat_err"]).iloc[-1]
        natural = 100 * (1 - last["test_nat_err"])
        robust = 100 * (1 - last["test_pgd20_err"])
        if natural < floor or robust <= 0:
            failures.append(f"{path.parent.name}: natural {natural:.0f}% (chance {chance:.0f}%),"
                            f" PGD-20 {robust:.0f}%")  # fmt: skip
    assert not failures, "\n".join(failures)


def multi_seed_labels(manifest: dict) -> list[str]:
    return [label for labels in manifest["groups"].values()
            for label, items in labels.items() if len(items) > 1]  # fmt: skip


@pytest.mark.parametrize("name", [*PANELS, "tradeoff", "audit_attacks"])
def test_figure_follows_the_grammar(
    smoke_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Legends outside the data, colour bars on kappa scales, distinct colours per panel, seed
    spread where seeds are several, a footer naming what was trained, a title that does not
    claim the paper's setting (tests/figure_checks.py), on the figure the DAG drew."""
    import matplotlib.pyplot as plt
    from figure_checks import check_grammar

    from gair.report.figures import render

    folder = smoke_dir / "figures" / "smoke"
    manifest = json.loads((folder / f"{name}.json").read_text())["manifest"]
    monkeypatch.chdir(smoke_dir)
    fig = render(name, manifest)
    assert check_grammar(fig, multi_seed_labels(manifest)) >= 1
    note = manifest.get("note")
    if note:
        assert note in fig._supxlabel.get_text()
    plt.close(fig)


@pytest.mark.parametrize("name", list(AUDIT))
def test_audit_figure_follows_the_grammar(smoke_dir: Path, name: str) -> None:
    from figure_checks import check_footer_and_title, check_legends_outside

    from gair.report.figures.audit import plot_audit

    _, baseline = AUDIT[name]
    table = pd.read_csv(smoke_dir / "results" / "smoke" / "tables" / f"audit_{name}.csv")
    fig = plot_audit(table, baseline=baseline, footer="data: digits (8x8)")
    check_legends_outside(fig)
    title = check_footer_and_title(fig)
    assert title.startswith("How much of the PGD-20 gain survives AutoAttack (cheap)")
    # Error bars from the seeds on every gain bar.
    for ax in [ax for ax in fig.axes if ax.patches]:
        assert all(c.has_yerr for c in ax.containers if hasattr(c, "has_yerr"))


def test_the_lr_drop_changes_kappa(smoke_dir: Path) -> None:
    """Fig. 4's phenomenon at smoke scale: AT's median kappa of the training data rises at
    the first LR drop."""
    from gair.report.figures.common import Curves, lr_changes
    from gair.report.manifest import Item

    folder = smoke_dir / "figures" / "smoke"
    manifest = json.loads((folder / "fig4.json").read_text())["manifest"]
    items = manifest["groups"]["methods"]["AT"]
    items = [Item(**dict(i, metrics=str(smoke_dir / i["metrics"]))) for i in items]
    at = Curves("AT", items)
    drop = lr_changes(at)[0]
    epochs, kappa, _ = at.curve("kappa_median")
    before = kappa[epochs == drop - 1][0]
    assert kappa[epochs >= drop + 1].max() > before


def test_logs_are_quiet(smoke_dir: Path) -> None:
    """Job commands name their spec and manifest files instead of carrying JSON, and a
    training log is one line per epoch after the GPU line."""
    log = (smoke_dir / "snakemake.log").read_text().splitlines()
    commands = [line for line in log if line.startswith("Shell command:")]
    assert commands and all("{" not in line for line in commands)
    assert max(len(line) for line in commands) < 600
    for path in sorted((smoke_dir / "results" / "smoke" / "logs" / "train").glob("*.log")):
        lines = path.read_text().splitlines()
        spec = json.loads(
            (smoke_dir / "results" / "smoke" / "specs" / f"{path.stem}.json").read_text()
        )
        assert lines[0].startswith("gpu: ")
        assert len(lines) == 1 + spec["epochs"], path.name


def test_claims_are_judged_by_the_rule_and_drawn(smoke_dir: Path) -> None:
    """Every claim of the config has its row and one of the four verdicts; an inconclusive
    one says what it could have detected; Table 3's constant (a CIFAR-10 number) is not
    compared with digits; the figure follows the grammar and the report opens with them."""
    from figure_checks import check_footer_and_title, check_legends_outside

    from gair.plan import Plan
    from gair.plan.config import load_config
    from gair.report import claims, stats
    from gair.report.figures.claims import plot_claims

    plan = Plan(load_config([REPO / "config" / "smoke.yaml"]))
    frame = pd.read_csv(smoke_dir / "results" / "smoke" / "tables" / "claims.csv")
    assert list(frame["id"]) == [c.id for c in plan.claims]
    assert set(frame["verdict"]) <= set(claims.KINDS)
    # Supported and contradicted: selected, and decided by the adjusted interval, which holds
    # the estimate and is at least as wide as the marginal one.
    judged = frame[frame["verdict"].isin(["supported", "contradicted"])]
    assert judged["selected"].all()
    assert (
        (judged["adj_low"] <= judged["effect"]) & (judged["effect"] <= judged["adj_high"])
    ).all()
    assert ((judged["adj_low"] <= judged["low"]) & (judged["high"] <= judged["adj_high"])).all()
    for r in judged.to_dict("records"):
        assert (
            stats.decide(r["adj_low"], r["adj_high"], r["direction"], r["margin"]) == r["verdict"]
        )
    inconclusive = frame[(frame["verdict"] == "inconclusive") & frame["effect"].notna()]
    assert inconclusive["detectable"].gt(0).all() and inconclusive["p_value"].notna().all()
    # Described, not judged: one seed ("this run"), or the test-selected best.
    assert (frame.loc[frame["verdict"] == "this run", "n_seeds"] == 1).all()
    assert frame.loc[frame["verdict"] == "descriptive", "reads"].str.contains("best ").all()
    assert frame.loc[frame["verdict"].isin(["this run", "descriptive"]), "p_value"].isna().all()
    table3 = frame.set_index("id").loc["table3-gair-rst-above-rst"]
    assert table3["verdict"] == "not run" and "cifar10" in table3["reason"]
    markdown = (smoke_dir / "results" / "smoke" / "tables" / "claims.md").read_text()
    assert "Verdict rule" in markdown and "\u201cmore attackable data are closer" in markdown
    fig = plot_claims(frame, footer="data: digits (8x8)")
    check_legends_outside(fig)
    check_footer_and_title(fig)
    report = smoke_dir / "report.html"
    if report.is_file():  # written by the report test above
        assert "1. The paper's claims" in report.read_text()


def test_sensitivity_answers_every_factor(smoke_dir: Path) -> None:
    """Weight decay (2e-4, 5e-4), the start (uniform, Gaussian) and the selection rule (best,
    best_val, last) at smoke scale: each pair's gain under PGD-20 and the cheap AutoAttack,
    judged, and a line per factor."""
    folder = smoke_dir / "results" / "smoke" / "tables"
    table = pd.read_csv(folder / "sensitivity.csv")
    assert len(table) == 7 * 2 * 2
    assert set(table["attack"]) == {"pgd20", "autoattack_cheap"}
    # One seed at smoke scale: every gain is described ("this run"), every answer says so.
    assert set(table["verdict"]) == {"this run"}
    factors = ["weight decay", "attack start", "selection rule"]
    assert list(dict.fromkeys(table["factor"])) == factors
    markdown = (folder / "sensitivity.md").read_text()
    for factor in dict.fromkeys(table["factor"]):
        line = next(x for x in markdown.splitlines() if x.startswith(f"- **{factor}**: "))
        assert "GAIRAT's gain over AT" in line and "GAIR-TRADES' gain over TRADES" in line
        assert "described for one seed only (this run)" in line
    png = smoke_dir / "figures" / "smoke" / "sensitivity.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
