"""Tests for gair.report.figures on synthetic Parquet files that follow docs/outputs.md."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import matplotlib.colors
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from figure_checks import (
    check_distinct_colors,
    check_footer_and_title,
    check_grammar,
    check_legends_outside,
)
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from gair.errors import ConfigError, DataError
from gair.report.commands import figure as cli
from gair.report.figures import render, style
from gair.report.figures.kappa import pair_projection
from gair.report.manifest import Manifest
from gair.report.read import natural_key
from gair.report.write import axes_with_data, save_figure

EPOCHS = 5


def write_metrics(path: Path, spec: dict, shift: float = 0.0) -> str:
    """Per-epoch metrics with distinct values, the spec in the schema metadata."""
    e = np.arange(1, EPOCHS + 1)
    frame = pd.DataFrame(
        {
            "epoch": e.astype(np.int32),
            "lr": 0.1 / e,
            "train_adv_err": 0.9 - 0.1 * e + shift,
            "train_nat_err": 0.5 - 0.05 * e + shift,
            "train_pgd20_err": 0.8 - 0.05 * e + shift,
            "test_nat_err": 0.45 - 0.04 * e + shift,
            "test_pgd20_err": 0.7 - 0.03 * e + shift,
            "kappa_mean": 2.0 + e,
            "kappa_median": 1.0 + e,
            "flat_friendly": 0.1 * e,
            "flat_adv": 0.2 * e,
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"gair.spec"] = json.dumps(spec).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    return str(path)


def spec(**kw: object) -> dict:
    base = {"dataset": "digits", "model": "mlp", "method": "at", "epochs": EPOCHS, "steps": 10}
    return {**base, **kw}


@pytest.fixture
def fig4_manifest(tmp_path: Path) -> dict:
    runs = {
        "AT": spec(),
        "GAIRAT omega_2": spec(method="gairat", weight_fn="tanh", lam=-1.0),
        "GAIRAT omega_3": spec(
            method="gairat", weight_fn="step", step_kappa=[3, 6], step_weights=[1.0, 0.5, 0.2]
        ),
    }
    groups = {
        "methods": {
            label: [
                {
                    "run": label,
                    "seed": 0,
                    "metrics": write_metrics(tmp_path / f"{i}.parquet", s, 0.01 * i),
                }
            ]
            for i, (label, s) in enumerate(runs.items())
        }
    }
    return {"name": "fig4", "groups": groups, "plot": {}}


def line(ax: Axes, label: str) -> Line2D:
    return next(ln for ln in ax.get_lines() if ln.get_label() == label)


def test_fig4_panels_and_weight_functions(fig4_manifest: dict) -> None:
    fig = render("fig4", fig4_manifest)
    assert len(axes_with_data(fig)) == 6
    weights = fig.axes[0]
    kappa = np.arange(11)
    # Eq. (6) with lambda = -1, K = 10, computed here independently of gair.paper.weights.
    tanh = (1 + np.tanh(-1.0 + 5 * (1 - 2 * kappa / 10))) / 2
    np.testing.assert_allclose(line(weights, "GAIRAT omega_2").get_ydata(), tanh, rtol=1e-6)
    step = np.where(kappa < 3, 1.0, np.where(kappa < 6, 0.5, 0.2))
    np.testing.assert_allclose(line(weights, "GAIRAT omega_3").get_ydata(), step)
    np.testing.assert_allclose(line(weights, "AT").get_ydata(), np.ones(11))
    # Errors are drawn in percent; kappa median of AT per epoch.
    natural = fig.axes[1]
    np.testing.assert_allclose(
        line(natural, "AT test").get_ydata(), 100 * (0.45 - 0.04 * np.arange(1, EPOCHS + 1))
    )
    kappa_panel = fig.axes[3]
    np.testing.assert_allclose(line(kappa_panel, "AT: median").get_ydata(), 1.0 + np.arange(1, 6))


def test_save_writes_three_files_and_panels(fig4_manifest: dict, tmp_path: Path) -> None:
    fig = render("fig4", fig4_manifest)
    manifest = Manifest.from_json(fig4_manifest)
    sidecar = save_figure(fig, tmp_path / "out" / "fig4", "fig4", manifest)
    assert (tmp_path / "out" / "fig4.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "out" / "fig4.png").read_bytes()[:4] == b"\x89PNG"
    stored = json.loads((tmp_path / "out" / "fig4.json").read_text())
    assert stored == sidecar and len(stored["panels"]) == 6
    assert stored["manifest"]["groups"].keys() == fig4_manifest["groups"].keys()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind


def test_fig21_accuracy_against_iterations(tmp_path: Path) -> None:
    groups: dict = {"methods": {}}
    for k, method in enumerate(("AT", "GAIRAT")):
        evals = {}
        for checkpoint in ("best", "last"):
            path = tmp_path / f"{method}-{checkpoint}.parquet"
            # Written out of order: the figure must sort by the number of PGD steps.
            steps = [40, 10, 100, 20]
            pd.DataFrame(
                {"attack": [f"pgd{s}" for s in steps] + ["worst_case"],
                 "accuracy": [0.5 - 0.001 * s - 0.1 * k for s in steps] + [0.0]}
            ).to_parquet(path)  # fmt: skip
            evals[checkpoint] = str(path)
        metrics = write_metrics(tmp_path / f"{method}.parquet", spec(method=method.lower()))
        groups["methods"][method] = [{"run": method, "seed": 0, "metrics": metrics, "evals": evals}]
    fig = render("fig21", {"name": "fig21", "groups": groups, "checkpoints": ["best", "last"]})
    assert len(axes_with_data(fig)) == 2
    gairat = next(c for c in fig.axes[1].containers if c.get_label() == "GAIRAT").lines[0]
    np.testing.assert_array_equal(gairat.get_xdata(), [10, 20, 40, 100])
    np.testing.assert_allclose(
        gairat.get_ydata(), [100 * (0.4 - 0.001 * s) for s in (10, 20, 40, 100)]
    )


def test_pair_projection_is_pca_of_the_pair(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 60
    logits = rng.normal(size=(n, 4)) * [3.0, 1.0, 0.5, 0.1]
    frame = pd.DataFrame({f"logit{i}": logits[:, i] for i in range(4)})
    frame["label"] = np.repeat([0, 1, 2], n // 3)
    frame["kappa"], frame["pc1"], frame["pc2"] = 1, 0.0, 0.0
    part = pair_projection(frame, 0, 2)
    from sklearn.decomposition import PCA

    expected = PCA(2).fit_transform(logits[frame["label"].isin([0, 2])])
    for got, want in ((part["u"], expected[:, 0]), (part["v"], expected[:, 1])):
        sign = math.copysign(1.0, float(np.dot(got, want)))
        np.testing.assert_allclose(sign * got.to_numpy(), want, atol=1e-9)
    # Without logit columns the file's own PCA is used.
    plain = pair_projection(frame.drop(columns=[f"logit{i}" for i in range(4)]), 0, 2)
    assert (plain["u"] == 0.0).all()


def test_fig3_toy_and_pair_panels(tmp_path: Path) -> None:
    def geometry(path: Path, points: bool) -> str:
        rng = np.random.default_rng(1)
        frame = pd.DataFrame(
            {"index": np.arange(40), "label": np.repeat([0, 1], 20).astype(np.int16),
             "pred": 0, "kappa": rng.integers(0, 11, 40).astype(np.int16),
             "pc1": rng.normal(size=40), "pc2": rng.normal(size=40)}
        )  # fmt: skip
        if points:
            frame["x1"], frame["x2"] = rng.random(40), rng.random(40)
        frame.to_parquet(path)
        return str(path)

    def entry(name: str, points: bool) -> list[dict]:
        metrics = write_metrics(tmp_path / f"{name}.m.parquet", spec())
        geo = geometry(tmp_path / f"{name}.g.parquet", points)
        return [{"run": name, "seed": 0, "metrics": metrics, "geometry": geo}]

    manifest = {
        "name": "fig3",
        "groups": {"toy": {"moons": entry("moons", True), "circles": entry("circles", True)},
                   "pca": {"AT": entry("at", False)}},
        "plot": {"pairs": [[0, 1]]},
    }  # fmt: skip
    fig = render("fig3", manifest)
    assert len(axes_with_data(fig)) == 3
    moons = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in moons.collections) == 40
    manifest["plot"]["pairs"] = [[0]]
    with pytest.raises(ConfigError, match=r"plot\.pairs"):
        render("fig3", manifest)


def test_errors_name_the_problem(fig4_manifest: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="figure 'fig9'"):
        render("fig9", fig4_manifest)
    with pytest.raises(ConfigError, match="run group 'networks'"):
        render("fig2", fig4_manifest)
    fig4_manifest["groups"]["methods"]["AT"][0]["metrics"] = str(tmp_path / "gone.parquet")
    with pytest.raises(DataError, match=r"gone\.parquet"):
        render("fig4", fig4_manifest)


def test_cli_writes_the_figure(fig4_manifest: dict, tmp_path: Path) -> None:
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(json.dumps(fig4_manifest))
    assert cli(["fig4", "--manifest", str(manifest_file), "--out", str(tmp_path / "f4")]) == 0
    assert (tmp_path / "f4.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_figure_command_draws_omega_without_torch(fig4_manifest: dict, tmp_path: Path) -> None:
    """`python -m gair figure` promises not to pay for torch: Fig. 4's weight panel computes
    omega with gair.paper.weights on numpy arrays."""
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(json.dumps(fig4_manifest))
    code = (
        "import sys; from gair.cli import main; "
        f"code = main(['figure', 'fig4', '--manifest', {str(manifest_file)!r}, "
        f"'--out', {str(tmp_path / 'f4')!r}]); "
        "print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-2:] == ["0", "False"], done.stdout + done.stderr
    assert (tmp_path / "f4.png").is_file()


def tradeoff_manifest(tmp_path: Path, aa: str = "autoattack") -> tuple[dict, dict]:
    """Three methods x three seeds x best/last; returns the manifest and the accuracies."""
    rng = np.random.default_rng(3)
    methods = {"AT": "at", "GAIRAT": "gairat", "MMA": "mma"}
    groups: dict = {"methods": {}}
    truth: dict = {}
    for label, method in methods.items():
        items = []
        for seed in range(3):
            evals = {}
            for checkpoint in ("best", "last"):
                acc = {"natural": rng.uniform(0.6, 0.9), "pgd20": rng.uniform(0.3, 0.5)}
                acc[aa] = acc["pgd20"] - rng.uniform(0.0, 0.1)
                for attack, value in acc.items():
                    truth[(label, checkpoint, attack, seed)] = value
                path = tmp_path / f"{label}-{seed}-{checkpoint}.parquet"
                pd.DataFrame(
                    {"attack": [*acc, "worst_case"], "accuracy": [*acc.values(), 0.0]}
                ).to_parquet(path)
                evals[checkpoint] = str(path)
            metrics = write_metrics(tmp_path / f"{label}-{seed}.m.parquet", spec(method=method))
            items.append(
                {"run": f"{label}-{seed}", "seed": seed, "metrics": metrics, "evals": evals}
            )
        groups["methods"][label] = items
    manifest = {"name": "tradeoff", "groups": groups, "checkpoints": ["best", "last"]}
    return manifest, truth


def test_tradeoff_points_are_medians_with_std_error_bars(tmp_path: Path) -> None:
    manifest, truth = tradeoff_manifest(tmp_path)
    fig = render("tradeoff", manifest)
    assert len(axes_with_data(fig)) == 2
    pgd_panel, aa_panel = fig.axes[:2]
    assert aa_panel.get_title() == "natural vs AutoAttack"
    for ax, attack in ((pgd_panel, "pgd20"), (aa_panel, "autoattack")):
        containers = {c.get_label(): c for c in ax.containers}
        assert len(containers) == 3 * 2  # one point per method and checkpoint
        for label in ("AT", "GAIRAT", "MMA"):
            for checkpoint in ("best", "last"):
                x = [100 * truth[(label, checkpoint, attack, s)] for s in range(3)]
                y = [100 * truth[(label, checkpoint, "natural", s)] for s in range(3)]
                data, _, (xbars, ybars) = containers[f"{label} ({checkpoint})"].lines
                assert data.get_xdata()[0] == pytest.approx(np.median(x))
                assert data.get_ydata()[0] == pytest.approx(np.median(y))
                (x0, _), (x1, _) = xbars.get_segments()[0]
                (_, y0), (_, y1) = ybars.get_segments()[0]
                assert (x1 - x0) / 2 == pytest.approx(np.std(x, ddof=1))
                assert (y1 - y0) / 2 == pytest.approx(np.std(y, ddof=1))
                # Filled marker for the best checkpoint, open for the last.
                assert (data.get_markerfacecolor() == "white") == (checkpoint == "last")
    # AT is the red baseline; the other methods get other colours.
    at = next(c for c in pgd_panel.containers if c.get_label() == "AT (best)")
    assert matplotlib.colors.to_hex(at.lines[0].get_color()) == "#d62728"


def test_tradeoff_names_the_cheap_autoattack_and_needs_it(tmp_path: Path) -> None:
    manifest, _ = tradeoff_manifest(tmp_path, aa="autoattack_cheap")
    fig = render("tradeoff", manifest)
    assert fig.axes[1].get_title() == "natural vs AutoAttack (cheap)"
    assert fig.axes[1].get_xlabel() == "AutoAttack (cheap) test accuracy (%)"
    for items in manifest["groups"]["methods"].values():
        for item in items:
            for path in item["evals"].values():
                frame = pd.read_parquet(path)
                frame[frame["attack"] != "autoattack_cheap"].to_parquet(path)
    with pytest.raises(DataError, match="needs autoattack"):
        render("tradeoff", manifest)


def test_fig7_projects_each_pair_from_its_logits(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 90
    logits = rng.normal(size=(n, 10)) * np.linspace(3.0, 0.2, 10)
    frame = pd.DataFrame({f"logit{c}": logits[:, c].astype(np.float32) for c in range(10)})
    frame["label"] = np.repeat([0, 1, 2], n // 3).astype(np.int16)
    frame["kappa"] = rng.integers(0, 11, n).astype(np.int16)
    frame["pc1"], frame["pc2"] = 7.0, 7.0  # a stale global projection the figure must not use
    frame.to_parquet(tmp_path / "geo.parquet")
    metrics = write_metrics(tmp_path / "m.parquet", spec(dataset="cifar10"))
    item = {"run": "at", "seed": 0, "metrics": metrics, "geometry": str(tmp_path / "geo.parquet")}
    manifest = {"name": "fig7", "groups": {"pca": {"AT": [item]}}, "plot": {"pairs": [[0, 2]]}}
    fig = render("fig7", manifest)
    ax = axes_with_data(fig)[0]
    assert ax.get_title() == "airplane (red) vs bird (blue)"
    from sklearn.decomposition import PCA

    pair = frame["label"].isin([0, 2]).to_numpy()
    expected = PCA(2).fit_transform(frame.loc[pair, [f"logit{c}" for c in range(10)]])
    drawn = np.concatenate([c.get_offsets() for c in ax.collections])
    labels = np.concatenate(
        [np.full(len(c.get_offsets()), i) for i, c in enumerate(ax.collections)]
    )
    order = np.concatenate([np.flatnonzero(frame.loc[pair, "label"] == cls) for cls in (0, 2)])
    want = expected[order]
    for k in range(2):
        sign = math.copysign(1.0, float(np.dot(drawn[:, k], want[:, k])))
        np.testing.assert_allclose(sign * drawn[:, k], want[:, k], rtol=1e-4, atol=1e-4)
    assert (np.bincount(labels) == [30, 30]).all()


def test_audit_attacks_bars_are_medians_per_attack_with_seed_spread(tmp_path: Path) -> None:
    manifest, truth = tradeoff_manifest(tmp_path)
    fig = render("audit_attacks", manifest)
    panels = [ax for ax in fig.axes if ax.patches]
    assert [ax.get_title() for ax in panels] == ["best checkpoint", "last checkpoint"]
    best = panels[0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    # every attack in the registry's display order, the worst case last
    assert legend == ["Natural", "PGD-20", "AutoAttack", "Worst case"]
    heights = [p.get_height() for p in best.patches]
    assert len(heights) == 3 * 4  # three methods x four columns
    for k, attack in enumerate(("natural", "pgd20", "autoattack")):
        for m, label in enumerate(("AT", "GAIRAT", "MMA")):
            values = [100 * truth[(label, "best", attack, s)] for s in range(3)]
            assert heights[3 * k + m] == pytest.approx(np.median(values))
    assert heights[9:] == [0.0, 0.0, 0.0]  # the files' worst case is 0 here
    ticks = [t.get_text() for t in best.get_xticklabels()]
    assert ticks == ["AT", "GAIRAT", "MMA"]


# ------------------------------------------------------------------------------ grammar
def sweep_manifest(
    tmp_path: Path, name: str, groups: dict[str, dict[str, dict]], seeds: int = 1
) -> dict:
    """Runs by group and label (each its spec), `seeds` seeds each with shifted values."""
    out: dict = {}
    for group, runs in groups.items():
        out[group] = {}
        for i, (label, s) in enumerate(runs.items()):
            out[group][label] = [
                {"run": f"{group}-{i}-{seed}", "seed": seed,
                 "metrics": write_metrics(tmp_path / f"{group}-{i}-{seed}.parquet", s,
                                          0.01 * i + 0.02 * seed)}
                for seed in range(seeds)
            ]  # fmt: skip
    return {"name": name, "groups": out, "plot": {}}


def test_fig4_follows_the_grammar(fig4_manifest: dict) -> None:
    fig = render("fig4", fig4_manifest)
    assert check_grammar(fig) == 3
    assert fig._suptitle.get_text().endswith("(the paper: CIFAR-10)")
    assert fig._supxlabel.get_text().startswith("data: digits | models: mlp")
    # AT is the red baseline; the LR changes are marked in the kappa panel.
    kappa = fig.axes[3]
    assert matplotlib.colors.to_hex(line(kappa, "AT: median").get_color()) == style.BASELINE
    marks = [ln for ln in kappa.get_lines() if ln.get_gid() is None]
    assert sorted(ln.get_xdata()[0] for ln in marks) == [2, 3, 4, 5]  # lr = 0.1 / epoch


def test_the_footer_says_where_the_runs_were_computed(fig4_manifest: dict) -> None:
    """Metrics that record their provenance add a "computed on" line under the footer's
    first (what was trained); the grammar holds."""
    from gair import provenance

    record = {"commit": "c" * 40, "torch": "2.1", "cuda": "none", "cudnn": "none",
              "device": "cpu (x86_64)", "host": "h", "python": "3.11"}  # fmt: skip
    for _, _, item in Manifest.from_json(fig4_manifest).items():
        table = pq.read_table(item.metrics)
        meta = {**(table.schema.metadata or {}), **provenance.metadata([record])}
        pq.write_table(table.replace_schema_metadata(meta), item.metrics)
    fig = render("fig4", fig4_manifest)
    check_grammar(fig)
    footer = fig._supxlabel.get_text().splitlines()
    assert footer[0].startswith("data: digits")
    assert footer[1] == (
        "computed on: device cpu (x86_64); host h; torch 2.1; CUDA none; cuDNN none; "
        "commit cccccccccccc"
    )


def test_sweeps_separate_every_series(tmp_path: Path) -> None:
    """FAT against three GAIR-FAT lambdas (Fig. 17), MART and MMA against three GAIR-MART
    weight functions (Fig. 19): the baseline red, every colour apart from every other."""
    fat = sweep_manifest(tmp_path, "fig17", {
        "fat": {"FAT": spec(method="fat")},
        "gair_fat": {f"GAIR-FAT lambda={v}": spec(method="gair_fat", lam=v) for v in (0, -1, -2)},
    })  # fmt: skip
    fig = render("fig17", fat)
    assert check_grammar(fig) == 4
    assert matplotlib.colors.to_hex(line(fig.axes[0], "FAT").get_color()) == style.BASELINE
    mart = sweep_manifest(tmp_path, "fig19", {
        "baselines": {"MMA": spec(method="mma"), "MART": spec(method="mart")},
        "gair_mart": {f"GAIR-MART {f}": spec(method="gair_mart", weight_fn=f)
                      for f in ("tanh", "sigmoid", "linear")},
    })  # fmt: skip
    fig = render("fig19", mart)
    assert check_grammar(fig) == 5
    assert matplotlib.colors.to_hex(line(fig.axes[0], "MART").get_color()) == style.BASELINE


def test_seeds_draw_the_median_and_a_band_of_one_std(tmp_path: Path) -> None:
    manifest = sweep_manifest(tmp_path, "fig12", {"methods": {
        "AT": spec(), "GAIRAT tanh": spec(method="gairat", lam=-1.0)}}, seeds=3)  # fmt: skip
    fig = render("fig12", manifest)
    check_grammar(fig, multi_seed=["AT", "GAIRAT tanh"])
    natural = fig.axes[1]
    e = np.arange(1, EPOCHS + 1)
    # Seeds shift every error by 0.02: accuracies 100 (1 - err - 0.02 s), s = 0, 1, 2.
    values = np.stack([100 * (1 - (0.45 - 0.04 * e + 0.02 * s)) for s in range(3)])
    np.testing.assert_allclose(line(natural, "AT").get_ydata(), np.median(values, 0))
    band = natural.collections[0].get_paths()[0].vertices
    top = values.std(0, ddof=1) + np.median(values, 0)
    assert np.isclose(band[:, 1].max(), top.max())


def test_kappa_figures_have_colour_bars(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({f"logit{c}": rng.normal(size=60) for c in range(3)})
    frame["label"] = np.repeat([0, 1, 2], 20).astype(np.int16)
    frame["kappa"] = rng.integers(0, 11, 60).astype(np.int16)
    frame["pc1"] = frame["pc2"] = 0.0
    frame.to_parquet(tmp_path / "g.parquet")
    item = {"run": "at", "seed": 0, "metrics": write_metrics(tmp_path / "m.parquet", spec()),
            "geometry": str(tmp_path / "g.parquet"), "geometry_checkpoint": "epoch4"}  # fmt: skip
    fig = render("fig7", {"name": "fig7", "groups": {"pca": {"AT": [item]}},
                          "plot": {"pairs": [[0, 1], [1, 2]]}})  # fmt: skip
    check_grammar(fig)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [ax.get_ylabel() for ax in bars] == [
        r"$\kappa$ of the red class",
        r"$\kappa$ of the blue class",
    ]
    assert bars[0].get_ylim() == (0.0, 10.0)  # the kappa scale is 0..K
    assert fig._suptitle.get_text().endswith("checkpoint epoch4")
    # The lightest kappa is visible on white: its colour is not near white.
    lightest = style.kappa_cmap("Reds")(0.0)
    assert style.distance(lightest, "white") > 0.25


def test_points_and_bars_follow_the_grammar(tmp_path: Path) -> None:
    manifest, _ = tradeoff_manifest(tmp_path)
    for name in ("tradeoff", "audit_attacks"):
        check_grammar(render(name, manifest), multi_seed=["AT", "GAIRAT", "MMA"])


def test_scale_notes_are_printed_under_the_figure(fig4_manifest: dict) -> None:
    fig4_manifest["note"] = "robust overfitting needs more epochs than the smoke runs have"
    footer = render("fig4", fig4_manifest)._supxlabel.get_text()
    assert footer.splitlines()[1] == fig4_manifest["note"]


def test_the_grammar_checks_catch_what_they_check(fig4_manifest: dict) -> None:
    """The checks fail on a legend over the data, two runs in one colour, a bare title."""
    fig = render("fig4", fig4_manifest)
    fig.axes[1].legend(loc="center")
    with pytest.raises(AssertionError, match="legend lies on panel"):
        check_legends_outside(fig)
    fig = render("fig4", fig4_manifest)
    for ln in fig.axes[1].get_lines():
        ln.set_color("#1f77b4")
    with pytest.raises(AssertionError, match="apart"):
        check_distinct_colors(fig)
    fig = render("fig4", fig4_manifest)
    fig.suptitle("Fig. 4: GAIRAT on ResNet-18")
    with pytest.raises(AssertionError, match="names 'ResNet-18'"):
        check_footer_and_title(fig)


def test_footer_lists_networks_by_size() -> None:
    widths = ["MLP 1x64", "MLP 1x256", "MLP 1x128", "ResNet-18 (width 4)", "MLP 3x64"]
    assert sorted(widths, key=natural_key) == [
        "MLP 1x64", "MLP 1x128", "MLP 1x256", "MLP 3x64", "ResNet-18 (width 4)",
    ]  # fmt: skip
    assert sorted(widths) != sorted(widths, key=natural_key)  # plain sorting puts 1x128 first


def test_palette_separates_every_series() -> None:
    """The qualitative palette's colours are pairwise at least style.MIN_DISTANCE apart
    (RGB), and as far from the baseline red: a 13-method trade-off stays readable."""
    import itertools

    colors = [matplotlib.colors.to_rgb(c) for c in style.QUALITATIVE]
    red = matplotlib.colors.to_rgb(style.BASELINE)
    for a, b in itertools.combinations([red, *colors], 2):
        assert float(np.linalg.norm(np.subtract(a, b))) >= style.MIN_DISTANCE, (a, b)
    assert len(style.qualitative(13)) == 13
